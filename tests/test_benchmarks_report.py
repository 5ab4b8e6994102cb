"""RESULTS.md rendered from a small hand-built results dict: no Ray, no training, milliseconds.

What a reader relies on: a failed benchmark says why, ratios are of medians from the same
invocation, spreads read `median [min-max]`, a skipped data set says why, and the file says how
to regenerate it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from benchmarks.common import describe, fmt_spread, median_ratio
from benchmarks.report import concurrency_figures, figures, render_markdown, stage_overhead_rows
from benchmarks.run_all import ORDER, run_isolated


def run_record(train_stage: float, end_to_end: float, inside: dict[str, float]) -> dict[str, Any]:
    return {
        "end_to_end_s": end_to_end, "summary_wall_s": end_to_end - 1, "stages": {"train": train_stage},
        "candidates": {n: {"status": "succeeded", "supervised_s": s + 5.0, "inside_s": s, "resumed": False}
                       for n, s in inside.items()},
    }


def ensemble_scores(values: dict[str, float]) -> dict[str, Any]:
    return {method: {"validation": {"rougeL": v}, "test": {"rougeL": v}} for method, v in values.items()}


def sample_results() -> dict[str, Any]:
    concurrency = {
        "config": "/repo/configs/full.yaml", "overrides": ["defaults.epochs=1"], "candidates": ["a", "b", "c"],
        "cpus": 2, "usable_cpus": 2, "repeats": 3, "sequential_threads": 1,
        "sequential_s": [100.0, 90.0, 110.0], "orchestrated_s": [60.0, 50.0, 70.0],
        "training_stage_s": [45.0, 40.0, 50.0],
        "orchestrated_runs": [run_record(45.0, 60.0, {"a": 30.0, "b": 38.0}),
                              run_record(40.0, 50.0, {"a": 28.0, "b": 35.0}),
                              run_record(50.0, 70.0, {"a": 33.0, "b": 40.0})],
    }
    failure = {
        "repeats": 2, "steps": 150, "stall_limit_s": 10.0, "cpus": 2,
        "scenarios": {
            "reference": [{"survivor_train_s": 6.0, "neighbour": "succeeded"},
                          {"survivor_train_s": 8.0, "neighbour": "succeeded"}],
            "crash": [{"survivor_train_s": 5.0, "neighbour": "failed", "detection_s": 0.3},
                      {"survivor_train_s": 6.0, "neighbour": "failed", "detection_s": 0.5}],
            "hang": [{"survivor_train_s": 7.0, "neighbour": "timed_out", "detection_s": 10.2, "past_limit_s": 0.2},
                     {"survivor_train_s": 7.0, "neighbour": "timed_out", "detection_s": 10.4, "past_limit_s": 0.4}],
        },
    }
    def seed_run(seed: int, stacked: float, low: float) -> dict[str, Any]:
        return {
            "seed": seed, "status": "ok", "metric": "rougeL", "run_dir": f"/tmp/run{seed}",
            "baselines": {"lead": {"test": {"rougeL": 5.0}}}, "run": run_record(200.0, 330.0, {"a": 150.0, "b": 180.0}),
            "ensemble": {"status": "ok", "strategy": "auto", "chosen": "stacking:linear", "members": ["a", "b"],
                         "best_member": "b",
                         "scores": ensemble_scores({"a": 40.0, "b": 43.5, "best_single": 43.5, "mbr": 44.0,
                                                    "oracle": 59.0, "stacking:linear": stacked}),
                         "versus_best_single": {"stacking:linear": {"rougeL": {
                             "difference": stacked - 43.5, "low": low, "high": stacked - 43.5 + 1,
                             "verdict": "better" if low > 0 else "not distinguishable"}}},
                         "verdict": "stacking:linear (chosen on validation) is better than the best single model"},
        }

    runs = [seed_run(0, 44.25, -0.5), seed_run(1, 45.0, 0.3), seed_run(2, 46.6, 1.2)]
    builtin = {**{k: v for k, v in runs[0].items() if k != "seed"}, "seeds": runs}
    return {
        "command": "python benchmarks/run_all.py --quick", "profile": "quick", "wall_s": 700.0,
        "machine": {"cpu_model": "Test CPU", "logical_cpus": 2, "usable_cpus": 2, "ram_gib": 23.5, "os": "Debian",
                    "kernel": "6.1", "python": "3.11.7", "versions": {"torch": "2.13.0", "ray": "2.60.0"},
                    "git": {"commit": "abcdef1234567890", "dirty": True, "dirty_paths": 3},
                    "date": "2026-01-01T00:00:00+00:00", "load_1min_start": 0.1, "load_1min_end": 0.4},
        "benchmarks": {
            "overhead": {"status": "failed", "wall_s": 12.0, "reason": "RuntimeError: Ray did not start"},
            "concurrency": {"status": "ok", "wall_s": 600.0, "result": concurrency},
            "failure_isolation": {"status": "ok", "wall_s": 100.0, "result": failure},
            "ensemble": {"status": "ok", "wall_s": 400.0, "result": {"datasets": {
                "builtin": builtin,
                "dialogsum": {"status": "skipped", "reason": "dialogsum.test.jsonl not found in /shared/data/dialogsum"},
            }}},
        },
    }


def test_spread_and_ratio_helpers() -> None:
    assert fmt_spread([3.0, 1.0, 2.0]) == "2.00 [1.00-3.00]"
    assert fmt_spread([2.5], 1) == "2.5"
    assert fmt_spread([]) == "-"
    assert describe([4.0, 1.0, 10.0]) == {"median": 4.0, "min": 1.0, "max": 10.0, "n": 3}
    assert median_ratio([100.0, 90.0, 110.0], [60.0, 50.0, 70.0]) == pytest.approx(100 / 60)
    assert median_ratio([], [1.0]) is None


def test_the_file_says_how_to_regenerate_it_and_what_it_ran_on() -> None:
    text = render_markdown(sample_results())
    head = text.split("## Machine")[0]
    assert "python benchmarks/run_all.py" in head and "--quick" in head
    assert "Quick profile" in head
    assert "Test CPU: 2 logical, 2 usable" in text and "abcdef123456, dirty: 3 changed path(s)" in text
    assert "0.10 at start, 0.40 at end" in text


def test_a_failed_benchmark_shows_its_reason_in_the_overview_and_its_section() -> None:
    text = render_markdown(sample_results())
    assert "**1 benchmark(s) failed: overhead**" in text
    overview = text.split("## Overview")[1].split("\n## ")[0]
    assert "| overhead | **failed** | 12 s | RuntimeError: Ray did not start |" in overview
    section = text.split("## 2. Orchestration overhead")[1].split("\n## ")[0]
    assert "**Failed** after 12 s: RuntimeError: Ray did not start" in section
    # the per-stage part still comes from the concurrency runs of the same invocation
    assert "concurrency: orchestrated runs" in section


def test_concurrency_ratios_are_ratios_of_medians_against_the_ideal() -> None:
    results = sample_results()
    fig = concurrency_figures(results["benchmarks"]["concurrency"]["result"])
    assert fig["speedup_end_to_end"] == pytest.approx(100 / 60)
    assert fig["speedup_training_stage"] == pytest.approx(100 / 45)
    assert fig["ideal_speedup"] == 2  # min(3 candidates, 2 cores)
    assert fig["efficiency_end_to_end"] == pytest.approx(100 / 60 / 2)
    section = render_markdown(results).split("## 1. ")[1].split("\n## ")[0]
    assert "| orchestrated, end to end (Ray start to summary) | 60.0 [50.0-70.0] | 3 | 1.67x | 83 % |" in section
    assert "| orchestrated, training stage only | 45.0 [40.0-50.0] | 3 | 2.22x | 111 % |" in section
    assert "min(3 candidates, 2 usable cores) | - | - | 2.00x" in section


def test_stage_overhead_is_the_stage_minus_the_longest_candidate() -> None:
    rows = stage_overhead_rows(sample_results()["benchmarks"])
    train = rows[0]
    assert train["stage_s"] == [45.0, 40.0, 50.0] and train["inside_s"] == [38.0, 35.0, 40.0]
    assert train["overhead_s"] == pytest.approx([7.0, 5.0, 10.0])
    assert train["share"] == pytest.approx(7.0 / 45.0)
    assert train["per_candidate_s"] == [5.0] * 6
    outside = rows[1]
    assert outside["overhead_s"] == pytest.approx([15.0, 10.0, 20.0])  # end to end minus the stages
    assert [r["run"] for r in rows][2] == "ensemble: builtin run"


def test_failure_isolation_compares_each_survivor_with_the_reference() -> None:
    results = sample_results()
    fig = figures("failure_isolation", results["benchmarks"]["failure_isolation"]["result"])
    assert fig["crash"]["survivor_vs_reference"] == pytest.approx(5.5 / 7.0)
    section = render_markdown(results).split("## 3. ")[1].split("\n## ")[0]
    assert "| crash | failed | 5.50 [5.00-6.00] | 0.786x | 0.40 [0.30-0.50] | 2 |" in section
    assert "0.30 [0.20-0.40] s after its 10 s stall limit" in section


def test_ensemble_gain_is_against_the_best_single_model_and_a_skipped_data_set_says_why() -> None:
    results = sample_results()
    section = render_markdown(results).split("## 4. ")[1].split("\n## ")[0]
    assert "| 0 | stacking:linear | 44.25 | 43.50 (b) | +0.75 (-0.50 to +1.75) | not distinguishable | 59.00 | 5 % |" in section
    assert "| 2 | stacking:linear | 46.60 | 43.50 (b) | +3.10 (+1.20 to +4.10) | better | 59.00 | 20 % |" in section
    assert "Target met in 2 of 3 seeds; median gain +1.50, median gap closed 10 %." in section
    assert "| stacking:linear | 44.25 | 45.00 | 46.60 |" in section and "| trivial baseline | 5.00 | 5.00 | 5.00 |" in section
    assert "Skipped: dialogsum.test.jsonl not found in /shared/data/dialogsum" in section
    fig = figures("ensemble", results["benchmarks"]["ensemble"]["result"])["builtin"]
    assert fig["gain"] == pytest.approx(1.5) and (fig["met"], fig["of"]) == (2, 3)


def test_benchmarks_not_selected_say_so() -> None:
    text = render_markdown(sample_results())
    assert "## 7. Simulated cluster\n\nNot run in this invocation (`--only simulated_cluster` runs it)." in text
    assert "## 5. INT8 size, speed and quality\n\nNot run" in text


def test_quantization_throughput_is_compared_at_the_same_batch_size() -> None:
    def point(bs: int, latencies: list[float]) -> dict[str, Any]:
        median = sorted(latencies)[len(latencies) // 2]
        return {"batch_size": bs, "status": "ok", "latencies_s": latencies, "samples_per_s": bs / median}

    def variant(size: int, latencies: dict[int, list[float]], **extra: Any) -> dict[str, Any]:
        return {"status": "ok", "size_bytes": size, "metric": 40.0, "metric_change": 0.0, "accepted": True,
                "sweep_s": 3.0, "points": [point(bs, lat) for bs, lat in latencies.items()], **extra}

    results = copy.deepcopy(sample_results())
    results["benchmarks"]["quantization"] = {"status": "ok", "wall_s": 60.0, "result": {
        "run_dir": "/tmp/run", "trained_here": False, "run_label": "the built-in ensemble run",
        "backends": ["onnxruntime"], "batch_sizes": [1, 8],
        "warmup": 1, "repeats": 3, "metric": "rougeL", "stage_wall_s": 50.0,
        "optimize": {"status": "ok", "wall_s": 40.0, "models": {"a": {
            "status": "ok", "wall_s": 30.0, "recommendation": {"variant": "onnxruntime", "batch_size": 8},
            "variants": {"fp32": variant(4 * 2**20, {1: [0.1, 0.1, 0.1], 8: [0.4, 0.5, 0.6]}),
                         "onnxruntime": variant(2**20, {1: [0.05, 0.05, 0.05], 8: [0.2, 0.25, 0.3]},
                                                size_ratio=4.0, layer_ratio=3.9)},
        }}},
    }}
    fig = figures("quantization", results["benchmarks"]["quantization"]["result"])
    results["benchmarks"]["quantization"]["figures"] = fig
    assert fig["a"]["variants"]["onnxruntime"]["vs_fp32"] == {1: pytest.approx(2.0), 8: pytest.approx(2.0)}
    text = render_markdown(results)
    assert "| quantization | ok | 60 s | recommended onnxruntime x1; all sweeps of a model 6-6 s; stage ok in 40 s |" in text
    int8 = text.split("## 5. ")[1].split("\n## ")[0]
    assert "| a | onnxruntime | 1.0 | 4.00x | 3.90x | 40.00 (+0.00) | 20.0 (2.00x) | 32.0 (2.00x) | 40 % | yes |" in int8
    sweep = text.split("## 6. ")[1].split("\n## ")[0]
    assert "| a | 3.0 | 3.0 | 6.0 | 30.0 |" in sweep and "18 minutes for one batch size" in sweep
    # the optimize stage's overhead joins the per-stage table: 40 s stage, 30 s inside the model's actor
    assert "| quantization | optimize (models one at a time) | 40.0 | 30.0 | 10.0 | 25 % | 1 |" in text


def test_a_benchmark_that_raises_is_recorded_with_a_one_line_reason(tmp_path: Path) -> None:
    outcome = run_isolated("no_such_benchmark", {}, limit_s=120, workdir=tmp_path)
    assert outcome["status"] == "failed"
    assert outcome["reason"].startswith("ModuleNotFoundError: No module named 'benchmarks.no_such_benchmark'")
    assert "\n" not in outcome["reason"] and "Traceback" in outcome["traceback"]
    assert "no_such_benchmark" not in ORDER


def test_a_cross_fit_entry_is_labelled_and_says_its_members_are_the_same() -> None:
    results = sample_results()
    datasets = results["benchmarks"]["ensemble"]["result"]["datasets"]
    variant = copy.deepcopy(datasets["builtin"])
    variant["overrides"] = ["ensemble.cross_fit_members=3"]
    datasets["builtin, cross_fit_members 3"] = variant
    section = render_markdown(results).split("## 4. ")[1].split("\n## ")[0]
    assert "**Built-in Korean dialogues (configs/full.yaml), cross_fit_members 3**" in section
    assert "run again with `ensemble.cross_fit_members=3`: training kept" in section
    assert "builtin, cross_fit_members 3: target met in 2/3 seeds" in render_markdown(results)


def test_merged_results_name_the_invocation_that_measured_each_kept_benchmark(tmp_path: Path) -> None:
    import argparse
    import json

    from benchmarks.run_all import earlier_results

    path = tmp_path / "results.json"
    path.write_text(json.dumps({**sample_results(), "started_at": "2026-01-01T00:00:00+00:00"}), encoding="utf-8")
    parser = argparse.ArgumentParser()
    kept = earlier_results(path, "quick", ["ensemble"], parser)
    assert set(kept) == {"overhead", "concurrency", "failure_isolation"}
    assert kept["concurrency"]["invocation"] == {"command": "python benchmarks/run_all.py --quick",
                                                 "started_at": "2026-01-01T00:00:00+00:00", "git": "abcdef1234567890"}
    results = sample_results()
    results["benchmarks"] = {**kept, "ensemble": results["benchmarks"]["ensemble"]}
    text = render_markdown(results)
    assert "> Merged (`--merge`): overhead was measured by an earlier invocation" in text
    assert "| concurrency (earlier, git abcdef123456) | ok |" in text
    with pytest.raises(SystemExit):
        earlier_results(path, "full", ["ensemble"], parser)  # another profile's results are not mixed in


def test_data_parallel_cost_and_break_even_come_from_the_medians() -> None:
    """Ray Train's fixed cost is its one-worker run minus the one-process run, per repeat; the
    break-even training length is that cost over the share of training time the workers save."""
    def record(wall: float, train: float) -> dict[str, Any]:
        return {"wall_s": wall, "train_s": train, "steps": 150, "train_loss": 4.0}

    runs = {"one process, 1 thread": [record(40, 30), record(42, 32)],
            "one process, 2 threads": [record(35, 25), record(35, 25)],
            "Ray Train, 1 worker": [record(60, 31), record(60, 33)],
            "Ray Train, 2 workers": [record(55, 20), record(57, 22)]}
    result = {"repeats": 2, "steps": 150, "workers": 2, "cpus": 2, "runs": runs}
    fig = figures("data_parallel", result)
    assert fig["ray_train_fixed_s"]["median"] == 19.0  # 60 - 40, 60 - 42
    assert fig["training_speedup"] == pytest.approx(31 / 21)
    assert fig["pays_after_s"] == pytest.approx(19.0 / (1 - 21 / 31))
    markdown = render_markdown({"command": "x", "profile": "full", "machine": {}, "wall_s": 1,
                                "benchmarks": {"data_parallel": {"status": "ok", "wall_s": 1, "result": result,
                                                                 "figures": fig}}})
    assert "Ray Train's fixed cost per training: 19.0 s" in markdown and "pays for trainings longer than" in markdown


def test_serving_goals_are_judged_on_medians_and_shown_in_results_and_the_run_report() -> None:
    from benchmarks.report import serve_figures, serve_section
    from orchestrator.report.serving import serving_markdown

    def level(concurrency: int, samples: list[float], p95: float) -> list[dict[str, Any]]:
        return [{"concurrency": concurrency, "samples_per_s": s, "p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95 * 1.2,
                 "errors": 0} for s in samples]

    result = {
        "model": "bart", "levels": [1, 16], "repeats": 3, "cpus": 2, "latency_slo_ms": 500.0,
        "recommendation": {"variant": "torch_dynamic", "batch_size": 8, "samples_per_s": 40.0},
        "runs": {"batched": {"1": level(1, [9, 10, 11], 120.0), "16": level(16, [29, 30, 35], 600.0)},
                 "unbatched": {"1": level(1, [9, 9, 9], 110.0), "16": level(16, [12, 12.5, 13], 2000.0)}},
    }
    fig = serve_figures(result)
    assert fig["levels"]["16"]["of_offline"] == pytest.approx(30 / 40)  # the median repeat, not the best
    assert fig["levels"]["16"]["over_unbatched"] == pytest.approx(30 / 12.5)
    assert {name: goal["met"] for name, goal in fig["goals"].items()} == {
        "of_offline": True, "over_unbatched_at_16": True, "p95_at_1_within_slo": True}
    result["latency_slo_ms"] = 100.0
    assert serve_figures(result)["goals"]["p95_at_1_within_slo"] == {"value": 120.0, "met": False}
    assert "p95 at concurrency 1 within the 100 ms SLO: 120 ms (**not met**)" in "\n".join(serve_section(result))
    report = "\n".join(serving_markdown({"model": "bart", "repeats": 3, "figures": serve_figures(result)}))
    assert "## Serving" in report and "| 16 | 30.00 |" in report
    assert "p95 of a lone request within the latency SLO: **not met**" in report


def test_the_dialogsum_line_names_its_training_data_and_extra_settings() -> None:
    results = sample_results()
    ensemble = results["benchmarks"]["ensemble"]["result"]
    ensemble["datasets"]["dialogsum"] = copy.deepcopy(ensemble["datasets"]["builtin"])
    ensemble["dialogsum_settings"] = {"epochs": 12, "early_stopping": "rougeL", "train_size": 350,
                                      "validation_size": 150, "test_size": 250, "test_tail_training": True,
                                      "overrides": ["defaults.early_stopping.patience=2"]}
    section = render_markdown(results).split("## 4. ")[1].split("\n## ")[0]
    assert ("**DialogSum (../shared/data/dialogsum/)** (epochs 12, early stopping rougeL, train size 350, "
            "validation size 150, test size 250; training also on the test dialogues past the first 250, never "
            "scored; with `defaults.early_stopping.patience=2`)") in section


def test_each_member_s_own_test_score_follows_the_methods() -> None:
    section = render_markdown(sample_results()).split("## 4. ")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert "| member a | 40.00 | 40.00 | 40.00 |" in rows and "| member b | 43.50 | 43.50 | 43.50 |" in rows
    assert rows.index("| member b | 43.50 | 43.50 | 43.50 |") < next(i for i, r in enumerate(rows) if r.startswith("| trivial"))
