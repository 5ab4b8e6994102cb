"""The folds of cross-fitted members (`ensemble.cross_fit_members: K`): the training split cut into
K parts by scikit-learn, written as files every fold model reads. Run by the supervisor as the
`ensemble-split` step (`contract.work.ENSEMBLE_SPLIT`); the driver keeps the bookkeeping
(`orchestrator.stages.folds`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from contract.ensemble import Fold, SplitRequest, SplitResult
from contract.job import Job
from contract.phases import Phase
from contract.reporting import Reporter
from contract.rows import read_rows, write_jsonl


def split_training(train: Path, out: Path, count: int, seed: int, stratify_by: str | None = None) -> list[Fold]:
    """`count` folds of the training rows, shuffled by `seed` (stratified by `stratify_by` where
    every class has at least `count` rows), written under `out`. The same rows and seed give the
    same files, so their fold models' fingerprints hold across reruns."""
    rows = read_rows(train)
    labels = [str(r[stratify_by]) for r in rows] if stratify_by else None
    if labels is not None and min(labels.count(label) for label in set(labels)) >= count:
        parts = StratifiedKFold(count, shuffle=True, random_state=seed).split(np.zeros(len(rows)), labels)
    else:
        parts = KFold(count, shuffle=True, random_state=seed).split(np.zeros(len(rows)))
    folds = []
    for index, (kept, held) in enumerate(parts, start=1):
        name = f"{index}of{count}"
        folds.append(Fold(index, count, write_jsonl(out / f"{name}-train.jsonl", [rows[i] for i in kept]),
                          write_jsonl(out / f"{name}-held-out.jsonl", [rows[i] for i in held])))
    return folds


def split_folds(job: Job, reporter: Reporter, request: SplitRequest) -> SplitResult:
    """The step: the request's folds of the job's training split, written."""
    folds = split_training(job.data.train, Path(request.out_dir), request.count, request.seed, request.stratify_by)
    reporter.phase(Phase.DONE)
    return SplitResult(folds)
