"""Ctrl-C and SIGTERM stop a run on purpose: trainings save and stop, every actor ends, the
summary and reports say what finished and what was interrupted, the exit status is 130 or 143,
and the rerun finishes from where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from contract.atomic import read_json
from contract.checkpoints import TRAINER_DIR
from contract.errors import TrainingStopped
from models.reporting import RecordingReporter
from models.resume import PROGRESS, find_resume_point
from models.training import train_candidate
from orchestrator.interrupts import catch_interrupts
from tests.conftest import REPO, child_env, tiny_experiment, write_yaml
from tests.test_families import make_job
from tests.test_resume import BART, LONG

T5 = {"name": "t5", "source": "scratch:t5-tiny", "family": "seq2seq"}


class StopAtCall(RecordingReporter):
    """Asks the training to stop at its `at`-th step (the callback asks once per step)."""

    def __init__(self, at: int):
        super().__init__()
        self.calls, self.at = 0, at

    def stop_requested(self) -> bool:
        self.calls += 1
        return self.calls >= self.at


def test_a_stop_request_saves_a_checkpoint_at_that_step_and_the_next_attempt_resumes_there(tmp_path: Path) -> None:
    job = make_job(tmp_path, BART, max_steps=30, checkpoint_every=1000)
    with pytest.raises(TrainingStopped) as stopped:
        train_candidate(job, StopAtCall(at=13))
    assert stopped.value.step == 13
    assert find_resume_point(job.output_dir / TRAINER_DIR, job.fingerprint).step == 13
    assert not (job.output_dir / "metrics.json").exists()
    result = train_candidate(job, RecordingReporter())
    assert (result.resumed_from_step, result.steps_redone, result.steps) == (13, 0, 30)


def test_the_first_signal_requests_a_stop_and_a_second_ctrl_c_interrupts_at_once() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)  # a test process's own
    with catch_interrupts() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)
        assert stop.requested and stop.exit_status == 143
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers restored


def start_run(tmp_path: Path, raw: dict[str, Any]) -> tuple[list[str], dict[str, str], subprocess.Popen[str]]:
    config = write_yaml(tmp_path / "tiny.yaml", raw)
    command = [sys.executable, "-m", "orchestrator", "run", "--quiet", str(config)]
    env = child_env()
    return command, env, subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True)


def wait_until(condition: Any, driver: subprocess.Popen[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert driver.poll() is None, f"the run ended ({driver.returncode}) first:\n{driver.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


def interrupt(driver: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    """Send `signum`; the exit status and output, after checking that no process of the run outlives it."""
    processes = psutil.Process(driver.pid).children(recursive=True)
    driver.send_signal(signum)
    output, _ = driver.communicate(timeout=600)
    gone, alive = psutil.wait_procs(processes, timeout=30)
    assert not alive, f"left behind: {[p.cmdline()[:2] for p in alive]}"
    return driver.returncode, output


def stage_is(run_dir: Path, prefix: str) -> Any:
    return lambda: str((read_json(run_dir / "status.json") or {}).get("stage", "")).startswith(prefix)


@pytest.mark.integration
def test_signals_in_training_ensemble_and_optimize_keep_what_finished_and_the_last_rerun_completes(
    tmp_path: Path,
) -> None:
    """Ctrl-C while bart trains (exit 130): it saves where it stopped, not at a checkpoint before,
    and the summary and reports say so. The rerun continues bart from that step; Ctrl-C during its
    ensemble (130), then, on the next rerun, SIGTERM during optimize (143); a last rerun finishes.
    The candidates train once and are kept through the later stops."""
    raw = tiny_experiment(tmp_path, [{**BART, **LONG, "checkpoint_every": 1000}, T5],
                          ensemble={"strategy": "stacking", "min_models": 2},
                          optimize={"enabled": True, "backends": ["torch_dynamic"], "batch_sizes": [1, 2]})
    run_dir = tmp_path / "runs" / "tiny"
    progress = run_dir / "models" / "bart" / TRAINER_DIR / PROGRESS

    command, env, driver = start_run(tmp_path, raw)
    wait_until(lambda: (read_json(progress) or {}).get("step", 0) >= 30, driver)
    status, output = interrupt(driver, signal.SIGINT)
    assert status == 130, output[-3000:]
    assert "resume with: python -m orchestrator run" in output
    summary = read_json(run_dir / "summary.json")
    bart = summary["models"]["bart"]
    assert summary["status"] == "interrupted" and bart["status"] == "interrupted", summary["models"]
    stopped_at = bart["resumes_from_step"]
    assert stopped_at >= 30  # it saved where it stopped, not at an evaluation before
    for report in ("report.md", "report.html"):
        assert "interrupted" in (run_dir / report).read_text(encoding="utf-8")

    for stage, signum, expected in (("ensemble", signal.SIGINT, 130), ("optimize", signal.SIGTERM, 143)):
        command, env, driver = start_run(tmp_path, raw)
        wait_until(stage_is(run_dir, stage), driver, timeout=900)
        status, output = interrupt(driver, signum)
        assert status == expected, output[-3000:]
        summary = read_json(run_dir / "summary.json")
        assert summary["status"] == "interrupted"
        assert {m["status"] for m in summary["models"].values()} == {"succeeded"}
        assert summary[stage]["status"] == "interrupted", (stage, summary.get(stage))
        if stage == "ensemble":
            assert summary["models"]["bart"]["resumed_from_step"] == stopped_at, summary["models"]["bart"]
    assert summary["ensemble"]["status"] == "ok"  # the third run finished the ensemble before optimize

    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    summary = read_json(run_dir / "summary.json")
    assert summary["ensemble"]["status"] == "ok" and summary["optimize"]["status"] == "ok"
    assert all(m["resumed"] for m in summary["models"].values())  # trained once, kept
