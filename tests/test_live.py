"""The status table that `run` shows live and `status` prints, from status.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from orchestrator.live import eta, status_table
from tests.conftest import REPO

NOW = 1_000_000.0

STATUS = {
    "updated": NOW - 2,
    "stage": "train",
    "stages": {
        "train": {
            "running": {"llama": {"launched": NOW - 90, "attempt": 2}},
            "queued": ["t5"],
            "live": {
                "llama": {"phase": "training", "step": 50, "total_steps": 200, "loss": 1.2345,
                          "examples_per_s": 31.4, "training_since": NOW - 60, "workers": 2},
                "bart": {"phase": "done", "step": 200, "total_steps": 200},
            },
            "finished": {
                "bart": {"status": "succeeded", "phase": "done", "wall_s": 125.0, "error": None},
                "broken": {"status": "failed", "phase": "training", "wall_s": 12.0,
                           "error": "RuntimeError: injected fault at training step 3"},
                "old": {"status": "succeeded", "phase": "done", "wall_s": 80.0, "resumed": True},
            },
        },
        "optimize": {"running": {}, "queued": [], "live": {}, "finished": {}},
    },
}


def render(status: dict) -> str:
    console = Console(record=True, width=200, force_terminal=False)
    console.print(status_table(status, now=NOW))
    return console.export_text()


def test_table_shows_running_queued_and_finished_with_reasons() -> None:
    text = render(STATUS)
    lines = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") > 5}
    assert "running (attempt 2)" in lines["llama"] and "step 50/200 on 2 workers" in lines["llama"]  # rank 0's
    assert "1.234" in lines["llama"] and " 31 " in lines["llama"]
    assert "1:30" in lines["llama"] and "3:00" in lines["llama"]  # elapsed since launch; ETA 60 s x 150/50
    assert "queued" in lines["t5"]
    assert "succeeded" in lines["bart"] and "2:05" in lines["bart"]
    assert "failed" in lines["broken"] and "injected fault at training step 3" in lines["broken"]
    assert "resumed" in lines["old"]
    assert "updated 0:02 ago" in text


def test_eta_only_while_training() -> None:
    assert eta({"phase": "training", "step": 10, "total_steps": 30, "training_since": NOW - 20}, NOW) == 40
    assert eta({"phase": "predicting", "step": 30, "total_steps": 30, "training_since": NOW - 20}, NOW) is None


def test_status_command_reads_a_run_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "exp"
    run_dir.mkdir(parents=True)
    (run_dir / "status.json").write_text(json.dumps(STATUS), encoding="utf-8")
    for args in (["status", str(run_dir)], ["status"]):  # without RUN_DIR: the latest under ./runs
        proc = subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=tmp_path,
                              env={"PYTHONPATH": str(REPO), "COLUMNS": "200", "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "injected fault" in proc.stdout and "llama" in proc.stdout and "no summary yet" in proc.stdout
    missing = subprocess.run([sys.executable, "-m", "orchestrator", "status", str(tmp_path / "nowhere")],
                             env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert missing.returncode == 2 and "has no status.json" in missing.stderr
