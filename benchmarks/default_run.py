"""The default run's wall time, this tree against an earlier revision, in one invocation.

`python -m orchestrator run configs/full.yaml` exactly as a newcomer runs it (every stage on,
the dashboard on), once with this working tree and once with `--baseline` (a revision checked
out into a temporary git worktree and run with the same virtual environment), alternating which
goes first each repeat. Each run is timed end to end as a fresh process, and reports its stages'
wall times from its summary.json and, where its status.json has them, the actor processes each
stage started (this tree's warm workers start none after training where resources allow).

    python benchmarks/default_run.py [--baseline 4558b39] [--repeats 1] [--set defaults.epochs=1]

The default baseline is the last commit before one execution engine and warm workers (issue 12).
Without git or without the revision, the baseline side is skipped and says why.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from benchmarks.report import default_run_section  # noqa: E402

BASELINE = "4558b39"  # before issue 12: a new actor per candidate and stage
RUN_LIMIT_S = 1500  # no default run takes this long here; one that does fails the benchmark, naming it


def checkout(revision: str, into: Path) -> str | None:
    """A detached worktree of `revision` at `into`; None, or why it could not be made."""
    try:
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(into), revision],
                       check=True, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        return "git is not installed"
    except subprocess.CalledProcessError as exc:
        return f"git could not check out {revision}: {exc.stderr.strip().splitlines()[-1:] or exc}"
    return None


def default_run(tree: Path, overrides: list[str], workdir: Path) -> dict[str, Any]:
    """`orchestrator run configs/full.yaml` from `tree`, as a fresh process; where its time went."""
    command = [sys.executable, "-m", "orchestrator", "run", "configs/full.yaml", "--quiet",
               "--output-dir", str(workdir), *(f"--set={o}" for o in overrides)]
    env = {**os.environ, "PYTHONPATH": str(tree)}  # ahead of the editable install, for the driver and Ray's workers
    started = time.perf_counter()
    run = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_S)
    end_to_end = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"the default run from {tree} ended with status {run.returncode}: "
                           f"{(run.stderr or run.stdout).strip().splitlines()[-1:]}")
    [run_dir] = [p.parent for p in workdir.glob("*/summary.json")]
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    status_path = run_dir / "status.json"
    status = json.loads(status_path.read_text(encoding="utf-8")) if status_path.is_file() else {}
    return {
        "end_to_end_s": end_to_end,
        "stages": {name: entry.get("wall_s") for name, entry in summary.get("stages", {}).items()},
        "statuses": {name: model["status"] for name, model in summary["models"].items()},
        "stopped_early": {name: model.get("stopped_early") for name, model in summary["models"].items()},
        "workers_started": {name: entry["workers_started"] for name, entry in status.get("stages", {}).items()
                            if "workers_started" in entry},
    }


def run(baseline: str | None = BASELINE, repeats: int = 1, overrides: list[str] | None = None) -> dict[str, Any]:
    """Both trees `repeats` times, alternating which goes first."""
    overrides = list(overrides or [])
    result: dict[str, Any] = {"baseline": baseline, "overrides": overrides, "repeats": repeats, "order": [],
                              "runs": {"current": [], "baseline": []}, "baseline_skipped": None}
    scratch = Path(tempfile.mkdtemp(prefix="bench-default-run-"))
    trees = {"current": REPO}
    try:
        if baseline:
            reason = checkout(baseline, scratch / "baseline")
            if reason:
                result["baseline_skipped"] = reason
            else:
                trees["baseline"] = scratch / "baseline"
        for repeat in range(repeats):
            sides = list(trees) if repeat % 2 == 0 else list(reversed(trees))
            result["order"].append(", ".join(sides))
            for side in sides:
                workdir = scratch / f"{side}-{repeat}"
                record = default_run(trees[side], overrides, workdir)
                result["runs"][side].append(record)
                shutil.rmtree(workdir, ignore_errors=True)
                stages = ", ".join(f"{k} {v:.0f} s" for k, v in record["stages"].items() if v)
                progress(f"  default_run: repeat {repeat + 1}/{repeats} {side}: {record['end_to_end_s']:.0f} s "
                         f"({stages})")
    finally:
        if "baseline" in trees:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(trees["baseline"])],
                           capture_output=True, timeout=120)
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="revision to compare with; '' for none")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "default_run.json")
    args = parser.parse_args()
    result = run(args.baseline or None, args.repeats, args.overrides)
    write_json(args.out, result)
    print("\n".join(default_run_section(result)))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
