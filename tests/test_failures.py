"""Failure classification and the retry policy, on the exceptions users actually meet."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from models.errors import NonFiniteLossError
from models.precision import PrecisionError
from models.sources import SourceError
from orchestrator.failures import DETERMINISTIC, FailureKind, classify, decide, timeout_failure
from tests.test_families import make_job, run


@pytest.mark.parametrize(
    "exc,kind",
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), FailureKind.OUT_OF_MEMORY),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes"), FailureKind.OUT_OF_MEMORY),
        (MemoryError(), FailureKind.OUT_OF_MEMORY),
        (NonFiniteLossError("loss was NaN/inf on 6 steps"), FailureKind.NON_FINITE_LOSS),
        (ValueError("Attempting to unscale FP16 gradients."), FailureKind.DTYPE),
        (RuntimeError("\"_amp_foreach_non_finite_check_and_unscale_cuda\" not implemented for 'BFloat16'"), FailureKind.DTYPE),
        (PrecisionError("precision fp16 needs a CUDA GPU"), FailureKind.DTYPE),
        (SourceError("hub model 'x' is not in the local cache"), FailureKind.MISSING_FILE),
        (FileNotFoundError("data.jsonl"), FailureKind.MISSING_FILE),
        (RuntimeError("injected fault"), FailureKind.UNKNOWN),
    ],
)
def test_classification(exc: BaseException, kind: FailureKind) -> None:
    failure = classify(exc)
    assert failure.kind == kind
    assert "\n" not in failure.reason and failure.hint


def test_a_dead_actor_is_a_crash_or_out_of_memory() -> None:
    assert classify(RuntimeError("The actor died unexpectedly"), died=True).kind == FailureKind.CRASH
    oom = classify(RuntimeError("Worker was killed by the memory monitor"), died=True)
    assert oom.kind == FailureKind.OUT_OF_MEMORY
    # Ray's words when a node leaves the cluster (measured in tests/test_multinode.py)
    lost = classify(RuntimeError("The actor died unexpectedly before finishing this task.\n\tname: train/llama\n"
                                 "The actor died because its node has died. Node Id: b3985ab8f2097fb3caf54f\n"
                                 "\tthe actor's node was terminated expectedly: received SIGTERM"), died=True)
    assert lost.kind == FailureKind.CRASH and "b3985ab8" in lost.reason and "another node" in lost.hint


def test_policy(tmp_path: Path) -> None:
    job = make_job(tmp_path, {"name": "m", "source": "scratch:bart-tiny", "family": "seq2seq"},
                   batch_size=8, gradient_accumulation=1, max_retries=1)
    for kind_exc in (SourceError("x"), PrecisionError("x"), NonFiniteLossError("x")):
        assert not decide(classify(kind_exc), job).retry
    assert not decide(timeout_failure("load", "loading", 10, "m"), job).retry

    oom = classify(MemoryError())
    decision = decide(oom, job)
    assert decision.retry and decision.job is not None
    smaller = decision.job.settings
    assert (smaller.batch_size, smaller.gradient_accumulation) == (4, 2)
    assert decision.job.attempt == 2 and decision.job.fingerprint == job.fingerprint
    # Out of memory keeps halving past max_retries, down to a batch of 1, then gives up.
    job_bs1 = decision.job
    while job_bs1.settings.batch_size > 1:
        job_bs1 = decide(oom, job_bs1).job
    assert job_bs1.settings.gradient_accumulation == 8
    assert not decide(oom, job_bs1).retry

    # Data-parallel over 2 workers: each worker's share halves (8 = 2 x 4 -> 2 x 2 -> 2 x 1), then it gives up.
    pair = dataclasses.replace(job, settings=job.settings.model_copy(
        update={"resources": job.settings.resources.model_copy(update={"workers": 2})}))
    shares = []
    while (decision := decide(oom, pair)).retry:
        pair = decision.job
        shares.append((pair.settings.batch_size, pair.settings.gradient_accumulation))
    assert shares == [(4, 2), (2, 4)] and "per worker (2 workers)" in decision.why

    crash = classify(RuntimeError("segfault"), died=True)
    retried = decide(crash, job)
    assert retried.retry and retried.job.attempt == 2
    assert not decide(crash, retried.job).retry  # max_retries: 1


def test_nan_loss_skips_steps_then_fails_with_the_reason(tmp_path: Path) -> None:
    job = make_job(tmp_path, {"name": "nan", "source": "scratch:bart-tiny", "family": "seq2seq"},
                   learning_rate=1e30, max_steps=20, max_nonfinite_steps=3)
    with pytest.raises(NonFiniteLossError, match="more than max_nonfinite_steps=3"):
        run(job)
    assert not (job.output_dir / "checkpoint").exists()


def test_a_full_disk_is_named_wherever_the_library_wrapped_it() -> None:
    import errno

    full = OSError(errno.ENOSPC, "No space left on device", "/runs/tiny/models/bart/trainer/checkpoint-40")
    try:
        try:
            raise full
        except OSError as exc:
            raise RuntimeError("could not save the checkpoint") from exc
    except RuntimeError as wrapped:
        failure = classify(wrapped)
    assert failure.kind == FailureKind.DISK_FULL and failure.kind in DETERMINISTIC
    assert "the disk is full" in failure.reason and "checkpoint-40" in failure.reason and "free space" in failure.hint
    assert classify(RuntimeError("safetensors: Disk quota exceeded (os error 122)")).kind == FailureKind.DISK_FULL
    assert classify(OSError(errno.EACCES, "Permission denied")).kind != FailureKind.DISK_FULL
