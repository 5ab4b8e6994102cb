"""How fast a crash and a hang are detected, and what a failing neighbour costs a survivor.

Three scenarios, each a real `orchestrator run` with two concurrent candidates on the same
tiny BART (one CPU each): the survivor next to a healthy neighbour (the reference), next to a
neighbour that kills its own process at step 3, and next to one that hangs at step 3. The
faulty model writes the wall-clock time of its fault to a file, so detection time is measured
from the fault itself to the moment the driver recorded the outcome; the survivor's training
time comes from its own clock (`train_window` in its metrics.json). Scenarios rotate within each
repeat; medians and spreads are printed side by side. No warm-up: every scenario is a fresh run.

    python benchmarks/failure_isolation.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import RESULTS_DIR, progress, write_json  # noqa: E402
from benchmarks.report import failure_isolation_section  # noqa: E402
from orchestrator.config import validate_raw  # noqa: E402
from orchestrator.logging_setup import setup_logging  # noqa: E402
from orchestrator.pipeline import run_experiment  # noqa: E402
from tests.faults import faulty_bart  # noqa: E402

STALL_S = 10.0


def scenario(workdir: Path, kind: str, steps: int) -> dict[str, Any]:
    marker = workdir / "fault-time"
    fault = {"reference": "none", "crash": "exit_at", "hang": "hang_at"}[kind]
    neighbour = faulty_bart(workdir / "neighbour", fault, step=3, marker=marker)
    survivor = faulty_bart(workdir / "survivor")
    common = {"family": "seq2seq", "trust_remote_code": True}
    config = validate_raw({
        "experiment": kind,
        "output_dir": str(workdir / "runs"),
        "data": {"builtin": {"train_size": 400, "validation_size": 16, "test_size": 16}},
        "ray": {"dashboard": False, "num_cpus": 2},
        "ensemble": {"strategy": "none"}, "optimize": {"enabled": False},  # training is what is measured
        "defaults": {
            "max_steps": steps, "batch_size": 8, "max_retries": 0, "resources": {"cpus": 1},
            "generation": {"max_new_tokens": 8}, "timeouts": {"stall": STALL_S},
        },
        "models": [
            {"name": "survivor", "source": str(survivor), **common},
            {"name": "neighbour", "source": str(neighbour), **common},
        ],
    })
    run_experiment(config, quiet=True)
    summary = json.loads((config.run_dir / "summary.json").read_text(encoding="utf-8"))
    metrics = json.loads((config.run_dir / "models" / "survivor" / "metrics.json").read_text(encoding="utf-8"))
    start, end = metrics["train_window"]
    result = {"survivor_train_s": end - start, "neighbour": summary["models"]["neighbour"]["status"]}
    if kind != "reference":
        fault_time = float(marker.read_text())
        detected = summary["models"]["neighbour"]["finished_at"] - fault_time
        result["detection_s"] = detected
        if kind == "hang":
            result["past_limit_s"] = detected - STALL_S
    return result


def run(repeats: int = 3, steps: int = 150) -> dict[str, Any]:
    """Every scenario `repeats` times, rotating which goes first; raw results per run."""
    setup_logging("WARNING")
    scenarios: dict[str, list[dict[str, Any]]] = {"reference": [], "crash": [], "hang": []}
    order = list(scenarios)
    for repeat in range(repeats):
        for kind in order[repeat % 3:] + order[: repeat % 3]:
            workdir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
            try:
                scenarios[kind].append(scenario(workdir, kind, steps))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            progress(f"  failure_isolation: repeat {repeat + 1}/{repeats} {kind}: "
                     + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in scenarios[kind][-1].items()))
    return {"repeats": repeats, "steps": steps, "stall_limit_s": STALL_S, "cpus": os.cpu_count(),
            "scenarios": scenarios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "failure_isolation.json")
    args = parser.parse_args()
    result = run(args.repeats, args.steps)
    write_json(args.out, result)
    print("\n".join(failure_isolation_section(result)))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
