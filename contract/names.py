"""Name matching used wherever a user types a name: presets, families, candidates, config files.

Users write `solar-10.7b`, `Solar_10.7B` and `solar_10.7b` for the same thing; a lookup that
treats them as different names costs a run. Every lookup goes through `canonical_name`, and a
miss answers with the closest known names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


def canonical_name(name: str) -> str:
    """Lower-case, with runs of '-', '_' and spaces folded to one '-'."""
    return re.sub(r"[-_\s]+", "-", name.strip().lower())


def did_you_mean(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The closest known names to `name`, best first (empty when nothing is close)."""
    by_canonical = {canonical_name(k): k for k in known}
    matches = difflib.get_close_matches(canonical_name(name), list(by_canonical), n=n, cutoff=0.7)
    return [by_canonical[m] for m in matches]


def suggestion_text(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' or '' — ready to append to an error message."""
    close = did_you_mean(name, known)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


class UnknownNameError(KeyError):
    """A looked-up name matches nothing; the message lists what exists and the closest names."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(
            f"unknown {kind} '{name}'{suggestion_text(name, self.known)}; "
            f"known: {', '.join(self.known) or 'none'}"
        )

    def __str__(self) -> str:
        return self.args[0]


def lookup(kind: str, name: str, table: Mapping[str, T]) -> T:
    """`table[name]`, matched case-, hyphen- and underscore-insensitively."""
    wanted = canonical_name(name)
    for key, value in table.items():
        if canonical_name(key) == wanted:
            return value
    raise UnknownNameError(kind, name, table.keys())


class Registry(Generic[T]):
    """A name table with case/hyphen-insensitive lookup and 'did you mean' on a miss."""

    def __init__(self, kind: str, entries: dict[str, T]):
        self.kind = kind
        self._entries = {canonical_name(k): (k, v) for k, v in entries.items()}

    def names(self) -> list[str]:
        return sorted(name for name, _ in self._entries.values())

    def get_or_none(self, name: str) -> T | None:
        hit = self._entries.get(canonical_name(name))
        return hit[1] if hit else None

    def get(self, name: str) -> T:
        hit = self.get_or_none(name)
        if hit is None:
            raise UnknownNameError(self.kind, name, self.names())
        return hit
