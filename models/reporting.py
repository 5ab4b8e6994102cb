"""How a stage's actor tells the driver where it is: phases and heartbeats.

The actor never waits on the driver: reports are fire-and-forget, so a slow or busy driver
cannot slow training down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from contract.phases import Phase, reported

TRAINING_PHASES: tuple[Phase, ...] = (
    Phase.QUEUED, Phase.LOADING, Phase.FIRST_STEP, Phase.TRAINING, Phase.EVALUATING, Phase.SAVING,
    Phase.PREDICTING, Phase.DONE,
)


class Reporter(Protocol):
    def phase(self, phase: Phase, **info: Any) -> None:
        """Where the work is now: a `Phase` only (anything else is a TypeError at the call,
        `contract.phases.reported`); never blocks."""
        ...

    def heartbeat(self, **metrics: Any) -> None: ...

    def logged(self, step: int, values: dict[str, float]) -> None:
        """One Trainer log line (loss, learning rate, eval loss, examples/s, ...) at `step`: what
        the run's experiment trackers record. Every line, unlike heartbeats; never blocks."""
        ...

    def stop_requested(self) -> bool:
        """Whether the run asked its work to stop (a training then saves and stops); never blocks."""
        ...

    def checkpoint_saved(self, directory: str) -> None:
        """A resumable checkpoint was sealed in `directory` (a run with storage pushes it); never blocks."""
        ...


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
