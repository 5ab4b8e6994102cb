"""One model's optimize work outside Ray: quantize, judge quality, sweep, recommend, plot."""

from __future__ import annotations

import json
from pathlib import Path

from contract.rows import read_rows
from contract.work import OptimizeRequest
from models.optimize.stage import _judge_quality, optimize_member
from models.reporting import RecordingReporter
from models.training import train_candidate
from orchestrator.config import OptimizeConfig
from tests.test_families import make_job


def test_classifier_is_quantized_judged_swept_and_recommended(tmp_path: Path) -> None:
    job = make_job(tmp_path, {"name": "bert", "source": "scratch:bert-tiny", "family": "classifier"},
                   task="classification", max_steps=20)
    train_candidate(job, RecordingReporter())
    settings = OptimizeConfig(backends=["torch_dynamic", "onnxruntime"], batch_sizes=[1, 4], warmup=1, repeats=3)
    reporter = RecordingReporter()
    out_dir = tmp_path / "optimize" / "bert"
    result = optimize_member(job, reporter, OptimizeRequest(settings, read_rows(job.data.validation), str(out_dir))).report

    assert result["metric"] == "accuracy" and set(result["variants"]) == {"fp32", "torch_dynamic", "onnxruntime"}
    for name, variant in result["variants"].items():
        assert variant["status"] == "ok" and "accuracy" in variant["quality"], (name, variant)
        assert [(p["batch_size"], p["status"], len(p["latencies_s"])) for p in variant["points"]] == [
            (1, "ok", 3), (4, "ok", 3)]
        assert all(p["tokens_per_s"] is None and p["peak_memory_mb"] > 0 for p in variant["points"])
    assert result["recommendation"]["variant"] in [n for n, v in result["variants"].items() if v["accepted"]]
    assert json.loads((out_dir / "optimize.json").read_text())["name"] == "bert"
    assert (out_dir / "throughput.png").is_file() and (out_dir / "latency.png").is_file()
    assert [p for p in reporter.phases if p != "loading"][:2] == ["quantizing", "quantizing"]
    assert {"evaluating", "benchmarking", "done"} <= set(reporter.phases)


def test_a_variant_that_loses_too_much_quality_is_rejected() -> None:
    variants = {
        "fp32": {"status": "ok", "quality": {"rougeL": 40.0}},
        "close": {"status": "ok", "quality": {"rougeL": 39.2}},
        "far": {"status": "ok", "quality": {"rougeL": 38.5}},
        "better": {"status": "ok", "quality": {"rougeL": 41.0}},
        "skipped": {"status": "skipped", "reason": "no GPU"},
    }
    _judge_quality(variants, "rougeL", max_drop=1.0)
    assert [v["accepted"] for v in variants.values()] == [True, True, False, True, False]
    assert variants["far"]["metric_change"] == -1.5 and "more than optimize.max_quality_drop (1)" in variants["far"]["reason"]
    assert variants["skipped"]["reason"] == "no GPU"


def test_a_failed_or_skipped_stage_reads_as_one_line_in_the_report() -> None:
    from orchestrator.report.optimize import optimize_markdown

    failed = {"status": "failed", "reason": "ActorUnavailableError: the board died", "log": "/r/errors/optimize.log"}
    assert optimize_markdown(failed, "rougeL", Path("/r"))[-1] == (
        "failed: ActorUnavailableError: the board died (log: `/r/errors/optimize.log`)")
    assert optimize_markdown({"status": "skipped", "reason": "optimize.enabled is false"}, "rougeL",
                             Path("/r"))[-1] == "skipped: optimize.enabled is false"


def test_fp32_is_measured_again_where_auto_stopped_it_short() -> None:
    from models.optimize.benchmark import Point
    from models.optimize.stage import _fp32_missing_at

    sweeps = {"fp32": [Point(1, "ok", [0.1] * 3), Point(2, "ok", [0.3] * 3)],
              "onnxruntime": [Point(8, "ok", [0.1] * 3)]}
    assert _fp32_missing_at({"variant": "onnxruntime", "batch_size": 8}, sweeps)
    assert not _fp32_missing_at({"variant": "onnxruntime", "batch_size": 2}, sweeps)
    assert not _fp32_missing_at({"variant": "fp32", "batch_size": 1}, sweeps)
    assert not _fp32_missing_at({"variant": None, "batch_size": None}, sweeps)
