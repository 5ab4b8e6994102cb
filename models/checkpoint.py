"""Checkpoints that are either complete or absent.

A checkpoint is written into `<dir>.partial`, its manifest (files, sizes, sha256, the candidate's
config fingerprint) is written last, and the directory is renamed into place. A crash at any
point leaves at most a `.partial` directory, which is never taken for a finished checkpoint.

The Trainer's resumable checkpoints (`checkpoint-<step>` folders it writes in place) are sealed
instead: their manifest is written, atomically, after the last of their files, so a folder
without a manifest that verifies is a save that never finished (`seal_checkpoint`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract.atomic import file_sha256, read_json, write_json

MANIFEST = "manifest.json"


def write_checkpoint(directory: Path, save: Callable[[Path], None], fingerprint: str, **info: Any) -> Path:
    """Call `save(tmp_dir)` to fill a temporary directory, add the manifest, rename into place."""
    directory = Path(directory)
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save(partial)
    seal_checkpoint(partial, fingerprint, **info)
    if directory.exists():
        shutil.rmtree(directory)
    partial.replace(directory)
    return directory


def seal_checkpoint(directory: Path, fingerprint: str, **info: Any) -> Path:
    """Write `directory`'s manifest (every file's size and sha256, the fingerprint, `info`) last."""
    directory = Path(directory)
    files = {
        str(p.relative_to(directory)): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    write_json(directory / MANIFEST, {"fingerprint": fingerprint, "created": time.time(), "files": files, **info})
    return directory


def read_manifest(directory: Path) -> dict[str, Any] | None:
    manifest = read_json(Path(directory) / MANIFEST)
    return manifest if isinstance(manifest, dict) else None


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
        if hashes and file_sha256(path) != meta["sha256"]:
            return f"{path} does not match its sha256"
    return None
