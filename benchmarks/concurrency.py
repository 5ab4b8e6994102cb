"""Concurrent training under the orchestrator vs. the same candidates one after another, and vs. Ray Tune.

Three sides train the same candidates with the same settings (data, steps, seeds, one torch
thread per candidate unless --sequential-threads says otherwise) in one invocation, rotating
which side goes first each repeat so drift on the machine hits all of them:
- sequential: a plain loop in this process (the old way);
- orchestrated: `orchestrator run`;
- tune: what a user would write instead, Ray Tune with one trial per candidate
  (`tune.grid_search` over the candidates, one CPU each), each trial calling the same
  `train_candidate`; timed from `ray.init` to `ray.shutdown`, as the orchestrated side is. The orchestrated side is
timed end to end (Ray start, actor start, training, summary; the ensemble and optimize stages are
switched off, as the sequential loop has neither), and its training stage alone is reported too,
with where the stage's time went (summary.json against each candidate's own clock).

There is no separate warm-up run: every orchestrated repeat is a cold start, as a user's run is;
the sequential side runs in this process, so from its second repeat on its imports are warm,
which favours the sequential side.

    python benchmarks/concurrency.py                      # configs/full.yaml
    python benchmarks/concurrency.py --set defaults.epochs=2 --repeats 3

Run it on a quiet machine: another job holding a core takes the concurrency gain away.
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
from ray import tune  # noqa: E402

from benchmarks.common import RESULTS_DIR, progress, run_record, write_json  # noqa: E402
from benchmarks.report import concurrency_section  # noqa: E402
from contract.job import TrainingJob  # noqa: E402
from models.reporting import RecordingReporter  # noqa: E402
from models.training import train_candidate  # noqa: E402
from orchestrator.config import load_config  # noqa: E402
from orchestrator.data import prepare_data  # noqa: E402
from orchestrator.logging_setup import setup_logging  # noqa: E402
from orchestrator.pipeline import run_experiment  # noqa: E402
from orchestrator.stages.train import build_jobs  # noqa: E402

SIDES = ("sequential", "orchestrated", "tune")

if __name__ != "__main__":
    # Tune's trial processes need not find this module on their path: `train_one` travels by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
# Training only on every side: the sequential loop has no ensemble or optimize stage to compare with.
TRAINING_ONLY = ["ray.dashboard=false", "ensemble.strategy=none", "optimize.enabled=false"]


def training_jobs(config_path: str, overrides: list[str], workdir: Path) -> list[TrainingJob]:
    """The jobs `orchestrator run` would hand its actors, data written under `workdir`."""
    config = load_config(config_path, overrides, output_dir=str(workdir))
    run_dir = config.run_dir.resolve()
    data, labels = prepare_data(config, run_dir)
    return build_jobs(config, data, labels, run_dir)


def sequential(config_path: str, overrides: list[str], workdir: Path, threads: int) -> float:
    """The old way: one process, one candidate after another, with `threads` torch threads."""
    jobs = training_jobs(config_path, [*overrides, f"defaults.resources.cpus={threads}"], workdir)
    started = time.perf_counter()  # train_candidate sets torch's threads from resources.cpus
    for job in jobs:
        train_candidate(job, RecordingReporter())
    return time.perf_counter() - started


def tune_trials(config_path: str, overrides: list[str], workdir: Path) -> float:
    """Ray Tune as a user would point it at the same trainings: one trial per candidate."""
    started = time.perf_counter()  # preparing the data included, as on the orchestrated side
    jobs = {job.name: job for job in training_jobs(config_path, overrides, workdir)}
    ray.init(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(train_one, jobs=jobs), {"cpu": 1}),
            param_space={"candidate": tune.grid_search(list(jobs))},
            run_config=tune.RunConfig(storage_path=str(workdir / "tune"), name="concurrency", verbose=0),
        )
        results = tuner.fit()
        failed = [r.error for r in results if r.error]
        if failed:
            raise RuntimeError(f"{len(failed)} Tune trial(s) failed: {failed[0]}")
    finally:
        ray.shutdown()
    return time.perf_counter() - started


def train_one(trial: dict[str, Any], jobs: dict[str, Any]) -> None:
    """A Tune trial: the candidate it was given, trained as the sequential loop trains it."""
    result = train_candidate(jobs[trial["candidate"]], RecordingReporter())
    tune.report({"wall_s": result.wall_s})


def orchestrated(config_path: str, overrides: list[str], workdir: Path) -> dict[str, Any]:
    """`orchestrator run`, in process; its end-to-end time and where the time went (`run_record`)."""
    config = load_config(config_path, overrides, output_dir=str(workdir))
    started = time.perf_counter()
    code = run_experiment(config, quiet=True)
    total = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"the orchestrated run ended with status {code}; see {config.run_dir}")
    return run_record(config.run_dir.resolve(), end_to_end_s=total)


def run(
    config: str = str(REPO / "configs" / "full.yaml"),
    overrides: list[str] | None = None,
    repeats: int = 1,
    sequential_threads: int = 1,
) -> dict[str, Any]:
    """Both sides `repeats` times, alternating which goes first; raw seconds per repeat."""
    setup_logging("WARNING")
    overrides = [*(overrides or []), *TRAINING_ONLY]
    candidates = [c.name for c in load_config(config, overrides).models]
    result: dict[str, Any] = {
        "config": str(config), "overrides": overrides, "candidates": candidates,
        "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
        "repeats": repeats, "sequential_threads": sequential_threads,
        "order": [], "sequential_s": [], "orchestrated_s": [], "tune_s": [], "training_stage_s": [],
        "orchestrated_runs": [],
    }
    for repeat in range(repeats):
        shift = repeat % len(SIDES)
        sides = SIDES[shift:] + SIDES[:shift]
        result["order"].append(", ".join(sides))
        for side in sides:
            workdir = Path(tempfile.mkdtemp(prefix=f"bench-{side}-"))
            try:
                if side == "sequential":
                    result["sequential_s"].append(sequential(config, overrides, workdir, sequential_threads))
                    seconds = result["sequential_s"][-1]
                elif side == "tune":
                    result["tune_s"].append(tune_trials(config, overrides, workdir))
                    seconds = result["tune_s"][-1]
                else:
                    record = orchestrated(config, overrides, workdir)
                    result["orchestrated_runs"].append(record)
                    result["orchestrated_s"].append(record["end_to_end_s"])
                    result["training_stage_s"].append(record["stages"]["train"])
                    seconds = record["end_to_end_s"]
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            progress(f"  concurrency: repeat {repeat + 1}/{repeats} {side}: {seconds:.1f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "full.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sequential-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "concurrency.json")
    args = parser.parse_args()
    result = run(args.config, args.overrides, args.repeats, args.sequential_threads)
    write_json(args.out, result)
    print("\n".join(concurrency_section(result)))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
