"""INT8 variants of a trained checkpoint: PyTorch dynamic quantization, ONNX Runtime dynamic
quantization and bitsandbytes LLM.int8, each a module of `models/optimize/backends/` behind one
interface; this module is the API the optimize stage and users call.

Every backend starts from fp32 weights (a QLoRA checkpoint's adapters are first merged into its
fp32 base) and writes an artefact directory: the quantized model files, config, tokenizer, and
`quantization.json`, which says how to load it and what was measured. The directory is written
through `models.checkpoint.write_checkpoint`, so a crash leaves at most a `.partial` sibling.

Layer bytes compare only what a backend quantized: those layers' fp32 weights against their
int8 weights plus the scales and zero points stored with them. Biases stay fp32 in every backend
and are left out on both sides. Whole-file sizes also count what stays fp32, above all the
embeddings, which dominate tiny models.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import torch

from contract.atomic import write_json
from contract.job import TrainingJob
from contract.names import UnknownNameError
from models.checkpoint import read_manifest, verify_checkpoint, write_checkpoint
from models.families.base import ModelFamily
from models.optimize.backends import BACKENDS, quantization_backend
from models.optimize.backends.base import QuantizationBackend, QuantizationSkipped, one_line
from models.precision import Hardware, detect_hardware
from models.registry import load_family

log = logging.getLogger(__name__)

DESCRIPTOR = "quantization.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx", ".onnx_data", ".onnx.data")

Status = Literal["ok", "skipped", "failed"]


@dataclass
class QuantizedVariant:
    """One backend's outcome for one checkpoint; `to_dict` is what the stage stores and reports."""

    backend: str
    status: Status
    reason: str | None = None
    path: Path | None = None
    size_bytes: int = 0
    fp32_size_bytes: int = 0
    layer_bytes_fp32: int = 0
    layer_bytes_quantized: int = 0
    quantize_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "path": str(self.path) if self.path is not None else None,
            "size_ratio": _ratio(self.fp32_size_bytes, self.size_bytes),
            "layer_ratio": _ratio(self.layer_bytes_fp32, self.layer_bytes_quantized),
        }


def unavailable_reason(backend: str, hardware: Hardware) -> str | None:
    """Why `backend` cannot run on `hardware` with the installed versions; None when it can.
    torch_dynamic and onnxruntime always run on the CPU, so a GPU machine has them too."""
    try:
        return quantization_backend(backend).unavailable_reason(hardware)
    except UnknownNameError as exc:
        return str(exc)


def quantize(backend: str, job: TrainingJob, out_dir: Path) -> QuantizedVariant:
    """Quantize `job`'s checkpoint into `out_dir` (with `quantization.json`), written in a
    `.partial` sibling and renamed into place. Never raises for a backend that cannot run or
    fails: the variant says skipped or failed, and why (the traceback goes to the log)."""
    out_dir = Path(out_dir)
    try:
        implementation = quantization_backend(backend)
    except UnknownNameError as exc:
        return QuantizedVariant(backend, "failed", str(exc))
    checkpoint = job.output_dir / "checkpoint"
    problem = verify_checkpoint(checkpoint, job.fingerprint)
    if problem is not None:
        return QuantizedVariant(implementation.name, "failed", f"no finished checkpoint to quantize: {problem}; "
                                                               f"train {job.name} first")
    reason = implementation.unavailable_reason(detect_hardware())
    if reason is not None:
        return QuantizedVariant(implementation.name, "skipped", reason)

    variant = QuantizedVariant(implementation.name, "ok", path=out_dir)
    try:
        write_checkpoint(out_dir, lambda directory: _fill(implementation, job, variant, directory), job.fingerprint)
    except QuantizationSkipped as exc:
        variant = QuantizedVariant(implementation.name, "skipped", str(exc))
    except Exception as exc:  # a failed backend is a result of the stage, not the end of it
        log.exception("%s: %s quantization failed", job.name, implementation.name)
        variant = QuantizedVariant(implementation.name, "failed", one_line(exc))
    finally:
        shutil.rmtree(out_dir.with_name(out_dir.name + ".partial"), ignore_errors=True)  # write_checkpoint's
    if variant.status == "ok":
        log.info("%s: %s INT8 is %.1fx smaller on the quantized layers, %.1fx on disk, in %.1f s", job.name,
                 variant.backend, variant.layer_bytes_fp32 / variant.layer_bytes_quantized,
                 variant.fp32_size_bytes / variant.size_bytes, variant.quantize_s)
    return variant


def _fill(backend: QuantizationBackend, job: TrainingJob, variant: QuantizedVariant, directory: Path) -> None:
    """Write the artefact into `directory` (the partial one) and the measures into `variant`."""
    from transformers import AutoTokenizer

    started = time.perf_counter()
    family = load_family(job.family)(job)
    checkpoint = job.output_dir / "checkpoint"
    fp32_dir, merged_base = _fp32_weights(family, checkpoint, directory / "fp32-merged")
    built = backend.build(family, fp32_dir, directory)
    if built.layer_bytes_quantized == 0:
        raise QuantizationSkipped(f"{backend.name} found no layer it quantizes in this {job.family} model")
    trust = job.candidate.trust_remote_code
    AutoTokenizer.from_pretrained(fp32_dir, local_files_only=True, trust_remote_code=trust).save_pretrained(directory)
    variant.fp32_size_bytes = weights_size(fp32_dir)
    shutil.rmtree(directory / "fp32-merged", ignore_errors=True)
    variant.size_bytes = weights_size(directory)
    variant.layer_bytes_fp32, variant.layer_bytes_quantized = built.layer_bytes_fp32, built.layer_bytes_quantized
    variant.quantize_s = round(time.perf_counter() - started, 3)
    files = {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file()}
    descriptor = {
        **{k: v for k, v in variant.to_dict().items() if k not in ("status", "reason", "path")},
        "name": job.name,
        "family": job.family,
        "task_type": job.task.type,
        "fingerprint": job.fingerprint,
        "trust_remote_code": trust,
        "merged_adapters_into": merged_base,
        "model_files": sorted(name for name in files if name.endswith(WEIGHT_SUFFIXES)),
        "files": files,
        "details": built.details,
        "versions": {package: version(package) for package in ("torch", "transformers", *backend.packages)},
    }
    write_json(directory / DESCRIPTOR, descriptor)


def _fp32_weights(family: ModelFamily, checkpoint: Path, scratch: Path) -> tuple[Path, str | None]:
    """A directory of full fp32 weights for `checkpoint`: the checkpoint itself, or for an adapter
    checkpoint (QLoRA) its adapters merged into the fp32 base, saved into `scratch`. The adapters
    were trained against the quantized base, so the merged model differs from it slightly, as
    every QLoRA merge does. Returns the directory and the merged base, if any."""
    manifest = read_manifest(checkpoint) or {}
    if manifest.get("kind") != "adapter":
        return checkpoint, None
    from peft import PeftModel
    from transformers import AutoTokenizer

    base, trust = family.adapter_base(manifest), family.job.candidate.trust_remote_code
    try:
        model = family.auto_class.from_pretrained(
            base, local_files_only=True, dtype=torch.float32, trust_remote_code=trust, **family.model_kwargs()
        )
    except (OSError, ValueError) as exc:
        raise QuantizationSkipped(
            f"INT8 needs the adapters merged into full weights, and their base {base} cannot be loaded "
            f"({one_line(exc)}); keep the candidate's base model where its source points"
        ) from exc
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True, trust_remote_code=trust)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    model = PeftModel.from_pretrained(model, checkpoint).merge_and_unload()
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(scratch, safe_serialization=True)
    tokenizer.save_pretrained(scratch)
    return scratch, base


def merged_fp32_checkpoint(job: TrainingJob, scratch: Path) -> Path:
    """`job`'s checkpoint as full fp32 weights: the checkpoint itself, or (QLoRA) its adapters
    merged into the fp32 base and saved into `scratch` (for `export`, as for quantizing)."""
    scratch.mkdir(parents=True, exist_ok=True)
    path, _ = _fp32_weights(load_family(job.family)(job), job.output_dir / "checkpoint", scratch)
    return path


def load_quantized(path: Path, job: TrainingJob | None = None, *, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """The model and tokenizer of an artefact `quantize` wrote, ready for the family's `predict`.
    With `job`, an artefact of another configuration of the candidate is refused. Whether code
    shipped with the model may run is the caller's to say (the job's candidate, else
    `trust_remote_code`), never the artefact's descriptor: the artefact may come from anyone."""
    from transformers import AutoTokenizer

    path = Path(path)
    problem = verify_checkpoint(path)
    if problem is not None:
        raise FileNotFoundError(f"{path} is not a complete quantized artefact: {problem}; run quantize again")
    descriptor = json.loads((path / DESCRIPTOR).read_text(encoding="utf-8"))
    if job is not None and descriptor["fingerprint"] != job.fingerprint:
        raise ValueError(f"{path} was quantized from another configuration of {descriptor['name']} "
                         f"(fingerprint {descriptor['fingerprint']}, the job's is {job.fingerprint}); quantize again")
    trust = job.candidate.trust_remote_code if job is not None else trust_remote_code
    descriptor = {**descriptor, "trust_remote_code": trust}  # what the backends load with
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=trust)
    return quantization_backend(descriptor["backend"]).load(path, descriptor), tokenizer


def weights_size(directory: Path) -> int:
    """Bytes of a model directory's weight files (not its tokenizer or configs)."""
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def _ratio(before: int, after: int) -> float | None:
    return round(before / after, 3) if before and after else None


__all__ = ["BACKENDS", "DESCRIPTOR", "QuantizedVariant", "load_quantized", "quantization_backend", "quantize",
           "unavailable_reason", "weights_size"]
