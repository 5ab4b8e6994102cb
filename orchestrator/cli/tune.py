"""`tune`: sweep each candidate's learning rate with Ray Tune and record the best for `run`."""

from __future__ import annotations

import argparse

from orchestrator.cli.common import add_config_arguments, config_from_args

HELP = "sweep each candidate's learning rate (Ray Tune, ASHA early stopping) and record the best for run --use-tuned"


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--samples", type=int, metavar="N", help="trials per candidate (overrides tune.samples)")
    parser.add_argument("--quiet", action="store_true", help="print only the outcome, no line per trial result")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def run(args: argparse.Namespace) -> int:
    from orchestrator.logging_setup import setup_logging

    setup_logging(args.log_level)
    if args.samples is not None:
        args.overrides = [*args.overrides, f"tune.samples={args.samples}"]  # validated with the rest
    config = config_from_args(args)
    from orchestrator.pipeline import tune_experiment  # heavy imports only once the config is good

    names = None if args.only else config.tune.models  # --only chooses over tune.models
    return tune_experiment(config, names, quiet=args.quiet)
