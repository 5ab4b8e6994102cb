"""The ensemble's messages: what the driver gathers from the members, and the steps that compute
with it in an actor (`contract.work`: ENSEMBLE_SPLIT, ENSEMBLE_FIT, ENSEMBLE_APPLY).

The driver only steers: it asks the members for their predictions, beams and scores, and hands
them, as plain data, to a step that splits folds, fits and chooses the meta-learner, or applies
the chosen ensemble to new inputs (`models.ensemble`). The pools of candidate summaries are
assembled here without numpy, because the driver must know which (source, summary) pairs to ask
each member to score; the data plane turns the same parts into its feature arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Probabilities = dict[str, list[list[float]]]  # per member, each input's class probabilities in label order


def pairs_of(sources: list[str], texts: list[list[str]]) -> list[tuple[str, str]]:
    """Every (source, candidate) pair, inputs in order: what each member scores."""
    return [(source, text) for source, pool in zip(sources, texts, strict=True) for text in pool]


@dataclass(frozen=True)
class PoolParts:
    """One split's pools of candidate summaries, as the members made them: per input its source,
    each member's own (greedy) summary and, for stacking, its top beams; once the members have
    scored the pools, each member's log-likelihood of every pair, in `pairs()` order."""

    members: list[str]
    sources: list[str]
    own: dict[str, list[str]]
    beams: dict[str, list[list[str]]] | None = None
    log_likelihoods: dict[str, list[float]] | None = None

    def proposed(self, member: str, i: int) -> list[str]:
        """What `member` put into input `i`'s pool: its own summary, then its beams."""
        return [self.own[member][i], *(self.beams[member][i] if self.beams else [])]

    def texts(self) -> list[list[str]]:
        """Per input, its pool: the members' proposals in member order, each text once."""
        pools = []
        for i in range(len(self.sources)):
            pool: dict[str, None] = {}
            for member in self.members:
                pool.update(dict.fromkeys(self.proposed(member, i)))
            pools.append(list(pool))
        return pools

    def pairs(self) -> list[tuple[str, str]]:
        return pairs_of(self.sources, self.texts())

    def of(self, members: list[str]) -> PoolParts:
        """The pools without the proposals of members not in `members` (who dropped out)."""
        return PoolParts(list(members), self.sources, {m: self.own[m] for m in members},
                         {m: self.beams[m] for m in members} if self.beams is not None else None)

    def scored(self, asked: list[tuple[str, str]], scores: dict[str, list[float]]) -> PoolParts:
        """These pools with each member's log-likelihoods: `scores[member]` answers `asked`, which
        may hold more pairs than these pools (those of members who dropped out since)."""
        looked_up = {m: dict(zip(asked, scores[m], strict=True)) for m in self.members}
        pairs = self.pairs()
        return PoolParts(self.members, self.sources, self.own, self.beams,
                         {m: [looked_up[m][pair] for pair in pairs] for m in self.members})

    @classmethod
    def concatenate(cls, parts: list[PoolParts]) -> PoolParts:
        """One split's pools from several parts' (folds), inputs in the parts' order."""
        members = parts[0].members
        if any(part.members != members for part in parts):
            raise ValueError("pools of different members cannot be put together")
        return cls(members, [s for part in parts for s in part.sources], _joined([p.own for p in parts], members),
                   _joined_or_none([p.beams for p in parts], members),
                   _joined_or_none([p.log_likelihoods for p in parts], members))


def _joined(each: list[dict[str, list[Any]]], members: list[str]) -> dict[str, list[Any]]:
    return {m: [x for values in each for x in values[m]] for m in members}


def _joined_or_none(each: list[dict[str, list[Any]] | None], members: list[str]) -> dict[str, list[Any]] | None:
    given = [values for values in each if values is not None]
    if given and len(given) < len(each):
        raise ValueError("pools with and without beams or scores cannot be put together")
    return _joined(given, members) if given else None


# --------------------------------------------------------------------------- cross-fitted members' folds


@dataclass(frozen=True)
class Fold:
    index: int  # 1..count
    count: int
    train: Path  # the training rows outside the fold: what its models train on
    held_out: Path  # the fold's rows: what its models predict

    @property
    def name(self) -> str:
        return f"{self.index}of{self.count}"


@dataclass(frozen=True)
class SplitRequest:
    """`count` folds of the job's training rows, shuffled by `seed` (stratified by the column
    `stratify_by` where every class has enough rows), written under `out_dir`."""

    out_dir: str
    count: int
    seed: int
    stratify_by: str | None = None


@dataclass(frozen=True)
class SplitResult:
    folds: list[Fold]


# --------------------------------------------------------------------------- fitting the ensemble


@dataclass(frozen=True)
class ClassifierInputs:
    """Per split (validation, test and, with cross-fitted members, train): each member's class
    probabilities and the gold labels."""

    labels: list[str]
    probabilities: dict[str, Probabilities]
    gold: dict[str, list[str]]


@dataclass(frozen=True)
class SummaryInputs:
    """Per split: the pools and each input's references (several combined by `combine`); the test
    inputs' ids name the chosen summaries in the test predictions file."""

    pools: dict[str, PoolParts]
    references: dict[str, list[list[str]]]
    language: str
    combine: str
    test_ids: list[Any]  # as the test rows have them


@dataclass(frozen=True)
class FitRequest:
    """Every method's picks on validation and test, the one chosen on validation, and the fitted
    meta-learner, written with the test predictions into the step's directory (`ensemble/`)."""

    strategy: str
    meta_learner: str
    folds: int
    seed: int
    metric: str
    inputs: ClassifierInputs | SummaryInputs


@dataclass(frozen=True)
class FitResult:
    """ensemble.json's findings (members, scores, the choice and why, every method against the
    best single member, the meta-learner's weights) and the meta-learner's file, named relative
    to `ensemble/`, with its sha256 (None when the chosen method has none)."""

    summary: dict[str, Any]
    meta_learner_file: str | None = None
    meta_learner_sha256: str | None = None


# --------------------------------------------------------------------------- applying it to new inputs


@dataclass(frozen=True)
class ChosenEnsemble:
    """What the ensemble stage chose on validation, as `predict` and `serve` apply it: the method,
    the members it needs, the labels (classification) and, for stacking, the meta-learner's file
    in the run's `ensemble/` with the sha256 it must still have when it is loaded."""

    method: str
    members: list[str]
    labels: tuple[str, ...]
    meta_learner_file: str | None = None
    meta_learner_sha256: str | None = None

    @property
    def stacking(self) -> bool:
        return self.method.startswith("stacking")


class Combines(Protocol):
    """The chosen method ready to combine (`models.ensemble.apply.Combiner`): what `serve`'s
    gateway holds, and what the `ensemble-apply` step uses."""

    def classify(self, probabilities: Probabilities) -> list[str]: ...

    def summarize(self, parts: PoolParts, language: str) -> list[str]: ...


@dataclass(frozen=True)
class ApplyRequest:
    """The chosen ensemble over new inputs: the members' class probabilities, or the inputs'
    pools (scored, for stacking)."""

    chosen: ChosenEnsemble
    inputs: Probabilities | PoolParts
    language: str


@dataclass(frozen=True)
class ApplyResult:
    predictions: list[str]  # per input, the label or summary chosen
