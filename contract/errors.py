"""Errors and error patterns both planes know: the data plane raises or matches them, the
driver's failure policy classifies by them without importing torch or transformers."""

from __future__ import annotations

import re

OUT_OF_MEMORY = re.compile(
    r"out of memory|OutOfMemoryError|can't allocate memory|Cannot allocate memory|MemoryError|std::bad_alloc"
    r"|Failed to allocate memory",
    re.IGNORECASE,
)


class NonFiniteLossError(FloatingPointError):
    """The loss was NaN or infinite on more steps than `max_nonfinite_steps` allows."""
