"""Summarization ensembles: choose, per dialogue, one of the members' summaries.

- MBR (minimum Bayes risk): the candidate that agrees most with the others (mean ROUGE-L).
- Stacking: every candidate gets features (which member wrote it, its consensus with the other
  candidates, its length against the source and against the other candidates); a meta-learner,
  cross-fitted on validation with all candidates of a dialogue in one fold, predicts each
  candidate's ROUGE-L against the reference, and the highest prediction wins.
The best single member (chosen on validation) and MBR are reported beside stacking, on test,
with the oracle (the best candidate per input by its true score) as the ceiling any selection has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from models.ensemble.meta import REGRESSORS, cross_fit, explain
from models.metrics import rouge_per_example, rouge_scores


@dataclass
class Candidates:
    """For each input, one summary per member, in `members` order."""

    members: list[str]
    sources: list[str]
    texts: list[list[str]]  # [input][member]


@dataclass
class SummarizationEnsemble:
    strategy: str
    members: list[str]
    scores: dict[str, dict[str, dict[str, float]]]
    best_member: str
    weights: dict[str, float] = field(default_factory=dict)
    model: BaseEstimator | None = None
    chosen_test: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "members": self.members, "best_member": self.best_member,
            "scores": self.scores, "weights": self.weights,
        }


def consensus(candidates: Candidates, language: str) -> np.ndarray:
    """[input, member] mean ROUGE-L of each candidate against the other members' candidates."""
    n, m = len(candidates.texts), len(candidates.members)
    predictions, references, index = [], [], []
    for i, row in enumerate(candidates.texts):
        for a in range(m):
            for b in range(m):
                if a != b:
                    predictions.append(row[a])
                    references.append(row[b])
                    index.append((i, a))
    pairwise = rouge_per_example(predictions, references, language, "rougeL") if predictions else []
    total = np.zeros((n, m))
    for (i, a), score in zip(index, pairwise, strict=True):
        total[i, a] += score
    return total / max(m - 1, 1)


def oracle_choice(candidates: Candidates, references: list[str], language: str) -> np.ndarray:
    """Per input, the member whose summary scores best against the reference (needs references)."""
    m = len(candidates.members)
    flat = rouge_per_example(
        [t for row in candidates.texts for t in row], [ref for ref in references for _ in range(m)], language, "rougeL"
    )
    return np.array(flat).reshape(-1, m).argmax(1)


def candidate_features(candidates: Candidates, language: str) -> tuple[np.ndarray, list[str]]:
    """One row per (input, member) candidate, inputs outer, members inner."""
    agreement = consensus(candidates, language)
    m = len(candidates.members)
    rows = []
    for i, (source, row) in enumerate(zip(candidates.sources, candidates.texts, strict=True)):
        lengths = np.array([max(len(t.split()), 1) for t in row], dtype=float)
        source_length = max(len(source.split()), 1)
        for a in range(m):
            one_hot = [1.0 if b == a else 0.0 for b in range(m)]
            rows.append([*one_hot, agreement[i, a], lengths[a] / source_length, lengths[a] / np.median(lengths)])
    names = [f"member:{name}" for name in candidates.members] + ["consensus_rougeL", "length/source", "length/median"]
    return np.array(rows), names


def ensemble_summaries(
    strategy: str,
    validation: Candidates,
    test: Candidates,
    references_validation: list[str],
    references_test: list[str],
    language: str,
    *,
    meta_learner: str = "linear",
    folds: int = 5,
    seed: int = 0,
    metric: str = "rougeL",
) -> SummarizationEnsemble:
    members = validation.members
    m = len(members)

    def score(texts: list[str], references: list[str]) -> dict[str, float]:
        return rouge_scores(texts, references, language)

    def pick(candidates: Candidates, chosen: np.ndarray) -> list[str]:
        return [row[int(c)] for row, c in zip(candidates.texts, chosen, strict=True)]

    scores: dict[str, dict[str, dict[str, float]]] = {}
    for a, member in enumerate(members):
        scores[member] = {
            "validation": score([row[a] for row in validation.texts], references_validation),
            "test": score([row[a] for row in test.texts], references_test),
        }
    best = max(members, key=lambda name: scores[name]["validation"][metric])
    scores["best_single"] = scores[best]
    scores["mbr"] = {
        "validation": score(pick(validation, consensus(validation, language).argmax(1)), references_validation),
        "test": score(pick(test, consensus(test, language).argmax(1)), references_test),
    }
    scores["oracle"] = {  # an upper bound, not a method: the best candidate per input by its true ROUGE-L
        "validation": score(pick(validation, oracle_choice(validation, references_validation, language)), references_validation),
        "test": score(pick(test, oracle_choice(test, references_test, language)), references_test),
    }
    result = SummarizationEnsemble(strategy, members, scores, best)
    if strategy != "stacking":
        result.chosen_test = consensus(test, language).argmax(1).tolist() if strategy == "mbr" else []
        return result

    x_val, names = candidate_features(validation, language)
    x_test, _ = candidate_features(test, language)
    y_val = np.array(rouge_per_example(
        [t for row in validation.texts for t in row],
        [ref for ref in references_validation for _ in range(m)],
        language, "rougeL",
    ))  # the regression target: each candidate's own ROUGE-L
    groups = np.repeat(np.arange(len(validation.texts)), m)
    fitted = cross_fit(REGRESSORS.get(meta_learner)(seed), x_val, y_val, folds=folds, seed=seed, groups=groups)
    chosen_val = fitted.out_of_fold.reshape(-1, m).argmax(1)
    chosen_test = fitted.final.predict(x_test).reshape(-1, m).argmax(1)
    scores["stacking"] = {
        "validation": score(pick(validation, chosen_val), references_validation),  # out of fold
        "test": score(pick(test, chosen_test), references_test),
    }
    result.model = fitted.final
    result.weights = explain(fitted.final, names)
    result.chosen_test = chosen_test.tolist()
    return result
