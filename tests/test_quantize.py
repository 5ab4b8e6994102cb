"""INT8 backends on tiny trained models: each backend quantizes every family, shrinks the layers it
quantized about 4x, and reloads to the very predictions it gave right after quantizing; what
cannot run comes back as a status with a reason, never as an exception."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoTokenizer

from contract.job import TrainingJob
from models.checkpoint import MANIFEST, verify_checkpoint
from models.optimize.backends.ort import cpu_instruction_set
from models.optimize.quantize import (
    BACKENDS,
    DESCRIPTOR,
    QuantizedVariant,
    load_quantized,
    quantization_backend,
    quantize,
    unavailable_reason,
)
from models.precision import cpu_hardware, decide_precision, detect_hardware
from models.registry import load_family
from models.reporting import RecordingReporter
from models.training import train_candidate
from tests.conftest import read_json, requires_gpu
from tests.test_families import make_job

# family -> (preset, task)
FAMILIES = {
    "seq2seq": ("bart-tiny", "summarization"),
    "causal": ("llama-tiny", "summarization"),
    "classifier": ("bert-tiny", "classification"),
}
METRICS = {"summarization": {"rouge1", "rouge2", "rougeL", "rougeLsum", "rouge_mean"}, "classification": {"accuracy", "macro_f1"}}


def train(root: Path, preset: str, family: str, task: str = "summarization", **candidate: Any) -> TrainingJob:
    job = make_job(root, {"name": preset, "source": f"scratch:{preset}", "family": family, **candidate}, task=task)
    train_candidate(job, RecordingReporter())
    return job


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainingJob]:
    root = tmp_path_factory.mktemp("quantize")
    return {family: train(root / family, preset, family, task) for family, (preset, task) in FAMILIES.items()}


@pytest.fixture(scope="module")
def variants(jobs: dict[str, TrainingJob]) -> dict[tuple[str, str], QuantizedVariant]:
    return {
        (family, backend): quantize(backend, job, job.output_dir / "quantized" / backend)
        for family, job in jobs.items()
        for backend in BACKENDS
    }


def rows_of(job: TrainingJob) -> list[dict[str, Any]]:
    assert job.data.test is not None
    return [json.loads(line) for line in job.data.test.read_text(encoding="utf-8").splitlines()]


def available(backend: str) -> None:
    reason = unavailable_reason(backend, detect_hardware())
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", FAMILIES)
def test_backend_writes_a_smaller_complete_artefact(variants: dict, jobs: dict, family: str, backend: str) -> None:
    available(backend)
    variant, job = variants[(family, backend)], jobs[family]
    assert variant.status == "ok", variant.reason
    assert variant.path == job.output_dir / "quantized" / backend
    assert verify_checkpoint(variant.path, job.fingerprint, hashes=True) is None
    assert not variant.path.with_name(f"{backend}.partial").exists()

    assert 0 < variant.size_bytes < variant.fp32_size_bytes
    assert variant.layer_bytes_fp32 / variant.layer_bytes_quantized >= 3.5
    assert variant.quantize_s > 0

    summary = variant.to_dict()
    assert summary["layer_ratio"] >= 3.5 and summary["size_ratio"] > 1
    json.dumps(summary)
    descriptor = read_json(variant.path / DESCRIPTOR)
    for key in ("backend", "size_bytes", "fp32_size_bytes", "layer_bytes_quantized", "layer_ratio"):
        assert descriptor[key] == summary[key]
    assert (descriptor["family"], descriptor["task_type"], descriptor["fingerprint"]) == (
        family, job.task.type, job.fingerprint
    )
    assert sum((variant.path / name).stat().st_size for name in descriptor["model_files"]) == variant.size_bytes > 0
    assert (variant.path / "tokenizer.json").is_file() and (variant.path / "config.json").is_file()
    assert all(p.stem.endswith("_quantized") for p in variant.path.rglob("*.onnx"))  # no fp32 graph kept


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", FAMILIES)
def test_reload_predicts_exactly_as_right_after_quantization(
    variants: dict, jobs: dict, family: str, backend: str, tmp_path: Path
) -> None:
    """Quantizing is deterministic and the artefact holds all of it (tied weights included)."""
    available(backend)
    job = jobs[family]
    family_impl = load_family(family)(job)
    rows = rows_of(job)
    checkpoint = job.output_dir / "checkpoint"
    built = quantization_backend(backend).build(family_impl, checkpoint, tmp_path)
    right_after = family_impl.predict(built.model, AutoTokenizer.from_pretrained(checkpoint), rows)

    model, reloaded_tokenizer = load_quantized(variants[(family, backend)].path, job)
    assert family_impl.predict(model, reloaded_tokenizer, rows) == right_after


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", FAMILIES)
def test_quantized_model_scores_close_to_fp32(variants: dict, jobs: dict, family: str, backend: str) -> None:
    available(backend)
    job = jobs[family]
    family_impl = load_family(family)(job)
    rows = rows_of(job)
    fp32 = family_impl.predict(*family_impl.load_trained(job.output_dir / "checkpoint",
                                                         decide_precision("fp32", cpu_hardware())), rows)
    int8 = family_impl.predict(*load_quantized(variants[(family, backend)].path, job), rows)
    fp32_scores, int8_scores = family_impl.score(fp32, rows), family_impl.score(int8, rows)
    assert set(int8_scores) == METRICS[job.task.type]
    main = "accuracy" if family == "classifier" else "rougeL"
    assert abs(int8_scores[main] - fp32_scores[main]) <= 10
    if family == "classifier":
        drift = max(abs(a - b) for p, q in zip(fp32, int8, strict=True)
                    for a, b in zip(p["probabilities"], q["probabilities"], strict=True))
        assert drift < 0.02


def test_bitsandbytes_runs_on_this_machine_exactly_when_its_int8_layer_does(variants: dict) -> None:
    """Whatever the installed bitsandbytes does here, the backend reports it: built, or skipped
    with the reason, judged by an LLM.int8 layer run in this test."""
    import bitsandbytes

    device = detect_hardware().device
    try:
        layer = bitsandbytes.nn.Linear8bitLt(32, 4, has_fp16_weights=False).to(device)
        layer(torch.ones(1, 32, device=device))
        works = layer.weight.dtype == torch.int8
    except Exception:  # any failure means "does not run here"
        works = False
    reason = unavailable_reason("bitsandbytes", detect_hardware())
    assert (reason is None) == works
    for family in FAMILIES:
        variant = variants[(family, "bitsandbytes")]
        assert (variant.status, variant.reason) == (("ok", None) if works else ("skipped", reason))


def test_adapter_checkpoint_is_merged_into_its_fp32_base_first(tmp_path: Path) -> None:
    job = train(tmp_path, "bart-tiny", "seq2seq", lora={}, quantization="4bit")
    manifest = read_json(job.output_dir / "checkpoint" / MANIFEST)
    assert manifest["kind"] == "adapter"

    variant = quantize("torch_dynamic", job, tmp_path / "int8")
    assert variant.status == "ok", variant.reason
    assert read_json(variant.path / DESCRIPTOR)["merged_adapters_into"] == manifest["base"]
    assert not (variant.path / "fp32-merged").exists()
    family = load_family("seq2seq")(job)
    rows = rows_of(job)
    assert set(family.score(family.predict(*load_quantized(variant.path, job), rows), rows)) == METRICS["summarization"]

    # A moved run directory: the base is looked for where the candidate's source puts it (a scratch
    # preset's in the candidate's own folder), whatever path the manifest recorded.
    moved = dataclasses.replace(job, output_dir=tmp_path / "moved" / job.output_dir.name)
    shutil.copytree(job.output_dir / "checkpoint", moved.output_dir / "checkpoint")
    skipped = quantize("torch_dynamic", moved, tmp_path / "int8-moved")
    assert skipped.status == "skipped"
    assert str(moved.output_dir / "base") in skipped.reason and "keep the candidate's base model" in skipped.reason
    assert not (tmp_path / "int8-moved").exists()
    shutil.copytree(job.output_dir / "base", moved.output_dir / "base")
    assert quantize("torch_dynamic", moved, tmp_path / "int8-moved").status == "ok"

    # A manifest that points the adapters at another base is refused, never followed.
    (moved.output_dir / "checkpoint" / MANIFEST).write_text(
        json.dumps({**manifest, "base": str(tmp_path / "gone")}), encoding="utf-8"
    )
    refused = quantize("torch_dynamic", moved, tmp_path / "int8-refused")
    assert refused.status == "failed" and "CheckpointMismatch" in refused.reason
    assert str(tmp_path / "gone") in refused.reason and not (tmp_path / "int8-refused").exists()


def test_gpt2_projections_are_quantized_too(tmp_path: Path) -> None:
    """GPT-2's Conv1D projections are Linears in disguise; all of them are quantized, not only lm_head."""
    job = train(tmp_path, "gpt2-tiny", "causal")
    variant = quantize("torch_dynamic", job, tmp_path / "int8")
    assert variant.status == "ok", variant.reason
    layers = 4 * 2 + 1  # c_attn, c_proj, c_fc, mlp.c_proj per block, and lm_head
    assert read_json(variant.path / DESCRIPTOR)["details"]["quantized_modules"] == layers
    model, tokenizer = load_quantized(variant.path, job)
    family = load_family("causal")(job)
    assert len(family.predict(model, tokenizer, rows_of(job))) == len(rows_of(job))


def test_unknown_backend_and_missing_checkpoint_fail_with_reasons(jobs: dict, tmp_path: Path) -> None:
    job = jobs["classifier"]
    unknown = quantize("onnx_runtime_int4", job, tmp_path / "x")
    assert unknown.status == "failed" and "onnxruntime" in unknown.reason
    assert unavailable_reason("onnx_runtime_int4", cpu_hardware()) == unknown.reason

    missing = quantize("torch_dynamic", dataclasses.replace(job, output_dir=tmp_path / "never-trained"), tmp_path / "y")
    assert missing.status == "failed" and "train" in missing.reason

    stale = quantize("torch_dynamic", dataclasses.replace(job, fingerprint="0" * 16), tmp_path / "z")
    assert stale.status == "failed" and "config changed" in stale.reason
    assert not any(tmp_path.iterdir())


def test_backend_names_are_matched_like_other_names(jobs: dict, tmp_path: Path) -> None:
    variant = quantize("Torch-Dynamic", jobs["classifier"], tmp_path / "int8")
    assert (variant.backend, variant.status) == ("torch_dynamic", "ok")


def test_a_crash_midway_leaves_no_artefact(jobs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(family: Any, fp32_dir: Path, directory: Path) -> Any:
        (directory / "model_int8.pt").write_bytes(b"half")
        raise RuntimeError("killed while saving")

    monkeypatch.setattr(quantization_backend("torch_dynamic"), "build", crash)
    variant = quantize("torch_dynamic", jobs["classifier"], tmp_path / "torch_dynamic")
    assert (variant.status, variant.reason) == ("failed", "RuntimeError: killed while saving")
    assert not any(tmp_path.iterdir())


def test_artefact_of_another_configuration_is_refused(variants: dict, jobs: dict) -> None:
    other = dataclasses.replace(jobs["classifier"], fingerprint="0" * 16)
    with pytest.raises(ValueError, match="quantize again"):
        load_quantized(variants[("classifier", "torch_dynamic")].path, other)


@pytest.mark.parametrize(
    "flags,machine,expected",
    [
        ("fpu sse2 avx avx2 avx512f avx512bw avx512_vnni", "x86_64", "avx512_vnni"),
        ("fpu sse2 avx avx2 avx512f avx512dq avx512bw", "x86_64", "avx512"),
        ("fpu sse2 avx avx2 fma", "x86_64", "avx2"),
        ("fpu sse2 sse4_2", "x86_64", "avx2"),
        ("", "aarch64", "arm64"),
        ("avx2", "arm64", "arm64"),
    ],
)
def test_cpu_instruction_set(flags: str, machine: str, expected: str) -> None:
    assert cpu_instruction_set(flags, machine) == expected


def test_ratios_in_the_summary() -> None:
    summary = QuantizedVariant("onnxruntime", "ok", size_bytes=250, fp32_size_bytes=1000,
                               layer_bytes_fp32=800, layer_bytes_quantized=205).to_dict()
    assert (summary["size_ratio"], summary["layer_ratio"]) == (4.0, 3.902)
    assert QuantizedVariant("bitsandbytes", "skipped", "no GPU").to_dict()["layer_ratio"] is None


@requires_gpu()
def test_every_backend_is_available_on_a_gpu_machine() -> None:
    assert all(unavailable_reason(backend, detect_hardware()) is None for backend in BACKENDS)
