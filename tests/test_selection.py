"""The ensemble's verdicts carry their uncertainty, the method is chosen on validation by the
one-standard-error rule, and the rankers learn a pool's order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.ensemble.classification import ensemble_classifiers
from models.ensemble.selection import choose, mean_difference
from models.ensemble.summarization import build_pool, ensemble_summaries
from orchestrator.config import ConfigError, validate_raw
from tests.conftest import tiny_experiment
from tests.test_ensemble import LABELS, complementary_members, summaries


def test_the_interval_says_better_worse_or_not_distinguishable() -> None:
    rng = np.random.default_rng(0)
    reference = rng.uniform(20, 60, 200)
    better = mean_difference(reference + 3 + rng.normal(0, 2, 200), reference, seed=0)
    assert better.verdict == "better" and 0 < better.low < better.difference < better.high
    noise = mean_difference(reference + rng.normal(0, 5, 200), reference, seed=0)
    assert noise.verdict == "not distinguishable" and noise.low < 0 < noise.high
    worse = mean_difference(reference - 3 + rng.normal(0, 2, 200), reference, seed=0)
    assert worse.verdict == "worse" and worse.high < 0
    same = mean_difference(reference, reference, seed=0)
    assert (same.low, same.high, same.verdict) == (0.0, 0.0, "not distinguishable")


def test_a_seeded_bootstrap_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 100, 120), rng.uniform(0, 100, 120)
    assert mean_difference(a, b, seed=7) == mean_difference(a, b, seed=7)
    assert mean_difference(a, b, seed=7) != mean_difference(a, b, seed=8)


def test_the_one_standard_error_rule_prefers_the_simpler_method_unless_clearly_beaten() -> None:
    rng = np.random.default_rng(2)
    base = rng.uniform(20, 60, 300)
    noise = rng.normal(0, 4, (2, 300))
    noise -= noise.mean(axis=1, keepdims=True)  # the methods' means sit 0.05 and 0.1 above the simplest one's,
    per_example = {"best_single": base, "mbr": base + 0.05 + noise[0],  # far inside one standard error (~0.23)
                   "stacking:linear": base + 0.1 + noise[1]}

    def versus(a: str, b: str) -> object:
        return mean_difference(per_example[a], per_example[b], seed=0)

    close = choose({m: float(v.mean()) for m, v in per_example.items()}, versus)  # type: ignore[arg-type]
    assert close.method == "best_single" and "within one standard error" in close.reason
    assert set(close.validation) == set(per_example)

    per_example["stacking:linear"] = base + 5 + rng.normal(0, 1, 300)
    clear = choose({m: float(v.mean()) for m, v in per_example.items()}, versus)  # type: ignore[arg-type]
    assert clear.method == "stacking:linear" and "scored best on validation" in clear.reason
    assert clear.validation["best_single"]["behind_top"] == pytest.approx(5, abs=0.5)


@pytest.mark.parametrize("learner", ["pairwise", "lambdarank", "gradient_boosting"])
def test_each_meta_learner_learns_the_order_within_a_pool(learner: str) -> None:
    val, refs_val = summaries(120, 1, scored=True)
    test, refs_test = summaries(120, 2, scored=True)
    result = ensemble_summaries("stacking", val, test, refs_val, refs_test, "en", folds=5, meta_learner=learner)
    method = f"stacking:{learner}"
    assert result.chosen == method and result.weights
    assert result.scores[method]["test"]["rougeL"] > result.scores["best_single"]["test"]["rougeL"] + 5
    assert result.versus_best_single[method]["rougeL"]["verdict"] == "better"


def test_auto_weighs_every_method_and_is_reproducible() -> None:
    val, refs_val = summaries(120, 1, scored=True)
    test, refs_test = summaries(120, 2, scored=True)
    first = ensemble_summaries("auto", val, test, refs_val, refs_test, "en", folds=5)
    assert set(first.choice.validation) == {"best_single", "mbr", "stacking:linear", "stacking:gradient_boosting",
                                            "stacking:pairwise", "stacking:lambdarank"}
    assert first.chosen.startswith("stacking:") and first.model is not None
    assert set(first.versus_best_single) == set(first.choice.validation) - {"best_single"}
    second = ensemble_summaries("auto", val, test, refs_val, refs_test, "en", folds=5)
    assert second.summary() == first.summary() and second.chosen_test == first.chosen_test


def test_members_that_agree_leave_nothing_to_gain_and_the_best_single_is_used() -> None:
    sources = [f"source {i}" for i in range(30)]
    same = [f"summary number {i}" for i in range(30)]
    pool = build_pool(["a", "b"], sources, {"a": same, "b": same})
    refs = [f"summary {i}" for i in range(30)]
    result = ensemble_summaries("auto", pool, pool, refs, refs, "en", folds=3)
    assert result.chosen == "best_single" and result.model is None
    assert all(v["rougeL"]["verdict"] == "not distinguishable" for v in result.versus_best_single.values())


def test_classification_intervals_cover_accuracy_and_macro_f1() -> None:
    val, gold_val = complementary_members(200, seed=3)
    same = {"first": val["first"], "second": val["first"].copy()}  # two copies of one member
    result = ensemble_classifiers("auto", same, same, gold_val, gold_val, LABELS, folds=5, metric="macro_f1")
    assert set(result.choice.validation) == {"best_single", "average", "stacking:linear", "stacking:gradient_boosting"}
    for method, by_metric in result.versus_best_single.items():
        assert set(by_metric) == {"accuracy", "macro_f1"}, method
    average = result.versus_best_single["average"]  # the mean of two copies is the member itself
    assert average["macro_f1"] == {"difference": 0.0, "low": 0.0, "high": 0.0, "confidence": 0.95,
                                   "verdict": "not distinguishable"}


@pytest.mark.parametrize("learner", ["pairwise", "lambdarank"])
def test_a_ranker_is_for_summaries_only(tmp_path: Path, learner: str) -> None:
    raw = tiny_experiment(tmp_path, [{"name": "bert", "source": "scratch:bert-tiny", "family": "classifier"}])
    raw["task"] = {"type": "classification", "language": "ko"}
    raw["ensemble"] = {"meta_learner": learner}
    with pytest.raises(ConfigError, match=f"ensemble.meta_learner: '{learner}' ranks candidate summaries"):
        validate_raw(raw)


def test_with_training_pools_every_meta_learner_is_fitted_both_ways_and_validation_decides() -> None:
    """Both fits are offered to the choice; training pools that teach nothing (their references
    belong to other inputs) must not be used: validation catches them."""
    val, refs_val = summaries(40, 1, scored=True)
    test, refs_test = summaries(120, 2, scored=True)
    train, refs_train = summaries(400, 3, scored=True)
    helped = ensemble_summaries("stacking", val, test, refs_val, refs_test, "en", folds=5, meta_learner="linear",
                                train=train, references_train=refs_train)
    assert set(helped.choice.validation) == {"stacking:linear", "stacking:linear+train"}
    assert helped.summary()["training_pools"] == 400
    shuffled = refs_train[1:] + refs_train[:1]
    misled = ensemble_summaries("stacking", val, test, refs_val, refs_test, "en", folds=5, meta_learner="linear",
                                train=train, references_train=shuffled)
    assert misled.chosen == "stacking:linear"
    assert misled.scores["stacking:linear"]["validation"]["rougeL"] > \
        misled.scores["stacking:linear+train"]["validation"]["rougeL"]


def test_a_meta_learner_with_training_pools_counts_as_more_complex_than_any_without() -> None:
    from models.ensemble.selection import _complexity

    order = sorted(["stacking:linear+train", "stacking:lambdarank", "best_single", "stacking:lambdarank+train"],
                   key=_complexity)
    assert order == ["best_single", "stacking:lambdarank", "stacking:linear+train", "stacking:lambdarank+train"]
