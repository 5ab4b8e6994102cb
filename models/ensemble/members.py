"""A trained member's part in the ensemble, run by the supervisor in the member's own actor.

Two steps, because every member scores every member's candidates: `propose` (each member's own
predictions and its top beam-search candidates per input) and, once the pools are built,
`score` (each member's length-normalised log-likelihood of every pooled summary).
"""

from __future__ import annotations

from typing import Any

import torch

from contract.job import TrainingJob
from models.families.base import Progress
from models.precision import decide_precision, detect_hardware
from models.registry import load_family
from models.reporting import Reporter, prediction_progress

Row = dict[str, Any]


class MemberModel:
    """A finished candidate's checkpoint, loaded once with the precision it trained with."""

    def __init__(self, job: TrainingJob):
        torch.set_num_threads(max(1, int(job.settings.resources.cpus)))
        self.job = job
        self.family = load_family(job.family)(job)
        plan = decide_precision(job.settings.precision, detect_hardware(), adapters_only=job.candidate.lora is not None)
        self.model, self.tokenizer = self.family.load_trained(job.output_dir / "checkpoint", plan)

    def predict(self, rows: list[Row], progress: Progress | None = None) -> list[Row]:
        return self.family.predict(self.model, self.tokenizer, rows, progress)

    def propose(self, rows: list[Row], candidates: int, beams: int, progress: Progress | None = None) -> list[list[str]]:
        records = self.family.predict(
            self.model, self.tokenizer, rows, progress, candidates=candidates, num_beams=beams
        )
        return [r.get("candidates", [r["prediction"]]) for r in records]

    def score(self, pairs: list[tuple[str, str]], progress: Progress | None = None) -> list[float]:
        return self.family.log_likelihoods(self.model, self.tokenizer, pairs, progress)


def propose(
    job: TrainingJob, reporter: Reporter, inputs: dict[str, list[Row]], own_predictions: bool, candidates: int,
    beams: int,
) -> dict[str, Any]:
    """Per split: the member's own predictions (when asked; training already wrote them for
    validation and test) and, when `candidates` > 0, its top `candidates` of `beams` beams."""
    member = MemberModel(job)
    out: dict[str, Any] = {}
    for split, rows in inputs.items():
        reporter.phase("proposing", split=split)
        entry: dict[str, Any] = {}
        if own_predictions:
            entry["predictions"] = member.predict(rows, prediction_progress(reporter, split))
        if candidates:
            entry["candidates"] = member.propose(rows, candidates, beams, prediction_progress(reporter, split))
        out[split] = entry
    reporter.phase("done")
    return out


def score(job: TrainingJob, reporter: Reporter, pairs: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
    """Per split: the member's log-likelihood of each (source, summary) pair."""
    member = MemberModel(job)
    out: dict[str, Any] = {}
    for split, split_pairs in pairs.items():
        reporter.phase("scoring", split=split)
        out[split] = member.score(split_pairs, prediction_progress(reporter, split))
    reporter.phase("done")
    return out
