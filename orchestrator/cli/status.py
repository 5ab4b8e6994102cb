"""`status`: the status table of a run, from its directory, during or after the run."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.markup import escape

HELP = "print the status table of a run (live with --watch); works while the run goes on"


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, nargs="?",
                        help="a run directory (default: the most recently updated one under ./runs)")
    parser.add_argument("--watch", action="store_true", help="redraw every second until nothing runs or is queued")


def latest_run_dir(root: Path) -> Path | None:
    candidates = [p.parent for p in root.glob("*/status.json")]
    return max(candidates, key=lambda d: (d / "status.json").stat().st_mtime) if candidates else None


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from orchestrator.config import ConfigError, ConfigIssue
    from orchestrator.live import live_status, read_status, status_table

    run_dir = args.run_dir or latest_run_dir(Path("runs"))
    if run_dir is None or read_status(run_dir) is None:
        where = f"{run_dir} has no status.json" if run_dir else "no run directory under ./runs has a status.json"
        raise ConfigError([ConfigIssue("RUN_DIR", f"{where}; pass the run directory (output_dir/experiment)")])
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 200)  # piped or logged: whole rows rather than ellipses
    if args.watch:
        with live_status(run_dir, console, refresh_per_second=1):
            while _busy(run_dir):
                time.sleep(1)
    else:
        console.print(status_table(read_status(run_dir)))
    summary = run_dir / "summary.json"
    console.print(escape(f"run directory: {run_dir}" + (f"; summary: {summary}" if summary.is_file() else
                                                        "; no summary yet")))
    return 0


def _busy(run_dir: Path) -> bool:
    """Something runs or waits, or the run is between stages: no summary written since the last
    update, which is recent (a driver killed outright stops updating and is not waited for)."""
    from orchestrator.live import read_status

    status = read_status(run_dir) or {}
    if any(section.get("running") or section.get("queued") for section in status.get("stages", {}).values()):
        return True
    summary = run_dir / "summary.json"
    if summary.is_file() and summary.stat().st_mtime >= status.get("updated", 0):
        return False
    return time.time() - status.get("updated", 0) < 30
