"""Planning past this machine: a stand-in candidate and a simulated multi-node cluster.

`simulated_training` runs through the real supervisor in a real actor exactly like a training
work item (phases, heartbeats, a result), but sleeps instead of computing, and reports where Ray
placed it: node and GPU ids. `simulated_cluster` starts a real multi-node Ray cluster on this
machine (`ray.cluster_utils.Cluster`), whose nodes declare GPUs as logical resources. Together
they show how the scheduler behaves with hundreds of candidates on many GPUs: placement, queue
order, node loss, and the driver's own cost per candidate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ray

from contract.job import TrainingJob
from contract.phases import Phase
from contract.reporting import Reporter
from contract.work import Step, resolve


@dataclass(frozen=True)
class SimulatedRequest:
    seconds: float  # how long the stand-in "trains"
    steps: int = 5
    fail_attempts: int = 0  # attempts (1, 2, ...) up to this one raise `error` at their first step
    error: str = "CUDA out of memory. Tried to allocate 2.00 GiB"
    hang_in_loading_s: float = 0.0  # sleep this long before the first step, still in phase loading


WORKER_GROUP_FIT = "models.worker_group:fit"  # the real worker group's setup, run as a training's actor runs it
# a training as the supervisor places it (a data-parallel one reserves its workers' nodes first), minus the model
SIMULATED = Step("train", "orchestrator.simulation:simulated_training", reads_checkpoint=False, trains=True)


def simulated_training(job: TrainingJob, reporter: Reporter, request: SimulatedRequest) -> dict[str, Any]:
    """Sleep through `request.steps` training steps in `request.seconds`; report like a real
    candidate. A data-parallel candidate does it in a real Ray Train worker group, configured,
    placed and ended as a real one (`models.worker_group`), and reports each worker's place."""
    if job.settings.resources.processes > 1:
        return simulated_worker_group(job, reporter, request)
    seconds, steps = request.seconds, request.steps
    started = time.time()
    context = ray.get_runtime_context()
    placement = {"node_id": context.get_node_id(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
                 "attempt": job.attempt}
    reporter.heartbeat(node_id=placement["node_id"], gpu_ids=placement["gpu_ids"])
    time.sleep(request.hang_in_loading_s)
    reporter.phase(Phase.FIRST_STEP)
    if job.attempt <= request.fail_attempts:
        raise RuntimeError(request.error)
    reporter.phase(Phase.TRAINING)
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        reporter.heartbeat(step=step, total_steps=steps)
    reporter.phase(Phase.DONE)
    return {**placement, "started": started, "finished": time.time(), "metrics": {},
            "batch": [job.settings.batch_size, job.settings.gradient_accumulation], "pid": os.getpid()}


def simulated_worker_group(job: TrainingJob, reporter: Reporter, request: SimulatedRequest) -> dict[str, Any]:
    from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

    fit = resolve(WORKER_GROUP_FIT)
    started = time.time()
    reporter.phase(Phase.FIRST_STEP)
    result = fit(DataParallelTrainer, job, reporter, train_loop_per_worker=_simulated_worker,
                 train_loop_config={"job": job, "request": request, "reporter": reporter})
    workers = result.return_value
    reporter.phase(Phase.DONE)
    return {"node_id": workers[0]["node_id"], "gpu_ids": workers[0]["gpu_ids"], "workers": workers,
            "reserved_nodes": list(job.nodes or ()), "attempt": job.attempt, "started": started, "finished": time.time(), "metrics": {},
            "batch": [job.settings.batch_size, job.settings.gradient_accumulation], "pid": os.getpid()}


def _simulated_worker(config: dict[str, Any]) -> list[dict[str, Any]] | None:
    """One worker of the stand-in: rank 0 reports and, at the end, returns every worker's place
    (each writes its own next to the candidate's outputs, as all run on this machine)."""
    import json

    import ray.train

    job, request = config["job"], config["request"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    runtime = ray.get_runtime_context()
    place = {"rank": rank, "node_id": runtime.get_node_id(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
             "started": time.time()}
    reporter = config["reporter"] if rank == 0 else None
    if reporter is not None:
        reporter.phase(Phase.TRAINING)
    for step in range(1, request.steps + 1):
        time.sleep(request.seconds / request.steps)
        if reporter is not None:
            reporter.heartbeat(step=step, total_steps=request.steps)
    place["finished"] = time.time()
    (job.output_dir / f"worker{rank}.attempt{job.attempt}.json").write_text(json.dumps(place), encoding="utf-8")
    if rank != 0:
        return None
    deadline = time.time() + 60
    paths = [job.output_dir / f"worker{r}.attempt{job.attempt}.json" for r in range(world)]
    while not all(p.is_file() for p in paths) and time.time() < deadline:
        time.sleep(0.1)
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


@dataclass(frozen=True)
class ImportRequest:
    modules: tuple[str, ...]


IMPORTS_ONLY = Step("overhead", "orchestrator.simulation:imports_only", reads_checkpoint=False)


def imports_only(job: TrainingJob, reporter: Reporter, request: ImportRequest) -> dict[str, Any]:
    """A stand-in step that imports what a real step would (`request.modules`) and nothing more:
    for measuring what starting a worker costs."""
    import importlib

    for module in request.modules:
        importlib.import_module(module)
    reporter.phase(Phase.DONE)
    return {"imported": list(request.modules)}


@contextmanager
def simulated_cluster(nodes: int, gpus_per_node: int, cpus_per_node: int) -> Iterator[Any]:
    """A head node without GPUs plus `nodes` worker nodes, each with `gpus_per_node` logical GPUs
    and `cpus_per_node` logical CPUs; yields the `ray.cluster_utils.Cluster` (its `.address`)."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "num_gpus": 0,
                                                            "include_dashboard": False})
    for _ in range(nodes):
        cluster.add_node(num_cpus=cpus_per_node, num_gpus=gpus_per_node)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
