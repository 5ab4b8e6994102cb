"""The ensemble stage's computing, in an actor: every method scored, one chosen on validation, its
meta-learner fitted and written, and the test predictions of the chosen summaries.

Run by the supervisor as the `ensemble-fit` step (`contract.work.ENSEMBLE_FIT`) under the
ensemble's own job, so it has the limits, retries and error log of any step. The driver hands it
what the members gave (`contract.ensemble.FitRequest`) and writes ensemble.json from its result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np

from contract.atomic import file_sha256
from contract.ensemble import ClassifierInputs, FitRequest, FitResult, SummaryInputs
from contract.job import Job
from contract.phases import Phase
from contract.reporting import Reporter
from contract.rows import write_jsonl
from models.ensemble.classification import ensemble_classifiers
from models.ensemble.selection import EnsembleResult
from models.ensemble.summarization import ensemble_summaries, pool_of

META_LEARNER_FILE = "meta_learner.joblib"  # in ensemble/
TEST_PREDICTIONS_FILE = "test_predictions.jsonl"  # in ensemble/: the chosen summaries of the test split


def fit_ensemble(job: Job, reporter: Reporter, request: FitRequest) -> FitResult:
    """The step: the ensemble fitted in `job.output_dir` (ensemble/)."""
    reporter.phase(Phase.FITTING)

    def progress(part: str) -> None:
        reporter.heartbeat(detail=part)

    common: dict[str, Any] = {"meta_learner": request.meta_learner, "folds": request.folds, "seed": request.seed,
                              "metric": request.metric, "progress": progress}
    inputs = request.inputs
    if isinstance(inputs, ClassifierInputs):
        result = _classifiers(request.strategy, inputs, common)
    else:
        result = _summaries(request.strategy, inputs, common, job.output_dir)
    file = sha256 = None
    if result.model is not None:
        file, sha256 = META_LEARNER_FILE, _dump(result.model, job.output_dir / META_LEARNER_FILE)
    reporter.phase(Phase.DONE)
    return FitResult(result.summary(), file, sha256)


def _classifiers(strategy: str, inputs: ClassifierInputs, common: dict[str, Any]) -> EnsembleResult:
    """Stacking over the members' class probabilities (with cross-fitted members, also over their
    fold models' probabilities on the training split)."""
    arrays = {split: {m: np.array(rows) for m, rows in by_member.items()}
              for split, by_member in inputs.probabilities.items()}
    train = {"train": arrays["train"], "gold_train": inputs.gold["train"]} if "train" in arrays else {}
    return ensemble_classifiers(strategy, arrays["validation"], arrays["test"], inputs.gold["validation"],
                                inputs.gold["test"], inputs.labels, **common, **train)


def _summaries(strategy: str, inputs: SummaryInputs, common: dict[str, Any], out: Path) -> EnsembleResult:
    """The selection over the pools; the chosen test summaries are written out."""
    pools = {split: pool_of(parts) for split, parts in inputs.pools.items()}
    train = {"train": pools["train"], "references_train": inputs.references["train"]} if "train" in pools else {}
    result = ensemble_summaries(strategy, pools["validation"], pools["test"], inputs.references["validation"],
                                inputs.references["test"], inputs.language, **common, **train,
                                combine=inputs.combine)
    if result.chosen_test:
        write_jsonl(out / TEST_PREDICTIONS_FILE, (
            {"id": inputs.test_ids[i], "prediction": pools["test"].texts[i][c]} for i, c in enumerate(result.chosen_test)
        ))
    return result


def _dump(model: Any, path: Path) -> str:
    """Write the meta-learner whole or not at all; its sha256, which ensemble.json records."""
    staged = path.with_name(f".{path.name}.tmp")
    joblib.dump(model, staged)
    staged.replace(path)
    return file_sha256(path)
