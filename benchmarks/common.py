"""What every benchmark shares: paths, progress lines, repeated-timing statistics and run records.

Only the standard library here, so the report (and its tests) import it without Ray or torch.
Every timing is summarised the same way: the median of the repeats, the min-max spread and the
number of samples; a ratio is always of two medians measured in the same invocation.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"


_progress_stream: TextIO | None = None  # None: sys.stdout


def progress_to(stream: TextIO) -> None:
    """Send progress lines to `stream`: a benchmark child whose own output goes to a log file
    still reports progress on the terminal."""
    global _progress_stream
    _progress_stream = stream


def progress(message: str) -> None:
    """One timestamped line on the terminal, flushed at once."""
    print(f"{time.strftime('%H:%M:%S')}  {message}", file=_progress_stream or sys.stdout, flush=True)


def describe(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and count of repeated measurements (None values when there are none)."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def median_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float | None:
    """median(numerator) / median(denominator); None when either side has no samples."""
    if not numerator or not denominator or statistics.median(denominator) == 0:
        return None
    return statistics.median(numerator) / statistics.median(denominator)


def fmt_spread(values: Sequence[float], digits: int = 2) -> str:
    """`median [min-max]` for several samples, the value alone for one, `-` for none."""
    if not values:
        return "-"
    median = f"{statistics.median(values):.{digits}f}"
    if len(values) == 1:
        return median
    return f"{median} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return path


def run_record(run_dir: Path, end_to_end_s: float | None = None) -> dict[str, Any]:
    """Where an orchestrated run's time went, from its summary.json and each candidate's
    metrics.json: every stage's wall time, and per candidate the supervisor's view (actor launch
    to result collected) beside the candidate's own clock inside its actor."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    candidates = {}
    for name, model in summary["models"].items():
        metrics_path = run_dir / "models" / name / "metrics.json"
        inside = json.loads(metrics_path.read_text(encoding="utf-8")).get("wall_s") if metrics_path.is_file() else None
        candidates[name] = {"status": model["status"], "supervised_s": model.get("wall_s"), "inside_s": inside,
                            "resumed": model.get("resumed", False)}
    return {
        "end_to_end_s": end_to_end_s,
        "summary_wall_s": summary.get("wall_s"),
        "stages": {stage: entry.get("wall_s") for stage, entry in summary.get("stages", {}).items()},
        "candidates": candidates,
    }
