"""One candidate on one process against the same candidate data-parallel over Ray Train workers,
on this machine's cores: wall time, training time, and the fixed cost Ray Train adds.

The candidate (tiny BART, built-in Korean data, the same `steps` optimizer steps and the same
effective batch in every variant) trains through `models.training.train_candidate`, as its
actor would, in these variants:
- `one process, 1 thread` and `one process, N threads`: no Ray Train;
- `Ray Train, 1 worker`: the same one-thread training inside a Ray Train worker group of one,
  so the difference from `one process, 1 thread` is Ray Train's own cost (controller, worker
  group, process group, teardown);
- `Ray Train, N workers`: N one-thread gloo workers, each with 1/N of every batch.
Variants rotate within each repeat; times are medians over repeats. From them: Ray Train's fixed
cost, the speed-up of N workers over one process in training time, and the training length past
which N workers pay (fixed cost / (1 - 1/speed-up)), where they pay at all.

    python benchmarks/data_parallel.py --repeats 3 --steps 150 --workers 2
"""

from __future__ import annotations

import argparse
import dataclasses
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

from benchmarks.common import RESULTS_DIR, progress, write_json  # noqa: E402
from benchmarks.report import data_parallel_section  # noqa: E402
from contract.job import TrainingJob  # noqa: E402
from contract.settings import Resources  # noqa: E402
from contract.work import TrainRequest  # noqa: E402
from orchestrator.config import validate_raw  # noqa: E402
from orchestrator.data import prepare_data  # noqa: E402
from orchestrator.stages.train import build_jobs  # noqa: E402


def make_job(workdir: Path, steps: int) -> TrainingJob:
    config = validate_raw({
        "experiment": "data-parallel", "output_dir": str(workdir / "runs"),
        "data": {"builtin": {"train_size": 1200, "validation_size": 40, "test_size": 40}},
        "ray": {"dashboard": False},
        "defaults": {"max_steps": steps, "batch_size": 16, "eval_batch_size": 20, "max_source_length": 256,
                     "max_target_length": 64, "generation": {"max_new_tokens": 32}, "resources": {"cpus": 1}},
        "models": [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}],
    })
    data, labels = prepare_data(config, config.run_dir.resolve())
    return build_jobs(config, data, labels, config.run_dir.resolve())[0]


def variant_jobs(job: TrainingJob, workers: int) -> dict[str, tuple[TrainingJob, bool]]:
    """Each variant's job and whether it goes through Ray Train."""
    def with_resources(name: str, **resources: Any) -> TrainingJob:
        settings = job.settings.model_copy(update={"resources": Resources(**resources)})
        return dataclasses.replace(job, settings=settings, output_dir=job.output_dir.parent / name)

    return {
        "one process, 1 thread": (with_resources("single-1", cpus=1), False),
        f"one process, {workers} threads": (with_resources(f"single-{workers}", cpus=workers), False),
        "Ray Train, 1 worker": (with_resources("train-1", cpus=1), True),
        f"Ray Train, {workers} workers": (with_resources(f"train-{workers}", cpus=1, workers=workers), True),
    }


def timed(job: TrainingJob, through_ray_train: bool) -> dict[str, Any]:
    from models.distributed import train_data_parallel
    from models.reporting import RecordingReporter
    from models.training import train_candidate

    shutil.rmtree(job.output_dir, ignore_errors=True)
    started = time.perf_counter()
    if through_ray_train:
        result = train_data_parallel(job, RecordingReporter(), TrainRequest())
    else:
        result = train_candidate(job, RecordingReporter())
    wall = time.perf_counter() - started
    return {"wall_s": wall, "train_s": result.train_wall_s, "steps": result.steps,
            "train_loss": result.metrics.get("train_loss")}


def run(repeats: int = 3, steps: int = 150, workers: int = 2) -> dict[str, Any]:
    from orchestrator.cluster import connect, disconnect
    from orchestrator.config import RayConfig

    workdir = Path(tempfile.mkdtemp(prefix="bench-data-parallel-"))
    result: dict[str, Any] = {"repeats": repeats, "steps": steps, "workers": workers, "cpus": os.cpu_count(),
                              "runs": {}}
    try:
        jobs = variant_jobs(make_job(workdir, steps), workers)
        connect(RayConfig(num_cpus=workers, dashboard=False))
        try:
            names = list(jobs)
            for repeat in range(repeats):
                order = names[repeat % len(names):] + names[:repeat % len(names)]
                for name in order:
                    record = timed(*jobs[name])
                    result["runs"].setdefault(name, []).append(record)
                    progress(f"  data_parallel: repeat {repeat + 1}/{repeats} {name}: {record['wall_s']:.1f} s "
                             f"(training {record['train_s']:.1f} s, loss {record['train_loss']})")
        finally:
            disconnect()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "data_parallel.json")
    args = parser.parse_args()
    result = run(args.repeats, args.steps, args.workers)
    write_json(args.out, result)
    print("\n".join(data_parallel_section(result)))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
