"""Actor lifecycle: queue, launch, watch, time out, collect, retry or record, kill.

One actor per work item and attempt: a candidate's training, or its part in a later stage
(`orchestrator.work`). Items start in config order as soon as the
cluster has their resources free (the driver keeps the queue, so order and timeouts are its own,
not Ray's pending-actor order). Every poll judges each running candidate against its phase
limits. A candidate that ends, by success, exception, crash or timeout, is killed so its
resources go to the next one; what happens after a failure is decided by `failures.decide`.
Nothing a candidate does can stop the others.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError

from contract.job import TrainingJob
from orchestrator.actors import StageWorker
from orchestrator.cluster import ClusterInfo
from orchestrator.failures import Failure, classify, decide, one_line, timeout_failure
from orchestrator.status import StatusBoard, last_logged_phase
from orchestrator.storage import RunStorage
from orchestrator.work import WorkItem

log = logging.getLogger(__name__)

EventSink = Callable[[str, str, dict[str, Any]], None]
LOG_TAIL_LINES = 60
STARTING_PHASES = ("queued", "loading", "first_step")  # judged by the load and first-step limits


@dataclass
class Outcome:
    """What became of one candidate; the per-model entry of summary.json."""

    name: str
    status: str  # succeeded | failed | timed_out | skipped
    phase: str
    error: str | None = None
    hint: str | None = None
    log: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    wall_s: float = 0.0
    attempts: int = 1
    failure_kind: str | None = None
    retries: list[str] = field(default_factory=list)
    resumed: bool = False
    finished_at: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Running:
    item: WorkItem
    actor: Any
    ref: Any
    launched: float
    resources: dict[str, float]


def log_tail(path: Path) -> str:
    """The last LOG_TAIL_LINES lines of a log ("" when there is none yet): what error logs and
    the failure classification read after a failure."""
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:])


def actor_resources(job: TrainingJob, cluster: ClusterInfo) -> dict[str, float]:
    """CPUs and GPUs one candidate asks for; `gpus: auto` means one where the cluster has GPUs."""
    res = job.settings.resources
    gpus = res.gpus if res.gpus is not None else (1.0 if cluster.gpus > 0 else 0.0)
    return {"CPU": res.cpus, "GPU": gpus}


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
    ):
        """`max_concurrent` caps how many items run at once beyond what resources allow (the
        optimize stage runs one at a time where models would share CPU cores and skew timings).
        `decided` are outcomes known without running (skipped by preflight, resumed), shown in
        status.json beside the rest. `storage` (when the run directory is not shared) is where
        actors hand in their outputs; the driver copies them into the run directory as each ends."""
        self.queue = deque(items)
        self.stage = items[0].stage if items else "train"
        self.cluster = cluster
        self.capacity = {"CPU": cluster.cpus, "GPU": cluster.gpus}  # follows nodes joining and leaving
        self.run_dir = run_dir
        self.on_event = on_event
        self.poll_s = poll_s
        self.max_concurrent = max_concurrent
        self.board = StatusBoard.options(name=f"status/{run_dir.name}-{time.time_ns()}").remote()
        self.running: dict[Any, _Running] = {}
        self.first_launch: dict[str, float] = {}
        self.retry_notes: dict[str, list[str]] = {}
        self.outcomes: dict[str, Outcome] = dict(decided or {})
        self.snapshot: dict[str, dict[str, Any]] = {}
        self.storage = storage
        self.earlier_stages = self._read_earlier_stages()

    # ------------------------------------------------------------------ main loop

    def run(self) -> list[Outcome]:
        order = [item.name for item in self.queue]
        for item in list(self.queue):
            if (reason := self._unschedulable(item.job)) is not None:
                self.queue.remove(item)
                self._record(
                    item, "skipped", "queued", reason, hint="lower the candidate's resources or add nodes",
                    failure_kind="config",
                )
            else:
                self.on_event(item.label, "queued", {})
        try:
            while self.queue or self.running:
                self._refresh_capacity()
                self._launch_what_fits()
                ready, _ = ray.wait(list(self.running), num_returns=len(self.running), timeout=self.poll_s)
                self._poll_board()  # before collecting, so a failure is told with its last phase
                for ref in ready:
                    self._collect(self.running.pop(ref))
                self._enforce_limits()
                self._write_status()
        finally:
            for entry in self.running.values():
                ray.kill(entry.actor, no_restart=True)
            self.running.clear()
            self._write_status()
        return [self.outcomes[name] for name in order]

    # ------------------------------------------------------------------ scheduling

    def _used(self) -> dict[str, float]:
        used = {"CPU": 0.0, "GPU": 0.0}
        for entry in self.running.values():
            for key, value in entry.resources.items():
                used[key] += value
        return used

    def _unschedulable(self, job: TrainingJob) -> str | None:
        need = actor_resources(job, self.cluster)
        total = self.capacity
        short = [f"{need[k]:g} {k}s (the cluster has {total[k]:g})" for k in need if need[k] > total[k]]
        return f"needs {' and '.join(short)}" if short else None

    def _refresh_capacity(self) -> None:
        """The cluster's CPUs and GPUs now: a node that leaves takes its share with it, so the
        queue waits instead of launching actors Ray cannot place."""
        resources = ray.cluster_resources()
        capacity = {"CPU": float(resources.get("CPU", 0)), "GPU": float(resources.get("GPU", 0))}
        if capacity != self.capacity:
            log.info("cluster capacity now %g CPUs, %g GPUs (was %g, %g)", capacity["CPU"], capacity["GPU"],
                     self.capacity["CPU"], self.capacity["GPU"])
            self.capacity = capacity

    def _launch_what_fits(self) -> None:
        while self.queue:
            item = self.queue[0]
            need = actor_resources(item.job, self.cluster)
            used = self._used()
            fits = used["CPU"] + need["CPU"] <= self.capacity["CPU"] + 1e-9 and (
                used["GPU"] + need["GPU"] <= self.capacity["GPU"] + 1e-9
            )
            if self.running and (not fits or len(self.running) >= (self.max_concurrent or len(self.running) + 1)):
                return
            self.queue.popleft()
            self._launch(item, need)

    def _launch(self, item: WorkItem, need: dict[str, float]) -> None:
        job = item.job
        job.output_dir.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"name": item.actor_name, "num_cpus": need["CPU"], "num_gpus": need["GPU"]}
        if job.settings.resources.memory_gb:
            options["memory"] = int(job.settings.resources.memory_gb * 2**30)
        actor = StageWorker.options(**options).remote(
            item.label, str(item.log_file), job.settings.resources.memory_gb, self.storage
        )
        ref = actor.run.remote(item, self.board)
        now = time.time()
        self.running[ref] = _Running(item, actor, ref, now, need)
        self.first_launch.setdefault(item.name, now)
        self.on_event(item.label, "launched", {"resources": need, "attempt": job.attempt})

    # ------------------------------------------------------------------ results

    def _collect(self, entry: _Running) -> None:
        try:
            result = ray.get(entry.ref)
        except RayTaskError as exc:
            self._bring_back(entry.item, required=False)
            cause = exc.cause if exc.cause is not None else exc
            failure = classify(cause, log_tail=self._log_tail(entry.item))
            self._handle_failure(entry, failure, str(exc), phase=getattr(cause, "phase", None))
            return
        except RayActorError as exc:
            tail = self._log_tail(entry.item)
            failure = classify(exc, died=True, log_tail=tail)
            self._handle_failure(entry, failure, str(exc), phase=last_logged_phase(tail))
            return
        finally:
            ray.kill(entry.actor, no_restart=True)
        try:
            self._bring_back(entry.item, required=True)
        except Exception as exc:  # noqa: BLE001 - storage unreachable: this item fails, the run goes on
            self._handle_failure(entry, classify(exc), f"fetching its outputs from {self.storage.location}: {exc}")
            return
        self._record(
            entry.item, "succeeded", "done", None,
            metrics=result.get("metrics", {}), checkpoint=result.get("checkpoint"), details=result,
        )

    def _handle_failure(self, entry: _Running, failure: Failure, detail: str, phase: str | None = None) -> None:
        """Log the failure, then retry (at the head of the queue) or record it, as the policy says."""
        item, job = entry.item, entry.item.job
        phase = phase or self.snapshot.get(job.name, {}).get("phase", "queued")
        log_path = self._write_error_log(item, failure, detail)
        decision = decide(failure, job)
        log.info("%s: %s -> %s", item.label, failure.reason, decision.why)
        if decision.retry and decision.job is not None:
            self.retry_notes.setdefault(job.name, []).append(f"attempt {job.attempt}: {failure.reason}; {decision.why}")
            self.queue.appendleft(item.with_job(decision.job))
            self.board.reset.remote(job.name)
            self.snapshot.pop(job.name, None)
            self.on_event(item.label, "retrying", {"reason": failure.reason, "why": decision.why})
            return
        self._record(
            item, failure.status, phase, failure.reason, hint=failure.hint, log=str(log_path),
            failure_kind=failure.kind.value,
        )

    def _record(self, item: WorkItem, status: str, phase: str, error: str | None, **extra: Any) -> None:
        job = item.job
        started = self.first_launch.get(job.name, time.time())
        outcome = Outcome(
            name=job.name, status=status, phase=phase, error=error,
            wall_s=round(time.time() - started, 2), attempts=job.attempt, finished_at=time.time(),
            retries=self.retry_notes.get(job.name, []), **extra,
        )
        self.outcomes[job.name] = outcome
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

    @staticmethod
    def _log_tail(item: WorkItem) -> str:
        return log_tail(item.log_file)

    def _write_error_log(self, item: WorkItem, failure: Failure, detail: str) -> Path:
        """errors/<name>.log (errors/<stage>-<name>.log after training): the reason, the full error
        (remote traceback included) and the last lines of the item's own log; an earlier attempt's
        log is kept as <name>.attempt<N>.log."""
        job, base = item.job, item.error_log_name
        path = self.run_dir / "errors" / f"{base}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and job.attempt > 1:
            path.replace(path.with_name(f"{base}.attempt{job.attempt - 1}.log"))
        path.write_text(
            f"candidate: {job.name} (stage {item.stage}, attempt {job.attempt})\nkind: {failure.kind.value}\n"
            f"reason: {failure.reason}\nhint: {failure.hint}\n\n--- error ---\n{detail}\n\n"
            f"--- last {LOG_TAIL_LINES} lines of {item.log_file} ---\n{self._log_tail(item)}\n",
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
        for name, state in snapshot.items():
            before = self.snapshot.get(name, {})
            label = f"{self.stage}/{name}"
            if state.get("phase") != before.get("phase"):
                self.on_event(label, "phase", state)
            elif state.get("last_heartbeat") != before.get("last_heartbeat"):
                self.on_event(label, "heartbeat", state)
        self.snapshot = snapshot

    def _enforce_limits(self) -> None:
        now = time.time()
        for ref, entry in list(self.running.items()):
            fired = self._limit_fired(entry, now)
            if fired is None:
                continue
            limit, phase, seconds = fired
            self.running.pop(ref)
            ray.kill(entry.actor, no_restart=True)
            failure = timeout_failure(limit, phase, seconds, entry.item.name)
            detail = f"{failure.reason}; killed {now - entry.launched:.1f} s after launch"
            self._handle_failure(entry, failure, detail)

    def _limit_fired(self, entry: _Running, now: float) -> tuple[str, str, float] | None:
        """The limit a running candidate has passed, if any: (setting, phase, seconds)."""
        limits = entry.item.job.settings.timeouts
        state = self.snapshot.get(entry.item.name, {})
        phase = state.get("phase", "queued")
        if now - entry.launched > limits.total:
            return "total", phase, limits.total
        if phase in ("queued", "loading") and now - entry.launched > limits.load:  # actor start, imports, model load
            return "load", phase, limits.load
        since = max(state.get("phase_since", entry.launched), entry.launched)
        if phase == "first_step" and now - since > limits.first_step:
            return "first_step", phase, limits.first_step
        last = max(state.get("last_report", entry.launched), entry.launched)
        if phase not in STARTING_PHASES and now - last > limits.stall:
            return "stall", phase, limits.stall
        return None

    def _read_earlier_stages(self) -> dict[str, Any]:
        """The sections earlier stages left in status.json, kept beside this stage's."""
        try:
            stages = json.loads((self.run_dir / "status.json").read_text(encoding="utf-8")).get("stages", {})
        except (OSError, ValueError, AttributeError):
            return {}
        return {stage: section for stage, section in stages.items() if stage != self.stage}

    def _write_status(self) -> None:
        """status.json: one section per stage (queued, running, live state, finished), rewritten
        atomically every poll, so another process can read it during and after the run."""
        path = self.run_dir / "status.json"
        stages = dict(self.earlier_stages)
        stages[self.stage] = {
            "running": {e.item.name: {"launched": e.launched, "attempt": e.item.job.attempt}
                        for e in self.running.values()},
            "queued": [item.name for item in self.queue],
            "live": self.snapshot,
            "finished": {name: o.to_dict() for name, o in self.outcomes.items()},
        }
        status = {"updated": time.time(), "stage": self.stage, "stages": stages}
        tmp = path.with_suffix(".json.partial")
        tmp.write_text(json.dumps(status, indent=1, default=str), encoding="utf-8")
        tmp.replace(path)
