"""How a step tells the driver where it is: the reporter every step function is handed.

The driver's side implements it (`orchestrator.status.BoardReporter`, which sends to the run's
status board); the actor's side calls it (`models.reporting` adds the helpers and an in-memory
one for tests). The actor never waits on the driver: reports are fire-and-forget, so a slow or
busy driver cannot slow training down.
"""

from __future__ import annotations

from typing import Any, Protocol

from contract.phases import Phase


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
