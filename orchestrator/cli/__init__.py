"""`python -m orchestrator <command>`: one module per subcommand, each with `add_parser` and `run`.

Every command turns a bad config or bad usage into a list of problems and exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from orchestrator.cli import export as export_command
from orchestrator.cli import optimize as optimize_command
from orchestrator.cli import predict as predict_command
from orchestrator.cli import run as run_command
from orchestrator.cli import serve as serve_command
from orchestrator.cli import status as status_command
from orchestrator.cli import tune as tune_command
from orchestrator.cli import validate as validate_command
from orchestrator.config import ConfigError
from orchestrator.report.summary import EXIT_USAGE

COMMANDS = {
    "run": run_command, "validate": validate_command, "predict": predict_command, "optimize": optimize_command,
    "status": status_command, "tune": tune_command, "export": export_command, "serve": serve_command,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default exits 2 too; keep its wording
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="orchestrator", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module in COMMANDS.items():
        module.add_parser(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line and where the traceback is, never a traceback
        return report_crash(exc)


def report_crash(exc: Exception) -> int:
    """Exit 1 with one line; the traceback goes to the run's errors/driver.log (or a temp file)."""
    import tempfile
    import traceback
    from pathlib import Path

    from contract.redact import redact
    from orchestrator.failures import one_line

    log = getattr(exc, "log", None)
    if log is None:
        log = Path(tempfile.gettempdir()) / f"orchestrator-crash-{os.getpid()}.log"
        log.write_text(redact(traceback.format_exc()), encoding="utf-8")
    message = one_line(exc) if not hasattr(exc, "log") else str(exc)
    print(redact(f"error: {message} (this is a bug; the traceback is in {log})"), file=sys.stderr)
    return 1
