"""Precision policy, decided once per candidate from what was asked, the hardware and the weights.

The failure this module exists for: a model whose weights are bf16, trained with fp16 AMP, hands
bf16 gradients to the fp16 GradScaler and crashes on the first step. So a GradScaler is only ever
planned together with fp32 master weights, and bf16 only where the device computes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from contract.hardware import Hardware
from models.hardware import cpu_hardware as cpu_hardware  # re-exported: callers import them from here
from models.hardware import detect_hardware as detect_hardware

PrecisionName = Literal["fp32", "fp16", "bf16"]


class PrecisionError(ValueError):
    """The requested precision cannot run on this hardware; the message says what to set."""


@dataclass(frozen=True)
class PrecisionPlan:
    """How one candidate trains: weight dtype at load, autocast dtype, and whether a GradScaler runs."""

    name: PrecisionName
    device: Literal["cpu", "cuda"]
    weights_dtype: torch.dtype
    grad_scaler: bool
    reason: str

    def trainer_arguments(self) -> dict[str, Any]:
        """The transformers TrainingArguments fields that carry this plan."""
        return {
            "fp16": self.name == "fp16",
            "bf16": self.name == "bf16",
            "use_cpu": self.device == "cpu",
        }

    @property
    def compute_dtype(self) -> torch.dtype:
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.name]


def decide_precision(
    requested: str,
    hardware: Hardware,
    *,
    weights_dtype: torch.dtype | None = None,
    adapters_only: bool = False,
) -> PrecisionPlan:
    """The one place that turns `precision: auto|fp32|fp16|bf16` into a plan.

    `weights_dtype` is the dtype the checkpoint was saved in (its config's `dtype`);
    `adapters_only` is true for LoRA/QLoRA, where frozen base weights may stay in half precision.
    """
    if hardware.device == "cpu":
        if requested in ("auto", "fp32"):
            return PrecisionPlan("fp32", "cpu", torch.float32, False, "CPU: fp32")
        if requested == "bf16":
            return PrecisionPlan(
                "bf16", "cpu", torch.float32, False, "bf16 autocast on CPU (asked; often slower)"
            )
        raise PrecisionError(
            "precision fp16 needs a CUDA GPU and this actor has none; set precision: fp32 "
            "(or auto) for CPU training"
        )

    if requested == "bf16" and not hardware.bf16_supported:
        raise PrecisionError(
            f"precision bf16 is not supported on {hardware.name}; set precision: fp16 or auto"
        )
    if requested == "fp32":
        return PrecisionPlan("fp32", "cuda", torch.float32, False, "fp32 asked")

    if requested == "auto":
        name: PrecisionName = "bf16" if hardware.bf16_supported else "fp16"
        reason = f"auto on {hardware.name}: {name}"
    elif requested == "fp16" and weights_dtype == torch.bfloat16 and hardware.bf16_supported:
        name, reason = "bf16", "weights are bf16: training in bf16 instead of fp16 (no GradScaler)"
    else:
        name, reason = requested, f"{requested} asked"  # type: ignore[assignment]

    if name == "bf16":
        weights = torch.bfloat16 if adapters_only else torch.float32
        return PrecisionPlan("bf16", "cuda", weights, False, reason)
    # fp16 AMP: the scaler unscales fp32 gradients only, so trainable weights load in fp32.
    weights = torch.float16 if adapters_only else torch.float32
    if weights_dtype == torch.bfloat16:
        reason += "; bf16 weights loaded as fp32 for the fp16 GradScaler"
    return PrecisionPlan("fp16", "cuda", weights, True, reason)


def saved_dtype(model_config: Any) -> torch.dtype | None:
    """The dtype a checkpoint's weights were saved in, from its transformers config."""
    dtype = getattr(model_config, "dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    return dtype if isinstance(dtype, torch.dtype) else None
