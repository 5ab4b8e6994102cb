"""One work item's way through the supervisor: a state from a closed set, and one record per item
holding that state and what belongs to the item in it.

Ray Train v2's controller keeps its state as one object that says whether it `is_terminal`; the
supervisor does the same per item, instead of an item's state being wherever its name happens
to be among half a dozen dictionaries and queues. A record changes state only through its
transitions, each naming the states it may leave (`TransitionError` otherwise), so an item that
ended cannot be launched again, and one that is stopping cannot be retried. The `Ledger` lists
the records in the order each view needs: the queue (a retry at its head), what runs (by
launch) and what ended (by ending), the order status.json has always shown.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from contract.phases import Status
from orchestrator.outcome import Outcome
from orchestrator.work import WorkItem

if TYPE_CHECKING:
    from orchestrator.placement import GroupReservation
    from orchestrator.workers import Worker


class ItemState(StrEnum):
    QUEUED = "queued"  # waiting for room; a retry waits at the queue's head
    RESERVING = "reserving"  # a worker group: Ray is finding nodes where its workers fit
    PLACING = "placing"  # launched there; nothing else launches until its worker group holds that room
    RUNNING = "running"
    STOPPING = "stopping"  # the run stops: a training saves until its deadline, anything else is killed
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"  # could never fit the cluster: never launched
    INTERRUPTED = "interrupted"
    ABANDONED = "abandoned"  # the supervisor itself failed while it ran: killed, without an outcome

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_queued(self) -> bool:
        return self in (ItemState.QUEUED, ItemState.RESERVING)

    @property
    def is_running(self) -> bool:
        """Its actor is alive and answers in the end: judged by the limits every poll."""
        return self in (ItemState.PLACING, ItemState.RUNNING, ItemState.STOPPING)

    @classmethod
    def ended_as(cls, status: Status) -> ItemState:
        """The terminal state of an outcome with `status` (the same names)."""
        return cls(status.value)


_TERMINAL = frozenset({*(ItemState.ended_as(status) for status in Status), ItemState.ABANDONED})


class TransitionError(RuntimeError):
    """A transition from a state it may not leave: a bug in the supervisor, never the item's."""


@dataclass(eq=False)
class ItemRecord:
    """One item in one supervisor: its state, and what belongs to it there."""

    item: WorkItem  # the current attempt: a retry's next job; a worker group's with its nodes once launched
    order: int  # its place in the listing of its state (see `Ledger`)
    state: ItemState = ItemState.QUEUED
    retries: list[str] = field(default_factory=list)  # why each earlier attempt was retried
    first_launched: float | None = None  # an outcome's wall_s counts from the first attempt's launch
    reservation: GroupReservation | None = None  # from RESERVING until it finds room (else released at the end)
    worker: Worker | None = None  # while running
    ref: Any = None  # while running: its actor's answer, on its way
    launched: float = 0.0  # this attempt's launch
    group_before: str | None = None  # while PLACING: the board's placement group before this launch
    stop_deadline: float = 0.0  # while STOPPING: when it is killed
    outcome: Outcome | None = None  # once ended (an abandoned item has none)

    @property
    def name(self) -> str:
        return self.item.name

    def _move(self, to: ItemState, *leaving: ItemState) -> None:
        if self.state not in leaving:
            raise TransitionError(f"{self.item.label}: {self.state} cannot become {to}")
        self.state = to

    def reserve(self, reservation: GroupReservation) -> None:
        self._move(ItemState.RESERVING, ItemState.QUEUED)
        self.reservation = reservation

    def launch(self, item: WorkItem, worker: Worker, ref: Any, now: float, order: int, *,
               placing: bool = False, group_before: str | None = None) -> None:
        self._move(ItemState.PLACING if placing else ItemState.RUNNING, ItemState.QUEUED, ItemState.RESERVING)
        self.item, self.worker, self.ref, self.launched, self.order = item, worker, ref, now, order
        self.reservation, self.group_before = None, group_before
        if self.first_launched is None:
            self.first_launched = now

    def placed(self) -> None:
        """Its worker group holds the room its reservation found: other items may launch."""
        self._move(ItemState.RUNNING, ItemState.PLACING)

    def stop(self, deadline: float) -> None:
        self._move(ItemState.STOPPING, ItemState.PLACING, ItemState.RUNNING)
        self.stop_deadline = deadline

    def retry(self, item: WorkItem, note: str, order: int) -> None:
        """Back to the queue (`order`: its head) with the next attempt's item; never while stopping."""
        self._move(ItemState.QUEUED, ItemState.PLACING, ItemState.RUNNING)
        self.item, self.order, self.worker, self.ref = item, order, None, None
        self.retries.append(note)

    def end(self, outcome: Outcome, order: int) -> None:
        self._move(ItemState.ended_as(outcome.status), *(s for s in ItemState if not s.is_terminal))
        self.outcome, self.order, self.worker, self.ref = outcome, order, None, None

    def abandon(self) -> None:
        self._move(ItemState.ABANDONED, ItemState.PLACING, ItemState.RUNNING, ItemState.STOPPING)
        self.worker, self.ref = None, None


class Ledger:
    """Every item's record, by name (a supervisor's items are one per candidate, or per fold)."""

    def __init__(self, items: list[WorkItem]):
        self._records: dict[str, ItemRecord] = {}
        for order, item in enumerate(items):
            if item.name in self._records:
                raise ValueError(f"{item.label}: two items for {item.name!r} in one supervisor; their outcomes "
                                 "would overwrite each other")
            self._records[item.name] = ItemRecord(item, order)
        self._tail = itertools.count(len(items))
        self._head = itertools.count(-1, -1)

    def __getitem__(self, name: str) -> ItemRecord:
        return self._records[name]

    def __iter__(self) -> Iterator[ItemRecord]:
        """In the order the items were given."""
        return iter(self._records.values())

    def last(self) -> int:
        """An order after every other: the queue's tail, the latest launch, the latest ending."""
        return next(self._tail)

    def first(self) -> int:
        """An order before every other: the queue's head, for a retry."""
        return next(self._head)

    def queued(self) -> list[ItemRecord]:
        return sorted((r for r in self if r.state.is_queued), key=lambda r: r.order)

    def running(self) -> list[ItemRecord]:
        return sorted((r for r in self if r.state.is_running), key=lambda r: r.order)

    def ended(self) -> list[ItemRecord]:
        return sorted((r for r in self if r.outcome is not None), key=lambda r: r.order)

    def outcomes(self) -> list[Outcome]:
        """Every item's outcome, in the order the items were given, once all have ended."""
        outcomes = [record.outcome for record in self if record.outcome is not None]
        if len(outcomes) < len(self._records):
            raise TransitionError(f"no outcome yet for {[r.name for r in self if r.outcome is None]}")
        return outcomes

    def in_state(self, *states: ItemState) -> list[ItemRecord]:
        return sorted((r for r in self if r.state in states), key=lambda r: r.order)
