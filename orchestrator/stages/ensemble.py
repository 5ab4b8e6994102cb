"""The ensemble stage: combine the survivors' predictions and say whether it beat the best one.

It reads what training wrote (predictions on validation and test, with class probabilities for
classifiers) and writes `ensemble/`: the fitted meta-learner (joblib), `ensemble.json` (members,
features, scores) and the ensemble's test predictions.
"""

from __future__ import annotations

import logging
import shutil
import time
from typing import Any

import joblib
import numpy as np

from contract.atomic import file_sha256, write_json
from models.data.files import read_rows, write_jsonl
from models.metrics import row_references
from orchestrator.outcome import Outcome
from orchestrator.stages import skipped
from orchestrator.stages.context import RunContext
from orchestrator.stages.folds import cross_fitted_members
from orchestrator.stages.members import Members, TooFewMembers

log = logging.getLogger(__name__)

META_LEARNER_FILE = "meta_learner.joblib"  # in ensemble/


def run_ensemble(ctx: RunContext, outcomes: list[Outcome]) -> dict[str, Any]:
    """The `ensemble` section of summary.json: ok (with scores and verdict) or skipped with why.
    Classification needs only the members' saved predictions; summarization runs the members
    (on the context's cluster) to propose and score candidates."""
    started = time.time()
    config, data, labels, run_dir = ctx.config, ctx.data, ctx.labels, ctx.run_dir
    settings = config.ensemble
    members = sorted(o.name for o in outcomes if o.status == "succeeded")
    # Whatever this stage ends with, an earlier run's meta-learner never stands beside it: `predict`
    # must not combine today's members with yesterday's weights.
    shutil.rmtree(run_dir / "ensemble", ignore_errors=True)
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
    common = {"meta_learner": settings.meta_learner, "folds": settings.folds,
              "seed": config.defaults.seed, "metric": config.task.resolved_metric()}

    team = Members(ctx, members)
    folds: dict[str, Any] = {}
    try:
        if config.task.type == "classification":
            result: Any = _classification(ctx, members, predictions, gold, common, folds)
        else:
            result = _summarization(team, predictions, gold, common, folds)
    except TooFewMembers as exc:
        return {**skipped(str(exc)), "dropped": team.dropped}

    section = {"status": "ok", **result.summary(), "wall_s": round(time.time() - started, 2)}
    if folds:
        section["cross_fit_members"] = folds
    if team.dropped:
        section["dropped"] = team.dropped
    if labels:
        section["labels"] = list(labels)
    section["verdict"] = verdict(section, config.task.resolved_metric())
    if result.model is not None:
        staged = out / ".meta_learner.joblib.tmp"
        joblib.dump(result.model, staged)
        staged.replace(out / META_LEARNER_FILE)
        # named relative to ensemble/ with its hash: `predict` loads only this file, unchanged
        section["meta_learner_file"] = META_LEARNER_FILE
        section["meta_learner_sha256"] = file_sha256(out / META_LEARNER_FILE)
    write_json(out / "ensemble.json", section)
    log.info("ensemble: %s", section["verdict"])
    return section


def _classification(
    ctx: RunContext, members: list[str], predictions: dict[str, Any], gold: dict[str, Any], common: dict[str, Any],
    folds: dict[str, Any],
) -> Any:
    """Stacking over the members' saved class probabilities (with cross-fitted members, also over
    their fold models' probabilities on the training split)."""
    from models.ensemble.classification import ensemble_classifiers

    config = ctx.config
    target = config.task.resolved_target_column()
    probabilities = {
        split: {m: np.array([r["probabilities"] for r in by_member[m]]) for m in members}
        for split, by_member in predictions.items()
    }
    train: dict[str, Any] = {}
    if (fold_run := cross_fitted_members(ctx, members)) is not None:
        found = fold_run.probabilities()
        if found is not None:
            train = {"train": found[0], "gold_train": found[1]}
        folds.update(fold_run.record(len(found[1]) if found else 0))
    return ensemble_classifiers(
        config.ensemble.strategy, probabilities["validation"], probabilities["test"],
        [str(r[target]) for r in gold["validation"]], [str(r[target]) for r in gold["test"]],
        list(ctx.labels), **common, **train,
    )


def _summarization(
    members: Members, predictions: dict[str, Any], gold: dict[str, Any], common: dict[str, Any],
    folds: dict[str, Any],
) -> Any:
    """Pools per dialogue (members' summaries; for stacking also their beams, scored by every
    member), then the selection; the chosen test summaries are written out. With cross-fitted
    members, the fold models make the training split's pools too."""
    from models.ensemble.summarization import ensemble_summaries

    config = members.ctx.config
    settings = config.ensemble
    target = config.task.resolved_target_column()
    own = {split: {m: [p["prediction"] for p in by_member[m]] for m in members.names}
           for split, by_member in predictions.items()}
    pools = members.pools(gold, own, stacking=settings.strategy in ("auto", "stacking"))
    train: dict[str, Any] = {}
    if (fold_run := cross_fitted_members(members.ctx, members.names)) is not None:
        found = fold_run.pools(settings.num_candidates, settings.num_beams)
        if found is not None:
            train = {"train": found[0], "references_train": found[1]}
        folds.update(fold_run.record(len(found[1]) if found else 0))
    result = ensemble_summaries(
        settings.strategy, pools["validation"], pools["test"],
        [row_references(r, target) for r in gold["validation"]], [row_references(r, target) for r in gold["test"]],
        config.task.language, **common, **train, combine=config.task.multi_reference,
    )
    if result.chosen_test:
        write_jsonl(members.ctx.run_dir / "ensemble" / "test_predictions.jsonl", (
            {"id": gold["test"][i].get("id", ""), "prediction": pools["test"].texts[i][c]}
            for i, c in enumerate(result.chosen_test)
        ))
    return result


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
