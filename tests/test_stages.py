"""A stage after training is one entry of `stages.registry.POST_TRAINING`: a toy stage added there
(and nowhere else) runs after the others, gets its section of summary.json, its part of report.md,
report.html and the end-of-run table, and its files go to the trackers. No Ray: training, which
needs it, is stood in for by its outcomes, and the real later stages skip (ensemble `none`,
optimize disabled)."""

from __future__ import annotations

import io
import signal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from contract.job import DataFiles
from contract.phases import Phase, Status
from orchestrator import pipeline
from orchestrator.cluster import ClusterInfo
from orchestrator.config import validate_raw
from orchestrator.interrupts import StopRequest
from orchestrator.outcome import Outcome
from orchestrator.progress import print_summary
from orchestrator.report.summary import build_summary, exit_code, write_summary
from orchestrator.stages import registry
from orchestrator.stages.context import RunContext
from tests.conftest import read_json, tiny_experiment

CLUSTER = ClusterInfo(address="local", dashboard_url=None, cpus=2, gpus=0, started_here=True)


class Toy:
    """Counts the survivors; writes toy/toy.json. `stages` is the run's wall-time record, to see
    which stages had run when this one began."""

    name = "toy"

    def __init__(self, stages: dict[str, dict[str, float]], fail: bool = False):
        self.stages, self.fail = stages, fail
        self.ran_after: list[str] | None = None

    def run(self, ctx: RunContext, outcomes: list[Outcome]) -> dict[str, Any]:
        self.ran_after = list(self.stages)
        if self.fail:
            raise RuntimeError("the toy broke")
        (ctx.run_dir / "toy").mkdir(parents=True, exist_ok=True)
        (ctx.run_dir / "toy" / "toy.json").write_text("{}", encoding="utf-8")
        return {"status": "ok", "survivors": [o.name for o in outcomes if o.ok]}

    def markdown(self, section: dict[str, Any], summary: dict[str, Any]) -> list[str]:
        return ["", "## Toy", "", f"{len(section['survivors'])} survivor(s) of {len(summary['models'])}"]

    def show(self, section: dict[str, Any], console: Console) -> None:
        console.print(f"toy: {len(section['survivors'])} survivor(s)")

    def outputs(self, run_dir: Path) -> list[Path]:
        return [run_dir / "toy" / "toy.json"]


class FakeTracker:
    failed: list[str] = []

    def finish(self, status: str, metrics: dict[str, Any], notes: dict[str, str], files: list[Path]) -> None:
        self.files = files

    def close(self) -> None:
        pass


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RunContext, list[Outcome]]:
    """A run's context without a cluster, and training that ends with `a` trained and `b` failed."""
    raw = tiny_experiment(tmp_path, [{"name": n, "source": "scratch:bart-tiny", "family": "seq2seq"} for n in "ab"],
                          ensemble={"strategy": "none"})
    config = validate_raw(raw)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True)
    data = DataFiles(train=run_dir / "train.jsonl", validation=run_dir / "validation.jsonl", test=run_dir / "test.jsonl")
    outcomes = [
        Outcome(name="a", status=Status.SUCCEEDED, phase=Phase.DONE, wall_s=1.0,
                metrics={"validation": {"rougeL": 20.0}, "test": {"rougeL": 21.0}}),
        Outcome(name="b", status=Status.FAILED, phase=Phase.TRAINING, error="out of memory", wall_s=1.0),
    ]
    monkeypatch.setattr(pipeline, "run_training", lambda ctx, verdicts: outcomes)
    return RunContext(config, data, (), run_dir), outcomes


def listed_toy(monkeypatch: pytest.MonkeyPatch, *, first: bool = False, fail: bool = False) -> tuple[Toy, dict[str, Any]]:
    """A toy stage added to the list (last, or `first`), and the wall-time record to run the stages with."""
    stages: dict[str, Any] = {}
    toy = Toy(stages, fail)
    monkeypatch.setattr(registry, "POST_TRAINING",
                        (toy, *registry.POST_TRAINING) if first else (*registry.POST_TRAINING, toy))
    return toy, stages


def test_a_stage_added_to_the_list_runs_last_and_lands_in_the_summary_and_the_reports(
        run: tuple[RunContext, list[Outcome]], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, outcomes = run
    toy, stages = listed_toy(monkeypatch)
    ran, sections = pipeline.run_stages(ctx, {}, stages)
    assert ran == outcomes and toy.ran_after == ["train", "ensemble", "optimize"]
    assert list(stages) == ["train", "ensemble", "optimize", "toy"]
    assert sections == {"ensemble": {"status": "skipped", "reason": "ensemble.strategy is none"},
                        "optimize": {"status": "skipped", "reason": "optimize.enabled is false"},
                        "toy": {"status": "ok", "survivors": ["a"]}}

    summary = build_summary(ctx.config, ran, CLUSTER, ctx.run_dir, 0.0, stages, None, sections)
    write_summary(summary, ctx.run_dir)
    written = read_json(ctx.run_dir / "summary.json")
    assert list(written)[-3:] == ["ensemble", "optimize", "toy"] and written["toy"] == sections["toy"]
    assert written["stages"]["toy"]["wall_s"] >= 0
    report = (ctx.run_dir / "report.md").read_text(encoding="utf-8")
    assert report.index("## Quantization and batch size") < report.index("## Toy\n\n1 survivor(s) of 2\n")
    assert '<section id="toy">' in (ctx.run_dir / "report.html").read_text(encoding="utf-8")

    console = Console(file=io.StringIO(), width=160)
    print_summary(summary, console)
    shown = console.file.getvalue()
    assert shown.index("optimize skipped") < shown.index("toy: 1 survivor(s)") < shown.index("run directory")

    tracker = FakeTracker()
    pipeline.finish_tracking(tracker, summary, ctx.run_dir)
    assert tracker.files[-1] == ctx.run_dir / "toy" / "toy.json"


def test_a_stage_that_raises_fails_its_section_only(
        run: tuple[RunContext, list[Outcome]], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, outcomes = run
    _, stages = listed_toy(monkeypatch, first=True, fail=True)
    _, sections = pipeline.run_stages(ctx, {}, stages)
    assert list(sections) == ["toy", "ensemble", "optimize"]  # the list's order, whatever it is
    assert sections["toy"]["status"] == "failed" and sections["toy"]["reason"] == "RuntimeError: the toy broke"
    assert "the toy broke" in Path(sections["toy"]["log"]).read_text(encoding="utf-8")
    assert sections["optimize"]["status"] == "skipped"
    outcomes[1].status = Status.SUCCEEDED  # every candidate trained: the failed stage alone makes it partial
    summary = build_summary(ctx.config, outcomes, CLUSTER, ctx.run_dir, 0.0, stages, None, sections)
    assert summary["status"] == "partial" and exit_code(summary) == 3


def test_after_a_stop_in_training_no_later_stage_runs(
        run: tuple[RunContext, list[Outcome]], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = run
    toy, stages = listed_toy(monkeypatch)
    ctx.stop = StopRequest()
    ctx.stop.request(signal.SIGTERM)
    _, sections = pipeline.run_stages(ctx, {}, stages)
    assert toy.ran_after is None and list(stages) == ["train"]
    not_reached = {"status": "interrupted", "reason": "the run was stopped before this stage"}
    assert sections == {"ensemble": not_reached, "optimize": not_reached, "toy": not_reached}
