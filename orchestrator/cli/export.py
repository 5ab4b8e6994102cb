"""`export`: a finished candidate as a self-contained Hugging Face model directory with its card."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write a finished candidate as a from_pretrained directory with a model card (optionally to the Hub)"


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `run`")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", help="the candidate to export")
    which.add_argument("--best", action="store_true", help="the best on validation (the default)")
    parser.add_argument("--variant", default="fp32", help="fp32 (default) or an INT8 backend the optimize stage made")
    parser.add_argument("--out", type=Path, help="default: <run_dir>/export/<name>[-<variant>]")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="upload the export to this Hub repository")


def run(args: argparse.Namespace) -> int:
    from orchestrator.export import export, push_to_hub
    from orchestrator.export_plan import ExportError, plan_export

    try:
        plan = plan_export(args.run_dir, args.model, args.variant, args.out)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        directory = export(plan)
        print(f"exported {plan.name} ({plan.variant}) to {directory}")
        if args.push_to_hub:
            print(f"pushed to {push_to_hub(directory, args.push_to_hub)}")
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
