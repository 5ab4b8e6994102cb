"""A candidate's Ray Train worker group, whatever runs in it: how it is configured, started and
ended. `models.distributed` runs the candidate's training in it; `orchestrator.simulation` runs a
stand-in, to plan placement on a simulated cluster. Neither torch nor the model libraries are
imported here."""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Callable
from typing import Any

from contract.job import TrainingJob, worker_group_scaling

RAY_TRAIN_DIR = "ray-train"
GROUP_START_FAILURES = 1  # a worker group that cannot be placed fails the candidate instead of waiting forever


def fit(make_trainer: Callable[..., Any], job: TrainingJob, reporter: Any, **options: Any) -> Any:
    """`make_trainer(**options, scaling_config=..., run_config=...)` fitted: the candidate's worker
    group as `worker_group_scaling` says, its run state under the candidate's own directory (and
    removed after), a failed group's errors raised as Ray Train's `WorkerGroupError`. Returns the
    Ray Train result."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig

    board = getattr(reporter, "board", None)
    trainer = make_trainer(
        **options, scaling_config=ScalingConfig(**worker_group_scaling(job)),
        run_config=RunConfig(name=f"{job.name}-attempt{job.attempt}", storage_path=str(job.output_dir / RAY_TRAIN_DIR),
                             failure_config=FailureConfig(max_failures=0,
                                                          controller_failure_limit=GROUP_START_FAILURES),
                             callbacks=[] if board is None else [placement_group_note(board, job.name)]),
    )
    sigint = signal.getsignal(signal.SIGINT)
    try:
        return trainer.fit()
    finally:
        shutil.rmtree(job.output_dir / RAY_TRAIN_DIR, ignore_errors=True)  # Ray Train's own run state
        if threading.current_thread() is threading.main_thread():  # fit() installs its own Ctrl-C handler
            signal.signal(signal.SIGINT, sigint)


def placement_group_note(board: Any, name: str) -> Any:
    """A Ray Train callback (run by its controller) that tells the status board the worker
    group's placement group: when the supervisor kills this candidate (a limit, Ctrl-C), it removes
    the group too, which otherwise outlives the actor that called `fit` and holds its resources."""
    from ray.train.v2._internal.execution.callback import WorkerGroupCallback

    class PlacementGroupNote(WorkerGroupCallback):  # type: ignore[misc]
        def after_worker_group_start(self, worker_group: Any) -> None:
            group = worker_group._worker_group_state.placement_group_handle.placement_group
            board.report.remote(name, "heartbeat", {"placement_group": group.id.hex()})

    return PlacementGroupNote()
