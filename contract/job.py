"""The contract between the driver and a training actor: everything one candidate needs,
as plain picklable data, with paths instead of payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    fingerprint: str  # the training identity's: a checkpoint is resumed or kept only under the same one
    labels: tuple[str, ...] = ()
    attempt: int = 1
    evaluation_fingerprint: str = ""  # the evaluation identity's: metrics are kept only under the same one
    identity: dict[str, Any] = field(default_factory=dict)  # both identities' parts, recorded with what they decide

    @property
    def family(self) -> str:
        return self.candidate.family
