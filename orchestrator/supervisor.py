"""Actor lifecycle: queue, launch, watch, time out, collect, retry or record.

The one execution path for every supervised piece of work: a run's training, each ensemble step,
optimize, `predict` and each tune trial (`orchestrator.work`). Items start as soon as their
resources are free (the driver keeps the queue, so order and timeouts are its own, not Ray's
pending-actor order), preferring an item whose candidate already has a warm worker. Every poll
judges each running item by `limits.limit_passed`. An item that fails (exception, crash or
timeout) has its worker killed and its failure classified; the `RetryPolicy` it was given decides
what happens next. A worker whose item succeeded goes back to the `WorkerPool` for the
candidate's next step. Nothing an item does can stop the others.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError

from contract.job import worker_group_scaling
from contract.phases import Phase, Status
from contract.work import result_dict
from orchestrator.cluster import ClusterInfo
from orchestrator.failures import (
    DEFAULT_POLICY,
    HINTS,
    Failure,
    FailureKind,
    RetryPolicy,
    classify,
    one_line,
    timeout_failure,
)
from orchestrator.interrupts import RunInterrupted, StopRequest
from orchestrator.limits import Clock, limit_passed
from orchestrator.outcome import Outcome
from orchestrator.placement import GroupReservation, Placement, actor_resources, fits_one_node, shortfall
from orchestrator.status import StatusBoard, StatusFile, last_logged_phase, read_phase
from orchestrator.storage import RunStorage
from orchestrator.tracking import Tracker
from orchestrator.work import WorkItem
from orchestrator.workers import StageWorker, Worker, WorkerPool

log = logging.getLogger(__name__)
INTERRUPTED_HINT = HINTS[FailureKind.INTERRUPTED]

EventSink = Callable[[str, str, dict[str, Any]], None]
LOG_TAIL_LINES = 60


@dataclass
class _Running:
    item: WorkItem
    worker: Worker
    ref: Any
    launched: float


def log_tail(path: Path) -> str:
    """The last LOG_TAIL_LINES lines of a log ("" when there is none yet): what error logs and
    the failure classification read after a failure."""
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:])


class Supervisor:
    def __init__(
        self,
        items: list[WorkItem],
        cluster: ClusterInfo,
        run_dir: Path,
        on_event: EventSink,
        poll_s: float = 0.5,
        max_concurrent: int | None = None,
        decided: dict[str, Outcome] | None = None,
        storage: RunStorage | None = None,
        pool: WorkerPool | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        placement: Placement | None = None,
        stop: StopRequest | None = None,
        tracker: Tracker | None = None,
    ):
        """`max_concurrent` caps how many items run at once beyond what resources allow (the
        optimize stage runs one at a time where models would share CPU cores and skew timings).
        `decided` are outcomes known without running (skipped by preflight, resumed), shown in
        status.json beside the rest. `storage` (when the run directory is not shared) is where
        actors hand in their outputs; the driver copies them into the run directory as each ends.
        `pool` keeps warm workers between supervisors (a run's stages); without one, this
        supervisor's workers end with it. `stop` is the run's Ctrl-C/SIGTERM: when it is set, the
        supervisor stops its work (`_stop_work`) and raises RunInterrupted. `tracker` records the
        trainings and trials in the run's experiment trackers (`orchestrator.tracking`)."""
        self.queue = deque(items)
        self.stage = items[0].stage if items else "train"
        self.cluster = cluster
        self.run_dir = run_dir
        self.on_event = on_event
        self.poll_s = poll_s
        self.max_concurrent = max_concurrent
        self.storage = storage
        self.policy = policy
        self.placement = placement or Placement()
        self.own_pool = pool is None
        self.pool = pool if pool is not None else WorkerPool()
        self.capacity = self.placement.capacity() if placement else {"CPU": cluster.cpus, "GPU": cluster.gpus}
        board_name = f"status/{run_dir.name}-{time.time_ns()}"
        self.board = StatusBoard.options(name=board_name).remote()  # type: ignore[attr-defined]
        self.running: dict[Any, _Running] = {}
        self.workers_started = 0  # new actor processes; a warm worker's reuse starts none
        self.stop = stop
        self.tracker = tracker
        self.stop_deadlines: dict[Any, float] = {}  # while stopping: when each running item is killed
        self.first_launch: dict[str, float] = {}
        self.retry_notes: dict[str, list[str]] = {}
        self.outcomes: dict[str, Outcome] = dict(decided or {})
        self.snapshot: dict[str, dict[str, Any]] = {}
        self.status_file = StatusFile(run_dir, self.stage)
        self.reservations: dict[str, GroupReservation] = {}  # data-parallel items at the head of the queue
        self.placing: dict[str, str | None] = {}  # launched worker groups not yet placed: their board's last group

    # ------------------------------------------------------------------ main loop

    def run(self) -> list[Outcome]:
        order = [item.name for item in self.queue]
        for item in list(self.queue):
            if (reason := shortfall(self._need(item), self.capacity) or self._no_node_for(item)) is not None:
                self.queue.remove(item)
                self._record(item, Status.SKIPPED, Phase.QUEUED, reason,
                             hint="lower the candidate's resources or add nodes", failure_kind="config")
            else:
                self.on_event(item.label, "queued", {})
        try:
            while self.queue or self.running:
                if self.stopping:
                    self._stop_work()
                self._refresh_capacity()
                self._launch_what_fits()
                ready, _ = ray.wait(list(self.running), num_returns=len(self.running), timeout=self.poll_s)
                if not self.running:  # the queue waits on a reservation: nothing to wait on yet
                    time.sleep(self.poll_s)
                self._poll_board()  # before collecting, so a failure is told with its last phase
                for ref in ready:
                    self._collect(self.running.pop(ref))
                self._enforce_limits()
                self._write_status()
            if self.stopping:
                raise RunInterrupted([self.outcomes[name] for name in order], self.stop)  # type: ignore[arg-type]
        finally:
            for entry in self.running.values():
                self._kill(entry)
            self.running.clear()
            for reservation in self.reservations.values():
                reservation.release()
            if self.own_pool:
                self.pool.close()
            ray.kill(self.board, no_restart=True)
            self._write_status()
        return [self.outcomes[name] for name in order]

    # ------------------------------------------------------------------ stopping on request

    @property
    def stopping(self) -> bool:
        return self.stop is not None and self.stop.requested

    def _stop_work(self) -> None:
        """Nothing more starts; a running training is asked to save and stop, and killed if it has
        not within its `timeouts.stop_grace`; any other running item is killed at once."""
        assert self.stop is not None
        now = time.time()
        if not self.stop_deadlines and (self.queue or self.running):
            log.warning("%s: stopping %d running and %d queued item(s)", self.stage, len(self.running),
                        len(self.queue))
            for item in self.queue:
                self._record(item, Status.INTERRUPTED, Phase.QUEUED, self.stop.reason, failure_kind="interrupted",
                             hint=INTERRUPTED_HINT)
            self.queue.clear()
            self.board.request_stop.remote()
            for ref, entry in self.running.items():
                saves = entry.item.step.saves_on_stop
                self.stop_deadlines[ref] = now + (entry.item.job.settings.timeouts.stop_grace if saves else 0.0)
        for ref, deadline in list(self.stop_deadlines.items()):
            if ref not in self.running or now < deadline:
                continue
            stopped = self.running.pop(ref)
            self._kill(stopped)
            phase = self._board_phase(stopped.item.name)
            late = "; it had not saved within timeouts.stop_grace" if stopped.item.step.saves_on_stop else ""
            self._record(stopped.item, Status.INTERRUPTED, phase, self.stop.reason + late, failure_kind="interrupted",
                         hint=INTERRUPTED_HINT)

    # ------------------------------------------------------------------ scheduling

    def _need(self, item: WorkItem) -> dict[str, float]:
        return actor_resources(item.job, self.cluster, item.workers)

    def _used(self, keep: str | None) -> dict[str, float]:
        used = self.pool.held(keep)
        for entry in self.running.values():
            for key, value in entry.worker.resources.items():
                used[key] = used.get(key, 0.0) + value
        return used

    def _fits(self, need: dict[str, float], keep: str) -> bool:
        used = self._used(keep)
        return all(used.get(k, 0.0) + need[k] <= self.capacity.get(k, 0.0) + 1e-9 for k in need)

    def _refresh_capacity(self) -> None:
        """The capacity now: a node that leaves takes its share with it, so the queue waits
        instead of launching actors Ray cannot place."""
        capacity = self.placement.capacity()
        if capacity != self.capacity:
            log.info("cluster capacity now %g CPUs, %g GPUs (was %g, %g)", capacity["CPU"], capacity["GPU"],
                     self.capacity["CPU"], self.capacity["GPU"])
            self.capacity = capacity

    def _next(self) -> WorkItem:
        """The first queued item whose candidate has a warm worker, else the head of the queue."""
        for item in self.queue:
            if self.pool.has(item.name, self._need(item)):
                return item
        return self.queue[0]

    def _launch_what_fits(self) -> None:
        while self.queue:
            if self.max_concurrent is not None and len(self.running) >= self.max_concurrent:
                return
            if self._placing():
                return
            item = self._next()
            need = self._need(item)
            wanted = {queued.name for queued in self.queue}
            while not self._fits(need, item.name) and self.pool.release(item.name, wanted):
                pass
            if self.running and not self._fits(need, item.name):
                return
            launched = item
            if item.workers > 1 and self.placement.bundle is None:
                nodes = self._reserved_nodes(item)
                if nodes is None:
                    return
                launched = item.with_job(dataclasses.replace(item.job, nodes=nodes))
            self.queue.remove(item)
            self._launch(launched, need)

    def _no_node_for(self, item: WorkItem) -> str | None:
        """With storage, a data-parallel training's workers share its node's copy of the run
        directory: why no node can hold them all, or None."""
        if self.storage is None or item.workers == 1 or self.placement.bundle is not None:
            return None
        per_worker = worker_group_scaling(item.job)["resources_per_worker"]
        if fits_one_node(per_worker, item.workers):
            return None
        each = ", ".join(f"{v:g} {k}" for k, v in per_worker.items() if k != "memory")
        return (f"with storage, its {item.workers} workers share one node's copy of the run directory, and no node "
                f"has room for {item.workers} x ({each})")

    def _reserved_nodes(self, item: WorkItem) -> tuple[str, ...] | None:
        """The nodes a data-parallel item's workers fit on now (see `GroupReservation`); None
        while Ray has not found room, and the queue waits, in order, as for any item."""
        reservation = self.reservations.get(item.name)
        if reservation is None:
            per_worker = worker_group_scaling(item.job)["resources_per_worker"]
            reservation = self.reservations[item.name] = GroupReservation(per_worker, item.workers,
                                                                          one_node=self.storage is not None)
        nodes = reservation.nodes()
        if nodes is not None:
            del self.reservations[item.name]
            log.info("%s: room for its %d workers on %d node(s) (%s)", item.label, item.workers, len(set(nodes)),
                     reservation.strategy)
        return nodes

    def _placing(self) -> bool:
        """Whether a launched worker group has yet to take the room its reservation found: until
        it has (its placement group on the board), nothing else launches, so nothing takes that room."""
        running = {entry.item.name for entry in self.running.values()}
        for name, before in list(self.placing.items()):
            group = self.snapshot.get(name, {}).get("placement_group")
            if name not in running or (group is not None and group != before):
                del self.placing[name]
        return bool(self.placing)

    def _launch(self, item: WorkItem, need: dict[str, float]) -> None:
        job = item.job
        job.output_dir.mkdir(parents=True, exist_ok=True)
        worker = self.pool.take(item.name, need)
        warm = worker is not None
        if worker is None:
            self.workers_started += 1
            # A data-parallel training's actor only drives Ray Train, whose worker group holds `need`.
            own = need if item.workers == 1 else {"CPU": 0.0, "GPU": 0.0}
            options: dict[str, Any] = {"name": item.actor_name, "num_cpus": own["CPU"], "num_gpus": own["GPU"],
                                       **self.placement.options()}
            if job.settings.resources.memory_gb and item.workers == 1:
                options["memory"] = int(job.settings.resources.memory_gb * 2**30)
            if item.workers > 1 and self.storage is not None and job.nodes:  # beside its workers, in one node's copy
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(job.nodes[0], soft=False)
            actor = StageWorker.options(**options).remote(self.storage)  # type: ignore[attr-defined]
            worker = Worker(actor, item.name, need)
        if item.workers > 1 and item.job.nodes:
            self.placing[item.name] = self.snapshot.get(item.name, {}).get("placement_group")
        ref = worker.actor.run.remote(item, self.board)
        now = time.time()
        self.running[ref] = _Running(item, worker, ref, now)
        self.first_launch.setdefault(item.name, now)
        if self.tracker is not None:
            self.tracker.started(item)
        self.on_event(item.label, "launched", {"resources": need, "attempt": job.attempt, "warm": warm})

    # ------------------------------------------------------------------ results

    def _collect(self, entry: _Running) -> None:
        try:
            result = ray.get(entry.ref)
        except (RayTaskError, RayActorError) as exc:
            self._kill(entry)
            self._bring_back(entry.item, required=False)
            failure, phase = self._unwrap(exc, entry.item)
            self._handle_failure(entry, failure, str(exc), phase=phase)
            return
        try:
            self._bring_back(entry.item, required=True)
        except Exception as exc:  # noqa: BLE001 - storage unreachable: this item fails, the run goes on
            ray.kill(entry.worker.actor, no_restart=True)
            where = self.storage.location if self.storage else "storage"
            self._handle_failure(entry, classify(exc), f"fetching its outputs from {where}: {exc}")
            return
        if entry.item.workers == 1:
            self.pool.put(entry.worker)
        else:  # its worker group is gone with its resources; the candidate's next step starts its own actor
            ray.kill(entry.worker.actor, no_restart=True)
        details = result_dict(result)
        self._record(
            entry.item, Status.SUCCEEDED, Phase.DONE, None, metrics=details.get("metrics", {}),
            checkpoint=details.get("checkpoint"), details=details, result=result,
        )

    def _kill(self, entry: _Running) -> None:
        """End an item's actor; for a data-parallel training, also the placement group its Ray
        Train worker group holds (noted on the board), which would outlive the actor."""
        ray.kill(entry.worker.actor, no_restart=True)
        group = self.snapshot.get(entry.item.name, {}).get("placement_group") if entry.item.workers > 1 else None
        if group is None:
            return
        from ray.util.placement_group import PlacementGroup, remove_placement_group

        try:
            remove_placement_group(PlacementGroup(ray.PlacementGroupID(bytes.fromhex(group))))
        except Exception as exc:  # noqa: BLE001 - removed already (Ray Train ended it first)
            log.debug("placement group %s of %s: %s", group, entry.item.label, one_line(exc))
        else:
            log.info("%s: removed its worker group's placement group %s", entry.item.label, group)

    def _unwrap(self, exc: BaseException, item: WorkItem) -> tuple[Failure, Phase | None]:
        """The failure behind what Ray raised, and the phase it happened in: an exception raised
        in the actor (unwrapped from RayTaskError), or the actor's death (its log tells the phase)."""
        tail = log_tail(item.log_file)
        if isinstance(exc, RayTaskError):
            cause = exc.cause if exc.cause is not None else exc
            return classify(cause, log_tail=tail), read_phase(getattr(cause, "phase", None), f"{item.label}'s error")
        return classify(exc, died=True, log_tail=tail), last_logged_phase(tail)

    def _handle_failure(self, entry: _Running, failure: Failure, detail: str, phase: Phase | None = None) -> None:
        """Log the failure, then retry (at the head of the queue) or record it, as the policy says."""
        item, job = entry.item, entry.item.job
        phase = phase or self._board_phase(job.name)
        log_path = self._write_error_log(item, failure, detail)
        decision = self.policy.decide(failure, job)
        log.info("%s: %s -> %s", item.label, failure.reason, decision.why)
        if decision.retry and decision.job is not None and not self.stopping:
            self.retry_notes.setdefault(job.name, []).append(f"attempt {job.attempt}: {failure.reason}; {decision.why}")
            self.queue.appendleft(item.with_job(decision.job))
            self.board.reset.remote(job.name)
            self.snapshot.pop(job.name, None)
            if self.tracker is not None:
                self.tracker.retrying(item, failure.reason)
            self.on_event(item.label, "retrying", {"reason": failure.reason, "why": decision.why})
            return
        self._record(item, failure.status, phase, failure.reason, hint=failure.hint, log=str(log_path),
                     failure_kind=failure.kind.value)

    def _record(self, item: WorkItem, status: Status, phase: Phase, error: str | None, **extra: Any) -> None:
        job = item.job
        started = self.first_launch.get(job.name, time.time())
        outcome = Outcome(
            name=job.name, status=status, phase=phase, error=error,
            wall_s=round(time.time() - started, 2), attempts=job.attempt, finished_at=time.time(),
            retries=self.retry_notes.get(job.name, []), **extra,
        )
        self.outcomes[job.name] = outcome
        if self.tracker is not None:
            self.tracker.ended(item, outcome)
        self.on_event(item.label, status, outcome.to_dict())

    def _bring_back(self, item: WorkItem, *, required: bool) -> None:
        """Copy what an ended item pushed to storage into the run directory. A success whose
        outputs cannot be fetched fails (the error is classified like any other); after a
        failure, a missing log only means a shorter error report."""
        if self.storage is None:
            return
        try:
            self.storage.collect(item)
        except Exception as exc:
            if required:
                raise
            log.warning("%s: could not fetch its files from %s: %s", item.label, self.storage.location, one_line(exc))

    def _write_error_log(self, item: WorkItem, failure: Failure, detail: str) -> Path:
        """The item's error log (errors/<name>.log, errors/<stage>-<name>.log after training, or
        what the item names): the reason, the full error (remote traceback included) and the last
        lines of the item's own log; an earlier attempt's log is kept as <name>.attempt<N>.log."""
        job = item.job
        path = item.error_log_path(self.run_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and job.attempt > 1:
            path.replace(path.with_name(f"{path.stem}.attempt{job.attempt - 1}{path.suffix}"))
        path.write_text(
            f"candidate: {job.name} (stage {item.stage}, attempt {job.attempt})\nkind: {failure.kind.value}\n"
            f"reason: {failure.reason}\nhint: {failure.hint}\n\n--- error ---\n{detail}\n\n"
            f"--- last {LOG_TAIL_LINES} lines of {item.log_file} ---\n{log_tail(item.log_file)}\n",
            encoding="utf-8",
        )
        return path

    # ------------------------------------------------------------------ watching

    def _poll_board(self) -> None:
        try:
            snapshot = ray.get(self.board.snapshot.remote(), timeout=10)
        except GetTimeoutError:
            log.warning("the status board did not answer within 10 s; keeping the last snapshot")
            return
        except (RayActorError, ActorUnavailableError) as exc:  # phases and stalls go unseen; results still arrive
            log.warning("the status board is unavailable (%s); keeping the last snapshot", one_line(exc))
            return
        if self.tracker is not None:
            self._pass_logged()
        for name, state in snapshot.items():
            before = self.snapshot.get(name, {})
            label = f"{self.stage}/{name}"
            if state.get("phase") != before.get("phase"):
                self.on_event(label, "phase", state)
            elif state.get("last_heartbeat") != before.get("last_heartbeat"):
                self.on_event(label, "heartbeat", state)
        self.snapshot = snapshot

    def _pass_logged(self) -> None:
        """The Trainer log lines the running items reported since the last poll, to the tracker."""
        try:
            logged = ray.get(self.board.take_logged.remote(), timeout=10)
        except (GetTimeoutError, RayActorError, ActorUnavailableError) as exc:
            log.warning("the status board did not hand over the logged steps (%s); the trackers miss them",
                        one_line(exc))
            return
        running = {entry.item.name: entry.item for entry in self.running.values()}
        for name, entries in logged.items():
            if name in running:
                self.tracker.logged(running[name], entries)  # type: ignore[union-attr]

    def _board_phase(self, name: str) -> Phase:
        """The item's phase on the board (queued before its first report). Every reporter sends
        a `Phase`, so a name that is none here is a bug, and fails loudly."""
        return Phase(self.snapshot.get(name, {}).get("phase", Phase.QUEUED))

    def _enforce_limits(self) -> None:
        now = time.time()
        for ref, entry in list(self.running.items()):
            state = self.snapshot.get(entry.item.name, {})
            clock = Clock(entry.launched, state.get("phase_since"), state.get("last_report"))
            passed = limit_passed(self._board_phase(entry.item.name), entry.item.job.settings.timeouts, clock, now)
            if passed is None:
                continue
            self.running.pop(ref)
            self._kill(entry)
            failure = timeout_failure(passed.limit, passed.phase, passed.seconds, entry.item.name)
            detail = f"{failure.reason}; killed {now - entry.launched:.1f} s after launch"
            self._handle_failure(entry, failure, detail)

    def _write_status(self) -> None:
        self.status_file.write({
            "running": {e.item.name: {"launched": e.launched, "attempt": e.item.job.attempt}
                        for e in self.running.values()},
            "queued": [item.name for item in self.queue],
            "live": self.snapshot,
            "finished": {name: o.to_dict() for name, o in self.outcomes.items()},
            "workers_started": self.workers_started,
        })
