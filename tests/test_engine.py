"""The one execution path: the limit rule, the retry policy as an object, and warm workers that
serve a candidate's steps across supervisors (a run's stages), on a real local Ray cluster with
stand-in steps (`orchestrator.simulation`) that sleep instead of computing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from contract.job import DataFiles
from contract.phases import Limit, Phase, Status
from contract.settings import Timeouts
from orchestrator.cluster import ClusterInfo
from orchestrator.config import validate_raw
from orchestrator.failures import Action, Decision, Failure
from orchestrator.limits import Clock, limit_passed
from orchestrator.simulation import SIMULATED, SimulatedRequest
from orchestrator.stages.train import build_jobs
from orchestrator.status import StatusBoard
from orchestrator.supervisor import Supervisor
from orchestrator.work import WorkItem
from orchestrator.workers import WorkerPool
from tests.conftest import read_json, tiny_experiment

CLUSTER = ClusterInfo(address="local", dashboard_url=None, cpus=2.0, gpus=0.0, started_here=True)


def test_each_phase_is_judged_by_the_limit_it_names() -> None:
    limits = Timeouts(load=10, first_step=20, stall=30, total=100)
    assert [p.limit for p in (Phase.QUEUED, Phase.LOADING, Phase.FIRST_STEP, Phase.TRAINING, Phase.SCORING)] == [
        Limit.LOAD, Limit.LOAD, Limit.FIRST_STEP, Limit.STALL, Limit.STALL]
    assert limit_passed(Phase.LOADING, limits, Clock(launched=0), now=11).limit is Limit.LOAD
    assert limit_passed(Phase.LOADING, limits, Clock(launched=0), now=9) is None
    assert limit_passed(Phase.FIRST_STEP, limits, Clock(0, phase_since=5), now=24) is None
    assert limit_passed(Phase.FIRST_STEP, limits, Clock(0, phase_since=5), now=26).limit is Limit.FIRST_STEP
    assert limit_passed(Phase.TRAINING, limits, Clock(0, 5, last_report=40), now=69) is None
    passed = limit_passed(Phase.TRAINING, limits, Clock(0, 5, last_report=40), now=71)
    assert (passed.limit, passed.phase, passed.seconds) == (Limit.STALL, Phase.TRAINING, 30)
    assert limit_passed(Phase.TRAINING, limits, Clock(0, 5, last_report=99), now=101).limit is Limit.TOTAL
    assert f"{Status.TIMED_OUT}" == "timed_out"
    with pytest.raises(ValueError):  # an unknown phase is an error, never judged as queued (tests/test_phases.py)
        Phase("no-such-phase")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def items(tmp_path: Path, names: list[str], request: SimulatedRequest, **defaults: Any) -> list[WorkItem]:
    raw = tiny_experiment(tmp_path, [{"name": n, "source": "scratch:bart-tiny", "family": "seq2seq"} for n in names])
    raw["defaults"].update(defaults)
    config = validate_raw(raw)
    jobs = build_jobs(config, DataFiles(tmp_path / "unused.jsonl", None, None), (), tmp_path / "run")
    return [WorkItem(SIMULATED, job, request) for job in jobs]


def supervise(tmp_path: Path, work: list[WorkItem], **options: Any) -> list[Any]:
    return Supervisor(work, CLUSTER, tmp_path / "run", lambda *_: None, poll_s=0.1, **options).run()


@pytest.mark.integration
def test_out_of_memory_trains_again_smaller_and_other_errors_follow_max_retries(tmp_path: Path, local_ray: None) -> None:
    [outcome] = supervise(tmp_path, items(tmp_path, ["oom"], SimulatedRequest(0.2, 2, fail_attempts=2),
                                          batch_size=8, gradient_accumulation=1))
    assert outcome.status == Status.SUCCEEDED and outcome.attempts == 3
    assert outcome.details["batch"] == [2, 4]  # the effective batch stays 8
    assert "batch_size 4 x gradient_accumulation 2" in outcome.retries[0]

    broken = SimulatedRequest(0.2, 2, fail_attempts=9, error="ValueError: not a memory problem")
    [outcome] = supervise(tmp_path, items(tmp_path, ["broken"], broken, max_retries=0))
    assert outcome.status == Status.FAILED and outcome.attempts == 1 and outcome.failure_kind == "unknown"
    assert "not a memory problem" in Path(outcome.log).read_text(encoding="utf-8")
    assert read_json(tmp_path / "run" / "status.json")["stages"]["train"]["finished"]["broken"]["status"] == "failed"


class GiveUp:
    """A policy that never retries: the supervisor asks the one it was given, and no other."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def decide(self, failure: Failure, job: Any) -> Decision:
        self.asked.append(failure.kind.value)
        return Decision(Action.GIVE_UP, "this policy never retries")


@pytest.mark.integration
def test_the_supervisor_follows_the_policy_it_is_given(tmp_path: Path, local_ray: None) -> None:
    policy = GiveUp()
    [outcome] = supervise(tmp_path, items(tmp_path, ["oom"], SimulatedRequest(0.2, 2, fail_attempts=1)), policy=policy)
    assert outcome.status == Status.FAILED and outcome.attempts == 1 and policy.asked == ["out_of_memory"]


@pytest.mark.integration
def test_a_hang_while_loading_ends_at_the_load_limit(tmp_path: Path, local_ray: None) -> None:
    hang = SimulatedRequest(0.2, 2, hang_in_loading_s=60)
    [outcome] = supervise(tmp_path, items(tmp_path, ["hangs"], hang,
                                          timeouts={"load": 3, "first_step": 60, "stall": 60, "total": 120}))
    assert outcome.status == Status.TIMED_OUT and "the load limit of 3 s passed" in outcome.error
    assert outcome.wall_s < 30


@pytest.mark.integration
def test_a_warm_worker_serves_its_candidate_again_and_yields_to_queued_work(tmp_path: Path, local_ray: None) -> None:
    pool = WorkerPool()
    try:
        first = supervise(tmp_path, items(tmp_path, ["a", "b"], SimulatedRequest(0.2, 2)), pool=pool)
        assert sorted(pool.idle) == ["a", "b"]  # both kept, holding the cluster's 2 CPUs
        again = supervise(tmp_path, items(tmp_path, ["b", "a"], SimulatedRequest(0.2, 2)), pool=pool)
        pids = {o.name: o.details["pid"] for o in first}
        assert {o.name: o.details["pid"] for o in again} == pids  # the same processes: started once
        assert read_json(tmp_path / "run" / "status.json")["stages"]["train"]["workers_started"] == 0

        newcomer = supervise(tmp_path, items(tmp_path, ["c"], SimulatedRequest(0.2, 2)), pool=pool)
        assert newcomer[0].status == Status.SUCCEEDED  # an idle worker was released for it
        assert len(pool.idle) == 2 and "c" in pool.idle
    finally:
        pool.close()
    alone = supervise(tmp_path, items(tmp_path, ["a"], SimulatedRequest(0.2, 2)))
    assert alone[0].details["pid"] != pids["a"]  # without a shared pool, a supervisor's workers end with it


@pytest.mark.integration
def test_a_phase_overtaken_on_its_way_to_the_board_does_not_undo_the_later_one(local_ray: None) -> None:
    """Ray may run an async actor's calls out of order: `loading` arriving after `scoring` (a
    warm worker sends both within a millisecond) must not put the item back in `loading`, where
    the load limit would judge (and kill) a long scoring step."""
    board = StatusBoard.remote()
    ray.get(board.report.remote("m", "phase", {"phase": "scoring", "sent": 2}))
    ray.get(board.report.remote("m", "phase", {"phase": "loading", "sent": 1, "node_id": "n1"}))
    state = ray.get(board.snapshot.remote())["m"]
    assert state["phase"] == "scoring" and state["node_id"] == "n1" and "sent" not in state
    ray.get(board.reset.remote("m"))  # a retry starts its own order
    ray.get(board.report.remote("m", "phase", {"phase": "loading", "sent": 0}))
    assert ray.get(board.snapshot.remote())["m"]["phase"] == "loading"
