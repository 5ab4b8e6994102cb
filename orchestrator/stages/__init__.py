"""Pipeline stages; each reads and writes the run directory."""

from __future__ import annotations

from typing import Any


def skipped(reason: str) -> dict[str, Any]:
    """A stage's summary section when it did not run, and why."""
    return {"status": "skipped", "reason": reason}
