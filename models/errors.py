"""Errors the data plane raises on purpose, in a module light enough for the driver to import
(the failure policy checks for them without loading transformers)."""

from __future__ import annotations


class NonFiniteLossError(FloatingPointError):
    """The loss was NaN or infinite on more steps than `max_nonfinite_steps` allows."""
