"""Resumable training: the Trainer's checkpoints, sealed so that only complete ones are resumed.

A candidate's `trainer/` folder holds the Trainer's `checkpoint-<step>` folders (weights or
adapters, optimizer, scheduler, RNG states, the Trainer's state with its step; the data position
follows from the step and the seed). They are written at every evaluation (the best one is kept
for `load_best_model_at_end`) and every `checkpoint_every` (steps, or a duration) in between, and
sealed with a manifest of sha256 hashes and the job's fingerprint (`models.checkpoint`; the
driver reads them through `contract.checkpoints` too). Any later attempt at the same job (a rerun
after a crash of the driver, a retry after a crash of the actor, an out-of-memory retry with the
same effective batch) resumes from the newest checkpoint that verifies, and the Trainer's
`resume_from_checkpoint` does the rest.

`progress.json` beside them records the furthest step any attempt reached, so a resumed attempt
knows how many steps it redoes.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from contract.atomic import read_json, write_json
from contract.checkpoints import checkpoints, verify_checkpoint
from contract.fields import interval_seconds

log = logging.getLogger(__name__)

PROGRESS = "progress.json"


@dataclass(frozen=True)
class ResumePoint:
    """Where an attempt starts: the checkpoint folder and its step, and the furthest step an
    earlier attempt reached (so `redone` steps are trained twice)."""

    checkpoint: Path | None
    step: int | None
    furthest_step: int

    @property
    def redone(self) -> int:
        return max(0, self.furthest_step - (self.step or 0))


def find_resume_point(trainer_dir: Path, fingerprint: str) -> ResumePoint:
    """The newest checkpoint of this job whose files match their hashes; folders that do not
    (a save cut short, another config's, tampered with) are named in a warning and removed."""
    progress = read_json(trainer_dir / PROGRESS)
    furthest = int(progress.get("step", 0)) if isinstance(progress, dict) else 0
    for step, folder in checkpoints(trainer_dir):
        problem = verify_checkpoint(folder, fingerprint, hashes=True)
        if problem is None:
            return ResumePoint(folder, step, max(furthest, step))
        log.warning("not resuming from %s: %s; it is removed", folder, problem)
        shutil.rmtree(folder, ignore_errors=True)
    return ResumePoint(None, None, furthest)


def record_progress(trainer_dir: Path, step: int) -> None:
    """The furthest step reached so far (advisory: rewritten often, so not fsynced)."""
    write_json(trainer_dir / PROGRESS, {"step": step, "at": time.time()}, durable=False, indent=None)


class CheckpointClock:
    """Decides the saves between evaluations: every `every` steps, or every so many seconds of
    training (`checkpoint_every: 500` or `15m`)."""

    def __init__(self, every: int | str):
        self.steps = every if isinstance(every, int) else None
        self.seconds = interval_seconds(every)
        self._last_save = time.monotonic()

    def due(self, step: int) -> bool:
        if self.steps is not None:
            return step % self.steps == 0
        return self.seconds is not None and time.monotonic() - self._last_save >= self.seconds

    def saved(self) -> None:
        self._last_save = time.monotonic()
