"""Errors the data plane raises on purpose; they live in `contract.errors` so the driver's failure
policy can check for them without loading torch (kept here under their old import path)."""

from __future__ import annotations

from contract.errors import NonFiniteLossError as NonFiniteLossError
