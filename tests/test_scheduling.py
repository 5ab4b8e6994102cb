"""The supervisor's decisions about room (`orchestrator.scheduling`), without Ray: what can never
fit, what fits now, which queued item goes next, which idle workers make room, and when the queue
waits."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.scheduling import (
    Amounts,
    Queued,
    Verdict,
    choose,
    fits,
    held,
    no_node_reason,
    one_node_holds,
    shortfall,
)

ONE_CPU = {"CPU": 1.0, "GPU": 0.0}
TWO_CPUS = {"CPU": 2.0, "GPU": 0.0}


@dataclass
class Idle:
    name: str
    resources: Amounts
    idle_since: float = 0.0


def test_what_can_never_fit_says_what_is_short() -> None:
    assert shortfall({"CPU": 1.0, "GPU": 2.0}, {"CPU": 4.0, "GPU": 1.0}) == "needs 2 GPUs (the cluster has 1)"
    assert shortfall({"CPU": 8.0, "GPU": 0.0}, {"CPU": 2.0}) == "needs 8 CPUs (the cluster has 2)"
    assert shortfall({"CPU": 1.0, "GPU": 0.3 + 0.3 + 0.4}, {"CPU": 1.0, "GPU": 1.0}) is None  # rounding is no shortfall


def test_what_fits_counts_every_holder_and_forgives_rounding() -> None:
    used = held([{"CPU": 1.0}, {"CPU": 0.5, "GPU": 0.1}, {"GPU": 0.2}])
    assert used == {"CPU": 1.5, "GPU": 0.1 + 0.2} and held([]) == {"CPU": 0.0, "GPU": 0.0}
    assert fits({"CPU": 0.5, "GPU": 0.7}, used, {"CPU": 2.0, "GPU": 1.0})
    assert not fits({"CPU": 0.6, "GPU": 0.0}, used, {"CPU": 2.0, "GPU": 1.0})


def test_an_empty_queue_a_full_house_or_a_group_taking_its_room_waits() -> None:
    assert choose([], [], [], TWO_CPUS).verdict is Verdict.WAIT
    queue = [Queued("a", ONE_CPU)]
    waiting = choose(queue, [ONE_CPU], [], {"CPU": 8.0}, max_concurrent=1)
    assert waiting.verdict is Verdict.WAIT and waiting.item is None and "max_concurrent" in waiting.why
    assert choose(queue, [ONE_CPU], [], {"CPU": 8.0}, max_concurrent=2).verdict is Verdict.LAUNCH
    assert choose(queue, [], [], {"CPU": 8.0}, placing=True).verdict is Verdict.WAIT


def test_a_candidate_whose_warm_worker_idles_goes_first() -> None:
    queue = [Queued("a", ONE_CPU), Queued("b", ONE_CPU)]
    choice = choose(queue, [], [Idle("b", ONE_CPU)], TWO_CPUS)
    assert (choice.verdict, choice.item, choice.release) == (Verdict.LAUNCH, queue[1], ())
    other_size = choose(queue, [], [Idle("b", TWO_CPUS)], TWO_CPUS)  # its worker holds other resources
    assert other_size.item == queue[0] and other_size.why == "the head of the queue"


def test_idle_workers_make_room_unwanted_first_then_the_longest_idle_and_no_more_than_needed() -> None:
    idle = [Idle("wanted", ONE_CPU, idle_since=1.0), Idle("x", ONE_CPU, idle_since=5.0),
            Idle("z", ONE_CPU, idle_since=2.0)]
    queue = [Queued("new", TWO_CPUS), Queued("wanted", {"CPU": 1.0, "GPU": 1.0})]  # not what its worker holds
    choice = choose(queue, [], idle, {"CPU": 3.0})
    assert choice.item == queue[0] and choice.release == ("z", "x")  # "wanted" keeps its worker
    assert choose(queue, [], idle, {"CPU": 5.0}).release == ()  # it fits as it is
    everything = choose([Queued("new", {"CPU": 3.0, "GPU": 0.0})], [], idle, {"CPU": 3.0})
    assert everything.release == ("wanted", "z", "x")  # no queued item is for "wanted" now: the longest idle first


def test_the_candidates_own_idle_worker_is_neither_counted_nor_released() -> None:
    """It is what the item reuses when it holds the same resources, and is replaced when not."""
    choice = choose([Queued("a", TWO_CPUS)], [], [Idle("a", ONE_CPU), Idle("b", ONE_CPU)], TWO_CPUS)
    assert choice.verdict is Verdict.LAUNCH and choice.release == ("b",)


def test_what_does_not_fit_waits_while_something_runs_and_launches_when_nothing_does() -> None:
    queue = [Queued("big", {"CPU": 2.0, "GPU": 1.0})]
    busy = choose(queue, [ONE_CPU], [Idle("old", ONE_CPU)], {"CPU": 2.0, "GPU": 1.0})
    assert busy.verdict is Verdict.WAIT and busy.release == ("old",)  # room is made even while it waits
    alone = choose(queue, [], [], {"CPU": 1.0, "GPU": 0.0})  # a stale capacity never stalls the queue
    assert alone.verdict is Verdict.LAUNCH and alone.item == queue[0]


def test_a_worker_group_first_has_its_nodes_reserved() -> None:
    queue = [Queued("group", {"CPU": 4.0, "GPU": 0.0}, reserves=True), Queued("single", ONE_CPU)]
    choice = choose(queue, [], [], {"CPU": 8.0})
    assert (choice.verdict, choice.item) == (Verdict.RESERVE, queue[0])
    warm_single = choose(queue, [], [Idle("single", ONE_CPU)], {"CPU": 8.0})
    assert (warm_single.verdict, warm_single.item) == (Verdict.LAUNCH, queue[1])


def test_whether_one_node_holds_a_worker_group() -> None:
    nodes = [{"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},
             {"Alive": True, "Resources": {"CPU": 8.0, "GPU": 2.0}},
             {"Alive": True, "Resources": {"CPU": 4.0}}]
    assert one_node_holds({"CPU": 2.0, "GPU": 1.0}, 2, nodes)
    assert not one_node_holds({"CPU": 2.0, "GPU": 1.0}, 3, nodes)  # only the dead node had room
    assert one_node_holds({"CPU": 4.0, "GPU": 0.0}, 2, nodes)  # a resource it does not ask for does not count
    assert not one_node_holds({"CPU": 1.0}, 1, [])
    assert no_node_reason({"CPU": 2.0, "GPU": 1.0, "memory": 2.0**30}, 3) == (
        "with storage, its 3 workers share one node's copy of the run directory, and no node has room for "
        "3 x (2 CPU, 1 GPU)")


def _before(queue: list[Queued], running: list[Amounts], idle: list[Idle], capacity: Amounts,
            max_concurrent: int | None, placing: bool) -> tuple[Verdict, str | None, tuple[str, ...]]:
    """The decision as the supervisor took it before it moved here (`_launch_what_fits` with
    `WorkerPool.held` and `WorkerPool.release`), step by step."""
    if max_concurrent is not None and len(running) >= max_concurrent or placing:
        return Verdict.WAIT, None, ()
    pool = {w.name: w for w in idle}
    item = next((q for q in queue if q.name in pool and pool[q.name].resources == q.need), queue[0])
    wanted = {q.name for q in queue}
    released: list[str] = []

    def fits_now() -> bool:
        used = {"CPU": 0.0, "GPU": 0.0}
        for amounts in [*(w.resources for w in pool.values() if w.name != item.name), *running]:
            for key, value in amounts.items():
                used[key] = used.get(key, 0.0) + value
        return all(used.get(k, 0.0) + item.need[k] <= capacity.get(k, 0.0) + 1e-9 for k in item.need)

    def release() -> bool:
        others = [w for w in pool.values() if w.name != item.name]
        if not others:
            return False
        worker = min(others, key=lambda w: (w.name in wanted, w.idle_since))
        del pool[worker.name]
        released.append(worker.name)
        return True

    while not fits_now() and release():
        pass
    if running and not fits_now():
        return Verdict.WAIT, None, tuple(released)
    return Verdict.RESERVE if item.reserves else Verdict.LAUNCH, item.name, tuple(released)


def test_the_decisions_are_the_ones_the_supervisor_took_before() -> None:
    import random

    rng = random.Random(29)
    sizes = [{"CPU": c, "GPU": g} for c in (0.5, 1.0, 2.0) for g in (0.0, 0.5, 1.0)]
    for _ in range(3000):
        names = rng.sample("abcdefg", rng.randint(1, 7))
        queue = [Queued(n, rng.choice(sizes), reserves=rng.random() < 0.2) for n in names[:rng.randint(1, len(names))]]
        idle = [Idle(n, rng.choice([q.need for q in queue if q.name == n] + sizes), float(rng.randint(0, 3)))
                for n in rng.sample("abcdefg", rng.randint(0, 4))]
        running = [rng.choice(sizes) for _ in range(rng.randint(0, 3))]
        capacity = {"CPU": float(rng.randint(0, 6)), "GPU": float(rng.randint(0, 2))}
        max_concurrent, placing = rng.choice([None, None, 1, 2, 3]), rng.random() < 0.1
        choice = choose(queue, running, idle, capacity, max_concurrent=max_concurrent, placing=placing)
        now = (choice.verdict, choice.item.name if choice.item else None, choice.release)
        assert now == _before(queue, running, idle, capacity, max_concurrent, placing), (queue, running, idle, capacity)
