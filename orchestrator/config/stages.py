"""The sections of the stages after training: `ensemble`, `optimize` (inference backends) and
`tune` (the learning-rate sweep)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from contract.fields import Strict, one_of
from contract.names import canonical_name, suggestion_text
from orchestrator.config.errors import ConfigIssue
from orchestrator.config.raw import RawContext, number_or_none, section


class EnsembleConfig(Strict):
    strategy: one_of("auto", "none", "mbr", "stacking", "average") = Field(
        "auto", description="auto: the best single member, MBR or averaging, and stacking with each meta-learner, "
                            "one chosen on validation by the one-standard-error rule; another name forces that method."
    )
    min_models: int = Field(2, ge=1, description="Survivors needed for the stage to run (members that drop out count).")
    meta_learner: one_of("auto", "linear", "gradient_boosting", "pairwise", "lambdarank") = Field(
        "auto", description="linear: logistic regression (classification) or ridge (summarization); pairwise and "
                            "lambdarank rank a pool's summaries (summarization); auto: each, chosen on validation."
    )
    folds: int = Field(5, ge=2, description="Cross-fitting folds over validation; a dialogue's whole pool in one.")
    num_candidates: int = Field(4, ge=1, description="Summaries each model proposes per input.")
    num_beams: int = Field(4, ge=1, description="Beam search width when members propose summaries.")
    cross_fit_members: int = Field(
        0, ge=0, description="K >= 2: train every member K more times, each without one fold of the training split, "
                             "so the meta-learner also learns from predictions on training rows their models never "
                             "saw (proper stacking; K more trainings per member). 0: off."
    )


class LearningRateSpace(Strict):
    min: float | None = Field(None, gt=0, description="Low end of a log-uniform range.")
    max: float | None = Field(None, gt=0, description="High end of a log-uniform range.")
    values: list[Annotated[float, Field(gt=0)]] | None = Field(
        None, description="Rates each tried once, instead of a range."
    )


class TuneConfig(Strict):
    learning_rate: LearningRateSpace = Field(
        LearningRateSpace(min=1e-5, max=1e-2), description="Where rates are drawn from: min and max, or values."
    )
    samples: int = Field(4, ge=1, description="Draws from a min/max range; a list of values is tried whole.")
    scheduler: one_of("asha", "none") = Field(
        "asha", description="asha stops weak trials after each epoch; none runs every trial to the end."
    )
    max_concurrent: int | None = Field(None, ge=1, description="Default: as many trials as the cluster fits.")
    grace_period: int = Field(1, ge=1, description="Evaluations (epochs) every trial gets before ASHA may stop it.")
    reduction_factor: int = Field(2, ge=2, description="ASHA keeps the best 1/reduction_factor at each rung.")
    models: list[str] | None = Field(None, description="Candidates swept when --only is not given; default: all.")


def check_ensemble_raw(raw: Any, context: RawContext) -> list[ConfigIssue]:
    """mbr picks among generated summaries and average among class probabilities, and the rankers
    order a pool of summaries: each fits one task. Fold models feed only a stacking meta-learner."""
    strategy = canonical_name(str(section(raw).get("strategy", "auto")))
    issues = _cross_fit_issues(section(raw).get("cross_fit_members", 0), strategy)
    if not context.task_known:
        return issues
    task_type = context.task_type
    only_for = {"mbr": "summarization", "average": "classification"}
    if strategy in only_for and only_for[strategy] != task_type:
        issues.append(ConfigIssue(
            "ensemble.strategy",
            f"{strategy!r} is for {only_for[strategy]} tasks; use auto, stacking or none "
            f"(or {'mbr' if task_type == 'summarization' else 'average'}) for {task_type}",
        ))
    learner = canonical_name(str(section(raw).get("meta_learner", "auto")))
    if learner in ("pairwise", "lambdarank") and task_type != "summarization":
        issues.append(ConfigIssue(
            "ensemble.meta_learner",
            f"{learner!r} ranks candidate summaries; use auto, linear or gradient_boosting for {task_type}",
        ))
    return issues


def _cross_fit_issues(folds: Any, strategy: str) -> list[ConfigIssue]:
    if isinstance(folds, bool) or not isinstance(folds, int):
        return []  # not a number: the type check says so
    if folds == 1:
        return [ConfigIssue("ensemble.cross_fit_members", "one fold leaves no training rows out; use 0 (off) or at "
                                                          "least 2")]
    if folds >= 2 and strategy not in ("auto", "stacking"):
        return [ConfigIssue(
            "ensemble.cross_fit_members",
            f"the fold models feed the stacking meta-learner, which strategy {strategy!r} does not fit; use "
            "strategy auto or stacking, or cross_fit_members: 0",
        )]
    return []


def check_optimize_raw(raw: Any, context: RawContext) -> list[ConfigIssue]:
    return _unknown_models("optimize", section(raw), context)


def check_tune_raw(raw: Any, context: RawContext) -> list[ConfigIssue]:
    """The learning-rate space is either a log-uniform range min < max or a list of values."""
    tune = section(raw)
    issues = []
    space = tune.get("learning_rate")
    if isinstance(space, dict):
        has_range = space.get("min") is not None or space.get("max") is not None
        if has_range == (space.get("values") is not None):
            issues.append(ConfigIssue(
                "tune.learning_rate", "give either min and max (log-uniform) or values, not both"
            ))
        elif has_range:
            low, high = number_or_none(space.get("min")), number_or_none(space.get("max"))
            if low is None or high is None or not low < high:
                issues.append(ConfigIssue("tune.learning_rate", "needs numbers min < max"))
    return issues + _unknown_models("tune", tune, context)


def _unknown_models(name: str, block: dict[str, Any], context: RawContext) -> list[ConfigIssue]:
    """A stage's `models` list may name only candidates of the `models` section."""
    if not isinstance(block.get("models"), list):
        return []
    names = context.candidate_names
    known = {canonical_name(n) for n in names}
    return [
        ConfigIssue(f"{name}.models[{j}]", f"no candidate named {entry!r}{suggestion_text(str(entry), names)}")
        for j, entry in enumerate(block["models"])
        if canonical_name(str(entry)) not in known
    ]
