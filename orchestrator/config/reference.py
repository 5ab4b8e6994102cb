"""The configuration reference (`docs/reference/config.md`), generated from the experiment schema.

Why generated: a reference written by hand drifts from the schema the moment a field, default or
bound changes, and nothing notices. Here the pydantic models are the one source: this module walks
`ExperimentConfig` from the top, follows nested models, lists and unions, and renders one table per
model with every field's dotted path, type, default, allowed values or bounds, and description (the
`description=` of its `Field`). `tests/test_docs.py` fails when the committed file differs from what
this renders, so the reference cannot go stale unseen.

    python -m orchestrator.config.reference            # print it
    python -m orchestrator.config.reference --write    # write docs/reference/config.md
    python -m orchestrator.config.reference --check    # exit 1 when the committed file is stale
"""

from __future__ import annotations

import argparse
import enum
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from contract.fields import TableChoice, expand_home
from contract.settings import CandidateConfig
from orchestrator.config.experiment import ExperimentConfig

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "config.md"
WRITE_COMMAND = "python -m orchestrator.config.reference --write"

# A `models` entry may override any field of `defaults` by the same name (`ExperimentConfig.settings_for`
# merges them by name); such a field says so instead of repeating the default's description.
OVERRIDES: dict[type[BaseModel], str] = {CandidateConfig: "defaults"}

PREFACE = f"""\
# Configuration reference

Every field of the experiment file, with its type, default, allowed values and meaning. This page
is generated from the schema (`orchestrator/config/`, `contract/settings.py`) by
`{WRITE_COMMAND}`: change a field's `description=` there, never this
file (`tests/test_docs.py` fails when it is stale).

For an annotated example and what the settings mean together, read
[the experiment file](../guide/experiment-file.md) and [candidates](../guide/candidates.md).
Names of choices are matched ignoring case, `-` and `_` (`BF16`, `gradient-boosting`); an unknown
key is an error, never ignored. A `models` entry may override any field of `defaults`; nested
mappings (`resources`, `timeouts`, ...) merge key by key.
"""

_BASIC = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "mapping", Any: "any"}


@dataclass(frozen=True)
class Row:
    path: str
    type: str
    default: str
    allowed: str
    description: str


@dataclass(frozen=True)
class Table:
    path: str  # the model's dotted path; "" for the file's top level
    model: type[BaseModel]


def schema_tables(root: type[BaseModel] = ExperimentConfig) -> list[Table]:
    """Every model reachable from `root`, depth first in field order, each at the first path it
    appears under; a model met again (a candidate's `resources`) links to that table instead."""
    tables: list[Table] = []
    seen: set[type[BaseModel]] = set()

    def visit(path: str, model: type[BaseModel]) -> None:
        seen.add(model)
        tables.append(Table(path, model))
        for name, field in model.model_fields.items():
            for nested, in_list in _models_in(field.annotation):
                if nested not in seen:
                    visit(f"{path}.{name}".lstrip(".") + ("[]" if in_list else ""), nested)

    visit("", root)
    return tables


def _models_in(tp: Any, in_list: bool = False) -> list[tuple[type[BaseModel], bool]]:
    """The pydantic models inside a type, each with whether it sits inside a list."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [(tp, in_list)]
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return []
    return [m for arg in typing.get_args(tp) for m in _models_in(arg, in_list or origin in (list, tuple, set))]


def anchor(heading: str) -> str:
    """GitHub's slug for a heading: lower case, punctuation other than `-` and `_` dropped,
    spaces to hyphens (duplicates, which GitHub numbers, are the caller's concern)."""
    text = heading.strip().lower()
    return "".join("-" if ch == " " else ch for ch in text if ch.isalnum() or ch in " -_")


def _heading(table: Table) -> str:
    return "Top level" if not table.path else f"`{table.path}`"


def _cell(text: str) -> str:
    """Markdown-safe table cell: pipes escaped, `<...>` outside code spans kept as text."""
    parts = " ".join(text.split()).split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|")


def _value(value: Any) -> str:
    """A default as YAML would spell it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, enum.Enum):
        return _value(value.value)
    if isinstance(value, BaseModel):
        return _value(value.model_dump(exclude_defaults=True))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _default(field: FieldInfo, override_of: str | None) -> str:
    if override_of:
        return f"`{override_of}`"
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True, validated_data={})
    if isinstance(value, BaseModel) and not value.model_dump(exclude_defaults=True):
        return "each field's default"
    return f"`{_value(value)}`"


_COMPARISONS: dict[type, tuple[str, str]] = {  # a bound's type: its attribute and its sign
    annotated_types.Gt: ("gt", ">"), annotated_types.Ge: ("ge", ">="),
    annotated_types.Lt: ("lt", "<"), annotated_types.Le: ("le", "<="),
}


def _bounds(metadata: list[Any], text_kind: str) -> list[str]:
    """ge/gt/le/lt, lengths and patterns from a field's (or a list item's) metadata."""
    out: list[str] = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            out += _bounds(item.metadata, text_kind)
        elif comparison := _COMPARISONS.get(type(item)):
            attribute, sign = comparison
            out.append(f"`{sign} {_value(getattr(item, attribute))}`")
        elif isinstance(item, annotated_types.MinLen):
            out.append(f"at least {_count(item.min_length, text_kind)}")
        elif isinstance(item, annotated_types.MaxLen):
            out.append(f"at most {_count(item.max_length, text_kind)}")
        elif isinstance(getattr(item, "pattern", None), str):
            out.append(f"matches `{item.pattern}`")
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun if n != 1 else noun.removesuffix('s')}"


class _Types:
    """Renders a field's type and collects what it allows, linking nested models to their tables."""

    def __init__(self, links: dict[type[BaseModel], str]) -> None:
        self.links = links

    def describe(self, tp: Any, metadata: list[Any]) -> tuple[str, list[str]]:
        """(type text, allowed values and bounds) for a type with its field-level metadata."""
        tp, inner = _unwrap(tp)
        metadata = [*metadata, *inner]
        members = list(typing.get_args(tp)) if _is_union(tp) else [tp]
        present = [m for m in members if m is not type(None)]
        nullable = len(present) < len(members)
        is_list = len(present) == 1 and typing.get_origin(_unwrap(present[0])[0]) in (list, tuple, set)
        allowed = _bounds(metadata, "items" if is_list else "characters")
        if len(present) == 1 and (choices := _choices(present[0], metadata)) is not None:
            text = _choice_type(choices)
            allowed = [", ".join(f"`{_value(c)}`" for c in choices), *allowed]
        else:
            texts = []
            for member in present:
                text, more = self.render(member, metadata)
                texts.append(text)
                allowed += more
            text = " or ".join(texts)
        return (f"{text} or null" if nullable else text), allowed

    def render(self, tp: Any, outer: list[Any]) -> tuple[str, list[str]]:
        """One union member: its text, and the bounds and values that belong to it or its items
        (`outer`, the field's own metadata, only marks a path: its bounds are the caller's)."""
        tp, metadata = _unwrap(tp)
        if (choices := _choices(tp)) is not None:
            return " or ".join(f"`{_value(c)}`" for c in choices), []
        if typing.get_origin(tp) in (list, tuple, set):
            (item,) = typing.get_args(tp)[:1]
            text, allowed = self.describe(item, [])
            return f"list of {text}", [f"each: {a}" for a in allowed]
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return f"[{tp.__name__}](#{self.links[tp]})", []
        if tp is str and any(isinstance(m, AfterValidator) and m.func is expand_home for m in [*outer, *metadata]):
            return "path (`~` expanded)", []
        return _BASIC.get(tp, getattr(tp, "__name__", str(tp))), _bounds(metadata, "characters")


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """`Annotated[T, ...]` as (T, its metadata); any other type as (type, [])."""
    if typing.get_origin(tp) is typing.Annotated:
        inner, *metadata = typing.get_args(tp)
        deeper, more = _unwrap(inner)
        return deeper, [*metadata, *more]
    return tp, []


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _choices(tp: Any, metadata: list[Any] | None = None) -> list[Any] | None:
    """The allowed values of a Literal or an Enum (also one made optional inside Annotated), or of
    a string a `TableChoice` in its metadata matches against a table (`contract.families`)."""
    tp, inner = _unwrap(tp)
    tables = [m.func.allowed for m in [*(metadata or []), *inner]
              if isinstance(m, BeforeValidator) and isinstance(m.func, TableChoice)]
    if tp is str and tables:
        return list(tables[0]())
    if typing.get_origin(tp) is typing.Literal:
        return list(typing.get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return list(tp)
    if _is_union(tp):
        present = [m for m in typing.get_args(tp) if m is not type(None)]
        if len(present) == 1:
            return _choices(present[0])
    return None


def _choice_type(choices: list[Any]) -> str:
    values = [c.value if isinstance(c, enum.Enum) else c for c in choices]
    kinds = {_BASIC.get(type(v), type(v).__name__) for v in values}
    return kinds.pop() if len(kinds) == 1 else "value"


def rows(table: Table, tables: list[Table]) -> list[Row]:
    """One row per field of the table's model."""
    links = {t.model: anchor(_heading(t)) for t in tables}
    by_path = {t.path: t for t in tables}
    overridden = next((path for model, path in OVERRIDES.items() if issubclass(table.model, model)), None)
    target = by_path[overridden] if overridden in by_path else None
    out = []
    for name, field in table.model.model_fields.items():
        override_of = None
        if target is not None and name in target.model.model_fields and name not in _own_fields(table.model):
            override_of = f"{target.path}.{name}"
        text, allowed = _Types(links).describe(field.annotation, list(field.metadata))
        if override_of:
            text = text.removesuffix(" or null")  # unset: the value from `defaults`
        if field.discriminator is not None:
            allowed.append(f"chosen by `{field.discriminator}`")
        description = field.description or ""
        if override_of and target is not None and not description:
            description = f"Overrides [`{override_of}`](#{links[target.model]}) for this candidate."
        path = f"{table.path}.{name}".lstrip(".")
        out.append(Row(path, text, _default(field, override_of), "; ".join(allowed), description))
    return out


def _own_fields(model: type[BaseModel]) -> set[str]:
    """Fields a model has besides its overrides: those of the bases above the `OVERRIDES` entry
    (a candidate's own name, source, family, ...)."""
    return {name for base in model.__mro__[1:]
            if isinstance(base, type) and issubclass(base, BaseModel) and base is not BaseModel
            and base not in OVERRIDES for name in base.model_fields}


def render(root: type[BaseModel] = ExperimentConfig) -> str:
    """The whole reference as Markdown."""
    tables = schema_tables(root)
    out = [PREFACE]
    for table in tables:
        level = "##" if table.path.count(".") == 0 else "###"
        out.append(f"{level} {_heading(table)}\n")
        doc = (table.model.__doc__ or "").strip().split("\n\n")[0] if table.path else ""
        if doc:
            out.append(" ".join(doc.split()) + "\n")
        out.append("| field | type | default | allowed | description |\n|---|---|---|---|---|")
        out += [
            "| " + " | ".join([f"`{r.path}`", _cell(r.type), _cell(r.default), _cell(r.allowed or "-"),
                               _cell(r.description or "-")]) + " |"
            for r in rows(table, tables)
        ]
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.config.reference", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {REFERENCE.relative_to(REFERENCE.parents[2])}")
    mode.add_argument("--check", action="store_true", help="exit 1 when the committed reference differs")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE.write_text(text, encoding="utf-8")
    elif args.check:
        current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.is_file() else ""
        if current != text:
            print(f"docs/reference/config.md is stale: run `{WRITE_COMMAND}`", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
