"""Does the ensemble beat the best single model? Side by side on test, per data set.

- builtin: `configs/full.yaml` as shipped (Korean built-in dialogues, three tiny candidates).
- dialogsum: real English dialogues from ../shared/data/dialogsum/ (skipped when absent, and never
  copied into the repository). Its public test file (the first `train_size` of 500 dialogues, first
  reference summary) trains the same three tiny architectures from scratch; its dev file gives
  validation (the first `validation_size` rows) and test (the last `test_size` rows).
  Tiny models from scratch on 500 real dialogues learn little: this measures the ensemble's
  selection on weak, diverse members, not summarization quality.

    python benchmarks/ensemble.py [--datasets builtin,dialogsum] [--set defaults.epochs=2] [--dialogsum-epochs 8]

Each data set is one real `orchestrator run` (the optimize stage off); the table comes from its
summary.json. Training and the ensemble are seeded, so a rerun with the same versions gives the
same scores: one run per data set, no repeats.
"""

from __future__ import annotations

import argparse
import json
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

from benchmarks.common import RESULTS_DIR, progress, run_record, write_json  # noqa: E402
from benchmarks.report import ensemble_section  # noqa: E402
from models.data.files import read_rows, write_jsonl  # noqa: E402
from orchestrator.config import load_config  # noqa: E402
from orchestrator.failures import one_line  # noqa: E402
from orchestrator.logging_setup import setup_logging  # noqa: E402
from orchestrator.pipeline import run_experiment  # noqa: E402

DIALOGSUM = REPO.parent / "shared" / "data" / "dialogsum"
DIALOGSUM_FILES = ("dialogsum.test.jsonl", "dialogsum.dev.jsonl")


def dialogsum_absent() -> str | None:
    """Why the DialogSum benchmark cannot run here, or None when it can."""
    missing = [name for name in DIALOGSUM_FILES if not (DIALOGSUM / name).is_file()]
    return f"{', '.join(missing)} not found in {DIALOGSUM}" if missing else None


def dialogsum_overrides(workdir: Path, epochs: int, train_size: int, validation_size: int,
                        test_size: int) -> list[str]:
    train = [{"id": r["fname"], "dialogue": r["dialogue"], "summary": r["summary1"]}
             for r in read_rows(DIALOGSUM / "dialogsum.test.jsonl")][:train_size]
    dev = [{"id": r["fname"], "dialogue": r["dialogue"], "summary": r["summary"]}
           for r in read_rows(DIALOGSUM / "dialogsum.dev.jsonl")]
    if validation_size + test_size > len(dev):
        raise ValueError(f"validation {validation_size} + test {test_size} rows exceed the {len(dev)} dev dialogues")
    paths = {
        "train": write_jsonl(workdir / "train.jsonl", train),
        "validation": write_jsonl(workdir / "validation.jsonl", dev[:validation_size]),
        "test": write_jsonl(workdir / "test.jsonl", dev[len(dev) - test_size:]),
    }
    return [
        "experiment=dialogsum", "task.language=en", "data.builtin=null",
        *(f"data.{split}={path}" for split, path in paths.items()),
        f"defaults.epochs={epochs}", "defaults.max_source_length=384", "defaults.generation.max_new_tokens=48",
    ]


def orchestrated_run(overrides: list[str], workdir: Path) -> tuple[dict[str, Any], Path, float]:
    """One `orchestrator run` of configs/full.yaml with `overrides`: its summary, run dir and seconds."""
    config = load_config(REPO / "configs" / "full.yaml", overrides, output_dir=str(workdir))
    started = time.perf_counter()
    run_experiment(config, quiet=True)
    seconds = time.perf_counter() - started
    run_dir = config.run_dir.resolve()
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8")), run_dir, seconds


def dataset(name: str, workdir: Path, overrides: list[str], dialogsum: dict[str, int]) -> dict[str, Any]:
    """One data set's run (`overrides` apply to the built-in one; DialogSum's come from `dialogsum`);
    `skipped` with the reason when its data is absent."""
    if name == "dialogsum":
        if (reason := dialogsum_absent()) is not None:
            return {"status": "skipped", "reason": reason}
        overrides = dialogsum_overrides(workdir, **dialogsum)
    elif name != "builtin":
        raise ValueError(f"unknown data set {name!r}; use builtin or dialogsum")
    overrides = [*overrides, "ray.dashboard=false", "optimize.enabled=false"]
    summary, run_dir, seconds = orchestrated_run(overrides, workdir)
    section = {k: v for k, v in summary["ensemble"].items() if k not in ("weights", "meta_learner")}
    return {
        "status": "ok" if section.get("status") == "ok" else "failed",
        "reason": None if section.get("status") == "ok" else f"ensemble {section.get('status')}: {section.get('reason')}",
        "overrides": overrides, "metric": summary["metric"], "ensemble": section,
        "lead": summary.get("baselines", {}).get("lead", {}), "run_dir": str(run_dir),
        "run": run_record(run_dir, end_to_end_s=seconds),
    }


def run(
    datasets: tuple[str, ...] = ("builtin", "dialogsum"),
    workdir: Path | None = None,
    overrides: list[str] | None = None,
    dialogsum: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One run per data set under `workdir` (kept, so a later benchmark can reuse the builtin run
    through `datasets.builtin.run_dir`); a data set that fails is recorded and the next one runs."""
    setup_logging("WARNING")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-ensemble-"))
    dialogsum = {"epochs": 8, "train_size": 500, "validation_size": 250, "test_size": 250, **(dialogsum or {})}
    results: dict[str, Any] = {}
    for name in datasets:
        progress(f"  ensemble: {name} started")
        try:
            results[name] = dataset(name, workdir / f"ensemble-{name}", list(overrides or []), dialogsum)
        except Exception as exc:  # noqa: BLE001 - one data set's failure is its result; the next one runs
            results[name] = {"status": "failed", "reason": one_line(exc)}
        entry = results[name]
        progress(f"  ensemble: {name} {entry['status']}: "
                 + (entry["ensemble"].get("verdict", "") if entry["status"] == "ok" else str(entry.get("reason"))))
    return {"dialogsum_settings": dialogsum, "datasets": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="builtin,dialogsum")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override for the built-in data set's run, e.g. defaults.epochs=2")
    parser.add_argument("--dialogsum-epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "ensemble.json")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ensemble-"))
    try:
        result = run(tuple(args.datasets.split(",")), workdir, args.overrides, {"epochs": args.dialogsum_epochs})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_json(args.out, result)
    print("\n".join(ensemble_section(result)))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
