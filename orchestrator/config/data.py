"""The `task` and `data` sections: what the candidates learn and where the examples come from.

`TaskConfig` itself lives in `contract.settings` (a training actor needs it too); its cross-field
check is here, next to the data it decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from contract.fields import CLASSIFICATION_METRICS, SUMMARIZATION_METRICS, HomePath, Language, Strict
from contract.names import suggestion_text
from orchestrator.config.errors import ConfigIssue
from orchestrator.config.raw import RawContext, section


class BuiltinData(Strict):
    language: Language | None = Field(None, description="Default: the task's language.")
    train_size: int = Field(1200, gt=0, description="Generated training rows.")
    validation_size: int = Field(150, ge=0, description="Generated validation rows; 0: no validation split.")
    test_size: int = Field(150, ge=0, description="Generated test rows; 0: no test split.")
    seed: int = Field(0, description="Seed of the generator.")


class DataConfig(Strict):
    builtin: BuiltinData | None = Field(
        None, description="Generated data: dialogues with summaries, or messages with intents, in Korean or English; "
                          "set either this or train."
    )
    train: HomePath | None = Field(None, description="The training split: a .jsonl, .csv or .json file.")
    validation: HomePath | None = Field(
        None, description="The validation split (same formats); tune, early stopping, the ensemble and optimize "
                          "need it."
    )
    test: HomePath | None = Field(None, description="The test split (same formats); the ensemble needs it.")
    max_train_samples: int | None = Field(None, gt=0, description="Use only the first N rows of data.train.")
    max_eval_samples: int | None = Field(
        None, gt=0, description="Use only the first N rows of data.validation and data.test."
    )


def check_task_raw(raw: Any, context: RawContext) -> list[ConfigIssue]:
    """The metric must be one the task type reports."""
    metric = section(raw).get("metric")
    allowed = SUMMARIZATION_METRICS if context.task_type == "summarization" else CLASSIFICATION_METRICS
    if metric is None or not context.task_known or metric in allowed:
        return []
    return [ConfigIssue(
        "task.metric",
        f"{metric!r} does not fit a {context.task_type} task; use one of: "
        f"{', '.join(allowed)}{suggestion_text(str(metric), allowed)}",
    )]


def check_data_raw(raw: Any, context: RawContext) -> list[ConfigIssue]:
    """Exactly one source of training data, and split files in a format the loader reads.
    Called only when the file has a `data` section (the default is the builtin data)."""
    data = section(raw)
    issues = []
    if data.get("builtin") is not None and data.get("train") is not None:
        issues.append(ConfigIssue("data", "set either data.builtin or data.train, not both"))
    if data.get("builtin") is None and data.get("train") is None:
        issues.append(ConfigIssue(
            "data.train", "no training data; give data.train (CSV or JSONL) or data.builtin: {}"
        ))
    for split in ("train", "validation", "test"):
        value = data.get(split)
        if isinstance(value, str) and Path(value).suffix.lower() not in (".csv", ".jsonl", ".json"):
            issues.append(ConfigIssue(f"data.{split}", f"{value!r}: use a .csv or .jsonl file"))
    return issues
