"""How numbers read in the terminal and in report.md."""

from __future__ import annotations

from typing import Any


def fmt_number(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "-"
