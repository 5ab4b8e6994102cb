"""`optimize`: rerun the quantization and batch-size stage on an existing run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "quantize a finished run's survivors and benchmark batch sizes (updates summary.json and the reports)"


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `run`")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
        help="override a field of the run's config, e.g. --set optimize.batch_sizes=[1,8,32]",
    )
    parser.add_argument("--quiet", action="store_true", help="print only outcomes, no progress lines")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def run(args: argparse.Namespace) -> int:
    from orchestrator.logging_setup import setup_logging

    setup_logging(args.log_level)
    from orchestrator.config import load_run_config

    config = load_run_config(args.run_dir, args.overrides)
    from orchestrator.pipeline import rerun_optimize

    return rerun_optimize(config, args.run_dir.resolve(), quiet=args.quiet)
