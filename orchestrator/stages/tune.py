"""The learning-rate sweep: Ray Tune trials per candidate, ASHA early stopping, the best rate kept
in `<run_dir>/tune/tune.json` for `run --use-tuned` (or `learning_rate: tuned`).

One Tuner per chosen candidate, one after the other, since ASHA ranks trials by validation loss,
which only compares trials of the same model. Tune does the search and ASHA; each trial is one
work item (`contract.work.TRIAL`: the training `run` does) under the same supervisor as `run`,
in the placement-group bundle Tune reserved for the trial (`tune_trial.run_trial`), writing into
`<run_dir>/tune/trials/<model>/<trial id>/` (never into `models/`, where `run` keeps its
checkpoints). So a trial has all four limits, the retry policy (out of memory trains again
smaller), the error log and storage exactly as a candidate has. As many trials of a sweep run at
once as the cluster fits, or `tune.max_concurrent`.

A trial reports its validation loss after every evaluation during training (once an epoch;
cheap, no generation), which ASHA stops trials on, and at the end its task metric on the
validation split, which chooses the best rate (`tune_results.best_trial`). A failed trial is
recorded with the supervisor's classification and one-line reason; it never ends the sweep.

A sweep that did not finish (its driver killed, Ctrl-C) is restored by the next `tune` of the
same search and candidate identity (`sweep.json` in its trials folder; Tune's own `restore`):
finished trials keep their results, unfinished ones run again in their own folders, where their
training resumes from its last checkpoint. Trial rows come from what Tune recorded, so a restored
sweep reports its earlier trials exactly as they ran.

Ctrl-C or SIGTERM (`stop`) reaches the trials through a `StopBroadcast`: each running trial's
training saves a checkpoint and stops, as a candidate of `run` does, and once every running
trial has said so (or the grace has passed) `EndSweepOnStop` ends the sweep the way Tune ends
one itself (SIGUSR1: the experiment state is saved with those trials unfinished), so the next
`tune` restores it and the trials continue from the step they stopped at.

This module drives Tune from the driver; what a sweep searches and how ASHA cuts trials is
`tune_search`, what runs inside a trial `tune_trial`, and the trials' rows and the sections of
tune.json `tune_results`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.search import BasicVariantGenerator
from rich.console import Console
from rich.markup import escape

from contract.atomic import read_json, write_json
from contract.job import DataFiles, TrainingJob
from contract.schedule import training_schedule
from orchestrator.cluster import ClusterInfo
from orchestrator.config import ExperimentConfig
from orchestrator.interrupts import StopRequest
from orchestrator.placement import actor_resources
from orchestrator.preflight import CandidatePreflight
from orchestrator.report.numbers import fmt_number
from orchestrator.report.tune import fmt_rate
from orchestrator.scheduling import shortfall
from orchestrator.stages.train import candidate_job
from orchestrator.stages.tune_results import (
    end_stopped_trials,
    not_swept,
    remove_trial_checkpoints,
    sweep_section,
    trial_failure,
    trial_row,
)
from orchestrator.stages.tune_search import make_scheduler, num_samples, one_process, search_space
from orchestrator.stages.tune_trial import FINAL_METRIC, run_trial
from orchestrator.stages.tuned import ASHA_METRIC, TIME_ATTR, describe, sweep_fingerprint
from orchestrator.stop_broadcast import StopBroadcast
from orchestrator.storage import RunStorage, run_storage
from orchestrator.tracking import Tracker, TrackingTarget

log = logging.getLogger(__name__)

SWEEP_FILE = "sweep.json"  # in the sweep's trials folder: what it searches and for which candidate identity
STOP_SLACK_S = 60.0  # beyond a training's stop_grace: a trial's actor starting, its supervisor noticing


@dataclass
class SweepDriver:
    """What one sweep's callbacks use on the driver: the console the trials' lines go to, the
    run's stop request and the broadcast that carries it to the trials; and what they leave for
    the sweep (Tune's trial statuses when a stop ended it). Handed to the callbacks when they are
    made; never pickled with them (Tune pickles its callbacks with the experiment, and these are
    live), so a restored sweep runs new ones (`_restored_tuner`)."""

    console: Console | None = None
    stop: StopRequest | None = None
    broadcast: Any = None
    started: float = field(default_factory=time.monotonic)
    statuses_at_stop: dict[str, str] | None = None  # trial id -> Tune's status when a stop ended the sweep

    @contextmanager
    def fitting(self) -> Iterator[None]:
        """Around `fit`: the sweep's clock starts, and Ctrl-C is left to the run's own handler
        (`stop`) instead of Tune's, which would end the trials before they save."""
        self.started = time.monotonic()
        previous = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
            else:
                os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous


class EndSweepOnStop(tune.Callback):
    """Driver side, once a stop is requested: broadcast it to the trials, wait until every running
    trial has saved (at most `grace_s`), then end the sweep as Tune's own SIGUSR1 handler does:
    the experiment state is saved with those trials unfinished, for `Tuner.restore`."""

    def __init__(self, grace_s: float, driver: SweepDriver):
        self.grace_s = grace_s
        self.driver = driver
        self._reset()

    def _reset(self) -> None:
        self.deadline: float | None = None
        self.polled = 0.0
        self.ended = False

    def __getstate__(self) -> dict[str, Any]:
        return {"grace_s": self.grace_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.grace_s = state["grace_s"]
        self.driver = SweepDriver()
        self._reset()

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        stop, broadcast = self.driver.stop, self.driver.broadcast
        if stop is None or broadcast is None or not stop.requested or self.ended:
            return
        now = time.monotonic()
        if self.deadline is None:
            broadcast.request.remote(stop.signum)
            self.deadline = now + self.grace_s
        if now - self.polled < 0.5 and now < self.deadline:
            return
        self.polled = now
        running = {t.trial_id for t in trials if t.status == "RUNNING"}
        try:
            saved = set(ray.get(broadcast.saved_by.remote(), timeout=10))
        except Exception:  # noqa: BLE001 - asked again next step, until the deadline
            saved = set()
        if not running <= saved and now < self.deadline:
            return
        if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, signal.SIG_IGN, None):
            return  # Tune's handler is not there (fit outside the main thread): never kill the driver
        self.ended = True
        self.driver.statuses_at_stop = {t.trial_id: t.status for t in trials}
        log.info("sweep: %d running trial(s) saved; ending the sweep for a later restore", len(running & saved))
        signal.raise_signal(signal.SIGUSR1)


class TrialLog(tune.Callback):
    """Driver side: one line per trial result and ending, and each trial's history for the table."""

    def __init__(self, job: TrainingJob, metric: str, evaluations: int, driver: SweepDriver):
        self.job = job
        self.name = job.name
        self.metric = metric
        self.evaluations = evaluations
        self.trials: dict[str, dict[str, Any]] = {}
        self.driver = driver

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "driver"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, driver=SweepDriver())

    def _print(self, trial: Any, text: str) -> None:
        console = self.driver.console
        if console is not None:
            label = f"tune/{self.name}/{trial.trial_id.rsplit('_', 1)[-1]}"
            rate = fmt_rate(trial.config.get("learning_rate"))
            elapsed = time.monotonic() - self.driver.started
            console.print(f"{elapsed:7.1f}s  {escape(label):<30} lr {rate:<8} {text}")

    def _entry(self, trial: Any) -> dict[str, Any]:
        return self.trials.setdefault(trial.trial_id, {"evaluations": 0, "started": time.time()})

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._entry(trial)["started"] = time.time()

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any) -> None:
        entry = self._entry(trial)
        if TIME_ATTR in result:
            entry["evaluations"] = result[TIME_ATTR]
            entry["last_eval_loss"] = result[ASHA_METRIC]
            self._print(trial, f"evaluation {result[TIME_ATTR]}/{self.evaluations}  eval loss {result[ASHA_METRIC]:.4f}")
        elif FINAL_METRIC in result:
            entry["final_eval_loss"] = result[ASHA_METRIC]
            entry[FINAL_METRIC] = result[FINAL_METRIC]

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        entry = self._entry(trial)
        entry["ended"] = time.time()
        if FINAL_METRIC in entry:
            self._print(trial, f"[green]completed[/green]: validation {self.metric} {fmt_number(entry[FINAL_METRIC])}")
        else:
            self._print(trial, f"[yellow]stopped early[/yellow] after {entry['evaluations']} evaluation(s)")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._entry(trial)["ended"] = time.time()
        saved = Path(trial.pickled_error_file or "")  # on the driver's disk now; in storage only later
        error = pickle.loads(saved.read_bytes()) if saved.is_file() else None
        reason = trial_failure(error).get("error") if error is not None else None
        self._print(trial, f"[red]failed[/red]: {escape(reason or 'see below')}")


def _trial_dirname(trial: Any) -> str:
    return trial.trial_id


@contextmanager
def _quiet_tune() -> Iterator[None]:
    """Tune logs every failed trial's traceback and a summary of incomplete trials; the sweep
    reports both itself (the table, and `error.log` in the trial's directory)."""
    loggers = [logging.getLogger(name) for name in ("ray.tune", "ray.air", "ray.train")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def run_sweep(
    config: ExperimentConfig, candidates: list[Any], data: DataFiles, labels: tuple[str, ...], cluster: ClusterInfo,
    run_dir: Path, console: Console | None, preflight: dict[str, CandidatePreflight], stop: StopRequest | None = None,
) -> dict[str, Any]:
    """Every chosen candidate's sweep, one after the other: the new models of tune.json. Trials
    are judged on the validation split, which `data` must have. After a stop, the candidates
    not reached are `interrupted` too."""
    models = {}
    for candidate in candidates:
        if stop is not None and stop.requested:
            models[candidate.name] = not_swept("interrupted", f"{stop.reason}; rerun tune to sweep it", time.time())
            continue
        verdict = preflight.get(candidate.name)
        if verdict is not None and not verdict.ok:
            models[candidate.name] = not_swept("skipped", f"preflight: {verdict.reason}; fix: {verdict.fix}", time.time())
            continue
        models[candidate.name] = sweep_candidate(config, candidate, data, labels, cluster, run_dir, console,
                                                 run_storage(config.storage, run_dir), stop)
    return models


def sweep_candidate(
    config: ExperimentConfig, candidate: Any, data: DataFiles, labels: tuple[str, ...], cluster: ClusterInfo,
    run_dir: Path, console: Console | None, storage: RunStorage | None = None, stop: StopRequest | None = None,
) -> dict[str, Any]:
    """One candidate's sweep: its section of tune.json (status `interrupted` when `stop` ended it:
    its running trials saved, and the next `tune` restores it)."""
    started = time.time()
    name = candidate.name
    job = candidate_job(config, candidate, DataFiles(data.train, data.validation, None), labels, run_dir)
    job = dataclasses.replace(job, output_dir=(run_dir / "tune" / "trials" / name).resolve(),
                              settings=one_process(job.settings))
    tune_dir = (run_dir / "tune" / "ray").resolve()  # Tune's own state, on the driver
    sweep = {"fingerprint": sweep_fingerprint(config, candidate), "sweep": describe(config)}
    resuming = _resumable(tune_dir / name, job.output_dir / SWEEP_FILE, sweep)
    if not resuming:
        for directory in (job.output_dir, tune_dir / name):  # a new sweep replaces the last one's trials
            shutil.rmtree(directory, ignore_errors=True)
        if storage is not None:
            storage.delete(storage.relpath(job.output_dir))
    need = actor_resources(job, cluster)
    if (short := shortfall(need, {"CPU": cluster.cpus, "GPU": cluster.gpus})) is not None:
        return not_swept("skipped", f"a trial {short}; lower the candidate's resources", started)
    fits = min(int(cluster.cpus // need["CPU"]), int(cluster.gpus // need["GPU"]) if need["GPU"] else 10**6)
    concurrency = config.tune.max_concurrent or max(1, fits)
    train_examples = sum(1 for line in data.train.open(encoding="utf-8") if line.strip())
    evaluations = training_schedule(job.settings, train_examples).evaluations
    scheduler, description = make_scheduler(config.tune, evaluations)
    space = search_space(config.tune)
    bundle = dict(need)
    if job.settings.resources.memory_gb:
        bundle["memory"] = int(job.settings.resources.memory_gb * 2**30)
    # the trial's own process needs nothing (an empty first bundle); its training's worker takes the second
    resources = tune.PlacementGroupFactory([{}, bundle])
    driver = SweepDriver(console, stop, StopBroadcast.remote())  # type: ignore[attr-defined]
    callbacks = [TrialLog(job, config.task.resolved_metric(), evaluations, driver),
                 EndSweepOnStop(job.settings.timeouts.stop_grace + STOP_SLACK_S, driver)]
    tracking = TrackingTarget.for_run(config.tracking, run_dir, config.experiment)
    trainable = tune.with_resources(tune.with_parameters(run_trial, job=job, metric=config.task.resolved_metric(),
                                                         cluster=cluster, storage=storage, broadcast=driver.broadcast,
                                                         tracking=tracking),
                                    resources)
    if resuming:
        log.info("tune/%s: resuming the interrupted sweep (finished trials kept, unfinished ones continue from "
                 "their checkpoints)", name)
        tuner = _restored_tuner(tune_dir / name, trainable, space, callbacks)
    else:
        job.output_dir.mkdir(parents=True, exist_ok=True)
        write_json(job.output_dir / SWEEP_FILE, sweep)
        tuner = _new_tuner(trainable, space, config, job, scheduler, concurrency, tune_dir, callbacks)
    log.info("tune/%s: %s trial(s) at a time, %d evaluation(s) each", name, concurrency, evaluations)
    try:
        with _quiet_tune(), driver.fitting():
            results = tuner.fit()
    finally:
        ray.kill(driver.broadcast, no_restart=True)
    stopped_at = driver.statuses_at_stop  # None: the sweep ran to its end
    if stopped_at is None:
        write_json(job.output_dir / SWEEP_FILE, {**sweep, "finished": True})  # a rerun sweeps anew
    if storage is not None:
        storage.restore(storage.relpath(job.output_dir))  # the trials' logs and predictions
    trials = [trial_row(result, job, stopped_at) for result in results]
    trials.sort(key=lambda t: t["trial"])
    if tracking is not None:
        end_stopped_trials(Tracker(tracking), job, trials)
    if stopped_at is None:
        remove_trial_checkpoints(trials, storage)
    interrupted = (None if stopped_at is None else
                   f"{stop.reason if stop else 'stopped'}; rerun tune to continue the sweep")
    return sweep_section(trials, interrupted=interrupted, sweep=sweep, evaluations=evaluations, scheduler=description,
                         concurrency=concurrency, resumed=resuming, started=started)


def _resumable(experiment: Path, recorded: Path, sweep: dict[str, Any]) -> bool:
    """An earlier sweep of exactly this search and candidate, left unfinished, that Tune can restore."""
    if read_json(recorded) != sweep:  # another search or candidate identity, or one that finished
        return False
    return tune.Tuner.can_restore(str(experiment))


def _new_tuner(trainable: Any, space: dict[str, Any], config: ExperimentConfig, job: TrainingJob, scheduler: Any,
               concurrency: int, tune_dir: Path, callbacks: list[tune.Callback]) -> tune.Tuner:
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            scheduler=scheduler, num_samples=num_samples(space, config.tune.samples),
            # the limit goes to the generator too: Tune does not apply max_concurrent_trials to a
            # BasicVariantGenerator passed in (Ray 2.60; measured: both trials of a grid ran at once)
            max_concurrent_trials=concurrency,
            search_alg=BasicVariantGenerator(random_state=job.settings.seed, max_concurrent=concurrency),
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(name=job.name, storage_path=str(tune_dir), verbose=0,
                                  callbacks=callbacks,
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )


def _restored_tuner(experiment: Path, trainable: Any, space: dict[str, Any],
                    callbacks: list[tune.Callback]) -> tune.Tuner:
    """The interrupted sweep as Tune restores it, driven by this sweep's callbacks: Tune would run
    the ones it pickled with the experiment, which hold nothing of this process (no console, no
    stop request). `Tuner.restore` takes no run config, so they are replaced on the one it
    restored (Ray 2.60, as pinned)."""
    tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True,
                               resume_errored=False, restart_errored=False, param_space=space)
    tuner._local_tuner.get_run_config().callbacks = callbacks
    return tuner
