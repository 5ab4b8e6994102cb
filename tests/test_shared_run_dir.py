"""A run directory from someone else: what `predict` unpickles is only the ensemble stage's own
file, named relative to the run directory and unchanged since it was written."""

from __future__ import annotations

import shutil
from pathlib import Path

import joblib
import pytest
from sklearn.linear_model import LogisticRegression

from contract.atomic import file_sha256
from models.ensemble.apply import load_meta_learner
from orchestrator.config import ConfigError
from orchestrator.predict import meta_learner_file


def fitted_run(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    run_dir = tmp_path / "runs" / "tiny"
    (run_dir / "ensemble").mkdir(parents=True)
    model = LogisticRegression().fit([[0.0], [1.0], [0.1], [0.9]], [0, 1, 0, 1])
    joblib.dump(model, run_dir / "ensemble" / "meta_learner.joblib")
    return run_dir, {"meta_learner_file": "meta_learner.joblib",
                     "meta_learner_sha256": file_sha256(run_dir / "ensemble" / "meta_learner.joblib")}


def test_a_moved_run_directory_loads_its_meta_learner(tmp_path: Path) -> None:
    run_dir, ensemble = fitted_run(tmp_path)
    moved = tmp_path / "elsewhere" / "tiny"
    shutil.copytree(run_dir, moved)
    shutil.rmtree(run_dir)
    path = meta_learner_file(moved, ensemble)
    assert load_meta_learner(path, ensemble["meta_learner_sha256"]).predict([[0.95]]).tolist() == [1]


@pytest.mark.parametrize(("what", "name", "words"), [
    ("a path up and out", "../../outside.joblib", "names no meta-learner file of its own"),
    ("an absolute path", "/tmp/outside.joblib", "names no meta-learner file of its own"),
    ("no file named", None, "names no meta-learner file of its own"),
    ("a missing file", "gone.joblib", "is missing or leads out of the run directory"),
])
def test_a_meta_learner_named_outside_the_run_directory_is_never_loaded(
    tmp_path: Path, what: str, name: str | None, words: str,
) -> None:
    run_dir, ensemble = fitted_run(tmp_path)
    shutil.copy(run_dir / "ensemble" / "meta_learner.joblib", tmp_path / "outside.joblib")
    with pytest.raises(ConfigError, match=words):
        meta_learner_file(run_dir, {**ensemble, "meta_learner_file": name})


def test_a_link_out_of_the_run_directory_is_refused(tmp_path: Path) -> None:
    run_dir, ensemble = fitted_run(tmp_path)
    outside = tmp_path / "outside.joblib"
    (run_dir / "ensemble" / "meta_learner.joblib").rename(outside)
    (run_dir / "ensemble" / "meta_learner.joblib").symlink_to(outside)
    with pytest.raises(ConfigError, match="leads out of the run directory"):
        meta_learner_file(run_dir, ensemble)


def test_a_changed_meta_learner_is_refused_with_the_reason(tmp_path: Path) -> None:
    run_dir, ensemble = fitted_run(tmp_path)
    path = run_dir / "ensemble" / "meta_learner.joblib"
    other = LogisticRegression().fit([[0.0], [1.0]], [1, 0])  # same kind of file, other content
    joblib.dump(other, path)
    with pytest.raises(ConfigError, match="not the file the ensemble stage wrote"):
        meta_learner_file(run_dir, ensemble)
    with pytest.raises(ValueError, match="not the file the ensemble stage wrote"):  # the actor checks it again
        load_meta_learner(path, ensemble["meta_learner_sha256"])
