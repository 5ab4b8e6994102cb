"""Classification ensembles over the members' class probabilities.

Stacking: the members' probability vectors, side by side, are the meta-learner's features,
cross-fitted on validation and applied to test. Averaging: the mean probability vector.
The method used is chosen on validation (`selection`), and every method is reported against the
best single member (chosen on validation) on test.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.ensemble.meta import CLASSIFIERS, ExtraRows, cross_fit, explain
from models.ensemble.selection import (
    Comparison,
    EnsembleResult,
    choose,
    mean_difference,
    metric_difference,
    stacking_learners,
    stacking_methods,
)
from models.metrics import classification_scores


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
    meta_learner: str = "auto",
    folds: int = 5,
    seed: int = 0,
    metric: str = "accuracy",
    train: dict[str, np.ndarray] | None = None,
    gold_train: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> EnsembleResult:
    """Every method's predicted classes on validation (out of fold for meta-learners) and test,
    the method chosen on validation, and each against the best single member on test (accuracy
    and macro-F1, with intervals). `train`: the members' class probabilities on the training split
    from fold models that never saw those rows (`ensemble.cross_fit_members`): every meta-learner
    is then also fitted with them (`stacking:<learner>+train`), and validation decides. `progress` is
    told each meta-learner before it is fitted."""
    members = sorted(validation)
    index = {label: i for i, label in enumerate(labels)}
    gold = {"validation": np.array([index[g] for g in gold_validation]), "test": np.array([index[g] for g in gold_test])}
    predicted: dict[str, dict[str, np.ndarray]] = {
        member: {"validation": validation[member].argmax(1), "test": test[member].argmax(1)} for member in members
    }
    predicted["average"] = {"validation": np.mean([validation[m] for m in members], axis=0).argmax(1),
                            "test": np.mean([test[m] for m in members], axis=0).argmax(1)}
    fitted = {}
    extra = None
    if train is not None:
        if gold_train is None or any(len(train[m]) != len(gold_train) for m in members):
            raise ValueError("the training probabilities need one gold label per row")
        extra = ExtraRows(features(train, members), np.array([index[g] for g in gold_train]))
    learners = stacking_learners(strategy, meta_learner, CLASSIFIERS.names())
    for method, learner, with_extra in stacking_methods(learners, extra is not None):
        if progress is not None:
            progress(method)
        fit = cross_fit(CLASSIFIERS.get(learner)(seed), features(validation, members), gold["validation"],
                        folds=folds, seed=seed, extra=extra if with_extra else None)
        predicted[method] = {"validation": fit.out_of_fold.astype(int),
                             "test": np.asarray(fit.final.predict(features(test, members))).astype(int)}
        fitted[method] = fit.final

    def scored(method: str, split: str) -> dict[str, float]:
        return classification_scores([labels[i] for i in predicted[method][split]], [labels[i] for i in gold[split]])

    scores = {method: {split: scored(method, split) for split in gold} for method in predicted}
    best = max(members, key=lambda m: scores[m]["validation"][metric])
    predicted["best_single"], scores["best_single"] = predicted[best], scores[best]

    def versus(a: str, b: str, split: str, name: str) -> Comparison:
        if name == "accuracy":
            right = {m: 100.0 * (predicted[m][split] == gold[split]) for m in (a, b)}
            return mean_difference(right[a], right[b], seed=seed)
        return metric_difference(macro_f1, predicted[a][split], predicted[b][split], gold[split], seed=seed)

    candidates = {"auto": ["best_single", "average", *fitted], "stacking": list(fitted), "average": ["average"]}[strategy]
    choice = choose({m: scores[m]["validation"][metric] for m in candidates},
                    lambda a, b: versus(a, b, "validation", metric))
    comparisons = {method: {name: versus(method, "best_single", "test", name).as_dict()
                            for name in ("accuracy", "macro_f1")}
                   for method in candidates if method != "best_single"}
    model = fitted.get(choice.method)
    weights = explain(model, [f"{m}:{label}" for m in members for label in labels]) if model is not None else {}
    details = {"training_rows": len(gold_train)} if extra is not None and fitted else {}
    return EnsembleResult(strategy, members, best, scores, choice, comparisons, model, weights, extra=details)


def macro_f1(gold: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return 100 * float(f1_score(gold, predicted, average="macro", zero_division=0))
