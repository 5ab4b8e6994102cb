"""The `ray` and `storage` sections: which cluster runs the stages, and where they hand artefacts
to each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from contract.fields import HomePath, Strict
from orchestrator.config.errors import ConfigIssue
from orchestrator.config.raw import RawContext
from orchestrator.filesystems import storage_problem


class RayConfig(Strict):
    address: str | None = Field(
        None, description="None starts a private local cluster; 'auto' or 'ray://host:port'."
    )
    dashboard: bool = Field(True, description="Start Ray's dashboard with a private local cluster.")
    dashboard_host: str = Field(
        "127.0.0.1", description="Where the dashboard listens; the default keeps it to this machine."
    )
    dashboard_port: int = Field(8265, gt=0, lt=65536, description="The dashboard's port.")
    num_cpus: float | None = Field(None, gt=0, description="Local cluster only.")
    num_gpus: float | None = Field(None, ge=0, description="Local cluster only.")
    object_store_memory_mb: int | None = Field(
        None, gt=0, description="Size of Ray's object store; local cluster only. Default: Ray's choice."
    )


def _uri_shorthand(value: Any) -> Any:
    return {"uri": value} if isinstance(value, str) else value


class StorageConfig(Strict):
    """`storage: s3://bucket/experiments` is short for `storage: {uri: s3://bucket/experiments}`."""

    uri: HomePath | None = Field(
        None, description="Where stages hand artefacts to each other: a path every node sees, or a URI pyarrow "
                          "opens (s3://, gs://, hdfs://). None: the run directory itself (one machine, or NFS).",
    )
    scratch_dir: HomePath | None = Field(None, description="Node-local working copies; default: each node's temp dir.")


def check_storage_raw(raw: Any, context: RawContext) -> list[ConfigIssue]:
    """The URI must name a filesystem pyarrow can open."""
    storage = _uri_shorthand(raw)
    if not (isinstance(storage, dict) and isinstance(storage.get("uri"), str)):
        return []
    if (problem := storage_problem(storage["uri"])) is None:
        return []
    return [ConfigIssue("storage.uri", f"{storage['uri']!r}: {problem}")]


def check_storage_place(uri: str | None, run_dir: Path, output_dir: str) -> list[ConfigIssue]:
    """A local storage must be a place of its own: its run directory (`<uri>/<run name>`) may not be
    the run directory, lie inside it or contain it, or `run --fresh` would empty the run directory."""
    if uri is None or ("://" in uri and not uri.lower().startswith("file://")):
        return []
    base = Path(uri.split("://", 1)[1] if "://" in uri else uri).expanduser().resolve()
    stored, run = base / run_dir.name, run_dir.resolve()
    relation = ("is the run directory itself" if stored == run else
                "lies inside the run directory" if run in stored.parents else
                "contains the run directory" if stored in run.parents else None)
    if relation is None:
        return []
    return [ConfigIssue("storage.uri", (
        f"{uri!r} keeps this run's artefacts in {stored}, which {relation} ({run}); `run --fresh` would delete "
        f"the run's own files there. Give storage a place of its own (e.g. {output_dir.rstrip('/')}-storage, or "
        "an s3:// bucket), or leave storage out when every node sees the run directory"))]
