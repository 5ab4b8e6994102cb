"""36 candidates, one logical GPU each, on a real 8-node Ray cluster with 4 GPUs per node (GPUs
declared as logical resources): placement, queue order, a node lost mid-run, driver cost."""

from __future__ import annotations

import time
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from contract.job import DataFiles
from orchestrator.cluster import connect
from orchestrator.config import RayConfig, validate_raw
from orchestrator.simulation import SIMULATED, SimulatedRequest, simulated_cluster
from orchestrator.stages.train import build_jobs
from orchestrator.supervisor import Supervisor
from orchestrator.work import WorkItem
from tests.conftest import tiny_experiment

pytestmark = pytest.mark.integration

CANDIDATES, NODES, GPUS_PER_NODE = 36, 8, 4


def test_many_candidates_on_simulated_gpus_and_a_node_lost_mid_run(tmp_path: Path) -> None:
    names = [f"sim-{i:03d}" for i in range(CANDIDATES)]
    raw = tiny_experiment(tmp_path, [{"name": n, "source": "scratch:bart-tiny", "family": "seq2seq"} for n in names])
    raw["defaults"]["resources"] = {"cpus": 1, "gpus": 1}
    raw["defaults"]["timeouts"] = {"load": 120, "stall": 60, "total": 300}
    config = validate_raw(raw)
    jobs = build_jobs(config, DataFiles(tmp_path / "unused.jsonl", None, None), (), tmp_path / "run")
    items = [WorkItem(SIMULATED, job, SimulatedRequest(8.0, 8)) for job in jobs]

    with simulated_cluster(NODES, GPUS_PER_NODE, cpus_per_node=GPUS_PER_NODE) as cluster:
        info = connect(RayConfig(address=cluster.address))
        assert (info.gpus, info.cpus) == (NODES * GPUS_PER_NODE, NODES * GPUS_PER_NODE)
        launched: list[tuple[str, int]] = []
        node_of: dict[str, str] = {}
        removed: dict[str, Any] = {}

        def on_event(label: str, kind: str, state: dict[str, Any]) -> None:
            name = label.split("/", 1)[1]
            if kind == "launched":
                launched.append((name, state["attempt"]))
            if state.get("node_id") and not removed:
                node_of[name] = state["node_id"]
                full = [n for n in cluster.worker_nodes
                        if sum(node == n.node_id for node in node_of.values()) == GPUS_PER_NODE]
                if len(launched) >= NODES * GPUS_PER_NODE and full:
                    removed["node"] = full[0].node_id
                    removed["victims"] = {c for c, node in node_of.items() if node == full[0].node_id}
                    cpu_before = time.thread_time()
                    cluster.remove_node(full[0])  # the test's doing, not the driver's: not counted below
                    removed["cpu_s"] = time.thread_time() - cpu_before

        cpu_started = time.thread_time()  # the supervisor's own work; Ray's client threads are Ray's
        outcomes = Supervisor(items, info, tmp_path / "run", on_event).run()
        driver_cpu = time.thread_time() - cpu_started - removed.get("cpu_s", 0.0)

    assert removed, "no node was removed: the test did not exercise node loss"
    assert [o.status for o in outcomes] == ["succeeded"] * CANDIDATES, [(o.name, o.error) for o in outcomes]
    # The queue starts first attempts in config order.
    assert [name for name, attempt in launched if attempt == 1] == names
    # Losing a node cost exactly the candidates on it: each retried once, elsewhere.
    retried = {o.name for o in outcomes if o.attempts == 2}
    assert retried == removed["victims"] and len(retried) == GPUS_PER_NODE
    assert all(o.details["node_id"] != removed["node"] for o in outcomes if o.name in retried)
    assert all("actor process died" in o.retries[0] for o in outcomes if o.name in retried)
    # Never two candidates on one GPU at the same time.
    spans = [(o.details["node_id"], tuple(o.details["gpu_ids"]), o.details["started"], o.details["finished"])
             for o in outcomes]
    assert all(len(gpus) == 1 for _, gpus, _, _ in spans)
    for a, b in combinations(spans, 2):
        if a[:2] == b[:2]:
            assert a[3] <= b[2] or b[3] <= a[2], (a, b)
    # The driver stays cheap: a few tens of milliseconds of its own CPU per candidate.
    assert driver_cpu / CANDIDATES < 0.1, driver_cpu


def test_two_half_gpu_candidates_share_one_gpu_while_a_whole_gpu_one_waits(tmp_path: Path) -> None:
    """`resources.gpus: 0.5` is half a GPU for Ray: on a node with one GPU the two halves train at
    once on the same device, and a candidate that wants the whole GPU waits until both are done."""
    def model(name: str, gpus: float) -> dict[str, Any]:
        return {"name": name, "source": "scratch:bart-tiny", "family": "seq2seq", "resources": {"cpus": 1, "gpus": gpus}}

    config = validate_raw(tiny_experiment(tmp_path, [model("half-a", 0.5), model("half-b", 0.5), model("whole", 1)]))
    jobs = build_jobs(config, DataFiles(tmp_path / "unused.jsonl", None, None), (), tmp_path / "run")
    items = [WorkItem(SIMULATED, job, SimulatedRequest(4.0, 4)) for job in jobs]
    with simulated_cluster(1, 1, cpus_per_node=4) as cluster:
        info = connect(RayConfig(address=cluster.address))
        outcomes = Supervisor(items, info, tmp_path / "run", lambda label, kind, state: None).run()
    assert [o.status for o in outcomes] == ["succeeded"] * 3, [(o.name, o.error) for o in outcomes]
    half_a, half_b, whole = (o.details for o in outcomes)
    assert half_a["gpu_ids"] == half_b["gpu_ids"] == whole["gpu_ids"] == ["0"]
    assert half_a["started"] < half_b["finished"] and half_b["started"] < half_a["finished"]  # at the same time
    assert whole["started"] >= max(half_a["finished"], half_b["finished"]) - 0.5  # it waited for the GPU
