"""A sweep's bookkeeping on the driver: each trial's row of tune.json read back from what Tune
recorded of it (so a restored sweep reports its earlier trials as they ran), a failed trial's
outcome as its supervisor classified it, the best trial, the candidate's section of tune.json,
and what a finished sweep no longer needs (resumable checkpoints, tracked runs left open).
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

from ray.exceptions import RayActorError, RayTaskError

from contract.checkpoints import TRAINER_DIR, latest_sealed_step
from contract.job import TrainingJob
from contract.work import TRIAL
from orchestrator.failures import classify
from orchestrator.stages.tune_trial import EVALUATIONS, FINAL_METRIC, LAST_EVAL_LOSS, RESUMED_FROM_STEP, TrialFailed
from orchestrator.stages.tuned import ASHA_METRIC, TIME_ATTR
from orchestrator.storage import RunStorage
from orchestrator.tracking import Tracker
from orchestrator.work import WorkItem

TRIAL_STATUSES = ("completed", "stopped_early", "failed", "interrupted")


def trial_row(result: Any, job: TrainingJob, stopped_at: dict[str, str] | None = None) -> dict[str, Any]:
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


def sweep_section(trials: list[dict[str, Any]], *, interrupted: str | None, sweep: dict[str, Any], evaluations: int,
                  scheduler: str, concurrency: int, resumed: bool, started: float) -> dict[str, Any]:
    """A swept candidate's section of tune.json, from its trial rows and how the sweep was set up
    (`sweep`: its fingerprint and description, as in sweep.json): the best trial's rate, or why
    there is none. A sweep a stop ended (`interrupted`: why, and how to go on) chooses no rate;
    its running trials saved, and the next `tune` restores it."""
    best = best_trial(trials) if interrupted is None else None
    if interrupted is not None:
        status, reason = "interrupted", interrupted
    else:
        status = "ok" if best else "failed"
        reason = None if best else "no trial finished: " + "; ".join(
            sorted({t["error"] for t in trials if t.get("error")}) or ["all were stopped early"])
    return {
        "status": status,
        "learning_rate": best["learning_rate"] if best else None,
        "best": ({"trial": best["trial"], "learning_rate": best["learning_rate"],
                  "validation_metric": best["validation_metric"]} if best else None),
        "reason": reason,
        "sweep": sweep["sweep"],
        "evaluations": evaluations,
        "scheduler": scheduler,
        "concurrency": concurrency,
        "counts": {status: sum(t["status"] == status for t in trials) for status in TRIAL_STATUSES},
        "trials": trials,
        "fingerprint": sweep["fingerprint"],
        "resumed": resumed,
        "wall_s": round(time.time() - started, 2),
    }


def not_swept(status: str, reason: str, started: float) -> dict[str, Any]:
    """The section of a candidate whose sweep did not run (`skipped`, or `interrupted` before it began)."""
    return {"status": status, "learning_rate": None, "best": None, "reason": reason, "trials": [],
            "wall_s": round(time.time() - started, 2)}


def remove_trial_checkpoints(trials: list[dict[str, Any]], storage: RunStorage | None) -> None:
    """A finished sweep's resumable checkpoints (of trials stopped early or failed) are no longer
    needed, here or in storage."""
    for trial in trials:
        trial_dir = Path(trial["dir"])
        shutil.rmtree(trial_dir / TRAINER_DIR, ignore_errors=True)
        if storage is not None:
            storage.delete(storage.relpath(trial_dir / TRAINER_DIR))


def end_stopped_trials(tracker: Tracker, job: TrainingJob, trials: list[dict[str, Any]]) -> None:
    """End the tracked runs of the trials ASHA stopped, from the driver: the trial's own actor
    ends its run too, but Tune may end that actor before its tracker has written it."""
    for trial in trials:
        if trial["status"] == "stopped_early":
            item = WorkItem(TRIAL, job, tag=trial["trial"].rsplit("_", 1)[-1])
            tracker.stopped_early(item, f"ASHA stopped the trial after evaluation {trial.get('evaluations')}")
    tracker.close()
