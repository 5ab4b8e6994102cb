"""What one Ray Serve deployment of a trained member serves: named by the driver
(`orchestrator.serving.plan`), loaded by the replica (`models.serving.ServedModel`)."""

from __future__ import annotations

from dataclasses import dataclass

from contract.job import TrainingJob


@dataclass(frozen=True)
class ServedVariant:
    """The member's job, which variant (`fp32` or a quantization backend, with its artefact's
    path) and how Serve batches its `predict`: up to `max_batch_size` requests, waiting at most
    `batch_wait_s` for them to arrive."""

    job: TrainingJob
    variant: str
    path: str
    max_batch_size: int
    batch_wait_s: float
