"""The real pipeline with real Ray actors: `python -m orchestrator run` on a small config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contract.job import DataFiles
from models.checkpoint import verify_checkpoint
from orchestrator.cluster import connect, disconnect
from orchestrator.config import load_config
from orchestrator.data import run_data_files
from orchestrator.outcome import Outcome
from orchestrator.stages.context import RunContext
from orchestrator.stages.ensemble import run_ensemble
from tests.conftest import REPO, FinishedRun, read_json, run_cli
from tests.test_tracking import tensorboard_scalars

pytestmark = pytest.mark.integration


def test_candidates_train_concurrently_and_one_failure_costs_only_itself(
        tmp_path: Path, finished_run: FinishedRun) -> None:
    """The shared run (tests/conftest.py): bart, t5 and llama train at once, a candidate whose
    model is not cached is skipped in preflight, one that raises fails alone after its retry; the
    ensemble, optimize and both trackers follow."""
    config_path = finished_run.config
    assert finished_run.returncode == 3, finished_run.stdout + finished_run.stderr
    assert "Traceback" not in finished_run.stdout

    run_dir = load_config(config_path).run_dir
    summary = read_json(run_dir / "summary.json")
    assert summary["status"] == "partial"
    models = summary["models"]
    assert {n: m["status"] for n, m in models.items()} == {
        "bart": "succeeded", "t5": "succeeded", "llama": "succeeded", "missing": "skipped", "broken": "failed",
    }
    skipped = models["missing"]
    assert skipped["phase"] == "preflight" and "huggingface-cli download" in skipped["error"]
    failed = models["broken"]
    assert failed["phase"] == "training" and failed["failure_kind"] == "unknown"
    assert failed["attempts"] == 2 and len(failed["retries"]) == 1  # unknown errors: max_retries (1)
    assert failed["error"] == "RuntimeError: injected fault at training step 3"
    log_text = Path(failed["log"]).read_text()
    assert "Traceback" in log_text and "modeling_faulty.py" in log_text

    config = load_config(config_path)
    fingerprints = {c.name: config.fingerprint(c, run_data_files(run_dir)) for c in config.models}
    for name in ("bart", "t5", "llama"):
        entry = models[name]
        assert entry["phase"] == "done" and entry["error"] is None
        assert verify_checkpoint(Path(entry["checkpoint"]), fingerprints[name], hashes=True) is None
        assert set(entry["metrics"]["test"]) >= {"rouge1", "rouge2", "rougeL"}
        assert (run_dir / "models" / name / "predictions" / "test.jsonl").is_file()
        assert (run_dir / "models" / name / "train.log").is_file()

    # Concurrency: every pair of survivors was training at the same moment.
    windows = [read_json(run_dir / "models" / n / "metrics.json")["train_window"] for n in ("bart", "t5", "llama")]
    assert max(start for start, _ in windows) < min(end for _, end in windows), windows

    ensemble = summary["ensemble"]
    assert ensemble["status"] == "ok" and ensemble["members"] == ["bart", "llama", "t5"]
    assert {"stacking:linear", "stacking:lambdarank", "mbr", "best_single"} <= set(ensemble["scores"])
    assert ensemble["verdict"] and ensemble["chosen"] in ensemble["choice"]["validation"]
    assert (run_dir / "ensemble" / "meta_learner.joblib").is_file() == ensemble["chosen"].startswith("stacking:")
    assert len((run_dir / "ensemble" / "test_predictions.jsonl").read_text(encoding="utf-8").splitlines()) == 16

    for name in ("config.yaml", "report.md", "status.json", "data/train.jsonl"):
        assert (run_dir / name).is_file(), name
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "broken" in report and "Failures" in report and "lead baseline" in report and "## Ensemble" in report
    status = read_json(run_dir / "status.json")
    assert {"train", "ensemble-propose", "ensemble-score"} <= set(status["stages"])
    assert set(status["stages"]["ensemble-score"]["finished"]) == {"bart", "llama", "t5"}

    every_tracker_recorded_the_run(run_dir)
    # What follows writes into the run directory (`predict` its status.json): on a copy of the shared run.
    copy = Path(shutil.copytree(run_dir, tmp_path / "runs" / "tiny"))
    # The saved ensemble, reloaded by `predict` on the test inputs, chooses what the stage chose.
    predicted = run_cli("predict", str(copy), "--input", str(run_dir / "data" / "test.jsonl"),
                        "--output", str(tmp_path / "out.jsonl"), cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == (
        run_dir / "ensemble" / "test_predictions.jsonl").read_text(encoding="utf-8")

    optimized_models_are_measured_and_reloadable(run_dir, copy, tmp_path)
    member_failure_costs_only_itself(config_path, copy, tmp_path)


def every_tracker_recorded_the_run(run_dir: Path) -> None:
    """TensorBoard and MLflow, read back with their own readers: each trained
    candidate's curves and final scores, the failed one's reason and phase (its actor raised; the
    preflight-skipped one never started), and the run's files on the experiment's tracked run."""
    from mlflow.tracking import MlflowClient

    root = run_dir / "tracking"
    for name in ("bart", "t5", "llama"):
        scalars = tensorboard_scalars(root / "tensorboard" / "train" / name)
        assert [step for step, _ in scalars["train/loss"]] == [10, 20, 30], (name, scalars)
        assert "train/learning_rate" in scalars and "train/examples_per_s" in scalars and "eval/loss" in scalars
        assert "final/validation/rougeL" in scalars and "final/test/rougeL" in scalars

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("tiny").experiment_id])}
    assert set(runs) == {"tiny", "bart", "t5", "llama", "missing", "broken"}
    summary = read_json(run_dir / "summary.json")
    for name in ("bart", "t5", "llama"):
        run = runs[name]
        assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == runs["tiny"].info.run_id
        assert run.data.metrics["test/rougeL"] == pytest.approx(summary["models"][name]["metrics"]["test"]["rougeL"])
        assert run.data.params["max_steps"] == "30"
    broken = runs["broken"]
    assert broken.info.status == "FAILED" and broken.data.tags["failure.phase"] == "training"
    assert broken.data.tags["failure.reason"] == "RuntimeError: injected fault at training step 3"
    assert "attempt 1 failed" in broken.data.tags  # the retry continued the same MLflow run
    assert runs["missing"].data.tags["failure.phase"] == "preflight"
    artifacts = {f.path for f in client.list_artifacts(runs["tiny"].info.run_id)}
    assert {"summary.json", "report.html", "ensemble.json", "optimize.json"} <= artifacts


def optimized_models_are_measured_and_reloadable(run_dir: Path, copy: Path, tmp_path: Path) -> None:
    """The run's optimize stage quantized bart with both CPU backends, checked quality, swept the
    batch sizes and recommended one; `optimize RUN_DIR` reruns the stage for another model (on
    `copy`, a copy of the run directory)."""
    section = read_json(run_dir / "summary.json")["optimize"]
    assert section["status"] == "ok" and list(section["models"]) == ["bart"], section
    assert "one model at a time" in section["benchmarked"]
    bart = section["models"]["bart"]
    assert set(bart["variants"]) == {"fp32", "torch_dynamic", "onnxruntime"}
    for name, variant in bart["variants"].items():
        assert variant["status"] == "ok", (name, variant)
        assert [p["batch_size"] for p in variant["points"]] == [1, 4]
        assert all(p["status"] == "ok" and len(p["latencies_s"]) == 2 for p in variant["points"])
        assert "rougeL" in variant["quality"]
        if name != "fp32":
            assert variant["layer_ratio"] >= 3.5 and variant["size_bytes"] < bart["variants"]["fp32"]["size_bytes"]
            assert "metric_change" in variant and isinstance(variant["accepted"], bool)
            assert Path(variant["path"]).is_relative_to(run_dir / "models" / "bart" / "quantized")
    recommended = bart["recommendation"]
    assert recommended["variant"] in [n for n, v in bart["variants"].items() if v["accepted"]]
    assert recommended["batch_size"] in (1, 4)
    for plot in ("throughput", "latency"):
        assert (run_dir / "optimize" / "bart" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "## Quantization and batch size" in report and "optimize/bart/throughput.png" in report

    run_dir = copy
    again = run_cli("optimize", str(run_dir), "--set", "optimize.models=[t5]", "--set",
                    "optimize.backends=[torch_dynamic]", "--set", "optimize.batch_sizes=[2]", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "t5: " in again.stdout and "at batch size 2" in again.stdout
    section = read_json(run_dir / "summary.json")["optimize"]
    assert list(section["models"]) == ["t5"] and set(section["models"]["t5"]["variants"]) == {"fp32", "torch_dynamic"}
    assert "optimize/t5/throughput.png" in (run_dir / "report.md").read_text(encoding="utf-8")


def member_failure_costs_only_itself(config_path: Path, run_dir: Path, tmp_path: Path) -> None:
    """A member that cannot load in the ensemble stage drops out with its reason and log; the
    others still make the ensemble. `predict`, which needs the members its chosen method uses,
    says which one failed."""
    ensemble = read_json(run_dir / "ensemble" / "ensemble.json")
    victim = ensemble["best_member"] if ensemble["chosen"] == "best_single" else "llama"
    (run_dir / "models" / victim / "checkpoint" / "model.safetensors").unlink()
    predicted = run_cli("predict", str(run_dir), "--input", str(run_dir / "data" / "test.jsonl"),
                        "--output", str(tmp_path / "out2.jsonl"), cwd=tmp_path)
    assert predicted.returncode == 1 and "Traceback" not in predicted.stderr, predicted.stderr
    assert victim in predicted.stderr and f"errors/ensemble-propose-{victim}.log" in predicted.stderr

    config = load_config(config_path)
    outcomes = [Outcome(name, "succeeded", "done") for name in ("bart", "llama", "t5")]
    data = DataFiles(*(run_dir / "data" / f"{split}.jsonl" for split in ("train", "validation", "test")))
    cluster = connect(config.ray)
    try:
        section = run_ensemble(RunContext(config, data, (), run_dir, cluster), outcomes)
    finally:
        disconnect()
    assert section["status"] == "ok" and section["members"] == [m for m in ("bart", "llama", "t5") if m != victim]
    assert "no file named" in section["dropped"][victim] and f"ensemble-propose-{victim}.log" in section["dropped"][victim]


def test_validate_command_checks_without_starting_anything(tmp_path: Path) -> None:
    proc = run_cli("validate", str(REPO / "configs" / "full.yaml"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "kobart-tiny" in proc.stdout and "OK: 3 candidate(s)" in proc.stdout
