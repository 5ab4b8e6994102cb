"""How fast a crash and a hang are detected, and what a failing neighbour costs a survivor.

Three scenarios, each a real `orchestrator run` with two concurrent candidates on the same
tiny BART (one CPU each): the survivor next to a healthy neighbour (the reference), next to a
neighbour that kills its own process at step 3, and next to one that hangs at step 3. The
faulty model writes the wall-clock time of its fault to a file, so detection time is measured
from the fault itself to the moment the driver recorded the outcome. Scenarios alternate
within each repeat; medians and spreads are printed side by side.

    python benchmarks/failure_isolation.py --repeats 3
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
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

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


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f}  [{min(values):.2f}-{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "failure_isolation.json"))
    args = parser.parse_args()
    setup_logging("WARNING")

    results: dict[str, list[dict[str, Any]]] = {"reference": [], "crash": [], "hang": []}
    order = list(results)
    for repeat in range(args.repeats):
        for kind in order[repeat % 3:] + order[: repeat % 3]:
            workdir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
            try:
                results[kind].append(scenario(workdir, kind, args.steps))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            print(f"repeat {repeat + 1}/{args.repeats} {kind}: {results[kind][-1]}", file=sys.stderr)

    reference = [r["survivor_train_s"] for r in results["reference"]]
    table = {}
    for kind, runs in results.items():
        train = [r["survivor_train_s"] for r in runs]
        table[kind] = {
            "survivor_train_s": train,
            "survivor_slowdown": statistics.median(train) / statistics.median(reference),
            "detection_s": [r["detection_s"] for r in runs if "detection_s" in r],
            "past_limit_s": [r["past_limit_s"] for r in runs if "past_limit_s" in r],
            "neighbour_status": sorted({r["neighbour"] for r in runs}),
        }
    out = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "repeats": args.repeats, "steps": args.steps, "stall_limit_s": STALL_S, "scenarios": table,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2), encoding="utf-8")

    print(f"\n{args.repeats} repeat(s), {args.steps} steps, {os.cpu_count()} CPUs; median [min-max] seconds")
    print(f"{'neighbour':12}{'survivor train s':>28}{'ratio':>8}{'detected after':>28}")
    for kind, row in table.items():
        detection = spread(row["detection_s"]) if row["detection_s"] else "-"
        print(f"{kind:12}{spread(row['survivor_train_s']):>28}{row['survivor_slowdown']:8.3f}{detection:>28}")
    if table["hang"]["past_limit_s"]:
        print(f"hang detected {statistics.median(table['hang']['past_limit_s']):.2f} s past the {STALL_S:g} s stall limit")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
