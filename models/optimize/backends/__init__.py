"""The INT8 backends, one module each, behind `QuantizationBackend` (see `base.py`); each is the
class its row in `contract.optimize.BACKENDS` names, imported on first use and looked up by name,
ignoring case and hyphens."""

from __future__ import annotations

from functools import cache

from contract.names import lookup
from contract.optimize import BACKENDS as TABLE
from contract.work import resolve
from models.optimize.backends.base import QuantizationBackend

BACKENDS = tuple(TABLE)


def quantization_backend(name: str) -> QuantizationBackend:
    """The backend called `name` (case and hyphens ignored); UnknownNameError with suggestions."""
    return _backend(lookup("quantization backend", name, TABLE).name)


@cache
def _backend(name: str) -> QuantizationBackend:
    """One instance per backend, for the process: what a test patches on it stays patched."""
    backend: QuantizationBackend = resolve(TABLE[name].implementation)(name)
    return backend
