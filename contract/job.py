"""The contract between the driver and a training actor: everything one candidate needs,
as plain picklable data, with paths instead of payloads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contract.settings import CandidateConfig, TaskConfig, TrainingSettings


@dataclass(frozen=True)
class DataFiles:
    """JSONL files the driver prepared in the run directory (validation and test optional)."""

    train: Path
    validation: Path | None
    test: Path | None


@dataclass(frozen=True)
class TrainingJob:
    name: str
    candidate: CandidateConfig
    settings: TrainingSettings
    task: TaskConfig
    data: DataFiles
    output_dir: Path
    fingerprint: str
    labels: tuple[str, ...] = ()
    attempt: int = 1

    @property
    def family(self) -> str:
        return self.candidate.family
