"""pyarrow filesystems as storage uses them: a storage setting opened (a local path, or a URI,
an S3 one with temporary credentials in its query too), and the files under one path copied to
another where they changed.

Copies are incremental: a file is copied when the other side lacks it or differs in size or
modification time, and a copy leaves both sides with the same mtime, so a file goes each way once.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract.checkpoints import MANIFEST

if TYPE_CHECKING:
    import pyarrow.fs

log = logging.getLogger(__name__)


def open_uri(uri: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """pyarrow's filesystem and base path for a storage setting: a local path or a URI."""
    import pyarrow.fs

    if "://" not in uri:
        return pyarrow.fs.LocalFileSystem(), str(Path(uri).expanduser().resolve())
    if uri.lower().startswith("s3://") and S3_CREDENTIALS & {k.lower() for k, _ in _query(uri)}:
        return _s3_with_credentials(uri)
    return pyarrow.fs.FileSystem.from_uri(uri)


S3_CREDENTIALS = {"access_key", "secret_key", "session_token"}  # query parameters pyarrow's from_uri refuses
S3_OPTIONS = {"region", "scheme", "endpoint_override"}


def _query(uri: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl, urlsplit

    return parse_qsl(urlsplit(uri).query, keep_blank_values=True)


def _s3_with_credentials(uri: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """`s3://bucket/path?access_key=…&secret_key=…&session_token=…` (temporary credentials, which
    pyarrow's URI form cannot carry): the filesystem built from the parameters."""
    from urllib.parse import urlsplit

    import pyarrow.fs

    parts = urlsplit(uri)
    options = {k.lower(): v for k, v in _query(uri)}
    unknown = sorted(set(options) - S3_CREDENTIALS - S3_OPTIONS)
    if unknown:
        raise ValueError(f"unexpected query parameter(s) {', '.join(unknown)} in an S3 URI with credentials; "
                         f"allowed: {', '.join(sorted(S3_CREDENTIALS | S3_OPTIONS))}")
    fs = pyarrow.fs.S3FileSystem(**options)
    return fs, f"{parts.netloc.rsplit('@', 1)[-1]}{parts.path}".rstrip("/")


SCHEMES = ("file", "s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")  # what pyarrow.fs opens by URI


def storage_problem(uri: str) -> str | None:
    """Why `uri` cannot be storage, judged from its spelling alone (opening an s3:// URI already
    talks to the network); `RunStorage.check_writable` tries the real thing before training."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else None
    if scheme is not None and scheme not in SCHEMES:
        return f"pyarrow has no filesystem for {scheme}://; use a path or one of {', '.join(s + '://' for s in SCHEMES)}"
    return None


_IN_FLIGHT = re.compile(r"\.partial-\d+$")  # a copy another process is writing (see copy_changed)


def _files(fs: pyarrow.fs.FileSystem, base: str) -> dict[str, Any]:
    """Every file under `base`, by path relative to it: {relpath: FileInfo}. A single file's
    relative path is ""; nothing there is {}."""
    import pyarrow.fs

    info = fs.get_file_info(base)
    if info.type == pyarrow.fs.FileType.File:
        return {"": info}
    selector = pyarrow.fs.FileSelector(base, recursive=True, allow_not_found=True)
    return {
        entry.path[len(base):].lstrip("/"): entry
        for entry in fs.get_file_info(selector)
        if entry.type == pyarrow.fs.FileType.File and not _IN_FLIGHT.search(entry.base_name)
    }


def _differs(source: Any, target: Any | None) -> bool:
    return target is None or source.size != target.size or source.mtime_ns != target.mtime_ns


def join(base: str, relpath: str) -> str:
    return f"{base}/{relpath}" if relpath else base


def copy_changed(
    source_fs: pyarrow.fs.FileSystem, source: str, target_fs: pyarrow.fs.FileSystem, target: str
) -> int:
    """Copy the files under `source` that `target` lacks or has in another size or mtime. After a
    copy both sides carry the same mtime (the target's, when only the source is a local file), so
    a file goes each way once: pulled back or pushed again only after it changed."""

    have = _files(target_fs, target)
    copied = 0
    # A checkpoint's manifest goes last: whoever reads storage mid-copy finds no manifest before its files.
    for relpath, info in sorted(_files(source_fs, source).items(), key=lambda item: item[0].endswith(MANIFEST)):
        if not _differs(info, have.get(relpath)):
            continue
        try:
            _copy_one(source_fs, join(source, relpath), target_fs, join(target, relpath), info.mtime_ns)
        except FileNotFoundError:  # deleted at the source while we copied (a rotated checkpoint): not ours to copy
            log.debug("%s went while it was being copied; skipped", join(source, relpath))
            continue
        copied += 1
    return copied


def _copy_one(source_fs: pyarrow.fs.FileSystem, origin: str, target_fs: pyarrow.fs.FileSystem, destination: str,
              mtime_ns: int | None) -> None:
    import pyarrow.fs

    target_fs.create_dir(destination.rsplit("/", 1)[0], recursive=True)
    if isinstance(target_fs, pyarrow.fs.LocalFileSystem):
        # written aside and renamed: an actor reading the file never sees half of it
        written = f"{destination}.partial-{os.getpid()}"
        try:
            pyarrow.fs.copy_files(origin, written, source_filesystem=source_fs, destination_filesystem=target_fs)
        except FileNotFoundError:
            Path(written).unlink(missing_ok=True)
            raise
        if mtime_ns is not None:
            os.utime(written, ns=(mtime_ns, mtime_ns))
        os.replace(written, destination)
    else:
        pyarrow.fs.copy_files(origin, destination, source_filesystem=source_fs, destination_filesystem=target_fs)
        if isinstance(source_fs, pyarrow.fs.LocalFileSystem):
            stored = target_fs.get_file_info(destination).mtime_ns
            if stored is not None:
                os.utime(origin, ns=(stored, stored))
