"""Batch-size benchmark: latency, throughput and peak memory of one model variant per batch size.

Each batch size gets `warmup` untimed calls, then `repeats` timed ones; a point reports the
median and 95th-percentile latency of a batch, samples/s and generated tokens/s at the median,
and the peak memory while it ran. Out of memory at a size is a result (`oom`), as is a point
that passes its time bound (`timeout`, with the repeats it finished); neither stops the stage,
and both end the sweep, since larger batches would only do worse. `auto` doubles from 1 until
then, until `max_batch_size`, or until throughput stops improving.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from contract.optimize import out_of_bounds
from models.memory import PeakMemory, is_out_of_memory

# Runs one batch of the given size and returns its outputs; a TokenCounter, applied outside the
# timed region, says how many tokens those outputs are (generation only).
BatchRunner = Callable[[int], Any]
TokenCounter = Callable[[Any], int]
Progress = Callable[["Point"], None]

MIN_GAIN = 0.05  # `auto` stops after two doublings that each gain less than this over the best so far


@dataclass
class Point:
    batch_size: int
    status: Literal["ok", "oom", "timeout", "failed"]
    latencies_s: list[float] = field(default_factory=list)
    tokens_per_batch: float = 0.0
    peak_memory_mb: float = 0.0
    reason: str | None = None

    @property
    def median_ms(self) -> float | None:
        return 1000 * statistics.median(self.latencies_s) if self.latencies_s else None

    @property
    def p95_ms(self) -> float | None:
        return 1000 * float(np.percentile(self.latencies_s, 95)) if self.latencies_s else None

    @property
    def samples_per_s(self) -> float | None:
        return self.batch_size / statistics.median(self.latencies_s) if self.latencies_s else None

    @property
    def tokens_per_s(self) -> float | None:
        if not self.latencies_s or not self.tokens_per_batch:
            return None
        return self.tokens_per_batch / statistics.median(self.latencies_s)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["latencies_s"] = [round(x, 5) for x in self.latencies_s]
        for name in ("median_ms", "p95_ms", "samples_per_s", "tokens_per_s"):
            value = getattr(self, name)
            out[name] = round(value, 3) if value is not None else None
        out["peak_memory_mb"] = round(self.peak_memory_mb, 1)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Point:
        return cls(**{k: data[k] for k in ("batch_size", "status", "latencies_s", "tokens_per_batch",
                                            "peak_memory_mb", "reason") if k in data})


def doubling(max_batch_size: int) -> list[int]:
    sizes, size = [], 1
    while size <= max_batch_size:
        sizes.append(size)
        size *= 2
    return sizes


def measure(
    run_batch: BatchRunner, batch_size: int, *, warmup: int, repeats: int, timeout_s: float,
    device: torch.device | str = "cpu", count_tokens: TokenCounter | None = None,
) -> Point:
    """One point: warm-up calls, then timed repeats, under one time bound for the whole point."""
    deadline = time.perf_counter() + timeout_s
    point = Point(batch_size, "ok")
    tokens: list[int] = []
    try:
        with PeakMemory(device) as peak:
            for _ in range(warmup):
                run_batch(batch_size)
                if time.perf_counter() > deadline:
                    point.status, point.reason = "timeout", f"warm-up alone passed the {timeout_s:g} s bound"
                    break
            while point.status == "ok" and len(point.latencies_s) < repeats:
                started = time.perf_counter()
                outputs = run_batch(batch_size)
                point.latencies_s.append(time.perf_counter() - started)
                if count_tokens is not None:
                    tokens.append(count_tokens(outputs))
                if time.perf_counter() > deadline and len(point.latencies_s) < repeats:
                    point.status = "timeout"
                    point.reason = f"{len(point.latencies_s)} of {repeats} repeats within the {timeout_s:g} s bound"
        point.peak_memory_mb = peak.mb
    except Exception as exc:  # noqa: BLE001 - a point's failure is its result
        point.status = "oom" if is_out_of_memory(exc) else "failed"
        point.reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
        point.latencies_s = []
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    point.tokens_per_batch = float(statistics.median(tokens)) if tokens else 0.0
    return point


def sweep(
    run_batch: BatchRunner,
    batch_sizes: Sequence[int] | Literal["auto"],
    *,
    max_batch_size: int,
    warmup: int,
    repeats: int,
    timeout_s: float,
    device: torch.device | str = "cpu",
    count_tokens: TokenCounter | None = None,
    progress: Progress | None = None,
) -> list[Point]:
    """Points in increasing batch size; stops after an `oom`, `timeout` or `failed` point, and
    for `auto` also once throughput has stopped improving (two doublings under MIN_GAIN)."""
    auto = batch_sizes == "auto"
    sizes = doubling(max_batch_size) if auto else sorted(set(batch_sizes))
    points: list[Point] = []
    best, flat = 0.0, 0
    for size in sizes:
        point = measure(run_batch, size, warmup=warmup, repeats=repeats, timeout_s=timeout_s, device=device,
                        count_tokens=count_tokens)
        points.append(point)
        if progress is not None:
            progress(point)
        if point.status != "ok":
            break
        throughput = point.samples_per_s or 0.0
        flat = flat + 1 if throughput < best * (1 + MIN_GAIN) else 0
        best = max(best, throughput)
        if auto and flat >= 2:
            break
    return points


def within(point: Point, memory_budget_mb: float | None, latency_slo_ms: float | None) -> str | None:
    """Why a point is out of bounds (None when it is a usable point)."""
    return out_of_bounds(point.status, point.peak_memory_mb, point.p95_ms, memory_budget_mb, latency_slo_ms)


def recommend(
    sweeps: dict[str, list[Point]], usable: Sequence[str], memory_budget_mb: float | None = None,
    latency_slo_ms: float | None = None,
) -> dict[str, Any]:
    """The variant and batch size with the highest throughput among `usable` variants (those that
    passed the quality check) and points within the memory budget and latency SLO."""
    choices = [
        (variant, point) for variant in usable for point in sweeps.get(variant, [])
        if within(point, memory_budget_mb, latency_slo_ms) is None
    ]
    bounds = [b for b in (memory_budget_mb and f"peak memory <= {memory_budget_mb:g} MB",
                          latency_slo_ms and f"p95 latency <= {latency_slo_ms:g} ms") if b]
    rule = "highest samples/s" + (f" with {' and '.join(bounds)}" if bounds else "")
    if not choices:
        return {"variant": None, "batch_size": None, "rule": rule,
                "reason": "no measured point of an accepted variant meets the bounds"}
    variant, point = max(choices, key=lambda c: c[1].samples_per_s or 0.0)
    out: dict[str, Any] = {"variant": variant, "batch_size": point.batch_size, "rule": rule,
                           "samples_per_s": round(point.samples_per_s or 0.0, 3),
                           "p95_ms": round(point.p95_ms or 0.0, 3), "peak_memory_mb": round(point.peak_memory_mb, 1)}
    baseline = next((p for p in sweeps.get("fp32", []) if p.batch_size == point.batch_size and p.status == "ok"), None)
    if baseline is not None and baseline.samples_per_s:
        out["speedup_vs_fp32"] = round((point.samples_per_s or 0.0) / baseline.samples_per_s, 3)
    return out
