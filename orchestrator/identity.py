"""What decides a candidate's work, as two fingerprints.

- The **training identity**: everything its weights depend on: the task's shape (type, columns,
  prompt), the prepared data's *content* (train and validation; validation picks the best
  checkpoint), the source's identity (a local directory's file manifest, a hub id and the
  revision loaded, or a scratch preset), the adapters and quantization (so a QLoRA adapter's base), the
  settings that change learning, and the versions of the libraries that train. A checkpoint is
  resumed or kept only under the same training fingerprint.
- The **evaluation identity**: what the metrics and predictions depend on beyond the weights
  (the task metric and language, the evaluation batch size, generation, the test split). When
  only these change, a rerun keeps the checkpoint and evaluates it again.

Settings that only schedule or supervise (resources, limits, retries, checkpoint interval,
logging) are in neither. Both parts are plain data, recorded next to what they decided (the
checkpoint's manifest, metrics.json), so a rerun can say what changed, not only that something did.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from contract.job import DataFiles
from contract.settings import CandidateConfig, TaskConfig, TrainingSettings
from contract.sources import parse_source

# Settings that change how a candidate is supervised or logged, never what it learns or scores.
SCHEDULING_ONLY = frozenset({"resources", "timeouts", "max_retries", "checkpoint_every", "max_nonfinite_steps",
                             "logging_steps"})
# Settings that change what the trained weights score or predict, not the weights.
EVALUATION_ONLY = frozenset({"eval_batch_size", "generation"})
TASK_EVALUATION_ONLY = frozenset({"metric", "language", "multi_reference"})
# Settings added after checkpoints existed that are off unless asked for: off, they are left out of
# the identity, so upgrading never retrains a finished candidate that does not use them.
ABSENT_WHEN_OFF = frozenset({"early_stopping"})
LIBRARIES = ("torch", "transformers", "peft", "orchestrator")
HASHED_FILE_BYTES = 16 * 2**20  # a source file up to this size is hashed; a larger one is named by size and mtime


@dataclass(frozen=True)
class Identity:
    training: dict[str, Any]
    evaluation: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return digest(self.training)

    @property
    def evaluation_fingerprint(self) -> str:
        return digest({"training": self.fingerprint, **self.evaluation})


def candidate_identity(task: TaskConfig, candidate: CandidateConfig, settings: TrainingSettings,
                       data: DataFiles | None) -> Identity:
    """The identity of `candidate` trained with `settings` on the prepared `data` (None: the data
    is not known yet, as when a sweep's rate is looked up before data is prepared)."""
    splits = {} if data is None else {split: file_digest(path) for split, path in vars(data).items()
                                      if path is not None and Path(path).is_file()}
    own = candidate.model_dump(exclude=set(TrainingSettings.model_fields) | {"name", "source"})
    training = {
        "task": task.model_dump(exclude=set(TASK_EVALUATION_ONLY)),
        "data": {split: splits.get(split) for split in ("train", "validation")},
        "source": source_identity(candidate.source),
        "candidate": own,
        "settings": settings.model_dump(exclude=set(SCHEDULING_ONLY | EVALUATION_ONLY)
                                        | {k for k in ABSENT_WHEN_OFF if getattr(settings, k) is None}),
        "versions": library_versions(),
    }
    evaluation = {
        "task": task.model_dump(include=set(TASK_EVALUATION_ONLY)),
        "settings": settings.model_dump(include=set(EVALUATION_ONLY)),
        "data": {"test": splits.get("test")},
    }
    return Identity(training, evaluation)


def digest(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_digest(path: Path) -> str:
    """The sha256 of a file's content (so a moved file is the same data, an edited one is not)."""
    stat = Path(path).stat()
    return _file_digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: the cache key only
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def source_identity(source: str) -> dict[str, Any]:
    """A scratch preset by name; a local directory by the manifest of its files (content hashes,
    and size plus mtime for files over HASHED_FILE_BYTES); a hub id with the revision loading
    asks for (the commit it resolved to is recorded in the checkpoint, see `models.training`)."""
    parsed = parse_source(source)
    if parsed.kind == "local":
        root = Path(parsed.value)
        files: dict[str, str] = {}
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                stat = path.stat()
                files[path.relative_to(root).as_posix()] = (
                    file_digest(path) if stat.st_size <= HASHED_FILE_BYTES
                    else f"{stat.st_size} bytes, modified {stat.st_mtime_ns}")
        return {"kind": "local", "files": files}
    if parsed.kind == "hub":
        return {"kind": "hub", "id": parsed.value, "revision": "main"}  # what loading asks the hub for
    return {"kind": parsed.kind, "preset": parsed.value}


@functools.cache
def library_versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (nothing is imported)."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def changes(recorded: Mapping[str, Any] | None, current: Mapping[str, Any], limit: int = 4) -> str:
    """What differs between two identity parts, as `where: old -> new` (a data or file hash as
    "changed"); empty when they agree or nothing was recorded."""
    if not recorded:
        return ""
    old, new = _flatten(recorded), _flatten(current)
    differing = [key for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)]
    described = [_describe(key, old.get(key), new.get(key)) for key in differing[:limit]]
    more = len(differing) - limit
    return "; ".join(described) + (f" and {more} more" if more > 0 else "")


def _describe(key: str, old: Any, new: Any) -> str:
    if key.startswith(("data.", "source.files.")):
        what = "added" if old is None else "removed" if new is None else "changed"
        return f"{key} {what}"
    return f"{key}: {old!r} -> {new!r}"


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
