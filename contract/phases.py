"""Where a piece of work is (its phase) and how it ended (its status), each a closed set.

A phase carries the limit that governs it, so the rule that times work out reads the phase
instead of comparing phase strings in other files. Phases cross the process boundary as the
enum: every reporter takes only a `Phase` (`reported`), so an actor cannot report one that does
not exist. Both are `StrEnum`s: they are written to status.json, summary.json and the logs as
their plain values, exactly as before they were enums.
"""

from __future__ import annotations

from enum import StrEnum


class Limit(StrEnum):
    """The four time limits of `timeouts` (seconds); each fires with its own name."""

    LOAD = "load"  # from the actor's launch until the model is loaded
    FIRST_STEP = "first_step"  # from the model being loaded until the first step ends
    STALL = "stall"  # from the last report (phase or heartbeat) of work under way
    TOTAL = "total"  # from the actor's launch, whatever the phase


class Phase(StrEnum):
    PREFLIGHT = "preflight"  # only an outcome's: preflight skipped the candidate before it was queued
    QUEUED = "queued"
    LOADING = "loading"
    FIRST_STEP = "first_step"
    TRAINING = "training"
    EVALUATING = "evaluating"
    SAVING = "saving"
    PREDICTING = "predicting"
    PROPOSING = "proposing"  # the ensemble's members
    SCORING = "scoring"
    FITTING = "fitting"  # the ensemble's meta-learner, and the methods it is chosen among
    QUANTIZING = "quantizing"  # the optimize stage
    BENCHMARKING = "benchmarking"
    DONE = "done"

    @property
    def limit(self) -> Limit:
        """The limit this phase is judged by besides `total`: starting up is judged by `load`,
        the first step by `first_step`, everything after by `stall`."""
        if self in (Phase.PREFLIGHT, Phase.QUEUED, Phase.LOADING):
            return Limit.LOAD
        if self is Phase.FIRST_STEP:
            return Limit.FIRST_STEP
        return Limit.STALL


def reported(phase: object) -> Phase:
    """`phase`, checked where a reporter is handed it: a `Phase`, or a TypeError in the process
    that passed anything else (a free string included), at the call where the bug is. A typo
    never reaches the driver, where it would be judged as some other phase by some other limit."""
    if not isinstance(phase, Phase):
        raise TypeError(f"a reported phase is a contract.phases.Phase, not {phase!r} (one of: {', '.join(Phase)})")
    return phase


class Status(StrEnum):
    """How one candidate's work in a stage ended: the `status` of its outcome."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"  # the run was stopped (Ctrl-C, SIGTERM) before this work finished

    @property
    def ok(self) -> bool:
        return self is Status.SUCCEEDED
