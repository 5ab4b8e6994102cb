"""The one logging setup: records reach the terminal's current stderr, with credentials masked."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from orchestrator.logging_setup import setup_logging


def test_records_go_to_the_stderr_of_the_moment_not_the_one_at_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging("INFO")
    try:
        first.close()  # pytest closes each test's capture stream; a later record must not hit it
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("orchestrator.test").info("pushed to s3://key:secret@bucket/run")
        written = second.getvalue()
        assert "pushed to" in written and "secret" not in written
    finally:
        for handler in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(handler)
