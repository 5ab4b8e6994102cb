"""What orchestration costs before any training starts: starting Ray, and starting an actor.

(a) Ray start: the project's own `orchestrator.cluster.connect` (a private local cluster, as
    `orchestrator run` starts it) until a trivial task has returned, then `ray.shutdown`; with
    the dashboard off and on, alternating which goes first each repeat.
(b) Actor start, on one local cluster (dashboard off), from creating the actor to the return of
    its first method call, one actor at a time, each killed after its measurement:
    - `bare`: an actor with one empty method, Ray's own floor;
    - `stage_worker`: the project's `orchestrator.workers.StageWorker` running a no-op work item
      (`orchestrator.simulation.imports_only`, importing nothing): the supervisor's real path, with
      the worker's logging setup, the item unpickled and the status board told its phases;
    - `stage_worker_training_imports`: the same with an item whose function imports the
      training code (`models.training`: torch, transformers, the Trainer), which every training
      actor pays before its first step: a candidate's cold start;
    - `warm_stage_worker`: a second such item on a worker that has already run one, timed from
      the call to its return: what each later stage of a candidate pays on its warm worker.
    The kinds rotate within each repeat.

A default run puts each candidate through four steps (train, the ensemble's propose and score,
optimize): the fixed cost per candidate and step is one cold start and three warm ones, over four.

No warm-up: a cold start is the cost being measured. The per-stage overhead of a whole run (the
third part of this measurement) comes from the orchestrated runs of the concurrency benchmark.

    python benchmarks/overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ray  # noqa: E402

from benchmarks.common import RESULTS_DIR, progress, write_json  # noqa: E402
from benchmarks.report import overhead_section  # noqa: E402
from contract.job import DataFiles  # noqa: E402
from orchestrator.cluster import connect, disconnect  # noqa: E402
from orchestrator.config import RayConfig, validate_raw  # noqa: E402
from orchestrator.logging_setup import setup_logging  # noqa: E402
from orchestrator.simulation import IMPORTS_ONLY, ImportRequest  # noqa: E402
from orchestrator.stages.train import build_jobs  # noqa: E402
from orchestrator.status import StatusBoard  # noqa: E402
from orchestrator.work import WorkItem  # noqa: E402
from orchestrator.workers import StageWorker  # noqa: E402

WAIT_S = 300  # no single start should take this long; if one does, the benchmark fails naming it
ACTOR_KINDS = ("bare", "stage_worker", "stage_worker_training_imports", "warm_stage_worker")


@ray.remote
def trivial() -> None:
    """The task whose return marks a usable cluster."""


@ray.remote
class Bare:
    def ping(self) -> None:
        """An empty method: the first call's return marks a usable actor."""


if __name__ != "__main__":
    # Workers need not find this module on their path: its functions and classes travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def ray_start(dashboard: bool) -> float:
    started = time.perf_counter()
    connect(RayConfig(dashboard=dashboard))
    try:
        ray.get(trivial.remote(), timeout=WAIT_S)
        return time.perf_counter() - started
    finally:
        disconnect()


def actor_start(kind: str, item: WorkItem, board: Any, log_file: Path) -> float:
    if kind == "warm_stage_worker":
        actor = StageWorker.options(name=f"overhead/{log_file.stem}", num_cpus=1).remote()
        ray.get(actor.run.remote(item, board), timeout=WAIT_S)  # its cold start, not timed
    started = time.perf_counter()
    if kind == "bare":
        actor = Bare.options(num_cpus=1).remote()
        ref = actor.ping.remote()
    elif kind == "warm_stage_worker":
        ref = actor.run.remote(item, board)
    else:
        actor = StageWorker.options(name=f"overhead/{log_file.stem}", num_cpus=1).remote()
        ref = actor.run.remote(item, board)
    try:
        ray.get(ref, timeout=WAIT_S)
        return time.perf_counter() - started
    finally:
        ray.kill(actor, no_restart=True)


def work_items(workdir: Path) -> dict[str, WorkItem]:
    """The no-op items StageWorker runs: one candidate's real job, stand-in functions."""
    config = validate_raw({
        "experiment": "overhead", "output_dir": str(workdir),
        "models": [{"name": "overhead", "source": "scratch:bart-tiny", "family": "seq2seq"}],
        "ray": {"dashboard": False}, "defaults": {"resources": {"cpus": 1}},
    })
    [job] = build_jobs(config, DataFiles(workdir / "unused.jsonl", None, None), (), workdir)
    training_imports = WorkItem(IMPORTS_ONLY, job, ImportRequest(("models.training",)))
    return {
        "stage_worker": WorkItem(IMPORTS_ONLY, job, ImportRequest(())),
        "stage_worker_training_imports": training_imports,
        "warm_stage_worker": training_imports,
    }


def run(repeats: int = 5) -> dict[str, Any]:
    """Raw seconds per start: Ray with the dashboard off and on, and every actor kind."""
    setup_logging("WARNING")
    ray_starts: dict[str, list[float]] = {"dashboard_off": [], "dashboard_on": []}
    for repeat in range(repeats):
        order = (False, True) if repeat % 2 == 0 else (True, False)
        for dashboard in order:
            ray_starts["dashboard_on" if dashboard else "dashboard_off"].append(ray_start(dashboard))
        progress(f"  overhead: Ray start {repeat + 1}/{repeats}: "
                 + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in ray_starts.items()))

    actor_starts: dict[str, list[float]] = {kind: [] for kind in ACTOR_KINDS}
    workdir = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    connect(RayConfig(dashboard=False))
    try:
        items = work_items(workdir)
        board = StatusBoard.remote()
        ray.get(board.snapshot.remote(), timeout=WAIT_S)  # the board is up before any clock starts
        for repeat in range(repeats):
            shift = repeat % len(ACTOR_KINDS)
            for kind in ACTOR_KINDS[shift:] + ACTOR_KINDS[:shift]:
                item = items.get(kind)
                actor_starts[kind].append(actor_start(kind, item, board, workdir / "logs" / f"{kind}-{repeat}.log"))
            progress(f"  overhead: actor start {repeat + 1}/{repeats}: "
                     + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in actor_starts.items()))
    finally:
        disconnect()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"repeats": repeats, "cpus": os.cpu_count(), "ray_start_s": ray_starts, "actor_start_s": actor_starts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "overhead.json")
    args = parser.parse_args()
    result = run(args.repeats)
    write_json(args.out, result)
    print("\n".join(overhead_section(result, {})))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
