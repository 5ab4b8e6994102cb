"""The contract between the driver and an actor: everything one piece of work needs, as plain
picklable data, with paths instead of payloads. A `Job` is what the supervisor runs anything
under (its settings carry the resources, limits and retries); a `TrainingJob` is one candidate's."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.settings import CandidateConfig, TaskConfig, TrainingSettings


@dataclass(frozen=True)
class DataFiles:
    """JSONL files the driver prepared in the run directory (validation and test optional)."""

    train: Path
    validation: Path | None
    test: Path | None


@dataclass(frozen=True, kw_only=True)
class Job:
    """A piece of work the supervisor runs: its name (the actor's, the logs'), the settings whose
    `resources`, `timeouts` and `max_retries` govern it, the run's data and its own directory.
    Work that belongs to no candidate (the ensemble's meta-learner) runs under one of these."""

    name: str
    settings: TrainingSettings
    task: TaskConfig
    data: DataFiles
    output_dir: Path
    attempt: int = 1
    nodes: tuple[str, ...] = ()  # data-parallel: the node of each worker, where the supervisor found room for them


@dataclass(frozen=True, kw_only=True)
class TrainingJob(Job):
    """One candidate's job: its model, and the identities its checkpoint and metrics are kept under."""

    candidate: CandidateConfig
    fingerprint: str  # the training identity's: a checkpoint is resumed or kept only under the same one
    labels: tuple[str, ...] = ()
    evaluation_fingerprint: str = ""  # the evaluation identity's: metrics are kept only under the same one
    identity: dict[str, Any] = field(default_factory=dict)  # both identities' parts, recorded with what they decide

    @property
    def family(self) -> str:
        return self.candidate.family


NODE_LABEL = "ray.io/node-id"  # the label Ray gives every node: its id


def worker_group_scaling(job: Job) -> dict[str, Any]:
    """The arguments of Ray Train's `ScalingConfig` for a data-parallel candidate: its processes,
    each with its `resources`; with `job.nodes` (the supervisor's reservation), each worker
    pinned to its node, all on one node when they fit there."""
    res = job.settings.resources
    gpus = res.gpus_per_process or 0.0  # concrete by now: the driver placed the candidate
    per_worker: dict[str, float] = {"CPU": res.cpus}
    if gpus:
        per_worker["GPU"] = gpus
    if res.memory_gb:
        per_worker["memory"] = res.memory_gb * 2**30
    scaling: dict[str, Any] = {"num_workers": res.processes, "use_gpu": bool(gpus), "resources_per_worker": per_worker}
    if job.nodes:
        scaling["label_selector"] = [{NODE_LABEL: node} for node in job.nodes]
        scaling["placement_strategy"] = "STRICT_PACK" if len(set(job.nodes)) == 1 else "PACK"
    return scaling
