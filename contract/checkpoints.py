"""A candidate's checkpoints as a reader of the run directory sees them.

Both planes read checkpoints: the actor resumes from them (`models.resume`), the driver decides
what a rerun keeps (`orchestrator.rerun`), pushes sealed ones to storage (`orchestrator.uploads`)
and says where an interrupted candidate will continue. What a checkpoint looks like to them lives
here: a directory whose manifest (files, sizes, sha256, the job's fingerprint) is written last,
and the Trainer's `checkpoint-<step>` folders under the candidate's `trainer/`. Writing and
sealing them is the data plane's (`models.checkpoint`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from contract.atomic import file_sha256, read_json

MANIFEST = "manifest.json"
TRAINER_DIR = "trainer"  # in a candidate's directory: the Trainer's resumable checkpoints
_STEP = re.compile(r"^checkpoint-(\d+)$")


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


def step_of(name: str) -> int | None:
    """The step of a `checkpoint-<step>` folder name; None for any other name."""
    match = _STEP.match(name)
    return int(match.group(1)) if match else None


def checkpoints(trainer_dir: Path) -> list[tuple[int, Path]]:
    """The Trainer's checkpoint folders, newest step first."""
    if not trainer_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in trainer_dir.iterdir() if p.is_dir() and (m := _STEP.match(p.name))]
    return sorted(found, reverse=True)


def latest_sealed_step(trainer_dir: Path, fingerprint: str | None = None) -> int | None:
    """The step of the newest checkpoint that was sealed (of `fingerprint`, when given); its
    hashes are checked when resuming, by `models.resume.find_resume_point`."""
    for step, folder in checkpoints(trainer_dir):
        if fingerprint is None and (folder / MANIFEST).is_file():
            return step
        if fingerprint is not None and (read_manifest(folder) or {}).get("fingerprint") == fingerprint:
            return step
    return None
