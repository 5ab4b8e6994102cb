"""A trained member's part in the ensemble, run by the supervisor in the member's own actor.

Two steps, because every member scores every member's candidates: `propose` (each member's own
predictions and its top beam-search candidates per input) and, once the pools are built,
`score` (each member's length-normalised log-likelihood of every pooled summary).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from contract.job import TrainingJob
from contract.phases import Phase
from contract.reporting import Reporter
from contract.work import Proposal, ProposeRequest, ProposeResult, ScoreRequest, ScoreResult
from models.families.base import Progress
from models.registry import load_family
from models.reporting import prediction_progress

Row = dict[str, Any]


class MemberModel:
    """A finished candidate's checkpoint, loaded once with the precision it trained with."""

    def __init__(self, job: TrainingJob):
        torch.set_num_threads(max(1, int(job.settings.resources.cpus)))
        self.job = job
        self.family = load_family(job.family)(job)
        self.model, self.tokenizer = self.family.load_finished()

    def predict(self, rows: list[Row], progress: Progress | None = None) -> list[Row]:
        return self.family.predict(self.model, self.tokenizer, rows, progress)

    def propose(self, rows: list[Row], candidates: int, beams: int, progress: Progress | None = None) -> list[list[str]]:
        records = self.family.predict(
            self.model, self.tokenizer, rows, progress, candidates=candidates, num_beams=beams
        )
        return [r.get("candidates", [r["prediction"]]) for r in records]

    def score(self, pairs: list[tuple[str, str]], progress: Progress | None = None) -> list[float]:
        return self.family.log_likelihoods(self.model, self.tokenizer, pairs, progress)


_loaded: dict[str, MemberModel] = {}  # this process's member, kept between its propose and score steps


def member_model(job: TrainingJob) -> MemberModel:
    """The member's model, loaded once per process and checkpoint: an actor that proposes and
    then scores loads it once. Another checkpoint (a retrained member) replaces it."""
    checkpoint = job.output_dir / "checkpoint"
    key = f"{checkpoint}:{job.fingerprint}:{_mtime(checkpoint)}"
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = MemberModel(job)
    return _loaded[key]


def _mtime(path: Path) -> float:
    return max((f.stat().st_mtime for f in path.rglob("*") if f.is_file()), default=0.0)


def propose(job: TrainingJob, reporter: Reporter, request: ProposeRequest) -> ProposeResult:
    """Per split: the member's own predictions (when asked; training already wrote them for
    validation and test) and, when `request.candidates` > 0, its top candidates of its beams."""
    member = member_model(job)
    out: dict[str, Proposal] = {}
    for split, rows in request.inputs.items():
        reporter.phase(Phase.PROPOSING, split=split)
        predictions = candidates = None
        if request.own_predictions:
            predictions = member.predict(rows, prediction_progress(reporter, split))
        if request.candidates:
            candidates = member.propose(rows, request.candidates, request.beams, prediction_progress(reporter, split))
        out[split] = Proposal(predictions, candidates)
    reporter.phase(Phase.DONE)
    return ProposeResult(out)


def score(job: TrainingJob, reporter: Reporter, request: ScoreRequest) -> ScoreResult:
    """Per split: the member's log-likelihood of each (source, summary) pair."""
    member = member_model(job)
    out: dict[str, list[float]] = {}
    for split, split_pairs in request.pairs.items():
        reporter.phase(Phase.SCORING, split=split)
        out[split] = member.score(split_pairs, prediction_progress(reporter, split))
    reporter.phase(Phase.DONE)
    return ScoreResult(out)
