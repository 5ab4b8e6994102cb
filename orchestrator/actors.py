"""The training actor: a thin Ray wrapper around `models.training.train_candidate`.

One actor per candidate (and per attempt), named `train/<candidate>` so the Ray dashboard shows
who is who. It logs to the candidate's `train.log` and is killed by the driver when done.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

import ray

from orchestrator.logging_setup import setup_logging
from orchestrator.status import BoardReporter

log = logging.getLogger(__name__)


@ray.remote(max_restarts=0, max_task_retries=0)
class CandidateTrainer:
    def __init__(self, name: str, log_file: str):
        self.name = name
        self.log_file = Path(log_file)
        setup_logging(log_file=self.log_file, prefix=f"train/{name}", console=False)

    def train(self, job: Any, board: Any) -> dict[str, Any]:
        reporter = BoardReporter(board, self.name)
        reporter.phase("loading")
        from models.training import train_candidate

        setup_logging(log_file=self.log_file, prefix=f"train/{self.name}", console=False)
        try:
            return train_candidate(job, reporter)
        except BaseException as exc:
            log.error("training failed in phase %s:\n%s", reporter.current_phase, traceback.format_exc())
            exc.phase = reporter.current_phase  # travels with the pickled exception to the driver
            raise
