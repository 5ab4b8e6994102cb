"""Property: whatever config and data files a user writes, `validate` answers 0 or 2 (never a
traceback, never the crash exit 1), a config it accepts prepares its data or names the problem,
and nothing is written outside the run directory.

Configs start from a valid experiment and get mutations drawn from the schema itself (every
field path of `ExperimentConfig`, set to a value of any JSON type, removed, or joined by an
unknown key); data files are rows of any JSON, written as JSONL, CSV or a JSON array, sometimes
cut short or given bytes that are not UTF-8.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from orchestrator.cli import main
from orchestrator.config import ConfigError, ExperimentConfig, load_config
from orchestrator.data import prepare_data


def field_paths(model: type[BaseModel], prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every field path of the schema; a list of models is entered at index 0."""
    paths = []
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        paths.append(path)
        for inner in _models_in(info.annotation):
            paths += field_paths(inner, (*path, 0) if _is_list(info.annotation) else path)
    return paths


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list or any(_is_list(a) for a in typing.get_args(annotation))


PATHS = field_paths(ExperimentConfig)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30) | st.sampled_from(["~", "~nobody-here/x", "[bold]x", "../../..", "/", "a/b/c", "1e-3",
                                              "scratch:bart-tiny", "tuned", "auto", "s3://k:s@b/x"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def base_config(data: dict[str, str]) -> dict[str, Any]:
    return {"experiment": "prop", "output_dir": "runs", "data": data, "ensemble": {"strategy": "none"},
            "defaults": {"max_steps": 2},
            "models": [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}]}


@st.composite
def mutated_config(draw: st.DrawFn, data: dict[str, str]) -> dict[str, Any]:
    raw = base_config(data)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):  # a third of the configs stay valid
        path = draw(st.sampled_from(PATHS))
        action = draw(st.sampled_from(["set", "set", "remove", "unknown"]))
        node: Any = raw
        for part in path[:-1]:
            if isinstance(part, int):
                if not isinstance(node, list) or not node:
                    break
                node = node[0]
            else:
                if not isinstance(node, dict):
                    break
                node = node.setdefault(part, {})
        else:
            if not isinstance(node, dict):
                continue
            key = path[-1]
            if action == "set":
                node[key] = draw(JSON_VALUES)
            elif action == "remove":
                node.pop(key, None)
            else:
                node[draw(st.text(max_size=6) | st.integers())] = draw(JSON_VALUES)
    return raw


ROWS = st.lists(
    st.dictionaries(st.sampled_from(["dialogue", "summary", "text", "label", "id", "x"]), JSON_VALUES, max_size=4)
    | JSON_VALUES,
    max_size=6,
)


def serialized(rows: list[Any], kind: str) -> str:
    if kind == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows)
    if kind == "json":
        return json.dumps(rows, indent=1)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["dialogue", "summary"])
    for row in rows:
        values = list(row.values()) if isinstance(row, dict) else [row]
        writer.writerow([json.dumps(v) if not isinstance(v, str) else v for v in values])
    return out.getvalue()


@st.composite
def data_file(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["jsonl", "json", "csv"]))
    good = [{"dialogue": f"#Person1#: hi {i}", "summary": f"greeting {i}"} for i in range(6)]
    rows = good if draw(st.sampled_from([True, True, False])) else draw(ROWS)
    text = serialized(rows, kind).encode("utf-8")
    damage = draw(st.sampled_from(["none", "none", "none", "none", "cut", "bytes"]))
    if damage == "cut" and text:
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif damage == "bytes":
        text += draw(st.binary(min_size=1, max_size=8))
    return kind, text


@contextlib.contextmanager
def sandbox() -> Iterator[Path]:
    """A fresh folder as the current directory, HOME and TMPDIR, so that anything written shows."""
    previous_cwd, previous_tmp = os.getcwd(), tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="orchestrator-prop-") as folder:
        root = Path(folder)
        (root / "home").mkdir()
        (root / "tmp").mkdir()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOME", str(root / "home"))
            patch.setenv("TMPDIR", str(root / "tmp"))
            tempfile.tempdir = str(root / "tmp")
            os.chdir(root)
            try:
                yield root
            finally:
                os.chdir(previous_cwd)
                tempfile.tempdir = previous_tmp


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_any_config_and_data_get_exit_0_or_2_and_write_only_into_the_run_directory(data: st.DataObject) -> None:
    with sandbox() as root:
        files = {}
        for split in ("train", "validation", "test"):
            if split == "train" or data.draw(st.booleans()):
                kind, content = data.draw(data_file())
                path = root / f"{split}.{kind}"
                path.write_bytes(content)
                files[split] = str(path)
        raw = data.draw(mutated_config(files))
        config_path = root / "exp.yaml"
        config_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        before = files_under(root)

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(["validate", str(config_path), "--no-preflight"])
        assert status in (0, 2), err.getvalue()
        assert "Traceback" not in err.getvalue()
        if status == 0:
            config = load_config(config_path)
            try:
                prepare_data(config, config.run_dir)
            except ConfigError:
                pass
            run_dir = config.run_dir.resolve()
            outside = [p for p in files_under(root) - before if not p.resolve().is_relative_to(run_dir)]
            assert not outside, outside
        else:
            assert files_under(root) == before
