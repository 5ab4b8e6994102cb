"""Run storage: a local path and an s3:// URI (a real S3 server on localhost), incremental copies,
node-local working copies, and the config and start-up errors a user sees."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow.fs
import pytest

from contract.job import DataFiles
from contract.work import OPTIMIZE, OptimizeRequest
from models.ensemble.folds import split_training
from orchestrator.config import ConfigError, StorageConfig, validate_raw
from orchestrator.filesystems import open_uri
from orchestrator.stages.folds import FOLDS_DIR, fold_job
from orchestrator.stages.train import build_jobs
from orchestrator.storage import MARKER, RunStorage, open_run_storage, run_storage
from orchestrator.work import WorkItem
from tests.conftest import tiny_experiment


def stored_files(storage: RunStorage) -> dict[str, int]:
    fs, base = open_uri(storage.uri)
    base = f"{base.rstrip('/')}/{storage.run_name}"
    selector = pyarrow.fs.FileSelector(base, recursive=True, allow_not_found=True)
    return {i.path[len(base) + 1:]: i.size for i in fs.get_file_info(selector)
            if i.type == pyarrow.fs.FileType.File and i.base_name != MARKER}


def make_run(run_dir: Path) -> None:
    (run_dir / "data").mkdir(parents=True)
    (run_dir / "data" / "train.jsonl").write_text('{"a": 1}\n' * 50)
    checkpoint = run_dir / "models" / "bart" / "checkpoint"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.safetensors").write_bytes(os.urandom(4096))
    (checkpoint / "manifest.json").write_text("{}")


@pytest.fixture(params=["path", "s3"])
def storage(request: Any, tmp_path: Path) -> RunStorage:
    uri = str(tmp_path / "shared") if request.param == "path" else request.getfixturevalue("s3_bucket")
    run_dir = tmp_path / f"driver-{request.param}" / "tiny"
    make_run(run_dir)
    return RunStorage(uri=uri, run_dir=run_dir, scratch_dir=str(tmp_path / "scratch"))


def test_push_then_pull_copies_only_what_changed(storage: RunStorage, tmp_path: Path) -> None:
    storage.check_writable()
    storage.claim()  # as `open_run_storage` does: an empty place becomes this project's (so --fresh may empty it)
    assert storage.push(storage.run_dir, "models/bart") == 2
    assert storage.push(storage.run_dir, "models/bart") == 0  # nothing changed
    assert stored_files(storage) == {"models/bart/checkpoint/model.safetensors": 4096,
                                     "models/bart/checkpoint/manifest.json": 2}

    node = tmp_path / "node" / "tiny"
    assert storage.pull("models/bart", node) == 2
    weights = node / "models/bart/checkpoint/model.safetensors"
    assert weights.read_bytes() == (storage.run_dir / "models/bart/checkpoint/model.safetensors").read_bytes()
    assert storage.pull("models/bart", node) == 0  # pulled files keep storage's mtime
    assert storage.push(node, "models/bart") == 0  # and are not sent back
    assert not list(node.rglob("*.partial-*"))

    (node / "models/bart/checkpoint/manifest.json").write_text('{"changed": true}')
    assert storage.push(node, "models/bart") == 1
    assert storage.pull("models/bart", storage.run_dir) == 1
    assert (storage.run_dir / "models/bart/checkpoint/manifest.json").read_text() == '{"changed": true}'
    assert storage.pull("models/nobody", node) == 0

    storage.clear()
    assert stored_files(storage) == {}


def test_a_fold_model_pulls_its_fold_and_the_validation_rows(tmp_path: Path) -> None:
    """A cross-fitted member's fold model trains on data/folds/ and validates on data/: a node
    gets both, and the fold files reach storage when the ensemble writes them."""
    run_dir = tmp_path / "driver" / "tiny"
    make_run(run_dir)
    (run_dir / "data" / "validation.jsonl").write_text('{"a": 2}\n')
    config = validate_raw(tiny_experiment(tmp_path, [{"name": "bart", "source": "scratch:bart-tiny",
                                                      "family": "seq2seq"}], ensemble={"cross_fit_members": 2}))
    data = DataFiles(run_dir / "data" / "train.jsonl", run_dir / "data" / "validation.jsonl", None)
    storage = RunStorage(uri=str(tmp_path / "shared"), run_dir=run_dir)
    storage.claim()
    storage.publish("data")
    folds = split_training(data.train, run_dir / "data" / FOLDS_DIR, 2, config.defaults.seed)
    storage.publish(f"data/{FOLDS_DIR}")
    job = fold_job(config, data, (), run_dir, "bart", folds[1])
    node = tmp_path / "node" / "tiny"
    storage.pull_inputs(job, node, trained=False)  # the driver's job, as a worker is given it
    assert (node / "data" / "validation.jsonl").is_file() and (node / "data" / "train.jsonl").is_file()
    assert (node / "data" / "folds" / "2of2-train.jsonl").read_text() == folds[1].train.read_text()
    assert len((node / "data" / "folds" / "2of2-held-out.jsonl").read_text().splitlines()) == 25


def test_a_work_item_is_rerooted_into_the_node_copy_and_back(tmp_path: Path) -> None:
    config = validate_raw(tiny_experiment(tmp_path, [{"name": "bart", "source": "scratch:bart-tiny",
                                                      "family": "seq2seq"}]))
    run_dir = config.run_dir.resolve()
    data = DataFiles(run_dir / "data" / "train.jsonl", run_dir / "data" / "validation.jsonl", None)
    job = build_jobs(config, data, (), run_dir)[0]
    storage = RunStorage(uri=str(tmp_path / "shared"), run_dir=run_dir)
    item = WorkItem(OPTIMIZE, job, OptimizeRequest({"rows": ["x"]}, [{"id": 3}], str(run_dir / "optimize" / "bart")))
    node = tmp_path / "scratch" / "node-1" / "tiny"

    local = storage.localize(item, node)
    assert local.job.output_dir == node / "models" / "bart"
    assert local.job.data == DataFiles(node / "data" / "train.jsonl", node / "data" / "validation.jsonl", None)
    assert local.request == OptimizeRequest({"rows": ["x"]}, [{"id": 3}], str(node / "optimize" / "bart"))
    assert local.job.settings == job.settings and local.job.candidate == job.candidate
    assert storage.outputs(local, node) == ["models/bart", "optimize/bart"]
    assert storage.outputs(item) == ["models/bart", "optimize/bart"]
    result = {"checkpoint": str(node / "models/bart/checkpoint"), "plots": [str(node / "optimize/bart/a.png")]}
    assert storage.to_driver(result, node) == {"checkpoint": str(run_dir / "models/bart/checkpoint"),
                                               "plots": [str(run_dir / "optimize/bart/a.png")]}


def test_storage_setting_spellings_and_errors(tmp_path: Path) -> None:
    def config(storage: Any) -> Any:
        models = [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}]
        return validate_raw(tiny_experiment(tmp_path, models, storage=storage))

    assert config("s3://bucket/exp").storage == StorageConfig(uri="s3://bucket/exp")
    assert config({"uri": "shared/exp", "scratch_dir": "/local"}).storage.scratch_dir == "/local"
    assert config({}).storage.uri is None and run_storage(config({}).storage, tmp_path) is None
    relative = run_storage(config("shared/exp").storage, tmp_path / "run")
    assert relative is not None and relative.uri == str(Path("shared/exp").resolve())  # absolute for the nodes

    with pytest.raises(ConfigError) as caught:
        config("ftp://host/exp")
    (issue,) = [i for i in caught.value.issues if i.path == "storage.uri"]
    assert "ftp://" in issue.message and "s3://" in issue.message


def test_an_unusable_storage_stops_the_run_before_training(tmp_path: Path, s3_bucket: str) -> None:
    run_dir = tmp_path / "tiny"
    make_run(run_dir)
    missing_bucket = re.sub(r"@[^/]+/", "@no-such-bucket/", s3_bucket)
    with pytest.raises(ConfigError) as caught:
        open_run_storage(StorageConfig(uri=missing_bucket), run_dir)
    (issue,) = caught.value.issues
    assert issue.path == "storage.uri" and "no-such-bucket" in issue.message and "credentials" in issue.message

    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot use"):
        open_run_storage(StorageConfig(uri=str(blocked / "exp")), run_dir)


def test_a_rerun_resumes_from_what_storage_holds(tmp_path: Path, s3_bucket: str) -> None:
    """The driver's machine is gone: a new run directory elsewhere gets the checkpoints back."""
    first = tmp_path / "first" / "tiny"
    make_run(first)
    storage = open_run_storage(StorageConfig(uri=s3_bucket), first)  # trained before storage was set
    assert storage is not None and storage.push(first, "models/bart") == 0  # already sent up
    assert {"data/train.jsonl", "models/bart/checkpoint/model.safetensors"} <= set(stored_files(storage))

    second = tmp_path / "second" / "tiny"
    (second / "data").mkdir(parents=True)
    (second / "data" / "train.jsonl").write_text('{"a": 1}\n' * 50)
    open_run_storage(StorageConfig(uri=s3_bucket), second)
    assert (second / "models/bart/checkpoint/model.safetensors").read_bytes() == \
        (first / "models/bart/checkpoint/model.safetensors").read_bytes()

    open_run_storage(StorageConfig(uri=s3_bucket), tmp_path / "third" / "tiny", fresh=True)
    assert not any(name.startswith("models/") for name in stored_files(storage))


def test_messages_never_show_credentials_from_the_uri(tmp_path: Path) -> None:
    storage = RunStorage(uri="s3://KEY:SECRET@bucket/exp?region=eu-west-1", run_dir=tmp_path / "tiny")
    assert "SECRET" not in storage.location and "KEY" not in storage.location
    assert storage.location == "s3://***@bucket/exp?region=eu-west-1 (tiny/)"
    assert RunStorage(uri="/mnt/shared/exp", run_dir=tmp_path / "tiny").location == "/mnt/shared/exp/tiny"


def test_a_copy_in_flight_elsewhere_is_not_taken_for_a_file(tmp_path: Path) -> None:
    """On a shared path, another process's half-written `.partial-<pid>` copy is visible; a pull
    at that moment must skip it (it is renamed into place when complete)."""
    storage = RunStorage(uri=str(tmp_path / "shared"), run_dir=tmp_path / "driver" / "tiny")
    stored = tmp_path / "shared" / "tiny" / "tune" / "trials" / "t1"
    stored.mkdir(parents=True)
    (stored / "train.log").write_text("done")
    (stored / "model.safetensors.partial-4242").write_bytes(b"half")
    assert storage.restore("tune/trials/t1") == 1
    assert [p.name for p in (storage.run_dir / "tune/trials/t1").iterdir()] == ["train.log"]


def test_node_copies_are_keyed_by_run_and_storage_and_mirroring_drops_rotated_folders(tmp_path: Path) -> None:
    one = RunStorage(uri=str(tmp_path / "shared"), run_dir=tmp_path / "a" / "tiny")
    other_dir = RunStorage(uri=str(tmp_path / "shared"), run_dir=tmp_path / "b" / "tiny")
    other_storage = RunStorage(uri=str(tmp_path / "elsewhere"), run_dir=tmp_path / "a" / "tiny")
    keys = {s.run_key for s in (one, other_dir, other_storage)}
    assert len(keys) == 3 and all(k.startswith("tiny-") for k in keys)

    trainer = one.run_dir / "models" / "bart" / "trainer"
    for step in (10, 20):
        (trainer / f"checkpoint-{step}").mkdir(parents=True)
        (trainer / f"checkpoint-{step}" / "model.safetensors").write_bytes(b"w" * step)
        (trainer / f"checkpoint-{step}" / "manifest.json").write_text("{}")
    assert one.mirror(one.run_dir, "models/bart/trainer") == 4
    shutil.rmtree(trainer / "checkpoint-10")  # the Trainer rotated it away
    (trainer / "checkpoint-30").mkdir()
    (trainer / "checkpoint-30" / "manifest.json").write_text("{}")
    assert one.mirror(one.run_dir, "models/bart/trainer") == 1
    assert sorted(stored_files(one)) == ["models/bart/trainer/checkpoint-20/manifest.json",
                                         "models/bart/trainer/checkpoint-20/model.safetensors",
                                         "models/bart/trainer/checkpoint-30/manifest.json"]
