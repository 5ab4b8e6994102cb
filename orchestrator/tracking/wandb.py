"""Weights & Biases: one W&B run per candidate (and per tune trial), grouped under the
experiment's name, plus one `experiment` run that carries the run's results as an artifact.

`mode: auto` logs online when an API key is set (WANDB_API_KEY, or a `wandb login` in ~/.netrc)
and otherwise offline, into `<run dir>/tracking/wandb/`, for a later `wandb sync`. Run ids are
derived from the run directory's id and the tracked run's key, and opened with
`resume="allow"`: a retry or a resumed run continues the same W&B run. Steps are the Trainer's,
recorded as the `step` metric every chart is drawn against (W&B's own step must only grow,
which a resumed training, going back to its checkpoint, would break).
"""

from __future__ import annotations

import hashlib
import logging
import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from orchestrator.config.tracking import WandbConfig
from orchestrator.tracking.backend import EXPERIMENT_KEY, RunEnding, TrackedRun, TrackingTarget

log = logging.getLogger(__name__)
STEP = "step"


def has_api_key() -> bool:
    """A key in the environment, or a `wandb login` for the configured host in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def run_id(target: TrackingTarget, key: str) -> str:
    return hashlib.sha1(f"{target.run_id}/{key}".encode()).hexdigest()[:16]


class WandbBackend:
    name = "wandb"

    def __init__(self, target: TrackingTarget, settings: WandbConfig):
        self.target = target
        self.settings = settings
        self.mode = settings.mode
        self.runs: dict[str, Any] = {}

    @property
    def directory(self) -> Path:
        return self.target.directory  # W&B writes into its `wandb/` folder

    def begin(self) -> None:
        import wandb  # noqa: F401 - fails here, once, when it is missing

        if self.mode == "auto":
            self.mode = "online" if has_api_key() else "offline"
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.mode == "offline":
            log.info("W&B logs offline into %s; upload later with: wandb sync %s", self.directory / "wandb",
                     self.directory / "wandb" / "offline-run-*")

    def _init(self, key: str, name: str, job_type: str, config: dict[str, str] | None = None) -> Any:
        import wandb

        run = wandb.init(
            project=self.settings.project, entity=self.settings.entity, group=self.target.experiment, name=name,
            job_type=job_type, id=run_id(self.target, key), resume="allow", reinit="create_new", mode=self.mode,
            dir=str(self.directory), config=config, tags=[self.target.run_id],
            settings=wandb.Settings(silent=True, console="off", save_code=False, disable_git=True,
                                    x_disable_stats=True, x_disable_meta=True),
        )
        run.define_metric(STEP)
        run.define_metric("*", step_metric=STEP)
        return run

    def start(self, run: TrackedRun, params: dict[str, str]) -> None:
        self.runs[run.key] = self._init(run.key, run.name, run.stage, params)

    def _run(self, run: TrackedRun) -> Any:
        if run.key not in self.runs:
            self.runs[run.key] = self._init(run.key, run.name, run.stage)
        return self.runs[run.key]

    def log(self, run: TrackedRun, step: int, values: dict[str, float]) -> None:
        self._run(run).log({**values, STEP: step})

    def note(self, run: TrackedRun, key: str, value: str) -> None:
        self._run(run).summary[key] = value

    def end(self, run: TrackedRun, ending: RunEnding) -> None:
        handle = self._run(run)
        self._conclude(handle, ending)
        handle.finish(exit_code=0 if ending.ok else 1)
        self.runs.pop(run.key, None)

    @staticmethod
    def _conclude(handle: Any, ending: RunEnding) -> None:
        handle.summary.update({**ending.metrics, "status": ending.status, **ending.notes})
        if not ending.ok:
            handle.summary.update({"failure/phase": ending.phase, "failure/reason": ending.reason,
                                   "failure/kind": ending.kind})

    def finish(self, ending: RunEnding, files: list[Path]) -> None:
        import wandb

        handle = self._init(EXPERIMENT_KEY, self.target.experiment, "experiment")
        self._conclude(handle, ending)
        if files:
            artifact = wandb.Artifact(f"{self.target.experiment}-results", type="results")
            for path in files:
                artifact.add_file(str(path))
            handle.log_artifact(artifact)
        handle.finish(exit_code=0 if ending.status in ("ok", "partial") else 1)

    def where(self) -> str:
        if self.mode == "offline":
            return f"offline in {self.directory / 'wandb'}; upload: wandb sync {self.directory / 'wandb'}/offline-run-*"
        return f"project {self.settings.project}, group {self.target.experiment}"

    def close(self) -> None:
        for handle in self.runs.values():
            handle.finish(exit_code=1)  # left open: the run ended before their outcome was known
        self.runs.clear()
