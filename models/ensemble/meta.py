"""Meta-learners and cross-fitting.

Cross-fitting is what keeps a stacked score honest: every validation row's out-of-fold
prediction comes from a meta-learner fitted on the other folds only, so the meta-learner is
never scored on a row it saw. The final meta-learner, fitted on all of validation, is applied
to the test split, which it has never seen either. With cross-fitted members
(`ensemble.cross_fit_members`), the members' out-of-fold predictions on the training split are
extra rows every fit learns from and no fold is scored on.
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

from contract.names import Registry


class PairwiseRanker(BaseEstimator):  # type: ignore[misc]
    """Learning to rank on pairs: within each pool, every two candidates whose true scores differ
    by more than `margin` make one example (the difference of their standardised features, and
    which is better); a logistic regression without intercept learns the direction, and a
    candidate's score is its projection on it. Only the order within a pool is learnt, which is
    all that choosing needs, so dialogues that are easy or hard for every candidate teach nothing."""

    fits_on_groups = True

    def __init__(self, margin: float = 1.0, C: float = 1.0):
        self.margin = margin
        self.C = C

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> PairwiseRanker:
        self.scaler_ = StandardScaler().fit(x)
        z = self.scaler_.transform(x)
        differences, better = [], []
        for group in np.unique(groups):
            rows = np.flatnonzero(groups == group)
            first, second = (rows[i] for i in np.triu_indices(len(rows), 1))
            apart = np.abs(y[first] - y[second]) > self.margin
            differences.append(z[first[apart]] - z[second[apart]])
            better.append(y[first[apart]] > y[second[apart]])
        pairs, labels = np.vstack(differences), np.concatenate(better)
        self.coef_ = np.zeros(x.shape[1])
        if len(pairs):  # both orders of every pair: the classes balance, the model stays antisymmetric
            model = LogisticRegression(C=self.C, fit_intercept=False, max_iter=2000)
            model.fit(np.vstack([pairs, -pairs]), np.concatenate([labels, ~labels]).astype(int))
            self.coef_ = model.coef_[0]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.scaler_.transform(x) @ self.coef_)


class LambdaRanker(BaseEstimator):  # type: ignore[misc]
    """LightGBM's LambdaRank over each pool: gradient-boosted trees that optimise the ranking
    (NDCG) of a dialogue's candidates directly. The graded relevance of a candidate is its rank
    among the distinct true scores of its pool (0 for the worst), so the top of each pool counts
    most. Deterministic for a seed (one thread, LightGBM's deterministic mode)."""

    fits_on_groups = True

    def __init__(self, seed: int = 0, n_estimators: int = 150, learning_rate: float = 0.05, num_leaves: int = 7,
                 min_child_samples: int = 10):
        self.seed = seed
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> LambdaRanker:
        from lightgbm import LGBMRanker

        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        sizes = np.diff(np.r_[starts, len(groups)])  # each pool's rows are contiguous (inputs in order)
        relevance = np.concatenate([_dense_rank(y[a:a + n]) for a, n in zip(starts, sizes, strict=True)])
        self.model_ = LGBMRanker(
            objective="lambdarank", n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples, random_state=self.seed,
            n_jobs=1, deterministic=True, force_row_wise=True, verbose=-1,
        ).fit(x, relevance, group=sizes)
        importance = self.model_.booster_.feature_importance(importance_type="gain")
        self.feature_importances_ = importance / max(float(importance.sum()), 1e-12)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model_.predict(x))


def _dense_rank(scores: np.ndarray, top: int = 30) -> np.ndarray:
    """0 for a pool's lowest distinct score (to one decimal), 1 for the next, ... at most `top`
    (LightGBM's default gains go up to 30)."""
    _, rank = np.unique(np.round(scores, 1), return_inverse=True)
    return np.minimum(rank, top).astype(int)


# `linear` is logistic regression over class probabilities (classification) and ridge regression
# of each candidate's ROUGE (summarization); `gradient_boosting` is the tree-based counterpart;
# `pairwise` and `lambdarank` (summarization) learn the order of the candidates within a pool.
CLASSIFIERS: Registry[Callable[[int], BaseEstimator]] = Registry("meta-learner", {
    "linear": lambda seed: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    "gradient_boosting": lambda seed: GradientBoostingClassifier(random_state=seed),
})
REGRESSORS: Registry[Callable[[int], BaseEstimator]] = Registry("meta-learner", {
    "linear": lambda seed: make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
    "gradient_boosting": lambda seed: GradientBoostingRegressor(random_state=seed),
    "pairwise": lambda seed: PairwiseRanker(),
    "lambdarank": lambda seed: LambdaRanker(seed),
})


@dataclass(frozen=True)
class ExtraRows:
    """Rows every fit learns from and none is scored on: the meta-learner's view of the training
    split, built from fold models that never trained on the rows they predicted. `groups` number
    the pools (summarization) among themselves."""

    features: np.ndarray
    target: np.ndarray
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.target)


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
    extra: ExtraRows | None = None,
) -> CrossFit:
    """K-fold cross-fitting. With `groups` (one id per source input), all rows of one input stay
    in the same fold, so candidates of a dialogue never train the model that scores them.
    `extra` rows join every fit, the final one too."""
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
        model = _fit(clone(estimator), features, target, groups, train_rows, extra)
        predicted = predict(model, features[held_out])
        if out_of_fold is None:
            out_of_fold = np.zeros((len(target), *predicted.shape[1:]), dtype=float)
        out_of_fold[held_out] = predicted
    final = _fit(clone(estimator), features, target, groups, np.arange(len(target)), extra)
    assert out_of_fold is not None
    return CrossFit(out_of_fold, splits, final)


def _fit(estimator: BaseEstimator, x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, rows: np.ndarray,
         extra: ExtraRows | None) -> BaseEstimator:
    """Fit on `rows` (and the extra rows before them). A ranker learns from each pool's rows
    together, so it is told the pools; the extra pools are numbered after the others."""
    x, y = x[rows], y[rows]
    group_ids = None if groups is None else groups[rows]
    if extra is not None and len(extra):
        x, y = np.vstack([extra.features, x]), np.concatenate([extra.target, y])
        if group_ids is not None and groups is not None:
            assert extra.groups is not None, "pools need their groups"
            group_ids = np.concatenate([extra.groups + int(groups.max()) + 1, group_ids])
    if getattr(estimator, "fits_on_groups", False):
        return estimator.fit(x, y, groups=group_ids)
    return estimator.fit(x, y)


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
