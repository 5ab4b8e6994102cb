"""`predict`: apply a finished run's ensemble to a JSONL or CSV file of new inputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "apply a run's ensemble to new inputs (writes JSONL)"


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `run`")
    parser.add_argument("--input", type=Path, required=True, help="JSONL or CSV with the task's input column")
    parser.add_argument("--output", type=Path, help="default: <run_dir>/ensemble/predictions-<input name>.jsonl")
    parser.add_argument("--verbose", action="store_true", help="print every member's phases and progress")


def run(args: argparse.Namespace) -> int:
    from orchestrator.logging_setup import setup_logging

    setup_logging("INFO")
    from orchestrator.predict import PredictError, predict

    output = args.output or args.run_dir / "ensemble" / f"predictions-{args.input.stem}.jsonl"
    try:
        path = predict(args.run_dir, args.input, output, quiet=not args.verbose)
    except PredictError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
