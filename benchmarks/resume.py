"""What an interruption costs: the share of a training redone after a kill at 90 % of its steps,
and what saving resumable checkpoints costs an uninterrupted training.

One tiny BART (built-in Korean data, one torch thread) trains `steps` optimizer steps under each
checkpoint setting: the default `checkpoint_every` (15m: in a run this short only the saves at
each evaluation happen, one per epoch) and a step interval. For each setting and repeat:
- uninterrupted: the training runs in this process, and the time spent in the Trainer's
  checkpoint saves (`GuardedTrainer._save_checkpoint`: write, seal with sha256, rotate) is
  summed against its training time (`train_runtime`);
- killed: the same training runs in a child process, which is SIGKILLed once its progress note
  shows 90 % of the steps, and the next attempt (in this process) resumes from the newest sealed
  checkpoint: `steps_redone` over the total is the share of training done twice.
Settings rotate within each repeat; no warm-up (a cold child is what a crash leaves behind).

    python benchmarks/resume.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import RESULTS_DIR, progress, write_json  # noqa: E402
from benchmarks.report import resume_section  # noqa: E402
from contract.atomic import read_json  # noqa: E402
from contract.checkpoints import TRAINER_DIR  # noqa: E402
from contract.job import TrainingJob  # noqa: E402
from models import training  # noqa: E402
from models.reporting import RecordingReporter  # noqa: E402
from models.resume import PROGRESS  # noqa: E402
from orchestrator.config import validate_raw  # noqa: E402
from orchestrator.data import prepare_data  # noqa: E402
from orchestrator.logging_setup import setup_logging  # noqa: E402
from orchestrator.stages.train import build_jobs  # noqa: E402

KILL_AT = 0.9
CHILD = """
import pickle, sys
sys.path.insert(0, {repo!r})
from models.reporting import RecordingReporter
from models.training import train_candidate
train_candidate(pickle.load(open({job!r}, "rb")), RecordingReporter())
"""


def make_job(workdir: Path, steps: int, checkpoint_every: int | str) -> TrainingJob:
    config = validate_raw({
        "experiment": "resume", "output_dir": str(workdir / "runs"),
        "data": {"builtin": {"train_size": 400, "validation_size": 16, "test_size": 16}},
        "ray": {"dashboard": False},
        "defaults": {"max_steps": steps, "batch_size": 8, "eval_batch_size": 16, "max_source_length": 192,
                     "max_target_length": 48, "generation": {"max_new_tokens": 8}, "resources": {"cpus": 1},
                     "checkpoint_every": checkpoint_every},
        "models": [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}],
    })
    data, labels = prepare_data(config, config.run_dir.resolve())
    return build_jobs(config, data, labels, config.run_dir.resolve())[0]


class SaveTimer:
    """Sums the wall time of the Trainer's checkpoint saves in this process."""

    def __init__(self) -> None:
        self.seconds, self.saves = 0.0, 0
        self._original = training.GuardedTrainer._save_checkpoint

    def __enter__(self) -> SaveTimer:
        timer, original = self, self._original

        def timed(trainer: Any, model: Any, trial: Any) -> None:
            started = time.perf_counter()
            original(trainer, model, trial)
            timer.seconds += time.perf_counter() - started
            timer.saves += 1

        training.GuardedTrainer._save_checkpoint = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        training.GuardedTrainer._save_checkpoint = self._original  # type: ignore[method-assign]


def uninterrupted(workdir: Path, steps: int, every: int | str) -> dict[str, Any]:
    job = make_job(workdir, steps, every)
    with SaveTimer() as timer:
        result = training.train_candidate(job, RecordingReporter())
    return {"train_s": result.train_wall_s, "save_s": timer.seconds, "saves": timer.saves,
            "share": timer.seconds / result.train_wall_s if result.train_wall_s else None}


def killed(workdir: Path, steps: int, every: int | str) -> dict[str, Any]:
    job = make_job(workdir, steps, every)
    job_file = workdir / "job.pickle"
    job_file.write_bytes(pickle.dumps(job))
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(repo=str(REPO), job=str(job_file))],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    note = job.output_dir / TRAINER_DIR / PROGRESS
    try:
        while child.poll() is None:
            reached = (read_json(note) or {}).get("step", 0)
            if reached >= KILL_AT * steps:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the training ended (status {child.returncode}) before {KILL_AT:.0%} of its steps")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    started = time.perf_counter()
    result = training.train_candidate(job, RecordingReporter())
    return {"killed_at_step": reached, "resumed_from_step": result.resumed_from_step,
            "steps_redone": result.steps_redone, "redone_share": result.steps_redone / steps,
            "lost_share": (reached - (result.resumed_from_step or 0)) / steps,
            "resumed_run_s": time.perf_counter() - started, "steps": result.steps}


def run(repeats: int = 3, steps: int = 300, step_interval: int = 25) -> dict[str, Any]:
    setup_logging("WARNING")
    settings: list[int | str] = ["15m", step_interval]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {str(s): {"uninterrupted": [], "killed": []}
                                                           for s in settings}
    for repeat in range(repeats):
        for every in settings[repeat % 2:] + settings[: repeat % 2]:
            for side, measure in (("uninterrupted", uninterrupted), ("killed", killed)):
                workdir = Path(tempfile.mkdtemp(prefix=f"bench-resume-{side}-"))
                try:
                    results[str(every)][side].append(measure(workdir, steps, every))
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                progress(f"  resume: repeat {repeat + 1}/{repeats} checkpoint_every={every} {side}: "
                         + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                     for k, v in results[str(every)][side][-1].items()))
    return {"repeats": repeats, "steps": steps, "steps_per_epoch": 50, "kill_at": KILL_AT,
            "settings": [str(s) for s in settings], "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--step-interval", type=int, default=25)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "resume.json")
    args = parser.parse_args()
    result = run(args.repeats, args.steps, args.step_interval)
    write_json(args.out, result)
    print("\n".join(resume_section(result)))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
