"""Experiment tracking (`orchestrator.tracking`), read back with each tracker's own reader:
TensorBoard's EventAccumulator, MLflow's client on the local store, and W&B's offline run files
(records in W&B's protobuf). No mocks: the real libraries write, the real readers load."""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Any

import pytest

from contract.job import DataFiles
from contract.phases import Phase, Status
from orchestrator.config import validate_raw
from orchestrator.outcome import Outcome
from orchestrator.stages.train import candidate_job
from orchestrator.tracking import Tracker, TrackingTarget, tracked_values
from orchestrator.tracking.wandb import run_id
from orchestrator.work import WorkItem, training_item
from tests.conftest import tiny_experiment

ALL = {"tensorboard": True, "mlflow": {}, "wandb": {"mode": "offline"}}


def items(tmp_path: Path, names: tuple[str, ...] = ("kobart", "t5")) -> dict[str, WorkItem]:
    models = [{"name": n, "source": "scratch:bart-tiny", "family": "seq2seq"} for n in names]
    config = validate_raw(tiny_experiment(tmp_path, models))
    data = DataFiles(tmp_path / "train.jsonl", tmp_path / "validation.jsonl", None)
    return {c.name: training_item(candidate_job(config, c, data, (), tmp_path)) for c in config.models}


def tracker(tmp_path: Path, tracking: Any = ALL) -> Tracker:
    config = validate_raw({**tiny_experiment(tmp_path, [{"name": "x", "source": "scratch:bart-tiny",
                                                          "family": "seq2seq"}]), "tracking": tracking})
    target = TrackingTarget.for_run(config.tracking, tmp_path / "run", "contest")
    assert target is not None
    return Tracker(target)


def succeeded(name: str, steps: int) -> Outcome:
    return Outcome(name=name, status=Status.SUCCEEDED, phase=Phase.DONE, wall_s=12.5,
                   metrics={"train_loss": 1.2, "eval_loss": 0.9, "validation": {"rougeL": 31.5}, "test": {"rougeL": 30.1}},
                   details={"steps": steps})


def failed(name: str) -> Outcome:
    return Outcome(name=name, status=Status.FAILED, phase="training", error="CUDA out of memory at batch size 1",
                   failure_kind="oom", attempts=2)


def train(track: Tracker, item: WorkItem, steps: range) -> None:
    track.started(item)
    track.logged(item, [{"step": s, "values": {"loss": 10.0 / s, "learning_rate": 1e-3, "epoch": s / 20}}
                        for s in steps])
    track.logged(item, [{"step": steps[-1], "values": {"eval_loss": 2.0, "eval_runtime": 0.5}}])


def one_run(tmp_path: Path, tracking: Any = ALL) -> tuple[Tracker, dict[str, WorkItem]]:
    work = items(tmp_path)
    track = tracker(tmp_path, tracking)
    train(track, work["kobart"], range(10, 41, 10))
    track.ended(work["kobart"], succeeded("kobart", 40))
    train(track, work["t5"], range(10, 21, 10))
    track.retrying(work["t5"], "out of memory")
    track.ended(work["t5"], failed("t5"))
    summary = tmp_path / "run" / "summary.json"
    summary.write_text('{"status": "partial"}', encoding="utf-8")
    track.finish("partial", {"kobart/test/rougeL": 30.1}, {"ensemble": "the best single model"}, [summary])
    track.close()
    return track, work


# --------------------------------------------------------------------------- readers


def tensorboard_scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(directory))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def wandb_records(path: Path) -> list[Any]:
    """The records of one offline run file: W&B's LevelDB-style log (a 7-byte header, then 32 KiB
    blocks of chunks: crc32, length, type) of `wandb_internal_pb2.Record` messages."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, chunk, offset = [], b"", 7
    while offset + 7 <= len(data):
        if 32768 - offset % 32768 < 7:  # a block's tail too short for a header is padding
            offset += 32768 - offset % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[offset:offset + 7])
        chunk += data[offset + 7:offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
        elif kind == 0 and length == 0:
            break
    return records


def wandb_run(root: Path, run: str) -> dict[str, Any]:
    """What the offline files of W&B run `run` hold: its history rows, summary, group and exit codes."""
    found: dict[str, Any] = {"history": [], "summary": {}, "exit": [], "group": None, "files": 0}
    for path in sorted(root.glob(f"wandb/offline-run-*-{run}*/run-{run}.wandb")):
        found["files"] += 1
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                found["history"].append({i.key or "/".join(i.nested_key): i.value_json for i in record.history.item})
            elif kind == "summary":
                found["summary"].update({i.key or "/".join(i.nested_key): i.value_json for i in record.summary.update})
            elif kind == "run":
                found["group"] = record.run.run_group
            elif kind == "exit":
                found["exit"].append(record.exit.exit_code)
    return found


# --------------------------------------------------------------------------- tests


def test_trainer_log_lines_become_tracked_metrics() -> None:
    assert tracked_values({"loss": 1.5, "learning_rate": 1e-4, "eval_loss": 0.7, "eval_rougeL": 30.0,
                           "train_runtime": 12.0, "epoch": 1.0, "note": "x", "bad": float("nan"), "flag": True}) == {
        "train/loss": 1.5, "train/learning_rate": 1e-4, "eval/loss": 0.7, "eval/rougeL": 30.0,
        "train/runtime": 12.0, "train/epoch": 1.0}
    assert tracked_values({"train_loss": 2.0}) == {"train/mean_loss": 2.0}  # not the per-step curve


def test_tensorboard_mlflow_and_wandb_read_back_what_was_tracked(tmp_path: Path) -> None:
    track, work = one_run(tmp_path)
    assert track.failed == {}
    root = tmp_path / "run" / "tracking"

    scalars = tensorboard_scalars(root / "tensorboard" / "train" / "kobart")
    assert [step for step, _ in scalars["train/loss"]] == [10, 20, 30, 40]
    assert scalars["eval/loss"] == [(40, 2.0)]
    assert scalars["final/validation/rougeL"] == [(40, pytest.approx(31.5))]
    assert "final/test/rougeL" in scalars and "train/learning_rate" in scalars

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("contest")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"contest", "kobart", "t5"}
    parent = runs["contest"]
    for name in ("kobart", "t5"):
        assert runs[name].data.tags["mlflow.parentRunId"] == parent.info.run_id
    kobart, t5 = runs["kobart"], runs["t5"]
    assert [m.step for m in client.get_metric_history(kobart.info.run_id, "train/loss")] == [10, 20, 30, 40]
    assert kobart.data.metrics["validation/rougeL"] == pytest.approx(31.5)
    assert kobart.data.params["learning_rate"] == str(work["kobart"].job.settings.learning_rate)
    assert kobart.data.params["candidate.family"] == "seq2seq"
    assert kobart.info.status == "FINISHED"
    assert t5.info.status == "FAILED"
    assert t5.data.tags["failure.phase"] == "training"
    assert t5.data.tags["failure.reason"] == "CUDA out of memory at batch size 1"
    assert t5.data.tags["attempt 1 failed"] == "out of memory"
    assert parent.info.status == "FINISHED" and parent.data.metrics["kobart/test/rougeL"] == pytest.approx(30.1)
    assert [f.path for f in client.list_artifacts(parent.info.run_id)] == ["summary.json"]

    target = track.target
    kobart_wb = wandb_run(root, run_id(target, track.tracked_run(work["kobart"]).key))
    assert kobart_wb["group"] == "contest"
    assert [row["step"] for row in kobart_wb["history"] if "train/loss" in row] == ["10", "20", "30", "40"]
    assert float(kobart_wb["summary"]["validation/rougeL"]) == pytest.approx(31.5)
    assert kobart_wb["exit"] == [0]
    t5_wb = wandb_run(root, run_id(target, track.tracked_run(work["t5"]).key))
    assert t5_wb["exit"] == [1]
    assert t5_wb["summary"]["failure/phase"] == '"training"'
    assert t5_wb["summary"]["status"] == '"failed"'


def test_a_resumed_run_continues_the_same_tracked_runs(tmp_path: Path) -> None:
    """A second process on the same run directory (a rerun after an interruption) finds each
    candidate's tracked run again instead of starting a duplicate; TensorBoard drops what the
    interrupted attempt logged past the step the training resumed from."""
    work = items(tmp_path, ("kobart",))
    first = tracker(tmp_path)
    train(first, work["kobart"], range(10, 51, 10))  # interrupted after step 50 ...
    first.close()
    second = tracker(tmp_path)
    train(second, work["kobart"], range(40, 61, 10))  # ... resumed from its checkpoint at step 30
    second.ended(work["kobart"], succeeded("kobart", 60))
    second.close()
    root = tmp_path / "run" / "tracking"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("contest").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["contest", "kobart"]
    kobart = next(r for r in runs if r.info.run_name == "kobart")
    assert sorted({m.step for m in client.get_metric_history(kobart.info.run_id, "train/loss")}) == [10, 20, 30, 40,
                                                                                                      50, 60]
    assert [step for step, _ in tensorboard_scalars(root / "tensorboard" / "train" / "kobart")["train/loss"]] == [
        10, 20, 30, 40, 50, 60]

    resumed = wandb_run(root, run_id(second.target, second.tracked_run(work["kobart"]).key))
    assert resumed["files"] == 2  # two offline attempts of one W&B run id, merged by `wandb sync`


def test_changed_settings_start_a_new_tracked_run(tmp_path: Path) -> None:
    work = items(tmp_path, ("kobart",))
    track = tracker(tmp_path, ["tensorboard"])
    item = work["kobart"]
    other = item.with_job(item.job.__class__(**{**item.job.__dict__, "fingerprint": "0" * 64}))
    assert track.tracked_run(item).key != track.tracked_run(other).key
    track.close()


def test_an_unreachable_tracker_costs_one_warning_and_nothing_else(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="orchestrator.tracking"):
        track, _ = one_run(tmp_path, {"mlflow": {"tracking_uri": "http://127.0.0.1:9"}})
    assert set(track.failed) == {"mlflow"}
    warnings = [r.getMessage() for r in caplog.records if r.name == "orchestrator.tracking"]
    assert len(warnings) == 1 and "the run goes on without it" in warnings[0]
    assert (tmp_path / "run" / "tracking" / "tensorboard" / "train" / "kobart").is_dir()  # the others still write


def test_tracking_none_writes_nothing(tmp_path: Path) -> None:
    config = validate_raw({**tiny_experiment(tmp_path, [{"name": "x", "source": "scratch:bart-tiny",
                                                          "family": "seq2seq"}]), "tracking": "none"})
    assert TrackingTarget.for_run(config.tracking, tmp_path / "run", "contest") is None
    assert not (tmp_path / "run").exists()
