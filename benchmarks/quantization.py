"""fp32 against INT8: size, quality and batch-size throughput of the default run's models.

    python benchmarks/quantization.py [--run-dir RUN_DIR] [--backends torch_dynamic,onnxruntime]

Without --run-dir, trains `configs/full.yaml` first (ensemble and optimize off, about 3 min on
2 cores). Then the optimize stage runs as in `orchestrator optimize RUN_DIR`, with batch sizes
1..64 given explicitly so every variant has every point: per model and variant, one at a time,
1 warm-up call and 3 timed repeats per batch size (the median is reported), quality on the
validation split. Prints one table with fp32 and the INT8 variants side by side and writes
benchmarks/results/quantization.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestrator.cluster import connect, disconnect  # noqa: E402
from orchestrator.config import load_config, load_run_config  # noqa: E402
from orchestrator.data import label_order, run_data_files  # noqa: E402
from orchestrator.logging_setup import setup_logging  # noqa: E402
from orchestrator.pipeline import run_experiment  # noqa: E402
from orchestrator.progress import EventPrinter  # noqa: E402
from orchestrator.stages.optimize import run_optimize  # noqa: E402

SIZES = [1, 2, 4, 8, 16, 32, 64]
SHOWN = (1, 8, 64)


def train_default(workdir: Path) -> Path:
    overrides = ["ensemble.strategy=none", "optimize.enabled=false", "ray.dashboard=false"]
    config = load_config(REPO / "configs" / "full.yaml", overrides, output_dir=str(workdir))
    run_experiment(config, quiet=True)
    return config.run_dir


def throughput(variant: dict[str, Any], size: int) -> float | None:
    return next((p["samples_per_s"] for p in variant.get("points", []) if p["batch_size"] == size
                 and p["status"] == "ok"), None)


def ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value else "-"


def table(section: dict[str, Any], metric: str) -> list[str]:
    head = (f"{'model':<12} {'variant':<14} {'MB':>6} {'smaller':>8} {'layers':>7} {'val ' + metric:>13} "
            + " ".join(f"{'bs' + str(s) + '/s':>8}" for s in SHOWN)
            + " " + " ".join(f"{'x@' + str(s):>6}" for s in SHOWN) + f" {'sweep s':>8}")
    lines = [head, "-" * len(head)]
    for name, model in section["models"].items():
        if model["status"] != "ok":
            lines.append(f"{name:<12} {model['status']}: {model.get('error')}")
            continue
        fp32 = model["variants"]["fp32"]
        for variant_name, v in model["variants"].items():
            if v["status"] != "ok":
                lines.append(f"{name:<12} {variant_name:<14} {v['status']}: {v.get('reason')}")
                continue
            rates = [throughput(v, s) for s in SHOWN]
            base = [throughput(fp32, s) for s in SHOWN]
            change = "" if variant_name == "fp32" else f" ({v.get('metric_change', 0):+.2f})"
            quality = f"{v['quality'][metric]:.2f}{change}"
            lines.append(
                f"{name:<12} {variant_name:<14} {v['size_bytes'] / 2**20:>6.1f} "
                f"{ratio(v.get('size_ratio')):>8} {ratio(v.get('layer_ratio')):>7} {quality:>13} "
                + " ".join(f"{r:>8.1f}" if r else f"{'-':>8}" for r in rates) + " "
                + " ".join(f"{r / b:>5.2f}x" if r and b else f"{'-':>6}" for r, b in zip(rates, base, strict=True))
                + f" {v.get('sweep_s', 0):>8.1f}"
                + ("" if v.get("accepted") else "  REJECTED")
            )
        rec = model["recommendation"]
        lines.append(f"{'':<12} recommended: {rec.get('variant')} at batch {rec.get('batch_size')}"
                     + (f", {rec['speedup_vs_fp32']:.2f}x fp32 there" if rec.get("speedup_vs_fp32") else "")
                     + f" ({rec['rule']})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a finished run of configs/full.yaml (default: train one)")
    parser.add_argument("--backends", default="torch_dynamic,onnxruntime")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "quantization.json")
    args = parser.parse_args()
    setup_logging("WARNING")
    run_dir = (args.run_dir or train_default(Path(tempfile.mkdtemp(prefix="bench-quantization-")))).resolve()
    overrides = [f"optimize.backends=[{args.backends}]", f"optimize.batch_sizes={SIZES}", "optimize.warmup=1",
                 "optimize.repeats=3", "optimize.models=null", "ray.dashboard=false"]
    config = load_run_config(run_dir, overrides)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    survivors = [n for n, m in summary["models"].items() if m["status"] == "succeeded"]
    data = run_data_files(run_dir)
    started = time.time()
    cluster = connect(config.ray)
    try:
        section = run_optimize(config, survivors, data, label_order(config, data), run_dir, cluster,
                               EventPrinter(quiet=True))
    finally:
        disconnect()
    metric = config.task.resolved_metric()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"benchmarked {section.get('benchmarked')}; stage wall {time.time() - started:.0f} s")
    print("\n".join(table(section, metric)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"run_dir": str(run_dir), "optimize": section}, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
