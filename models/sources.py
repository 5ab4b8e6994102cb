"""Where a candidate's weights are read from, decided before anything heavy is loaded.

A hub id is read from the local cache when it is there, with no network call at all; only an
uncached id goes to the hub, and only when HF_HUB_OFFLINE is not set. Each way of failing ends
in a `SourceError` that says what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from contract.sources import parse_source


class SourceError(FileNotFoundError):
    """The weights cannot be found where the config says; the message names the fix."""


@dataclass(frozen=True)
class ResolvedSource:
    """What `from_pretrained` gets: a directory or a hub id, and whether to stay off the network."""

    location: str
    local_files_only: bool


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def is_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def hub_commit(source: str) -> str | None:
    """The commit of a hub source's weights in the local cache (recorded with the checkpoint);
    None for other sources or an uncached id."""
    parsed = parse_source(source)
    if parsed.kind != "hub":
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(parsed.value, "config.json")
    if not isinstance(found, str) or Path(found).parent.parent.name != "snapshots":
        return None
    return Path(found).parent.name


def resolve_source(source: str) -> ResolvedSource:
    """A local directory or a hub id, ready for `from_pretrained` (scratch presets are built
    into a directory first, see `families.base.ModelFamily.materialize`)."""
    parsed = parse_source(source)
    if parsed.kind == "scratch":
        raise ValueError("scratch sources are materialised into a directory before loading")
    if parsed.kind == "local":
        path = Path(parsed.value)
        if not path.is_dir():
            raise SourceError(f"local model directory {path} does not exist; fix `source`")
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise SourceError(
                f"{path} holds no config.json; point `source` at a directory written by save_pretrained"
            )
        return ResolvedSource(str(path), True)
    if is_cached(parsed.value):
        return ResolvedSource(parsed.value, True)
    if hub_offline():
        raise SourceError(
            f"hub model {parsed.value!r} is not in the local cache and HF_HUB_OFFLINE is set; "
            f"download it first (`huggingface-cli download {parsed.value}`) or use a local path"
        )
    return ResolvedSource(parsed.value, False)
