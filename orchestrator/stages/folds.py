"""Cross-fitted members (`ensemble.cross_fit_members: K`): stacking that learns from the training split.

Without it, the meta-learner learns only from validation. With it, every member is trained K more
times, each time without one fold of the training split, and each fold model proposes (and, for
summaries, scores) on the fold it never saw. Put together, the K folds give the meta-learner the
members' view of the whole training split, beside validation's, from models that never trained on
what they predicted: proper stacking, for K more trainings per member and the ensemble's
proposing and scoring over the training split.

Fold models live in `models/<name>/folds/<k>of<K>/` with fingerprints of their own, so a rerun
keeps or resumes them like any candidate (`orchestrator.rerun`); the fold files are
`data/folds/<k>of<K>-{train,held-out}.jsonl`. Every step runs under the supervisor (queue, the
four limits, retries, error logs) as `ensemble-folds/<name>@fold<k>`. A fold in which any member's
model fails is left out with its reason, since its rows need every member's view; the others stand.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.ensemble import Fold, PoolParts, Probabilities, SplitRequest, SplitResult
from contract.job import DataFiles, TrainingJob
from contract.rows import read_rows, row_references
from contract.work import ENSEMBLE_SPLIT, FOLD_TRAIN, PROPOSE, SCORE, ProposeRequest, ScoreRequest, Step, TrainRequest
from orchestrator.config import ExperimentConfig
from orchestrator.rerun import RerunDecision, decide
from orchestrator.stages.context import RunContext
from orchestrator.stages.members import run_ensemble_step
from orchestrator.stages.train import candidate_job
from orchestrator.work import WorkItem

log = logging.getLogger(__name__)

Row = dict[str, Any]
FOLDS_DIR = "folds"  # in the run's data/ and in each member's directory
SPLIT_TRAINING = "models.ensemble.folds:split_training"  # `validate` cuts the folds aside, in a child process


def fold_job(config: ExperimentConfig, data: DataFiles, labels: tuple[str, ...], run_dir: Path, name: str,
             fold: Fold) -> TrainingJob:
    """Member `name`'s training job on the fold's training rows (validation still picks its best
    checkpoint, as for the member itself), in a directory of its own."""
    base = candidate_job(config, config.candidate(name), DataFiles(fold.train, data.validation, None), labels, run_dir)
    return dataclasses.replace(base, name=f"{name}@fold{fold.index}", output_dir=base.output_dir / FOLDS_DIR / fold.name)


def fold_decision(job: TrainingJob) -> RerunDecision:
    """What a rerun does with a fold model: as with any candidate, except that a verified checkpoint
    is kept whatever its evaluation settings, since the ensemble asks it for fresh predictions."""
    decision = decide(job)
    if decision.action == "re-evaluate":
        return RerunDecision("keep", "finished earlier under the same settings and data", metrics=decision.metrics)
    return decision


def member_folds(config: ExperimentConfig) -> int:
    """How many folds the members are cross-fitted in; 0 when they are not."""
    settings = config.ensemble
    return settings.cross_fit_members if settings.strategy in ("auto", "stacking") else 0


def split_request(config: ExperimentConfig, out: Path) -> SplitRequest:
    """The experiment's folds of its training split, to be written under `out` (by the
    `ensemble-split` step: scikit-learn cuts them)."""
    task = config.task
    return SplitRequest(str(out), member_folds(config), config.defaults.seed,
                        task.resolved_target_column() if task.type == "classification" else None)


@dataclass
class FoldRun:
    """The members' fold models for one ensemble stage: trained (or kept from an earlier run), then
    asked for their predictions on the rows they never saw. `left_out`: folds that could not be
    used, with why."""

    ctx: RunContext
    members: list[str]
    folds: list[Fold]
    left_out: dict[int, str] = field(default_factory=dict)
    trained: int = 0
    kept: int = 0
    started: float = field(default_factory=time.time)

    @property
    def usable(self) -> list[Fold]:
        return [fold for fold in self.folds if fold.index not in self.left_out]

    def job(self, name: str, fold: Fold) -> TrainingJob:
        return fold_job(self.ctx.config, self.ctx.data, self.ctx.labels, self.ctx.run_dir, name, fold)

    def train(self) -> None:
        """Train the fold models that no earlier run left finished (a verified checkpoint under the
        same fingerprint is kept; an interrupted one resumes)."""
        needed = []
        for fold in self.folds:
            for name in self.members:
                job = self.job(name, fold)
                if fold_decision(job).action == "keep":
                    self.kept += 1
                else:
                    needed.append(((name, fold.index), WorkItem(FOLD_TRAIN, job, TrainRequest(predict=False))))
        self.trained = len(needed)
        self._supervise(needed)

    def run(self, step: Step, request: Callable[[Fold], Any]) -> dict[tuple[str, int], Any]:
        """`step` for every member's model of every usable fold, at once; the results by (member,
        fold). A fold with a failed model is left out."""
        return self._supervise([((name, fold.index), WorkItem(step, self.job(name, fold), request(fold)))
                                for fold in self.usable for name in self.members])

    def _supervise(self, keyed: list[tuple[tuple[str, int], WorkItem]]) -> dict[tuple[str, int], Any]:
        if not keyed:
            return {}
        results = {}
        outcomes = self.ctx.supervise([item for _, item in keyed])
        for (key, item), outcome in zip(keyed, outcomes, strict=True):
            if outcome.ok:
                results[key] = outcome.result
            else:
                self.left_out.setdefault(key[1], f"{item.label} {outcome.status}: {outcome.error} (log: {outcome.log})")
        return {key: result for key, result in results.items() if key[1] not in self.left_out}

    def held_out(self, fold: Fold) -> list[Row]:
        return read_rows(fold.held_out)

    def pools(self, num_candidates: int, num_beams: int) -> tuple[PoolParts, list[list[str]]] | None:
        """Summarization: the training split's pools (each fold's rows, proposed and scored by that
        fold's models) and their references; None when no fold could be used."""
        task = self.ctx.config.task
        source, target = task.resolved_input_column(), task.resolved_target_column()
        rows = {fold.index: self.held_out(fold) for fold in self.folds}
        proposed = self.run(PROPOSE, lambda fold: ProposeRequest({"train": rows[fold.index]}, True, num_candidates,
                                                                 num_beams))
        built = {}
        for fold in self.usable:
            made = {m: proposed[(m, fold.index)].splits["train"] for m in self.members}
            built[fold.index] = PoolParts(
                list(self.members), [str(r[source]) for r in rows[fold.index]],
                {m: [p["prediction"] for p in made[m].predictions or []] for m in self.members},
                {m: made[m].candidates or [] for m in self.members},
            )
        asked = {index: pool.pairs() for index, pool in built.items()}
        scored = self.run(SCORE, lambda fold: ScoreRequest({"train": asked[fold.index]}))
        if not self.usable:
            return None
        pools = [built[fold.index].scored(asked[fold.index], {m: scored[(m, fold.index)].log_likelihoods["train"]
                                                             for m in self.members}) for fold in self.usable]
        references = [row_references(r, target) for fold in self.usable for r in rows[fold.index]]
        return PoolParts.concatenate(pools), references

    def probabilities(self) -> tuple[Probabilities, list[str]] | None:
        """Classification: each member's class probabilities on the training split (each fold's rows
        from that fold's model) and the gold labels; None when no fold could be used."""
        target = self.ctx.config.task.resolved_target_column()
        rows = {fold.index: self.held_out(fold) for fold in self.folds}
        proposed = self.run(PROPOSE, lambda fold: ProposeRequest({"train": rows[fold.index]}, True, 0, 1))
        if not self.usable:
            return None
        probabilities = {m: [r["probabilities"] for fold in self.usable
                             for r in proposed[(m, fold.index)].splits["train"].predictions or []]
                         for m in self.members}
        return probabilities, [str(r[target]) for fold in self.usable for r in rows[fold.index]]

    def record(self, rows: int) -> dict[str, Any]:
        """The `cross_fit_members` entry of the ensemble's section."""
        return {
            "folds": len(self.folds), "used": [fold.name for fold in self.usable],
            "left_out": {self.folds[i - 1].name: why for i, why in sorted(self.left_out.items())},
            "training_rows": rows, "fold_models_trained": self.trained, "fold_models_kept": self.kept,
            "wall_s": round(time.time() - self.started, 2),
        }


def cross_fitted_members(ctx: RunContext, members: list[str]) -> FoldRun | None:
    """The members' fold models, trained, when `ensemble.cross_fit_members` asks for them and the
    stage stacks; None otherwise."""
    if member_folds(ctx.config) < 2:
        return None
    split: SplitResult = run_ensemble_step(ctx, ENSEMBLE_SPLIT, split_request(ctx.config,
                                                                             ctx.run_dir / "data" / FOLDS_DIR))
    run = FoldRun(ctx, list(members), split.folds)
    if (storage := ctx.storage) is not None:  # where the nodes pull their data from
        storage.publish(f"data/{FOLDS_DIR}")
    log.info("cross-fitted members: %d fold(s) x %d member(s)", len(run.folds), len(members))
    run.train()
    return run
