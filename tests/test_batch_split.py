"""The one rule that splits a candidate's batch over its training processes (`TrainingSettings`),
and the places that use it: the out-of-memory retry and a data-parallel candidate's tune trial."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from contract.job import DataFiles, TrainingJob
from contract.settings import CandidateConfig, Resources, TaskConfig, TrainingSettings
from orchestrator.failures import Failure, FailureKind, decide


def settings(batch: int, workers: int, **extra: int) -> TrainingSettings:
    return TrainingSettings(batch_size=batch, resources=Resources(cpus=1, workers=workers), **extra)


def test_the_batch_is_the_whole_candidates_and_each_process_takes_an_even_share() -> None:
    s = settings(16, 4, eval_batch_size=6)
    assert s.per_process_batch_size() == 4 and s.per_process_batch_size(1) == 16
    assert s.per_process_eval_batch_size() == 1 and s.per_process_eval_batch_size(2) == 3
    assert settings(8, 1, eval_batch_size=3).per_process_eval_batch_size(8) == 1  # never below one example
    assert [d for d in range(1, 13) if settings(12, 1).batch_splits_over(d)] == [1, 2, 3, 4, 6, 12]
    with pytest.raises(ValidationError, match="batch_size 10 is split evenly over the 4 training processes"):
        settings(10, 4)


def job(settings: TrainingSettings) -> TrainingJob:
    return TrainingJob(name="m", candidate=CandidateConfig(name="m", source="scratch:bart-tiny", family="seq2seq"),
                       settings=settings, task=TaskConfig(), data=DataFiles(Path("train.jsonl"), None, None),
                       output_dir=Path("m"), fingerprint="")


def test_out_of_memory_halves_each_process_share_as_before() -> None:
    """The retry's result is the one it always had: each process's share halved (`batch_size //
    workers // 2 * workers`), down to one example per process."""
    for workers in (1, 2, 3, 4):
        for batch in range(workers, 41, workers):
            decision = decide(Failure(FailureKind.OUT_OF_MEMORY, "oom", ""), job(settings(batch, workers)))
            if batch <= workers:
                assert not decision.retry
                continue
            assert decision.job is not None
            assert decision.job.settings.batch_size == batch // workers // 2 * workers
            assert decision.job.settings.gradient_accumulation == 2
