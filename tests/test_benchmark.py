"""The batch-size benchmark's rules: repeats and statistics, out of memory and time bounds as
results, `auto` stopping, the recommendation, plots and peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from models.memory import PeakMemory
from models.optimize.benchmark import Point, doubling, measure, recommend, sweep
from models.optimize.plots import plot_sweeps
from tests.conftest import REPO


def sleeper(per_sample_s: float, fixed_s: float = 0.002):  # noqa: ANN201
    def run(size: int) -> list[str]:
        time.sleep(fixed_s + per_sample_s * size)
        return ["a b c"] * size

    return run


def test_a_point_has_warmup_repeats_and_statistics() -> None:
    calls = []

    def run(size: int) -> list[str]:
        calls.append(size)
        time.sleep(0.01)
        return ["one two"] * size

    point = measure(run, 4, warmup=2, repeats=5, timeout_s=10, count_tokens=lambda out: 2 * len(out))
    assert calls == [4] * 7 and point.status == "ok" and len(point.latencies_s) == 5
    assert point.median_ms == pytest.approx(10, abs=8) and point.p95_ms >= point.median_ms
    assert point.samples_per_s == pytest.approx(4 / (point.median_ms / 1000))
    assert point.tokens_per_batch == 8 and point.tokens_per_s == pytest.approx(8 / (point.median_ms / 1000))
    assert Point.from_dict(point.to_dict()).median_ms == pytest.approx(point.median_ms, abs=0.01)


class VirtualClock:
    """The benchmark's clock, advanced only by what a batch says it cost: a throughput curve whose
    shape no other process on the machine can bend (tests run several at once)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_auto_doubles_until_throughput_stops_improving(monkeypatch: pytest.MonkeyPatch) -> None:
    # A batch costs at least 16 ms, then 4 ms per sample: throughput stops growing after batch 4.
    import models.optimize.benchmark as benchmark

    clock = VirtualClock()
    monkeypatch.setattr(benchmark, "time", clock)

    def run(size: int) -> list[str]:
        clock.sleep(max(0.016, 0.004 * size))
        return ["a"] * size

    points = sweep(run, "auto", max_batch_size=256, warmup=0, repeats=2, timeout_s=10)
    assert [p.batch_size for p in points] == [1, 2, 4, 8, 16], [p.to_dict() for p in points]
    assert all(p.status == "ok" for p in points)
    assert doubling(64) == [1, 2, 4, 8, 16, 32, 64]
    monkeypatch.undo()
    explicit = sweep(sleeper(0.0), [8, 2, 2], max_batch_size=64, warmup=0, repeats=1, timeout_s=10)
    assert [p.batch_size for p in explicit] == [2, 8]


def test_out_of_memory_and_time_bound_are_results_that_end_the_sweep() -> None:
    def run(size: int) -> list[str]:
        if size >= 8:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 123 bytes")
        return ["x"] * size

    points = sweep(run, [1, 4, 8, 16], max_batch_size=64, warmup=1, repeats=3, timeout_s=10)
    assert [(p.batch_size, p.status) for p in points] == [(1, "ok"), (4, "ok"), (8, "oom")]
    assert "can't allocate" in points[-1].reason and points[-1].latencies_s == []

    slow = sweep(sleeper(0.1), [1, 4, 8], max_batch_size=64, warmup=0, repeats=5, timeout_s=0.5)
    assert [p.status for p in slow] == ["ok", "timeout"]
    assert 1 <= len(slow[1].latencies_s) < 5 and "within the 0.5 s bound" in slow[1].reason

    failing = sweep(lambda size: 1 / 0, [1, 2], max_batch_size=64, warmup=0, repeats=1, timeout_s=1)
    assert [(p.status, p.reason) for p in failing] == [("failed", "ZeroDivisionError: division by zero")]


def test_a_real_allocation_failure_under_a_memory_limit_is_an_oom_point() -> None:
    """In a child process capped at 0.5 GiB beyond its imports: 64 MiB per sample fits at batch 4
    and cannot at 16; the sweep records that and returns normally."""
    script = """
import json, torch
from contract.hardware import limit_memory
from models.optimize.benchmark import sweep
limit_memory(0.5)
run = lambda size: torch.ones(size * 16 * 2**20).sum().item()
points = sweep(run, [1, 4, 16, 32], max_batch_size=64, warmup=0, repeats=2, timeout_s=30)
print(json.dumps([p.to_dict() for p in points]))
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    points = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [(p["batch_size"], p["status"]) for p in points] == [(1, "ok"), (4, "ok"), (16, "oom")], points


def points(variant_speed: float, latency_per_sample_ms: float, memory_per_sample_mb: float) -> list[Point]:
    out = []
    for size in (1, 4, 16, 64):
        latency = size / (variant_speed * (1 + size / 8))  # saturating throughput
        out.append(Point(size, "ok", [latency] * 3, peak_memory_mb=100 + memory_per_sample_mb * size))
    return out


def test_recommendation_is_the_fastest_accepted_point_within_budget_and_slo() -> None:
    sweeps = {"fp32": points(10, 0, 10), "torch_dynamic": points(15, 0, 4), "onnxruntime": points(40, 0, 6)}
    best = recommend(sweeps, ["fp32", "torch_dynamic", "onnxruntime"])
    assert (best["variant"], best["batch_size"]) == ("onnxruntime", 64)
    assert best["speedup_vs_fp32"] == pytest.approx(4.0)

    # onnxruntime lost too much quality: never recommended, however fast.
    assert recommend(sweeps, ["fp32", "torch_dynamic"])["variant"] == "torch_dynamic"
    # Memory budget: onnxruntime at 64 needs 484 MB, at 16 only 196 MB.
    within_budget = recommend(sweeps, ["fp32", "torch_dynamic", "onnxruntime"], memory_budget_mb=300)
    assert (within_budget["variant"], within_budget["batch_size"]) == ("onnxruntime", 16)
    assert "peak memory <= 300 MB" in within_budget["rule"]
    # Latency SLO in ms on the p95 of a batch.
    slo = recommend(sweeps, ["fp32"], latency_slo_ms=300)
    assert slo["variant"] == "fp32" and all(
        p.p95_ms <= 300 for p in sweeps["fp32"] if p.batch_size == slo["batch_size"]
    )
    nothing = recommend(sweeps, ["fp32"], latency_slo_ms=0.001)
    assert nothing["variant"] is None and "no measured point" in nothing["reason"]
    failed_points = {"fp32": [Point(1, "oom", reason="out of memory")]}
    assert recommend(failed_points, ["fp32"])["variant"] is None


def test_plots_are_written_as_png(tmp_path) -> None:
    sweeps = {"fp32": points(10, 0, 10), "torch_dynamic": [*points(15, 0, 4), Point(128, "oom")]}
    paths = plot_sweeps("bart", sweeps, tmp_path)
    for kind in ("throughput", "latency"):
        data = (tmp_path / f"{kind}.png").read_bytes()
        assert paths[kind].endswith(f"{kind}.png") and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_peak_memory_sees_a_tensor_allocated_inside_the_block() -> None:
    import torch

    with PeakMemory() as before:
        pass
    with PeakMemory() as peak:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del block
    assert peak.mb - before.mb > 48, (peak.mb, before.mb)
