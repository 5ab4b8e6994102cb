"""How a stage's actor tells the driver where it is: phases and heartbeats, through the
`contract.reporting.Reporter` each step is handed; here, the helpers the steps share and a
reporter that keeps everything in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contract.phases import Phase, reported
from contract.reporting import Reporter

__all__ = ["TRAINING_PHASES", "RecordingReporter", "Reporter", "prediction_progress"]  # Reporter: the contract's

TRAINING_PHASES: tuple[Phase, ...] = (
    Phase.QUEUED, Phase.LOADING, Phase.FIRST_STEP, Phase.TRAINING, Phase.EVALUATING, Phase.SAVING,
    Phase.PREDICTING, Phase.DONE,
)


def prediction_progress(reporter: Reporter, split: str, **context: Any) -> Callable[[int, int], None]:
    """The callback a family's predict/propose/score calls after each batch: a heartbeat with how
    many of the split's inputs are done (and `context`, e.g. the variant being checked)."""
    return lambda done, total: reporter.heartbeat(split=split, predicted=done, to_predict=total, **context)


class RecordingReporter:
    """Keeps every report in memory: for running a candidate outside Ray (tests, benchmarks)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.stop = False  # set it to have a training save and stop, as a run's Ctrl-C does

    def stop_requested(self) -> bool:
        return self.stop

    def phase(self, phase: Phase, **info: Any) -> None:
        self.events.append(("phase", {"phase": reported(phase), **info}))

    def heartbeat(self, **metrics: Any) -> None:
        self.events.append(("heartbeat", metrics))

    def logged(self, step: int, values: dict[str, float]) -> None:
        self.events.append(("logged", {"step": step, "values": values}))

    def checkpoint_saved(self, directory: str) -> None:
        self.events.append(("checkpoint", {"directory": directory}))

    @property
    def phases(self) -> list[Phase]:
        return [e["phase"] for kind, e in self.events if kind == "phase"]
