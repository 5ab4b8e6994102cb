"""The one logging setup: named loggers, a per-process prefix, library noise turned down.

The driver logs to the terminal; each training actor logs to its candidate's `train.log` (and
not to the driver's terminal, which shows the live status instead).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

from contract.redact import redact

# Set before Ray, transformers or tokenizers are imported anywhere in the process.
QUIET_ENVIRONMENT = {
    "RAY_DEDUP_LOGS": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",  # with verbose=0, Tune's older output engine prints nothing at all
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
}
NOISY_LOGGERS = ("httpx", "urllib3", "filelock", "bitsandbytes", "ray", "datasets", "evaluate", "mlflow", "alembic", "wandb")
_FORMAT = "%(asctime)s %(levelname).1s %(prefix)s%(name)s: %(message)s"


class _PrefixFilter(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        record.prefix = self.prefix
        return True


class _RedactingFormatter(logging.Formatter):
    """Every record, traceback included, with URI credentials masked (`contract.redact`)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on whatever `sys.stderr` is when a record is written, not when logging was set
    up: a stream that was swapped out since (pytest's capture, a redirect) is never written to."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def quiet_environment() -> None:
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def setup_logging(level: str = "INFO", *, log_file: Path | None = None, prefix: str = "", console: bool = True) -> None:
    """(Re)configure the root logger of this process; safe to call more than once."""
    quiet_environment()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = []
    if console:
        handlers.append(_StderrHandler())
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(_RedactingFormatter(_FORMAT, datefmt="%H:%M:%S"))
        handler.addFilter(_PrefixFilter(f"[{prefix}] " if prefix else ""))
        root.addHandler(handler)
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", message=".*mtime may not be reliable.*")
    _route_transformers_logging()


ROUTE_TRANSFORMERS_LOGGING = "models.logs:route_transformers_logging"


def _route_transformers_logging() -> None:
    """transformers has its own stderr handler; once a step has imported it, the data plane
    sends its records through ours instead (named by path: the driver never imports it)."""
    if "transformers" in sys.modules:
        from contract.work import resolve

        resolve(ROUTE_TRANSFORMERS_LOGGING)()
