"""One writer per run directory: `run`, `tune` and `optimize RUN_DIR` hold `<run_dir>/.lock`.

The lock is the operating system's (`flock` on the file), so it ends with its holder whatever
way the holder ends: a process killed with SIGKILL, or a machine that rebooted, leaves a file
naming it but no lock, and the next command takes it over with a line saying so. A second
command while the holder lives refuses (exit 2) and names it: pid, host, command and since when.
`status` only reads and takes no lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

from orchestrator.config import ConfigError, ConfigIssue

log = logging.getLogger(__name__)

LOCK = ".lock"


class RunLock:
    """`with RunLock(run_dir, "run"):` holds the run directory for this process."""

    def __init__(self, run_dir: Path, command: str):
        self.path = Path(run_dir) / LOCK
        self.command = command
        self._file: IO[str] | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open while the lock is held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(handle)
            handle.close()
            raise ConfigError([ConfigIssue("run directory", busy_message(self.path, holder))]) from None
        earlier = _read(handle)
        if earlier:
            log.warning("taking over %s from pid %s on %s (%s), which is gone", self.path, earlier.get("pid"),
                        earlier.get("host"), earlier.get("command"))
        handle.seek(0)
        handle.truncate()
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                   "command": f"{self.command}: {' '.join(sys.argv)}"}, handle)
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Empties the file and lets go; the file stays (removing it would race a waiting command)."""
        if self._file is None:
            return
        self._file.seek(0)
        self._file.truncate()
        self._file.flush()
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        self._file = None


def _read(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "{}")
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def busy_message(path: Path, holder: dict[str, Any]) -> str:
    since = holder.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, int | float) else "just now"
    return (f"{path.parent} is in use by pid {holder.get('pid', '?')} on {holder.get('host', '?')} "
            f"({holder.get('command', 'starting')}, since {when}); wait for it to end or stop it, then run again")
