"""The candidates' actors: one `StageWorker` class for every step, and the pool that keeps them warm.

A candidate's actor imports the training code once and serves its steps one after the other:
training, then the ensemble's proposing and scoring, then optimize, where resources allow. Between
steps it sits idle in the `WorkerPool` with its resources held; the supervisor hands its resources
to queued work at once when that work needs them (`scheduling.choose` decides which, and
`WorkerPool.release` ends it). A worker whose step failed, crashed or timed out is killed, never
reused.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from contract.checkpoints import TRAINER_DIR, latest_sealed_step
from contract.hardware import limit_memory
from contract.phases import Phase
from contract.preflight import gpu_share
from contract.work import resolve
from orchestrator.logging_setup import setup_logging
from orchestrator.status import BoardReporter
from orchestrator.storage import RunStorage
from orchestrator.uploads import CheckpointUploader

log = logging.getLogger(__name__)
RELEASE_MEMORY = "models.memory:release_memory"  # after each step, in the actor, once torch is loaded
DECLARE_LIBRARIES = "models.libraries:declare"  # before a step's imports: what its candidate needs
LIMIT_GPU_SHARE = "models.hardware:limit_gpu_share"  # imports torch: in the actor only


class SealedWatcher:
    """A data-parallel training's rank 0 seals its checkpoints in another process on this node
    (its workers share this node's copy of the run directory): this thread notices each newly
    sealed one and hands it to the uploader, as a one-process training's reporter does."""

    def __init__(self, uploader: CheckpointUploader, trainer_dir: Path, poll_s: float = 1.0):
        self.uploader, self.trainer_dir, self.poll_s = uploader, trainer_dir, poll_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sealed-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self._notice()  # a checkpoint sealed after the last look

    def _watch(self) -> None:
        self.seen = latest_sealed_step(self.trainer_dir)
        while not self._stopped.wait(self.poll_s):
            self._notice()

    def _notice(self) -> None:
        step = latest_sealed_step(self.trainer_dir)
        if step is not None and step != getattr(self, "seen", None):
            self.seen = step
            self.uploader.saved(str(self.trainer_dir / f"checkpoint-{step}"))


@ray.remote(max_restarts=0, max_task_retries=0)
class StageWorker:
    """Runs a candidate's work items, one at a time, each logged to the item's own log.

    Named after the first item it ran (`<stage>/<candidate>`), which is how the Ray dashboard
    shows it. With `storage`, every item works in this node's copy of the run directory."""

    def __init__(self, storage: RunStorage | None = None):
        self.node = (storage, storage.local_root()) if storage else None  # storage and this node's copy

    def run(self, item: Any, board: Any) -> Any:
        uploader = self._uploader(item)
        reporter = BoardReporter(board, item.name, on_checkpoint=uploader.saved if uploader else None)
        log_file = Path(self.node[0].localize(item.log_file, self.node[1]) if self.node else item.log_file)
        setup_logging(log_file=log_file, prefix=item.label, console=False)
        reporter.phase(Phase.LOADING, node_id=ray.get_runtime_context().get_node_id())  # where Ray placed it
        resolve(DECLARE_LIBRARIES)(item.job)  # a full fine-tune's process never imports peft
        item.step.resolve()  # the step's imports count towards its load limit
        setup_logging(log_file=log_file, prefix=item.label, console=False)  # routes the libraries' loggers too
        resources = item.job.settings.resources
        if item.workers == 1:  # a data-parallel training's limits are its Ray Train workers' own
            if resources.memory_gb:
                limit_memory(resources.memory_gb)
            if (share := gpu_share(resources.gpus_per_process)) is not None and resolve(LIMIT_GPU_SHARE)(share):
                log.info("GPU memory limited to %g of the device (resources.gpus): it is shared", share)
        local = self.node[0].localize(item, self.node[1]) if self.node else item  # paths in this node's copy
        finished = False
        watcher = SealedWatcher(uploader, local.job.output_dir / TRAINER_DIR) if uploader and item.workers > 1 else None
        try:
            if self.node:
                self.node[0].pull_inputs(item.job, self.node[1], trained=item.step.reads_checkpoint)
            if watcher is not None:
                watcher.start()
            result = local.run(reporter)
            finished = True
        except BaseException as exc:
            log.error("%s failed in phase %s:\n%s", item.stage, reporter.current_phase, traceback.format_exc())
            if not getattr(exc, "phase", None):  # a data-parallel candidate's rank 0 set its own
                setattr(exc, "phase", reporter.current_phase)  # noqa: B010 - travels with the pickled exception
            self._check_in(local, failed=True)
            raise
        finally:
            if watcher is not None:
                watcher.stop()
            if uploader is not None:
                uploader.close(finished=finished)
            reporter.flush()
            _release_memory()
        self._check_in(local, failed=False)
        return self.node[0].to_driver(result, self.node[1]) if self.node else result

    def _uploader(self, item: Any) -> CheckpointUploader | None:
        """With storage, a training's checkpoints go up as they are sealed (`orchestrator.uploads`)."""
        if not self.node or not item.step.trains:
            return None
        storage, root = self.node
        return CheckpointUploader(storage, root, storage.localize(item.job.output_dir, root) / TRAINER_DIR)

    def _check_in(self, item: Any, *, failed: bool) -> None:
        """Push what the item wrote to storage: its outputs, or after a failure at least its log.
        A candidate counts as succeeded only once this is done."""
        if not self.node:
            return
        storage, root = self.node
        try:
            storage.check_in(item, root)
        except Exception:
            if not failed:
                raise
            log.exception("could not push the failed item's files to %s", storage.location)


def _release_memory() -> None:
    """What a finished step left behind goes before the next one, CUDA cache included. Only once
    torch is loaded: a step that never imported it has nothing to free."""
    if "torch" in sys.modules:
        resolve(RELEASE_MEMORY)()


@dataclass
class Worker:
    actor: Any
    name: str  # the candidate it serves
    resources: dict[str, float]
    idle_since: float = 0.0


class WorkerPool:
    """Idle warm workers by candidate. One pool serves a whole run (every stage), so a
    candidate's process starts once; `close` kills what is left."""

    def __init__(self) -> None:
        self.idle: dict[str, Worker] = {}

    def take(self, name: str, resources: dict[str, float]) -> Worker | None:
        """The candidate's idle worker, when it holds exactly these resources."""
        return self.idle.pop(name) if self.has(name, resources) else None

    def has(self, name: str, resources: dict[str, float]) -> bool:
        worker = self.idle.get(name)
        return worker is not None and worker.resources == resources

    def put(self, worker: Worker) -> None:
        """Keep a worker whose step succeeded; an older idle worker of the same candidate goes."""
        old = self.idle.pop(worker.name, None)
        if old is not None:
            ray.kill(old.actor, no_restart=True)
        worker.idle_since = time.time()
        self.idle[worker.name] = worker

    def release(self, name: str) -> None:
        """Kill `name`'s idle worker so queued work can have its resources (which one goes is
        `scheduling.choose`'s decision)."""
        worker = self.idle.pop(name)
        ray.kill(worker.actor, no_restart=True)
        log.info("released the idle worker of %s: queued work needs its resources", worker.name)

    def close(self) -> None:
        for worker in self.idle.values():
            ray.kill(worker.actor, no_restart=True)
        self.idle.clear()
