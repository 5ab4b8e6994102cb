"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse

from orchestrator.config import ExperimentConfig, load_config


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every command that reads an experiment file shares."""
    parser.add_argument("config", help="experiment YAML (a name under configs/ works too)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
        help="override a field, e.g. --set defaults.epochs=1 --set models.bart.learning_rate=1e-3",
    )
    parser.add_argument("--output-dir", help="where run directories go (overrides output_dir)")
    parser.add_argument("--only", help="comma-separated candidate names to keep")



def config_from_args(args: argparse.Namespace, *, read_data: bool = False) -> ExperimentConfig:
    """The command's config; `read_data` checks its data files with it (one list of problems)."""
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    return load_config(args.config, args.overrides, output_dir=args.output_dir, only=only, read_data=read_data)
