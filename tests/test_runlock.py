"""One writer per run directory: a second command refuses with the holder named; a lock whose
holder was killed is taken over."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.config import ConfigError
from orchestrator.runlock import LOCK, RunLock
from tests.conftest import REPO, tiny_experiment, write_yaml

HOLD = """
import sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from orchestrator.runlock import RunLock
lock = RunLock(Path({run_dir!r}), "run")
lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def holder(run_dir: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", HOLD.format(repo=str(REPO), run_dir=str(run_dir))],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    process = holder(tmp_path)
    try:
        with pytest.raises(ConfigError) as error:
            RunLock(tmp_path, "tune").acquire()
        message = str(error.value)
        assert f"in use by pid {process.pid}" in message and "run:" in message and "since" in message
    finally:
        process.kill()
        process.wait()


def test_a_lock_whose_holder_was_killed_is_taken_over_with_a_line(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    process = holder(tmp_path)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with caplog.at_level(logging.WARNING), RunLock(tmp_path, "run"):
        assert str(os.getpid()) in (tmp_path / LOCK).read_text()
    assert f"from pid {process.pid}" in caplog.text and "which is gone" in caplog.text
    with RunLock(tmp_path, "run"):  # released cleanly: taken again without a word
        pass


def test_a_second_run_on_a_held_run_directory_exits_2_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_yaml(tmp_path / "tiny.yaml", tiny_experiment(tmp_path, [
        {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}]))
    run_dir = tmp_path / "runs" / "tiny"
    process = holder(run_dir)
    try:
        assert main(["run", str(config)]) == 2
    finally:
        process.kill()
        process.wait()
    err = capsys.readouterr().err
    assert f"in use by pid {process.pid}" in err
    assert not (run_dir / "data").exists()  # refused before the data was written
