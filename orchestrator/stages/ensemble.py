"""The ensemble stage: combine the survivors' predictions and say whether it beat the best one.

It reads what training wrote (predictions on validation and test, with class probabilities for
classifiers), gathers what the members make of them (`stages.members`: their beams and scores,
for stacked summaries), and hands all of it to the `ensemble-fit` step, which runs in an actor
like any step: it writes the fitted meta-learner (joblib) and the ensemble's test predictions
into `ensemble/`. The driver keeps the bookkeeping: `ensemble.json` (members, features, scores)
with its verdict line, and the stage's section of summary.json.
"""

from __future__ import annotations

import logging
import shutil
import time
from typing import Any

from contract.atomic import write_json
from contract.ensemble import ClassifierInputs, FitRequest, FitResult, SummaryInputs
from contract.rows import read_rows, row_references
from contract.work import ENSEMBLE_FIT
from orchestrator.outcome import Outcome
from orchestrator.stages import skipped
from orchestrator.stages.context import RunContext
from orchestrator.stages.folds import cross_fitted_members
from orchestrator.stages.members import EnsembleStepFailed, Members, TooFewMembers, run_ensemble_step

log = logging.getLogger(__name__)

Row = dict[str, Any]


def run_ensemble(ctx: RunContext, outcomes: list[Outcome]) -> dict[str, Any]:
    """The `ensemble` section of summary.json: ok (with scores and verdict), skipped with why, or
    failed with the failed step's error log. Classification needs only the members' saved
    predictions; summarization runs the members (on the context's cluster) to propose and score
    candidates."""
    started = time.time()
    config, data, labels, run_dir = ctx.config, ctx.data, ctx.labels, ctx.run_dir
    settings = config.ensemble
    members = sorted(o.name for o in outcomes if o.status == "succeeded")
    # Whatever this stage ends with, an earlier run's meta-learner never stands beside it: `predict`
    # must not combine today's members with yesterday's weights.
    shutil.rmtree(run_dir / "ensemble", ignore_errors=True)
    if (storage := ctx.storage) is not None:  # nor comes back from storage with this stage's outputs
        storage.delete("ensemble")
    if settings.strategy == "none":
        return skipped("ensemble.strategy is none")
    if len(members) < settings.min_models:
        return skipped(f"{len(members)} candidate(s) survived; ensemble.min_models is {settings.min_models}")
    if data.validation is None or data.test is None:
        return skipped("the ensemble is fitted on validation and scored on test; both splits are needed")

    out = run_dir / "ensemble"
    out.mkdir(parents=True, exist_ok=True)
    predictions = {
        split: {m: read_rows(run_dir / "models" / m / "predictions" / f"{split}.jsonl") for m in members}
        for split in ("validation", "test")
    }
    gold = {split: read_rows(getattr(data, split)) for split in ("validation", "test")}

    team = Members(ctx, members)
    folds: dict[str, Any] = {}
    try:
        if config.task.type == "classification":
            inputs: ClassifierInputs | SummaryInputs = _classifier_inputs(ctx, members, predictions, gold, folds)
        else:
            inputs = _summary_inputs(team, predictions, gold, folds)
        result: FitResult = run_ensemble_step(ctx, ENSEMBLE_FIT, FitRequest(
            settings.strategy, settings.meta_learner, settings.folds, config.defaults.seed,
            config.task.resolved_metric(), inputs))
    except TooFewMembers as exc:
        return {**skipped(str(exc)), "dropped": team.dropped}
    except EnsembleStepFailed as exc:
        log.error("ensemble: %s (log: %s)", exc, exc.log)
        failed = {"status": "failed", "reason": str(exc), "log": exc.log}
        return {**failed, "dropped": team.dropped} if team.dropped else failed

    section = {"status": "ok", **result.summary, "wall_s": round(time.time() - started, 2)}
    if folds:
        section["cross_fit_members"] = folds
    if team.dropped:
        section["dropped"] = team.dropped
    if labels:
        section["labels"] = list(labels)
    section["verdict"] = verdict(section, config.task.resolved_metric())
    if result.meta_learner_file is not None:
        # named relative to ensemble/ with its hash: `predict` loads only this file, unchanged
        section["meta_learner_file"] = result.meta_learner_file
        section["meta_learner_sha256"] = result.meta_learner_sha256
    write_json(out / "ensemble.json", section)
    log.info("ensemble: %s", section["verdict"])
    return section


def _classifier_inputs(
    ctx: RunContext, members: list[str], predictions: dict[str, Any], gold: dict[str, list[Row]],
    folds: dict[str, Any],
) -> ClassifierInputs:
    """The members' saved class probabilities and the gold labels (with cross-fitted members,
    also their fold models' probabilities on the training split)."""
    target = ctx.config.task.resolved_target_column()
    probabilities = {split: {m: [r["probabilities"] for r in by_member[m]] for m in members}
                     for split, by_member in predictions.items()}
    labels = {split: [str(r[target]) for r in rows] for split, rows in gold.items()}
    if (fold_run := cross_fitted_members(ctx, members)) is not None:
        found = fold_run.probabilities()
        if found is not None:
            probabilities["train"], labels["train"] = found
        folds.update(fold_run.record(len(found[1]) if found else 0))
    return ClassifierInputs(list(ctx.labels), probabilities, labels)


def _summary_inputs(
    members: Members, predictions: dict[str, Any], gold: dict[str, list[Row]], folds: dict[str, Any],
) -> SummaryInputs:
    """Pools per dialogue (members' summaries; for stacking also their beams, scored by every
    member) and the references. With cross-fitted members, the fold models make the training
    split's pools too."""
    config = members.ctx.config
    settings = config.ensemble
    target = config.task.resolved_target_column()
    own = {split: {m: [p["prediction"] for p in by_member[m]] for m in members.names}
           for split, by_member in predictions.items()}
    pools = members.pools(gold, own, stacking=settings.strategy in ("auto", "stacking"))
    references = {split: [row_references(r, target) for r in rows] for split, rows in gold.items()}
    if (fold_run := cross_fitted_members(members.ctx, members.names)) is not None:
        found = fold_run.pools(settings.num_candidates, settings.num_beams)
        if found is not None:
            pools["train"], references["train"] = found
        folds.update(fold_run.record(len(found[1]) if found else 0))
    return SummaryInputs(pools, references, config.task.language, config.task.multi_reference,
                         [r.get("id", "") for r in gold["test"]])


def verdict(section: dict[str, Any], metric: str) -> str:
    """One line: the method chosen on validation and, on test, whether it is better than the best
    single member (chosen on validation) by more than the noise, with the 95 % interval; for
    honesty, also the member that happened to be best on test."""
    scores, chosen, best = section["scores"], section["chosen"], section["best_member"]
    mine = scores[chosen]["test"][metric]
    top_member = max(section["members"], key=lambda m: scores[m]["test"][metric])
    hindsight = ""
    if top_member != best:
        hindsight = f"; in hindsight {top_member} was the best member on test ({scores[top_member]['test'][metric]:.2f})"
    if chosen == "best_single":
        return (f"the best single model ({best}) is used, test {metric} {mine:.2f}: "
                f"{section['choice']['reason']}{hindsight}")
    gap = section["versus_best_single"][chosen][metric]
    relation = {"better": "is better than", "worse": "is worse than",
                "not distinguishable": "cannot be told from"}[gap["verdict"]]
    return (f"{chosen} (chosen on validation) {relation} the best single model ({best}) on test: {metric} "
            f"{mine:.2f} vs {scores['best_single']['test'][metric]:.2f}, {gap['difference']:+.2f} "
            f"[95 % interval {gap['low']:+.2f}, {gap['high']:+.2f}]{hindsight}")
