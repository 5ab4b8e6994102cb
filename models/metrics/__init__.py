"""Task metrics, on a 0-100 scale: ROUGE through `evaluate` (offline, Hangul-aware) and
accuracy / macro-F1 through scikit-learn."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from contract.rows import row_references

_ROUGE_MODULE = Path(__file__).parent / "rouge"


@cache
def _rouge() -> Any:
    import evaluate

    return evaluate.load(str(_ROUGE_MODULE))


References = list[str] | list[list[str]]  # one reference per prediction, or several
ROUGE_MEAN = ("rouge1", "rouge2", "rougeL")  # `rouge_mean`: their mean, the Korean contest's score


def rouge_scores(predictions: list[str], references: References, language: str,
                 combine: str = "mean") -> dict[str, float]:
    """ROUGE-1/2/L/Lsum F-measures x100, and `rouge_mean` (the mean of ROUGE-1, ROUGE-2 and
    ROUGE-L). An example with several references is scored against each, combined by `combine`
    (mean or max). Sentences for rougeLsum are split on newlines."""
    if not predictions:
        return {}
    scores = _rouge().compute(predictions=predictions, references=references, language=language, combine=combine)
    out = {name: 100 * float(value) for name, value in scores.items()}
    out["rouge_mean"] = sum(out[name] for name in ROUGE_MEAN) / len(ROUGE_MEAN)
    return {name: round(value, 3) for name, value in out.items()}


def rouge_per_example(predictions: list[str], references: References, language: str, rouge_type: str = "rougeL",
                      combine: str = "mean") -> list[float]:
    """Each example's score x100 (`rouge_type` may be `rouge_mean`)."""
    types = list(ROUGE_MEAN) if rouge_type == "rouge_mean" else [rouge_type]
    scores = _rouge().compute(
        predictions=predictions, references=references, language=language,
        rouge_types=types, use_aggregator=False, combine=combine,
    )
    return [100 * sum(values) / len(types) for values in zip(*(scores[t] for t in types), strict=True)]


def summary_scores(predictions: list[str], rows: list[dict[str, Any]], task: Any) -> dict[str, float]:
    """ROUGE of `predictions` against the references of `rows`, as the task combines several."""
    target = task.resolved_target_column()
    return rouge_scores(predictions, [row_references(r, target) for r in rows], task.language, task.multi_reference)


def classification_scores(predicted: list[str], gold: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    if not predicted:
        return {}
    return {
        "accuracy": round(100 * float(accuracy_score(gold, predicted)), 3),
        "macro_f1": round(100 * float(f1_score(gold, predicted, average="macro", zero_division=0)), 3),
    }
