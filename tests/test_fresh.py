"""`--fresh` deletes only what this project made: a storage place overlapping the run directory is
refused when the config is read, and a storage place without the project's marker is never emptied."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.config import ConfigError, validate_raw
from orchestrator.storage import MARKER, open_run_storage
from tests.conftest import tiny_experiment, write_yaml

BART = {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}


@pytest.mark.parametrize(("storage", "relation"), [
    ("runs", "is the run directory itself"),
    ("runs/tiny/store", "lies inside the run directory"),
    ("file://{tmp}/runs/tiny/deeper", "lies inside the run directory"),
])
def test_a_storage_overlapping_the_run_directory_is_refused_with_the_fix(tmp_path: Path, storage: str,
                                                                         relation: str) -> None:
    raw = tiny_experiment(tmp_path, [BART], storage=str(tmp_path / storage) if "://" not in storage
                          else storage.format(tmp=tmp_path))
    with pytest.raises(ConfigError) as error:
        validate_raw(raw)
    message = str(error.value)
    assert "storage.uri" in message and relation in message and "-storage" in message


def test_a_storage_beside_the_run_directory_is_fine(tmp_path: Path) -> None:
    assert validate_raw(tiny_experiment(tmp_path, [BART], storage=str(tmp_path / "runs-storage"))).storage.uri


def test_run_fresh_with_storage_equal_to_the_output_dir_exits_2_and_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tiny_experiment(tmp_path, [BART], storage=str(tmp_path / "runs"))
    config = write_yaml(tmp_path / "tiny.yaml", raw)
    kept = [tmp_path / "runs" / "tiny" / "data" / "train.jsonl", tmp_path / "runs" / "tiny" / "tune" / "tune.json"]
    for path in kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    assert main(["run", "--fresh", str(config)]) == 2
    assert "is the run directory itself" in capsys.readouterr().err
    assert all(path.read_text() == "{}" for path in kept)


def test_fresh_never_empties_a_storage_place_the_project_did_not_make(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    config = validate_raw(tiny_experiment(tmp_path, [BART], storage=str(tmp_path / "shared")))
    theirs = tmp_path / "shared" / "tiny" / "notes.txt"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("not ours")
    run_dir = config.run_dir.resolve()
    (run_dir / "data").mkdir(parents=True)
    with caplog.at_level(logging.WARNING):
        open_run_storage(config.storage, run_dir)
    assert "will refuse to empty it" in caplog.text and not (theirs.parent / MARKER).exists()
    with pytest.raises(ConfigError) as error:
        open_run_storage(config.storage, run_dir, fresh=True)
    assert "did not put there" in str(error.value)
    assert theirs.read_text() == "not ours"


def test_fresh_empties_the_storage_place_the_project_made(tmp_path: Path) -> None:
    config = validate_raw(tiny_experiment(tmp_path, [BART], storage=str(tmp_path / "store")))
    run_dir = config.run_dir.resolve()
    (run_dir / "data").mkdir(parents=True)
    open_run_storage(config.storage, run_dir)
    place = tmp_path / "store" / "tiny"
    assert (place / MARKER).is_file()
    (place / "models" / "old").mkdir(parents=True)
    (place / "models" / "old" / "metrics.json").write_text("{}")
    open_run_storage(config.storage, run_dir, fresh=True)
    assert not (place / "models" / "old").exists() and (place / MARKER).is_file()
