"""Preflight as plain data: what the driver asks the model inspection (run in a child process,
with torch and transformers) and what it answers. Picklable, standard library only."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from contract.hardware import Hardware

CheckStatus = Literal["ok", "warn", "fail"]
GiB = 2**30


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    detail: str
    fix: str | None = None


@dataclass
class CandidatePreflight:
    name: str
    checks: list[Check] = field(default_factory=list)
    estimate_bytes: int | None = None

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def reason(self) -> str | None:
        failed = [c for c in self.checks if c.status == "fail"]
        return f"{failed[0].name}: {failed[0].detail}" if failed else None

    @property
    def fix(self) -> str | None:
        failed = [c for c in self.checks if c.status == "fail"]
        return failed[0].fix if failed else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InspectionRequest:
    """One candidate, as the inspection needs it.

    `hardware` is what the candidate's actor will get, when the driver already knows it (asked
    of the cluster); None has the inspecting process probe its own machine. `cluster_gpus` is the
    GPU count that decides `resources.gpus: auto`; None counts the inspecting machine's GPUs."""

    candidate: Any  # orchestrator.config.CandidateConfig
    settings: Any  # orchestrator.config.TrainingSettings
    task: Any  # orchestrator.config.TaskConfig
    hardware: Hardware | None = None
    cluster_gpus: float | None = None


@dataclass(frozen=True)
class Inspection:
    """The model checks of one candidate; `parameters` (when the architecture could be built on
    the meta device) lets the driver check the disk of the run directory itself."""

    name: str
    checks: tuple[Check, ...]
    estimate_bytes: int | None = None
    parameters: int | None = None


def gets_gpu(resources_gpus: float | None, cluster_gpus: float) -> bool:
    """`resources.gpus: auto` (None) means a GPU whenever the cluster has one."""
    return resources_gpus > 0 if resources_gpus is not None else cluster_gpus > 0


def actor_memory_bytes(hardware: Hardware, memory_gb: float | None, gpus: float | None = None,
                       processes: int = 1) -> int | None:
    """The memory one training process of the candidate gets: on a GPU its share of the device
    (`resources.gpus` below 1 is that fraction of one GPU, which it shares with others), on a CPU
    its `resources.memory_gb` (else the host's, divided among its `processes`, which may all
    land on one node)."""
    if hardware.device == "cpu":
        if memory_gb:
            return int(memory_gb * GiB)
        return None if hardware.memory_bytes is None else hardware.memory_bytes // processes
    share = gpu_share(gpus)
    if hardware.memory_bytes is not None and share is not None:
        return int(hardware.memory_bytes * share)
    return hardware.memory_bytes


def gpu_share(gpus: float | None) -> float | None:
    """The fraction of one GPU a candidate asked for (`resources.gpus: 0.5`), or None when it asked
    for whole GPUs (or `auto`, one; pass `Resources.gpus_per_process`)."""
    return gpus if gpus is not None and 0 < gpus < 1 else None
