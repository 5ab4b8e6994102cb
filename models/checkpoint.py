"""Checkpoints that are either complete or absent.

A checkpoint is written into `<dir>.partial`, its manifest (files, sizes, sha256, the candidate's
config fingerprint) is written last, and the directory is renamed into place. A crash at any
point leaves at most a `.partial` directory, which is never taken for a finished checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checkpoint(directory: Path, save: Callable[[Path], None], fingerprint: str, **info: Any) -> Path:
    """Call `save(tmp_dir)` to fill a temporary directory, add the manifest, rename into place."""
    directory = Path(directory)
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save(partial)
    files = {
        str(p.relative_to(partial)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(partial.rglob("*"))
        if p.is_file()
    }
    manifest = {"fingerprint": fingerprint, "created": time.time(), "files": files, **info}
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if directory.exists():
        shutil.rmtree(directory)
    partial.replace(directory)
    return directory


def read_manifest(directory: Path) -> dict[str, Any] | None:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def verify_checkpoint(directory: Path, fingerprint: str | None = None, *, hashes: bool = False) -> str | None:
    """None when `directory` is a complete checkpoint (of `fingerprint`, when given); otherwise
    the reason it is not."""
    manifest = read_manifest(directory)
    if manifest is None:
        return f"{directory} has no readable {MANIFEST}"
    if fingerprint is not None and manifest.get("fingerprint") != fingerprint:
        return "the config changed since this checkpoint was written"
    for name, meta in manifest.get("files", {}).items():
        path = Path(directory) / name
        if not path.is_file() or path.stat().st_size != meta["bytes"]:
            return f"{path} is missing or has the wrong size"
        if hashes and _sha256(path) != meta["sha256"]:
            return f"{path} does not match its sha256"
    return None
