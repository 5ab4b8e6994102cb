"""What an item's actor asks of the cluster, and where actors may go."""

from __future__ import annotations

from typing import Any

import ray

from contract.job import TrainingJob
from orchestrator.cluster import ClusterInfo


def actor_resources(job: TrainingJob, cluster: ClusterInfo, workers: int = 1) -> dict[str, float]:
    """CPUs and GPUs one candidate asks for (times `workers`, training data-parallel); `gpus: auto`
    means one where the cluster has GPUs."""
    res = job.settings.resources
    gpus = res.gpus if res.gpus is not None else (1.0 if cluster.gpus > 0 else 0.0)
    return {"CPU": res.cpus * workers, "GPU": gpus * workers}


def shortfall(need: dict[str, float], capacity: dict[str, float]) -> str | None:
    """Why `need` can never fit `capacity` ("needs 2 GPUs (the cluster has 1)"), or None."""
    short = [f"{need[k]:g} {k}s (the cluster has {capacity.get(k, 0.0):g})" for k in need
             if need[k] > capacity.get(k, 0.0) + 1e-9]
    return f"needs {' and '.join(short)}" if short else None


class Placement:
    """Where items' actors go: anywhere in the cluster, with capacity following nodes as they
    join and leave (the default), or into one placement-group bundle (`bundle`)."""

    def __init__(self, bundle: tuple[Any, dict[str, float]] | None = None):
        self.bundle = bundle

    def capacity(self) -> dict[str, float]:
        if self.bundle is not None:
            return {"CPU": 0.0, "GPU": 0.0, **self.bundle[1]}
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        return {"CPU": float(resources.get("CPU", 0)), "GPU": float(resources.get("GPU", 0))}

    def options(self) -> dict[str, Any]:
        if self.bundle is None:
            return {}
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        return {"scheduling_strategy": PlacementGroupSchedulingStrategy(self.bundle[0], placement_group_bundle_index=0)}
