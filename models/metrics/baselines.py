"""Scores of baselines a trained candidate must clear, computed where the metric libraries are loaded.

The driver never imports `evaluate` (it pulls in torch and transformers, about 10 s on 2 cores);
it asks preflight's inspection child, which has them loaded already, for these scores."""

from __future__ import annotations

from contract.rows import read_rows, row_references
from models.data.builtin import lead_baseline
from models.metrics import classification_scores, rouge_scores


def lead_scores(splits: dict[str, str], source: str, target: str, language: str,
                combine: str = "mean") -> dict[str, dict[str, float]]:
    """ROUGE of copying each dialogue's first turn, per split (`splits`: split name -> JSONL path),
    against every reference of a row (combined by `combine`)."""
    scores = {}
    for split, path in splits.items():
        rows = read_rows(path)
        scores[split] = rouge_scores([lead_baseline(str(r[source])) for r in rows],
                                     [row_references(r, target) for r in rows], language, combine)
    return scores


def majority_scores(splits: dict[str, str], target: str, label: str) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 of answering `label` (the most frequent training label) for every row,
    per split: what a classifier that learned nothing about its inputs gets."""
    scores = {}
    for split, path in splits.items():
        gold = [str(r[target]) for r in read_rows(path)]
        scores[split] = classification_scores([label] * len(gold), gold)
    return scores
