"""fp32 against INT8: size, quality and batch-size throughput of the default run's models, and
how long a full batch-size sweep takes per model and variant.

    python benchmarks/quantization.py [--run-dir RUN_DIR] [--backends torch_dynamic,onnxruntime]

Without --run-dir, trains `configs/full.yaml` first (ensemble and optimize off, about 3 min on
2 cores). Then the optimize stage runs as in `orchestrator optimize RUN_DIR`, with the batch sizes
given explicitly (default 1..64) so every variant has every point: per model and variant, one at a
time, `warmup` untimed calls and `repeats` timed calls per batch size (the median is reported,
with the min-max of the repeats), quality on the validation split. Writes
benchmarks/results/quantization.json and prints fp32 and the INT8 variants side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import RESULTS_DIR, progress, write_json  # noqa: E402
from benchmarks.report import quantization_section, sweep_section  # noqa: E402
from orchestrator.cluster import connect, disconnect  # noqa: E402
from orchestrator.config import load_config, load_run_config  # noqa: E402
from orchestrator.data import label_order, run_data_files  # noqa: E402
from orchestrator.logging_setup import setup_logging  # noqa: E402
from orchestrator.pipeline import run_experiment  # noqa: E402
from orchestrator.progress import EventPrinter  # noqa: E402
from orchestrator.stages.context import RunContext  # noqa: E402
from orchestrator.stages.optimize import run_optimize  # noqa: E402

SIZES = (1, 2, 4, 8, 16, 32, 64)


def train_default(workdir: Path) -> Path:
    overrides = ["ensemble.strategy=none", "optimize.enabled=false", "ray.dashboard=false"]
    config = load_config(REPO / "configs" / "full.yaml", overrides, output_dir=str(workdir))
    code = run_experiment(config, quiet=True)
    if code not in (0, 3):
        raise RuntimeError(f"training configs/full.yaml ended with status {code}; see {config.run_dir}")
    return config.run_dir


def run(
    run_dir: Path | str | None = None,
    backends: tuple[str, ...] = ("torch_dynamic", "onnxruntime"),
    batch_sizes: tuple[int, ...] = SIZES,
    warmup: int = 1,
    repeats: int = 3,
    run_label: str | None = None,
) -> dict[str, Any]:
    """The optimize stage on `run_dir`'s survivors (training configs/full.yaml first without one);
    `run_label` says in the report which run that is."""
    setup_logging("WARNING")
    trained_here, train_s = run_dir is None, None
    if run_dir is None:
        progress("  quantization: no run to reuse; training configs/full.yaml first")
        started = time.perf_counter()
        run_dir = train_default(Path(tempfile.mkdtemp(prefix="bench-quantization-")))
        train_s = time.perf_counter() - started
    run_dir = Path(run_dir).resolve()
    overrides = [f"optimize.backends=[{','.join(backends)}]", f"optimize.batch_sizes=[{','.join(map(str, batch_sizes))}]",
                 f"optimize.warmup={warmup}", f"optimize.repeats={repeats}", "optimize.enabled=true",
                 "optimize.models=null", "ray.dashboard=false"]
    config = load_run_config(run_dir, overrides)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    survivors = [n for n, m in summary["models"].items() if m["status"] == "succeeded"]
    data = run_data_files(run_dir)
    progress(f"  quantization: optimize stage on {', '.join(survivors)} ({', '.join(backends)}; "
             f"batch sizes {list(batch_sizes)})")
    started = time.perf_counter()
    cluster = connect(config.ray)
    ctx = RunContext(config, data, label_order(config, data), run_dir, cluster, EventPrinter(quiet=True))
    try:
        section = run_optimize(ctx, survivors)
    finally:
        ctx.close()
        disconnect()
    return {
        "run_dir": str(run_dir), "trained_here": trained_here, "train_s": train_s,
        "run_label": run_label or ("a run of configs/full.yaml trained for this benchmark" if trained_here
                                   else f"the run in {run_dir}"),
        "backends": list(backends), "batch_sizes": list(batch_sizes), "warmup": warmup, "repeats": repeats,
        "metric": config.task.resolved_metric(), "stage_wall_s": time.perf_counter() - started, "optimize": section,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a finished run of configs/full.yaml (default: train one)")
    parser.add_argument("--backends", default="torch_dynamic,onnxruntime")
    parser.add_argument("--batch-sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "quantization.json")
    args = parser.parse_args()
    result = run(args.run_dir, tuple(args.backends.split(",")),
                 tuple(int(s) for s in args.batch_sizes.split(",")), repeats=args.repeats)
    write_json(args.out, result)
    print("\n".join(quantization_section(result) + sweep_section(result)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
