"""A stop request that reaches supervisors away from the driver.

`run`'s supervisors live in the driver, where the signal handler sets their `StopRequest`. A
Tune trial's supervisor lives in the trial's own actor, which no signal reaches. The driver
holds one `StopBroadcast` actor per sweep: on Ctrl-C or SIGTERM it `request`s the stop, every
trial's `listen`ing thread sets its local `StopRequest`, the trial's supervisor asks its training
to save a checkpoint and stop as in `run`, and the trial says it has `saved`. The driver waits
for every running trial's word (or the grace) before it ends the sweep.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import ray

from orchestrator.interrupts import StopRequest

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0)
class StopBroadcast:
    """The sweep's stop: requested once by the driver, awaited by every trial."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.requested = asyncio.Event()
        self.saved_keys: set[str] = set()

    async def request(self, signum: int) -> None:
        self.signum = signum
        self.requested.set()

    async def wait(self) -> int:
        await self.requested.wait()
        assert self.signum is not None
        return self.signum

    async def saved(self, key: str) -> None:
        self.saved_keys.add(key)

    async def saved_by(self) -> list[str]:
        return sorted(self.saved_keys)


def listen(broadcast: Any) -> StopRequest:
    """A local StopRequest that is set when `broadcast` is requested (a daemon thread waits on it)."""
    stop = StopRequest()

    def wait() -> None:
        try:
            stop.request(ray.get(broadcast.wait.remote()))
        except Exception as exc:  # noqa: BLE001 - the broadcast went with its driver: the trial goes too
            log.debug("the stop broadcast is gone: %s", exc)

    threading.Thread(target=wait, name="stop-broadcast", daemon=True).start()
    return stop
