"""Reading a user's data file (CSV, JSONL, or a JSON array of objects) without trusting it.

Every problem is collected, not raised at the first: a file that is not UTF-8 (with the byte
offset), a JSON line or array item that is not an object, a CSV row with more or fewer fields
than its header, a field over the csv module's limit, an empty file. Each names the file and the
line, and says how to fix it; `datacheck` then checks what the rows hold.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_PROBLEMS_PER_KIND = 3  # line numbers shown for a problem many rows share; the rest are counted


@dataclass(frozen=True)
class DataProblem:
    """One problem with a data file: where (file, lines, column), what, and the fix."""

    file: Path
    problem: str
    fix: str
    lines: tuple[int, ...] = ()
    count: int = 1  # rows with this problem; `lines` shows the first of them
    column: str | None = None
    unit: str = "line"  # what `lines` count: a file's lines, or a JSON array's items (from 1)

    def where(self) -> str:
        text = str(self.file)
        if self.lines:
            shown = ", ".join(str(n) for n in self.lines)
            more = f" and {self.count - len(self.lines)} more" if self.count > len(self.lines) else ""
            text += f", {self.unit}{'s' if self.count > 1 else ''} {shown}{more}"
        if self.column is not None:
            text += f", column {self.column!r}"
        return text

    def __str__(self) -> str:
        return f"{self.where()}: {self.problem}; fix: {self.fix}"


@dataclass
class RowsRead:
    """A file's rows, each with the line it starts on (a JSON array's item number), and what was
    wrong with the file."""

    path: Path
    unit: str = "line"
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: list[DataProblem] = field(default_factory=list)

    def add(self, row: dict[str, Any], line: int) -> None:
        self.rows.append(row)
        self.lines.append(line)

    def with_ids(self) -> list[dict[str, Any]]:
        """The rows, each with an `id` (its own, else `<file stem>-<index>`)."""
        return [{**row, "id": row.get("id", f"{self.path.stem}-{i}")} for i, row in enumerate(self.rows)]


class ProblemTally:
    """Problems that many rows can share, kept as one line each with the first line numbers."""

    def __init__(self, path: Path, unit: str = "line"):
        self.path = path
        self.unit = unit
        self.seen: dict[tuple[str | None, str, str], list[int]] = {}

    def add(self, line: int, problem: str, fix: str, column: str | None = None) -> None:
        self.seen.setdefault((column, problem, fix), []).append(line)

    def problems(self) -> list[DataProblem]:
        return [DataProblem(self.path, problem, fix, tuple(lines[:MAX_PROBLEMS_PER_KIND]), len(lines), column,
                            self.unit) for (column, problem, fix), lines in self.seen.items()]


def read_data_file(path: Path) -> RowsRead:
    """The rows of a user's data file and every problem reading it; never raises for its content."""
    read = RowsRead(path)
    if not path.is_file():
        read.problems.append(DataProblem(path, "the file does not exist" if not path.exists() else "is not a file",
                                         "check the path (a relative path is taken from the current directory)"))
        return read
    try:
        raw = path.read_bytes()
    except OSError as exc:
        read.problems.append(DataProblem(path, f"cannot be read ({exc.strerror or exc})", "check its permissions"))
        return read
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw[:offset].count(b"\n") + 1
        read.problems.append(DataProblem(
            path, f"is not UTF-8 text: byte {offset} is {raw[offset:offset + 1]!r}",
            "save the file as UTF-8 (e.g. iconv -f <its encoding> -t utf-8)", (line,)))
        return read
    if path.suffix.lower() == ".csv":
        _read_csv(text, read)
    elif path.suffix.lower() == ".json" and (text.lstrip().startswith("[") or (
            text.lstrip().startswith("{") and "\n" in text.strip())):
        _read_json_document(text, read)  # a JSON array, or one object over many lines; else JSONL
    else:
        _read_jsonl(text, read)
    if not read.rows and not read.problems:
        read.problems.append(DataProblem(path, "holds no rows", "give the file at least one example"))
    return read


def _read_jsonl(text: str, read: RowsRead) -> None:
    tally = ProblemTally(read.path)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            tally.add(number, f"not valid JSON ({exc.msg} at column {exc.colno})",
                      "write one JSON object per line (JSONL)")
            continue
        if not isinstance(value, dict):
            tally.add(number, f"a JSON {_json_kind(value)} where an object is expected",
                      'write one object per line, e.g. {"dialogue": "...", "summary": "..."}')
            continue
        read.add(value, number)
    read.problems += tally.problems()


def _read_json_document(text: str, read: RowsRead) -> None:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{"):  # one object a line after all
            _read_jsonl(text, read)
            return
        read.problems.append(DataProblem(read.path, f"not valid JSON ({exc.msg} at column {exc.colno})",
                                         "fix the JSON, or write one object per line (JSONL)", (exc.lineno,)))
        return
    if isinstance(items, dict):
        read.problems.append(DataProblem(read.path, "holds one JSON object, not a list of rows",
                                         "give a JSON array of objects, or one object per line (JSONL)"))
        return
    read.unit = "item"
    tally = ProblemTally(read.path, "item")
    for number, item in enumerate(items, 1):
        if isinstance(item, dict):
            read.add(item, number)
        else:
            tally.add(number, f"a JSON {_json_kind(item)} where an object is expected",
                      "make every item of the array an object with the input and target columns")
    read.problems += tally.problems()


def _read_csv(text: str, read: RowsRead) -> None:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    tally = ProblemTally(read.path)
    try:
        header = next(reader, None)
        if header is None:
            return
        if len(set(header)) != len(header) or any(not name.strip() for name in header):
            names = [name for name in header if header.count(name) > 1 or not name.strip()]
            read.problems.append(DataProblem(read.path, f"the header has empty or repeated column names "
                                                        f"({', '.join(map(repr, sorted(set(names))))})",
                                             "give every column a distinct name", (1,)))
            return
        start = reader.line_num + 1
        for fields in reader:
            if not fields:  # a blank line
                start = reader.line_num + 1
                continue
            if len(fields) != len(header):
                tally.add(start, f"a row with {len(fields)} field(s) where the header has {len(header)}",
                          "quote fields that hold commas or line breaks, and give every row each column")
            else:
                read.add(dict(zip(header, fields, strict=True)), start)
            start = reader.line_num + 1
    except csv.Error as exc:
        message = str(exc)
        if "field larger than field limit" in message:
            problem = f"a field is longer than the csv module's limit ({csv.field_size_limit()} characters)"
            fix = "write long texts as JSONL instead of CSV"
        else:
            problem, fix = f"not readable as CSV ({message})", "save it as plain comma-separated UTF-8 text"
        read.problems.append(DataProblem(read.path, problem, fix, (reader.line_num,)))
    read.problems += tally.problems()


def _json_kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null", int: "number", float: "number"}.get(
        type(value), type(value).__name__)
