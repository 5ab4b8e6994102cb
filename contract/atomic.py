"""Files that are either the old version or the new one, never half of each.

Every JSON or YAML file a run writes goes through here: the text is written to a temporary file in
the same directory, flushed to disk, and renamed over the destination (a rename within one
directory is atomic on POSIX filesystems). A crash or a full disk leaves the old file, or no file,
and at most a `.tmp` leftover that no reader takes for the real one."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def write_text(path: str | Path, text: str, *, durable: bool = True) -> Path:
    """Replace `path` with `text` atomically; `durable` also fsyncs the file before the rename
    (skip it only for files rewritten every second, such as a progress note)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, value: Any, *, durable: bool = True, indent: int | None = 2) -> Path:
    return write_text(path, json.dumps(value, indent=indent, ensure_ascii=False, default=str) + "\n",
                      durable=durable)


def read_json(path: str | Path) -> Any | None:
    """The file's JSON, or None when it is missing, unreadable or truncated (a write that never
    finished); callers treat None as "not there" and name the file in their warning."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_json_or_warn(path: str | Path, meaning: str) -> Any | None:
    """`read_json`, with a warning naming the file when it exists but cannot be read (a write cut
    short): the caller then treats it as missing, which `meaning` says, e.g. "it retrains"."""
    value = read_json(path)
    if value is None and Path(path).exists():
        log.warning("%s is unreadable or truncated; %s", path, meaning)
    return value


def file_sha256(path: Path) -> str:
    """The file's sha256, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
