"""The one rule that times work out, for every stage and every tune trial alike.

`total` counts from the actor's launch whatever happens. Besides it, each phase is judged by the
limit it names (`Phase.limit`): starting up (queued, loading) by `load` from the launch, the
first step by `first_step` from when it began, and everything after by `stall` from the last
report. A report is a phase change or a heartbeat, stamped on arrival at the status board, so
the driver judges every actor by one clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.phases import Limit, Phase
from contract.settings import Timeouts


@dataclass(frozen=True)
class Clock:
    """The moments one running item is judged from (seconds since the epoch)."""

    launched: float
    phase_since: float | None = None  # when its current phase began
    last_report: float | None = None  # its last phase change or heartbeat


@dataclass(frozen=True)
class LimitPassed:
    limit: Limit
    phase: Phase
    seconds: float


def limit_passed(phase: Phase, timeouts: Timeouts, clock: Clock, now: float) -> LimitPassed | None:
    """The limit an item in `phase` has passed at `now`, if any."""
    if now - clock.launched > timeouts.total:
        return LimitPassed(Limit.TOTAL, phase, timeouts.total)
    limit = phase.limit
    start = {
        Limit.LOAD: clock.launched,
        Limit.FIRST_STEP: max(clock.phase_since or clock.launched, clock.launched),
        Limit.STALL: max(clock.last_report or clock.launched, clock.launched),
    }[limit]
    seconds = float(getattr(timeouts, limit.value))
    return LimitPassed(limit, phase, seconds) if now - start > seconds else None
