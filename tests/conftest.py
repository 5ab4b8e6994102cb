"""Shared fixtures: offline hub, one thread per process, tiny configs and data on disk."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: hub ids fail at once
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One thread per process for OpenMP, BLAS and LightGBM too (before numpy or torch load them): tests
# run in several processes at once (pytest-xdist), and threads of each fighting over the same cores
# made the numpy and scikit-learn tests several times slower. Children and Ray's workers inherit it.
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
RAY_GUARD = Path(__file__).resolve().parent / "ray_guard"  # its sitecustomize refuses ray.init in unit tests


def child_env() -> dict[str, str]:
    """The environment of a child `python` a test starts: offline hub, this checkout ahead of the
    installed one (for the child and Ray's workers), and the Ray guard of unit tests."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join((str(REPO), str(RAY_GUARD)))}


def pytest_configure(config: pytest.Config) -> None:
    import ray

    from tests.ray_guard.sitecustomize import refusing

    if not hasattr(ray.init, "refuses_in_unit_tests"):
        ray.init = refusing(ray.init)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): one worker per core, and no more than the memory holds (a
    worker's Ray cluster and actors take up to about 4 GiB); ORCHESTRATOR_TEST_WORKERS overrides it.
    On 2 cores, 2 workers took the suite from 37 to 25 minutes; a third kept both cores busy all the
    time and made it slower (27 minutes), every test stretched by the others."""
    if "ORCHESTRATOR_TEST_WORKERS" in os.environ:
        return int(os.environ["ORCHESTRATOR_TEST_WORKERS"])
    cores = len(os.sched_getaffinity(0))
    return max(1, min(cores, psutil.virtual_memory().total // 4 // 2**30))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The integration tests first: they are the long ones, so the workers start on them and the
    short unit tests fill the gaps at the end instead of a long test running alone."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Ray only in tests marked `integration`: while any other test runs (its fixtures included),
    ray.init raises, in this process and in the children it starts (tests/ray_guard)."""
    from tests.ray_guard.sitecustomize import REFUSE_RAY

    if item.get_closest_marker("integration") is None:
        os.environ[REFUSE_RAY] = item.nodeid
    try:
        return (yield)
    finally:
        os.environ.pop(REFUSE_RAY, None)


def requires_gpu(reason: str = "needs a CUDA GPU") -> pytest.MarkDecorator:
    return pytest.mark.skipif(not torch.cuda.is_available(), reason=reason)


def tiny_experiment(tmp_path: Path, models: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    """A small raw experiment: built-in Korean data, few steps, no dashboard."""
    raw: dict[str, Any] = {
        "experiment": "tiny",
        "output_dir": str(tmp_path / "runs"),
        "task": {"type": "summarization", "language": "ko"},
        "data": {"builtin": {"train_size": 96, "validation_size": 16, "test_size": 16}},
        "ray": {"dashboard": False, "num_cpus": 2},
        "defaults": {
            "max_steps": 12, "batch_size": 8, "eval_batch_size": 16, "learning_rate": 2e-3,
            "max_source_length": 192, "max_target_length": 48,
            "generation": {"max_new_tokens": 16}, "resources": {"cpus": 1},
            "timeouts": {"load": 240, "first_step": 240, "total": 600, "stall": 240},
        },
        "models": models,
        "optimize": {"enabled": False},  # tests that quantize say so
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


FINISHED_RUN_DEFAULTS = {"max_steps": 30, "eval_batch_size": 16, "max_source_length": 192, "resources": {"cpus": 0.4}}


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """`build(folder)` once per test session, whatever the number of pytest-xdist workers: the first
    worker to ask builds it under a file lock, the others wait and get the same folder."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, done = shared / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@dataclass(frozen=True)
class FinishedRun:
    """The shared run (see `finished_run`): its config, run directory and what its command said."""

    config: Path
    run_dir: Path
    returncode: int
    stdout: str
    stderr: str


FINISHED_RUN_DRIVER = """
import json, sys
import orchestrator.cli
code = orchestrator.cli.main(sys.argv[2:])
with open(sys.argv[1], "w", encoding="utf-8") as modules:
    json.dump(sorted(sys.modules), modules)
sys.exit(code)
"""


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """One real run shared by every test that reads a run directory (pipeline, export, serve,
    driver imports), built once for all workers: bart, t5 and llama trained concurrently for 30
    steps, a candidate whose model is not cached (skipped in preflight) and one that raises while
    training (failed after its retry), a stacking ensemble, bart quantized with both CPU backends
    and swept over batch sizes 1 and 4, and MLflow besides TensorBoard. Tests must not change its
    run directory (copy it first). The driver writes the modules it imported to
    `driver_modules.json` beside the config."""
    from tests.faults import faulty_bart

    def build(root: Path) -> None:
        raw = tiny_experiment(root, [
            {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"},
            {"name": "t5", "source": "scratch:t5-tiny", "family": "seq2seq"},
            {"name": "llama", "source": "scratch:llama-tiny", "family": "causal"},
            {"name": "missing", "source": "no-such-org/model-not-cached", "family": "seq2seq"},
            {"name": "broken", "source": str(faulty_bart(root / "broken", "raise_at", 3)),
             "family": "seq2seq", "trust_remote_code": True},
        ])
        raw["defaults"].update(FINISHED_RUN_DEFAULTS)
        raw["ensemble"] = {"strategy": "stacking"}
        raw["optimize"] = {"enabled": True, "models": ["bart"], "backends": ["torch_dynamic", "onnxruntime"],
                           "batch_sizes": [1, 4], "warmup": 1, "repeats": 2}
        raw["tracking"] = {"mlflow": True}  # and TensorBoard, the default (W&B: tests/test_tracking.py)
        config = write_yaml(root / "exp.yaml", raw)
        done = subprocess.run(
            [sys.executable, "-c", FINISHED_RUN_DRIVER, str(root / "driver_modules.json"), "run", str(config)],
            cwd=root, env=child_env(), capture_output=True, text=True, timeout=900,
        )
        (root / "command.json").write_text(json.dumps(
            {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}), encoding="utf-8")

    root = built_once(tmp_path_factory, "finished", build)
    said = read_json(root / "command.json")
    run = FinishedRun(root / "exp.yaml", root / "runs" / "tiny", said["returncode"], said["stdout"], said["stderr"])
    assert run.returncode == 3, run.stdout[-3000:] + run.stderr[-3000:]  # 3: some candidates failed, as planned
    return run


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Seconds per test module (setup, call and teardown together), slowest first: where a session's
    time went, so the suite's time never creeps up unseen."""
    per_module: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if isinstance(report, pytest.TestReport):
                module = report.nodeid.split("::")[0]
                per_module[module] = per_module.get(module, 0.0) + report.duration
    if len(per_module) > 1:
        terminalreporter.write_sep("=", f"seconds per test module ({sum(per_module.values()):.0f} s in all)")
        for module, seconds in sorted(per_module.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{seconds:8.1f} s  {module}")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m orchestrator ARGS` in a child process, offline, with this checkout importable."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args], cwd=cwd, env=child_env(),
        capture_output=True, text=True, timeout=900,
    )


def write_yaml(path: Path, raw: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Any:
    """An S3 server on localhost (moto), for the whole session: `host:port`."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the session's S3 server (moto keeps every bucket for the whole
    process, so each test gets its own); the `storage` URI of a prefix in it, credentials and
    endpoint included, as a user would write it for MinIO or Ceph."""
    import uuid

    import boto3

    bucket = f"experiments-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3", endpoint_url=f"http://{s3_endpoint}", aws_access_key_id="test", aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return f"s3://test:test@{bucket}/runs?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"


RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")  # per-node agents, which outlive their raylet


def process_name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.NoSuchProcess:
        return "(gone)"


def wait_for_all_but_agents(processes: list[psutil.Process], timeout: float) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """Waits until every one of `processes` but Ray's per-node agents has exited: the agents notice
    that their raylet is gone and exit on their own a minute or two later, so waiting for them here
    would always run to `timeout`. Returns (those still alive, the agents)."""
    agents = [p for p in processes if process_name(p) in RAY_AGENTS]
    _, alive = psutil.wait_procs([p for p in processes if p not in agents], timeout=timeout)
    return alive, agents
