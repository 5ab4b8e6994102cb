"""What a rerun does with earlier work: keep, evaluate again, resume or train, and why.

The identities are checked on their own (what changes which fingerprint), then on a real trained
candidate: an evaluation-only change is evaluated again without training, an edited data file and
a same-size overwrite of the weights train again, and `validate` says all of this beforehand."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from contract.atomic import read_json
from contract.job import DataFiles
from models.checkpoint import verify_checkpoint
from models.reporting import RecordingReporter
from models.training import evaluate_candidate, train_candidate
from orchestrator.cli import main
from orchestrator.config import validate_raw
from orchestrator.data import prepare_data
from orchestrator.rerun import decide
from orchestrator.stages.train import build_jobs
from tests.conftest import tiny_experiment, write_yaml

BART = {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}


def config_with(tmp_path: Path, models: list[dict[str, Any]] | None = None, **defaults: Any) -> Any:
    raw = tiny_experiment(tmp_path, models or [BART])
    raw["defaults"].update(defaults)
    return validate_raw(raw)


def prepared(tmp_path: Path, config: Any, where: str = "data") -> DataFiles:
    data, _ = prepare_data(config, tmp_path / where)
    return data


def test_what_changes_which_fingerprint(tmp_path: Path) -> None:
    base = config_with(tmp_path)
    data = prepared(tmp_path, base)
    bart = base.models[0]
    identity = base.identity(bart, data)

    moved = tmp_path / "elsewhere"
    shutil.copytree(data.train.parent, moved)
    same_content = DataFiles(moved / "train.jsonl", moved / "validation.jsonl", moved / "test.jsonl")
    assert base.identity(bart, same_content) == identity  # content, not path

    def ids(**defaults: Any) -> tuple[str, str]:
        changed = config_with(tmp_path, **defaults)
        found = changed.identity(changed.models[0], data)
        return found.fingerprint, found.evaluation_fingerprint

    both = (identity.fingerprint, identity.evaluation_fingerprint)
    for scheduling in ({"resources": {"cpus": 2}}, {"timeouts": {"total": 60}}, {"max_retries": 3},
                       {"checkpoint_every": "1h"}, {"logging_steps": 3}):
        assert ids(**scheduling) == both, scheduling
    for evaluation in ({"eval_batch_size": 4}, {"generation": {"max_new_tokens": 8, "num_beams": 4}}):
        training, evaluated = ids(**evaluation)
        assert training == identity.fingerprint and evaluated != identity.evaluation_fingerprint, evaluation
    for learning in ({"learning_rate": 1e-4}, {"seed": 7}, {"max_source_length": 64}, {"batch_size": 4}):
        assert ids(**learning)[0] != identity.fingerprint, learning

    edited = tmp_path / "edited"
    shutil.copytree(data.train.parent, edited)
    lines = (edited / "train.jsonl").read_text(encoding="utf-8").splitlines()
    (edited / "train.jsonl").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    fewer = DataFiles(edited / "train.jsonl", edited / "validation.jsonl", edited / "test.jsonl")
    assert base.identity(bart, fewer).fingerprint != identity.fingerprint
    (edited / "test.jsonl").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    new_test = DataFiles(data.train, data.validation, edited / "test.jsonl")
    assert base.identity(bart, new_test).fingerprint == identity.fingerprint  # the test split is only scored
    assert base.identity(bart, new_test).evaluation_fingerprint != identity.evaluation_fingerprint


def test_a_local_source_is_known_by_its_files(tmp_path: Path) -> None:
    source = tmp_path / "my-model"
    source.mkdir()
    (source / "config.json").write_text('{"model_type": "bart"}')
    (source / "model.safetensors").write_bytes(b"\0" * 64)
    local = {"name": "mine", "source": str(source), "family": "seq2seq"}
    config = config_with(tmp_path, [local])
    before = config.identity(config.models[0], None)
    (source / "model.safetensors").write_bytes(b"\1" * 64)  # same size, other weights
    after = config.identity(config.models[0], None)
    assert before.fingerprint != after.fingerprint
    assert after.training["source"]["files"]["model.safetensors"] != before.training["source"]["files"]["model.safetensors"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One real tiny candidate trained into a run directory, as `run` leaves it; copied per test."""
    root = tmp_path_factory.mktemp("trained")
    config = config_with(root)
    run_dir = config.run_dir.resolve()
    data, labels = prepare_data(config, run_dir / "data")
    (job,) = build_jobs(config, data, labels, run_dir)
    train_candidate(job, RecordingReporter())
    return root, run_dir


def copy_of(trained: tuple[Path, Path], tmp_path: Path) -> Path:
    root, run_dir = trained
    target = tmp_path / run_dir.relative_to(root)
    shutil.copytree(run_dir, target)
    return target


def job_for(config: Any, run_dir: Path) -> Any:
    data, labels = prepare_data(config, run_dir / "data")
    (job,) = build_jobs(config, data, labels, run_dir)
    return job


def test_a_finished_candidate_is_kept_and_an_evaluation_change_only_evaluates_again(
        trained: tuple[Path, Path], tmp_path: Path) -> None:
    run_dir = copy_of(trained, tmp_path)
    job = job_for(config_with(tmp_path), run_dir)
    assert decide(job).action == "keep"

    beams = job_for(config_with(tmp_path, generation={"max_new_tokens": 8, "num_beams": 2}), run_dir)
    decision = decide(beams)
    assert decision.action == "re-evaluate" and "generation.num_beams: 1 -> 2" in decision.reason, decision
    weights = run_dir / "models" / "bart" / "checkpoint" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    result = evaluate_candidate(beams, RecordingReporter())
    assert result.reevaluated and result.steps == read_json(run_dir / "models" / "bart" / "metrics.json")["steps"]
    assert weights.stat().st_mtime_ns == before  # not trained again
    assert set(result.metrics) >= {"train_loss", "validation", "test"}
    assert decide(beams).action == "keep"
    assert decide(job).action == "re-evaluate"  # back to the old generation settings: evaluated again


def test_edited_data_and_same_size_tampered_weights_train_again(trained: tuple[Path, Path], tmp_path: Path) -> None:
    run_dir = copy_of(trained, tmp_path)
    config = config_with(tmp_path)
    weights = run_dir / "models" / "bart" / "checkpoint" / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(bytes(reversed(original)))
    decision = decide(job_for(config, run_dir))
    assert decision.action == "train" and "sha256" in decision.reason, decision
    weights.write_bytes(original)
    assert decide(job_for(config, run_dir)).action == "keep"

    fewer = config_with(tmp_path)
    fewer.data.builtin.train_size = 80  # an edit of the training data
    decision = decide(job_for(fewer, run_dir))
    assert decision.action == "train" and "data.train changed" in decision.reason, decision


def test_validate_says_what_a_rerun_would_do_and_why(trained: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    copy_of(trained, tmp_path)
    raw = tiny_experiment(tmp_path, [BART, {**BART, "name": "fresh"}])
    path = write_yaml(tmp_path / "tiny.yaml", raw)
    assert main(["validate", "--no-preflight", str(path)]) == 0
    table = capsys.readouterr().out
    assert "keep" in table and "no earlier checkpoint" in table

    raw["defaults"]["learning_rate"] = 1e-3
    write_yaml(path, raw)
    assert main(["validate", "--no-preflight", str(path)]) == 0
    table = capsys.readouterr().out
    assert "learning_rate" in table and "keep" not in table, table
    checkpoint = tmp_path / "runs" / "tiny" / "models" / "bart" / "checkpoint"
    assert verify_checkpoint(checkpoint, hashes=True) is None  # validate decided without touching anything
