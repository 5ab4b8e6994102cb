"""MLflow: one MLflow experiment per experiment, one parent run per run directory, and under it
one child run per candidate (and per tune trial). By default the store is local, in the run
directory (`sqlite:///<run dir>/tracking/mlflow.db`, artefacts beside it); `tracking_uri` names
any other (a team's server).

    mlflow ui --backend-store-uri sqlite:///runs/<experiment>/tracking/mlflow.db

Runs are found again by their tags (`orchestrator.run`: the run directory's id;
`orchestrator.key`: the item's label and training fingerprint), so a retry, a resumed run or a
trial in another process continues the same MLflow run instead of starting a duplicate.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from orchestrator.config.tracking import MlflowConfig
from orchestrator.tracking.backend import EXPERIMENT_KEY, RunEnding, TrackedRun, TrackingTarget

STATUSES = {"succeeded": "FINISHED", "stopped_early": "FINISHED", "ok": "FINISHED", "partial": "FINISHED",
            "interrupted": "KILLED"}  # any other ending: FAILED
RUN_TAG, KEY_TAG, PARENT_TAG = "orchestrator.run", "orchestrator.key", "mlflow.parentRunId"
# An unreachable server answers within seconds, not after MLflow's default minutes of retries
# (the user's own environment settings win).
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


class MlflowBackend:
    name = "mlflow"

    def __init__(self, target: TrackingTarget, settings: MlflowConfig):
        self.target = target
        self.settings = settings
        self.client: Any = None
        self.experiment_id = ""
        self.parent_id = ""
        self.runs: dict[str, str] = {}

    @property
    def local(self) -> bool:
        return self.settings.tracking_uri is None

    @property
    def tracking_uri(self) -> str:
        return self.settings.tracking_uri or f"sqlite:///{self.target.directory / 'mlflow.db'}"

    def begin(self) -> None:
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        if self.local:
            self.target.directory.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        name = self.settings.experiment or self.target.experiment
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            artifacts = (self.target.directory / "mlflow-artifacts").as_uri() if self.local else None
            try:
                self.experiment_id = self.client.create_experiment(name, artifact_location=artifacts)
            except MlflowException:  # another process (a tune trial) created it first
                self.experiment_id = self.client.get_experiment_by_name(name).experiment_id
        else:
            self.experiment_id = experiment.experiment_id
        self.parent_id = self._find_or_create(EXPERIMENT_KEY, self.target.experiment, {}, parent=None)

    def _find(self, key: str) -> str | None:
        found = self.client.search_runs(
            [self.experiment_id], max_results=1,
            filter_string=f"tags.`{RUN_TAG}` = '{self.target.run_id}' and tags.`{KEY_TAG}` = '{key}'",
        )
        return found[0].info.run_id if found else None

    def _find_or_create(self, key: str, name: str, params: dict[str, str], parent: str | None) -> str:
        """The run tagged with `key` in this run directory, set running again, or a new one."""
        from mlflow.entities import Param

        run_id = self._find(key)
        if run_id is not None:
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        tags = {RUN_TAG: self.target.run_id, KEY_TAG: key, **({PARENT_TAG: parent} if parent else {})}
        run_id = self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id
        if params:
            self.client.log_batch(run_id, params=[Param(k, v[:6000]) for k, v in params.items()])
        return run_id

    def start(self, run: TrackedRun, params: dict[str, str]) -> None:
        self.runs[run.key] = self._find_or_create(run.key, run.name, params, parent=self.parent_id)
        self.client.set_tag(self.runs[run.key], "stage", run.stage)

    def _run_id(self, run: TrackedRun) -> str:
        if run.key not in self.runs:
            self.runs[run.key] = self._find_or_create(run.key, run.name, {}, parent=self.parent_id)
        return self.runs[run.key]

    def log(self, run: TrackedRun, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self._run_id(run), metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def note(self, run: TrackedRun, key: str, value: str) -> None:
        self.client.set_tag(self._run_id(run), key, value[:5000])

    def end(self, run: TrackedRun, ending: RunEnding) -> None:
        self._conclude(self._run_id(run), ending, step=ending.step)
        self.runs.pop(run.key, None)

    def _conclude(self, run_id: str, ending: RunEnding, step: int = 0) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        tags = {"status": ending.status, **ending.notes}
        if not ending.ok:
            tags.update({"failure.phase": ending.phase or "", "failure.reason": ending.reason or "",
                         "failure.kind": ending.kind or ""})
        self.client.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in ending.metrics.items()],
                              tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])
        self.client.set_terminated(run_id, STATUSES.get(ending.status, "FAILED"))

    def finish(self, ending: RunEnding, files: list[Path]) -> None:
        for path in files:
            self.client.log_artifact(self.parent_id, str(path))
        self._conclude(self.parent_id, ending)

    def where(self) -> str:
        if self.local:
            return f"mlflow ui --backend-store-uri {self.tracking_uri} (needs the full `mlflow` package)"
        return f"{self.tracking_uri}, experiment {self.settings.experiment or self.target.experiment}"

    def close(self) -> None:
        self.client = None
