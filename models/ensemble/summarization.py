"""Summarization ensembles: choose, per dialogue, one summary from a pool of candidates.

The pool of a dialogue holds every member's own (greedy) summary and, when the stage asks, each
member's top beam-search candidates; every member then scores every candidate (length-normalised
log-likelihood of the summary given the dialogue).

- MBR (minimum Bayes risk): the candidate that agrees most with the others (mean ROUGE-L).
- Stacking: each candidate's features are the members' log-likelihoods of it, which members
  proposed it, its agreement with the rest of the pool and with each member's own summary, its
  length against the source and the pool, and how much of it the source covers; a meta-learner,
  cross-fitted on validation with a dialogue's whole pool in one fold, scores it (a regression of
  its ROUGE against the reference, or a ranker of the pool's candidates), and the highest wins.
The method used is chosen on validation (`selection`); every method is reported against the best
single member (chosen on validation), with the oracle (the best candidate per dialogue by its
true score) as the ceiling any selection has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from contract.ensemble import PoolParts, pairs_of
from models.ensemble.meta import REGRESSORS, ExtraRows, cross_fit, explain
from models.ensemble.selection import EnsembleResult, choose, mean_difference, stacking_learners, stacking_methods
from models.metrics import References, rouge_per_example, rouge_scores


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
        return pairs_of(self.sources, self.texts)

    def add_log_likelihoods(self, scores: dict[str, dict[tuple[str, str], float]]) -> None:
        """Each member's log-likelihood of each candidate as extra features; `scores[member]`
        maps (source, summary) to the score and may hold more pairs than this pool."""
        pairs = self.pairs()
        self.set_log_likelihoods({m: [scores[m][pair] for pair in pairs] for m in self.members})

    def set_log_likelihoods(self, scores: dict[str, list[float]]) -> None:
        """Each member's log-likelihood of each candidate, one per pair in `pairs()` order."""
        flat = np.array([scores[m] for m in self.members], dtype=float).T.reshape(-1, len(self.members))
        self.extra = self.per_input(flat)
        self.extra_names = [f"loglik:{m}" for m in self.members]


def build_pool(
    members: list[str],
    sources: list[str],
    greedy: dict[str, list[str]],
    proposals: dict[str, list[list[str]]] | None = None,
) -> Candidates:
    """Pools from each member's greedy summary plus its proposals, de-duplicated."""
    return pool_of(PoolParts(members, sources, greedy, proposals))


def pool_of(parts: PoolParts) -> Candidates:
    """The pools the members' parts make (`PoolParts.texts`), with who proposed each candidate and,
    when the parts are scored, the members' log-likelihoods as extra features."""
    members, texts = parts.members, parts.texts()
    proposed, own = [], []
    for i, pool in enumerate(texts):
        where = {text: k for k, text in enumerate(pool)}
        hot = np.zeros((len(pool), len(members)))
        for a, member in enumerate(members):
            hot[[where[text] for text in parts.proposed(member, i)], a] = 1.0
        proposed.append(hot)
        own.append([where[parts.own[m][i]] for m in members])
    candidates = Candidates(members, parts.sources, texts, proposed, own)
    if parts.log_likelihoods is not None:
        candidates.set_log_likelihoods(parts.log_likelihoods)
    return candidates


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


def true_scores(candidates: Candidates, references: References, language: str, metric: str = "rougeL",
                combine: str = "mean") -> list[np.ndarray]:
    """Per input, each candidate's score against the reference, or its several references
    combined by `combine` (the task's ROUGE)."""
    flat = rouge_per_example(
        [t for pool in candidates.texts for t in pool],
        [ref for ref, n in zip(references, candidates.sizes, strict=True) for _ in range(n)],
        language, metric, combine,
    )
    return candidates.per_input(np.array(flat))


def agreement_with_members(candidates: Candidates, language: str) -> list[np.ndarray]:
    """Per input, each candidate's ROUGE-L against each member's own (greedy) summary: which
    member a candidate sides with, for a meta-learner that learns whom to trust."""
    predictions, references = [], []
    for pool, own in zip(candidates.texts, candidates.own, strict=True):
        for text in pool:
            predictions += [text] * len(own)
            references += [pool[o] for o in own]
    flat = np.array(rouge_per_example(predictions, references, language, "rougeL")) if predictions else np.zeros(0)
    return candidates.per_input(flat.reshape(-1, len(candidates.members)))


def source_overlap(source: str, pool: list[str]) -> np.ndarray:
    """Per candidate: the share of its words found in the source (coverage, against invented
    content) and the share of its word pairs not in the source (novelty, abstraction or drift)."""
    words = source.split()
    vocabulary, bigrams = set(words), set(zip(words, words[1:], strict=False))
    rows = []
    for text in pool:
        tokens = text.split()
        pairs = list(zip(tokens, tokens[1:], strict=False))
        covered = sum(t in vocabulary for t in tokens) / max(len(tokens), 1)
        novel = sum(p not in bigrams for p in pairs) / max(len(pairs), 1)
        rows.append((covered, novel))
    return np.array(rows, dtype=float).reshape(len(pool), 2)


def candidate_features(candidates: Candidates, language: str) -> tuple[np.ndarray, list[str]]:
    """One row per candidate, inputs in order; log-likelihoods centred per pool, so they compare
    candidates of one dialogue rather than dialogues."""
    agreement = consensus(candidates, language)
    with_members = agreement_with_members(candidates, language)
    rows = []
    for i, (source, pool) in enumerate(zip(candidates.sources, candidates.texts, strict=True)):
        lengths = np.array([max(len(t.split()), 1) for t in pool], dtype=float)
        source_length = max(len(source.split()), 1)
        columns = [
            candidates.proposed_by[i],
            agreement[i][:, None],
            with_members[i],
            (lengths / source_length)[:, None],
            (lengths / np.median(lengths))[:, None],
            source_overlap(source, pool),
        ]
        if candidates.extra is not None:
            loglik = candidates.extra[i]
            columns += [loglik - loglik.mean(axis=0, keepdims=True), loglik.mean(axis=1, keepdims=True)]
        rows.append(np.hstack(columns))
    names = ([f"proposed_by:{m}" for m in candidates.members] + ["consensus_rougeL"]
             + [f"agrees_with:{m}" for m in candidates.members]
             + ["length/source", "length/median", "source_coverage", "bigram_novelty"])
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
    references_validation: References,
    references_test: References,
    language: str,
    *,
    meta_learner: str = "auto",
    folds: int = 5,
    seed: int = 0,
    metric: str = "rougeL",
    train: Candidates | None = None,
    references_train: References | None = None,
    combine: str = "mean",
    progress: Callable[[str], None] | None = None,
) -> EnsembleResult:
    """Every method's picks on validation (out of fold for meta-learners) and test, the method
    chosen on validation (`strategy` auto: among all; otherwise among that strategy's), and each
    method against the best single member on test with its interval. `train`: pools of training
    inputs made by fold models that never saw them (`ensemble.cross_fit_members`): every
    meta-learner is then also fitted with them (`stacking:<learner>+train`), and validation decides. References: one or several per input (several combined by
    `combine`, as the task scores them). `progress` is told each part of the work before it starts."""
    tell = progress or (lambda _: None)
    members = validation.members
    splits = {"validation": (validation, references_validation), "test": (test, references_test)}
    tell("scoring the candidates")
    truth = {split: true_scores(c, refs, language, metric, combine) for split, (c, refs) in splits.items()}
    picks: dict[str, dict[str, list[int]]] = {
        member: {split: [own[a] for own in c.own] for split, (c, _) in splits.items()}
        for a, member in enumerate(members)
    }
    scores = {member: _scored(picks[member], splits, language, combine) for member in members}
    best = max(members, key=lambda name: scores[name]["validation"][metric])
    picks["best_single"] = picks[best]
    tell("mbr")
    picks["mbr"] = {split: pick(c, consensus(c, language)) for split, (c, _) in splits.items()}
    picks["oracle"] = {split: pick(c, truth[split]) for split, (c, _) in splits.items()}

    learners = stacking_learners(strategy, meta_learner, REGRESSORS.names())
    fitted, names = {}, []
    if learners:
        tell("features")
        x_val, names = candidate_features(validation, language)
        x_test, _ = candidate_features(test, language)
        y_val = np.concatenate(truth["validation"])
        extra = training_rows(train, references_train, language, metric, combine) if train is not None else None
        for method, learner, with_extra in stacking_methods(learners, extra is not None):
            tell(method)
            fit = cross_fit(REGRESSORS.get(learner)(seed), x_val, y_val, folds=folds, seed=seed,
                            groups=pool_ids(validation), extra=extra if with_extra else None)
            picks[method] = {"validation": pick(validation, fit.out_of_fold), "test": pick(test, fit.final.predict(x_test))}
            fitted[method] = fit.final
    scores |= {method: _scored(chosen, splits, language, combine) for method, chosen in picks.items()
               if method not in scores}

    per_example = {method: {split: np.array([t[c] for t, c in zip(truth[split], chosen[split], strict=True)])
                            for split in splits} for method, chosen in picks.items()}
    candidates = {"auto": ["best_single", "mbr", *fitted], "stacking": list(fitted), "mbr": ["mbr"]}[strategy]
    choice = choose({m: float(per_example[m]["validation"].mean()) for m in candidates},
                    lambda a, b: mean_difference(per_example[a]["validation"], per_example[b]["validation"], seed=seed))
    versus = {method: {metric: mean_difference(per_example[method]["test"], per_example["best_single"]["test"],
                                               seed=seed).as_dict()}
              for method in candidates if method != "best_single"}
    model = fitted.get(choice.method)
    details: dict[str, Any] = {"mean_pool_size": round(float(np.mean(test.sizes)), 2)}
    if train is not None and learners:
        details["training_pools"] = len(train.texts)
    return EnsembleResult(
        strategy, members, best, scores, choice, versus, model,
        weights=explain(model, names) if model is not None else {},
        chosen_test=picks[choice.method]["test"],
        extra=details,
    )


def pool_ids(candidates: Candidates) -> np.ndarray:
    """Per candidate row, the number of its input's pool."""
    return np.repeat(np.arange(len(candidates.texts)), candidates.sizes)


def training_rows(train: Candidates, references: References | None, language: str, metric: str,
                  combine: str = "mean") -> ExtraRows:
    """The training split's pools as rows every meta-learner fit learns from: features, true scores
    against the references, pool numbers."""
    if references is None or len(references) != len(train.texts):
        raise ValueError("the training pools need the references of every input")
    x, _ = candidate_features(train, language)
    y = np.concatenate(true_scores(train, references, language, metric, combine))
    return ExtraRows(x, y, pool_ids(train))


def _scored(chosen: dict[str, list[int]], splits: dict[str, tuple[Candidates, References]],
            language: str, combine: str) -> dict[str, dict[str, float]]:
    return {split: rouge_scores(texts_at(c, chosen[split]), refs, language, combine)
            for split, (c, refs) in splits.items()}
