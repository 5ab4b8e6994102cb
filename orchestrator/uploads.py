"""A training's resumable checkpoints, pushed to storage as they are sealed.

With `storage`, a training works in its node's copy of the run directory; were its checkpoints
pushed only when it ends, a lost node would take them along and the retry would start from
step 0. The uploader mirrors the candidate's `trainer/` folder to storage in a background thread
after every sealed checkpoint (the Trainer's rotation is mirrored too, so storage holds the same
last and best ones), and the retry, on whichever node, pulls it before training
(`RunStorage.pull_inputs`). Training never waits for a push: saves that come while one is under
way are coalesced into the next.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from contract.checkpoints import latest_sealed_step, step_of
from orchestrator.storage import RunStorage

log = logging.getLogger(__name__)


class CheckpointUploader:
    def __init__(self, storage: RunStorage, root: Path, trainer_dir: Path):
        self.storage, self.root = storage, root
        self.relpath = trainer_dir.relative_to(root).as_posix()
        self._wanted = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.pushed = 0  # pushes that completed, for the log and tests

    def saved(self, _directory: str = "") -> None:
        """A checkpoint was sealed: push soon (the reporter's `checkpoint_saved`)."""
        self._wanted.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="checkpoint-upload", daemon=True)
            self._thread.start()

    def close(self, *, finished: bool = False) -> None:
        """Finish the push under way (and one asked for since), then stop. When the training
        `finished` and removed its `trainer/` folder, storage's copy goes too; after a failure it
        stays, whatever became of the local copy: it is what a retry resumes from."""
        self._closing = True
        if self._thread is not None:
            self._wanted.set()
            self._thread.join()
        if finished and not (self.root / self.relpath).exists():
            try:
                self.storage.delete(self.relpath)
            except Exception:  # noqa: BLE001 - stale checkpoints in storage cost space, never a result
                log.warning("could not delete %s from %s", self.relpath, self.storage.location, exc_info=True)

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if (self.root / self.relpath).is_dir():
                self._push()
            if self._closing and not self._wanted.is_set():
                return

    def _push(self) -> None:
        newest = latest_sealed_step(self.root / self.relpath)

        def rotated(name: str) -> bool:
            """Only a checkpoint older than the newest sealed one here was rotated away; anything else
            missing here (a copy being deleted under a worker that outlived its disk) stays."""
            step = step_of(name)
            return newest is not None and step is not None and step < newest

        try:
            copied = self.storage.mirror(self.root, self.relpath, rotated)
        except Exception:  # noqa: BLE001 - a failed push is retried at the next save and at the end
            log.warning("could not push checkpoints to %s; trying again at the next save", self.storage.location,
                        exc_info=True)
            return
        self.pushed += 1
        log.info("pushed %d checkpoint file(s) to %s", copied, self.storage.location)
