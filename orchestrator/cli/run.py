"""`run`: validate the experiment, then train every candidate and write the summary."""

from __future__ import annotations

import argparse

from orchestrator.cli.common import add_config_arguments, config_from_args

HELP = "train all candidates of an experiment concurrently and summarise them"


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--fresh", action="store_true", help="discard earlier results of this run instead of resuming")
    parser.add_argument(
        "--use-tuned", action="store_true",
        help="train every chosen candidate with its learning rate from the last `tune` sweep (tune/tune.json)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only outcomes, no progress lines")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def run(args: argparse.Namespace) -> int:
    from orchestrator.logging_setup import setup_logging

    setup_logging(args.log_level)
    config = config_from_args(args)
    from orchestrator.pipeline import run_experiment  # heavy imports only once the config is good

    return run_experiment(config, quiet=args.quiet, fresh=args.fresh, use_tuned=args.use_tuned)
