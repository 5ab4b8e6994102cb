"""The supervisor's decisions about room, as pure functions of what it knows.

Whether an item could ever fit the cluster, what fits now, which queued item goes next (one
whose candidate has a warm worker idle, else the queue's head), which idle workers make room
for it, and whether it launches, first has Ray find nodes for its worker group, or waits. The
supervisor gathers the facts (capacity, what runs, what idles, what is queued) and carries the
decision out; nothing here talks to Ray, so every rule is unit-tested without a cluster
(tests/test_scheduling.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

Amounts = dict[str, float]  # resource name -> amount ("CPU", "GPU")
SLACK = 1e-9  # fractional GPUs add up with rounding error


def shortfall(need: Amounts, capacity: Amounts) -> str | None:
    """Why `need` can never fit `capacity` ("needs 2 GPUs (the cluster has 1)"), or None."""
    short = [f"{need[k]:g} {k}s (the cluster has {capacity.get(k, 0.0):g})" for k in need
             if need[k] > capacity.get(k, 0.0) + SLACK]
    return f"needs {' and '.join(short)}" if short else None


def held(holdings: Iterable[Amounts]) -> Amounts:
    """What the given workers hold in all (CPUs and GPUs at least, zero when none)."""
    total = {"CPU": 0.0, "GPU": 0.0}
    for amounts in holdings:
        for key, value in amounts.items():
            total[key] = total.get(key, 0.0) + value
    return total


def fits(need: Amounts, used: Amounts, capacity: Amounts) -> bool:
    return all(used.get(k, 0.0) + need[k] <= capacity.get(k, 0.0) + SLACK for k in need)


def one_node_holds(per_worker: Mapping[str, float], workers: int, nodes: Iterable[Mapping[str, Any]]) -> bool:
    """Whether some live node (as `ray.nodes()` describes it) has, in all, the resources of
    `workers` such workers."""
    for node in nodes:
        total = node.get("Resources", {}) if node.get("Alive") else {}
        if all(total.get(k, 0.0) + SLACK >= v * workers for k, v in per_worker.items() if v):
            return True
    return False


def no_node_reason(per_worker: Mapping[str, float], workers: int) -> str:
    """Why a worker group that must share one node's copy of the run directory can never run."""
    each = ", ".join(f"{v:g} {k}" for k, v in per_worker.items() if k != "memory")
    return (f"with storage, its {workers} workers share one node's copy of the run directory, and no node "
            f"has room for {workers} x ({each})")


class IdleWorker(Protocol):
    """A warm worker in the pool, as scheduling sees it (`workers.Worker`)."""

    name: str  # the candidate it serves
    resources: Amounts
    idle_since: float


@dataclass(frozen=True)
class Queued:
    """A queued item, as scheduling sees it."""

    name: str
    need: Amounts
    reserves: bool = False  # a worker group outside a bundle: Ray finds its nodes before it launches


class Verdict(StrEnum):
    """What happens to the queue this time round: a closed set, as the retry policy's `Action`."""

    LAUNCH = "launch"
    RESERVE = "reserve"  # launch once a reservation has found nodes for its workers
    WAIT = "wait"  # nothing more launches until the next poll


@dataclass(frozen=True)
class Choice:
    verdict: Verdict
    why: str
    item: Queued | None = None  # the item to launch or reserve for; None when waiting
    release: tuple[str, ...] = ()  # idle workers to end first, so the item (or a later one) has their room


def choose(queue: Sequence[Queued], running: Sequence[Amounts], idle: Sequence[IdleWorker], capacity: Amounts,
           *, max_concurrent: int | None = None, placing: bool = False) -> Choice:
    """The queue's next step. `running`: what each running item's worker holds, in launch order;
    `idle`: the pool's warm workers, in its order; `placing`: a launched worker group has not yet
    taken the room its reservation found (nothing may take it first).

    The item is the first queued one whose candidate has an idle worker holding just what it
    needs (it starts without a new process), else the queue's head. Idle workers of other
    candidates make room for it, those no queued item is for first, then the longest idle,
    until it fits. It waits while it does not fit and something runs; with nothing running it
    launches anyway (Ray holds it until the room is there: the queue never stalls on a stale
    capacity)."""
    if not queue:
        return Choice(Verdict.WAIT, "nothing is queued")
    if max_concurrent is not None and len(running) >= max_concurrent:
        return Choice(Verdict.WAIT, f"{len(running)} running, the most at once (max_concurrent)")
    if placing:
        return Choice(Verdict.WAIT, "a worker group is taking the room its reservation found")
    idle_holds = {w.name: w.resources for w in idle}
    item = next((q for q in queue if idle_holds.get(q.name) == q.need), queue[0])
    wanted = {q.name for q in queue}
    others = [w for w in idle if w.name != item.name]
    order = sorted(others, key=lambda w: (w.name in wanted, w.idle_since))
    released: list[str] = []

    def used() -> Amounts:
        return held([*(w.resources for w in others if w.name not in released), *running])

    while not fits(item.need, used(), capacity) and len(released) < len(order):
        released.append(order[len(released)].name)
    if running and not fits(item.need, used(), capacity):
        return Choice(Verdict.WAIT, f"{item.name} waits for room", release=tuple(released))
    verdict = Verdict.RESERVE if item.reserves else Verdict.LAUNCH
    why = "its warm worker is idle" if idle_holds.get(item.name) == item.need else "the head of the queue"
    return Choice(verdict, why, item, tuple(released))
