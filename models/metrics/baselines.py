"""Scores of baselines a trained candidate must clear, computed where the metric libraries are loaded.

The driver never imports `evaluate` (it pulls in torch and transformers, about 10 s on 2 cores);
it asks preflight's inspection child, which has them loaded already, for these scores."""

from __future__ import annotations

from models.data.builtin import lead_baseline
from models.data.files import read_rows
from models.metrics import rouge_scores


def lead_scores(splits: dict[str, str], source: str, target: str, language: str) -> dict[str, dict[str, float]]:
    """ROUGE of copying each dialogue's first turn, per split (`splits`: split name -> JSONL path)."""
    scores = {}
    for split, path in splits.items():
        rows = read_rows(path)
        scores[split] = rouge_scores([lead_baseline(str(r[source])) for r in rows],
                                     [str(r[target]) for r in rows], language)
    return scores
