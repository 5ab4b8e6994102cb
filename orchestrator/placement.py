"""What an item's actor asks of the cluster, and where actors may go."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ray

from contract.job import Job, worker_group_scaling
from contract.settings import Resources
from orchestrator.cluster import ClusterInfo
from orchestrator.config import ExperimentConfig
from orchestrator.failures import one_line
from orchestrator.scheduling import no_node_reason, one_node_holds
from orchestrator.work import WorkItem

if TYPE_CHECKING:
    from orchestrator.storage import RunStorage

log = logging.getLogger(__name__)


def actor_resources(job: Job, cluster: ClusterInfo, workers: int = 1) -> dict[str, float]:
    """CPUs and GPUs one candidate asks for (times `workers`, training data-parallel); `gpus: auto`
    (and a share not yet placed) means one per process where the cluster has GPUs."""
    res = job.settings.resources
    gpus = per_process_gpus(res, cluster.gpus)
    return {"CPU": res.cpus * workers, "GPU": gpus * workers}


def per_process_gpus(resources: Resources, cluster_gpus: float) -> float:
    gpus = resources.gpus_per_process
    return gpus if gpus is not None else (1.0 if cluster_gpus > 0 else 0.0)


@dataclass(frozen=True)
class PlacedResources:
    """What one candidate trains on in this cluster: `processes` training processes with `gpus`
    each, and how that was decided (for `gpus: share`)."""

    processes: int
    gpus: float
    note: str | None = None


def place_candidates(config: ExperimentConfig, cluster_gpus: float) -> dict[str, PlacedResources]:
    """Every candidate's processes and GPUs on this cluster, in config order. `auto` is one GPU
    where there are GPUs; `gpus: N` is N processes of one GPU; `gpus: share` splits the whole GPUs
    the other candidates leave free among the candidates that share them (in config order, the
    first ones getting one more where it does not divide), each taking as many as its batch splits
    over evenly, and GPUs a batch could not use going to a candidate whose batch can. Fewer free
    GPUs than sharing candidates: one each, and they queue."""
    placed = _place(config, cluster_gpus)
    return {c.name: placed[c.name] for c in config.models}


def _place(config: ExperimentConfig, cluster_gpus: float) -> dict[str, PlacedResources]:
    settings = {c.name: config.settings_for(c) for c in config.models}
    fixed = {name: PlacedResources(s.resources.processes, per_process_gpus(s.resources, cluster_gpus))
             for name, s in settings.items() if s.resources.gpus != "share"}
    sharing = [name for name, s in settings.items() if s.resources.gpus == "share"]
    if not sharing:
        return fixed
    if cluster_gpus < 1:
        return fixed | {name: PlacedResources(1, 0.0, "gpus share: the cluster has no GPUs, so one process on CPUs")
                        for name in sharing}
    free = max(0, int(cluster_gpus + 1e-9) - math.ceil(sum(p.processes * p.gpus for p in fixed.values()) - 1e-9))
    if free < len(sharing):
        why = f"gpus share: {free} free GPU(s) for {len(sharing)} sharing candidates, so one each, queued"
        return fixed | {name: PlacedResources(1, 1.0, why) for name in sharing}
    batches = {name: settings[name].batch_size for name in sharing}
    offered = {name: free // len(sharing) + (1 if i < free % len(sharing) else 0) for i, name in enumerate(sharing)}
    taken = {name: max(d for d in range(1, offered[name] + 1) if settings[name].batch_splits_over(d))
             for name in sharing}
    left = free - sum(taken.values())
    while left > 0:  # GPUs a batch could not split over go to the first candidate whose batch splits over more
        grown = next(((name, more) for name in sharing
                      for more in [min((d for d in range(taken[name] + 1, batches[name] + 1)
                                        if settings[name].batch_splits_over(d)),
                                       default=0)]
                      if more and more - taken[name] <= left), None)
        if grown is None:
            break
        left -= grown[1] - taken[grown[0]]
        taken[grown[0]] = grown[1]
    return fixed | {name: PlacedResources(taken[name], 1.0, (
        f"gpus share: {taken[name]} of the {free} free GPU(s) among {len(sharing)} sharing candidate(s)"
        + (f" (batch_size {batches[name]} splits evenly over {taken[name]})" if taken[name] != offered[name] else "")))
        for name in sharing}


def placed_config(config: ExperimentConfig, cluster_gpus: float) -> ExperimentConfig:
    """`config` with every candidate's resources concrete for this cluster (see
    `place_candidates`): what the actors, Ray Train and preflight are given. Resources are not
    part of a candidate's identity, so fingerprints do not change."""
    placements = place_candidates(config, cluster_gpus)
    models = []
    for candidate in config.models:
        place, resources = placements[candidate.name], config.settings_for(candidate).resources
        if place.note:
            log.info("%s: %s", candidate.name, place.note)
        concrete = resources.model_copy(update={"gpus": place.gpus, "workers": place.processes})
        models.append(candidate.model_copy(update={"resources": concrete}))
    return config.model_copy(update={"models": models})


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


class GroupReservation:
    """Where a data-parallel candidate's workers fit now, asked of Ray itself: a placement group
    of the workers' bundles (all on one node when some node could hold them all, or must: with
    storage; else on as few as possible), whose nodes the candidate's Ray Train worker group is then pinned to. It is
    removed as soon as it is placed: it only finds the room, the worker group takes it."""

    def __init__(self, per_worker: dict[str, float], workers: int, one_node: bool = False):
        from ray.util.placement_group import placement_group

        bundles = [{k: v for k, v in per_worker.items() if v} for _ in range(workers)]
        self.strategy = "STRICT_PACK" if one_node or fits_one_node(per_worker, workers) else "PACK"
        self.group = placement_group(bundles, strategy=self.strategy)

    def nodes(self) -> tuple[str, ...] | None:
        """Each worker's node once the group is placed (and the group removed); None until then."""
        from ray.util.placement_group import placement_group_table

        table = placement_group_table(self.group)  # the GCS's own record: no task has to start to ask it
        if table.get("state") != "CREATED":
            return None
        nodes = tuple(table["bundles_to_node_id"][i] for i in range(len(table["bundles"])))
        self.release()
        return nodes

    def release(self) -> None:
        from ray.util.placement_group import remove_placement_group

        try:
            remove_placement_group(self.group)
        except Exception as exc:  # noqa: BLE001 - removed already
            log.debug("reservation %s: %s", self.group.id.hex(), exc)


def fits_one_node(per_worker: dict[str, float], workers: int) -> bool:
    """Whether some live node has, in all, the resources of `workers` such workers."""
    return one_node_holds(per_worker, workers, ray.nodes())  # type: ignore[no-untyped-call]


def no_node_for(item: WorkItem, placement: Placement, storage: RunStorage | None) -> str | None:
    """With storage, a data-parallel training's workers share its node's copy of the run
    directory: why no node can hold them all, or None."""
    if storage is None or item.workers == 1 or placement.bundle is not None:
        return None
    per_worker = worker_group_scaling(item.job)["resources_per_worker"]
    return None if fits_one_node(per_worker, item.workers) else no_node_reason(per_worker, item.workers)


def actor_options(item: WorkItem, need: dict[str, float], placement: Placement, storage: RunStorage | None
                  ) -> dict[str, Any]:
    """Ray's options for a new actor of `item` that needs `need`. A data-parallel training's actor
    only drives Ray Train, whose worker group holds `need`: it asks for nothing itself, and with
    storage it goes beside its workers, on their node's copy of the run directory."""
    own = need if item.workers == 1 else {"CPU": 0.0, "GPU": 0.0}
    options: dict[str, Any] = {"name": item.actor_name, "num_cpus": own["CPU"], "num_gpus": own["GPU"],
                               **placement.options()}
    memory_gb = item.job.settings.resources.memory_gb
    if memory_gb and item.workers == 1:
        options["memory"] = int(memory_gb * 2**30)
    if item.workers > 1 and storage is not None and item.job.nodes:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(item.job.nodes[0], soft=False)
    return options


def remove_worker_group(group: str, label: str) -> None:
    """Remove the placement group (hex id) a data-parallel training's Ray Train worker group
    held, which would outlive its killed actor; one Ray Train ended already is no error."""
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    try:
        remove_placement_group(PlacementGroup(ray.PlacementGroupID(bytes.fromhex(group))))
    except Exception as exc:  # noqa: BLE001 - removed already (Ray Train ended it first)
        log.debug("placement group %s of %s: %s", group, label, one_line(exc))
    else:
        log.info("%s: removed its worker group's placement group %s", label, group)
