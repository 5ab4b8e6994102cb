"""A trained member loaded once to serve the ensemble: propose candidates, score any summary."""

from __future__ import annotations

from typing import Any

import torch

from models.job import TrainingJob
from models.precision import decide_precision, detect_hardware
from models.registry import load_family


class MemberModel:
    def __init__(self, job: TrainingJob):
        torch.set_num_threads(max(1, int(job.settings.resources.cpus)))
        self.job = job
        self.family = load_family(job.family)(job)
        plan = decide_precision(job.settings.precision, detect_hardware(), adapters_only=job.candidate.lora is not None)
        self.model, self.tokenizer = self.family.load_trained(job.output_dir / "checkpoint", plan)

    def predict(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.family.predict(self.model, self.tokenizer, rows)

    def propose(self, rows: list[dict[str, Any]], candidates: int, beams: int) -> list[list[str]]:
        records = self.family.predict(self.model, self.tokenizer, rows, candidates=candidates, num_beams=beams)
        return [r.get("candidates", [r["prediction"]]) for r in records]

    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        return self.family.log_likelihoods(self.model, self.tokenizer, pairs)
