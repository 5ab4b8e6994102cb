"""How the supervisor scales past this machine: many candidates, one logical GPU each, on a real
multi-node Ray cluster started here (`ray.cluster_utils.Cluster`; GPUs declared as logical
resources), with stand-in candidates that sleep instead of training (`orchestrator.simulation`).

    python benchmarks/simulated_cluster.py [--candidates 32,64,128] [--nodes 8] [--gpus-per-node 4]
                                           [--seconds 5]

For each count: wall time against the ideal (waves of `nodes x gpus` candidates, `seconds`
each), the driver's own CPU per candidate (its main thread: queue, launches, polling, status;
and the whole process, Ray's client threads included), and two checks: no GPU ever held by two
candidates at once, and first launches in config order. One run per count (the cluster start
dominates repeats); the machine has 2 real cores, so actor start-up, not the driver, bounds it.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import RESULTS_DIR, progress, write_json  # noqa: E402
from benchmarks.report import simulated_cluster_section  # noqa: E402
from contract.job import DataFiles  # noqa: E402
from orchestrator.cluster import connect  # noqa: E402
from orchestrator.config import RayConfig, validate_raw  # noqa: E402
from orchestrator.logging_setup import setup_logging  # noqa: E402
from orchestrator.simulation import SIMULATED, SimulatedRequest, simulated_cluster  # noqa: E402
from orchestrator.stages.train import build_jobs  # noqa: E402
from orchestrator.supervisor import Supervisor  # noqa: E402
from orchestrator.work import WorkItem  # noqa: E402


def experiment(count: int, workdir: Path) -> Any:
    models = [{"name": f"sim-{i:04d}", "source": "scratch:bart-tiny", "family": "seq2seq"} for i in range(count)]
    return validate_raw({
        "experiment": "simulated", "output_dir": str(workdir), "models": models,
        "ray": {"dashboard": False},
        "defaults": {"resources": {"cpus": 1, "gpus": 1},
                     "timeouts": {"load": 600, "first_step": 600, "stall": 300, "total": 1800}},
    })


def measure(count: int, nodes: int, gpus_per_node: int, seconds: float, info: Any, workdir: Path) -> dict[str, Any]:
    config = experiment(count, workdir)
    jobs = build_jobs(config, DataFiles(workdir / "unused.jsonl", None, None), (), workdir / f"run-{count}")
    items = [WorkItem(SIMULATED, job, SimulatedRequest(seconds, 5)) for job in jobs]
    launched: list[str] = []

    def on_event(label: str, kind: str, state: dict[str, Any]) -> None:
        if kind == "launched" and state["attempt"] == 1:
            launched.append(label.split("/", 1)[1])

    wall, thread_cpu, process_cpu = time.perf_counter(), time.thread_time(), time.process_time()
    outcomes = Supervisor(items, info, workdir / f"run-{count}", on_event).run()
    wall = time.perf_counter() - wall
    thread_cpu, process_cpu = time.thread_time() - thread_cpu, time.process_time() - process_cpu
    spans = [(o.details.get("node_id"), tuple(o.details.get("gpu_ids", ())), o.details.get("started", 0),
              o.details.get("finished", 0)) for o in outcomes if o.status == "succeeded"]
    shared = sum(1 for a, b in combinations(spans, 2) if a[:2] == b[:2] and a[2] < b[3] and b[2] < a[3])
    ideal = math.ceil(count / (nodes * gpus_per_node)) * seconds
    return {
        "candidates": count, "succeeded": sum(o.status == "succeeded" for o in outcomes),
        "wall_s": round(wall, 2), "ideal_s": ideal, "overhead_s": round(wall - ideal, 2),
        "driver_thread_cpu_ms_per_candidate": round(1000 * thread_cpu / count, 2),
        "driver_process_cpu_ms_per_candidate": round(1000 * process_cpu / count, 2),
        "gpu_shared_by_two": shared, "launched_in_config_order": launched == [job.name for job in jobs],
    }


def run(counts: tuple[int, ...] = (32, 64), nodes: int = 8, gpus_per_node: int = 4,
        seconds: float = 5.0) -> dict[str, Any]:
    """One supervised run per count on one simulated cluster; a row per count."""
    setup_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="bench-simulated-"))
    rows = []
    try:
        started = time.perf_counter()
        with simulated_cluster(nodes, gpus_per_node, cpus_per_node=gpus_per_node) as cluster:
            cluster_start_s = time.perf_counter() - started
            progress(f"  simulated_cluster: {nodes} nodes x {gpus_per_node} logical GPUs up in {cluster_start_s:.1f} s")
            info = connect(RayConfig(address=cluster.address))
            for count in counts:
                rows.append(measure(count, nodes, gpus_per_node, seconds, info, workdir))
                progress(f"  simulated_cluster: {count} candidates in {rows[-1]['wall_s']:.1f} s "
                         f"(ideal {rows[-1]['ideal_s']:.0f} s)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"nodes": nodes, "gpus_per_node": gpus_per_node, "seconds": seconds, "cpus": os.cpu_count(),
            "cluster_start_s": cluster_start_s, "results": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default="32,64,128")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--gpus-per-node", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "simulated_cluster.json")
    args = parser.parse_args()
    result = run(tuple(int(c) for c in args.candidates.split(",")), args.nodes, args.gpus_per_node, args.seconds)
    write_json(args.out, result)
    print("\n".join(simulated_cluster_section(result)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
