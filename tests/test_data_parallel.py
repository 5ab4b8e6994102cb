"""A candidate trained data-parallel over several processes (`resources.workers`), through Ray
Train with gloo on this CPU: it really splits each batch, it learns what one process learns from
the same effective batch, and a worker that dies costs one retry of that candidate only."""

from __future__ import annotations

import dataclasses
import logging
import re
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from contract.settings import Resources
from models.reporting import RecordingReporter
from models.training import train_candidate
from orchestrator.config import ConfigError, load_config, validate_raw
from tests.conftest import read_json, tiny_experiment, write_yaml
from tests.faults import faulty_bart
from tests.test_families import make_job

BATCHES = re.compile(r"rank (\d) of (\d): (\d+) training batches of (\d+) per epoch")


def test_a_batch_that_does_not_split_over_the_workers_is_a_config_error(tmp_path: Path) -> None:
    raw = tiny_experiment(tmp_path, [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq",
                                      "resources": {"workers": 3}}])
    raw["defaults"]["batch_size"] = 8
    with pytest.raises(ConfigError) as error:
        validate_raw(raw)
    assert ("models[0] (bart): batch_size 8 is split evenly over the 3 training processes (resources.workers): "
            "make it a multiple of 3") in str(error.value)


@pytest.mark.integration
def test_two_workers_learn_what_one_learns_from_the_same_effective_batch(tmp_path: Path) -> None:
    """Two gloo workers with 4 examples each per step against one process with 8: the same steps,
    each worker reading half of every epoch's batches, and the same training loss up to float
    summation order and dropout draws (each rank draws its own masks): within 2 %."""
    from orchestrator.cluster import connect, disconnect
    from orchestrator.config import RayConfig

    one = make_job(tmp_path / "one", {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"},
                   batch_size=8, max_steps=24)
    two = dataclasses.replace(one, output_dir=tmp_path / "two" / "bart", settings=one.settings.model_copy(
        update={"resources": Resources(cpus=1, workers=2)}))
    alone = train_candidate(one, RecordingReporter())
    connect(RayConfig(num_cpus=2, dashboard=False))
    handler = signal.getsignal(signal.SIGINT)
    try:
        shared = train_candidate(two, RecordingReporter())
    finally:
        disconnect()
    assert signal.getsignal(signal.SIGINT) is handler  # Ray Train's own Ctrl-C handler is gone with its run

    assert shared.steps == alone.steps == 24
    logs = {rank: (two.output_dir / name).read_text(encoding="utf-8")
            for rank, name in ((0, "train.log"), (1, "train.rank1.log"))}
    for rank, text in logs.items():
        assert f"[rank {rank}/2]" in text
        (match,) = BATCHES.findall(text)
        assert match == (str(rank), "2", "8", "4"), match  # 64 training rows: 8 batches of 4 on each rank
    loss_one, loss_two = alone.metrics["train_loss"], shared.metrics["train_loss"]
    assert abs(loss_two - loss_one) / loss_one < 0.02, (loss_one, loss_two)
    assert (two.output_dir / "checkpoint" / "model.safetensors").is_file()
    assert not (two.output_dir / "ray-train").exists()


@pytest.mark.integration
def test_a_dead_worker_fails_its_candidate_named_and_the_retry_trains_it(tmp_path: Path) -> None:
    """Worker 1 of 2 dies (os._exit) at its 6th step: the candidate fails as a crash naming that
    worker, is retried (max_retries 1) from the checkpoint of step 4 and succeeds; the other
    candidate never notices, and no Ray Train worker process outlives the run. With storage (no run directory shared with the
    nodes): the workers share their node's copy, the checkpoints rank 0 seals are pushed while it
    trains, and the outputs of both ranks come back to the run directory."""
    from tests.conftest import run_cli

    model = faulty_bart(tmp_path / "faulty", "exit_at", 6, rank=1, once=True, marker=tmp_path / "died")
    raw = tiny_experiment(tmp_path, [
        {"name": "shared", "source": str(model), "family": "seq2seq", "trust_remote_code": True,
         "resources": {"cpus": 0.5, "workers": 2}},
        {"name": "alone", "source": "scratch:bart-tiny", "family": "seq2seq", "resources": {"cpus": 0.5}},
    ], ensemble={"strategy": "none"}, optimize={"enabled": False},
        storage={"uri": str(tmp_path / "shared-storage"), "scratch_dir": str(tmp_path / "scratch")})
    raw["defaults"].update(batch_size=8, max_steps=12, checkpoint_every=4)
    path = write_yaml(tmp_path / "exp.yaml", raw)

    proc = run_cli("run", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = load_config(path).run_dir
    summary = read_json(run_dir / "summary.json")
    shared = summary["models"]["shared"]
    assert shared["status"] == "succeeded" and shared["attempts"] == 2, shared
    assert "training worker 1 of 2" in shared["retries"][0], shared["retries"]
    assert shared["resumed_from_step"] == 4 and shared["steps"] == 12, shared
    assert read_json(run_dir / "status.json")["stages"]["train"]["live"]["shared"]["workers"] == 2  # the live table's
    assert (tmp_path / "died").is_file()
    assert summary["models"]["alone"]["status"] == "succeeded" and summary["models"]["alone"]["attempts"] == 1
    error_log = (run_dir / "errors" / "shared.log").read_text(encoding="utf-8")
    assert "training worker 1 of 2" in error_log
    output = run_dir / "models" / "shared"
    assert (output / "checkpoint" / "model.safetensors").is_file() and (output / "train.rank1.log").is_file()
    assert "checkpoint file(s) to" in (output / "train.log").read_text(encoding="utf-8")  # pushed as it trained
    deadline = time.monotonic() + 30
    while (left := [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
                    if "RayTrainWorker" in " ".join(p.info["cmdline"] or [])]) and time.monotonic() < deadline:
        time.sleep(1)
    assert not left, left


def test_the_worker_that_died_explains_the_failure_not_the_peers_it_cut_off() -> None:
    from ray.train.v2._internal.exceptions import WorkerHealthCheckFailedError

    from contract.errors import WorkerDied
    from models.distributed import first_failure
    from orchestrator.failures import FailureKind, classify

    lost = RuntimeError("[gloo/transport/tcp/pair.cc:553] Connection closed by peer [127.0.0.1]:35228")
    death = WorkerHealthCheckFailedError("A worker health check failed. The actor is dead because its worker "
                                         "process has died. Worker exit type: SYSTEM_ERROR", failure=RuntimeError())
    died = first_failure({0: lost, 1: death}, 2)
    assert isinstance(died, WorkerDied) and died.worker == 1
    failure = classify(died)
    assert failure.kind == FailureKind.CRASH and failure.reason.startswith("training worker 1 of 2 died")

    own = first_failure({0: lost, 3: ValueError("bad shape")}, 4)
    assert isinstance(own, ValueError) and str(own) == "training worker 3 of 4: bad shape"
    oom = first_failure({1: RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")}, 2)
    assert classify(oom).kind == FailureKind.OUT_OF_MEMORY  # the retry policy halves the batch, as for one process


@pytest.mark.integration
def test_a_data_parallel_candidate_past_its_limit_leaves_no_worker_group_behind(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Worker 1 hangs at its 3rd step; the stall limit kills the candidate's actor. Ray Train's
    controller and workers end with it, and the supervisor removes the placement group, which
    Ray would otherwise keep reserved (with its CPUs) after the actor that called `fit` is gone."""
    import ray

    from orchestrator.cluster import ClusterInfo
    from orchestrator.stages.train import candidate_job
    from orchestrator.supervisor import Supervisor
    from orchestrator.work import training_item

    model = faulty_bart(tmp_path / "hangs", "hang_at", 3, rank=1)
    raw = tiny_experiment(tmp_path, [{"name": "hangs", "source": str(model), "family": "seq2seq",
                                      "trust_remote_code": True, "resources": {"workers": 2}}])
    raw["defaults"].update(batch_size=8, max_steps=12, max_retries=0,
                           timeouts={"load": 240, "first_step": 240, "total": 600, "stall": 10})
    config = validate_raw(raw)
    data = make_job(tmp_path, {"name": "x", "source": "scratch:bart-tiny", "family": "seq2seq"}).data
    job = candidate_job(config, config.models[0], data, (), tmp_path / "run")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with caplog.at_level(logging.INFO, logger="orchestrator"):  # the supervisor and placement.py
            [outcome] = Supervisor([training_item(job)], ClusterInfo("local", None, 2, 0, True), tmp_path / "run",
                                   lambda *_: None).run()
        assert outcome.status == "timed_out" and "stall" in outcome.error, outcome
        assert "removed its worker group's placement group" in caplog.text
        deadline = time.monotonic() + 20
        while (held := [g for g in ray.util.placement_group_table().values() if g["state"] != "REMOVED"]) \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not held, held
        while ray.available_resources().get("CPU") != 2.0 and time.monotonic() < deadline + 20:
            time.sleep(0.5)  # the killed workers' processes take a moment to go
        assert ray.available_resources().get("CPU") == 2.0, ray.available_resources()
    finally:
        ray.shutdown()


@pytest.mark.integration
def test_a_killed_driver_leaves_no_worker_group_or_placement_group_on_a_shared_cluster(tmp_path: Path) -> None:
    """SIGKILL of `orchestrator run` on a cluster that lives on (`ray.address`) while a candidate
    trains over 2 workers: its actor, Ray Train's controller and workers and their placement
    group all go with the driver's job, and the cluster's CPUs are free again (orphaned
    placement groups holding GPUs are a known failure of Ray-based trainers)."""
    import os
    import subprocess
    import sys

    import ray
    from ray.cluster_utils import Cluster

    from tests.conftest import REPO
    from tests.test_multinode import live_state

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    try:
        raw = tiny_experiment(tmp_path, [{"name": "wide", "source": "scratch:bart-tiny", "family": "seq2seq",
                                          "resources": {"cpus": 1, "workers": 2}}], ensemble={"strategy": "none"})
        raw["defaults"].update(batch_size=8, max_steps=2000, checkpoint_every=1000)
        raw["ray"] = {"address": cluster.address, "dashboard": False}
        path = write_yaml(tmp_path / "wide.yaml", raw)
        run_dir = load_config(path).run_dir
        driver = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", str(path)], cwd=REPO,
                                  env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while (live_state(run_dir).get("wide", {}).get("step") or 0) < 5:
                assert driver.poll() is None and time.monotonic() < deadline, "the candidate never trained"
                time.sleep(0.2)
            ray.init(address=cluster.address, log_to_driver=False)
            groups = [g for g in ray.util.placement_group_table().values() if g["state"] == "CREATED"]
            assert len(groups) == 1 and len(groups[0]["bundles"]) == 2, groups  # the worker group's
            names = cluster_process_names(cluster)
            assert sum(n.startswith("ray::RayTrainWorker") for n in names) == 2, names
            driver.kill()
            driver.wait(timeout=30)
        finally:
            if driver.poll() is None:
                driver.kill()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            held = [g for g in ray.util.placement_group_table().values() if g["state"] != "REMOVED"]
            alive = [n for n in cluster_process_names(cluster)
                     if n.startswith(("ray::StageWorker", "ray::RayTrain", "ray::TrainController"))]
            if not held and not alive and ray.available_resources().get("CPU") == 2.0:
                break
            time.sleep(0.5)
        assert not held and not alive, (held, alive)
        assert ray.available_resources().get("CPU") == 2.0, ray.available_resources()
    finally:
        ray.shutdown()
        cluster.shutdown()


def cluster_process_names(cluster: Any) -> list[str]:
    """The process names under this cluster's raylet (its workers and actors), whatever else runs
    on the machine."""
    from ray._private.ray_constants import PROCESS_TYPE_RAYLET

    raylet = psutil.Process(cluster.head_node.all_processes[PROCESS_TYPE_RAYLET][0].process.pid)
    names = []
    for process in raylet.children(recursive=True):
        try:
            names.append(process.cmdline()[0])
        except (psutil.Error, IndexError):
            continue  # ended, or no command line
    return names
