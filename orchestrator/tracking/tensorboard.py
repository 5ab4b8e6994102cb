"""TensorBoard: event files under `<run dir>/tracking/tensorboard/<stage>/<candidate>[/<trial>]`,
one TensorBoard run per tracked run.

    tensorboard --logdir runs/<experiment>/tracking/tensorboard

Written with the `tensorboard` package's own event-file writer and protos, which need neither
torch nor TensorFlow (tensorboardX imports torch, which the driver never loads). A resumed
training's file starts with a `SessionLog.START` at its first logged step: TensorBoard then
discards what the interrupted attempt had logged from that step on, so each curve is the one
that counts.
"""

from __future__ import annotations

import time
from pathlib import Path

from orchestrator.tracking.backend import RunEnding, TrackedRun, TrackingTarget

FLUSH_S = 10
EVENT_FILES = "events.out.tfevents.*"


def markdown_table(values: dict[str, str]) -> str:
    rows = "\n".join(f"| {key} | {value} |" for key, value in values.items())
    return f"| | |\n|---|---|\n{rows}"


class EventFile:
    """One new event file in `logdir` (TensorBoard reads a directory's files in name order)."""

    def __init__(self, logdir: Path, purge_step: int | None = None):
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event = event_pb2.Event
        _after_newest(logdir)
        self.file = EventFileWriter(str(logdir), flush_secs=FLUSH_S)
        if purge_step is not None:
            start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            self.file.add_event(event_pb2.Event(wall_time=time.time(), step=purge_step, session_log=start))

    def scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboard.compat.proto import summary_pb2

        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        self.file.add_event(self._event(wall_time=time.time(), step=step, summary=summary))

    def text(self, tag: str, text: str, step: int = 0) -> None:
        import numpy as np
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.text.metadata import create_summary_metadata
        from tensorboard.util.tensor_util import make_tensor_proto

        value = summary_pb2.Summary.Value(tag=tag, metadata=create_summary_metadata(tag, ""),
                                          tensor=make_tensor_proto(np.array(text, dtype=object)))
        self.file.add_event(self._event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[value])))

    def close(self) -> None:
        self.file.close()


def _after_newest(logdir: Path) -> None:
    """Event files are named by the second they were opened in: wait out the second of the
    directory's newest, so a new file (a resumed attempt) sorts after it."""
    newest = max((int(p.name.split(".")[3]) for p in logdir.glob(EVENT_FILES) if p.name.split(".")[3].isdigit()),
                 default=0)
    while int(time.time()) <= newest:
        time.sleep(0.05)


class TensorBoardBackend:
    name = "tensorboard"

    def __init__(self, target: TrackingTarget, enabled: bool = True):  # `tracking.tensorboard` has no settings
        self.target = target
        self.root = target.directory / "tensorboard"
        self.files: dict[str, EventFile] = {}
        self.params: dict[str, dict[str, str]] = {}

    def begin(self) -> None:
        import tensorboard  # noqa: F401 - fails here, once, when it is missing

        self.root.mkdir(parents=True, exist_ok=True)

    def directory(self, run: TrackedRun) -> Path:
        return self.root / run.stage / run.name

    def _file(self, run: TrackedRun, purge_step: int | None = None) -> EventFile:
        if run.key not in self.files:
            self.files[run.key] = EventFile(self.directory(run), purge_step)
            if params := self.params.get(run.key):
                self.files[run.key].text("settings", markdown_table(params), purge_step or 0)
        return self.files[run.key]

    def start(self, run: TrackedRun, params: dict[str, str]) -> None:
        self.params[run.key] = params  # written with the first step: its file opens there

    def log(self, run: TrackedRun, step: int, values: dict[str, float]) -> None:
        events = self._file(run, purge_step=step)
        for key, value in values.items():
            events.scalar(key, value, step)

    def note(self, run: TrackedRun, key: str, value: str) -> None:
        self._file(run).text(key, value)

    def end(self, run: TrackedRun, ending: RunEnding) -> None:
        events = self._file(run)
        for key, value in ending.metrics.items():
            events.scalar(f"final/{key}", value, ending.step)
        events.text("outcome", markdown_table(_outcome(ending)), ending.step)
        events.close()
        self.files.pop(run.key, None)

    def finish(self, ending: RunEnding, files: list[Path]) -> None:
        events = EventFile(self.root / "experiment")
        for key, value in ending.metrics.items():
            events.scalar(key, value, 0)
        events.text("outcome", markdown_table({"status": ending.status, **ending.notes,
                                               "files": ", ".join(str(p) for p in files)}))
        events.close()

    def where(self) -> str:
        return f"tensorboard --logdir {self.root}"

    def close(self) -> None:
        for events in self.files.values():
            events.close()
        self.files.clear()


def _outcome(ending: RunEnding) -> dict[str, str]:
    shown = {"status": ending.status}
    if not ending.ok:
        shown.update({"phase": ending.phase or "-", "reason": ending.reason or "-", "kind": ending.kind or "-"})
    return {**shown, **ending.notes}
