"""The one actor class every supervised stage runs in: a thin Ray wrapper around a work item.

One actor per work item (and per attempt), named `<stage>/<candidate>` so the Ray dashboard
shows who is who. It logs to the candidate's stage log and is killed by the driver when done.
"""

from __future__ import annotations

import logging
import resource
import traceback
from pathlib import Path
from typing import Any

import ray

from orchestrator.logging_setup import setup_logging
from orchestrator.status import BoardReporter
from orchestrator.storage import RunStorage

log = logging.getLogger(__name__)


def limit_memory(memory_gb: float) -> None:
    """Cap what this process may allocate from now on at `memory_gb` (address space beyond what
    it already maps). A batch too large then fails as out-of-memory in this actor alone, where
    the policy can retry it smaller, instead of the kernel's OOM killer picking any process.
    On a GPU, the device's own memory is the limit and this only guards host memory."""
    import psutil

    current = psutil.Process().memory_info().vms
    limit = current + int(memory_gb * 2**30)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    log.info("memory limited to %.1f GiB beyond the %.1f GiB already mapped", memory_gb, current / 2**30)


@ray.remote(max_restarts=0, max_task_retries=0)
class StageWorker:
    """Runs one work item (a candidate's training, or its part in a later stage) and dies with it.

    Named `<stage>/<candidate>` by the supervisor; logs to the candidate's own stage log. By the
    time `run` starts, Ray has unpickled the item, so the stage's imports are done and a memory
    limit covers only the work itself."""

    def __init__(self, label: str, log_file: str, memory_gb: float | None = None, storage: RunStorage | None = None):
        self.label = label
        self.memory_gb = memory_gb
        self.storage = storage  # None: the run directory is shared; else work in this node's copy
        self.root = storage.local_root() if storage else None
        self.log_file = Path(storage.localize(log_file, self.root) if storage else log_file)
        setup_logging(log_file=self.log_file, prefix=label, console=False)

    def run(self, item: Any, board: Any) -> dict[str, Any]:
        reporter = BoardReporter(board, item.name)
        reporter.phase("loading", node_id=ray.get_runtime_context().get_node_id())  # where Ray placed it
        setup_logging(log_file=self.log_file, prefix=self.label, console=False)  # after transformers' import
        if self.memory_gb:
            limit_memory(self.memory_gb)
        local = self.storage.localize(item, self.root) if self.storage else item  # paths in this node's copy
        try:
            if self.storage:
                self.storage.pull_inputs(item.job, self.root, trained=item.stage != "train")
            result = local.run(reporter)
        except BaseException as exc:
            log.error("%s failed in phase %s:\n%s", item.stage, reporter.current_phase, traceback.format_exc())
            exc.phase = reporter.current_phase  # travels with the pickled exception to the driver
            self._check_in(local, failed=True)
            raise
        self._check_in(local, failed=False)
        return self.storage.to_driver(result, self.root) if self.storage else result

    def _check_in(self, item: Any, *, failed: bool) -> None:
        """Push what the item wrote to storage: its outputs, or after a failure at least its log.
        A candidate counts as succeeded only once this is done."""
        if not self.storage:
            return
        try:
            self.storage.check_in(item, self.root)
        except Exception:
            if not failed:
                raise
            log.exception("could not push the failed item's files to %s", self.storage.location)
