"""The stages after training, in the order a run does them: the one list that `pipeline.run_stages`,
summary.json, report.md (and so report.html) and the end-of-run table read.

Training is not in it: it stays the first, special stage, since it decides from preflight and
earlier runs who trains, and yields the outcomes every later stage starts from rather than a
section of summary.json. The live table needs no list either: it shows whatever stages
status.json holds, in the order they ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from orchestrator.outcome import Outcome
from orchestrator.report.ensemble import ensemble_markdown, print_ensemble
from orchestrator.report.optimize import optimize_markdown, print_optimize
from orchestrator.stages.context import RunContext
from orchestrator.stages.ensemble import run_ensemble
from orchestrator.stages.optimize import run_optimize


class Stage(Protocol):
    """A stage after training. `name` is its section of summary.json, its wall time under
    `stages`, its errors/<name>.log when it raises, and its folder in the run directory (which
    `run --fresh` removes)."""

    @property
    def name(self) -> str: ...

    def run(self, ctx: RunContext, outcomes: list[Outcome]) -> dict[str, Any]:
        """Its section of summary.json (with a `status`: ok, skipped, failed), from the training
        outcomes; `pipeline.isolated_stage` turns what it raises into a failed section."""
        ...

    def markdown(self, section: dict[str, Any], summary: dict[str, Any]) -> list[str]:
        """Its lines of report.md (a `## ` heading first), or none."""
        ...

    def show(self, section: dict[str, Any], console: Console) -> None:
        """What it prints under the end-of-run table."""
        ...

    def outputs(self, run_dir: Path) -> list[Path]:
        """Its files for the experiment's trackers to keep; one it did not write is left out."""
        ...


class Ensemble:
    """Combine the survivors and say whether that beats the best one (`stages/ensemble.py`)."""

    name = "ensemble"

    def run(self, ctx: RunContext, outcomes: list[Outcome]) -> dict[str, Any]:
        return run_ensemble(ctx, outcomes)

    def markdown(self, section: dict[str, Any], summary: dict[str, Any]) -> list[str]:
        return ensemble_markdown(section, summary["metric"])

    def show(self, section: dict[str, Any], console: Console) -> None:
        print_ensemble(section, console)

    def outputs(self, run_dir: Path) -> list[Path]:
        return [run_dir / "ensemble" / "ensemble.json"]


class Optimize:
    """INT8 variants of the survivors and batch-size benchmarks (`stages/optimize.py`)."""

    name = "optimize"

    def run(self, ctx: RunContext, outcomes: list[Outcome]) -> dict[str, Any]:
        return run_optimize(ctx, [o.name for o in outcomes if o.ok])

    def markdown(self, section: dict[str, Any], summary: dict[str, Any]) -> list[str]:
        return optimize_markdown(section, summary["metric"], Path(summary["run_dir"]))

    def show(self, section: dict[str, Any], console: Console) -> None:
        print_optimize(section, console)

    def outputs(self, run_dir: Path) -> list[Path]:
        return sorted((run_dir / "optimize").glob("*/optimize.json"))


POST_TRAINING: tuple[Stage, ...] = (Ensemble(), Optimize())
