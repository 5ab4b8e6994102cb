"""What the supervisor runs: one stage's function applied to one candidate, in an actor of its own.

Training, the ensemble's generation and scoring, and later stages all go through the same
supervisor (resources, queue, phase and stall timeouts, retries, error logs). A work item is
plain picklable data: a module-level function, the candidate's job (its resources and limits)
and the function's extra arguments. The function reports phases and heartbeats through the
reporter it is given and returns a dict, which becomes the outcome's `details`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.job import TrainingJob
from models.reporting import Reporter

StageFunction = Callable[..., dict[str, Any]]  # (job, reporter, *args) -> result


@dataclass(frozen=True)
class WorkItem:
    stage: str  # train | ensemble-propose | ensemble-score | ...
    job: TrainingJob
    function: StageFunction
    args: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def label(self) -> str:
        """`<stage>/<candidate>`: how the terminal, the logs and the Ray dashboard name it."""
        return f"{self.stage}/{self.name}"

    @property
    def actor_name(self) -> str:
        """The Ray actor's name; a retry gets a name of its own, as the failed actor may linger."""
        return self.label + (f"/attempt{self.job.attempt}" if self.job.attempt > 1 else "")

    @property
    def log_file(self) -> Path:
        """The actor's own log; every step of one stage appends to the same file."""
        return self.job.output_dir / f"{self.stage.split('-')[0]}.log"

    @property
    def error_log_name(self) -> str:
        return self.name if self.stage == "train" else f"{self.stage}-{self.name}"

    def run(self, reporter: Reporter) -> dict[str, Any]:
        return self.function(self.job, reporter, *self.args)

    def with_job(self, job: TrainingJob) -> WorkItem:
        return dataclasses.replace(self, job=job)


def training_item(job: TrainingJob) -> WorkItem:
    from models.training import train_candidate

    return WorkItem("train", job, train_candidate)
