"""What the cross-field checks share: each section's `check_raw` reads the raw YAML dict, not the
validated model, so its problems are reported together with pydantic's type errors instead of
after them. Every read is therefore defensive: a section may be missing, null or of the wrong type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contract.families import families_for
from contract.fields import TASK_TYPES
from contract.names import canonical_name


def section(raw: Any) -> dict[str, Any]:
    """A raw section as a dict; anything else (None, a list, a typo'd scalar) reads as empty."""
    return raw if isinstance(raw, dict) else {}


def number_or_none(value: Any) -> float | None:
    """A number as pydantic will read it (YAML reads 1e-3, without a dot, as a string)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class RawContext:
    """The facts from other sections a section's check may need: the task type and the
    candidates' names."""

    task_type: str
    candidate_names: tuple[str, ...]

    @classmethod
    def of(cls, raw: dict[str, Any]) -> RawContext:
        task = section(raw.get("task"))
        entries = raw.get("models") if isinstance(raw.get("models"), list) else []
        names = tuple(e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str))
        return cls(canonical_name(str(task.get("type", "summarization"))), names)

    @property
    def task_known(self) -> bool:
        """False for a misspelled task type: its own error is enough, checks against it are skipped."""
        return self.task_type in TASK_TYPES

    @property
    def families(self) -> tuple[str, ...]:
        """The families that can do this task (empty when the task type is unknown)."""
        return families_for(self.task_type)
