"""Which ensemble method to use, and how sure each verdict is.

Both questions are answered with one tool, a paired bootstrap over examples (scipy's
`bootstrap`, seeded, so a rerun gives the same interval):
- **On test**, every method against the best single member: the difference with its 95 %
  interval. The verdict says better, not distinguishable or worse; a difference inside the
  noise is never called a win.
- **On validation**, which method to use: the one-standard-error rule. The method with the best
  validation score (out of fold for a meta-learner, so honest) sets the bar; the simplest method
  whose paired difference to it is within one bootstrap standard error is chosen. A more complex
  method is used only when it is clearly better, because choosing among several methods on one
  validation set rewards luck, and more so the more flexible the method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import bootstrap
from sklearn.base import BaseEstimator

RESAMPLES = 2000
CONFIDENCE = 0.95

# Simplest first: the order in which the one-standard-error rule prefers methods. A meta-learner
# that also learns from the cross-fitted members' training pools (`+train`) comes after every one
# that learns from validation alone: it must be clearly better to be used.
COMPLEXITY = ("best_single", "average", "mbr", "stacking:linear", "stacking:pairwise",
              "stacking:gradient_boosting", "stacking:lambdarank")
WITH_TRAINING_ROWS = "+train"  # suffix of a stacking method fitted on the training pools too


@dataclass(frozen=True)
class Comparison:
    """A method's score minus the reference's, with a paired bootstrap interval and standard error."""

    difference: float
    low: float
    high: float
    standard_error: float

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "not distinguishable"

    def as_dict(self) -> dict[str, Any]:
        return {"difference": round(self.difference, 3), "low": round(self.low, 3), "high": round(self.high, 3),
                "confidence": CONFIDENCE, "verdict": self.verdict}


def mean_difference(scores: np.ndarray, reference: np.ndarray, *, seed: int) -> Comparison:
    """Paired per-example scores (ROUGE of each summary, 100 for a right label): the mean difference."""
    differences = np.asarray(scores, dtype=float) - np.asarray(reference, dtype=float)
    return _bootstrap((differences,), lambda d, axis=-1: np.mean(d, axis=axis), vectorized=True, seed=seed)


def metric_difference(metric: Callable[[np.ndarray, np.ndarray], float], predicted: np.ndarray,
                      reference: np.ndarray, gold: np.ndarray, *, seed: int) -> Comparison:
    """A metric that is no mean over examples (macro-F1): metric(gold, predicted) minus the reference's,
    the examples resampled together."""
    return _bootstrap((predicted, reference, gold), lambda p, r, g: metric(g, p) - metric(g, r),
                      vectorized=False, seed=seed)


def _bootstrap(data: tuple[np.ndarray, ...], statistic: Callable[..., Any], *, vectorized: bool,
               seed: int) -> Comparison:
    point = float(statistic(*data))
    if len(data[0]) < 2:
        return Comparison(point, point, point, 0.0)
    result = bootstrap(data, statistic, paired=True, vectorized=vectorized, n_resamples=RESAMPLES,
                       confidence_level=CONFIDENCE, method="percentile", rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return Comparison(point, float(low), float(high), float(result.standard_error))


@dataclass
class Choice:
    """The method chosen on validation, why, and what each candidate method scored there."""

    method: str
    reason: str
    validation: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "rule": "one standard error", "reason": self.reason,
                "validation": self.validation}


def choose(validation_scores: dict[str, float], versus: Callable[[str, str], Comparison]) -> Choice:
    """The one-standard-error rule over `validation_scores` (method -> score on validation).
    `versus(a, b)` compares method a with method b on validation, paired."""
    methods = sorted(validation_scores, key=_complexity)
    top = max(methods, key=lambda m: validation_scores[m])  # the simplest among equals: sorted first
    table: dict[str, dict[str, float]] = {}
    chosen: tuple[str, str] | None = None
    for method in methods:
        row = {"score": round(validation_scores[method], 3)}
        if method != top:
            gap = versus(top, method)
            row |= {"behind_top": round(gap.difference, 3), "standard_error": round(gap.standard_error, 3)}
            if chosen is None and gap.difference <= gap.standard_error:
                chosen = (method, f"{method} is within one standard error of the best on validation, {top} "
                                  f"({gap.difference:.2f} behind, standard error {gap.standard_error:.2f}), and simpler")
        elif chosen is None:
            chosen = (method, f"{method} is the only method asked for" if len(methods) == 1 else
                              f"{method} scored best on validation" if method == methods[0] else
                              f"{method} scored best on validation and no simpler method came within one "
                              "standard error of it")
        table[method] = row
    assert chosen is not None
    return Choice(chosen[0], chosen[1], table)


def _complexity(method: str) -> tuple[int, str]:
    base = method.removesuffix(WITH_TRAINING_ROWS)
    rank = COMPLEXITY.index(base) if base in COMPLEXITY else len(COMPLEXITY)
    return (rank + (len(COMPLEXITY) + 1 if base != method else 0), method)


def stacking_methods(learners: list[str], with_training_rows: bool) -> list[tuple[str, str, bool]]:
    """(method, meta-learner, whether it learns from the training pools) for every meta-learner:
    with cross-fitted members, each is fitted both ways and validation decides."""
    ways = (False, True) if with_training_rows else (False,)
    return [(f"stacking:{learner}" + (WITH_TRAINING_ROWS if extra else ""), learner, extra)
            for extra in ways for learner in learners]


def stacking_learners(strategy: str, meta_learner: str, known: list[str]) -> list[str]:
    """The meta-learners a strategy fits: every known one for `meta_learner: auto`."""
    if strategy not in ("auto", "stacking"):
        return []
    return list(known) if meta_learner == "auto" else [meta_learner]


@dataclass
class EnsembleResult:
    """What an ensemble stage found: every method's scores, the method chosen on validation and
    why, every method against the best single member on test, and the chosen meta-learner."""

    strategy: str
    members: list[str]
    best_member: str
    scores: dict[str, dict[str, dict[str, float]]]  # method -> split -> metric -> value
    choice: Choice
    versus_best_single: dict[str, dict[str, dict[str, Any]]]  # method -> metric -> comparison on test
    model: BaseEstimator | None = None
    weights: dict[str, float] = field(default_factory=dict)
    chosen_test: list[int] = field(default_factory=list)  # summarization: the chosen candidate per test input
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def chosen(self) -> str:
        return self.choice.method

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "chosen": self.chosen, "choice": self.choice.as_dict(),
            "members": self.members, "best_member": self.best_member, "scores": self.scores,
            "versus_best_single": self.versus_best_single, "weights": self.weights, **self.extra,
        }
