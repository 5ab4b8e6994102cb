"""Meta-learners and cross-fitting.

Cross-fitting is what keeps a stacked score honest: every validation row's out-of-fold
prediction comes from a meta-learner fitted on the other folds only, so the meta-learner is
never scored on a row it saw. The final meta-learner, fitted on all of validation, is applied
to the test split, which it has never seen either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from models.registry import Registry

# `linear` is logistic regression over class probabilities (classification) and ridge regression
# of each candidate's ROUGE (summarization); `gradient_boosting` is the tree-based counterpart.
CLASSIFIERS: Registry[Callable[[int], BaseEstimator]] = Registry("meta-learner", {
    "linear": lambda seed: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    "gradient_boosting": lambda seed: GradientBoostingClassifier(random_state=seed),
})
REGRESSORS: Registry[Callable[[int], BaseEstimator]] = Registry("meta-learner", {
    "linear": lambda seed: make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
    "gradient_boosting": lambda seed: GradientBoostingRegressor(random_state=seed),
})


@dataclass
class CrossFit:
    """Out-of-fold predictions on the fitting rows, the folds used, and the model fitted on all rows."""

    out_of_fold: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    final: BaseEstimator


def cross_fit(
    estimator: BaseEstimator,
    features: np.ndarray,
    target: np.ndarray,
    *,
    folds: int,
    seed: int,
    groups: np.ndarray | None = None,
    predict: Callable[[BaseEstimator, np.ndarray], np.ndarray] | None = None,
) -> CrossFit:
    """K-fold cross-fitting. With `groups` (one id per source input), all rows of one input stay
    in the same fold, so candidates of a dialogue never train the model that scores them."""
    predict = predict or (lambda model, x: model.predict(x))
    if groups is not None:
        splitter: Any = GroupKFold(n_splits=min(folds, len(np.unique(groups))))
        splits = list(splitter.split(features, target, groups))
    else:
        smallest = int(np.bincount(target).min()) if target.dtype.kind in "iu" else folds
        splitter = StratifiedKFold(n_splits=max(2, min(folds, smallest)), shuffle=True, random_state=seed)
        splits = list(splitter.split(features, target))
    out_of_fold: np.ndarray | None = None
    for train_rows, held_out in splits:
        model = clone(estimator).fit(features[train_rows], target[train_rows])
        predicted = predict(model, features[held_out])
        if out_of_fold is None:
            out_of_fold = np.zeros((len(target), *predicted.shape[1:]), dtype=float)
        out_of_fold[held_out] = predicted
    final = clone(estimator).fit(features, target)
    assert out_of_fold is not None
    return CrossFit(out_of_fold, splits, final)


def explain(model: BaseEstimator, feature_names: list[str]) -> dict[str, float]:
    """The meta-learner's weights (linear models) or feature importances (trees), by feature."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(final, "coef_"):
        coef = np.atleast_2d(final.coef_)
        values = np.abs(coef).mean(axis=0) if coef.shape[0] > 1 else coef[0]
    elif hasattr(final, "feature_importances_"):
        values = final.feature_importances_
    else:
        return {}
    return {name: round(float(v), 5) for name, v in zip(feature_names, values, strict=True)}
