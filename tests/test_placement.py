"""Where candidates go: `gpus: N` as N one-GPU workers, `gpus: share` split among the candidates
that share the cluster's GPUs, and, on a real simulated cluster (GPUs as logical resources), a
mix of 1-, 2- and 4-GPU candidates placed without sharing a GPU or spreading over more nodes
than they need."""

from __future__ import annotations

import math
import time
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from contract.job import DataFiles
from orchestrator.cluster import connect
from orchestrator.config import ConfigError, RayConfig, validate_raw
from orchestrator.placement import place_candidates, placed_config
from orchestrator.simulation import SIMULATED, SimulatedRequest, simulated_cluster
from orchestrator.stages.train import build_jobs
from orchestrator.supervisor import Supervisor
from orchestrator.work import WorkItem
from tests.conftest import tiny_experiment


def candidate(name: str, gpus: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "source": "scratch:bart-tiny", "family": "seq2seq", "resources": {"cpus": 1, "gpus": gpus},
            **extra}


def test_share_splits_the_free_gpus_among_the_sharing_candidates(tmp_path: Path) -> None:
    raw = tiny_experiment(tmp_path, [candidate(f"s{i}", "share") for i in range(3)])
    raw["defaults"]["batch_size"] = 24
    config = validate_raw(raw)
    split = lambda gpus: [p.processes for p in place_candidates(config, gpus).values()]  # noqa: E731
    assert split(8) == [3, 3, 2]  # 8 GPUs, 3 candidates: 2 or 3 each, none idle
    assert split(12) == [4, 4, 4]
    assert split(2) == [1, 1, 1]  # fewer GPUs than candidates: one each, and they queue
    assert all(p.gpus == 0.0 and p.processes == 1 for p in place_candidates(config, 0).values())

    raw["models"].append(candidate("whole", 4))  # a fixed demand comes off what is shared
    placed = place_candidates(validate_raw(raw), 8)
    assert [p.processes for p in placed.values()] == [2, 1, 1, 4] and placed["whole"].gpus == 1.0
    raw["defaults"]["batch_size"] = 16  # 8 GPUs over 3: 3 does not split 16; the spare GPUs go where they can
    assert [p.processes for p in place_candidates(validate_raw({**raw, "models": raw["models"][:3]}), 8).values()] \
        == [4, 2, 2]


def test_placed_config_makes_resources_concrete_and_keeps_fingerprints(tmp_path: Path) -> None:
    config = validate_raw(tiny_experiment(tmp_path, [candidate("four", 4), candidate("auto", "auto"),
                                                     candidate("half", 0.5)]))
    placed = placed_config(config, 8)
    resources = {c.name: placed.settings_for(c).resources for c in placed.models}
    assert (resources["four"].processes, resources["four"].gpus_per_process) == (4, 1.0)
    assert (resources["auto"].processes, resources["auto"].gpus_per_process) == (1, 1.0)
    assert (resources["half"].processes, resources["half"].gpus_per_process) == (1, 0.5)
    on_cpus = placed_config(config, 0)
    assert on_cpus.settings_for(on_cpus.models[1]).resources.gpus_per_process == 0.0
    assert all(placed.fingerprint(c) == config.fingerprint(config.candidate(c.name)) for c in placed.models)


@pytest.mark.parametrize(("resources", "message"), [
    ({"gpus": 2, "workers": 2}, "with workers, gpus is per worker"),
    ({"gpus": 2.5}, "above 1, gpus is a whole number"),
    ({"gpus": "shared"}, "did you mean 'share'"),
    ({"workers": 1, "strategy": "fsdp"}, "fsdp shards the model over several processes"),
    ({"gpus": 3}, "batch_size 8 is split evenly over the 3 training processes (resources.gpus)"),
    ({"workers": 2, "strategy": "zero3"}, "use one of: ddp, fsdp"),
])
def test_resources_that_cannot_work_are_config_errors(tmp_path: Path, resources: dict[str, Any], message: str) -> None:
    raw = tiny_experiment(tmp_path, [{**candidate("m", None), "resources": resources}])
    raw["defaults"]["batch_size"] = 8
    with pytest.raises(ConfigError) as error:
        validate_raw(raw)
    assert message in str(error.value)


def test_a_quantized_candidate_is_not_sharded(tmp_path: Path) -> None:
    raw = tiny_experiment(tmp_path, [{**candidate("q", 2), "lora": {}, "quantization": "4bit",
                                      "resources": {"gpus": 2, "strategy": "fsdp"}}])
    with pytest.raises(ConfigError) as error:
        validate_raw(raw)
    assert "trains its adapters with ddp" in str(error.value)


NODES, GPUS_PER_NODE = 4, 4


@pytest.mark.integration
def test_a_mix_of_one_two_and_four_gpu_candidates_packs_onto_nodes_and_drains(tmp_path: Path) -> None:
    """On 4 nodes of 4 GPUs: a 4-GPU candidate, a 2-GPU one, two of one GPU and one sharing the
    8 GPUs they leave (6 workers, as its batch of 6 splits over 6, no more). Each data-parallel
    candidate's workers sit on distinct GPUs of as few nodes as they fit on (one; two for the
    share), where the supervisor's reservation found room; no GPU is ever held by two workers at
    once, and everything finishes. (The queue draining with more candidates than GPUs:
    tests/test_simulated_cluster.py.)"""
    models = [candidate("four", 4), candidate("two", 2), candidate("shared", "share", batch_size=6)] \
        + [candidate(f"one-{i}", 1) for i in range(2)]
    raw = tiny_experiment(tmp_path, models)
    raw["defaults"]["timeouts"] = {"load": 120, "first_step": 120, "stall": 60, "total": 300}
    config = validate_raw(raw)
    with simulated_cluster(NODES, GPUS_PER_NODE, cpus_per_node=2 * GPUS_PER_NODE) as cluster:
        info = connect(RayConfig(address=cluster.address))
        placed = placed_config(config, info.gpus)
        processes = {c.name: placed.settings_for(c).resources.processes for c in placed.models}
        assert processes["shared"] == 6
        jobs = build_jobs(placed, DataFiles(tmp_path / "unused.jsonl", None, None), (), tmp_path / "run")
        items = [WorkItem(SIMULATED, job, SimulatedRequest(5.0, 5)) for job in jobs]
        outcomes = Supervisor(items, info, tmp_path / "run", lambda label, kind, state: None).run()

    assert [o.status for o in outcomes] == ["succeeded"] * len(models), [(o.name, o.error) for o in outcomes]
    held = []  # (node, gpu, from, to) for every worker
    for outcome in outcomes:
        workers = outcome.details.get("workers") or [outcome.details]
        assert len(workers) == processes[outcome.name], outcome.name
        nodes = {w["node_id"] for w in workers}
        assert len(nodes) == math.ceil(processes[outcome.name] / GPUS_PER_NODE), (outcome.name, nodes)
        if processes[outcome.name] > 1:  # the worker group sits where the supervisor's reservation found room
            assert sorted(w["node_id"] for w in workers) == sorted(outcome.details["reserved_nodes"]), outcome.name
        gpus = [(w["node_id"], g) for w in workers for g in w["gpu_ids"]]
        assert len(gpus) == len(set(gpus)) == processes[outcome.name], (outcome.name, gpus)
        held += [(w["node_id"], g, w["started"], w["finished"], outcome.name) for w in workers for g in w["gpu_ids"]]
    for a, b in combinations(held, 2):
        if a[:2] == b[:2]:
            assert a[3] <= b[2] or b[3] <= a[2], (a, b)


@pytest.mark.integration
def test_a_reservation_answers_from_the_gcs_record_as_soon_as_the_group_is_placed() -> None:
    """`GroupReservation.nodes()` reads the placement group's GCS record, so the first ask after
    the group is placed has its nodes, and asking starts no task. (It used to ask through
    `ready()`, a task per ask, which on a busy 2-core machine waited minutes for a worker
    process: a data-parallel candidate queued 2-6 min before it trained.)"""
    import ray
    from ray.util.placement_group import placement_group_table

    from orchestrator.placement import GroupReservation

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        reservation = GroupReservation({"CPU": 1.0}, 2)
        assert reservation.strategy == "STRICT_PACK"
        deadline = time.monotonic() + 60
        while placement_group_table(reservation.group)["state"] != "CREATED":
            assert time.monotonic() < deadline, placement_group_table(reservation.group)
            time.sleep(0.05)
        node = ray.get_runtime_context().get_node_id()
        assert reservation.nodes() == (node, node)
        assert placement_group_table(reservation.group)["state"] == "REMOVED"  # it found the room; it holds none
    finally:
        ray.shutdown()
