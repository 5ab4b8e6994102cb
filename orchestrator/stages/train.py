"""The training stage: one job per candidate, handed to the supervisor."""

from __future__ import annotations

from pathlib import Path

from models.job import DataFiles, TrainingJob
from orchestrator.cluster import ClusterInfo
from orchestrator.config import ExperimentConfig
from orchestrator.supervisor import EventSink, Outcome, Supervisor


def build_jobs(config: ExperimentConfig, data: DataFiles, labels: tuple[str, ...], run_dir: Path) -> list[TrainingJob]:
    return [
        TrainingJob(
            name=candidate.name,
            candidate=candidate,
            settings=config.settings_for(candidate),
            task=config.task,
            data=data,
            output_dir=(run_dir / "models" / candidate.name).resolve(),
            fingerprint=config.fingerprint(candidate),
            labels=labels,
        )
        for candidate in config.models
    ]


def run_training(
    config: ExperimentConfig,
    data: DataFiles,
    labels: tuple[str, ...],
    cluster: ClusterInfo,
    run_dir: Path,
    on_event: EventSink,
) -> list[Outcome]:
    jobs = build_jobs(config, data, labels, run_dir)
    return Supervisor(jobs, cluster, run_dir, on_event).run()
