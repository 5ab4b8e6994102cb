"""The training stage: preflight verdicts and finished checkpoints decide who trains; the
supervisor trains the rest."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from contract.atomic import read_json_or_warn
from contract.job import DataFiles, TrainingJob
from contract.phases import Phase, Status
from contract.work import TrainResult, result_dict
from models.checkpoint import verify_checkpoint
from models.resume import TRAINER_DIR, latest_sealed_step
from orchestrator.config import ExperimentConfig
from orchestrator.interrupts import RunInterrupted
from orchestrator.outcome import Outcome
from orchestrator.preflight import CandidatePreflight
from orchestrator.stages.context import RunContext
from orchestrator.work import training_item


def candidate_job(
    config: ExperimentConfig, candidate: Any, data: DataFiles, labels: tuple[str, ...], run_dir: Path
) -> TrainingJob:
    return TrainingJob(
        name=candidate.name,
        candidate=candidate,
        settings=config.settings_for(candidate),
        task=config.task,
        data=data,
        output_dir=(run_dir / "models" / candidate.name).resolve(),
        fingerprint=config.fingerprint(candidate),
        labels=labels,
    )


def build_jobs(config: ExperimentConfig, data: DataFiles, labels: tuple[str, ...], run_dir: Path) -> list[TrainingJob]:
    return [candidate_job(config, candidate, data, labels, run_dir) for candidate in config.models]


def member_job(config: ExperimentConfig, run_dir: Path, name: str, labels: tuple[str, ...] = ()) -> TrainingJob:
    """The job a finished candidate was trained with, for stages that load its checkpoint."""
    data = DataFiles(run_dir / "data" / "train.jsonl", None, None)
    return candidate_job(config, config.candidate(name), data, labels, run_dir)


def finished_outcome(job: TrainingJob) -> Outcome | None:
    """The outcome of an earlier run of this exact candidate, if its checkpoint is complete and
    was written for the same config; None means it must (re)train."""
    checkpoint = job.output_dir / "checkpoint"
    metrics_path = job.output_dir / "metrics.json"
    if not metrics_path.is_file() or verify_checkpoint(checkpoint, job.fingerprint) is not None:
        return None
    metrics = read_json_or_warn(metrics_path, "the candidate trains again (resuming where it can)")
    if not isinstance(metrics, dict):
        return None
    result = TrainResult.from_dict(metrics)
    return Outcome(
        name=job.name, status=Status.SUCCEEDED, phase=Phase.DONE, metrics=result.metrics,
        checkpoint=str(checkpoint), wall_s=result.wall_s, resumed=True, details=result_dict(result), result=result,
    )


def preflight_outcome(job: TrainingJob, verdict: CandidatePreflight) -> Outcome:
    return Outcome(
        name=job.name, status=Status.SKIPPED, phase="preflight", error=verdict.reason, hint=verdict.fix,
        failure_kind="preflight", details={"preflight": verdict.to_dict()},
    )


def run_training(ctx: RunContext, preflight: dict[str, CandidatePreflight]) -> list[Outcome]:
    jobs = build_jobs(ctx.config, ctx.data, ctx.labels, ctx.run_dir)
    decided: dict[str, Outcome] = {}
    for job in jobs:
        verdict = preflight.get(job.name)
        if verdict is not None and not verdict.ok:
            decided[job.name] = preflight_outcome(job, verdict)
        elif (done := finished_outcome(job)) is not None:
            decided[job.name] = done
        else:
            continue
        ctx.on_event(f"train/{job.name}", decided[job.name].status, decided[job.name].to_dict())
    to_train = [training_item(job) for job in jobs if job.name not in decided]
    try:
        ended = ctx.supervise(to_train, decided=decided)
    except RunInterrupted as stopped:  # what finished stands; the rest resumes on the next run
        ended = stopped.outcomes
    trained = {o.name: with_resume_point(o, job) for o, job in zip(ended, [i.job for i in to_train], strict=True)}
    return [decided.get(job.name) or trained[job.name] for job in jobs]


def with_resume_point(outcome: Outcome, job: TrainingJob) -> Outcome:
    """An interrupted candidate's outcome says where the next run will continue from."""
    if outcome.status != Status.INTERRUPTED:
        return outcome
    return dataclasses.replace(outcome, details={**outcome.details, "resumes_from_step": latest_sealed_step(
        job.output_dir / TRAINER_DIR)})
