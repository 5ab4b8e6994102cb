"""What went wrong with a candidate, and what to do about it: classification plus one policy.

`classify` turns whatever reached the driver (an exception raised in the actor, the actor's
death, a timeout) into a `Failure` with a kind, a one-line reason and a hint. `decide` is the
only place that chooses between retrying and giving up:

- deterministic errors (config, missing file, dtype/AMP, non-finite loss, timeouts) are never
  retried: the same inputs fail the same way;
- out of memory is retried with the per-device batch halved and gradient accumulation doubled
  (the same effective batch), down to a batch of 1, whatever `max_retries` says;
- other crashes are retried up to `max_retries`.
"""

from __future__ import annotations

import dataclasses
import errno
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from contract.errors import OUT_OF_MEMORY, NonFiniteLossError, TrainingStopped, WorkerDied
from contract.job import Job, TrainingJob
from contract.phases import Status


class FailureKind(StrEnum):
    OUT_OF_MEMORY = "out_of_memory"
    NON_FINITE_LOSS = "non_finite_loss"
    DTYPE = "dtype"
    MISSING_FILE = "missing_file"
    CONFIG = "config"
    TIMEOUT = "timeout"
    DISK_FULL = "disk_full"
    CRASH = "crash"
    INTERRUPTED = "interrupted"  # the run was stopped; the work saved what it could
    UNKNOWN = "unknown"


DETERMINISTIC = {
    FailureKind.NON_FINITE_LOSS, FailureKind.DTYPE, FailureKind.MISSING_FILE,
    FailureKind.CONFIG, FailureKind.TIMEOUT, FailureKind.INTERRUPTED, FailureKind.DISK_FULL,
}

HINTS = {
    FailureKind.OUT_OF_MEMORY: "lower batch_size or max_source_length, use lora / quantization: 4bit, or give the candidate more memory",
    FailureKind.NON_FINITE_LOSS: "lower learning_rate (or use precision: fp32 / bf16 instead of fp16)",
    FailureKind.DTYPE: "set precision: fp32 or bf16 for this candidate; see the log for the operation that failed",
    FailureKind.MISSING_FILE: "check the candidate's source and the data paths",
    FailureKind.CONFIG: "fix the candidate's settings named in the reason",
    FailureKind.DISK_FULL: "free space on the disk named in the reason (the run directory, or a node's storage.scratch_dir) "
                           "or move output_dir to a larger disk; a rerun continues from the last checkpoint",
    FailureKind.CRASH: "see the log; rerun to retry, or raise max_retries",
    FailureKind.INTERRUPTED: "rerun the same command: it resumes from the last checkpoint",
    FailureKind.UNKNOWN: "see the log for the full traceback",
}

_OOM = OUT_OF_MEMORY
# What Ray says when *it* killed a worker for memory; its generic death message only lists the
# OOM killer among possible causes, which is no evidence.
_NODE_LOST = re.compile(r"its node has died\. Node Id: (\w{8})", re.IGNORECASE)
_RAY_MEMORY_KILL = re.compile(r"memory monitor|running low on memory|OutOfMemoryError", re.IGNORECASE)
_DTYPE = re.compile(
    r"unscale FP16 gradients|expected scalar type|dtype|not implemented for '(BFloat16|Half)'"
    r"|PrecisionError|GradScaler|mixed precision",
    re.IGNORECASE,
)
_MISSING = re.compile(
    r"FileNotFoundError|SourceError|DataFileError|No such file|does not appear to have a file"
    r"|not in the local cache|is not a local folder|no file named|Can't load",
    re.IGNORECASE,
)
_CONFIG = re.compile(r"ConfigError|CheckpointMismatch|UnknownNameError|trust_remote_code|KeyError: 'label", re.IGNORECASE)


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    reason: str
    hint: str

    @property
    def status(self) -> Status:
        return {FailureKind.TIMEOUT: Status.TIMED_OUT, FailureKind.INTERRUPTED: Status.INTERRUPTED}.get(
            self.kind, Status.FAILED)


def one_line(exc: BaseException | str) -> str:
    if isinstance(exc, BaseException):
        lines = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    else:
        text = exc.strip().splitlines()[0] if exc.strip() else "unknown error"
    return text[:400]


def classify(exc: BaseException | None, *, died: bool = False, log_tail: str = "") -> Failure:
    """A raised exception (the original, unwrapped from RayTaskError) or an actor death."""
    if isinstance(exc, TrainingStopped):
        return Failure(FailureKind.INTERRUPTED, str(exc), HINTS[FailureKind.INTERRUPTED])
    if exc is not None and isinstance(exc, NonFiniteLossError):
        return Failure(FailureKind.NON_FINITE_LOSS, one_line(exc), HINTS[FailureKind.NON_FINITE_LOSS])
    name = type(exc).__name__ if exc is not None else ""
    text = f"{name}: {exc}" if exc is not None else ""
    if isinstance(exc, WorkerDied) or died:
        reason = str(exc).splitlines()[0] if isinstance(exc, WorkerDied) else "the actor process died"
        if _RAY_MEMORY_KILL.search(text) or _OOM.search(log_tail):
            return Failure(FailureKind.OUT_OF_MEMORY, f"{reason}: out of memory", HINTS[FailureKind.OUT_OF_MEMORY])
        if node := _NODE_LOST.search(text):
            return Failure(FailureKind.CRASH, f"{reason} with its node ({node.group(1)}…), which left the cluster",
                           "its work is retried on another node; checkpoints already in storage are safe. "
                           "If nodes keep leaving, look at the cluster (preemption, the node's own memory)")
        detail = _exit_detail(text)
        return Failure(FailureKind.CRASH, f"{reason}{detail}", HINTS[FailureKind.CRASH])
    if (full := _disk_full(exc)) is not None:
        return Failure(FailureKind.DISK_FULL, f"the disk is full: {one_line(full)}", HINTS[FailureKind.DISK_FULL])
    for kind, pattern in (
        (FailureKind.OUT_OF_MEMORY, _OOM),
        (FailureKind.MISSING_FILE, _MISSING),
        (FailureKind.DTYPE, _DTYPE),
        (FailureKind.CONFIG, _CONFIG),
    ):
        if pattern.search(text):
            return Failure(kind, one_line(exc or text), HINTS[kind])
    return Failure(FailureKind.UNKNOWN, one_line(exc or "unknown error"), HINTS[FailureKind.UNKNOWN])


_NO_SPACE = re.compile(r"No space left on device|Disk quota exceeded", re.IGNORECASE)


def _disk_full(exc: BaseException | None) -> BaseException | None:
    """The error in the exception's chain (libraries wrap the OSError) that says the disk is
    full: ENOSPC or EDQUOT, or their words; None when there is none."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) or _NO_SPACE.search(str(exc)):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _exit_detail(text: str) -> str:
    match = re.search(r"exit(?:ed)? (?:with )?(?:code|status)[ :]*(-?\d+)|signal[ :]*(\w+)", text, re.IGNORECASE)
    if not match:
        return " (crash, segfault or os._exit)"
    return f" ({match.group(0)})"


def timeout_failure(limit: str, phase: str, seconds: float, candidate: str) -> Failure:
    return Failure(
        FailureKind.TIMEOUT,
        f"timed out in phase {phase}: the {limit} limit of {seconds:g} s passed",
        f"raise defaults.timeouts.{limit} (or timeouts.{limit} on candidate {candidate}) if it needs longer",
    )


class Action(StrEnum):
    """What the policy decided after a failure: a closed set, as in Ray Train's FailureDecision."""

    RETRY = "retry"  # the same settings again, in a new actor
    RETRY_SMALLER = "retry_smaller"  # out of memory: half the batch, twice the accumulation
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Decision:
    action: Action
    why: str
    job: Job | None = None  # the job of the next attempt, unless giving up

    @property
    def retry(self) -> bool:
        return self.action is not Action.GIVE_UP


class RetryPolicy(Protocol):
    """Chooses between retrying and giving up; the supervisor is given one and asks it only."""

    def decide(self, failure: Failure, job: Job) -> Decision: ...


class DefaultRetryPolicy:
    """Deterministic errors are never retried; a candidate's out of memory is retried smaller down
    to a batch of 1, whatever `max_retries` says; other crashes (and out of memory in work with no
    batch, the ensemble's fit) up to the job's `max_retries`."""

    def decide(self, failure: Failure, job: Job) -> Decision:
        settings = job.settings
        if failure.kind in DETERMINISTIC:
            return Decision(Action.GIVE_UP, f"{failure.kind.value} errors are deterministic; not retried")
        if failure.kind == FailureKind.OUT_OF_MEMORY and isinstance(job, TrainingJob):
            workers = settings.resources.processes  # the batch is split over them: each worker's share halves
            if settings.batch_size <= workers:
                return Decision(Action.GIVE_UP, "out of memory even at batch_size 1"
                                + (f" per worker ({workers} workers)" if workers > 1 else ""))
            batch = settings.per_process_batch_size() // 2 * workers
            accumulation = settings.gradient_accumulation * 2
            smaller = settings.model_copy(update={"batch_size": batch, "gradient_accumulation": accumulation,
                                                  "eval_batch_size": max(1, settings.eval_batch_size // 2)})
            return Decision(
                Action.RETRY_SMALLER,
                f"out of memory: retrying with batch_size {batch} x gradient_accumulation {accumulation}",
                dataclasses.replace(job, settings=smaller, attempt=job.attempt + 1),
            )
        if job.attempt > settings.max_retries:
            return Decision(Action.GIVE_UP,
                            f"gave up after {job.attempt} attempt(s) (max_retries: {settings.max_retries})")
        return Decision(Action.RETRY, f"retrying after {failure.kind.value} (attempt {job.attempt + 1})",
                        dataclasses.replace(job, attempt=job.attempt + 1))


DEFAULT_POLICY = DefaultRetryPolicy()


def decide(failure: Failure, job: Job) -> Decision:
    """The default policy's decision (what `run`, `tune` and every stage use unless given another)."""
    return DEFAULT_POLICY.decide(failure, job)


__all__ = [
    "Action", "Decision", "DefaultRetryPolicy", "Failure", "FailureKind", "RetryPolicy", "classify", "decide",
    "one_line", "timeout_failure",
]
