"""The model half of preflight: what needs torch, transformers, peft or bitsandbytes to know.

Runs in one child process for all candidates (the driver never imports these libraries; see
`orchestrator.preflight`). Given plain requests, it resolves each source, reads its config, builds
the architecture on the meta device (no memory behind it) for parameter counts and module names,
and answers the source, remote code, precision, quantization, LoRA and memory checks as plain data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from contract.hardware import Hardware
from contract.names import suggestion_text
from contract.preflight import Check, GiB, Inspection, InspectionRequest, actor_memory_bytes, gets_gpu, gpu_share
from contract.sources import PRESETS, parse_source
from models import libraries
from models.hardware import cpu_hardware, detect_hardware, gpu_count
from models.precision import PrecisionError, decide_precision, saved_dtype
from models.sources import SourceError, resolve_source

log = logging.getLogger(__name__)

# Adam keeps two fp32 moments per trainable parameter, plus the fp32 gradient.
OPTIMIZER_BYTES_PER_TRAINABLE = 12
ACTIVATION_MARGIN = 1.25
FIXED_MARGIN_BYTES = int(0.5 * GiB)


def inspect_candidates(requests: Sequence[InspectionRequest]) -> list[Inspection]:
    """Every candidate's model checks, in order; one candidate's surprise does not stop the others."""
    libraries.declare_inspection()
    libraries.apply()  # before transformers' model classes are imported
    probe = _local_probe()
    local_gpus: list[float] = []
    inspections = []
    for request in requests:
        name = request.candidate.name
        try:
            hardware = request.hardware
            if hardware is None:
                cluster_gpus = request.cluster_gpus
                if cluster_gpus is None:
                    if not local_gpus:
                        local_gpus.append(float(gpu_count()))
                    cluster_gpus = local_gpus[0]
                hardware = probe(gets_gpu(request.settings.resources.gpus_per_process, cluster_gpus))
            resources = request.settings.resources
            memory = actor_memory_bytes(hardware, resources.memory_gb, resources.gpus_per_process, resources.processes)
            inspections.append(inspect_candidate(request.candidate, request.settings, hardware, memory))
        except Exception as exc:  # reported as this candidate's failed check
            log.debug("%s: inspection raised", name, exc_info=True)
            inspections.append(Inspection(name, (Check(
                "inspection", "fail", f"inspecting the model raised {type(exc).__name__}: {exc}",
                "check the candidate's source and family; the actor would fail the same way",
            ),)))
    return inspections


def _local_probe() -> Callable[[bool], Hardware]:
    cache: dict[bool, Hardware] = {}

    def probe(gpu: bool) -> Hardware:
        if gpu not in cache:
            cache[gpu] = detect_hardware() if gpu else cpu_hardware()
        return cache[gpu]

    return probe


def inspect_candidate(candidate: Any, settings: Any, hardware: Hardware, memory_bytes: int | None) -> Inspection:
    """All model checks for one candidate, each independent of the others' outcome where possible."""
    checks: list[Check] = []
    model_config, source_check = _source_check(candidate)
    checks.append(source_check)
    if model_config is not None:
        checks.append(_remote_code_check(candidate, model_config))
    checks.append(_precision_check(candidate, settings.precision, hardware, model_config))
    if candidate.quantization:
        checks.append(_quantization_check(candidate.quantization, hardware))
    meta_model = None
    if model_config is not None and getattr(model_config, "auto_map", None):
        checks.append(Check(
            "memory", "warn", "not estimated: the model's own code runs only inside its actor, under its timeouts"
        ))
    elif model_config is not None:
        meta_model = _meta_model(candidate, model_config)
    if candidate.lora is not None and meta_model is not None:
        checks.append(_lora_check(candidate, model_config, meta_model))
    if meta_model is None:
        return Inspection(candidate.name, tuple(checks))
    total = int(sum(p.numel() for p in meta_model.parameters()))
    resources = settings.resources
    sharded = resources.strategy == "fsdp" and resources.processes > 1 and hardware.device == "cuda"
    shards = resources.processes if sharded else 1
    if resources.strategy == "fsdp" and resources.processes > 1 and not sharded:
        checks.append(Check("strategy", "warn", "fsdp shards over GPUs (accelerate's FSDP); on CPUs the workers "
                                                "train with ddp, each holding the whole model",
                            "use GPUs for fsdp, or strategy: ddp to say what runs"))
    estimate = estimate_training_bytes(total, candidate, settings.precision, hardware, shards)
    checks.append(_memory_check(estimate, memory_bytes, hardware, gpu_share(resources.gpus_per_process),
                                workers_text(resources.processes, "fsdp" if sharded else "ddp")))
    return Inspection(candidate.name, tuple(checks), estimate, total)


# ----------------------------------------------------------------------------- checks


def _source_check(candidate: Any) -> tuple[Any, Check]:
    from transformers import AutoConfig

    parsed = parse_source(candidate.source)
    if parsed.kind == "scratch":
        preset = PRESETS.get(parsed.value)
        config = AutoConfig.for_model(preset.model_type, **preset.config)
        return config, Check("source", "ok", f"scratch preset {parsed.value} ({preset.model_type})")
    try:
        resolved = resolve_source(candidate.source)
    except SourceError as exc:
        return None, Check("source", "fail", str(exc), "fix `source` or make the model available")
    if not resolved.local_files_only:
        return None, Check("source", "warn", f"{parsed.value} is not cached; it will be downloaded")
    where = Path(resolved.location) if parsed.kind == "local" else None
    try:
        config = AutoConfig.from_pretrained(
            resolved.location, local_files_only=True, trust_remote_code=candidate.trust_remote_code
        )
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            return None, Check(
                "remote_code", "fail", "the checkpoint's config needs custom code",
                "set trust_remote_code: true on this candidate if you trust its source",
            )
        return None, Check("source", "fail", f"config.json cannot be read: {exc}", "re-save the model")
    except (OSError, json.JSONDecodeError) as exc:
        return None, Check("source", "fail", f"config.json cannot be read: {exc}", "re-save the model")
    if where is not None and (damaged := _damaged_weights(where)) is not None:
        return config, Check(
            "source", "fail", damaged, "re-download the model or save it again with save_pretrained"
        )
    if where is not None and not _has_tokenizer(where):
        return config, Check(
            "source", "fail", f"{where} holds no tokenizer files",
            "save the tokenizer next to the weights (tokenizer.save_pretrained(dir))",
        )
    return config, Check("source", "ok", f"{parsed.kind}: {resolved.location}")


def _damaged_weights(directory: Path) -> str | None:
    """Opens each safetensors file's header (cheap: no weights are read); a truncated or
    overwritten file fails here rather than minutes later inside its actor."""
    from safetensors import SafetensorError, safe_open

    for weights in sorted(directory.glob("*.safetensors")):
        try:
            with safe_open(str(weights), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError) as exc:
            return f"weights file {weights.name} is damaged ({exc})"
    return None


def _has_tokenizer(directory: Path) -> bool:
    names = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "spiece.model", "tokenizer.model")
    return any((directory / n).is_file() for n in names)


def _remote_code_check(candidate: Any, model_config: Any) -> Check:
    needs = bool(getattr(model_config, "auto_map", None))
    if needs and not candidate.trust_remote_code:
        return Check(
            "remote_code", "fail", "the checkpoint ships custom model code (auto_map in config.json)",
            "set trust_remote_code: true on this candidate if you trust its source",
        )
    return Check("remote_code", "ok", "custom code granted" if needs else "none needed")


def _precision_check(candidate: Any, requested: str, hardware: Hardware, model_config: Any) -> Check:
    dtype = saved_dtype(model_config) if model_config is not None else None
    try:
        plan = decide_precision(requested, hardware, weights_dtype=dtype, adapters_only=candidate.lora is not None)
    except PrecisionError as exc:
        return Check("precision", "fail", str(exc).split(";")[0], str(exc).split("; ", 1)[-1])
    return Check("precision", "ok", f"{plan.name} ({plan.reason})")


def _quantization_check(kind: str, hardware: Hardware) -> Check:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        return Check("quantization", "fail", f"bitsandbytes cannot be imported ({exc})", "pip install bitsandbytes")
    from importlib.util import find_spec

    backend = f"bitsandbytes.backends.{hardware.device}"
    if find_spec(backend) is None:
        return Check(
            "quantization", "fail", f"the installed bitsandbytes has no {hardware.device} backend for {kind}",
            "remove quantization or run on a GPU",
        )
    return Check("quantization", "ok", f"{kind} through bitsandbytes on {hardware.device}")


def _meta_model(candidate: Any, model_config: Any) -> Any:
    """The architecture with no memory behind it: for parameter counts and module names."""
    from accelerate import init_empty_weights

    from models.registry import auto_model_class

    auto_class = auto_model_class(candidate.family)
    try:
        with init_empty_weights():
            return auto_class.from_config(model_config, trust_remote_code=candidate.trust_remote_code)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        log.warning("%s: cannot build %s on the meta device (%s)", candidate.name, candidate.family, exc)
        return None


def lora_targets(candidate: Any, model_config: Any) -> list[str] | None:
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    if candidate.lora.target_modules != "auto":
        return list(candidate.lora.target_modules)
    return DEFAULTS.get(model_config.model_type)


def _lora_check(candidate: Any, model_config: Any, meta_model: Any) -> Check:
    import torch

    targets = lora_targets(candidate, model_config)
    if targets is None:
        return Check(
            "lora", "fail", f"peft has no default LoRA targets for model type {model_config.model_type!r}",
            "list lora.target_modules explicitly",
        )
    linear = {
        name.rsplit(".", 1)[-1]
        for name, module in meta_model.named_modules()
        if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"
    }
    missing = [t for t in targets if t not in linear]
    if missing:
        names = ", ".join(sorted(linear))
        return Check(
            "lora", "fail",
            f"target module(s) {', '.join(map(repr, missing))} not in this architecture"
            f"{suggestion_text(missing[0], linear)}",
            f"set lora.target_modules to some of: {names}",
        )
    return Check("lora", "ok", f"targets {', '.join(targets)}")


def estimate_training_bytes(total_params: int, candidate: Any, requested: str, hardware: Hardware,
                            shards: int = 1) -> int:
    """Weights + gradients + optimizer state for the trainable part, times an activation margin,
    for one training process: FSDP divides the states among its `shards` processes, DDP gives
    every process all of them.

    A deliberate over-estimate for small batches: it exists to catch the model that cannot fit
    at all, before any GPU time is spent on it."""
    weight_bytes = {"4bit": 0.55, "8bit": 1.05}.get(candidate.quantization or "", 0.0)
    if not weight_bytes:
        half = hardware.device == "cuda" and requested != "fp32" and candidate.lora is not None
        weight_bytes = 2.0 if half else 4.0
    if candidate.lora is not None:
        trainable = max(1, int(total_params * 0.01))  # r=8..64 adapters stay around 0.1-2 %
    else:
        trainable = total_params
    needed = (total_params * weight_bytes + trainable * OPTIMIZER_BYTES_PER_TRAINABLE) / shards
    return int(needed * ACTIVATION_MARGIN + FIXED_MARGIN_BYTES)


def workers_text(processes: int, strategy: str) -> str:
    """'' for one process; ' per worker (4 workers, fsdp: states sharded)' for several."""
    if processes == 1:
        return ""
    return f" per worker ({processes} workers, " + (
        "fsdp: states sharded over them)" if strategy == "fsdp" else "ddp: each holds the whole model)")


def _memory_check(estimate: int, available: int | None, hardware: Hardware, share: float | None = None,
                  per_worker: str = "") -> Check:
    """Does the estimate fit what the actor gets: the host's memory or `resources.memory_gb` on a
    CPU, the device's on a GPU, or its `resources.gpus` share of one GPU (shared with others);
    for a data-parallel candidate, what each worker gets."""
    where = "GPU" if hardware.device == "cuda" else "host"
    shared = share is not None and hardware.device == "cuda"
    of_device = f" (resources.gpus {share:g} of a {(hardware.memory_bytes or 0) / GiB:.1f} GiB GPU)" if shared else ""
    if available is None:
        return Check("memory", "ok", f"needs about {estimate / GiB:.1f} GiB{per_worker} ({where} size unknown)")
    if estimate > available:
        fix = ("raise resources.gpus (1 is a whole GPU), use lora (+ quantization: 4bit) or a bigger device" if shared
               else "use lora (+ quantization: 4bit), a bigger device, or raise resources.memory_gb")
        if "ddp" in per_worker:
            fix = "resources.strategy: fsdp (the states sharded over the workers), " + fix
        return Check(
            "memory", "fail",
            f"needs about {estimate / GiB:.1f} GiB{per_worker} for weights, gradients and optimizer state; "
            f"{'each worker' if per_worker else 'the actor'} gets {available / GiB:.1f} GiB of {where} memory{of_device}",
            fix,
        )
    return Check("memory", "ok", f"about {estimate / GiB:.1f} of {available / GiB:.1f} GiB{per_worker}{of_device}")
