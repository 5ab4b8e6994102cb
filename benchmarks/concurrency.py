"""Concurrent training under the orchestrator vs. the same candidates one after another.

Both sides train the same candidates with the same settings (data, steps, seeds, one torch
thread per candidate unless --sequential-threads says otherwise) in one invocation, alternating
sides each repeat so drift on the machine hits both. The orchestrated side is timed end to end
(Ray start, actor start, training, summary; the ensemble stage is switched off on both sides), and its training stage alone is reported too.

    python benchmarks/concurrency.py                      # configs/full.yaml
    python benchmarks/concurrency.py --set defaults.epochs=2 --repeats 3

Run it on a quiet machine: another job holding a core takes the concurrency gain away.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.reporting import RecordingReporter  # noqa: E402
from orchestrator.config import load_config  # noqa: E402
from orchestrator.data import prepare_data  # noqa: E402
from orchestrator.logging_setup import setup_logging  # noqa: E402
from orchestrator.pipeline import run_experiment  # noqa: E402
from orchestrator.stages.train import build_jobs  # noqa: E402


def sequential(config_path: str, overrides: list[str], workdir: Path, threads: int) -> float:
    """The old way: one process, one candidate after another, with `threads` torch threads."""
    from models.training import train_candidate

    overrides = [*overrides, f"defaults.resources.cpus={threads}"]  # train_candidate sets threads from it
    config = load_config(config_path, overrides, output_dir=str(workdir))
    run_dir = config.run_dir.resolve()
    data, labels = prepare_data(config, run_dir)
    jobs = build_jobs(config, data, labels, run_dir)
    started = time.perf_counter()
    for job in jobs:
        train_candidate(job, RecordingReporter())
    return time.perf_counter() - started


def orchestrated(config_path: str, overrides: list[str], workdir: Path) -> tuple[float, float]:
    """`orchestrator run`, in process; returns (end-to-end seconds, training-stage seconds)."""
    config = load_config(config_path, overrides, output_dir=str(workdir))
    started = time.perf_counter()
    code = run_experiment(config, quiet=True)
    total = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the orchestrated run ended with status {code}; see {config.run_dir}")
    summary = json.loads((config.run_dir / "summary.json").read_text(encoding="utf-8"))
    return total, summary["stages"]["train"]["wall_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "full.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sequential-threads", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "concurrency.json"))
    args = parser.parse_args()
    setup_logging("WARNING")
    # Training only on both sides: the sequential loop has no ensemble stage to compare with.
    overrides = args.overrides + ["ray.dashboard=false", "ensemble.strategy=none"]

    seq, orch, stage = [], [], []
    for repeat in range(args.repeats):
        for side in ("sequential", "orchestrated") if repeat % 2 == 0 else ("orchestrated", "sequential"):
            workdir = Path(tempfile.mkdtemp(prefix=f"bench-{side}-"))
            try:
                if side == "sequential":
                    seq.append(sequential(args.config, overrides, workdir, args.sequential_threads))
                else:
                    total, training = orchestrated(args.config, overrides, workdir)
                    orch.append(total)
                    stage.append(training)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            print(f"repeat {repeat + 1}/{args.repeats} {side}: done", file=sys.stderr)

    config = load_config(args.config, overrides)
    result = {
        "config": args.config,
        "overrides": overrides,
        "candidates": [c.name for c in config.models],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "repeats": args.repeats,
        "sequential_threads": args.sequential_threads,
        "sequential_s": seq,
        "orchestrated_s": orch,
        "orchestrated_training_stage_s": stage,
        "median_sequential_s": statistics.median(seq),
        "median_orchestrated_s": statistics.median(orch),
        "median_training_stage_s": statistics.median(stage),
    }
    result["speedup_end_to_end"] = result["median_sequential_s"] / result["median_orchestrated_s"]
    result["speedup_training_stage"] = result["median_sequential_s"] / result["median_training_stage_s"]
    result["ideal_speedup"] = min(len(config.models), os.cpu_count() or 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")

    n = len(config.models)
    print(f"\n{n} candidates from {args.config}, {args.repeats} repeat(s), {os.cpu_count()} CPUs")
    print(f"{'':34}{'median s':>10}{'speed-up':>10}")
    print(f"{f'sequential, one process, {args.sequential_threads} thr':34}{result['median_sequential_s']:10.1f}{1.0:10.2f}")
    print(f"{'orchestrated, end to end':34}{result['median_orchestrated_s']:10.1f}{result['speedup_end_to_end']:10.2f}")
    print(f"{'orchestrated, training stage':34}{result['median_training_stage_s']:10.1f}{result['speedup_training_stage']:10.2f}")
    print(f"{'ideal (min(candidates, CPUs))':34}{'':10}{result['ideal_speedup']:10.2f}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
