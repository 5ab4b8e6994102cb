"""Precision is decided once, from request, hardware and the weights' dtype."""

from __future__ import annotations

import pytest
import torch

from models.precision import Hardware, PrecisionError, decide_precision

CPU = Hardware("cpu", True, "cpu")
AMPERE = Hardware("cuda", True, "A100")
TURING = Hardware("cuda", False, "T4")


def test_cpu_runs_fp32_and_refuses_fp16() -> None:
    plan = decide_precision("auto", CPU)
    assert plan.name == "fp32" and not plan.grad_scaler
    assert plan.trainer_arguments() == {"fp16": False, "bf16": False, "use_cpu": True}
    with pytest.raises(PrecisionError, match="set precision: fp32"):
        decide_precision("fp16", CPU)


def test_auto_prefers_bf16_where_supported() -> None:
    assert decide_precision("auto", AMPERE).name == "bf16"
    plan = decide_precision("auto", TURING)
    assert plan.name == "fp16" and plan.grad_scaler and plan.weights_dtype == torch.float32


def test_bf16_weights_never_meet_the_fp16_grad_scaler() -> None:
    plan = decide_precision("fp16", AMPERE, weights_dtype=torch.bfloat16)
    assert plan.name == "bf16" and not plan.grad_scaler
    plan = decide_precision("fp16", TURING, weights_dtype=torch.bfloat16)
    assert plan.name == "fp16" and plan.grad_scaler and plan.weights_dtype == torch.float32


def test_bf16_where_unsupported_is_an_error_naming_the_fix() -> None:
    with pytest.raises(PrecisionError, match="fp16 or auto"):
        decide_precision("bf16", TURING)


def test_adapters_keep_frozen_weights_in_half_precision() -> None:
    assert decide_precision("auto", AMPERE, adapters_only=True).weights_dtype == torch.bfloat16
    assert decide_precision("fp16", TURING, adapters_only=True).weights_dtype == torch.float16
