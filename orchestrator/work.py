"""What the supervisor runs: one step applied to one candidate, in that candidate's actor.

Training, the ensemble's proposing, scoring and fitting, the optimize stage and a tune trial all go
through the same supervisor (resources, queue, the four limits, retries, error logs, storage).
A work item is plain picklable data: a `Step` (its function named by a dotted path, imported in
the actor only), the job (its resources and limits: a candidate's, or the ensemble's own) and the
step's typed request.
The function reports phases and heartbeats through the reporter it is given and returns the
step's typed result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.job import Job, TrainingJob
from contract.work import EVALUATE, TRAIN, Step, TrainRequest


@dataclass(frozen=True)
class WorkItem:
    step: Step
    job: Job
    request: Any = None  # the step's request dataclass (None for steps that need only the job)
    error_log: Path | None = None  # default: <run dir>/errors/<name>.log, or <stage>-<name>.log after training
    tag: str | None = None  # tells apart items of one candidate and stage that run at once (a tune trial's id)

    @property
    def stage(self) -> str:
        return self.step.stage

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def workers(self) -> int:
        """Processes the item trains on: the candidate's training processes for the steps that train, else one."""
        return self.job.settings.resources.processes if self.step.trains else 1

    @property
    def label(self) -> str:
        """`<stage>/<candidate>[/<tag>]`: how the terminal, the logs and the Ray dashboard name it."""
        return f"{self.stage}/{self.name}" + (f"/{self.tag}" if self.tag else "")

    @property
    def actor_name(self) -> str:
        """The Ray actor's name; a retry gets a name of its own, as the failed actor may linger."""
        return self.label + (f"/attempt{self.job.attempt}" if self.job.attempt > 1 else "")

    @property
    def log_file(self) -> Path:
        """The item's own log; every step of one stage appends to the same file."""
        return self.job.output_dir / (self.step.log_name or f"{self.stage.split('-')[0]}.log")

    def error_log_path(self, run_dir: Path) -> Path:
        if self.error_log is not None:
            return self.error_log
        return run_dir / "errors" / f"{self.name if self.stage == 'train' else f'{self.stage}-{self.name}'}.log"

    def run(self, reporter: Any) -> Any:
        """In the actor: import the step's function and apply it."""
        function = self.step.resolve()
        return function(self.job, reporter, self.request) if self.request is not None else function(self.job, reporter)

    def with_job(self, job: Job) -> WorkItem:
        return dataclasses.replace(self, job=job)


def training_item(job: TrainingJob) -> WorkItem:
    return WorkItem(TRAIN, job, TrainRequest())


def evaluation_item(job: TrainingJob) -> WorkItem:
    return WorkItem(EVALUATE, job)
