"""What runs inside one trial of a sweep, in its Tune actor: the candidate's training with the
trial's values, as a work item under the same supervisor as `run` (`run_trial`), its evaluations
reported to Tune as they come (`EvaluationsToTune`), and a failure carried back to the driver
with the supervisor's classification (`TrialFailed`). The names of what a trial reports at its
end are here too; the driver's bookkeeping (`tune_results`) reads them back.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import threading
from collections.abc import Callable
from typing import Any

import ray
from ray import tune

from contract.checkpoints import TRAINER_DIR
from contract.job import TrainingJob
from contract.work import TRIAL, WEIGHT_DIRS, TrainRequest
from orchestrator.cluster import ClusterInfo
from orchestrator.interrupts import RunInterrupted
from orchestrator.placement import Placement, actor_resources
from orchestrator.stages.tune_search import trial_settings
from orchestrator.stages.tuned import ASHA_METRIC, TIME_ATTR
from orchestrator.stop_broadcast import listen
from orchestrator.storage import RunStorage
from orchestrator.supervisor import Supervisor
from orchestrator.tracking import Tracker, TrackingTarget
from orchestrator.work import WorkItem

log = logging.getLogger(__name__)

FINAL_METRIC = "validation_metric"  # the task metric on validation, reported once at the end
EVALUATIONS, LAST_EVAL_LOSS = "evaluations", "last_eval_loss"  # in the final report: the training's evaluations
RESUMED_FROM_STEP = "resumed_from_step"  # in the final report: where an interrupted trial's training continued


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
