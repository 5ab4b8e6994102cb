"""What the numbers were measured on: hardware, software versions, source tree and how busy the
machine was. Timings only compare within one invocation on one machine; this block says which."""

from __future__ import annotations

import multiprocessing
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import REPO

PACKAGES = ("torch", "transformers", "ray", "onnxruntime", "optimum", "scikit-learn", "numpy")
OUTPUTS = ("benchmarks/results", "benchmarks/RESULTS.md")  # written by the run itself: not "dirty"


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cgroup_cpu_quota() -> float | None:
    """CPUs a cgroup v2 quota allows this process (None: no quota)."""
    path = Path("/sys/fs/cgroup/cpu.max")
    if not path.is_file():
        return None
    quota, period = path.read_text(encoding="utf-8").split()[:2]
    return None if quota == "max" else int(quota) / int(period)


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def git_state(repo: Path = REPO) -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--", ".", *(f":(exclude){p}" for p in OUTPUTS)).splitlines()
    except (OSError, subprocess.SubprocessError) as exc:
        return {"commit": "unknown", "error": str(exc)}
    return {"commit": commit, "dirty": bool(changed), "dirty_paths": len(changed)}


SCALING_WORK = 1600  # 256x256 float32 matrix products per process: about 2 s on one core here


def _timed_work(barrier: Any, results: Any) -> None:
    """In a spawned child with one BLAS thread: wait for the others, then time a fixed workload."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((256, 256), dtype=np.float32)
    barrier.wait()
    started = time.perf_counter()
    for _ in range(SCALING_WORK):
        a = np.tanh(a @ a)
    results.put(time.perf_counter() - started)


def parallel_scaling(processes: int | None = None) -> dict[str, Any]:
    """How much work `processes` single-threaded processes get done at once against one alone:
    the ceiling of any concurrency speed-up on this machine (ideal: `processes`)."""
    processes = processes or len(os.sched_getaffinity(0))
    context = multiprocessing.get_context("spawn")
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update(dict.fromkeys(saved, "1"))  # the children inherit one thread each
    try:
        seconds = {}
        for count in (1, processes):
            barrier, results = context.Barrier(count), context.Queue()
            children = [context.Process(target=_timed_work, args=(barrier, results)) for _ in range(count)]
            for child in children:
                child.start()
            times = [results.get(timeout=300) for _ in children]
            for child in children:
                child.join(60)
            seconds[count] = max(times)
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    return {"processes": processes, "alone_s": seconds[1], "together_s": seconds[processes],
            "scaling": processes * seconds[1] / seconds[processes]}


def load_1min() -> float:
    return os.getloadavg()[0]


def machine_details() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "physical_cores": psutil.cpu_count(logical=False),
        "cgroup_cpu_quota": cgroup_cpu_quota(),
        "ram_gib": psutil.virtual_memory().total / 2**30,
        "os": platform.freedesktop_os_release().get("PRETTY_NAME", platform.system()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {name: package_version(name) for name in PACKAGES},
        "git": git_state(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_1min_start": load_1min(),
        "parallel_scaling": parallel_scaling(),
    }
