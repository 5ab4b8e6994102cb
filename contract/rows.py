"""Row files as every stage reads and writes them: JSONL (or a user's CSV), with errors that name
the file and the line, written atomically. The driver prepares the data and reads predictions;
the actors read the data and write predictions; both through here.

A prepared row with several references (`task.multi_reference`) keeps all of them under
`REFERENCES`, the first also in the target column (what training learns from); `row_references`
reads them back (see `orchestrator.datacheck.with_references`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REFERENCES = "_references"


class DataFileError(ValueError):
    """A data file is missing, unreadable or lacks a column; the message names which."""


def read_rows(path: str | Path, required: Iterable[str] = ()) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"data file {path} does not exist")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            rows = [dict(r) for r in csv.DictReader(handle)]
        else:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    missing = [c for c in required if rows and c not in rows[0]]
    if missing:
        raise DataFileError(
            f"{path} has no column {', '.join(map(repr, missing))}; columns: {', '.join(rows[0])} "
            "(set task.input_column / task.target_column)"
        )
    if not rows:
        raise DataFileError(f"data file {path} holds no rows")
    for i, row in enumerate(rows):
        row.setdefault("id", f"{path.stem}-{i}")
    return rows


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Written to a temporary name then renamed, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".partial")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def row_references(row: dict[str, Any], target: str) -> list[str]:
    """A prepared row's references: all of them when it has several (`REFERENCES`), else its target."""
    return list(row.get(REFERENCES) or [str(row[target])])
