"""Where a run's stages hand artefacts to each other when the run directory is not shared.

Without a `storage` setting, the run directory is the storage: every node writes into it, which
needs one filesystem that the driver and every node see (one machine, or an NFS mount). With
`storage: s3://bucket/experiments` (or any path or URI pyarrow's filesystems open), each actor
works in a node-local copy of the run directory (`<scratch>/<node id>/<run name>`):

1. before its work, it pulls what it reads (the prepared data; a trained candidate's directory);
2. its job and path arguments are re-rooted into the local copy;
3. afterwards, on success or failure, it pushes what it wrote (the candidate's directory, the
   item's own output folders) to `<storage>/<run name>/` under the same relative paths;
4. the driver pulls the item's outputs into its run directory when it collects the result, so
   summary, report and resume read local files as before.

A node that dies takes its local copy with it, never a finished checkpoint: a candidate succeeds
only after its push. Copies are incremental (`orchestrator.filesystems`): a file is copied when
the other side lacks it or differs in size or modification time, and a copy leaves both sides with
the same mtime.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract.checkpoints import TRAINER_DIR
from contract.redact import redact
from orchestrator.filesystems import copy_changed, join, open_uri

if TYPE_CHECKING:
    import pyarrow.fs

    from contract.job import Job
    from orchestrator.work import WorkItem

log = logging.getLogger(__name__)


MARKER = ".orchestrator-storage"  # in a run's storage place: made by this project, ours to empty


class StorageNotOurs(OSError):
    """`--fresh` found a storage place this project did not create."""


@dataclass(frozen=True)
class RunStorage:
    """One run's artefacts in storage, and the way between them and a node's local copy.

    Picklable (it travels with every work item); the filesystem is opened where it is used."""

    uri: str  # the storage setting, e.g. s3://bucket/experiments or /mnt/shared/experiments
    run_dir: Path  # the driver's run directory; relative paths are taken against it
    scratch_dir: str | None = None  # root of node-local copies; None: the node's temp directory

    @property
    def run_name(self) -> str:
        return self.run_dir.name

    @property
    def location(self) -> str:
        """Where this run's artefacts live, for messages: credentials in the URI are masked."""
        uri = redact(self.uri)
        return f"{uri.rstrip('/')}/{self.run_name}" if "?" not in uri else f"{uri} ({self.run_name}/)"

    def _remote(self) -> tuple[pyarrow.fs.FileSystem, str]:
        fs, base = open_uri(self.uri)
        return fs, f"{base.rstrip('/')}/{self.run_name}"

    def relpath(self, path: Path | str) -> str:
        return Path(path).relative_to(self.run_dir).as_posix()

    # ------------------------------------------------------------------ copying

    def push(self, local_root: Path, relpath: str) -> int:
        """Copy what changed under `local_root/relpath` to storage; the number of files copied."""
        import pyarrow.fs

        fs, base = self._remote()
        return copy_changed(pyarrow.fs.LocalFileSystem(), str(local_root / relpath), fs, join(base, relpath))

    def mirror(self, local_root: Path, relpath: str, may_delete: Callable[[str], bool] | None = None) -> int:
        """Make storage's `relpath` hold what the local copy holds: changed files pushed, and the
        folders directly under it that are gone locally (a checkpoint the Trainer rotated away)
        deleted, those `may_delete(name)` allows; the number of files copied."""
        import pyarrow.fs

        if not (local_root / relpath).is_dir():  # a copy that is gone (a lost disk) never empties storage
            return 0
        copied = self.push(local_root, relpath)
        fs, base = self._remote()
        selector = pyarrow.fs.FileSelector(join(base, relpath), recursive=False, allow_not_found=True)
        for entry in fs.get_file_info(selector):
            if (entry.type == pyarrow.fs.FileType.Directory and not (local_root / relpath / entry.base_name).exists()
                    and (may_delete is None or may_delete(entry.base_name))):
                fs.delete_dir(entry.path)
        return copied

    def pull(self, relpath: str, local_root: Path) -> int:
        """Copy what changed under `relpath` in storage to `local_root/relpath`."""
        import pyarrow.fs

        fs, base = self._remote()
        return copy_changed(fs, join(base, relpath), pyarrow.fs.LocalFileSystem(), str(local_root / relpath))

    def check_writable(self) -> None:
        """Write, read back and delete a probe file: a wrong bucket, credential or mount fails here,
        before any candidate trains, instead of at the first checkpoint."""
        fs, base = self._remote()
        probe = f"{base}/.orchestrator-probe-{os.getpid()}"
        fs.create_dir(base, recursive=True)
        with fs.open_output_stream(probe) as stream:
            stream.write(b"ok")
        with fs.open_input_stream(probe) as stream:
            if stream.read() != b"ok":
                raise OSError(f"{probe} did not read back what was written")
        fs.delete_file(probe)

    # ------------------------------------------------------------------ the worker's side

    @property
    def run_key(self) -> str:
        """The name of a node's copy: the run's name and a hash of where it runs from and to, so
        two runs of one name (other output directories, other storage) never share a copy."""
        where = hashlib.sha256(f"{self.run_dir}|{self.uri}".encode()).hexdigest()[:8]
        return f"{self.run_name}-{where}"

    def local_root(self) -> Path:
        """This node's copy of the run directory."""
        import ray

        scratch = Path(self.scratch_dir) if self.scratch_dir else Path(tempfile.gettempdir()) / "orchestrator"
        node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "driver"
        return scratch / node / self.run_key

    def localize(self, value: Any, root: Path) -> Any:
        """`value` with paths inside the run directory re-rooted under `root` (paths, path strings,
        and the same inside dataclasses, tuples, lists and dicts)."""
        return _reroot(value, str(self.run_dir), str(root))

    def pull_inputs(self, job: Job, root: Path, *, trained: bool) -> None:
        """Pull what the (driver's) job reads into `root`: the prepared data, and for stages after
        training (`trained`) the candidate's directory; for a training, its resumable
        checkpoints (a retry after a lost node continues from the last one pushed). A fold model's
        training rows lie in data/folds/, its validation rows in data/."""
        folders = {self.relpath(path.parent) for path in vars(job.data).values() if path is not None}
        inputs = sorted(f for f in folders if not any(f.startswith(other + "/") for other in folders))
        inputs.append(self.relpath(job.output_dir if trained else job.output_dir / TRAINER_DIR))
        copied = sum(self.pull(relpath, root) for relpath in inputs)
        log.info("pulled %d changed file(s) of %s from %s into %s", copied, ", ".join(inputs), self.location, root)

    def check_in(self, item: WorkItem, root: Path) -> None:
        """Push what the (localized) item wrote under `root` to storage."""
        copied = sum(self.push(root, relpath) for relpath in self.outputs(item, root))
        log.info("pushed %d file(s) to %s", copied, self.location)

    def outputs(self, item: WorkItem, root: Path | None = None) -> list[str]:
        """The item's output folders relative to the run: its candidate directory and any path in
        its request inside the run directory (e.g. the optimize stage's plot folder)."""
        root = root or self.run_dir
        request = item.request
        fields = [getattr(request, f.name) for f in dataclasses.fields(request)] if dataclasses.is_dataclass(request) else []
        paths = [item.job.output_dir, *(Path(v) for v in fields if isinstance(v, str | Path))]
        return sorted({Path(p).relative_to(root).as_posix() for p in paths if Path(p).is_relative_to(root)})

    # ------------------------------------------------------------------ the driver's side

    def collect(self, item: WorkItem) -> None:
        """Bring a finished item's outputs into the driver's run directory (after success, or what
        a failed attempt managed to push: its log)."""
        for relpath in self.outputs(item):
            self.restore(relpath)

    def publish(self, relpath: str) -> None:
        """Put something the driver prepared (the data) where every node can pull it."""
        self.push(self.run_dir, relpath)

    def restore(self, relpath: str) -> int:
        """Bring what storage holds under `relpath` into the driver's run directory (a rerun on
        another machine resumes from the checkpoints in storage)."""
        return self.pull(relpath, self.run_dir)

    def clear(self) -> None:
        """Delete this run's artefacts in storage (`run --fresh`): only in a place this project made
        (it holds MARKER); anything else there is refused, never deleted."""
        if self._state() == "foreign":
            raise StorageNotOurs(
                f"{self.location} holds files this project did not put there (it has no {MARKER}); --fresh deletes "
                "only storage it created. Point storage at an empty place, or empty that one yourself")
        self.delete("")

    def claim(self) -> None:
        """Mark an empty storage place as ours (to manage, and to empty with --fresh); a place that
        already holds other files is used but never marked, so --fresh will not empty it."""
        state = self._state()
        if state == "foreign":
            log.warning("%s already holds files this project did not put there; using it, but `run --fresh` "
                        "will refuse to empty it", self.location)
        elif state != "ours":
            fs, base = self._remote()
            fs.create_dir(base, recursive=True)
            with fs.open_output_stream(join(base, MARKER)) as stream:
                stream.write(f"made by orchestrator for the run {self.run_name}\n".encode())

    def _state(self) -> str:
        """"ours" (marked), "empty" (missing or empty) or "foreign" (files, no marker)."""
        import pyarrow.fs

        fs, base = self._remote()
        if fs.get_file_info(join(base, MARKER)).type != pyarrow.fs.FileType.NotFound:
            return "ours"
        if fs.get_file_info(base).type == pyarrow.fs.FileType.NotFound:
            return "empty"
        return "foreign" if fs.get_file_info(pyarrow.fs.FileSelector(base)) else "empty"

    def delete(self, relpath: str) -> None:
        """Delete what storage holds under `relpath`, the folder included ("": everything of the
        run, its folder kept)."""
        import pyarrow.fs

        fs, base = self._remote()
        path = join(base, relpath)
        try:
            if not relpath:
                fs.delete_dir_contents(path, missing_dir_ok=True)
            elif (kind := fs.get_file_info(path).type) == pyarrow.fs.FileType.Directory:
                fs.delete_dir(path)
            elif kind == pyarrow.fs.FileType.File:
                fs.delete_file(path)
        except FileNotFoundError:  # someone else deleted it first: gone either way
            pass

    def to_driver(self, value: Any, root: Path) -> Any:
        """A result made on a node, with its local paths as the driver's run directory has them."""
        return _reroot(value, str(root), str(self.run_dir))


def _reroot(value: Any, old: str, new: str) -> Any:
    if isinstance(value, Path):
        return Path(_reroot(str(value), old, new))
    if isinstance(value, str):
        return new + value[len(old):] if value == old or value.startswith(old + "/") else value
    if isinstance(value, tuple):
        return tuple(_reroot(v, old, new) for v in value)
    if isinstance(value, list):
        return [_reroot(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _reroot(v, old, new) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _reroot(getattr(value, f.name), old, new) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value


def remove_node_copies(storage: RunStorage | None, timeout_s: float = 60.0) -> None:
    """At the end of a run (finished or interrupted, once its actors are gone): every live node's
    copy of the run directory is removed; what mattered is in storage by now. A node that does
    not answer within `timeout_s` keeps its copy, with a warning naming it."""
    if storage is None:
        return
    import ray

    @ray.remote(num_cpus=0, max_retries=0)
    def remove(storage: RunStorage) -> str:
        root = storage.local_root()
        shutil.rmtree(root, ignore_errors=True)
        return str(root)

    try:
        _remove_on_every_node(storage, remove, timeout_s)
    except Exception as exc:  # noqa: BLE001 - as above: never the end of a run that got this far
        log.warning("could not remove the node copies of %s: %s", storage.run_name, exc)


def _remove_on_every_node(storage: RunStorage, remove: Any, timeout_s: float) -> None:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
    refs = {remove.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(storage): node
            for node in nodes}
    done, late = ray.wait(list(refs), num_returns=len(refs), timeout=timeout_s)
    for ref in done:
        try:
            log.info("removed the node copy %s", ray.get(ref))
        except Exception as exc:  # noqa: BLE001 - a copy left behind costs disk, never a result
            log.warning("could not remove the copy of %s on node %s: %s", storage.run_name, refs[ref], exc)
    for ref in late:
        log.warning("node %s did not remove its copy of %s within %.0f s", refs[ref], storage.run_name, timeout_s)
        ray.cancel(ref, force=True)


def run_storage(setting: Any, run_dir: Path) -> RunStorage | None:
    """The run's storage from the config's `storage` section; None when the run directory is it.
    A local path is made absolute here, on the driver, as actors run in other directories."""
    if setting is None or setting.uri is None:
        return None
    uri = setting.uri if "://" in setting.uri else str(Path(setting.uri).expanduser().resolve())
    return RunStorage(uri=uri, run_dir=run_dir.resolve(), scratch_dir=setting.scratch_dir)


def open_run_storage(setting: Any, run_dir: Path, *, fresh: bool = False) -> RunStorage | None:
    """Ready the run's storage before anything trains: it must take a write (a wrong bucket,
    credential or mount is a config error, exit 2, not a failure after training); `fresh` empties
    it; what it holds of an earlier attempt comes into the run directory, so a rerun resumes from
    it, even on another machine; and the prepared data goes up for the nodes, with any checkpoint
    only the run directory has (trained before `storage` was set)."""
    from orchestrator.config import ConfigError, ConfigIssue
    from orchestrator.failures import one_line

    storage = run_storage(setting, run_dir)
    if storage is None:
        return None
    try:
        storage.check_writable()
        if fresh:
            storage.clear()
        storage.claim()
        restored = storage.restore("models")
        for relpath in ("data", "models"):  # models: what trained here before storage was set
            storage.publish(relpath)
    except StorageNotOurs as exc:
        raise ConfigError([ConfigIssue("storage.uri", str(exc))]) from exc
    except Exception as exc:  # noqa: BLE001 - pyarrow raises OSError and its own errors alike
        raise ConfigError([ConfigIssue(
            "storage.uri",
            f"cannot use {storage.location}: {one_line(exc)}; check the path or bucket, the credentials "
            "(for s3://, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an instance role) and the region",
        )]) from exc
    log.info("storage %s ready%s", storage.location, f"; {restored} file(s) of earlier work restored" if restored else "")
    return storage
