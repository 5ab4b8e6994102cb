"""What every stage of one run shares: one object instead of seven positional parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.job import DataFiles
from orchestrator.cluster import ClusterInfo
from orchestrator.config import ExperimentConfig
from orchestrator.interrupts import StopRequest
from orchestrator.outcome import Outcome
from orchestrator.storage import RunStorage, run_storage
from orchestrator.supervisor import EventSink, Supervisor
from orchestrator.tracking import Tracker
from orchestrator.work import WorkItem
from orchestrator.workers import WorkerPool


def ignore_events(label: str, kind: str, info: dict[str, Any]) -> None:
    """The event sink when nobody is watching."""


@dataclass
class RunContext:
    """The run's config, prepared data, directory and cluster, where events go, and the pool of
    warm workers its stages share (a candidate's process serves all its steps)."""

    config: ExperimentConfig
    data: DataFiles
    labels: tuple[str, ...]
    run_dir: Path
    cluster: ClusterInfo | None = None  # None: no stage that runs actors can run
    on_event: EventSink = ignore_events
    workers: WorkerPool = field(default_factory=WorkerPool)
    stop: StopRequest | None = None  # the run's Ctrl-C / SIGTERM; every stage's supervisor watches it
    tracker: Tracker | None = None  # the run's experiment trackers (`tracking:`); None: off

    @property
    def storage(self) -> RunStorage | None:
        return run_storage(self.config.storage, self.run_dir)

    def supervise(self, items: list[WorkItem], **options: Any) -> list[Outcome]:
        """Run `items` under the supervisor, on this run's cluster, storage and warm workers."""
        if self.cluster is None:
            stage = items[0].stage if items else "this stage"
            raise ValueError(f"{stage} runs the candidates as Ray actors: it needs a cluster")
        return Supervisor(items, self.cluster, self.run_dir, self.on_event, storage=self.storage,
                          pool=self.workers, stop=self.stop, tracker=self.tracker, **options).run()

    def close(self) -> None:
        """End the warm workers still idle (at the end of the run)."""
        self.workers.close()
