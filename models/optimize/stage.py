"""One model's optimize work, run by the supervisor in the model's own actor.

For the fp32 checkpoint and each INT8 variant of the configured backends: quantize (sizes and
the quantized layers' ratio), score the task metric on validation rows and compare it with fp32
(`max_quality_drop` decides accepted or rejected), then sweep batch sizes. A rejected variant is
still measured, so the report can show what its speed would have bought, but is never
recommended. Writes `optimize.json` and the two plots into `out_dir`.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from pathlib import Path
from typing import Any

import torch

from contract.atomic import write_json
from contract.families import family as family_row
from contract.job import TrainingJob
from contract.phases import Phase
from contract.work import OptimizeRequest, OptimizeResult
from models.families.base import ModelFamily
from models.memory import return_freed_memory_to_os
from models.optimize.benchmark import Point, measure, recommend, sweep
from models.optimize.plots import plot_sweeps
from models.optimize.quantize import load_quantized, quantize, unavailable_reason, weights_size
from models.precision import detect_hardware
from models.registry import load_family
from models.reporting import Reporter, prediction_progress

Row = dict[str, Any]

def optimize_member(job: TrainingJob, reporter: Reporter, request: OptimizeRequest) -> OptimizeResult:
    """INT8 variants of one trained member, their quality on `request.rows` (the validation
    split) and their batch-size sweeps, under the experiment's `optimize` settings."""
    started = time.time()
    settings, rows, out_dir = request.settings, request.rows, request.out_dir
    return_freed_memory_to_os()
    torch.set_num_threads(max(1, int(job.settings.resources.cpus)))
    hardware = detect_hardware()
    metric = job.task.resolved_metric()
    checkpoint = job.output_dir / "checkpoint"
    variants: dict[str, dict[str, Any]] = {
        "fp32": {"backend": "fp32", "status": "ok", "path": str(checkpoint), "size_bytes": weights_size(checkpoint)}
    }
    for backend in settings.backends:
        reporter.phase(Phase.QUANTIZING, variant=backend)
        reason = unavailable_reason(backend, hardware)
        if reason is not None:
            variants[backend] = {"backend": backend, "status": "skipped", "reason": reason}
            continue
        variants[backend] = quantize(backend, job, job.output_dir / "quantized" / backend).to_dict()
        if variants[backend].get("fp32_size_bytes"):  # for adapters: the merged fp32 model, not the adapter
            variants["fp32"]["size_bytes"] = variants[backend]["fp32_size_bytes"]

    sweeps: dict[str, list[Point]] = {}
    for name, entry in variants.items():
        if entry["status"] != "ok":
            continue
        model, tokenizer = _load(job, name, entry)
        reporter.phase(Phase.EVALUATING, variant=name)
        family = load_family(job.family)(job)
        predictions = family.predict(model, tokenizer, rows, prediction_progress(reporter, "validation", variant=name))
        entry["quality"] = family.score(predictions, rows)
        reporter.phase(Phase.BENCHMARKING, variant=name)
        sweep_started = time.perf_counter()
        sweeps[name] = sweep(
            _batch_runner(job, model, tokenizer, rows), settings.batch_sizes,
            max_batch_size=settings.max_batch_size, warmup=settings.warmup, repeats=settings.repeats,
            timeout_s=settings.point_timeout_s, device=getattr(model, "device", "cpu"),
            count_tokens=_token_counter(job, tokenizer),
            progress=lambda point, name=name: reporter.heartbeat(detail=_point_text(name, point)),
        )
        entry["sweep_s"] = round(time.perf_counter() - sweep_started, 2)
        entry["points"] = [p.to_dict() for p in sweeps[name]]
        del model
        gc.collect()

    _judge_quality(variants, metric, settings.max_quality_drop)
    usable = [name for name, v in variants.items() if v.get("accepted")]
    recommendation = recommend(sweeps, usable, settings.memory_budget_mb, settings.latency_slo_ms)
    if _fp32_missing_at(recommendation, sweeps):
        # `auto` may have stopped fp32's sweep below the batch size an INT8 variant is best at:
        # measure fp32 there too, so the speed-up is a comparison at the same batch size.
        reporter.phase(Phase.BENCHMARKING, variant="fp32")
        model, tokenizer = _load(job, "fp32", variants["fp32"])
        extra = measure(
            _batch_runner(job, model, tokenizer, rows), recommendation["batch_size"], warmup=settings.warmup,
            repeats=settings.repeats, timeout_s=settings.point_timeout_s, device=getattr(model, "device", "cpu"),
            count_tokens=_token_counter(job, tokenizer),
        )
        del model
        sweeps["fp32"] = sorted([*sweeps["fp32"], extra], key=lambda p: p.batch_size)
        variants["fp32"]["points"] = [p.to_dict() for p in sweeps["fp32"]]
        recommendation = recommend(sweeps, usable, settings.memory_budget_mb, settings.latency_slo_ms)
    result = {
        "name": job.name,
        "metric": metric,
        "device": hardware.device,
        "threads": torch.get_num_threads(),
        "memory_source": "cuda allocator" if hardware.device == "cuda" else "process RSS",
        "variants": variants,
        "recommendation": recommendation,
        "plots": plot_sweeps(job.name, sweeps, Path(out_dir)) if sweeps else {},
        "wall_s": round(time.time() - started, 2),
    }
    write_json(Path(out_dir) / "optimize.json", result)
    reporter.phase(Phase.DONE)
    return OptimizeResult(result)


def _fp32_missing_at(recommendation: dict[str, Any], sweeps: dict[str, list[Point]]) -> bool:
    size = recommendation.get("batch_size")
    return (size is not None and recommendation["variant"] != "fp32" and "fp32" in sweeps
            and all(p.batch_size != size for p in sweeps["fp32"]))


def _load(job: TrainingJob, name: str, entry: dict[str, Any]) -> tuple[Any, Any]:
    if name == "fp32":
        return load_family(job.family)(job).load_finished()
    return load_quantized(Path(entry["path"]), job)


def _judge_quality(variants: dict[str, dict[str, Any]], metric: str, max_drop: float) -> None:
    """Each variant's metric change against fp32 and whether it stays within `max_drop` points."""
    reference = variants["fp32"].get("quality", {}).get(metric)
    for name, entry in variants.items():
        value = entry.get("quality", {}).get(metric)
        if value is None or reference is None:
            entry["accepted"] = False
            continue
        entry["metric"] = value
        entry["metric_change"] = round(value - reference, 3)
        entry["accepted"] = name == "fp32" or value - reference >= -max_drop
        if not entry["accepted"]:
            entry["reason"] = (f"{metric} fell {reference - value:.2f} points against fp32, "
                               f"more than optimize.max_quality_drop ({max_drop:g})")


def _batch_runner(job: TrainingJob, model: Any, tokenizer: Any, rows: list[Row]) -> Any:
    """Predict one batch of `size` validation rows (cycled when there are fewer), through the
    family's own predict: tokenization, generation and decoding, as serving would."""
    families: dict[int, ModelFamily] = {}

    def run(size: int) -> list[Row]:
        if size not in families:
            settings = job.settings.model_copy(update={"eval_batch_size": size})
            families[size] = load_family(job.family)(dataclasses.replace(job, settings=settings))
        batch = [rows[i % len(rows)] for i in range(size)]
        return families[size].predict(model, tokenizer, batch)

    return run


def _token_counter(job: TrainingJob, tokenizer: Any) -> Any:
    """Counts the tokens of a batch's generated predictions; None for a family that predicts labels."""
    if not family_row(job.family).generates:
        return None

    def count(records: list[Row]) -> int:
        texts = [r["prediction"] for r in records]
        return sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])

    return count


def _point_text(variant: str, point: Point) -> str:
    if point.status != "ok":
        return f"{variant} batch {point.batch_size}: {point.status}"
    return f"{variant} batch {point.batch_size}: {point.samples_per_s:.1f} samples/s, median {point.median_ms:.0f} ms"
