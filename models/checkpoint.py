"""Checkpoints that are either complete or absent.

A checkpoint is written into `<dir>.partial`, its manifest (files, sizes, sha256, the candidate's
config fingerprint) is written last, and the directory is renamed into place. A crash at any
point leaves at most a `.partial` directory, which is never taken for a finished checkpoint.

The Trainer's resumable checkpoints (`checkpoint-<step>` folders it writes in place) are sealed
instead: their manifest is written, atomically, after the last of their files, so a folder
without a manifest that verifies is a save that never finished (`seal_checkpoint`). Reading and
verifying them is `contract.checkpoints`, shared with the driver.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract.atomic import file_sha256, write_json
from contract.checkpoints import MANIFEST, read_manifest, verify_checkpoint

# the readers live in the contract, which the driver reads too; the data plane takes them from here with the writers
__all__ = ["MANIFEST", "read_manifest", "seal_checkpoint", "verify_checkpoint", "write_checkpoint"]


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
