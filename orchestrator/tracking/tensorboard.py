"""TensorBoard: event files under `<run dir>/tracking/tensorboard/<stage>/<candidate>[/<trial>]`,
one TensorBoard run per tracked run, written with tensorboardX (no server, no torch).

    tensorboard --logdir runs/<experiment>/tracking/tensorboard

A resumed training writes with `purge_step` at its first logged step: what the interrupted
attempt had logged from there on is discarded by TensorBoard, so each curve is the one that counts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from orchestrator.tracking import RunEnding, TrackedRun, TrackingTarget

FLUSH_S = 10


def markdown_table(values: dict[str, str]) -> str:
    rows = "\n".join(f"| {key} | {value} |" for key, value in values.items())
    return f"| | |\n|---|---|\n{rows}"


class TensorBoardBackend:
    name = "tensorboard"

    def __init__(self, target: TrackingTarget):
        self.target = target
        self.root = target.directory / "tensorboard"
        self.writers: dict[str, Any] = {}
        self.params: dict[str, dict[str, str]] = {}

    def begin(self) -> None:
        import tensorboardX  # noqa: F401 - fails here, once, when it is missing

        self.root.mkdir(parents=True, exist_ok=True)

    def directory(self, run: TrackedRun) -> Path:
        return self.root / run.stage / run.name

    def _writer(self, run: TrackedRun, purge_step: int | None = None) -> Any:
        from tensorboardX import SummaryWriter

        if run.key not in self.writers:
            # a file of its own, named after the earlier ones even within one second (read in name order)
            writer = SummaryWriter(logdir=str(self.directory(run)), purge_step=purge_step, flush_secs=FLUSH_S,
                                   filename_suffix=f".{time.time_ns()}")
            if params := self.params.get(run.key):
                writer.add_text("settings", markdown_table(params), global_step=purge_step or 0)
            self.writers[run.key] = writer
        return self.writers[run.key]

    def start(self, run: TrackedRun, params: dict[str, str]) -> None:
        self.params[run.key] = params  # written with the first step: its writer opens there

    def log(self, run: TrackedRun, step: int, values: dict[str, float]) -> None:
        writer = self._writer(run, purge_step=step)
        for key, value in values.items():
            writer.add_scalar(key, value, global_step=step)

    def note(self, run: TrackedRun, key: str, value: str) -> None:
        self._writer(run).add_text(key, value)

    def end(self, run: TrackedRun, ending: RunEnding) -> None:
        writer = self._writer(run, purge_step=None)
        for key, value in ending.metrics.items():
            writer.add_scalar(f"final/{key}", value, global_step=ending.step)
        writer.add_text("outcome", markdown_table(_outcome(ending)), global_step=ending.step)
        writer.close()
        self.writers.pop(run.key, None)

    def finish(self, ending: RunEnding, files: list[Path]) -> None:
        from tensorboardX import SummaryWriter

        with SummaryWriter(logdir=str(self.root / "experiment"), filename_suffix=f".{time.time_ns()}") as writer:
            for key, value in ending.metrics.items():
                writer.add_scalar(key, value, global_step=0)
            writer.add_text("outcome", markdown_table({"status": ending.status, **ending.notes,
                                                       "files": ", ".join(str(p) for p in files)}))

    def where(self) -> str:
        return f"tensorboard --logdir {self.root}"

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


def _outcome(ending: RunEnding) -> dict[str, str]:
    shown = {"status": ending.status}
    if not ending.ok:
        shown.update({"phase": ending.phase or "-", "reason": ending.reason or "-", "kind": ending.kind or "-"})
    return {**shown, **ending.notes}
