"""Classification ensembles over the members' class probabilities.

Stacking: the members' probability vectors, side by side, are the meta-learner's features,
cross-fitted on validation and applied to test. Averaging: the mean probability vector.
The best single member (chosen on validation) is reported beside both, on test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from models.ensemble.meta import CLASSIFIERS, cross_fit, explain
from models.metrics import classification_scores


@dataclass
class ClassificationEnsemble:
    strategy: str
    members: list[str]
    labels: list[str]
    scores: dict[str, dict[str, dict[str, float]]]  # method -> split -> metric -> value
    best_member: str
    weights: dict[str, float] = field(default_factory=dict)
    model: BaseEstimator | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "members": self.members, "best_member": self.best_member,
            "scores": self.scores, "weights": self.weights,
        }


def features(probabilities: dict[str, np.ndarray], members: list[str]) -> np.ndarray:
    """Members' probabilities side by side, always in `members` order."""
    return np.hstack([probabilities[m] for m in members])


def ensemble_classifiers(
    strategy: str,
    validation: dict[str, np.ndarray],
    test: dict[str, np.ndarray],
    gold_validation: list[str],
    gold_test: list[str],
    labels: list[str],
    *,
    meta_learner: str = "linear",
    folds: int = 5,
    seed: int = 0,
    metric: str = "accuracy",
) -> ClassificationEnsemble:
    members = sorted(validation)
    index = {label: i for i, label in enumerate(labels)}
    y_val = np.array([index[g] for g in gold_validation])

    def named(predicted: np.ndarray) -> list[str]:
        return [labels[int(i)] for i in predicted]

    scores: dict[str, dict[str, dict[str, float]]] = {}
    for member in members:
        scores[member] = {
            "validation": classification_scores(named(validation[member].argmax(1)), gold_validation),
            "test": classification_scores(named(test[member].argmax(1)), gold_test),
        }
    best = max(members, key=lambda m: scores[m]["validation"][metric])
    scores["best_single"] = scores[best]
    average_val = np.mean([validation[m] for m in members], axis=0)
    average_test = np.mean([test[m] for m in members], axis=0)
    scores["average"] = {
        "validation": classification_scores(named(average_val.argmax(1)), gold_validation),
        "test": classification_scores(named(average_test.argmax(1)), gold_test),
    }
    result = ClassificationEnsemble(strategy, members, labels, scores, best)
    if strategy != "stacking":
        return result

    estimator = CLASSIFIERS.get(meta_learner)(seed)
    fitted = cross_fit(estimator, features(validation, members), y_val, folds=folds, seed=seed)
    scores["stacking"] = {
        "validation": classification_scores(named(fitted.out_of_fold), gold_validation),  # out of fold
        "test": classification_scores(named(fitted.final.predict(features(test, members))), gold_test),
    }
    result.model = fitted.final
    result.weights = explain(fitted.final, [f"{m}:{label}" for m in members for label in labels])
    return result
