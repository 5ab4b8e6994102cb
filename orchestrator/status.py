"""The status board: one small Ray actor that every training actor reports to.

Reports are fire-and-forget and stamped on arrival, so the driver judges timeouts and stalls by
one clock. The board keeps the latest state per candidate, which the driver polls (`BoardWatch`),
and the Trainer's log lines until the driver takes them (for the experiment trackers,
`orchestrator.tracking`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

from contract.atomic import read_json, write_json
from contract.phases import Phase, reported
from orchestrator.failures import one_line

if TYPE_CHECKING:
    from orchestrator.tracking import Tracker
    from orchestrator.work import WorkItem

log = logging.getLogger(__name__)
MAX_LOGGED = 10_000  # per candidate, between two of the driver's polls
PHASE_LINE = re.compile(r"orchestrator\.status: phase (\w+)$", re.MULTILINE)


def last_logged_phase(log_text: str) -> Phase | None:
    """The last phase a candidate logged: the board may miss reports sent just before a crash."""
    phases = PHASE_LINE.findall(log_text)
    return read_phase(phases[-1], "the candidate's log") if phases else None


def read_phase(value: str | None, source: str) -> Phase | None:
    """A phase another process left behind (a log line, a failed step's exception), which no
    type checks: None when there is none. A name that is no phase is logged as an error and read
    as none, so the outcome falls back to the board's last phase instead of a made-up one."""
    if value is None:
        return None
    try:
        return Phase(value)
    except ValueError:
        log.error("%s names phase %r, which is not one of %s; it is ignored", source, value, ", ".join(Phase))
        return None


@ray.remote(num_cpus=0)
class StatusBoard:
    """An async actor: one event loop serves every call, so state is never read mid-update."""

    def __init__(self) -> None:
        self._state: dict[str, dict[str, Any]] = {}
        self._phase_sent: dict[str, int] = {}  # when the phase in `_state` was sent, by the sender's clock
        self._logged: dict[str, list[dict[str, Any]]] = {}  # Trainer log lines not yet taken by the driver
        self._stop = False

    async def request_stop(self) -> None:
        """The run is stopping (Ctrl-C, SIGTERM): trainings save a checkpoint and stop."""
        self._stop = True

    async def stop_requested(self) -> bool:
        return self._stop

    async def report(self, name: str, kind: str, payload: dict[str, Any]) -> None:
        now = time.time()
        state = self._state.setdefault(name, {"phase": Phase.QUEUED, "phase_since": now})
        state["last_report"] = now
        if kind == "logged":
            lines = self._logged.setdefault(name, [])
            lines.append(payload)
            del lines[:-MAX_LOGGED]  # a driver that stopped taking them costs memory no further
        elif kind == "phase":
            # Ray does not keep an async actor's calls in the order they were sent: a warm worker
            # sends `loading` and its next phase within a millisecond, and they may arrive swapped.
            sent = payload.pop("sent", None)
            if sent is not None and sent < self._phase_sent.get(name, -1):
                payload.pop("phase", None)  # overtaken by a later phase; its other fields still count
            elif sent is not None:
                self._phase_sent[name] = sent
            if payload.get("phase") != state.get("phase"):
                state["phase_since"] = now
            if payload.get("phase") == Phase.TRAINING:
                state.setdefault("training_since", now)  # for the ETA: steps done over time spent
            state.update(payload)
        else:
            state.update(payload)
            state["last_heartbeat"] = now

    async def reset(self, name: str) -> None:
        """Forget a candidate's state before its next attempt starts reporting."""
        self._state[name] = {"phase": Phase.QUEUED, "phase_since": time.time()}
        self._phase_sent.pop(name, None)

    async def flush(self) -> None:
        """Answered only after every report the same caller sent before it (Ray runs one caller's
        calls to an actor in order): a worker calls it before returning, so the driver's next
        snapshot holds the item's last reports."""

    async def take_logged(self) -> dict[str, list[dict[str, Any]]]:
        """The Trainer log lines reported since the last call, per candidate (then forgotten)."""
        taken, self._logged = self._logged, {}
        return taken

    async def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: dict(state) for name, state in self._state.items()}


class BoardWatch:
    """The driver's side of a supervisor's board: the snapshot of its last poll (each item's
    latest state), every phase change and heartbeat told to `on_event`, and the Trainer's log
    lines handed to the tracker. A board that does not answer leaves the last snapshot standing:
    phases and stalls go unseen a while; results still arrive."""

    def __init__(self, board: Any, stage: str, on_event: Callable[[str, str, dict[str, Any]], None],
                 tracker: Tracker | None = None):
        self.board, self.stage, self.on_event, self.tracker = board, stage, on_event, tracker
        self.snapshot: dict[str, dict[str, Any]] = {}

    def state(self, name: str) -> dict[str, Any]:
        return self.snapshot.get(name, {})

    def phase(self, name: str) -> Phase:
        """The item's phase on the board (queued before its first report). Every reporter sends
        a `Phase`, so a name that is none here is a bug, and fails loudly."""
        return Phase(self.state(name).get("phase", Phase.QUEUED))

    def forget(self, name: str) -> None:
        """Before an item's next attempt, which reports afresh."""
        self.board.reset.remote(name)
        self.snapshot.pop(name, None)

    def poll(self, running: dict[str, WorkItem]) -> None:
        """Take the board's snapshot; `running`: the running items by name, whose logged lines count."""
        try:
            snapshot = ray.get(self.board.snapshot.remote(), timeout=10)
        except GetTimeoutError:
            log.warning("the status board did not answer within 10 s; keeping the last snapshot")
            return
        except (RayActorError, ActorUnavailableError) as exc:
            log.warning("the status board is unavailable (%s); keeping the last snapshot", one_line(exc))
            return
        if self.tracker is not None:
            self._pass_logged(self.tracker, running)
        for name, state in snapshot.items():
            before = self.snapshot.get(name, {})
            label = f"{self.stage}/{name}"
            if state.get("phase") != before.get("phase"):
                self.on_event(label, "phase", state)
            elif state.get("last_heartbeat") != before.get("last_heartbeat"):
                self.on_event(label, "heartbeat", state)
        self.snapshot = snapshot

    def _pass_logged(self, tracker: Tracker, running: dict[str, WorkItem]) -> None:
        """The Trainer log lines the running items reported since the last poll, to the tracker."""
        try:
            logged = ray.get(self.board.take_logged.remote(), timeout=10)
        except (GetTimeoutError, RayActorError, ActorUnavailableError) as exc:
            log.warning("the status board did not hand over the logged steps (%s); the trackers miss them",
                        one_line(exc))
            return
        for name, entries in logged.items():
            if name in running:
                tracker.logged(running[name], entries)


class BoardReporter:
    """The `contract.reporting.Reporter` a training actor uses: sends to the board, never waits."""

    def __init__(self, board: Any, name: str, stop_poll_s: float = 1.0,
                 on_checkpoint: Callable[[str], None] | None = None):
        self.board = board
        self.name = name
        self.on_checkpoint = on_checkpoint  # with storage: the uploader's `saved`
        self.current_phase = Phase.QUEUED
        self.stop_poll_s = stop_poll_s
        self._stop = False
        self._stop_ref: Any = None  # the board's answer on its way
        self._stop_asked = 0.0

    def stop_requested(self) -> bool:
        """Asks the board at most every `stop_poll_s` and never waits for its answer: a question
        still on its way leaves the last answer standing."""
        if self._stop:
            return True
        if self._stop_ref is not None:
            ready, _ = ray.wait([self._stop_ref], timeout=0)
            if ready:
                try:
                    self._stop = bool(ray.get(self._stop_ref))
                except Exception:  # noqa: BLE001 - a lost board stops nobody
                    self._stop = False
                self._stop_ref = None
        now = time.monotonic()
        if self._stop_ref is None and not self._stop and now - self._stop_asked >= self.stop_poll_s:
            self._stop_asked = now
            self._stop_ref = self.board.stop_requested.remote()
        return self._stop

    def phase(self, phase: Phase, **info: Any) -> None:
        self.current_phase = reported(phase)
        log.info("phase %s", phase)  # in train.log too: the driver reads it after a hard crash
        # `sent` orders this reporter's phases at the board (one process: its monotonic clock)
        self.board.report.remote(self.name, "phase", {"phase": phase, "sent": time.monotonic_ns(), **info})

    def heartbeat(self, **metrics: Any) -> None:
        self.board.report.remote(self.name, "heartbeat", metrics)

    def logged(self, step: int, values: dict[str, float]) -> None:
        self.board.report.remote(self.name, "logged", {"step": step, "values": values})

    def checkpoint_saved(self, directory: str) -> None:
        if self.on_checkpoint is not None:
            self.on_checkpoint(directory)

    def __getstate__(self) -> dict[str, Any]:
        """A copy sent to another process (a data-parallel training's rank 0) reports to the same
        board but uploads nothing: the uploader is this process's, which watches the folder."""
        return {**self.__dict__, "on_checkpoint": None, "_stop_ref": None}

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until the board has every report sent so far (bounded: a lost board costs only
        the last progress lines, never the result)."""
        try:
            ray.get(self.board.flush.remote(), timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - the board is best effort; the result matters
            log.warning("the status board did not confirm the last reports: %s", exc)


RUN_KEYS = ("metric", "baselines")  # status.json's run-wide keys, written once before training


class StatusFile:
    """status.json: one section per stage (queued, running, live state, finished), rewritten
    atomically every poll, so another process (`status`, the live table) can read it during and
    after the run; the run-wide keys written before (`write_baselines`) are kept. A write that
    fails (disk full, permissions) is a warning, once, and the run goes on."""

    def __init__(self, run_dir: Path, stage: str):
        self.path = run_dir / "status.json"
        self.stage = stage
        self.failing = False
        earlier = read_json(self.path)
        earlier = earlier if isinstance(earlier, dict) else {}
        stages = earlier.get("stages")
        self.earlier = {k: v for k, v in stages.items() if k != stage} if isinstance(stages, dict) else {}
        self.run_wide = {k: earlier[k] for k in RUN_KEYS if k in earlier}

    def write(self, section: dict[str, Any]) -> None:
        status = {"updated": time.time(), **self.run_wide, "stage": self.stage,
                  "stages": {**self.earlier, self.stage: section}}
        try:
            write_json(self.path, status, durable=False, indent=1)
        except OSError as exc:
            if not self.failing:
                log.warning("could not write %s (%s); the run goes on without a live status file", self.path, exc)
            self.failing = True
        else:
            self.failing = False


def write_baselines(run_dir: Path, metric: str, baselines: dict[str, Any]) -> None:
    """Put the task's metric and trivial baseline into status.json before training, so the live
    table flags a candidate that does not beat it as soon as its validation score is in. An
    earlier run's baseline is replaced, also by none; a failed write is a warning."""
    path = run_dir / "status.json"
    earlier = read_json(path)
    status = {**(earlier if isinstance(earlier, dict) else {}), "updated": time.time(),
              "metric": metric, "baselines": baselines}
    try:
        write_json(path, status, durable=False, indent=1)
    except OSError as exc:
        log.warning("could not write %s (%s); the live table goes without the baseline", path, exc)
