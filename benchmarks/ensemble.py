"""Does the ensemble beat the best single model? Side by side on test, per data set.

- builtin: `configs/full.yaml` as shipped (Korean built-in dialogues, three tiny candidates).
- dialogsum: real English dialogues from ../shared/data/dialogsum/ (skipped when absent). Its
  public test file (500 dialogues, first reference summary) trains the same three tiny
  architectures from scratch; its dev file is split into validation (250) and test (250).
  Tiny models from scratch on 500 real dialogues learn little: this measures the ensemble's
  selection on weak, diverse members, not summarization quality.

    python benchmarks/ensemble.py [--datasets builtin,dialogsum]

Each data set is one real `orchestrator run`; the table comes from its summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.data.files import read_rows, write_jsonl  # noqa: E402
from orchestrator.config import load_config  # noqa: E402
from orchestrator.logging_setup import setup_logging  # noqa: E402
from orchestrator.pipeline import run_experiment  # noqa: E402

DIALOGSUM = REPO.parent / "shared" / "data" / "dialogsum"


def dialogsum_overrides(workdir: Path) -> list[str] | None:
    if not (DIALOGSUM / "dialogsum.test.jsonl").is_file():
        return None
    train = [{"id": r["fname"], "dialogue": r["dialogue"], "summary": r["summary1"]}
             for r in read_rows(DIALOGSUM / "dialogsum.test.jsonl")]
    dev = [{"id": r["fname"], "dialogue": r["dialogue"], "summary": r["summary"]}
           for r in read_rows(DIALOGSUM / "dialogsum.dev.jsonl")]
    paths = {
        "train": write_jsonl(workdir / "train.jsonl", train),
        "validation": write_jsonl(workdir / "validation.jsonl", dev[:250]),
        "test": write_jsonl(workdir / "test.jsonl", dev[250:]),
    }
    return [
        "experiment=dialogsum", "task.language=en", "data.builtin=null",
        *(f"data.{split}={path}" for split, path in paths.items()),
        "defaults.epochs=8", "defaults.max_source_length=384", "defaults.generation.max_new_tokens=48",
    ]


def run(overrides: list[str], workdir: Path) -> dict[str, Any]:
    config = load_config(REPO / "configs" / "full.yaml", [*overrides, "ray.dashboard=false"], output_dir=str(workdir))
    run_experiment(config, quiet=True)
    return json.loads((config.run_dir / "summary.json").read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="builtin,dialogsum")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ensemble.json"))
    args = parser.parse_args()
    setup_logging("WARNING")
    results: dict[str, Any] = {}
    for name in args.datasets.split(","):
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-ensemble-{name}-"))
        overrides = [] if name == "builtin" else dialogsum_overrides(workdir)
        if overrides is None:
            print(f"{name}: skipped, {DIALOGSUM} is absent", file=sys.stderr)
            continue
        summary = run(overrides, workdir)
        results[name] = {"metric": summary["metric"], "ensemble": summary["ensemble"],
                         "lead": summary.get("baselines", {}).get("lead", {})}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")

    for name, result in results.items():
        metric, section = result["metric"], result["ensemble"]
        print(f"\n{name}: test {metric}")
        if section.get("status") != "ok":
            print(f"  ensemble {section.get('status')}: {section.get('reason')}")
            continue
        rows = [section["strategy"], "best_single", "mbr", "oracle", *section["members"]]
        for method in dict.fromkeys(rows):
            label = f"best single ({section['best_member']})" if method == "best_single" else method
            print(f"  {label:34}{section['scores'][method]['test'][metric]:8.2f}")
        lead = result["lead"].get("test", {}).get(metric)
        if lead is not None:
            print(f"  {'lead baseline (first turn)':34}{lead:8.2f}")
        print(f"  {section['verdict']}")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
