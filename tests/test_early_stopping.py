"""Early stopping: a candidate whose validation metric stops improving stops training, keeps its
best checkpoint, and says where it stopped and what it saved, in summary.json, the tables and the
report; the config refuses what cannot be watched."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from orchestrator.config import ConfigError, validate_raw
from orchestrator.data import prepare_data
from orchestrator.live import status_table
from tests.conftest import read_json, run_cli, tiny_experiment, write_yaml

MODELS = [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}]


@pytest.mark.integration
def test_a_candidate_that_stops_improving_stops_and_keeps_its_best_checkpoint(tmp_path: Path) -> None:
    """Every candidate has 4 evaluations (one per epoch, 12 steps each). With `min_delta` beyond
    reach nothing after the first evaluation is an improvement, so patience 1 stops training at the
    second: step 24 of 48, the better of the two evaluations' checkpoints kept. One watches eval_loss, one the
    task's ROUGE-L (predicting validation at every evaluation); the third trains to the end."""
    raw = tiny_experiment(tmp_path, [
        {"name": "by-loss", "source": "scratch:bart-tiny", "family": "seq2seq",
         "early_stopping": {"patience": 1, "min_delta": 100}},
        {"name": "by-rouge", "source": "scratch:bart-tiny", "family": "seq2seq",
         "early_stopping": {"patience": 1, "metric": "rougeL", "min_delta": 100}},
        {"name": "full", "source": "scratch:bart-tiny", "family": "seq2seq"},
    ], ensemble={"strategy": "none"})
    raw["defaults"].pop("max_steps")
    raw["defaults"]["epochs"] = 4
    done = run_cli("run", str(write_yaml(tmp_path / "exp.yaml", raw)), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = tmp_path / "runs" / "tiny"
    models = read_json(run_dir / "summary.json")["models"]
    for name, metric in (("by-loss", "eval_loss"), ("by-rouge", "rougeL")):
        stopped = models[name]["stopped_early"]
        assert {k: stopped[k] for k in ("step", "of_steps", "metric", "epoch")} == {
            "step": 24, "of_steps": 48, "metric": metric, "epoch": 2.0}, stopped
        assert stopped["best_step"] in (12, 24)  # the better of the two evaluations, however slightly
        assert stopped["saved_s"] > 0 and stopped["saved_share"] == 0.5
        assert models[name]["steps"] == 24 and models[name]["status"] == "succeeded"
        assert (run_dir / "models" / name / "checkpoint" / "model.safetensors").is_file()
    assert models["full"]["stopped_early"] is None and models["full"]["steps"] == 48
    assert "validation rougeL" in (run_dir / "models" / "by-rouge" / "train.log").read_text(encoding="utf-8")
    assert "stopped early at step 24 of 48 (epoch 2: eval_loss stopped improving, best step" in done.stdout

    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "Early stopping: by-loss stopped early at step 24 of 48" in report and "by-rouge stopped early" in report
    console = Console(record=True, width=400, force_terminal=False)
    console.print(status_table(read_json(run_dir / "status.json")))
    rows = {line.split("│")[1].strip(): line for line in console.export_text().splitlines() if line.count("│") > 5}
    assert "stopped early at step 24 of 48" in rows["by-rouge"] and "stopped early" not in rows["full"]


def test_what_early_stopping_watches_is_checked(tmp_path: Path) -> None:
    raw = tiny_experiment(tmp_path, MODELS)
    raw["defaults"]["early_stopping"] = {"patience": 2, "metric": "accuracy"}
    with pytest.raises(ConfigError, match=r"defaults.early_stopping.metric: 'accuracy' is not measured"):
        validate_raw(raw)
    raw["defaults"]["early_stopping"] = {"patience": 2}
    raw["data"]["builtin"]["validation_size"] = 0
    config = validate_raw(raw)
    with pytest.raises(ConfigError, match="defaults.early_stopping: bart stops early on validation eval_loss, and "
                                          "there is no validation split"):
        prepare_data(config, config.run_dir)


def test_a_candidate_without_early_stopping_keeps_its_fingerprint(tmp_path: Path) -> None:
    """The setting came after checkpoints existed: off, it is no part of the training identity, so
    upgrading never retrains a finished candidate that does not use it."""
    off = validate_raw(tiny_experiment(tmp_path, MODELS))
    on = validate_raw(tiny_experiment(tmp_path, [{**MODELS[0], "early_stopping": {"patience": 2}}]))
    identity = off.identity(off.models[0], None)
    assert "early_stopping" not in identity.training["settings"]
    assert on.identity(on.models[0], None).fingerprint != identity.fingerprint
