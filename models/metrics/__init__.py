"""Task metrics, on a 0-100 scale: ROUGE through `evaluate` (offline, Hangul-aware) and
accuracy / macro-F1 through scikit-learn."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

_ROUGE_MODULE = Path(__file__).parent / "rouge"


@cache
def _rouge() -> Any:
    import evaluate

    return evaluate.load(str(_ROUGE_MODULE))


def rouge_scores(predictions: list[str], references: list[str], language: str) -> dict[str, float]:
    """ROUGE-1/2/L/Lsum F-measures x100. Sentences for rougeLsum are split on newlines."""
    if not predictions:
        return {}
    scores = _rouge().compute(predictions=predictions, references=references, language=language)
    return {name: round(100 * float(value), 3) for name, value in scores.items()}


def rouge_per_example(predictions: list[str], references: list[str], language: str, rouge_type: str = "rougeL") -> list[float]:
    scores = _rouge().compute(
        predictions=predictions, references=references, language=language,
        rouge_types=[rouge_type], use_aggregator=False,
    )
    return [100 * s for s in scores[rouge_type]]


def classification_scores(predicted: list[str], gold: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    if not predicted:
        return {}
    return {
        "accuracy": round(100 * float(accuracy_score(gold, predicted)), 3),
        "macro_f1": round(100 * float(f1_score(gold, predicted, average="macro", zero_division=0)), 3),
    }
