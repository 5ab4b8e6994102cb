"""Does the ensemble beat the best single model, by more than the noise? Side by side on test,
per data set and seed.

- builtin: `configs/full.yaml` as shipped (Korean built-in dialogues, three tiny candidates).
- dialogsum: real English dialogues from ../shared/data/dialogsum/ (skipped when absent, and never
  copied into the repository). Its dev file (500 dialogues, one reference each) gives training (the
  first `train_size`) and validation (the next `validation_size`); its three-reference test file
  gives test (the first `test_size`, scored against its three references, `summary1..3`, combined
  by their mean: `task.multi_reference`).
  Tiny models from scratch on a few hundred real dialogues learn little: this measures the
  ensemble's selection on weak, diverse members, not summarization quality.
- classification: `configs/classification.yaml` as shipped (built-in Korean intents, three encoders).

    python benchmarks/ensemble.py [--datasets builtin,dialogsum,classification] [--seeds 0,1,2]
                                  [--set defaults.epochs=2] [--dialogsum-epochs 4] [--dialogsum-early-stopping [METRIC]]
                                  [--dialogsum-test-tail-training] [--dialogsum-set defaults.early_stopping.patience=2]
                                  [--cross-fit dialogsum=3]

`--cross-fit NAME=K` runs each of that data set's seeds a second time in the same run directory with
`ensemble.cross_fit_members=K`: the members are kept, so the two ensembles combine the very same
members, and only the meta-learner's extra training pools differ (a second table).

Each (data set, seed) is one real `orchestrator run` (the optimize stage off) with `defaults.seed`
set: the seed of the members' initialisation and data order, of the ensemble's folds and of its
bootstrap. The table comes from each run's summary.json: the method chosen on validation, its test
difference to the best single member with the 95 % paired-bootstrap interval, and the share of the
oracle's gap it closes. A rerun with the same versions on the same machine gives the same scores.
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
from benchmarks.machine import machine_details  # noqa: E402
from benchmarks.report import ensemble_section, machine_lines  # noqa: E402
from contract.rows import read_rows, write_jsonl  # noqa: E402
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


def dialogsum_overrides(workdir: Path, epochs: int, train_size: int, validation_size: int, test_size: int,
                        early_stopping: str | None = None, test_tail_training: bool = False,
                        overrides: tuple[str, ...] = ()) -> list[str]:
    """configs/full.yaml on DialogSum: `epochs` exactly, or at most with the config's early stopping
    watching `early_stopping` (eval_loss, or a task metric such as rougeL); `overrides` last.
    `test_tail_training`: the test dialogues past the first `test_size`, which are never scored,
    train too (with their first reference), beside the dev file's first `train_size`."""
    dev = [{"id": r["fname"], "dialogue": r["dialogue"], "summary": r["summary"]}
           for r in read_rows(DIALOGSUM / "dialogsum.dev.jsonl")]
    test = [{"id": r["fname"], "dialogue": r["dialogue"], **{f"summary{i}": r[f"summary{i}"] for i in (1, 2, 3)}}
            for r in read_rows(DIALOGSUM / "dialogsum.test.jsonl")]  # three references, as the file has them
    if train_size + validation_size > len(dev) or test_size > len(test):
        raise ValueError(f"train {train_size} + validation {validation_size} rows exceed the {len(dev)} dev "
                         f"dialogues, or test {test_size} the {len(test)} test dialogues")
    paths = {
        "train": write_jsonl(workdir / "train.jsonl", dev[:train_size] + (test_tail(test[test_size:]) if test_tail_training else [])),
        "validation": write_jsonl(workdir / "validation.jsonl", dev[train_size:train_size + validation_size]),
        "test": write_jsonl(workdir / "test.jsonl", test[:test_size]),
    }
    return [
        "experiment=dialogsum", "task.language=en", "data.builtin=null",
        *(f"data.{split}={path}" for split, path in paths.items()),
        f"defaults.epochs={epochs}", "defaults.max_source_length=384", "defaults.generation.max_new_tokens=48",
        *([f"defaults.early_stopping.metric={early_stopping}"] if early_stopping else ["defaults.early_stopping=null"]),
        *overrides,
    ]


def test_tail(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Test dialogues that are never scored, as training rows with their first reference."""
    return [{"id": r["id"], "dialogue": r["dialogue"], "summary": r["summary1"]} for r in rows]


CONFIGS = {"builtin": "full.yaml", "dialogsum": "full.yaml", "classification": "classification.yaml"}


def orchestrated_run(config_name: str, overrides: list[str], workdir: Path) -> tuple[dict[str, Any], Path, float]:
    """One `orchestrator run` of configs/<config_name> with `overrides`: its summary, run dir and seconds."""
    config = load_config(REPO / "configs" / config_name, overrides, output_dir=str(workdir))
    started = time.perf_counter()
    run_experiment(config, quiet=True)
    seconds = time.perf_counter() - started
    run_dir = config.run_dir.resolve()
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8")), run_dir, seconds


def seeded_run(name: str, seed: int, workdir: Path, overrides: list[str]) -> dict[str, Any]:
    """One data set's run with one seed: the ensemble section (weights left out) and the run's record."""
    overrides = [*overrides, f"defaults.seed={seed}", "ray.dashboard=false", "optimize.enabled=false"]
    summary, run_dir, seconds = orchestrated_run(CONFIGS[name], overrides, workdir)
    section = {k: v for k, v in summary["ensemble"].items() if k not in ("weights", "meta_learner")}
    ok = section.get("status") == "ok"
    return {
        "seed": seed, "status": "ok" if ok else "failed",
        "reason": None if ok else f"ensemble {section.get('status')}: {section.get('reason')}",
        "overrides": overrides, "metric": summary["metric"], "ensemble": section,
        "baselines": summary.get("baselines", {}), "run_dir": str(run_dir),
        "run": run_record(run_dir, end_to_end_s=seconds),
    }


def cross_fit_name(name: str, folds: int) -> str:
    """The entry of a data set's runs with cross-fitted members."""
    return f"{name}, cross_fit_members {folds}"


def dataset(name: str, workdir: Path, overrides: list[str], dialogsum: dict[str, Any],
            seeds: tuple[int, ...], cross_fit: int = 0) -> dict[str, dict[str, Any]]:
    """One data set's runs, one per seed (`overrides` apply to the built-in data sets; DialogSum's come
    from `dialogsum`); `skipped` with the reason when its data is absent. The first seed's run
    stands for the data set where one run is wanted (its run directory, its timings).

    With `cross_fit` K >= 2, each seed's run is followed by a second one in the same run directory
    with `ensemble.cross_fit_members=K`: the members are kept (same fingerprints), so both ensembles
    combine the very same members and differ only by the fold models' training pools. Returned as
    a second entry, `cross_fit_name(name, K)`."""
    if name == "dialogsum":
        if (reason := dialogsum_absent()) is not None:
            return {name: {"status": "skipped", "reason": reason}}
        overrides = dialogsum_overrides(workdir, **dialogsum)
    elif name not in CONFIGS:
        raise ValueError(f"unknown data set {name!r}; use one of {', '.join(CONFIGS)}")
    variants = {name: overrides}
    if cross_fit >= 2:
        variants[cross_fit_name(name, cross_fit)] = [*overrides, f"ensemble.cross_fit_members={cross_fit}"]
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
    for seed in seeds:
        for variant, settings in variants.items():
            progress(f"  ensemble: {variant} seed {seed} started")
            try:
                runs[variant].append(seeded_run(name, seed, workdir / f"seed-{seed}", settings))
            except Exception as exc:  # noqa: BLE001 - one seed's failure is its result; the next one runs
                runs[variant].append({"seed": seed, "status": "failed", "reason": one_line(exc)})
            entry = runs[variant][-1]
            progress(f"  ensemble: {variant} seed {seed} {entry['status']}: "
                     + (entry["ensemble"].get("verdict", "") if entry["status"] == "ok" else str(entry.get("reason"))))
    return {variant: _entry(name, seeded) for variant, seeded in runs.items()}


def _entry(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = next((r for r in runs if r["status"] == "ok"), runs[0])
    return {**{k: v for k, v in first.items() if k != "seed"}, "config": CONFIGS[name], "seeds": runs,
            "status": "ok" if all(r["status"] == "ok" for r in runs) else "failed",
            "reason": "; ".join(f"seed {r['seed']}: {r['reason']}" for r in runs if r["status"] != "ok") or None}


def run(
    datasets: tuple[str, ...] = ("builtin", "dialogsum", "classification"),
    workdir: Path | None = None,
    overrides: list[str] | None = None,
    dialogsum: dict[str, Any] | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    cross_fit: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Runs per data set and seed under `workdir` (kept, so a later benchmark can reuse the builtin run
    through `datasets.builtin.run_dir`); a data set that fails is recorded and the next one runs.
    `cross_fit`: data set -> K, for the side-by-side runs with cross-fitted members."""
    setup_logging("WARNING")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-ensemble-"))
    dialogsum = {"epochs": 4, "train_size": 350, "validation_size": 150, "test_size": 250, **(dialogsum or {})}
    cross_fit = cross_fit or {}
    results: dict[str, Any] = {}
    for name in datasets:
        try:
            results |= dataset(name, workdir / f"ensemble-{name}", list(overrides or []), dialogsum, seeds,
                               cross_fit.get(name, 0))
        except Exception as exc:  # noqa: BLE001 - one data set's failure is its result; the next one runs
            results[name] = {"status": "failed", "reason": one_line(exc)}
    return {"dialogsum_settings": dialogsum, "seeds": list(seeds), "cross_fit": cross_fit, "datasets": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="builtin,dialogsum,classification")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override for the built-in data sets' runs, e.g. defaults.epochs=2")
    parser.add_argument("--dialogsum-epochs", type=int, default=4)
    parser.add_argument("--dialogsum-early-stopping", metavar="METRIC", nargs="?", const="eval_loss",
                        help="DialogSum members stop once METRIC (eval_loss, or e.g. rougeL) stops improving "
                             "(full.yaml's patience), with --dialogsum-epochs as the most")
    parser.add_argument("--dialogsum-test-tail-training", action="store_true",
                        help="DialogSum members also train on the test dialogues past the test split (never scored)")
    parser.add_argument("--dialogsum-set", dest="dialogsum_overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override for the DialogSum runs, after their own, e.g. defaults.early_stopping.patience=2")
    parser.add_argument("--cross-fit", default="",
                        help="data sets to run again with cross-fitted members, e.g. dialogsum=3,builtin=2")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "ensemble.json")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ensemble-"))
    seeds = tuple(int(s) for s in args.seeds.split(","))
    try:
        cross_fit = {name: int(k) for name, _, k in (part.partition("=") for part in args.cross_fit.split(",") if part)}
        dialogsum = {"epochs": args.dialogsum_epochs, "early_stopping": args.dialogsum_early_stopping,
                     "test_tail_training": args.dialogsum_test_tail_training, "overrides": tuple(args.dialogsum_overrides)}
        result = run(tuple(args.datasets.split(",")), workdir, args.overrides, dialogsum, seeds, cross_fit)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_json(args.out, result)
    command = " ".join(["python benchmarks/ensemble.py", *sys.argv[1:]])
    section = "\n".join([f"# Ensemble benchmark: `{command}`", "", *machine_lines(machine_details()), "",
                         *ensemble_section(result)]) + "\n"
    args.out.with_suffix(".md").write_text(section, encoding="utf-8")
    print(section)
    print(f"written to {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
