"""Actor lifecycle: queue, launch, watch, time out, collect, retry or record.

The one execution path for every supervised piece of work: a run's training, each ensemble step,
optimize, `predict` and each tune trial (`orchestrator.work`). Items start as soon as their
resources are free (the driver keeps the queue, so order and timeouts are its own, not Ray's
pending-actor order), preferring an item whose candidate already has a warm worker: what fits
and what goes next are `scheduling.choose`'s decisions, carried out here. Each item has one
record (`lifecycle.ItemRecord`) whose state says where it is. Every poll judges each running
item by `limits.limit_passed`. An item that fails (exception, crash or timeout) has its worker
killed and its failure classified; the `RetryPolicy` it was given decides what happens next. A
worker whose item succeeded goes back to the `WorkerPool` for the candidate's next step.
Nothing an item does can stop the others.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError

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
from orchestrator.lifecycle import ItemRecord, ItemState, Ledger
from orchestrator.limits import Clock, limit_passed
from orchestrator.outcome import Outcome
from orchestrator.placement import (
    GroupReservation,
    Placement,
    actor_options,
    actor_resources,
    no_node_for,
    remove_worker_group,
)
from orchestrator.scheduling import Queued, Verdict, choose, shortfall
from orchestrator.status import BoardWatch, StatusBoard, StatusFile, last_logged_phase, read_phase
from orchestrator.storage import RunStorage
from orchestrator.tracking import Tracker
from orchestrator.work import WorkItem
from orchestrator.workers import StageWorker, Worker, WorkerPool

log = logging.getLogger(__name__)
INTERRUPTED_HINT = HINTS[FailureKind.INTERRUPTED]

EventSink = Callable[[str, str, dict[str, Any]], None]
LOG_TAIL_LINES = 60


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
        self.items = Ledger(items)  # each item's state, and what belongs to it
        self.stage = items[0].stage if items else "train"
        self.cluster, self.run_dir, self.on_event, self.poll_s = cluster, run_dir, on_event, poll_s
        self.max_concurrent, self.storage, self.policy, self.stop, self.tracker = (
            max_concurrent, storage, policy, stop, tracker)
        self.placement = placement or Placement()
        self.own_pool = pool is None
        self.pool = pool if pool is not None else WorkerPool()
        self.capacity = self.placement.capacity() if placement else {"CPU": cluster.cpus, "GPU": cluster.gpus}
        board_name = f"status/{run_dir.name}-{time.time_ns()}"
        self.board = StatusBoard.options(name=board_name).remote()  # type: ignore[attr-defined]
        self.watch = BoardWatch(self.board, self.stage, on_event, tracker)
        self.workers_started = 0  # new actor processes; a warm worker's reuse starts none
        self.decided = dict(decided or {})
        self.status_file = StatusFile(run_dir, self.stage)

    # ------------------------------------------------------------------ main loop

    def run(self) -> list[Outcome]:
        for record in self.items:
            item = record.item
            reason = shortfall(self._need(item), self.capacity) or no_node_for(item, self.placement, self.storage)
            if reason is not None:
                self._record(record, Status.SKIPPED, Phase.QUEUED, reason,
                             hint="lower the candidate's resources or add nodes", failure_kind="config")
            else:
                self.on_event(item.label, "queued", {})
        try:
            while self.items.queued() or self.items.running():
                if self.stopping:
                    self._stop_work()
                self._refresh_capacity()
                self._launch_what_fits()
                running = {record.ref: record for record in self.items.running()}
                ready, _ = ray.wait(list(running), num_returns=len(running), timeout=self.poll_s)
                if not running:  # the queue waits on a reservation: nothing to wait on yet
                    time.sleep(self.poll_s)
                self.watch.poll({r.name: r.item for r in running.values()})  # first: a failure's last phase counts
                for ref in ready:
                    self._collect(running[ref])
                self._enforce_limits()
                self._write_status()
            if self.stopping:
                raise RunInterrupted(self.items.outcomes(), self.stop)  # type: ignore[arg-type]
        finally:
            for record in self.items.running():  # only when the supervisor itself failed
                self._kill(record)
                record.abandon()
            for record in self.items:
                if record.reservation is not None:
                    record.reservation.release()
            if self.own_pool:
                self.pool.close()
            ray.kill(self.board, no_restart=True)
            self._write_status()
        return self.items.outcomes()

    # ------------------------------------------------------------------ stopping on request

    @property
    def stopping(self) -> bool:
        return self.stop is not None and self.stop.requested

    def _stop_work(self) -> None:
        """Nothing more starts; a running training is asked to save and stop, and killed if it has
        not within its `timeouts.stop_grace`; any other running item is killed at once."""
        assert self.stop is not None
        now = time.time()
        queued, running = self.items.queued(), self.items.in_state(ItemState.PLACING, ItemState.RUNNING)
        if queued or running:  # the first poll that stops: nothing was stopping yet
            log.warning("%s: stopping %d running and %d queued item(s)", self.stage, len(running), len(queued))
            for record in queued:
                self._record(record, Status.INTERRUPTED, Phase.QUEUED, self.stop.reason, failure_kind="interrupted",
                             hint=INTERRUPTED_HINT)
            self.board.request_stop.remote()
            for record in running:
                saves = record.item.step.saves_on_stop
                record.stop(now + (record.item.job.settings.timeouts.stop_grace if saves else 0.0))
        for record in self.items.in_state(ItemState.STOPPING):
            if now < record.stop_deadline:
                continue
            self._kill(record)
            late = "; it had not saved within timeouts.stop_grace" if record.item.step.saves_on_stop else ""
            self._record(record, Status.INTERRUPTED, self.watch.phase(record.name), self.stop.reason + late,
                         failure_kind="interrupted", hint=INTERRUPTED_HINT)

    # ------------------------------------------------------------------ scheduling

    def _need(self, item: WorkItem) -> dict[str, float]:
        return actor_resources(item.job, self.cluster, item.workers)

    def _refresh_capacity(self) -> None:
        """The capacity now: a node that leaves takes its share with it, so the queue waits
        instead of launching actors Ray cannot place."""
        capacity = self.placement.capacity()
        if capacity != self.capacity:
            log.info("cluster capacity now %g CPUs, %g GPUs (was %g, %g)", capacity["CPU"], capacity["GPU"],
                     self.capacity["CPU"], self.capacity["GPU"])
            self.capacity = capacity

    def _launch_what_fits(self) -> None:
        """Launch queued items while `scheduling.choose` says so, ending the idle workers it names
        to make room; a data-parallel item launches once its reservation has found its nodes."""
        while queued := self.items.queued():
            running = self.items.running()
            choice = choose(
                [Queued(r.name, self._need(r.item), r.item.workers > 1 and self.placement.bundle is None)
                 for r in queued],
                [r.worker.resources for r in running if r.worker is not None], list(self.pool.idle.values()),
                self.capacity, max_concurrent=self.max_concurrent, placing=self._placing(),
            )
            for name in choice.release:
                self.pool.release(name)
            if choice.item is None:
                return
            record = self.items[choice.item.name]
            item = record.item
            if choice.verdict is Verdict.RESERVE:
                nodes = self._reserved_nodes(record)
                if nodes is None:
                    return
                item = item.with_job(dataclasses.replace(item.job, nodes=nodes))
            self._launch(record, item, choice.item.need)

    def _reserved_nodes(self, record: ItemRecord) -> tuple[str, ...] | None:
        """The nodes a data-parallel item's workers fit on now (see `GroupReservation`); None
        while Ray has not found room, and the queue waits, in order, as for any item."""
        item = record.item
        if record.reservation is None:
            per_worker = worker_group_scaling(item.job)["resources_per_worker"]
            record.reserve(GroupReservation(per_worker, item.workers, one_node=self.storage is not None))
        assert record.reservation is not None
        nodes = record.reservation.nodes()
        if nodes is not None:
            log.info("%s: room for its %d workers on %d node(s) (%s)", item.label, item.workers, len(set(nodes)),
                     record.reservation.strategy)
        return nodes

    def _placing(self) -> bool:
        """Whether a launched worker group has yet to take the room its reservation found: until
        it has (its placement group on the board), nothing else launches, so nothing takes that room."""
        for record in self.items.in_state(ItemState.PLACING):
            group = self.watch.state(record.name).get("placement_group")
            if group is not None and group != record.group_before:
                record.placed()
        return bool(self.items.in_state(ItemState.PLACING))

    def _launch(self, record: ItemRecord, item: WorkItem, need: dict[str, float]) -> None:
        job = item.job
        job.output_dir.mkdir(parents=True, exist_ok=True)
        worker = self.pool.take(item.name, need)
        warm = worker is not None
        if worker is None:
            self.workers_started += 1
            options = actor_options(item, need, self.placement, self.storage)
            actor = StageWorker.options(**options).remote(self.storage)  # type: ignore[attr-defined]
            worker = Worker(actor, item.name, need)
        placing = item.workers > 1 and bool(item.job.nodes)
        group_before = self.watch.state(item.name).get("placement_group") if placing else None
        ref = worker.actor.run.remote(item, self.board)
        record.launch(item, worker, ref, time.time(), self.items.last(), placing=placing, group_before=group_before)
        if self.tracker is not None:
            self.tracker.started(item)
        self.on_event(item.label, "launched", {"resources": need, "attempt": job.attempt, "warm": warm})

    # ------------------------------------------------------------------ results

    def _collect(self, record: ItemRecord) -> None:
        item, worker = record.item, record.worker
        assert worker is not None
        try:
            result = ray.get(record.ref)
        except (RayTaskError, RayActorError) as exc:
            self._kill(record)
            self._bring_back(item, required=False)
            failure, phase = self._unwrap(exc, item)
            self._handle_failure(record, failure, str(exc), phase=phase)
            return
        try:
            self._bring_back(item, required=True)
        except Exception as exc:  # noqa: BLE001 - storage unreachable: this item fails, the run goes on
            ray.kill(worker.actor, no_restart=True)
            where = self.storage.location if self.storage else "storage"
            self._handle_failure(record, classify(exc), f"fetching its outputs from {where}: {exc}")
            return
        if item.workers == 1:
            self.pool.put(worker)
        else:  # its worker group is gone with its resources; the candidate's next step starts its own actor
            ray.kill(worker.actor, no_restart=True)
        details = result_dict(result)
        self._record(
            record, Status.SUCCEEDED, Phase.DONE, None, metrics=details.get("metrics", {}),
            checkpoint=details.get("checkpoint"), details=details, result=result,
        )

    def _kill(self, record: ItemRecord) -> None:
        """End an item's actor; for a data-parallel training, also the placement group its Ray
        Train worker group holds (noted on the board), which would outlive the actor."""
        assert record.worker is not None
        ray.kill(record.worker.actor, no_restart=True)
        group = self.watch.state(record.name).get("placement_group") if record.item.workers > 1 else None
        if group is not None:
            remove_worker_group(group, record.item.label)

    def _unwrap(self, exc: BaseException, item: WorkItem) -> tuple[Failure, Phase | None]:
        """The failure behind what Ray raised, and the phase it happened in: an exception raised
        in the actor (unwrapped from RayTaskError), or the actor's death (its log tells the phase)."""
        tail = log_tail(item.log_file)
        if isinstance(exc, RayTaskError):
            cause = exc.cause if exc.cause is not None else exc
            return classify(cause, log_tail=tail), read_phase(getattr(cause, "phase", None), f"{item.label}'s error")
        return classify(exc, died=True, log_tail=tail), last_logged_phase(tail)

    def _handle_failure(self, record: ItemRecord, failure: Failure, detail: str, phase: Phase | None = None) -> None:
        """Log the failure, then retry (at the head of the queue) or record it, as the policy says."""
        item, job = record.item, record.item.job
        phase = phase or self.watch.phase(job.name)
        log_path = self._write_error_log(item, failure, detail)
        decision = self.policy.decide(failure, job)
        log.info("%s: %s -> %s", item.label, failure.reason, decision.why)
        if decision.retry and decision.job is not None and not self.stopping:
            record.retry(item.with_job(decision.job), f"attempt {job.attempt}: {failure.reason}; {decision.why}",
                         self.items.first())
            self.watch.forget(job.name)
            if self.tracker is not None:
                self.tracker.retrying(item, failure.reason)
            self.on_event(item.label, "retrying", {"reason": failure.reason, "why": decision.why})
            return
        self._record(record, failure.status, phase, failure.reason, hint=failure.hint, log=str(log_path),
                     failure_kind=failure.kind.value)

    def _record(self, record: ItemRecord, status: Status, phase: Phase, error: str | None, **extra: Any) -> None:
        item, job = record.item, record.item.job
        started = record.first_launched if record.first_launched is not None else time.time()
        outcome = Outcome(
            name=job.name, status=status, phase=phase, error=error,
            wall_s=round(time.time() - started, 2), attempts=job.attempt, finished_at=time.time(),
            retries=record.retries, **extra,
        )
        record.end(outcome, self.items.last())
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

    def _enforce_limits(self) -> None:
        now = time.time()
        for record in self.items.running():
            state = self.watch.state(record.name)
            clock = Clock(record.launched, state.get("phase_since"), state.get("last_report"))
            passed = limit_passed(self.watch.phase(record.name), record.item.job.settings.timeouts, clock, now)
            if passed is None:
                continue
            self._kill(record)
            failure = timeout_failure(passed.limit, passed.phase, passed.seconds, record.name)
            detail = f"{failure.reason}; killed {now - record.launched:.1f} s after launch"
            self._handle_failure(record, failure, detail)

    def _write_status(self) -> None:
        self.status_file.write({
            "running": {r.name: {"launched": r.launched, "attempt": r.item.job.attempt} for r in self.items.running()},
            "queued": [record.name for record in self.items.queued()],
            "live": self.watch.snapshot,
            "finished": {**{name: o.to_dict() for name, o in self.decided.items()},
                         **{r.name: r.outcome.to_dict() for r in self.items.ended() if r.outcome is not None}},
            "workers_started": self.workers_started,
        })
