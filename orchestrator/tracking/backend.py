"""What a tracker's backend is given and what it implements: where the run's trackers write
(`TrackingTarget`), one tracked run, how it ended, and the `Backend` protocol. The backends
(`tensorboard`, `mlflow`, `wandb`) import this module only, never the package's `Tracker`, which
opens them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from contract.atomic import read_json, write_json
from orchestrator.config.tracking import TrackingConfig

EXPERIMENT_KEY = "experiment"  # the tracked run that stands for the whole run (MLflow's parent run)
RUN_FILE = "run.json"


@dataclass(frozen=True)
class TrackingTarget:
    """Where a run's trackers write; picklable, so a tune trial's actor opens the same ones."""

    config: TrackingConfig
    run_dir: Path
    experiment: str
    run_id: str  # this run directory's, kept in tracking/run.json until `run --fresh`

    @property
    def directory(self) -> Path:
        return self.run_dir / "tracking"

    @classmethod
    def for_run(cls, config: TrackingConfig, run_dir: Path, experiment: str) -> TrackingTarget | None:
        """None when tracking is off; else the target, with the run directory's id made once."""
        if not config.enabled:
            return None
        path = run_dir / "tracking" / RUN_FILE
        earlier = read_json(path)
        run_id = earlier.get("id") if isinstance(earlier, dict) else None
        if not isinstance(run_id, str):
            run_id = uuid.uuid4().hex[:12]
            write_json(path, {"id": run_id, "experiment": experiment, "created": time.time()})
        return cls(config, run_dir.resolve(), experiment, run_id)


@dataclass(frozen=True)
class TrackedRun:
    """One tracked run: a candidate's training, or one tune trial."""

    key: str  # unique within the run directory: label@fingerprint
    name: str  # what the tracker shows: the candidate, or <candidate>/<trial>
    stage: str  # train | tune


@dataclass(frozen=True)
class RunEnding:
    """How a tracked run ended, as the supervisor recorded it."""

    status: str  # succeeded | failed | timed_out | skipped | interrupted
    metrics: dict[str, float] = field(default_factory=dict)  # final: validation/rougeL, test/..., eval/loss
    step: int = 0  # the last training step, where final metrics are drawn
    reason: str | None = None
    phase: str | None = None
    kind: str | None = None  # the failure's classification
    notes: dict[str, str] = field(default_factory=dict)  # stopped early, resumed from, wall time

    @property
    def ok(self) -> bool:
        """Ended as it should: trained, stopped early by a sweep's scheduler, or a run with results."""
        return self.status in ("succeeded", "stopped_early", "ok", "partial")


class Backend(Protocol):
    """One tracker. Every method runs on the backend's own lane, one call at a time."""

    name: str

    def begin(self) -> None:
        """Connect, and open the experiment (and its run-wide tracked run)."""

    def start(self, run: TrackedRun, params: dict[str, str]) -> None:
        """Open `run`, or continue it when it exists already (a retry, a resumed run)."""

    def log(self, run: TrackedRun, step: int, values: dict[str, float]) -> None: ...

    def note(self, run: TrackedRun, key: str, value: str) -> None: ...

    def end(self, run: TrackedRun, ending: RunEnding) -> None: ...

    def finish(self, ending: RunEnding, files: list[Path]) -> None:
        """The whole run's results and files, on the experiment's tracked run."""

    def close(self) -> None: ...

    def where(self) -> str:
        """Where to look: the command that opens what this tracker wrote."""
