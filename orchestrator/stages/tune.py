"""The learning-rate sweep: Ray Tune trials per candidate, ASHA early stopping, the best rate kept
in `<run_dir>/tune/tune.json` for `run --use-tuned` (or `learning_rate: tuned`).

One Tuner per chosen candidate, one after the other, since ASHA ranks trials by validation loss,
which only compares trials of the same model. Tune does the search and ASHA; each trial is one
work item (`contract.work.TRIAL`: the training `run` does) under the same supervisor as `run`,
in the placement-group bundle Tune reserved for the trial (`run_trial`), writing into
`<run_dir>/tune/trials/<model>/<trial id>/` (never into `models/`, where `run` keeps its
checkpoints). So a trial has all four limits, the retry policy (out of memory trains again
smaller), the error log and storage exactly as a candidate has. As many trials of a sweep run at
once as the cluster fits, or `tune.max_concurrent`.

A trial reports its validation loss after every evaluation during training (once an epoch;
cheap, no generation), which ASHA stops trials on, and at the end its task metric on the
validation split, which chooses the best rate (`best_trial`). A failed trial is recorded with the
supervisor's classification and one-line reason; it never ends the sweep.

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
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import pickle
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.exceptions import RayActorError, RayTaskError
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import BasicVariantGenerator
from rich.console import Console
from rich.markup import escape

from contract.atomic import read_json, write_json
from contract.job import DataFiles, TrainingJob
from contract.work import TRIAL, WEIGHT_DIRS, TrainRequest
from models.resume import TRAINER_DIR, latest_sealed_step
from models.schedule import training_schedule
from orchestrator.cluster import ClusterInfo
from orchestrator.config import ExperimentConfig, TrainingSettings, TuneConfig
from orchestrator.failures import classify
from orchestrator.interrupts import RunInterrupted, StopRequest
from orchestrator.placement import Placement, actor_resources
from orchestrator.preflight import CandidatePreflight
from orchestrator.report.numbers import fmt_number
from orchestrator.report.tune import fmt_rate
from orchestrator.scheduling import shortfall
from orchestrator.stages.train import candidate_job
from orchestrator.stages.tuned import ASHA_METRIC, SEARCHED, TIME_ATTR, describe, sweep_fingerprint
from orchestrator.stop_broadcast import StopBroadcast, listen
from orchestrator.storage import RunStorage, run_storage
from orchestrator.supervisor import Supervisor
from orchestrator.tracking import Tracker, TrackingTarget
from orchestrator.work import WorkItem

log = logging.getLogger(__name__)

FINAL_METRIC = "validation_metric"  # the task metric on validation, reported once at the end
EVALUATIONS, LAST_EVAL_LOSS = "evaluations", "last_eval_loss"  # in the final report: the training's evaluations
RESUMED_FROM_STEP = "resumed_from_step"  # in the final report: where an interrupted trial's training continued
TRIAL_STATUSES = ("completed", "stopped_early", "failed", "interrupted")


# --------------------------------------------------------------------------- what is searched


def search_space(settings: TuneConfig) -> dict[str, Any]:
    """Setting name -> Tune domain. Each key is a `TrainingSettings` field a trial overrides, so
    another hyperparameter joins the sweep by adding its entry here (its range to TuneConfig, its
    name to `tuned.SEARCHED`)."""
    space = settings.learning_rate
    if space.values is not None:
        domains = {"learning_rate": tune.grid_search(list(space.values))}
    else:
        domains = {"learning_rate": tune.loguniform(space.min, space.max)}
    assert tuple(domains) == SEARCHED, "tuned.SEARCHED names what is searched, for the sweep's fingerprint"
    return domains


def num_samples(space: dict[str, Any], samples: int) -> int:
    """A list of values is tried whole, once each; ranges are sampled `samples` times (times the
    grid, when a range and a list are combined)."""
    grids_only = all(isinstance(domain, dict) and "grid_search" in domain for domain in space.values())
    return 1 if grids_only else samples


def trial_settings(settings: TrainingSettings, params: dict[str, Any]) -> TrainingSettings:
    """The candidate's settings with a trial's values, validated like any config value."""
    return TrainingSettings.model_validate({**settings.model_dump(), **params})


def one_process(settings: TrainingSettings) -> TrainingSettings:
    """A data-parallel candidate's trial settings: one process (in the trial's own bundle) with one
    worker's share of the batch, accumulated over as many steps as there were workers. The
    effective batch, what the learning rate is judged against, stays the candidate's."""
    workers = settings.resources.processes
    if workers == 1:
        return settings
    return settings.model_copy(update={
        "batch_size": settings.per_process_batch_size(), "gradient_accumulation": settings.gradient_accumulation * workers,
        "resources": settings.resources.model_copy(update={"workers": 1, "gpus": settings.resources.gpus_per_process,
                                                           "strategy": "ddp"}),
    })


def make_scheduler(settings: TuneConfig, evaluations: int) -> tuple[ASHAScheduler | None, str]:
    """ASHA on the validation loss, with rungs only before a trial's last evaluation, and trials
    that pass the last rung kept to the end (`stop_last_trials=False`): a trial that trains to
    the end always reaches its final metric. Returns the scheduler (None: every trial runs to the
    end) and a sentence saying which."""
    if settings.scheduler == "none":
        return None, "No early stopping (tune.scheduler: none); every trial trained to the end."
    max_t = evaluations - 1
    if max_t < settings.grace_period:
        return None, (
            f"ASHA had nothing to stop: trials evaluate {evaluations} time(s), and it needs more than "
            f"tune.grace_period ({settings.grace_period}); train for more epochs to let it stop trials early."
        )
    scheduler = ASHAScheduler(
        time_attr=TIME_ATTR, metric=ASHA_METRIC, mode="min", max_t=max_t,
        grace_period=settings.grace_period, reduction_factor=settings.reduction_factor, stop_last_trials=False,
    )
    return scheduler, (
        f"ASHA compared trials by validation loss after each of their {evaluations} evaluations (epochs) and "
        f"stopped those outside the best 1/{settings.reduction_factor}, after at least {settings.grace_period}."
    )


def best_trial(trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The finished trial with the highest validation task metric (ties: the lower final loss).

    Not the lowest eval loss, although ASHA stops trials on it: loss is what is cheap to compare
    after every epoch, but candidates are judged on the task metric (the leaderboard's ROUGE-L or
    accuracy), and the two can disagree (a rate that lowers teacher-forced loss can still
    generate worse summaries). Trials stopped early are left out: they have no final metric, and
    their loss after fewer epochs does not compare with a full run's."""
    finished = [t for t in trials if t["status"] == "completed" and t.get("validation_metric") is not None]
    if not finished:
        return None
    return max(finished, key=lambda t: (t["validation_metric"], -(t.get("final_eval_loss") or math.inf)))


# --------------------------------------------------------------------------- inside a trial


class TrialFailed(RuntimeError):
    """A trial's training failed; carries the supervisor's outcome (kind, reason, hint, log) to the
    driver, where Tune hands it back as the trial's error."""

    def __init__(self, outcome: dict[str, Any]):
        self.outcome = outcome
        super().__init__(outcome.get("error") or "the trial failed")

    def __reduce__(self) -> tuple[Any, ...]:
        return TrialFailed, (self.outcome,)


class EvaluationsToTune:
    """The trial's event sink: each new evaluation its training reports (a heartbeat carrying
    `evaluation`) goes to Tune, where ASHA may stop the trial. `before_report` runs first: Tune
    may end the trial's process at the report, so what must survive a stop is handed in before."""

    def __init__(self, before_report: Callable[[], None] | None = None) -> None:
        self.reported = 0
        self.last_loss: float | None = None
        self.before_report = before_report

    def __call__(self, label: str, kind: str, info: dict[str, Any]) -> None:
        evaluation = info.get(TIME_ATTR)  # the item's merged state: a phase change may carry it too
        if not isinstance(evaluation, int) or evaluation <= self.reported:
            return
        self.reported = evaluation
        if self.before_report is not None:
            try:
                self.before_report()
            except Exception as exc:  # noqa: BLE001 - a log not handed in never costs the trial
                log.warning("could not hand in the trial's log before reporting: %s", exc)
        loss = info.get("eval_loss", math.inf)
        self.last_loss = loss if math.isfinite(loss) else None
        tune.report({ASHA_METRIC: loss if math.isfinite(loss) else math.inf, TIME_ATTR: evaluation,
                     "step": info.get("step")})


def run_trial(params: dict[str, Any], *, job: TrainingJob, metric: str, cluster: ClusterInfo,
              storage: RunStorage | None = None, broadcast: Any = None, tracking: TrackingTarget | None = None) -> None:
    """One trial, in its Tune actor: the candidate's training with the trial's values, as a work
    item under the same supervisor as `run` (the four limits, retries, error log, storage, the
    stop on Ctrl-C through `broadcast`), in the bundle Tune reserved for it. Its weights are
    deleted; metrics, predictions and the log stay. With `tracking`, the trial is one tracked run
    (`orchestrator.tracking`), written from this process."""
    trial_id = tune.get_context().get_trial_id()
    job = dataclasses.replace(job, settings=trial_settings(job.settings, params), output_dir=job.output_dir / trial_id)
    job.output_dir.mkdir(parents=True, exist_ok=True)
    item = WorkItem(TRIAL, job, TrainRequest(keep_weights=False), error_log=job.output_dir / "error.log",
                    tag=trial_id.rsplit("_", 1)[-1])
    group = ray.util.get_current_placement_group()
    placement = Placement((group, actor_resources(job, cluster))) if group is not None else None
    hand_in_log = None
    if storage is not None:  # the log so far, from this node's copy (where the trial's worker writes it)
        log_relpath = storage.relpath(item.log_file)
        hand_in_log = lambda: storage.push(storage.local_root(), log_relpath)  # noqa: E731
    sink = EvaluationsToTune(hand_in_log)
    stop = listen(broadcast) if broadcast is not None else None
    tracker = Tracker(tracking) if tracking is not None else None
    supervisor = Supervisor([item], cluster, job.output_dir, sink, storage=storage, placement=placement, stop=stop,
                            tracker=tracker)
    try:
        outcome = supervisor.run()[0]
    except RunInterrupted:  # its training saved a checkpoint (or was killed after its grace)
        if tracker is not None:
            tracker.close()
        if storage is not None:
            storage.push(storage.local_root(), storage.relpath(job.output_dir))
        ray.get(broadcast.saved.remote(trial_id))
        threading.Event().wait()  # unfinished until the driver ends the sweep, which ends this actor
    except BaseException:  # ASHA stopped it (Tune ends the trial's thread in `tune.report`): its log stays
        local = storage.localize(job.output_dir, storage.local_root()) if storage else job.output_dir
        resumable = stop is not None and stop.requested  # ended by a stop: it continues on the next tune
        if tracker is not None:
            if not resumable:
                tracker.stopped_early(item, f"ASHA stopped the trial after evaluation {sink.reported} "
                                            f"(validation loss {sink.last_loss})")
            tracker.close()
        for weights in (*WEIGHT_DIRS, *(() if resumable else (TRAINER_DIR,))):
            shutil.rmtree(local / weights, ignore_errors=True)
        if storage is not None:
            if not resumable:  # before the push, so that nothing puts its checkpoints back
                storage.delete(storage.relpath(job.output_dir / TRAINER_DIR))
            storage.push(storage.local_root(), storage.relpath(job.output_dir))
        raise
    if tracker is not None:
        tracker.close()
    if not outcome.ok:
        raise TrialFailed(outcome.to_dict())
    metrics = outcome.metrics
    tune.report({ASHA_METRIC: metrics.get("eval_loss", math.inf),
                 FINAL_METRIC: metrics.get("validation", {}).get(metric), "wall_s": outcome.result.wall_s,
                 EVALUATIONS: sink.reported, LAST_EVAL_LOSS: sink.last_loss,
                 RESUMED_FROM_STEP: outcome.result.resumed_from_step})


# --------------------------------------------------------------------------- on the driver


@dataclass
class SweepDriver:
    """What the sweep's callbacks use on the driver, set around `fit` (`driving`). Tune pickles
    its callbacks with the experiment and a restored sweep runs the unpickled ones, so what is
    live (the console, the stop request) is kept here instead of in them."""

    console: Console | None = None
    stop: StopRequest | None = None
    broadcast: Any = None
    started: float = field(default_factory=time.monotonic)
    statuses_at_stop: dict[str, str] | None = None  # trial id -> Tune's status when a stop ended the sweep


_driver = SweepDriver()


@contextmanager
def driving(console: Console | None, stop: StopRequest | None, broadcast: Any) -> Iterator[SweepDriver]:
    """One sweep's driver state, and Ctrl-C left to the run's own handler (`stop`) instead of
    Tune's, which would end the trials before they save."""
    global _driver
    _driver = SweepDriver(console, stop, broadcast)
    previous = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        yield _driver
    finally:
        if previous is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous
        _driver = SweepDriver()


class EndSweepOnStop(tune.Callback):
    """Driver side, once a stop is requested: broadcast it to the trials, wait until every running
    trial has saved (at most `grace_s`), then end the sweep as Tune's own SIGUSR1 handler does:
    the experiment state is saved with those trials unfinished, for `Tuner.restore`."""

    def __init__(self, grace_s: float):
        self.grace_s = grace_s
        self._reset()

    def _reset(self) -> None:
        self.deadline: float | None = None
        self.polled = 0.0
        self.ended = False

    def __getstate__(self) -> dict[str, Any]:
        return {"grace_s": self.grace_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.grace_s = state["grace_s"]
        self._reset()

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        stop, broadcast = _driver.stop, _driver.broadcast
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
        _driver.statuses_at_stop = {t.trial_id: t.status for t in trials}
        log.info("sweep: %d running trial(s) saved; ending the sweep for a later restore", len(running & saved))
        signal.raise_signal(signal.SIGUSR1)


class TrialLog(tune.Callback):
    """Driver side: one line per trial result and ending, and each trial's history for the table."""

    def __init__(self, job: TrainingJob, metric: str, evaluations: int):
        self.job = job
        self.name = job.name
        self.metric = metric
        self.evaluations = evaluations
        self.trials: dict[str, dict[str, Any]] = {}

    def _print(self, trial: Any, text: str) -> None:
        if _driver.console is not None:
            label = f"tune/{self.name}/{trial.trial_id.rsplit('_', 1)[-1]}"
            rate = fmt_rate(trial.config.get("learning_rate"))
            elapsed = time.monotonic() - _driver.started
            _driver.console.print(f"{elapsed:7.1f}s  {escape(label):<30} lr {rate:<8} {text}")

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


def trial_failure(error: BaseException) -> dict[str, Any]:
    """The failed trial's outcome as its supervisor recorded it (kind, reason, hint, log); an
    error from Tune itself (the trial's actor died before its supervisor could say) is classified
    like any other."""
    cause = error.cause if isinstance(error, RayTaskError) and error.cause is not None else error
    if isinstance(cause, TrialFailed):
        return cause.outcome
    failure = classify(cause, died=isinstance(cause, RayActorError))
    return {"status": failure.status, "error": failure.reason, "hint": failure.hint, "failure_kind": failure.kind.value}


def _finite(value: Any) -> float | None:
    return round(float(value), 5) if isinstance(value, int | float) and math.isfinite(value) else None


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
        return _not_swept("skipped", f"a trial {short}; lower the candidate's resources", started)
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
    trial_log = TrialLog(job, config.task.resolved_metric(), evaluations)
    broadcast = StopBroadcast.remote()  # type: ignore[attr-defined]
    tracking = TrackingTarget.for_run(config.tracking, run_dir, config.experiment)
    trainable = tune.with_resources(tune.with_parameters(run_trial, job=job, metric=config.task.resolved_metric(),
                                                         cluster=cluster, storage=storage, broadcast=broadcast,
                                                         tracking=tracking),
                                    resources)
    if resuming:
        log.info("tune/%s: resuming the interrupted sweep (finished trials kept, unfinished ones continue from "
                 "their checkpoints)", name)
        tuner = tune.Tuner.restore(str(tune_dir / name), trainable=trainable, resume_unfinished=True,
                                   resume_errored=False, restart_errored=False, param_space=space)
    else:
        job.output_dir.mkdir(parents=True, exist_ok=True)
        write_json(job.output_dir / SWEEP_FILE, sweep)
        tuner = _new_tuner(trainable, space, config, job, scheduler, concurrency, tune_dir, trial_log)
    log.info("tune/%s: %s trial(s) at a time, %d evaluation(s) each", name, concurrency, evaluations)
    try:
        with _quiet_tune(), driving(console, stop, broadcast) as driver:
            results = tuner.fit()
    finally:
        ray.kill(broadcast, no_restart=True)
    stopped_at = driver.statuses_at_stop  # None: the sweep ran to its end
    if stopped_at is None:
        write_json(job.output_dir / SWEEP_FILE, {**sweep, "finished": True})  # a rerun sweeps anew
    if storage is not None:
        storage.restore(storage.relpath(job.output_dir))  # the trials' logs and predictions
    trials = [_trial_row(result, job, stopped_at) for result in results]
    trials.sort(key=lambda t: t["trial"])
    if tracking is not None:
        end_stopped_trials(Tracker(tracking), job, trials)
    if stopped_at is None:
        _remove_trial_checkpoints(trials, storage)
    best = best_trial(trials) if stopped_at is None else None
    if stopped_at is not None:
        status, reason = "interrupted", f"{stop.reason if stop else 'stopped'}; rerun tune to continue the sweep"
    else:
        status = "ok" if best else "failed"
        reason = None if best else "no trial finished: " + "; ".join(
            sorted({t["error"] for t in trials if t.get("error")}) or ["all were stopped early"])
    section = {
        "status": status,
        "learning_rate": best["learning_rate"] if best else None,
        "best": ({"trial": best["trial"], "learning_rate": best["learning_rate"],
                  "validation_metric": best["validation_metric"]} if best else None),
        "reason": reason,
        "sweep": describe(config),
        "evaluations": evaluations,
        "scheduler": description,
        "concurrency": concurrency,
        "counts": {status: sum(t["status"] == status for t in trials) for status in TRIAL_STATUSES},
        "trials": trials,
        "fingerprint": sweep["fingerprint"],
        "resumed": resuming,
        "wall_s": round(time.time() - started, 2),
    }
    return section


def end_stopped_trials(tracker: Tracker, job: TrainingJob, trials: list[dict[str, Any]]) -> None:
    """End the tracked runs of the trials ASHA stopped, from the driver: the trial's own actor
    ends its run too, but Tune may end that actor before its tracker has written it."""
    for trial in trials:
        if trial["status"] == "stopped_early":
            item = WorkItem(TRIAL, job, tag=trial["trial"].rsplit("_", 1)[-1])
            tracker.stopped_early(item, f"ASHA stopped the trial after evaluation {trial.get('evaluations')}")
    tracker.close()


SWEEP_FILE = "sweep.json"  # in the sweep's trials folder: what it searches and for which candidate identity
STOP_SLACK_S = 60.0  # beyond a training's stop_grace: a trial's actor starting, its supervisor noticing


def _resumable(experiment: Path, recorded: Path, sweep: dict[str, Any]) -> bool:
    """An earlier sweep of exactly this search and candidate, left unfinished, that Tune can restore."""
    if read_json(recorded) != sweep:  # another search or candidate identity, or one that finished
        return False
    return tune.Tuner.can_restore(str(experiment))


def _new_tuner(trainable: Any, space: dict[str, Any], config: ExperimentConfig, job: TrainingJob, scheduler: Any,
               concurrency: int, tune_dir: Path, trial_log: TrialLog) -> Any:
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
                                  callbacks=[trial_log, EndSweepOnStop(job.settings.timeouts.stop_grace + STOP_SLACK_S)],
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )


def _trial_row(result: Any, job: TrainingJob, stopped_at: dict[str, str] | None = None) -> dict[str, Any]:
    """A trial's row from what Tune keeps of it in its experiment state (its last report), so a
    restored sweep reports its earlier trials as they ran: a finished trial's final report
    carries its evaluation count and last loss during training too. In a sweep a stop ended
    (`stopped_at`: Tune's trial statuses then), a trial that was still running or waiting is
    `interrupted`, with the step its training continues from."""
    trial_id = Path(result.path).name
    trial_dir = job.output_dir / trial_id
    last = result.metrics or {}
    completed = FINAL_METRIC in last
    unfinished = stopped_at is not None and stopped_at.get(trial_id, "RUNNING") in ("RUNNING", "PENDING", "PAUSED")
    row: dict[str, Any] = {
        "trial": trial_id,
        **result.config,
        "status": "completed" if completed else "interrupted" if unfinished else "stopped_early",
        "evaluations": int(last.get(EVALUATIONS, last.get(TIME_ATTR)) or 0),
        "last_eval_loss": _finite(last.get(LAST_EVAL_LOSS) if completed else last.get(ASHA_METRIC)),
        "final_eval_loss": _finite(last.get(ASHA_METRIC)) if completed else None,
        "validation_metric": _finite(last.get(FINAL_METRIC)),
        "wall_s": _finite(last.get("time_total_s")),
        "resumed_from_step": last.get(RESUMED_FROM_STEP) if completed else None,
        "error": None,
        "dir": str(trial_dir),
    }
    if row["status"] == "interrupted":
        row["resumes_from_step"] = latest_sealed_step(trial_dir / TRAINER_DIR)
    if result.error is not None:
        failed = trial_failure(result.error)
        row.update(status="failed", error=failed.get("error"), failure_kind=failed.get("failure_kind"),
                   hint=failed.get("hint"), log=failed.get("log") or str(trial_dir / "error.log"),
                   wall_s=row["wall_s"] if row["wall_s"] is not None else _finite(failed.get("wall_s")))
    return row


def _remove_trial_checkpoints(trials: list[dict[str, Any]], storage: RunStorage | None) -> None:
    """A finished sweep's resumable checkpoints (of trials stopped early or failed) are no longer
    needed, here or in storage."""
    for trial in trials:
        trial_dir = Path(trial["dir"])
        shutil.rmtree(trial_dir / TRAINER_DIR, ignore_errors=True)
        if storage is not None:
            storage.delete(storage.relpath(trial_dir / TRAINER_DIR))


def _not_swept(status: str, reason: str, started: float) -> dict[str, Any]:
    return {"status": status, "learning_rate": None, "best": None, "reason": reason, "trials": [],
            "wall_s": round(time.time() - started, 2)}


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
            models[candidate.name] = _not_swept("interrupted", f"{stop.reason}; rerun tune to sweep it", time.time())
            continue
        verdict = preflight.get(candidate.name)
        if verdict is not None and not verdict.ok:
            models[candidate.name] = _not_swept("skipped", f"preflight: {verdict.reason}; fix: {verdict.fix}", time.time())
            continue
        models[candidate.name] = sweep_candidate(config, candidate, data, labels, cluster, run_dir, console,
                                                 run_storage(config.storage, run_dir), stop)
    return models


