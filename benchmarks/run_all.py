"""Every benchmark in one invocation: benchmarks/RESULTS.md for people, results/results.json as data.

    python benchmarks/run_all.py [--only NAMES] [--quick] [--out-dir benchmarks]

Benchmarks run one after another, each in a fresh child process (spawned, so no Ray, torch or
accelerate state leaks from one into the next, and a crash or a hang costs only that benchmark:
it is recorded as failed with a one-line reason, its traceback and the tail of its output, and the
next one runs; the exit status is 1 when any failed). A child's own output (run tables, library
warnings) goes to a log file; the terminal gets progress lines only. Both files are rewritten after every benchmark, so an interrupted invocation leaves
what it measured. Ratios are only ever taken between numbers of the same invocation.

The full profile takes about 3 hours on a 2-core machine (78 min at ac4479a, before the DialogSum runs with
cross-fitted members and the default run's early-stopped 12-epoch candidates; at 2e187d0 the ensemble benchmark alone
took 125 min, the test suite sharing the cores for 45 of them), `--quick` (one repeat,
fewer sizes, smaller runs, one seed) a fraction of that; run on a quiet machine: the machine block reports the load average at
start and end.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import progress, progress_to, write_json  # noqa: E402
from benchmarks.machine import load_1min, machine_details  # noqa: E402
from benchmarks.report import figures, headline, render_markdown, stage_overhead_rows  # noqa: E402
from orchestrator.failures import one_line  # noqa: E402

ORDER = ("overhead", "concurrency", "failure_isolation", "ensemble", "quantization", "simulated_cluster",
         "default_run", "resume", "data_parallel", "serve")

# Arguments of each benchmark's `run`, per profile, and the wall-time limit (s) after which it is stopped.
# The full profile takes about 2 h on 2 cores: concurrency trains 1 epoch with smaller evaluation splits so
# that 3 repeats fit (the shipped 5 epochs take 8 min a repeat); the ensemble runs configs/full.yaml and
# configs/classification.yaml as shipped with 3 seeds each (about 4 and 3 min a seed; the quantization benchmark
# reuses the first built-in run's checkpoints); DialogSum trains 4 epochs on 350 dev dialogues and the 250 test
# dialogues it never scores, validates on 150 and tests on the other 250 of the three-reference test split,
# 3 seeds (its ensemble stage scores every pooled candidate with every member), and each seed again with
# ensemble.cross_fit_members=3 (the members kept; 9 fold models and the training split's pools added, about
# 12 min a seed).
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "full": {
        "overhead": {"repeats": 5},
        "concurrency": {"repeats": 3, "overrides": ["defaults.epochs=1", "data.builtin.validation_size=60",
                                                    "data.builtin.test_size=60"]},
        "failure_isolation": {"repeats": 3, "steps": 150},
        "ensemble": {"datasets": ["builtin", "dialogsum", "classification"], "overrides": [], "seeds": [0, 1, 2],
                     "dialogsum": {"epochs": 4, "train_size": 350, "validation_size": 150, "test_size": 250,
                                   "test_tail_training": True},
                     "cross_fit": {"dialogsum": 3}},
        "quantization": {"backends": ["torch_dynamic", "onnxruntime", "bitsandbytes"],
                         "batch_sizes": [1, 2, 4, 8, 16, 32, 64], "warmup": 1, "repeats": 3},
        "simulated_cluster": {"counts": [32, 64], "nodes": 8, "gpus_per_node": 4, "seconds": 5.0},
        "default_run": {"repeats": 1, "baseline": None},
        "resume": {"repeats": 3, "steps": 300},
        "data_parallel": {"repeats": 3, "steps": 150, "workers": 2},
        "serve": {"repeats": 3, "levels": [1, 4, 16, 64]},
    },
    "quick": {
        "overhead": {"repeats": 1},
        "concurrency": {"repeats": 1, "overrides": ["defaults.epochs=1", "data.builtin.train_size=400",
                                                    "data.builtin.validation_size=40", "data.builtin.test_size=40"]},
        "failure_isolation": {"repeats": 1, "steps": 100},
        "ensemble": {"datasets": ["builtin", "dialogsum", "classification"], "seeds": [0],
                     "overrides": ["defaults.epochs=1", "data.builtin.train_size=400", "data.builtin.validation_size=40",
                                   "data.builtin.test_size=40"],
                     "dialogsum": {"epochs": 1, "train_size": 200, "validation_size": 40, "test_size": 40}},
        "quantization": {"backends": ["torch_dynamic", "onnxruntime"], "batch_sizes": [1, 8, 64], "warmup": 1,
                         "repeats": 1},
        "simulated_cluster": {"counts": [32], "nodes": 8, "gpus_per_node": 4, "seconds": 5.0},
        "default_run": {"repeats": 1, "overrides": ["defaults.epochs=1", "data.builtin.train_size=400",
                                                    "data.builtin.validation_size=40", "data.builtin.test_size=40"]},
        "resume": {"repeats": 1, "steps": 150},
        "data_parallel": {"repeats": 1, "steps": 60, "workers": 2},
        "serve": {"repeats": 1, "levels": [1, 16], "steps": 60, "time_limit_s": 20},
    },
}
LIMITS_S = {
    "full": {"overhead": 900, "concurrency": 1800, "failure_isolation": 1200, "ensemble": 9000,
             "quantization": 1200, "simulated_cluster": 900, "default_run": 3000,
             "resume": 900, "data_parallel": 1200, "serve": 1800},
    "quick": {"overhead": 600, "concurrency": 900, "failure_isolation": 600, "ensemble": 1200,
              "quantization": 900, "simulated_cluster": 600, "default_run": 1500,
              "resume": 600, "data_parallel": 600, "serve": 900},
}
TERMINATE_GRACE_S = 60
LOG_TAIL_LINES = 40


def _child(name: str, kwargs: dict[str, Any], out: str, log: str) -> None:
    """In the benchmark's own process: run it and leave its result, or why it failed, in `out`.
    Everything it prints (run tables, library warnings) goes to `log`; progress lines to the terminal."""
    # SIGTERM (the time limit) unwinds like an exception, so the benchmark's `finally` stops its Ray.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    progress_to(os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8"))
    with open(log, "w", encoding="utf-8") as handle:
        os.dup2(handle.fileno(), sys.stdout.fileno())
        os.dup2(handle.fileno(), sys.stderr.fileno())
    try:
        payload = {"status": "ok", "result": importlib.import_module(f"benchmarks.{name}").run(**kwargs)}
    except BaseException as exc:  # noqa: BLE001 - the parent records any failure and runs the next benchmark
        payload = {"status": "failed", "reason": one_line(exc), "traceback": traceback.format_exc()}
    write_json(Path(out), payload)


def run_isolated(name: str, kwargs: dict[str, Any], limit_s: float, workdir: Path) -> dict[str, Any]:
    """One benchmark in a spawned child process, stopped after `limit_s`."""
    out, log = workdir / f"{name}.result.json", workdir / f"{name}.log"
    process = multiprocessing.get_context("spawn").Process(target=_child, args=(name, kwargs, str(out), str(log)),
                                                           name=f"benchmark-{name}")
    process.start()
    process.join(limit_s)
    if process.is_alive():
        process.terminate()
        process.join(TERMINATE_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join(TERMINATE_GRACE_S)
        return {"status": "failed", "log_tail": log_tail(log),
                "reason": f"stopped after its {limit_s / 60:.0f}-minute limit (LIMITS_S in benchmarks/run_all.py)"}
    if not out.is_file():
        code = process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"status {code}"
        return {"status": "failed", "log_tail": log_tail(log),
                "reason": f"its process ended with {how} before writing a result (killed for memory?)"}
    outcome = json.loads(out.read_text(encoding="utf-8"))
    return outcome if outcome["status"] == "ok" else {**outcome, "log_tail": log_tail(log)}


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The end of a benchmark's own output, kept in results.json when it failed."""
    if not path.is_file():
        return []
    return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]


def arguments(name: str, profile: str, done: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's arguments; the quantization benchmark reuses the built-in ensemble run."""
    kwargs = dict(PROFILES[profile][name])
    if name == "quantization":
        builtin = done.get("ensemble", {}).get("result", {}).get("datasets", {}).get("builtin", {})
        if builtin.get("status") == "ok":
            kwargs["run_dir"] = builtin["run_dir"]
            kwargs["run_label"] = "the built-in ensemble run of this invocation (section 4)"
    return kwargs


def parse_only(value: str | None, parser: argparse.ArgumentParser) -> list[str]:
    if not value:
        return list(ORDER)
    names = [n.strip().replace("-", "_") for n in value.split(",") if n.strip()]
    for name in names:
        if name not in ORDER:
            close = difflib.get_close_matches(name, ORDER, n=1)
            parser.error(f"--only: unknown benchmark {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                         + f"; known: {', '.join(ORDER)}")
    return [n for n in ORDER if n in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(ORDER)}")
    parser.add_argument("--quick", action="store_true", help="one repeat, fewer sizes, one seed: a quick check of the harness")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks",
                        help="RESULTS.md goes here, results.json into its results/ folder")
    parser.add_argument("--merge", action="store_true",
                        help="with --only: keep the other benchmarks' results from the existing results.json (of the "
                             "same profile), each marked with the invocation that measured it")
    args = parser.parse_args()
    selected = parse_only(args.only, parser)
    profile = "quick" if args.quick else "full"
    markdown_path, json_path = args.out_dir / "RESULTS.md", args.out_dir / "results" / "results.json"
    kept = earlier_results(json_path, profile, selected, parser) if args.merge else {}

    started = time.perf_counter()
    results: dict[str, Any] = {
        "command": " ".join(["python benchmarks/run_all.py", *sys.argv[1:]]),
        "profile": profile,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_details(),
        "benchmarks": kept,
    }
    progress(f"{len(selected)} benchmark(s), {profile} profile: {', '.join(selected)}; writing {markdown_path} "
             f"and {json_path}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-run-all-"))
    try:
        for index, name in enumerate(selected, 1):
            kwargs, limit = arguments(name, profile, results["benchmarks"]), LIMITS_S[profile][name]
            progress(f"[{index}/{len(selected)}] {name}: started (limit {limit / 60:.0f} min)")
            began = time.perf_counter()
            outcome = run_isolated(name, {**kwargs, **({"workdir": workdir} if name == "ensemble" else {})},
                                   limit, workdir)
            entry = {"status": outcome["status"], "wall_s": time.perf_counter() - began, "params": kwargs, **outcome}
            if entry["status"] == "ok":
                try:
                    entry["figures"] = figures(name, entry["result"])
                except Exception as exc:  # noqa: BLE001 - a result the report cannot read is that benchmark's failure
                    entry.update(status="failed", reason=f"its result could not be summarised: {exc!r}",
                                 traceback=traceback.format_exc())
            results["benchmarks"][name] = entry
            results["benchmarks"] = {n: results["benchmarks"][n] for n in ORDER if n in results["benchmarks"]}
            progress(f"[{index}/{len(selected)}] {name}: {entry['status']} in {entry['wall_s'] / 60:.1f} min: "
                     f"{headline(name, entry)}")
            write_outputs(results, started, markdown_path, json_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["load_1min_end"] = load_1min()
    write_outputs(results, started, markdown_path, json_path)
    failed = [n for n, e in results["benchmarks"].items() if e["status"] != "ok"]
    progress(f"done in {results['wall_s'] / 60:.1f} min; {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}"
             f"; see {markdown_path}")
    return 1 if failed else 0


def earlier_results(json_path: Path, profile: str, selected: list[str],
                    parser: argparse.ArgumentParser) -> dict[str, Any]:
    """For --merge: the existing results of the benchmarks not selected, each with the invocation
    that measured it (kept through later merges)."""
    try:
        earlier = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(f"--merge needs an earlier {json_path}: {exc}")
    if earlier.get("profile") != profile:
        parser.error(f"--merge: {json_path} holds the {earlier.get('profile')} profile, not {profile}")
    measured_by = {"command": earlier.get("command"), "started_at": earlier.get("started_at"),
                   "git": (earlier.get("machine", {}).get("git") or {}).get("commit")}
    return {name: {**entry, "invocation": entry.get("invocation", measured_by)}
            for name, entry in earlier.get("benchmarks", {}).items() if name not in selected}


def write_outputs(results: dict[str, Any], started: float, markdown_path: Path, json_path: Path) -> None:
    results["wall_s"] = time.perf_counter() - started
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["stage_overhead"] = stage_overhead_rows(results["benchmarks"])  # reads several benchmarks' runs
    write_json(json_path, results)
    markdown_path.write_text(render_markdown(results), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
