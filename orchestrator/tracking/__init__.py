"""Experiment tracking: what each candidate's training and each tune trial did, in the trackers
users already read (TensorBoard, MLflow, Weights & Biases), as the `tracking:` section chooses.

The driver side of the run writes every tracker; actors only report (`Reporter.logged` carries
each Trainer log line to the status board, which the supervisor drains every poll). So one
process per run (or per tune trial) owns the tracked runs, knows how each candidate ended (also
when its actor died and could say nothing) and finds the same tracked run again on a retry or a
resumed run: a tracked run is keyed by the run directory's id (`tracking/run.json`), the item's
label and its training fingerprint, so changed settings start a new one.

Each backend works on a thread of its own (`Lane`), in order: a slow or unreachable tracker
delays only itself, and its first error turns it off with one warning; training never waits on it.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from pathlib import Path
from typing import Any

from contract.job import TrainingJob
from contract.work import resolve
from orchestrator.config.tracking import TRACKERS
from orchestrator.failures import one_line
from orchestrator.outcome import Outcome
from orchestrator.tracking.backend import Backend, RunEnding, TrackedRun, TrackingTarget
from orchestrator.work import WorkItem

log = logging.getLogger(__name__)

TRACKED_STAGES = ("train", "tune")  # a run's trainings and a sweep's trials; the other steps are the run's
# metrics.json's losses, named apart from the per-step curves: the kept checkpoint's validation
# loss, and the mean training loss over the whole training
FINAL_NAMES = {"eval_loss": "validation/loss", "train_loss": "train/mean_loss"}


class Lane:
    """One backend's calls, in order, on a daemon thread. The first error switches the backend
    off with one warning; later calls are dropped."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.failed: str | None = None
        self._queue: queue.Queue[tuple[str, tuple[Any, ...], threading.Event | None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name=f"tracking-{backend.name}", daemon=True)
        self._thread.start()

    def call(self, method: str, *args: Any, done: threading.Event | None = None) -> None:
        """Queue `backend.method(*args)`; `done` is set once it (and what was queued before) ran."""
        if self.failed:
            if done is not None:
                done.set()
            return
        self._queue.put((method, args, done))

    def _work(self) -> None:
        while (task := self._queue.get()) is not None:
            method, args, done = task
            try:
                if not self.failed:
                    getattr(self.backend, method)(*args)
            except Exception as exc:  # noqa: BLE001 - a tracker never fails the run
                self.failed = one_line(exc)
                log.warning("tracking: %s failed (%s); the run goes on without it", self.backend.name, self.failed)
            finally:
                if done is not None:
                    done.set()

    def close(self, timeout_s: float) -> None:
        self._queue.put(("close", (), None))
        self._queue.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("tracking: %s had not finished writing after %.0f s; what it had not written is lost",
                        self.backend.name, timeout_s)


def open_backends(target: TrackingTarget) -> list[Backend]:
    """The configured trackers, each the class its row in `TRACKERS` names, given its field of the
    `tracking` section; each library is imported on its own lane, when it begins."""
    return [resolve(TRACKERS[name].implementation)(target, getattr(target.config, name))
            for name in target.config.enabled]


class Tracker:
    """What the supervisor (and the pipeline, for the run as a whole) tells the trackers."""

    def __init__(self, target: TrackingTarget, backends: list[Backend] | None = None, *, begin_wait_s: float = 60):
        self.target = target
        self.lanes = [Lane(backend) for backend in (open_backends(target) if backends is None else backends)]
        self.open: dict[str, TrackedRun] = {}
        self.last_step: dict[str, int] = {}
        # Every tracker connects at once; the run waits (bounded) for them before any candidate or
        # trial starts, so the experiment's tracked run exists before anything looks for it.
        begun = {lane: threading.Event() for lane in self.lanes}
        for lane, done in begun.items():
            lane.call("begin", done=done)
        deadline = time.monotonic() + begin_wait_s
        for lane, done in begun.items():
            if not done.wait(max(0.0, deadline - time.monotonic())):
                log.warning("tracking: %s has not connected within %.0f s; the run goes on", lane.backend.name,
                            begin_wait_s)

    def _each(self, method: str, *args: Any) -> None:
        for lane in self.lanes:
            lane.call(method, *args)

    @staticmethod
    def tracks(item: WorkItem) -> bool:
        return item.stage in TRACKED_STAGES

    @staticmethod
    def tracked_run(item: WorkItem) -> TrackedRun:
        name = item.name + (f"/{item.tag}" if item.tag else "")
        return TrackedRun(key=f"{item.label}@{candidate_job(item).fingerprint[:12]}", name=name, stage=item.stage)

    def started(self, item: WorkItem) -> None:
        """An attempt of `item` was launched: its tracked run opens, or goes on (a retry)."""
        if not self.tracks(item):
            return
        run = self.tracked_run(item)
        if run.key not in self.open:
            self.open[run.key] = run
            self._each("start", run, item_params(item))
        if item.job.attempt > 1:
            self._each("note", run, "attempts", str(item.job.attempt))

    def logged(self, item: WorkItem, entries: list[dict[str, Any]]) -> None:
        """Trainer log lines the item's actor reported, oldest first."""
        if not self.tracks(item):
            return
        run = self.tracked_run(item)
        for entry in sorted(entries, key=lambda e: e.get("step", 0)):
            values = tracked_values(entry.get("values") or {})
            if values:
                step = int(entry.get("step", 0))
                self.last_step[run.key] = max(step, self.last_step.get(run.key, 0))
                self._each("log", run, step, values)

    def retrying(self, item: WorkItem, reason: str) -> None:
        if self.tracks(item):
            self._each("note", self.tracked_run(item), f"attempt {item.job.attempt} failed", reason)

    def ended(self, item: WorkItem, outcome: Outcome) -> None:
        """The item's outcome: final metrics, or status, reason and phase; the tracked run ends."""
        if not self.tracks(item):
            return
        run = self.tracked_run(item)
        if run.key not in self.open:  # never launched (preflight skipped it, a stop came first)
            self.open[run.key] = run
            self._each("start", run, item_params(item))
        ending = outcome_ending(outcome, self.last_step.get(run.key, 0))
        self._each("end", run, ending)
        self.open.pop(run.key, None)

    def stopped_early(self, item: WorkItem, reason: str) -> None:
        """A tune trial the sweep's scheduler (ASHA) stopped: not failed, just not worth finishing."""
        if self.tracks(item):
            run = self.tracked_run(item)
            self._each("end", run, RunEnding(status="stopped_early", reason=reason,
                                             step=self.last_step.get(run.key, 0), notes={"stopped_by": reason}))
            self.open.pop(run.key, None)

    def finish(self, status: str, metrics: dict[str, float], notes: dict[str, str], files: list[Path]) -> None:
        """The whole run: its status, headline numbers and result files (summary, ensemble,
        optimize, report) on the experiment's tracked run."""
        ending = RunEnding(status=status, metrics=metrics, notes=notes)
        self._each("finish", ending, [path for path in files if path.is_file()])

    def close(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        for lane in self.lanes:
            lane.close(max(1.0, deadline - time.monotonic()))

    def where(self) -> list[str]:
        """Per tracker that worked, how to open what it wrote."""
        return [f"{lane.backend.name}: {lane.backend.where()}" for lane in self.lanes if not lane.failed]

    @property
    def failed(self) -> dict[str, str]:
        return {lane.backend.name: lane.failed for lane in self.lanes if lane.failed}


# --------------------------------------------------------------------------- what is recorded


def tracked_values(logs: dict[str, Any]) -> dict[str, float]:
    """A Trainer log line as tracked metrics: eval_* under eval/, the rest under train/; finite numbers only."""
    values = {}
    for key, value in logs.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        if key == "train_loss":  # the Trainer's closing line: the mean over the whole training
            values[FINAL_NAMES[key]] = float(value)
        elif key.startswith("eval_"):
            values[f"eval/{key[5:]}"] = float(value)
        else:
            values[f"train/{key.removeprefix('train_')}"] = float(value)
    return values


def candidate_job(item: WorkItem) -> TrainingJob:
    """A tracked item's job: only a candidate's trainings and trials are tracked."""
    if not isinstance(item.job, TrainingJob):
        raise TypeError(f"{item.label} is no candidate's work; only {', '.join(TRACKED_STAGES)} are tracked")
    return item.job


def item_params(item: WorkItem) -> dict[str, str]:
    """The item's resolved settings and candidate, flattened (`generation.num_beams`), as strings."""
    job = candidate_job(item)
    candidate = job.candidate.model_dump(mode="json", exclude_none=True,
                                         include={"source", "family", "lora", "quantization", "trust_remote_code"})
    flat = _flatten({"candidate": candidate, "task": job.task.model_dump(mode="json", exclude_none=True),
                     **job.settings.model_dump(mode="json", exclude_none=True)})
    flat.update({"stage": item.stage, "fingerprint": job.fingerprint})
    return flat


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def outcome_ending(outcome: Outcome, last_step: int) -> RunEnding:
    metrics = numeric_metrics(outcome.metrics)
    details = outcome.details or {}
    notes = {"wall_s": f"{outcome.wall_s:g}", "attempts": str(outcome.attempts)}
    if stopped := details.get("stopped_early"):
        notes["stopped_early_at_step"] = str(stopped.get("step"))
        notes["stopped_early_saved_s"] = str(stopped.get("saved_s"))
    if details.get("resumed_from_step") is not None:
        notes["resumed_from_step"] = str(details["resumed_from_step"])
    return RunEnding(status=str(getattr(outcome.status, "value", outcome.status)), metrics=metrics,
                     step=int(details.get("steps") or last_step), reason=outcome.error, phase=str(outcome.phase),
                     kind=outcome.failure_kind, notes=notes)


def numeric_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested metrics (validation: {rougeL: ...}) as flat names (validation/rougeL); numbers only."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(numeric_metrics(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[FINAL_NAMES.get(name, name)] = float(value)
    return flat


def run_results(summary: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """summary.json's headline as the experiment's tracked numbers and notes: each trained
    candidate's validation and test metric, the ensemble's choice and its gain, optimize's pick."""
    metric = summary.get("metric", "")
    metrics: dict[str, float] = {}
    for name, model in (summary.get("models") or {}).items():
        for split in ("validation", "test"):
            value = ((model.get("metrics") or {}).get(split) or {}).get(metric)
            if isinstance(value, (int, float)):
                metrics[f"{name}/{split}/{metric}"] = float(value)
    notes = {"status": str(summary.get("status")), "run_dir": str(summary.get("run_dir"))}
    ensemble = summary.get("ensemble") or {}
    if ensemble.get("status") == "ok":
        chosen = ensemble.get("chosen")
        notes["ensemble"] = str(ensemble.get("verdict"))
        test = ((ensemble.get("scores") or {}).get(chosen) or {}).get("test") or {}
        if isinstance(test.get(metric), (int, float)):
            metrics[f"ensemble/test/{metric}"] = float(test[metric])
        gap = ((ensemble.get("versus_best_single") or {}).get(chosen) or {}).get(metric) or {}
        if isinstance(gap.get("difference"), (int, float)):
            metrics[f"ensemble/gain/{metric}"] = float(gap["difference"])
    from orchestrator.report.optimize import recommendation_text

    for name, model in ((summary.get("optimize") or {}).get("models") or {}).items():
        if isinstance(model, dict) and model.get("status") == "ok":
            notes[f"optimize/{name}"] = recommendation_text(model).replace("**", "")
    return metrics, notes
