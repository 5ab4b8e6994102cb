"""A family's classes, importable without torch: the ones its row in `contract.families` names,
imported only when a candidate needs them. Sources and `scratch:` presets are
`contract.sources`, which the driver reads too.
"""

from __future__ import annotations

from typing import Any

from contract.families import family
from contract.work import resolve


def load_family(name: str) -> Any:
    """The family class for `name` (its row's `implementation`), imported on first use."""
    return resolve(family(name).implementation)


def auto_model_class(name: str) -> Any:
    """The transformers Auto class that builds and loads family `name`'s models."""
    return resolve(family(name).auto_class)
