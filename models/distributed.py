"""One candidate trained data-parallel over several processes, through Ray Train.

`train_candidate` hands a job with several processes to `train_data_parallel`, in the
candidate's actor: that actor becomes the run's driver of a Ray Train `TorchTrainer` (controller
and worker group in a placement group, gloo on CPU, NCCL on GPUs). Every worker runs the same
`models.training` code as a one-process candidate, with its rank deciding who writes: rank 0
reports to the status board, seals checkpoints, saves the model, predicts and writes
metrics.json; the others train and evaluate their share of each batch and end. `batch_size` is
the whole candidate's batch, split evenly over the workers, so the effective batch (and with it
the training identity) does not depend on how many processes share it.

A stop request (Ctrl-C) and the checkpoint clock are decided by rank 0 and broadcast every step
(`agree`), so all ranks stop or save at the same step (one rank alone would leave the others
waiting in a collective). A worker's
failure ends the candidate with that worker's own exception, named by rank.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from contract.errors import WorkerDied
from contract.hardware import limit_memory
from contract.job import TrainingJob, worker_group_scaling
from contract.phases import Phase, reported
from contract.preflight import gpu_share
from contract.work import TRAIN, TrainRequest, TrainResult, resolve
from models.hardware import limit_gpu_share
from models.worker_group import fit

log = logging.getLogger(__name__)



def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


class RankReporter:
    """A worker's reporter: rank 0 reports through the candidate's own; the stop decision is
    rank 0's, broadcast to every rank at each call (all ranks call it at the same step)."""

    def __init__(self, reporter: Any | None):
        self.reporter = reporter  # None on every rank but 0

    def phase(self, phase: Phase, **info: Any) -> None:
        reported(phase)  # on every rank: a wrong phase fails wherever it is passed, not only on rank 0
        if self.reporter is not None:
            self.reporter.phase(phase, **info)

    def heartbeat(self, **metrics: Any) -> None:
        if self.reporter is not None:
            self.reporter.heartbeat(**metrics)

    def logged(self, step: int, values: dict[str, float]) -> None:
        if self.reporter is not None:
            self.reporter.logged(step, values)

    def checkpoint_saved(self, directory: str) -> None:
        if self.reporter is not None:
            self.reporter.checkpoint_saved(directory)

    def stop_requested(self) -> bool:
        """Rank 0's own answer (the others say no): `agree` makes it every rank's."""
        return self.reporter is not None and bool(self.reporter.stop_requested())


def agree(*flags: bool) -> tuple[bool, ...]:
    """Rank 0's flags, on every rank (one broadcast): decisions every rank must take at the same
    step (stop, save on the clock) are rank 0's. Without a process group, the flags as given."""
    import torch
    import torch.distributed as dist

    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return flags
    values = torch.tensor([int(flag) for flag in flags])
    dist.broadcast(values, src=0)
    return tuple(bool(v) for v in values.tolist())


def barrier() -> None:
    """Wait for every rank (no-op without a process group): the others load what rank 0 wrote."""
    import torch.distributed as dist

    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def train_data_parallel(job: TrainingJob, reporter: Any, request: TrainRequest) -> TrainResult:
    """Train `job` over its Ray Train workers; rank 0's result is the candidate's."""
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.train.v2.api.exceptions import WorkerGroupError

    scaling = worker_group_scaling(job)
    workers, gpus = scaling["num_workers"], scaling["use_gpu"]
    log.info("training on %d workers (Ray Train, %s, %s), %s each", workers, job.settings.resources.strategy,
             "NCCL" if gpus else "gloo", ", ".join(f"{v:g} {k}" for k, v in scaling["resources_per_worker"].items()))
    config = {"job": job, "request": request, "reporter": reporter}  # rank 0 reports through a copy of it
    try:
        result = fit(TorchTrainer, job, reporter, train_loop_per_worker=_worker_loop, train_loop_config=config,
                     torch_config=TorchConfig(backend="nccl" if gpus else "gloo"))
    except WorkerGroupError as failed:
        raise first_failure(failed.worker_failures, workers) from failed
    value = result.return_value
    if not isinstance(value, TrainResult):
        raise RuntimeError("rank 0 returned no result")
    return value


# What the surviving ranks raise when a peer is gone: the consequence, never the cause.
PEER_LOST = re.compile(r"Connection (?:closed|reset) by peer|remote process exited|NCCL communicator was aborted"
                       r"|ProcessGroupNCCL.*(?:timeout|abort)|Socket Timeout", re.IGNORECASE)


def first_failure(failures: dict[int, BaseException], workers: int) -> BaseException:
    """The failure that explains the others: a worker that died (`WorkerDied`), else the lowest
    rank's own error that is not a lost peer (its type kept, for the classification), its
    message starting with which worker it was."""
    deaths = {r: e for r, e in failures.items() if type(e).__name__ == "WorkerHealthCheckFailedError"}
    if deaths:
        worker, exc = min(deaths.items())
        return WorkerDied(worker, workers, str(exc))
    causes = {r: e for r, e in failures.items() if not PEER_LOST.search(str(e))} or failures
    worker, exc = min(causes.items())
    where = f"training worker {worker} of {workers}"
    exc.args = (f"{where}: {exc.args[0]}", *exc.args[1:]) if exc.args and isinstance(exc.args[0], str) else (where,)
    return exc


def _worker_loop(config: dict[str, Any]) -> TrainResult | None:
    """One Ray Train worker: the candidate's own training code (the train step's function, named
    by the contract as the actor's steps are), on this rank's share."""
    job: TrainingJob = config["job"]
    resolve("models.libraries:declare")(job)  # before transformers is imported, as in the actor
    train_candidate = TRAIN.resolve()

    reporter = config["reporter"] if rank() == 0 else None
    _log_to(job)
    resources = job.settings.resources  # each worker within its own share, as a one-process candidate's actor
    if resources.memory_gb:
        limit_memory(resources.memory_gb)
    if (share := gpu_share(resources.gpus_per_process)) is not None and limit_gpu_share(share):
        log.info("GPU memory limited to %g of the device (resources.gpus): it is shared", share)
    try:
        return train_candidate(job, RankReporter(reporter), config["request"])
    except BaseException as exc:
        if reporter is not None:  # the phase it failed in, as the candidate's actor tells it
            setattr(exc, "phase", getattr(reporter, "current_phase", None))  # noqa: B010
        raise


def _log_to(job: TrainingJob) -> None:
    """Rank 0 logs to the candidate's train.log, rank r to train.rank<r>.log."""
    path = job.output_dir / ("train.log" if rank() == 0 else f"train.rank{rank()}.log")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname).1s [rank {rank()}/{world_size()}] "
                                           "%(name)s: %(message)s", datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
