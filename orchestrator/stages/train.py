"""The training stage: preflight verdicts and each candidate's earlier work (`orchestrator.rerun`)
decide who is kept, evaluated again, resumed or trained; the supervisor runs the rest."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from contract.checkpoints import TRAINER_DIR, latest_sealed_step
from contract.job import DataFiles, TrainingJob
from contract.phases import Phase, Status
from contract.work import TrainResult, result_dict
from orchestrator.config import ExperimentConfig
from orchestrator.data import run_data_files
from orchestrator.interrupts import RunInterrupted
from orchestrator.outcome import Outcome
from orchestrator.preflight import CandidatePreflight
from orchestrator.rerun import decide
from orchestrator.stages.context import RunContext
from orchestrator.work import WorkItem, evaluation_item, training_item

log = logging.getLogger(__name__)


def candidate_job(
    config: ExperimentConfig, candidate: Any, data: DataFiles, labels: tuple[str, ...], run_dir: Path
) -> TrainingJob:
    identity = config.identity(candidate, data)
    return TrainingJob(
        name=candidate.name,
        candidate=candidate,
        settings=config.settings_for(candidate),
        task=config.task,
        data=data,
        output_dir=(run_dir / "models" / candidate.name).resolve(),
        fingerprint=identity.fingerprint,
        labels=labels,
        evaluation_fingerprint=identity.evaluation_fingerprint,
        identity={"training": identity.training, "evaluation": identity.evaluation},
    )


def build_jobs(config: ExperimentConfig, data: DataFiles, labels: tuple[str, ...], run_dir: Path) -> list[TrainingJob]:
    return [candidate_job(config, candidate, data, labels, run_dir) for candidate in config.models]


def member_job(config: ExperimentConfig, run_dir: Path, name: str, labels: tuple[str, ...] = ()) -> TrainingJob:
    """The job a finished candidate was trained with, for stages that load its checkpoint."""
    return candidate_job(config, config.candidate(name), run_data_files(run_dir), labels, run_dir)


def kept_outcome(job: TrainingJob, metrics: dict[str, Any]) -> Outcome:
    """The outcome of an earlier run of this exact candidate (see `orchestrator.rerun`)."""
    result = dataclasses.replace(TrainResult.from_dict(metrics), reevaluated=False)  # nothing was done this run
    checkpoint = job.output_dir / "checkpoint"
    return Outcome(
        name=job.name, status=Status.SUCCEEDED, phase=Phase.DONE, metrics=result.metrics,
        checkpoint=str(checkpoint), wall_s=result.wall_s, resumed=True, details=result_dict(result), result=result,
    )


def preflight_outcome(job: TrainingJob, verdict: CandidatePreflight) -> Outcome:
    return Outcome(
        name=job.name, status=Status.SKIPPED, phase=Phase.PREFLIGHT, error=verdict.reason, hint=verdict.fix,
        failure_kind="preflight", details={"preflight": verdict.to_dict()},
    )


def run_training(ctx: RunContext, preflight: dict[str, CandidatePreflight]) -> list[Outcome]:
    jobs = build_jobs(ctx.config, ctx.data, ctx.labels, ctx.run_dir)
    decided: dict[str, Outcome] = {}
    to_run: list[WorkItem] = []
    for job in jobs:
        verdict = preflight.get(job.name)
        if verdict is not None and not verdict.ok:
            decided[job.name] = preflight_outcome(job, verdict)
            if ctx.tracker is not None:  # its tracked run says why it never trained
                ctx.tracker.ended(training_item(job), decided[job.name])
            ctx.on_event(f"train/{job.name}", decided[job.name].status, decided[job.name].to_dict())
            continue
        decision = decide(job)
        log.info("%s: %s (%s)", job.name, decision.action, decision.reason)
        if decision.action == "keep" and decision.metrics is not None:
            decided[job.name] = kept_outcome(job, decision.metrics)
            ctx.on_event(f"train/{job.name}", decided[job.name].status, decided[job.name].to_dict())
        elif decision.action == "re-evaluate":
            to_run.append(evaluation_item(job))
        else:
            to_run.append(training_item(job))
    try:
        ended = ctx.supervise(to_run, decided=decided)
    except RunInterrupted as stopped:  # what finished stands; the rest resumes on the next run
        ended = stopped.outcomes
    trained = {o.name: with_resume_point(o, item.job) for o, item in zip(ended, to_run, strict=True)}
    return [decided.get(job.name) or trained[job.name] for job in jobs]


def with_resume_point(outcome: Outcome, job: TrainingJob) -> Outcome:
    """An interrupted candidate's outcome says where the next run will continue from."""
    if outcome.status != Status.INTERRUPTED:
        return outcome
    return dataclasses.replace(outcome, details={**outcome.details, "resumes_from_step": latest_sealed_step(
        job.output_dir / TRAINER_DIR)})
