"""Planning past this machine: a stand-in candidate and a simulated multi-node cluster.

`simulated_training` runs through the real supervisor in a real actor exactly like a training
work item (phases, heartbeats, a result), but sleeps instead of computing, and reports where Ray
placed it: node and GPU ids. `simulated_cluster` starts a real multi-node Ray cluster on this
machine (`ray.cluster_utils.Cluster`), whose nodes declare GPUs as logical resources. Together
they show how the scheduler behaves with hundreds of candidates on many GPUs: placement, queue
order, node loss, and the driver's own cost per candidate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray

from contract.job import TrainingJob
from models.reporting import Reporter


def simulated_training(job: TrainingJob, reporter: Reporter, seconds: float, steps: int = 5) -> dict[str, Any]:
    """Sleep through `steps` training steps in `seconds`; report like a real candidate."""
    started = time.time()
    context = ray.get_runtime_context()
    placement = {"node_id": context.get_node_id(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
                 "attempt": job.attempt}
    reporter.heartbeat(node_id=placement["node_id"], gpu_ids=placement["gpu_ids"])
    reporter.phase("first_step")
    reporter.phase("training")
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        reporter.heartbeat(step=step, total_steps=steps)
    reporter.phase("done")
    return {**placement, "started": started, "finished": time.time(), "metrics": {}}


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
