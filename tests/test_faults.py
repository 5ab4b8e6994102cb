"""Real faults in real actors: hangs, crashes, memory, timeouts; a killed driver that resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from contract.atomic import read_json as read_note  # None while missing or half written
from contract.checkpoints import TRAINER_DIR
from models.checkpoint import verify_checkpoint
from models.resume import PROGRESS
from orchestrator.config import load_config
from tests.conftest import child_env, process_name, read_json, tiny_experiment, wait_for_all_but_agents, write_yaml
from tests.faults import faulty_bart, tiny_bart

pytestmark = pytest.mark.integration


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator", *args]


def test_each_fault_costs_only_its_candidate(tmp_path: Path) -> None:
    remote = {"family": "seq2seq", "trust_remote_code": True}
    raw = tiny_experiment(tmp_path, [
        {"name": "healthy", "source": str(tiny_bart(tmp_path / "healthy")), "family": "seq2seq"},
        {"name": "hangs-in-init", "source": str(faulty_bart(tmp_path / "h", "hang_init")), **remote,
         "timeouts": {"load": 45}},
        {"name": "exits", "source": str(faulty_bart(tmp_path / "e", "exit_at", 3)), **remote},
        {"name": "stalls", "source": str(faulty_bart(tmp_path / "s", "hang_at", 3)), **remote,
         "timeouts": {"stall": 8}},
        {"name": "too-big-batch", "source": str(faulty_bart(tmp_path / "m", memory_per_example_mb=150)), **remote,
         "batch_size": 8, "resources": {"cpus": 0.3, "memory_gb": 1.0}},
        {"name": "nan", "source": str(tiny_bart(tmp_path / "nan")), "family": "seq2seq", "learning_rate": 1e30},
        {"name": "disk-full", "source": str(faulty_bart(tmp_path / "d", "disk_full_at_save")), **remote,
         "checkpoint_every": 4},
    ])
    raw["defaults"].update(max_steps=8, resources={"cpus": 0.3}, max_retries=1)
    path = write_yaml(tmp_path / "faults.yaml", raw)

    proc = subprocess.run(cli("run", str(path)), env=child_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    run_dir = load_config(path).run_dir
    models = read_json(run_dir / "summary.json")["models"]
    status = {name: (m["status"], m["phase"], m["failure_kind"], m["attempts"]) for name, m in models.items()}
    assert status == {
        "healthy": ("succeeded", "done", None, 1),
        "hangs-in-init": ("timed_out", "loading", "timeout", 1),
        "exits": ("failed", "training", "crash", 2),
        "stalls": ("timed_out", "training", "timeout", 1),
        "too-big-batch": ("succeeded", "done", None, 2),
        "nan": ("failed", "training", "non_finite_loss", 1),
        "disk-full": ("failed", "training", "disk_full", 1),  # no retry: the disk is as full the next time
    }, status

    hang = models["hangs-in-init"]
    assert "load limit of 45 s" in hang["error"] and "timeouts.load" in hang["hint"]
    assert hang["wall_s"] < 45 + 15  # detected on time, not minutes later
    assert "stall limit of 8 s" in models["stalls"]["error"]
    assert "actor process died" in models["exits"]["error"] and len(models["exits"]["retries"]) == 1
    assert "NaN/inf" in models["nan"]["error"] and "learning_rate" in models["nan"]["hint"]
    full = models["disk-full"]
    assert "the disk is full" in full["error"] and "checkpoint-4" in full["error"] and "free space" in full["hint"]

    smaller = read_json(run_dir / "models" / "too-big-batch" / "metrics.json")
    assert (smaller["batch_size"], smaller["gradient_accumulation"]) == (4, 2)
    assert "out of memory" in models["too-big-batch"]["retries"][0]
    assert (run_dir / "errors" / "too-big-batch.log").is_file()

    for name in ("hangs-in-init", "exits", "stalls", "nan"):
        log_text = Path(models[name]["log"]).read_text()
        assert f"candidate: {name}" in log_text and "reason:" in log_text
    assert verify_checkpoint(Path(models["healthy"]["checkpoint"]), hashes=True) is None


def test_killed_driver_leaves_no_orphans_and_resumes(tmp_path: Path) -> None:
    """SIGKILL of `orchestrator run` in mid-training: its processes go with it; the rerun keeps the
    finished candidate, continues the unfinished one from its last checkpoint (saying so in
    summary.json and report.md) and ends with a checkpoint that verifies."""
    raw = tiny_experiment(tmp_path, [
        {"name": "quick", "source": str(tiny_bart(tmp_path / "q")), "family": "seq2seq", "max_steps": 2},
        # long enough that the actor, which may outlive the killed driver by tens of seconds on a
        # fast machine, is still training when it goes
        {"name": "slow", "source": str(tiny_bart(tmp_path / "s")), "family": "seq2seq", "max_steps": 400,
         "checkpoint_every": 20},
    ])
    path = write_yaml(tmp_path / "resume.yaml", raw)
    run_dir = load_config(path).run_dir
    quick_checkpoint = run_dir / "models" / "quick" / "checkpoint"

    driver = subprocess.Popen(cli("run", str(path)), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        progress = run_dir / "models" / "slow" / TRAINER_DIR / PROGRESS
        while not (quick_checkpoint / "manifest.json").exists() or (read_note(progress) or {}).get("step", 0) < 50:
            assert time.time() < deadline and driver.poll() is None, "the run never got going"
            time.sleep(0.2)
        reached = read_note(progress)["step"]
        ray_processes = psutil.Process(driver.pid).children(recursive=True)
        assert ray_processes
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    # The actors, raylet and GCS go with the driver; Ray's per-node agents go on their own a minute
    # or two later (checked at the end of this test).
    alive, agents = wait_for_all_but_agents(ray_processes, timeout=30)
    assert not alive, f"orphans after the driver died: {[process_name(p) for p in alive]}"
    assert not (run_dir / "models" / "slow" / "checkpoint").exists()
    written = quick_checkpoint.stat().st_mtime

    again = subprocess.run(cli("run", str(path)), env=child_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    models = read_json(run_dir / "summary.json")["models"]
    assert models["quick"]["resumed"] and not models["slow"]["resumed"]
    assert quick_checkpoint.stat().st_mtime == written  # not retrained
    slow = models["slow"]
    assert slow["status"] == "succeeded" and slow["steps"] == 400
    # The actor may outlive the driver by a moment and seal one more checkpoint after `reached`.
    assert 20 <= slow["resumed_from_step"] < 400 and slow["resumed_from_step"] + slow["steps_redone"] >= reached, slow
    assert f"slow at step {slow['resumed_from_step']}" in (run_dir / "report.md").read_text(encoding="utf-8")
    assert verify_checkpoint(Path(slow["checkpoint"]), hashes=True) is None

    fresh = subprocess.run(
        cli("run", str(path), "--set", "models.slow.max_steps=4", "--fresh"), env=child_env(), capture_output=True, text=True, timeout=600,
    )
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert not read_json(run_dir / "summary.json")["models"]["quick"]["resumed"]
    _, lingering = psutil.wait_procs(agents, timeout=120)
    assert not lingering, f"Ray agents still alive: {[p.pid for p in lingering]}"
