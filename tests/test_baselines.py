"""The task's trivial baseline (lead, majority class) and the flag on a candidate that does not beat it."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from contract.job import DataFiles
from contract.rows import write_jsonl
from models.metrics.baselines import majority_scores
from orchestrator.cluster import ClusterInfo
from orchestrator.config import ExperimentConfig, validate_raw
from orchestrator.data import baselines_section, below_baseline, majority_label, trivial_baseline
from orchestrator.live import status_table
from orchestrator.outcome import Outcome
from orchestrator.progress import EventPrinter, print_summary
from orchestrator.report.html import render_html
from orchestrator.report.summary import build_summary, render_markdown
from orchestrator.status import StatusFile, write_baselines
from tests.conftest import read_json, tiny_experiment

TRAIN = ["neg", "pos", "neg", "neu", "neg", "pos"]  # neg is the majority
VALIDATION = ["neg", "neg", "pos", "neu"]
TEST = ["pos", "pos", "neg", "neg", "neu"]


def in_process(target: str, *args: Any) -> Any:
    """The inspection child's `call`, without the child."""
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)(*args)


def split(path: Path, labels: list[str]) -> Path:
    return write_jsonl(path, [{"id": str(i), "text": f"row {i}", "label": label} for i, label in enumerate(labels)])


@pytest.fixture
def classification(tmp_path: Path) -> tuple[ExperimentConfig, DataFiles]:
    raw = tiny_experiment(tmp_path, [{"name": "bert", "source": "scratch:bert-tiny", "family": "classifier"},
                                     {"name": "roberta", "source": "scratch:bert-tiny", "family": "classifier"},
                                     {"name": "electra", "source": "scratch:bert-tiny", "family": "classifier"}])
    raw["task"] = {"type": "classification", "language": "en"}
    out = tmp_path / "data"
    data = DataFiles(split(out / "train.jsonl", TRAIN), split(out / "validation.jsonl", VALIDATION),
                     split(out / "test.jsonl", TEST))
    return validate_raw(raw), data


def test_majority_baseline_answers_the_most_frequent_training_label(classification: tuple[ExperimentConfig, DataFiles]) -> None:
    _, data = classification
    assert majority_label(data, "label") == "neg"
    scores = majority_scores({"validation": str(data.validation), "test": str(data.test)}, "label", "neg")
    assert scores["validation"] == {"accuracy": 50.0, "macro_f1": pytest.approx(22.222, abs=1e-3)}  # F1 2/3 on neg only
    assert scores["test"]["accuracy"] == 40.0


def test_a_tie_goes_to_the_first_label_in_sorted_order(tmp_path: Path) -> None:
    data = DataFiles(split(tmp_path / "train.jsonl", ["b", "a", "b", "a"]), None, None)
    assert majority_label(data, "label") == "a"


def test_trivial_baseline_is_named_for_its_task(classification: tuple[ExperimentConfig, DataFiles]) -> None:
    config, data = classification
    baseline = trivial_baseline(config, data, in_process)
    assert baseline is not None and (baseline.name, baseline.description) == ("majority", "always 'neg'")
    assert baselines_section(baseline) == {"majority": {"description": "always 'neg'", **baseline.scores}}
    assert set(baseline.scores) == {"validation", "test"}


def test_a_baseline_that_cannot_be_scored_is_a_warning(classification: tuple[ExperimentConfig, DataFiles],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("the child died")

    config, data = classification
    with caplog.at_level(logging.WARNING):
        assert trivial_baseline(config, data, broken) is None
    assert "the majority baseline could not be scored: RuntimeError: the child died" in caplog.text
    assert trivial_baseline(config, DataFiles(data.train, None, None), in_process) is None
    assert baselines_section(None) == {}


def test_not_beating_the_baseline_is_flagged_with_the_undertrained_hint() -> None:
    baselines = {"majority": {"description": "always 'neg'", "validation": {"accuracy": 50.0}}}
    assert below_baseline({"accuracy": 50.01}, baselines, "accuracy") is None
    assert below_baseline({}, baselines, "accuracy") is None
    assert below_baseline({"accuracy": 10.0}, {}, "accuracy") is None
    assert below_baseline({"macro_f1": 10.0}, baselines, "macro_f1") is None  # the baseline has no such score
    flag = below_baseline({"accuracy": 50.0}, baselines, "accuracy", steps=12, learning_rate=5e-4)
    assert flag is not None
    assert {k: v for k, v in flag.items() if k != "hint"} == {
        "baseline": "majority", "metric": "accuracy", "validation": 50.0, "baseline_validation": 50.0}
    assert flag["hint"].startswith("validation accuracy 50.00 does not beat the majority baseline's 50.00 "
                                   "(always 'neg'): likely undertrained (12 steps, learning rate 0.0005); ")
    assert "max_steps, epochs" in flag["hint"] and "learning_rate" in flag["hint"]


def summary_of(config: ExperimentConfig, data: DataFiles, run_dir: Path) -> dict[str, Any]:
    """bert ties the majority baseline's validation accuracy (50), roberta is below it, electra above."""
    def outcome(name: str, validation: float) -> Outcome:
        return Outcome(name=name, status="succeeded", phase="done", wall_s=3.0, details={"steps": 12},
                       metrics={"validation": {"accuracy": validation}, "test": {"accuracy": 40.0}})

    outcomes = [outcome("bert", 50.0), outcome("roberta", 25.0), outcome("electra", 75.0)]
    cluster = ClusterInfo(address="local", dashboard_url=None, cpus=2, gpus=0, started_here=True)
    return build_summary(config, outcomes, cluster, run_dir, 0.0, {}, trivial_baseline(config, data, in_process))


def test_summary_flags_every_candidate_that_does_not_beat_the_baseline(
        classification: tuple[ExperimentConfig, DataFiles], tmp_path: Path) -> None:
    config, data = classification
    summary = summary_of(config, data, tmp_path)
    assert summary["baselines"]["majority"]["validation"]["accuracy"] == 50.0
    models = summary["models"]
    assert "below_baseline" not in models["electra"]
    assert models["bert"]["below_baseline"]["validation"] == 50.0
    assert models["roberta"]["below_baseline"]["baseline_validation"] == 50.0
    assert "(12 steps, learning rate 0.002)" in models["roberta"]["below_baseline"]["hint"]
    assert {n: m["status"] for n, m in models.items()} == dict.fromkeys(models, "succeeded")


def test_report_and_terminal_show_the_baseline_and_the_flag(
        classification: tuple[ExperimentConfig, DataFiles], tmp_path: Path) -> None:
    config, data = classification
    summary = summary_of(config, data, tmp_path)
    markdown = render_markdown(summary)
    assert "| *majority baseline (always 'neg')* | - | - | 50.00 | 40.00 |" in markdown
    assert "| roberta | classifier | succeeded, below baseline | 25.00 |" in markdown
    assert "| electra | classifier | succeeded | 75.00 |" in markdown
    assert "- **roberta**: validation accuracy 25.00 does not beat the majority baseline's 50.00" in markdown
    html = render_html(markdown, tmp_path)  # not coloured as a plain success
    assert "<td>succeeded, below baseline</td>" in html and '<td class="status-succeeded">succeeded</td>' in html

    console = Console(record=True, width=400, force_terminal=False)
    print_summary(summary, console)
    rows = {line.split("│")[1].strip(): line for line in console.export_text().splitlines() if line.count("│") > 5}
    assert "majority baseline" in rows and "always 'neg'" in rows["majority baseline"]
    assert "succeeded, below baseline" in rows["bert"] and "likely undertrained" in rows["bert"]
    assert "below baseline" not in rows["electra"]


def test_lead_baseline_row_keeps_its_name(tmp_path: Path) -> None:
    summary = {"experiment": "x", "status": "ok", "metric": "rougeL", "run_dir": str(tmp_path), "wall_s": 1.0,
               "cluster": {"cpus": 2, "gpus": 0}, "models": {}, "leaderboard": [],
               "baselines": {"lead": {"description": "first turn", "validation": {"rougeL": 5.5},
                                      "test": {"rougeL": 6.0}}}}
    assert "| *lead baseline (first turn)* | - | - | 5.50 | 6.00 |" in render_markdown(summary)


def test_live_table_flags_a_finished_candidate_from_status_json(tmp_path: Path) -> None:
    baselines = {"majority": {"description": "always 'neg'", "validation": {"accuracy": 50.0}}}
    write_baselines(tmp_path, "accuracy", baselines)
    finished = {name: {"status": "succeeded", "phase": "done", "wall_s": 3.0, "details": {"steps": 12},
                       "metrics": {"validation": {"accuracy": score}}}
                for name, score in (("bert", 50.0), ("electra", 75.0))}
    StatusFile(tmp_path, "train").write({"running": {}, "queued": [], "live": {}, "finished": finished})
    status = read_json(tmp_path / "status.json")
    assert status["baselines"] == baselines and status["metric"] == "accuracy"

    console = Console(record=True, width=400, force_terminal=False)
    console.print(status_table(status, now=status["updated"]))
    rows = {line.split("│")[1].strip(): line for line in console.export_text().splitlines() if line.count("│") > 5}
    assert "succeeded, below baseline" in rows["bert"] and "likely undertrained (12 steps)" in rows["bert"]
    assert "below baseline" not in rows["electra"]


def test_a_run_without_a_baseline_replaces_an_earlier_one(tmp_path: Path) -> None:
    write_baselines(tmp_path, "accuracy", {"majority": {"validation": {"accuracy": 50.0}}})
    StatusFile(tmp_path, "train").write({"finished": {}})
    write_baselines(tmp_path, "accuracy", {})
    status = read_json(tmp_path / "status.json")
    assert status["baselines"] == {} and "train" in status["stages"]


def test_the_line_per_event_output_flags_a_trained_candidate_below_the_baseline() -> None:
    console = Console(record=True, width=400, force_terminal=False)
    printer = EventPrinter(console)
    printer.baselines = {"majority": {"description": "always 'neg'", "validation": {"accuracy": 50.0}}}
    printer.metric = "accuracy"
    for label, score in (("train/bert", 50.0), ("train/electra", 75.0), ("ensemble-propose/bert", 10.0)):
        printer(label, "succeeded", {"wall_s": 3.0, "details": {"steps": 12},
                                     "metrics": {"validation": {"accuracy": score}}})
    lines = {line.split()[1]: line for line in console.export_text().splitlines()}
    assert "succeeded, below baseline in 3 s: validation accuracy 50.00 does not beat" in lines["train/bert"]
    assert "likely undertrained (12 steps)" in lines["train/bert"]
    assert "below baseline" not in lines["train/electra"] + lines["ensemble-propose/bert"]
