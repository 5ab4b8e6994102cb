"""The documentation holds: the README stays a short door with its two commands, every relative link
and anchor points somewhere, and the configuration reference is the one the schema generates now."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from orchestrator.config import ExperimentConfig
from orchestrator.config.reference import WRITE_COMMAND, render, rows, schema_tables

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
REFERENCE = REPO / "docs" / "reference" / "config.md"
PAGES = [README, *sorted((REPO / "docs").rglob("*.md"))]

RUN_COMMAND = ("python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt -e . && "
               "python -m orchestrator run configs/full.yaml")
TEST_COMMAND = ('python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt -e ".[dev]" && '
                "pytest")

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def test_config_reference_is_current() -> None:
    committed = REFERENCE.read_text(encoding="utf-8") if REFERENCE.is_file() else ""
    assert committed == render(), f"docs/reference/config.md is stale: run `{WRITE_COMMAND}` and commit it"


def test_every_schema_field_is_in_the_reference() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    missing = [path for path in _field_paths(ExperimentConfig) if f"| `{path}` |" not in reference]
    assert not missing, f"fields missing from docs/reference/config.md (run `{WRITE_COMMAND}`): {missing}"


def test_every_field_has_a_description() -> None:
    tables = schema_tables()
    bare = [row.path for table in tables for row in rows(table, tables) if not row.description]
    assert not bare, f"give these fields a description= in their schema module: {bare}"


def test_readme_is_a_short_door() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/guide/ (at most 200)"


def test_readme_keeps_the_two_commands_exactly() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    for command in (RUN_COMMAND, TEST_COMMAND):
        assert f"```bash\n{command}\n```" in section, f"README's '## The two commands' lost: {command}"


def test_relative_links_point_to_files_and_headings() -> None:
    broken = []
    for page in PAGES:
        for target in _links(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # http:, https:, mailto:
            path_part, _, fragment = target.partition("#")
            destination = (page.parent / path_part).resolve() if path_part else page
            if not destination.exists():
                broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif fragment and destination.suffix == ".md" and fragment not in _anchors(destination):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_slugs_follow_github() -> None:
    assert _slugs(["Failures, and what survives what", "`defaults.resources`", "A b", "A b",
                   "3. Crash and hang detection, and a failing neighbour's effect"]) == [
        "failures-and-what-survives-what", "defaultsresources", "a-b", "a-b-1",
        "3-crash-and-hang-detection-and-a-failing-neighbours-effect"]


def _links(text: str) -> Iterator[str]:
    """Link targets outside code blocks and code spans."""
    prose = CODE_SPAN.sub("", FENCE.sub("", text))
    return (match.group(1) for match in LINK.finditer(prose))


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return set(_slugs([match.group(2) for match in HEADING.finditer(text)]))


def _slugs(headings: list[str]) -> list[str]:
    """GitHub's heading anchors: the rendered text lower-cased, punctuation other than `-` and `_`
    dropped, each space a hyphen; a repeated slug gets -1, -2, ..."""
    seen: dict[str, int] = {}
    out = []
    for heading in headings:
        rendered = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = "".join(ch for ch in rendered.strip().lower() if ch.isalnum() or ch in " -_").replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.append(slug if count == 0 else f"{slug}-{count}")
    return out


def _field_paths(model: type[BaseModel]) -> list[str]:
    """Every field's dotted path (`models[].lora.r`), a model met again only by the field naming it."""
    seen: set[type[BaseModel]] = set()

    def walk(current: type[BaseModel], prefix: str) -> Iterator[str]:
        seen.add(current)
        for name, field in current.model_fields.items():
            yield prefix + name
            for nested, in_list in _nested(field.annotation, False):
                if nested not in seen:
                    yield from walk(nested, f"{prefix}{name}{'[]' if in_list else ''}.")

    return list(walk(model, ""))


def _nested(tp: Any, in_list: bool) -> Iterator[tuple[type[BaseModel], bool]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        yield tp, in_list
        return
    origin = typing.get_origin(tp)
    for arg in typing.get_args(tp):
        yield from _nested(arg, in_list or origin is list)
