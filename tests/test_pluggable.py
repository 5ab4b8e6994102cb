"""One place per pluggable part: a model family, a quantization backend and a tracker are each one
row of a table (`contract.families`, `contract.optimize.BACKENDS`, `orchestrator.config.tracking`)
plus the module the row names. Every row's class path resolves, and a family added as one row,
at test time, is accepted by the config and trained through the registry, with no other file
touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract.families import FAMILIES, Family
from contract.fields import TASK_TYPES
from contract.job import DataFiles
from contract.optimize import BACKENDS, Int8Backend
from contract.work import resolve, result_dict
from models.families.seq2seq import Seq2SeqFamily
from orchestrator.config import ConfigError, validate_raw
from orchestrator.config.tracking import TRACKERS, TrackerBackend, TrackingConfig
from tests.conftest import tiny_experiment

SEQ2SEQ = FAMILIES["seq2seq"]


class ToyFamily(Seq2SeqFamily):
    """A family of its own that works as seq2seq does: what a new family's module would hold."""


TOY = Family("toy", ("summarization",), SEQ2SEQ.auto_class, SEQ2SEQ.ort_class, "summarization",
             "tests.test_pluggable:ToyFamily", examples="BART")


def test_every_row_names_what_exists() -> None:
    from contract.sources import PRESETS
    from models.families.base import ModelFamily
    from models.optimize.backends.base import QuantizationBackend

    for family in FAMILIES.values():
        assert issubclass(resolve(family.implementation), ModelFamily), family.name
        assert resolve(family.auto_class).__name__ == family.auto_class_name, family.name
        assert family.ort_class is None or resolve(family.ort_class) is not None, family.name
        assert family.tasks and set(family.tasks) <= set(TASK_TYPES), family.name
    assert {task for family in FAMILIES.values() for task in family.tasks} == set(TASK_TYPES)
    assert {PRESETS.get(name).family for name in PRESETS.names()} <= set(FAMILIES)
    for backend in BACKENDS.values():
        assert issubclass(resolve(backend.implementation), QuantizationBackend), backend.name
    for tracker in TRACKERS.values():
        assert resolve(tracker.implementation).name == tracker.name
    assert list(TrackingConfig.model_fields) == list(TRACKERS)


def test_a_family_added_as_one_row_is_configured_built_and_trained(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from contract.sources import PRESETS
    from models.data.builtin import write_builtin_splits
    from models.registry import load_family
    from models.reporting import RecordingReporter
    from models.tokenization import padding_side_for
    from models.training import train_candidate
    from orchestrator.stages.train import candidate_job

    monkeypatch.setitem(FAMILIES, TOY.name, TOY)
    base = tmp_path / "toy-base"
    raw = tiny_experiment(tmp_path, [{"name": "toy", "source": str(base), "family": "Toy"}], defaults={"max_steps": 2})
    config = validate_raw(raw)
    assert config.models[0].family == "toy"

    with pytest.raises(ConfigError) as typo:
        validate_raw({**raw, "models": [{**raw["models"][0], "family": "toys"}]})
    assert "'toys' is not allowed; use one of: seq2seq, causal, classifier, toy (did you mean 'toy'?)" in str(typo.value)
    with pytest.raises(ConfigError) as task:
        validate_raw({**raw, "task": {"type": "classification"}})
    assert "'toy' cannot do a classification task; use one of: classifier" in str(task.value)

    data_dir = tmp_path / "data"
    write_builtin_splits(data_dir, task="summarization", language="ko", sizes={"train": 32, "validation": 4, "test": 4})
    data = DataFiles(data_dir / "train.jsonl", data_dir / "validation.jsonl", data_dir / "test.jsonl")
    job = candidate_job(config, config.models[0], data, (), tmp_path)
    family = load_family(job.family)(job)
    assert isinstance(family, ToyFamily) and family.name == "toy"
    assert padding_side_for("toy", "generate") == "right"
    rows = [json.loads(line) for line in data.train.read_text(encoding="utf-8").splitlines()]
    family.materialize(PRESETS.get("bart-tiny"), [r[c] for r in rows for c in ("dialogue", "summary")], base)

    result = result_dict(train_candidate(job, RecordingReporter()))
    assert result["metrics"]["test"]["rougeL"] >= 0
    assert len((job.output_dir / "predictions" / "test.jsonl").read_text(encoding="utf-8").splitlines()) == 4


def test_onnxruntime_takes_the_families_that_name_an_ort_class(monkeypatch: pytest.MonkeyPatch) -> None:
    from models.optimize.backends.base import QuantizationSkipped
    from models.optimize.backends.ort import _ort_class

    monkeypatch.setitem(FAMILIES, "no-onnx", Family("no-onnx", ("summarization",), SEQ2SEQ.auto_class, None,
                                                    "summarization", SEQ2SEQ.implementation))
    with pytest.raises(QuantizationSkipped, match="the no-onnx family names no ONNX Runtime model class"):
        _ort_class("no-onnx")
    assert _ort_class("seq2seq").__name__ == SEQ2SEQ.ort_class.rpartition(":")[2]  # type: ignore[union-attr]


class NamedBackend:
    """A quantization backend that only remembers the name its row gave it."""

    packages = ()

    def __init__(self, name: str):
        self.name = name


def test_a_backend_is_found_by_its_row(monkeypatch: pytest.MonkeyPatch) -> None:
    from contract.names import UnknownNameError
    from models.optimize.backends import quantization_backend

    monkeypatch.setitem(BACKENDS, "toy_int8", Int8Backend("toy_int8", "tests.test_pluggable:NamedBackend", "cpu"))
    backend = quantization_backend("Toy-Int8")
    assert isinstance(backend, NamedBackend) and backend.name == "toy_int8"
    assert quantization_backend("toy_int8") is backend
    with pytest.raises(UnknownNameError, match="did you mean 'toy_int8'"):
        quantization_backend("toy_int9")


class RecordingTracker:
    """A tracker that records what it was opened with and told."""

    name = "tensorboard"
    opened: list[tuple[object, object]] = []

    def __init__(self, target: object, settings: object):
        RecordingTracker.opened.append((target, settings))

    def begin(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_tracker_is_opened_from_its_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.tracking import Tracker, TrackingTarget

    monkeypatch.setitem(TRACKERS, "tensorboard",
                        TrackerBackend("tensorboard", "tests.test_pluggable:RecordingTracker"))
    monkeypatch.setattr(RecordingTracker, "opened", [])
    config = validate_raw({**tiny_experiment(tmp_path, [{"name": "x", "source": "scratch:bart-tiny",
                                                          "family": "seq2seq"}]), "tracking": ["tensorboard"]})
    target = TrackingTarget.for_run(config.tracking, tmp_path / "run", "contest")
    assert target is not None
    tracker = Tracker(target, begin_wait_s=10)
    tracker.close(timeout_s=10)
    assert [type(lane.backend) for lane in tracker.lanes] == [RecordingTracker]
    assert RecordingTracker.opened == [(target, True)] and not tracker.failed
