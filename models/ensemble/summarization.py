"""Summarization ensembles: choose, per dialogue, one summary from a pool of candidates.

The pool of a dialogue holds every member's own (greedy) summary and, when the stage asks, each
member's top beam-search candidates; every member then scores every candidate (length-normalised
log-likelihood of the summary given the dialogue).

- MBR (minimum Bayes risk): the candidate that agrees most with the others (mean ROUGE-L).
- Stacking: each candidate's features are the members' log-likelihoods of it, which members
  proposed it, its agreement with the rest of the pool and its length against the source and the
  pool; a meta-learner, cross-fitted on validation with a dialogue's whole pool in one fold,
  predicts its ROUGE-L against the reference, and the highest prediction wins.
The best single member (chosen on validation) and MBR are reported beside stacking, with the
oracle (the best candidate per dialogue by its true score) as the ceiling any selection has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from models.ensemble.meta import REGRESSORS, cross_fit, explain
from models.metrics import rouge_per_example, rouge_scores


@dataclass
class Candidates:
    """The pools of a split: per input, candidate texts, who proposed each (multi-hot over
    members), each member's own greedy summary (an index into the pool), and optional extra
    features per candidate (the members' log-likelihoods)."""

    members: list[str]
    sources: list[str]
    texts: list[list[str]]
    proposed_by: list[np.ndarray]
    own: list[list[int]]  # [input][member] -> index of that member's greedy summary
    extra: list[np.ndarray] | None = None
    extra_names: list[str] = field(default_factory=list)

    @property
    def sizes(self) -> list[int]:
        return [len(t) for t in self.texts]

    def per_input(self, flat: np.ndarray) -> list[np.ndarray]:
        """Split one row per candidate (inputs in order) into one array per input's pool."""
        return np.split(flat, np.cumsum(self.sizes)[:-1])

    def pairs(self) -> list[tuple[str, str]]:
        """Every (source, candidate) pair, inputs in order: what each member scores."""
        return [(source, text) for source, texts in zip(self.sources, self.texts, strict=True) for text in texts]

    def add_log_likelihoods(self, scores: dict[str, dict[tuple[str, str], float]]) -> None:
        """Each member's log-likelihood of each candidate as extra features; `scores[member]`
        maps (source, summary) to the score and may hold more pairs than this pool."""
        flat = np.array([[scores[m][pair] for m in self.members] for pair in self.pairs()]).reshape(-1, len(self.members))
        self.extra = self.per_input(flat)
        self.extra_names = [f"loglik:{m}" for m in self.members]


def build_pool(
    members: list[str],
    sources: list[str],
    greedy: dict[str, list[str]],
    proposals: dict[str, list[list[str]]] | None = None,
) -> Candidates:
    """Pools from each member's greedy summary plus its proposals, de-duplicated."""
    texts, proposed, own = [], [], []
    for i in range(len(sources)):
        pool: dict[str, np.ndarray] = {}
        for a, member in enumerate(members):
            for text in [greedy[member][i], *(proposals[member][i] if proposals else [])]:
                pool.setdefault(text, np.zeros(len(members)))[a] = 1.0
        ordered = list(pool)
        texts.append(ordered)
        proposed.append(np.array([pool[t] for t in ordered]))
        own.append([ordered.index(greedy[m][i]) for m in members])
    return Candidates(members, sources, texts, proposed, own)


@dataclass
class SummarizationEnsemble:
    strategy: str
    members: list[str]
    scores: dict[str, dict[str, dict[str, float]]]
    best_member: str
    weights: dict[str, float] = field(default_factory=dict)
    model: BaseEstimator | None = None
    chosen_test: list[int] = field(default_factory=list)
    pool_size: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "members": self.members, "best_member": self.best_member,
            "scores": self.scores, "weights": self.weights, "mean_pool_size": round(self.pool_size, 2),
        }


def consensus(candidates: Candidates, language: str) -> list[np.ndarray]:
    """Per input, each candidate's mean ROUGE-L against the other candidates of its pool."""
    predictions, references, owners = [], [], []
    for i, pool in enumerate(candidates.texts):
        for a, text in enumerate(pool):
            for b, other in enumerate(pool):
                if a != b:
                    predictions.append(text)
                    references.append(other)
                    owners.append((i, a))
    pairwise = rouge_per_example(predictions, references, language, "rougeL") if predictions else []
    totals = [np.zeros(n) for n in candidates.sizes]
    for (i, a), score in zip(owners, pairwise, strict=True):
        totals[i][a] += score
    return [t / max(len(t) - 1, 1) for t in totals]


def true_scores(candidates: Candidates, references: list[str], language: str) -> list[np.ndarray]:
    flat = rouge_per_example(
        [t for pool in candidates.texts for t in pool],
        [ref for ref, n in zip(references, candidates.sizes, strict=True) for _ in range(n)],
        language, "rougeL",
    )
    return candidates.per_input(np.array(flat))


def candidate_features(candidates: Candidates, language: str) -> tuple[np.ndarray, list[str]]:
    """One row per candidate, inputs in order; log-likelihoods centred per pool, so they compare
    candidates of one dialogue rather than dialogues."""
    agreement = consensus(candidates, language)
    rows = []
    for i, (source, pool) in enumerate(zip(candidates.sources, candidates.texts, strict=True)):
        lengths = np.array([max(len(t.split()), 1) for t in pool], dtype=float)
        source_length = max(len(source.split()), 1)
        columns = [
            candidates.proposed_by[i],
            agreement[i][:, None],
            (lengths / source_length)[:, None],
            (lengths / np.median(lengths))[:, None],
        ]
        if candidates.extra is not None:
            loglik = candidates.extra[i]
            columns += [loglik - loglik.mean(axis=0, keepdims=True), loglik.mean(axis=1, keepdims=True)]
        rows.append(np.hstack(columns))
    names = [f"proposed_by:{m}" for m in candidates.members] + ["consensus_rougeL", "length/source", "length/median"]
    if candidates.extra is not None:
        names += [f"{n} (vs pool)" for n in candidates.extra_names] + ["loglik:mean"]
    return finite_columns(np.vstack(rows)), names


def finite_columns(x: np.ndarray) -> np.ndarray:
    """A member that diverged scores NaN or infinity: in each column, those values become the
    column's lowest finite value (0 where it has none), so the meta-learner reads them as the
    least likely candidates instead of failing on them."""
    x = np.array(x, dtype=float)
    bad = ~np.isfinite(x)
    if bad.any():
        finite = np.where(bad, np.inf, x).min(axis=0)
        x[bad] = np.take(np.where(np.isfinite(finite), finite, 0.0), np.nonzero(bad)[1])
    return x


def pick(candidates: Candidates, per_candidate: np.ndarray | list[np.ndarray]) -> list[int]:
    """Per input, the index of the candidate with the highest value."""
    if isinstance(per_candidate, np.ndarray):
        per_candidate = candidates.per_input(per_candidate)
    return [int(np.argmax(values)) for values in per_candidate]


def texts_at(candidates: Candidates, chosen: list[int]) -> list[str]:
    return [pool[c] for pool, c in zip(candidates.texts, chosen, strict=True)]


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
    splits = {"validation": (validation, references_validation), "test": (test, references_test)}

    def scored(choose: Callable[[Candidates, list[str]], list[int]]) -> dict[str, dict[str, float]]:
        return {
            split: rouge_scores(texts_at(c, choose(c, refs)), refs, language) for split, (c, refs) in splits.items()
        }

    scores: dict[str, dict[str, dict[str, float]]] = {}
    for a, member in enumerate(members):
        scores[member] = scored(lambda c, refs, a=a: [own[a] for own in c.own])
    best = max(members, key=lambda name: scores[name]["validation"][metric])
    scores["best_single"] = scores[best]
    scores["mbr"] = scored(lambda c, refs: pick(c, consensus(c, language)))
    scores["oracle"] = scored(lambda c, refs: pick(c, true_scores(c, refs, language)))
    result = SummarizationEnsemble(strategy, members, scores, best, pool_size=float(np.mean(test.sizes)))
    if strategy != "stacking":
        result.chosen_test = pick(test, consensus(test, language)) if strategy == "mbr" else []
        return result

    x_val, names = candidate_features(validation, language)
    x_test, _ = candidate_features(test, language)
    y_val = np.concatenate(true_scores(validation, references_validation, language))
    groups = np.repeat(np.arange(len(validation.texts)), validation.sizes)
    fitted = cross_fit(REGRESSORS.get(meta_learner)(seed), x_val, y_val, folds=folds, seed=seed, groups=groups)
    chosen_val = pick(validation, fitted.out_of_fold)
    chosen_test = pick(test, fitted.final.predict(x_test))
    scores["stacking"] = {
        "validation": rouge_scores(texts_at(validation, chosen_val), references_validation, language),  # out of fold
        "test": rouge_scores(texts_at(test, chosen_test), references_test, language),
    }
    result.model = fitted.final
    result.weights = explain(fitted.final, names)
    result.chosen_test = chosen_test
    return result
