"""`serve`: a run's recommended model, or its ensemble, behind an HTTP endpoint (Ray Serve)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "serve a run's best model or ensemble over HTTP (Ray Serve) until Ctrl-C"


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `run`")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", help="serve this candidate alone")
    which.add_argument("--ensemble", action="store_true", help="serve the ensemble the run chose, with every member")
    which.add_argument("--best", action="store_true",
                       help="the default: the ensemble, or the single model when the run chose one")
    parser.add_argument("--variant", default="auto",
                        help="auto (the optimize stage's recommendation), fp32, or a backend the run quantized with")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--replicas", type=_positive, default=1, help="replicas of each model (default 1)")
    parser.add_argument("--no-batching", action="store_true", help="one input per model call (for comparison)")
    parser.add_argument("--max-inputs", type=_positive, default=64, help="texts per request (default 64)")
    parser.add_argument("--max-input-chars", type=_positive, default=20_000, help="characters per text")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def run(args: argparse.Namespace) -> int:
    from orchestrator.logging_setup import setup_logging

    setup_logging("INFO")
    from orchestrator.serving.plan import Limits
    from orchestrator.serving.server import ServeFailed, ServeOptions, serve_run

    options = ServeOptions(model=args.model, ensemble=args.ensemble, variant=args.variant, host=args.host,
                           port=args.port, replicas=args.replicas, batching=not args.no_batching,
                           limits=Limits(max_inputs=args.max_inputs, max_input_chars=args.max_input_chars))
    try:
        code = serve_run(args.run_dir, options, on_ready=lambda message: print(message, flush=True))
    except ServeFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("stopped", flush=True)
    return code
