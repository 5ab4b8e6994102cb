"""Ctrl-C and SIGTERM: the run stops on purpose instead of dying.

The first signal is a request (`StopRequest`): the supervisor stops launching, asks running
trainings to save a checkpoint and stop (each within its `timeouts.stop_grace`), kills every
other actor at once, and the run writes summary.json and the reports with `interrupted` for
what did not finish, then exits 130 (SIGINT) or 143 (SIGTERM). A second Ctrl-C does not wait:
it raises KeyboardInterrupt where the driver is, and the supervisor's cleanup still kills every
actor on its way out.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

HANDLED = (signal.SIGINT, signal.SIGTERM)
RUN_STOPPING = "stopping; running trainings save a checkpoint first"


@dataclass
class StopRequest:
    """Set by the first SIGINT or SIGTERM; read by every supervisor of the run."""

    signum: int | None = None
    _event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @property
    def exit_status(self) -> int:
        """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + (self.signum or signal.SIGINT)

    @property
    def reason(self) -> str:
        name = signal.Signals(self.signum).name if self.signum else "a stop request"
        return f"the run was stopped ({name}) before this finished"

    def request(self, signum: int) -> None:
        self.signum = signum
        self._event.set()


class RunInterrupted(Exception):
    """A supervisor stopped on request; `outcomes` holds what finished and what was interrupted."""

    def __init__(self, outcomes: list[Any], stop: StopRequest):
        super().__init__(stop.reason)
        self.outcomes = outcomes
        self.stop = stop


@contextmanager
def catch_interrupts(doing: str = RUN_STOPPING) -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM request a stop; a second SIGINT interrupts at once.
    `ray.init` installs its own SIGTERM handler, so call `arm` again after connecting. Outside the
    main thread (signals cannot be caught there) the request simply never comes."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    arm(stop, doing)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def arm(stop: StopRequest, doing: str = RUN_STOPPING) -> None:
    """Make SIGINT and SIGTERM set `stop` (in the main thread; elsewhere nothing changes); the
    first logs `doing`, what stopping will do."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_signal(signum: int, frame: Any) -> None:
        if stop.requested:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        log.warning("%s received: %s (Ctrl-C again to quit at once)", signal.Signals(signum).name, doing)
        stop.request(signum)

    for signum in HANDLED:
        signal.signal(signum, on_signal)
