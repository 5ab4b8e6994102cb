"""How config problems are reported: one `ConfigError` holding every `ConfigIssue`, each naming
its field path, the bad value, what is allowed and how to fix it.

Pydantic's errors are translated here into the same form as the cross-field checks' issues, so the
CLI prints one sorted list whichever kind of check found a problem.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from contract.names import suggestion_text
from contract.redact import redact


class ConfigIssue(typing.NamedTuple):
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """Every problem found in one config, each with its field path and fix."""

    def __init__(self, issues: Iterable[ConfigIssue], source: str = ""):
        self.issues = sorted(set(issues), key=lambda i: _path_sort_key(i.path))
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        lines = [f"{len(self.issues)} problem(s){where}:"]
        lines += [f"  - {issue}" for issue in self.issues]
        return redact("\n".join(lines))


def _path_sort_key(path: str) -> list[tuple[int, int, str]]:
    """Sorts `models[10]` after `models[2]`: list indices compare as numbers (before names)."""
    return [(0, int(p), "") if p.isdecimal() else (1, 0, p) for p in path.replace("[", ".").replace("]", "").split(".")]


def _is_tag(part: str) -> bool:
    """A union member's name in pydantic's error location, e.g. `function-after[expand_home(), str]`."""
    return "[" in part and part.endswith("]") and part.split("[", 1)[0].replace("-", "").isalpha()


def _format_path(loc: Iterable[Any]) -> str:
    """Pydantic's location tuple as the user writes it: `models[0].lora.r`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation can hold (through Optional, list, Annotated, unions)."""
    origin = typing.get_origin(annotation)
    if origin is None:
        return [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    return [m for arg in typing.get_args(annotation) for m in _unwrap(arg)]


def _fields_at(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """Field names allowed at `loc` below `root`, for 'did you mean' on unknown keys."""
    models: list[type[BaseModel]] = [root]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for model in models:
            field = model.model_fields.get(part)
            if field is not None:
                nxt += _unwrap(field.annotation)
        models = nxt
    return sorted({name for model in models for name in model.model_fields})


def _issues_from_validation(error: ValidationError, root: type[BaseModel]) -> list[ConfigIssue]:
    """Pydantic's errors for a `root` document as issues: unknown keys get the allowed ones and a
    suggestion, our own `choice` errors keep their message, the rest show the bad value."""
    issues = []
    for err in error.errors():
        kind = err["type"]
        # pydantic names the member of a union it tried (`function-after[...]`); the user's keys stay,
        # even one that holds brackets itself (the last part of an unknown key's location)
        last = len(err["loc"]) - 1 if kind == "extra_forbidden" else -1
        loc = tuple(p for i, p in enumerate(err["loc"]) if i == last or not (isinstance(p, str) and _is_tag(p)))
        path = _format_path(loc)
        if kind == "extra_forbidden":
            allowed = _fields_at(loc[:-1], root)
            hint = suggestion_text(str(loc[-1]), allowed)
            message = f"unknown key{hint}; allowed here: {', '.join(allowed)}"
        elif kind == "missing":
            message = "is required but missing; add it"
        elif kind == "choice":
            message = err["msg"]
        else:
            value = err.get("input")
            shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
            message = f"{shown} is invalid: {err['msg'].lower()}"
        issues.append(ConfigIssue(path, message))
    return issues
