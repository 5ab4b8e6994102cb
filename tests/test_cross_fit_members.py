"""Cross-fitted members (`ensemble.cross_fit_members`): the folds, the extra rows every meta-learner fit
learns from, the config and data checks, and a real run in which one fold model fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from contract.rows import read_rows, write_jsonl
from models.ensemble.folds import split_training
from models.ensemble.meta import ExtraRows, LambdaRanker, PairwiseRanker, cross_fit
from orchestrator.config import ConfigError, load_config
from orchestrator.data import prepare_data
from tests.conftest import read_json, run_cli, tiny_experiment, write_yaml
from tests.faults import faulty_bart


def test_the_folds_cover_the_training_rows_once_and_are_the_same_for_the_same_seed(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [{"id": str(i), "label": "ab"[i % 2]} for i in range(11)])
    folds = split_training(train, tmp_path / "folds", 3, seed=7, stratify_by="label")
    held = [[r["id"] for r in read_rows(f.held_out)] for f in folds]
    assert sorted(i for part in held for i in part) == sorted(str(i) for i in range(11))
    for fold, part in zip(folds, held, strict=True):
        assert {r["id"] for r in read_rows(fold.train)} == {str(i) for i in range(11)} - set(part)
        labels = [r["label"] for r in read_rows(fold.held_out)]
        assert {"a", "b"} <= set(labels)  # stratified: every fold holds both classes
    assert [f.name for f in folds] == ["1of3", "2of3", "3of3"]
    before = [f.held_out.read_bytes() for f in folds]
    again = split_training(train, tmp_path / "folds", 3, seed=7, stratify_by="label")
    assert [f.held_out.read_bytes() for f in again] == before


def test_extra_rows_join_every_fit_and_are_never_scored() -> None:
    rng = np.random.default_rng(0)
    x, extra_x = rng.normal(size=(30, 3)), rng.normal(size=(60, 3))
    weights = np.array([1.0, -2.0, 0.5])
    y, extra_y = x @ weights, extra_x @ weights + 3.0  # the extra rows are shifted: a fit that uses them shows it
    one_per_pool = np.arange(30)
    alone = cross_fit(Ridge(alpha=1e-6), x, y, folds=3, seed=0, groups=one_per_pool)
    both = cross_fit(Ridge(alpha=1e-6), x, y, folds=3, seed=0, groups=one_per_pool,
                     extra=ExtraRows(extra_x, extra_y, np.arange(60)))
    assert both.out_of_fold.shape == (30,)  # one out-of-fold prediction per fitting row, none for the extra rows
    assert np.allclose(alone.final.intercept_, 0.0, atol=1e-6)
    expected = Ridge(alpha=1e-6).fit(np.vstack([extra_x, x]), np.concatenate([extra_y, y]))
    assert np.allclose(both.final.intercept_, expected.intercept_) and np.allclose(both.final.coef_, expected.coef_)
    first_train, first_held = both.folds[0]
    fold_model = Ridge(alpha=1e-6).fit(np.vstack([extra_x, x[first_train]]), np.concatenate([extra_y, y[first_train]]))
    assert np.allclose(both.out_of_fold[first_held], fold_model.predict(x[first_held]))


@pytest.mark.parametrize("ranker", [PairwiseRanker(), LambdaRanker(seed=0, n_estimators=20)])
def test_rankers_learn_the_extra_pools_as_pools_of_their_own(ranker: object) -> None:
    rng = np.random.default_rng(1)
    sizes, extra_sizes = [4] * 12, [5] * 10
    x, extra_x = rng.normal(size=(48, 2)), rng.normal(size=(50, 2))
    y, extra_y = 10 * x[:, 0], 10 * extra_x[:, 0]  # the first feature orders every pool
    groups = np.repeat(np.arange(12), sizes)
    extra = ExtraRows(extra_x, extra_y, np.repeat(np.arange(10), extra_sizes))  # numbered from 0, like validation's
    fit = cross_fit(ranker, x, y, folds=3, seed=0, groups=groups, extra=extra)
    picked = [int(np.argmax(fit.out_of_fold[groups == g])) for g in range(12)]
    best = [int(np.argmax(y[groups == g])) for g in range(12)]
    assert sum(p == b for p, b in zip(picked, best, strict=True)) >= 10


def test_config_and_data_checks(tmp_path: Path) -> None:
    models = [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}]
    for ensemble, message in (({"cross_fit_members": 1}, "one fold leaves no training rows out"),
                              ({"cross_fit_members": 3, "strategy": "mbr"}, "strategy 'mbr' does not fit")):
        path = write_yaml(tmp_path / "bad.yaml", tiny_experiment(tmp_path, models, ensemble=ensemble))
        with pytest.raises(ConfigError, match=message) as caught:
            load_config(path)
        assert "ensemble.cross_fit_members" in str(caught.value)
    raw = tiny_experiment(tmp_path, models, ensemble={"cross_fit_members": 4},
                          data={"builtin": {"train_size": 6, "validation_size": 8, "test_size": 8}})
    config = load_config(write_yaml(tmp_path / "small.yaml", raw))
    with pytest.raises(ConfigError, match="too few for ensemble.cross_fit_members 4"):
        prepare_data(config, config.run_dir)


@pytest.mark.integration
def test_a_failed_fold_model_costs_only_its_fold_and_a_rerun_keeps_the_others(tmp_path: Path) -> None:
    """The second member's model of fold 2 meets a full disk when it saves: fold 2 is left out
    with the reason and log, fold 1's rows still teach the meta-learner. A rerun keeps the three
    fold models that finished and trains the failed one again."""
    broken = faulty_bart(tmp_path / "faulty", "disk_full_at_save", path="folds/2of2")
    raw = tiny_experiment(tmp_path, [
        {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"},
        {"name": "faulty", "source": str(broken), "family": "seq2seq", "trust_remote_code": True},
    ], ensemble={"strategy": "stacking", "meta_learner": "linear", "folds": 3, "num_candidates": 2, "num_beams": 2,
                 "cross_fit_members": 2}, data={"builtin": {"train_size": 48, "validation_size": 16, "test_size": 16}})
    path = write_yaml(tmp_path / "exp.yaml", raw)
    run_dir = tmp_path / "runs" / "tiny"
    for attempt, (trained, kept) in enumerate(((4, 0), (1, 3))):
        done = run_cli("run", "--quiet", str(path), cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        section = read_json(run_dir / "ensemble" / "ensemble.json")
        folds = section["cross_fit_members"]
        assert section["status"] == "ok" and folds["used"] == ["1of2"], (attempt, folds)
        assert (folds["fold_models_trained"], folds["fold_models_kept"]) == (trained, kept)
        why = folds["left_out"]["2of2"]
        assert "ensemble-folds/faulty@fold2" in why and "errors/ensemble-folds-faulty@fold2.log" in why
        held_out = len(read_rows(run_dir / "data" / "folds" / "1of2-held-out.jsonl"))
        assert folds["training_rows"] == section["training_pools"] == held_out
    assert (run_dir / "models" / "bart" / "folds" / "2of2" / "checkpoint").is_dir()
    plan = run_cli("validate", "--no-preflight", str(path), cwd=tmp_path)
    rows = {line.split("│")[1].strip(): line for line in plan.stdout.splitlines() if line.count("│") > 2}
    assert "keep" in rows["bart@fold2"] and "keep" in rows["faulty@fold1"] and "train" in rows["faulty@fold2"], plan.stdout
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "fold 2of2 left out" in report
