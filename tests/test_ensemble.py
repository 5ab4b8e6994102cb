"""Ensembles: stacking beats its members where they are complementary, never leaks, reloads."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest

from contract.job import DataFiles
from contract.phases import Phase, Status
from contract.rows import write_jsonl
from models.ensemble.classification import ensemble_classifiers, features
from models.ensemble.meta import CLASSIFIERS, REGRESSORS, cross_fit
from models.ensemble.summarization import Candidates, build_pool, candidate_features, ensemble_summaries, true_scores
from models.reporting import RecordingReporter
from orchestrator.config import validate_raw
from orchestrator.outcome import Outcome
from orchestrator.report.ensemble import ensemble_markdown
from orchestrator.stages.context import RunContext
from orchestrator.stages.ensemble import run_ensemble
from orchestrator.work import WorkItem
from tests.conftest import read_json, tiny_experiment

LABELS = ["a", "b", "c", "d"]


class InProcess(RunContext):
    """The run's context with its supervised steps run here, one after another, without Ray: the
    ensemble stage's bookkeeping around its `ensemble-fit` step, as the supervisor would run it."""

    def supervise(self, items: list[WorkItem], **options: object) -> list[Outcome]:
        return [Outcome(name=item.name, status=Status.SUCCEEDED, phase=Phase.DONE, result=item.run(RecordingReporter()))
                for item in items]


def complementary_members(n: int, seed: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Member 'first' knows classes a/b, 'second' knows c/d; each guesses on the rest."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 4, n)
    members = {}
    for name, known in (("first", {0, 1}), ("second", {2, 3})):
        probs = rng.dirichlet(np.ones(4), n)
        for i, y in enumerate(gold):
            if y in known:
                probs[i] = 0.1 * probs[i] + 0.9 * np.eye(4)[y]
        members[name] = probs
    return members, [LABELS[y] for y in gold]


def test_classification_stacking_beats_the_best_member_and_the_average() -> None:
    val, gold_val = complementary_members(400, seed=1)
    test, gold_test = complementary_members(400, seed=2)
    result = ensemble_classifiers("stacking", val, test, gold_val, gold_test, LABELS, folds=5, meta_learner="linear")
    stacked = result.scores["stacking:linear"]["test"]["accuracy"]
    assert stacked > result.scores["best_single"]["test"]["accuracy"] + 10
    assert stacked >= result.scores["average"]["test"]["accuracy"]
    assert set(result.weights) == {f"{m}:{label}" for m in ("first", "second") for label in LABELS}
    assert result.chosen == "stacking:linear" and result.model is not None
    for name in ("accuracy", "macro_f1"):  # clearly better, so the interval lies above 0
        gap = result.versus_best_single["stacking:linear"][name]
        assert gap["verdict"] == "better" and 0 < gap["low"] < gap["difference"] < gap["high"], gap


def test_cross_fitting_never_scores_a_row_its_model_saw() -> None:
    """Pure noise: a flexible meta-learner memorises its training rows, so any leak would show
    as accuracy far above chance; out-of-fold it must stay near chance (25 %)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 8)), rng.integers(0, 4, 400)
    fitted = cross_fit(CLASSIFIERS.get("gradient_boosting")(0), x, y, folds=5, seed=0)
    in_sample = (fitted.final.predict(x) == y).mean()
    out_of_fold = (fitted.out_of_fold.astype(int) == y).mean()
    assert in_sample > 0.9 and out_of_fold < 0.4
    covered = np.concatenate([held_out for _, held_out in fitted.folds])
    assert sorted(covered) == list(range(400))
    for train_rows, held_out in fitted.folds:
        assert not set(train_rows) & set(held_out)


def summaries(n: int, seed: int, scored: bool = False) -> tuple[Candidates, list[str]]:
    """'echo' copies the reference on even inputs and babbles on odd ones; 'steady' is always
    half right; 'noise' is always wrong. The best pick differs per input. With `scored`, a fake
    scorer gives every member a log-likelihood that is higher for summaries closer to the reference."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(50)]
    refs, greedy = [], {"echo": [], "steady": [], "noise": []}
    for i in range(n):
        ref = " ".join(rng.choice(words, 8))
        refs.append(ref)
        greedy["echo"].append(ref if i % 2 == 0 else " ".join(rng.choice(words, 12)))
        greedy["steady"].append(" ".join(ref.split()[:4] + list(rng.choice(words, 4))))
        greedy["noise"].append(" ".join(rng.choice(words, 3)))
    sources = [f"{ref} filler words here" for ref in refs]

    pool = build_pool(list(greedy), sources, greedy)
    if scored:
        overlap = {(s, t): len(set(s.split()) & set(t.split())) / max(len(t.split()), 1) for s, t in pool.pairs()}
        pool.add_log_likelihoods({m: {p: o + rng.normal(0, 0.05) for p, o in overlap.items()} for m in greedy})
    return pool, refs


def test_summarization_stacking_mbr_and_grouped_folds() -> None:
    val, refs_val = summaries(120, 1)
    test, refs_test = summaries(120, 2)
    result = ensemble_summaries("stacking", val, test, refs_val, refs_test, "en", folds=5, meta_learner="linear")
    assert set(result.scores) >= {"echo", "steady", "noise", "best_single", "mbr", "oracle", "stacking:linear"}
    assert result.scores["stacking:linear"]["test"]["rougeL"] >= result.scores["best_single"]["test"]["rougeL"]
    assert result.scores["oracle"]["test"]["rougeL"] >= result.scores["stacking:linear"]["test"]["rougeL"]
    assert len(result.chosen_test) == 120 and result.weights
    x, names = candidate_features(val, "en")
    assert x.shape == (sum(val.sizes), len(names))
    groups = np.repeat(np.arange(120), val.sizes)
    fitted = cross_fit(REGRESSORS.get("linear")(0), x, np.zeros(len(x)), folds=5, seed=0, groups=groups)
    for train_rows, held_out in fitted.folds:  # a dialogue's pool never straddles folds
        assert not set(groups[train_rows]) & set(groups[held_out])


def test_members_scores_become_features_that_help() -> None:
    val, refs_val = summaries(120, 1, scored=True)
    test, refs_test = summaries(120, 2, scored=True)
    result = ensemble_summaries("stacking", val, test, refs_val, refs_test, "en", folds=5, meta_learner="linear")
    assert any(name.startswith("loglik:") for name in result.weights)
    assert result.scores["stacking:linear"]["test"]["rougeL"] > result.scores["best_single"]["test"]["rougeL"] + 5


def test_pool_deduplicates_and_remembers_who_proposed_what() -> None:
    greedy = {"a": ["same", "x"], "b": ["same", "y"]}
    proposals = {"a": [["same", "p"], ["x"]], "b": [["q"], ["y", "x"]]}
    pool = build_pool(["a", "b"], ["s1", "s2"], greedy, proposals)
    assert pool.texts == [["same", "p", "q"], ["x", "y"]]
    assert pool.proposed_by[0].tolist() == [[1, 1], [1, 0], [0, 1]]
    assert pool.proposed_by[1].tolist() == [[1, 1], [0, 1]]
    assert pool.own == [[0, 0], [0, 1]]


def _classification_run(tmp_path: Path, members: dict[str, tuple[np.ndarray, np.ndarray]], **ensemble: object):
    raw = tiny_experiment(tmp_path, [
        {"name": name, "source": "scratch:bert-tiny", "family": "classifier"} for name in members
    ])
    raw["task"] = {"type": "classification", "language": "ko"}
    raw["ensemble"] = ensemble
    config = validate_raw(raw)
    run_dir = config.run_dir
    _, gold_val = complementary_members(300, seed=1)
    _, gold_test = complementary_members(300, seed=2)
    data = DataFiles(
        train=run_dir / "data" / "train.jsonl",
        validation=write_jsonl(run_dir / "data" / "validation.jsonl", [{"id": str(i), "text": "x", "label": g} for i, g in enumerate(gold_val)]),
        test=write_jsonl(run_dir / "data" / "test.jsonl", [{"id": str(i), "text": "x", "label": g} for i, g in enumerate(gold_test)]),
    )
    for name, (val, test) in members.items():
        for split, probs in (("validation", val), ("test", test)):
            write_jsonl(run_dir / "models" / name / "predictions" / f"{split}.jsonl", [
                {"id": str(i), "prediction": LABELS[int(p.argmax())], "probabilities": p.tolist()} for i, p in enumerate(probs)
            ])
    outcomes = [Outcome(name=name, status="succeeded", phase="done") for name in members]
    return config, outcomes, data, run_dir


def test_stage_saves_a_meta_learner_that_reloads(tmp_path: Path) -> None:
    val, _ = complementary_members(300, seed=1)
    test, _ = complementary_members(300, seed=2)
    members = {name: (val[name], test[name]) for name in val}
    config, outcomes, data, run_dir = _classification_run(tmp_path, members, strategy="stacking")
    section = run_ensemble(InProcess(config, data, tuple(LABELS), run_dir), outcomes)
    assert section["status"] == "ok" and section["chosen"].startswith("stacking:")
    assert f"{section['chosen']} (chosen on validation) is better than the best single model" in section["verdict"]
    assert "95 % interval" in section["verdict"]
    assert read_json(run_dir / "ensemble" / "ensemble.json")["scores"] == section["scores"]
    model = joblib.load(run_dir / "ensemble" / section["meta_learner_file"])
    reloaded = model.predict(features(test, sorted(members)))
    accuracy = 100 * np.mean([LABELS[int(p)] for p in reloaded] == np.array(complementary_members(300, seed=2)[1]))
    assert round(accuracy, 3) == section["scores"][section["chosen"]]["test"]["accuracy"]


def test_auto_prefers_the_simpler_method_that_is_as_good_on_validation(tmp_path: Path) -> None:
    """Members that know disjoint classes: averaging their probabilities is as good as stacking
    them, so the one-standard-error rule keeps the simpler method, and says why."""
    val, _ = complementary_members(300, seed=1)
    test, _ = complementary_members(300, seed=2)
    config, outcomes, data, run_dir = _classification_run(tmp_path, {n: (val[n], test[n]) for n in val})
    section = run_ensemble(InProcess(config, data, tuple(LABELS), run_dir), outcomes)
    choice = section["choice"]
    assert section["strategy"] == "auto" and section["chosen"] == "average", choice
    assert set(choice["validation"]) == {"best_single", "average", "stacking:linear", "stacking:gradient_boosting"}
    assert "within one standard error" in choice["reason"] or "scored best" in choice["reason"]
    assert "meta_learner_file" not in section and not (run_dir / "ensemble" / "meta_learner.joblib").exists()
    assert section["versus_best_single"]["average"]["accuracy"]["verdict"] == "better"
    report = "\n".join(ensemble_markdown(section, "accuracy"))  # classification has no oracle row
    assert "| **average** (chosen) |" in report and "| better |" in report and "oracle" not in report


def test_stage_is_skipped_with_its_reason(tmp_path: Path) -> None:
    val, _ = complementary_members(300, seed=1)
    members = {name: (val[name], val[name]) for name in val}
    config, outcomes, data, run_dir = _classification_run(tmp_path, members, min_models=3)
    assert run_ensemble(RunContext(config, data, tuple(LABELS), run_dir), outcomes) == {
        "status": "skipped", "reason": "2 candidate(s) survived; ensemble.min_models is 3",
    }
    outcomes[1].status = "failed"
    config.ensemble.min_models = 2
    assert "1 candidate(s) survived" in run_ensemble(RunContext(config, data, tuple(LABELS), run_dir), outcomes)["reason"]
    config.ensemble.strategy = "none"
    assert run_ensemble(RunContext(config, data, tuple(LABELS), run_dir), outcomes)["reason"] == "ensemble.strategy is none"


def test_scores_of_a_diverged_member_become_the_lowest_finite_ones() -> None:
    from models.ensemble.summarization import finite_columns

    x = np.array([[1.0, np.nan], [-2.0, np.inf], [np.nan, -np.inf], [0.5, 3.0]])
    fixed = finite_columns(x)
    assert np.isfinite(fixed).all()
    assert fixed[:, 0].tolist() == [1.0, -2.0, -2.0, 0.5] and fixed[:, 1].tolist() == [3.0, 3.0, 3.0, 3.0]
    assert finite_columns(np.array([[np.nan], [np.nan]])).tolist() == [[0.0], [0.0]]


def test_several_references_decide_the_true_scores_and_the_oracle() -> None:
    """The second reference is what member b wrote: with both references, b's summary is as good
    as a's, and the oracle (scored as the task scores) may take it; by max it scores perfectly."""
    pool = build_pool(["a", "b"], ["s"], {"a": ["the cat sat on the mat"], "b": ["a dog barked loudly"]})
    references = [["the cat sat on the mat", "a dog barked loudly"]]
    by_mean = true_scores(pool, references, "en", "rougeL", "mean")[0]
    by_max = true_scores(pool, references, "en", "rougeL", "max")[0]
    only_first = true_scores(pool, [references[0][0]], "en", "rougeL")[0]
    assert by_max.tolist() == [100.0, 100.0] and by_mean[0] == pytest.approx(by_mean[1], abs=25)
    assert only_first[1] < 20 < by_mean[1]
    assert true_scores(pool, references, "en", "rouge_mean", "max")[0].tolist() == [100.0, 100.0]
