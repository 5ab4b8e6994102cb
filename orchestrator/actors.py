"""The training actor: a thin Ray wrapper around `models.training.train_candidate`.

One actor per candidate (and per attempt), named `train/<candidate>` so the Ray dashboard shows
who is who. It logs to the candidate's `train.log` and is killed by the driver when done.
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
class CandidateTrainer:
    def __init__(self, name: str, log_file: str, memory_gb: float | None = None):
        self.name = name
        self.log_file = Path(log_file)
        self.memory_gb = memory_gb
        setup_logging(log_file=self.log_file, prefix=f"train/{name}", console=False)

    def train(self, job: Any, board: Any) -> dict[str, Any]:
        reporter = BoardReporter(board, self.name)
        reporter.phase("loading")
        from models.training import train_candidate

        setup_logging(log_file=self.log_file, prefix=f"train/{self.name}", console=False)
        if self.memory_gb:
            limit_memory(self.memory_gb)  # after the imports: the budget is for training itself
        try:
            return train_candidate(job, reporter)
        except BaseException as exc:
            log.error("training failed in phase %s:\n%s", reporter.current_phase, traceback.format_exc())
            exc.phase = reporter.current_phase  # travels with the pickled exception to the driver
            raise


@ray.remote(max_restarts=0, max_task_retries=0)
class EnsembleMember:
    """A trained member for the ensemble stage, named `ensemble/<candidate>`, with the
    candidate's own resources: proposes beam candidates and scores every pool's summaries."""

    def __init__(self, job: Any, log_file: str):
        setup_logging(log_file=Path(log_file), prefix=f"ensemble/{job.name}", console=False)
        from models.ensemble.members import MemberModel

        setup_logging(log_file=Path(log_file), prefix=f"ensemble/{job.name}", console=False)
        self.member = MemberModel(job)

    def propose(self, rows: list[dict[str, Any]], candidates: int, beams: int) -> list[list[str]]:
        return self.member.propose(rows, candidates, beams)

    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        return self.member.score(pairs)
