"""The chosen ensemble applied to new inputs, as the ensemble stage applied it to the test split:
the meta-learner (or MBR / averaging) combining what the members made of them.

`predict` runs it as the `ensemble-apply` step (`contract.work.ENSEMBLE_APPLY`) under the
ensemble's own job; `serve`'s gateway builds one `Combiner` per replica and keeps its
meta-learner loaded. The driver names both by dotted path and never loads a meta-learner itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np

from contract.atomic import file_sha256
from contract.ensemble import ApplyRequest, ApplyResult, ChosenEnsemble, PoolParts, Probabilities
from contract.job import Job
from contract.phases import Phase
from contract.reporting import Reporter
from models.ensemble.classification import features
from models.ensemble.summarization import candidate_features, consensus, pick, pool_of


def load_meta_learner(path: Path, sha256: str | None) -> Any:
    """The meta-learner in `path`, unpickled only while it is still the file the ensemble stage
    wrote (the sha256 ensemble.json records, checked by the driver before it asked)."""
    if sha256 is None or file_sha256(path) != sha256:
        raise ValueError(f"{path} is not the file the ensemble stage wrote (its sha256 differs from ensemble.json's); "
                         "it is not loaded. Rerun the run's ensemble stage")
    return joblib.load(path)


class Combiner:
    """The chosen method, ready to combine: for stacking, with its meta-learner loaded once from
    `folder` (the run's ensemble/)."""

    def __init__(self, chosen: ChosenEnsemble, folder: Path):
        self.chosen = chosen
        self.meta: Any = None
        if chosen.stacking:
            if chosen.meta_learner_file is None:
                raise ValueError(f"the chosen method {chosen.method} names no meta-learner file")
            self.meta = load_meta_learner(Path(folder) / chosen.meta_learner_file, chosen.meta_learner_sha256)

    def classify(self, probabilities: Probabilities) -> list[str]:
        """Each input's label from the members' class probabilities."""
        members = self.chosen.members
        arrays = {m: np.array(probabilities[m], dtype=float) for m in members}
        chosen = self.meta.predict(features(arrays, members)) if self.chosen.stacking else (
            np.mean([arrays[m] for m in members], axis=0).argmax(1))
        return [self.chosen.labels[int(c)] for c in chosen]

    def summarize(self, parts: PoolParts, language: str) -> list[str]:
        """Each input's summary, picked from its pool of candidates."""
        pool = pool_of(parts)
        if self.chosen.stacking:
            x, _ = candidate_features(pool, language)
            chosen = pick(pool, self.meta.predict(x))
        else:
            chosen = pick(pool, consensus(pool, language))
        return [pool.texts[i][c] for i, c in enumerate(chosen)]


def apply_ensemble(job: Job, reporter: Reporter, request: ApplyRequest) -> ApplyResult:
    """The step: the request's inputs combined by the chosen method, the meta-learner read from
    the job's directory (ensemble/)."""
    combiner = Combiner(request.chosen, job.output_dir)
    reporter.phase(Phase.PREDICTING)
    inputs = request.inputs
    if isinstance(inputs, PoolParts):
        predictions = combiner.summarize(inputs, request.language)
    else:
        predictions = combiner.classify(inputs)
    reporter.phase(Phase.DONE)
    return ApplyResult(predictions)
