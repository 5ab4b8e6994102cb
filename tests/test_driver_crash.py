"""A bug on the driver costs one line on the terminal, not a traceback: exit 1, the traceback in
the run's errors/driver.log, and summary.json saying the run failed and where to look."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.atomic import read_json
from orchestrator import pipeline
from orchestrator.cli import main
from tests.conftest import tiny_experiment, write_yaml


def test_a_driver_bug_exits_1_with_one_line_and_the_traceback_in_the_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug in preparing the data")

    monkeypatch.setattr(pipeline, "prepare_data", broken)
    config = write_yaml(tmp_path / "tiny.yaml", tiny_experiment(tmp_path, [
        {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}]))
    assert main(["run", str(config)]) == 1
    err = capsys.readouterr().err.strip()
    run_dir = tmp_path / "runs" / "tiny"
    log = run_dir / "errors" / "driver.log"
    assert err.count("\n") == 0 and "a bug in preparing the data" in err and str(log) in err
    assert "Traceback" in log.read_text() and "broken" in log.read_text()
    summary = read_json(run_dir / "summary.json")
    assert summary["status"] == "failed" and summary["log"] == str(log)
