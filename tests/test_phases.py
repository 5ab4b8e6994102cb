"""Phases cross the process boundary as the enum: every reporter refuses anything else at the call,
what is read back from other processes' logs and errors is checked, and the files keep the plain
names they always held."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from contract.atomic import write_json
from contract.phases import Limit, Phase, Status, reported
from models.distributed import RankReporter
from models.reporting import RecordingReporter
from orchestrator.outcome import Outcome
from orchestrator.status import BoardReporter, last_logged_phase, read_phase


class FakeBoard:
    """Stands in for the StatusBoard actor: keeps what `report.remote` was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.report = self

    def remote(self, name: str, kind: str, payload: dict[str, Any]) -> None:
        self.sent.append((name, kind, payload))


@pytest.mark.parametrize("wrong", ["loading", "no-such-phase", None, 3])
def test_every_reporter_refuses_a_phase_that_is_not_the_enum(wrong: Any) -> None:
    board = FakeBoard()
    reporters = [RecordingReporter(), BoardReporter(board, "m"), RankReporter(None), RankReporter(RecordingReporter())]
    for reporter in reporters:
        with pytest.raises(TypeError, match="contract.phases.Phase"):
            reporter.phase(wrong)
    assert board.sent == [] and reporters[0].events == []
    assert reporters[1].current_phase is Phase.QUEUED  # the failed call changed nothing


def test_a_reported_phase_travels_as_the_enum_and_is_logged_by_its_name(caplog: pytest.LogCaptureFixture) -> None:
    board = FakeBoard()
    reporter = BoardReporter(board, "m")
    with caplog.at_level(logging.INFO, logger="orchestrator.status"):
        reporter.phase(Phase.FIRST_STEP, parameters=10)
    [(name, kind, payload)] = board.sent
    assert (name, kind, payload["phase"], payload["parameters"]) == ("m", "phase", Phase.FIRST_STEP, 10)
    assert reporter.current_phase is Phase.FIRST_STEP
    assert last_logged_phase("12:00:00 I orchestrator.status: phase first_step") is Phase.FIRST_STEP
    assert "phase first_step" in caplog.text
    recording = RecordingReporter()
    recording.phase(Phase.LOADING)
    assert recording.phases == [Phase.LOADING] and reported(Phase.DONE) is Phase.DONE


def test_a_phase_read_back_from_another_process_is_checked(caplog: pytest.LogCaptureFixture) -> None:
    assert read_phase(None, "x") is None and read_phase("training", "x") is Phase.TRAINING
    with caplog.at_level(logging.ERROR, logger="orchestrator.status"):
        assert read_phase("trainning", "train/m's error") is None  # not made into queued, nor anything else
        assert last_logged_phase("orchestrator.status: phase loading\norchestrator.status: phase bogus") is None
    assert "train/m's error names phase 'trainning'" in caplog.text and "bogus" in caplog.text
    assert last_logged_phase("no phase line") is None
    with pytest.raises(ValueError):  # what the supervisor's limit judgement does with a name that is no phase
        Phase("trainning")


def test_preflight_is_a_phase_an_outcome_ends_in_and_files_keep_the_plain_names(tmp_path: Any) -> None:
    assert Phase("preflight") is Phase.PREFLIGHT and Phase.PREFLIGHT.limit is Limit.LOAD
    outcome = Outcome(name="m", status=Status.SKIPPED, phase=Phase.PREFLIGHT)
    assert json.dumps(outcome.to_dict()["phase"]) == '"preflight"'
    path = write_json(tmp_path / "status.json", {"live": {"m": {"phase": Phase.TRAINING}}})
    assert json.loads(path.read_text(encoding="utf-8")) == {"live": {"m": {"phase": "training"}}}
    assert f"{Phase.SCORING}" == "scoring" and str(Phase.DONE) == "done"
