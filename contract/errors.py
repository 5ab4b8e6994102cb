"""Errors and error patterns both planes know: the data plane raises or matches them, the
driver's failure policy classifies by them without importing torch or transformers."""

from __future__ import annotations

import re

OUT_OF_MEMORY = re.compile(
    r"out of memory|OutOfMemoryError|can't allocate memory|Cannot allocate memory|MemoryError|std::bad_alloc"
    r"|Failed to allocate memory",
    re.IGNORECASE,
)


class TrainingStopped(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM): the candidate saved a checkpoint at `step`
    and stopped there; the next run resumes from it."""

    def __init__(self, step: int):
        super().__init__(f"stopped on request at step {step}, after saving a checkpoint there")
        self.step = step

    def __reduce__(self) -> tuple[type, tuple[int]]:  # travels back through Ray with its step
        return (TrainingStopped, (self.step,))


class WorkerDied(RuntimeError):
    """A data-parallel candidate's training worker process died (a crash, a signal, the OOM
    killer): the candidate's failure is that death, classified as an actor's would be. The
    message's first line names the worker; the rest is Ray's account of the death."""

    def __init__(self, worker: int, workers: int, detail: str):
        super().__init__(f"training worker {worker} of {workers} died\n{detail}")
        self.worker, self.workers, self.detail = worker, workers, detail

    def __reduce__(self) -> tuple[type, tuple[int, int, str]]:
        return (WorkerDied, (self.worker, self.workers, self.detail))


class NonFiniteLossError(FloatingPointError):
    """The loss was NaN or infinite on more steps than `max_nonfinite_steps` allows."""
