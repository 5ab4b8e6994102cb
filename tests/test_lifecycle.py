"""An item's state in the supervisor (`orchestrator.lifecycle`), without Ray: one closed set that
says what is terminal, transitions that refuse what cannot happen, and the listings status.json
shows, in their order."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contract.job import DataFiles, TrainingJob
from contract.phases import Phase, Status
from contract.settings import CandidateConfig, TaskConfig, TrainingSettings
from contract.work import TRAIN
from orchestrator.lifecycle import ItemState, Ledger, TransitionError
from orchestrator.outcome import Outcome
from orchestrator.work import WorkItem

WORKER: Any = SimpleNamespace(resources={"CPU": 1.0, "GPU": 0.0})


def item(name: str, attempt: int = 1) -> WorkItem:
    job = TrainingJob(name=name, candidate=CandidateConfig(name=name, source="scratch:bart-tiny", family="seq2seq"),
                      settings=TrainingSettings(), task=TaskConfig(), data=DataFiles(Path("train.jsonl"), None, None),
                      output_dir=Path(name), fingerprint="", attempt=attempt)
    return WorkItem(TRAIN, job)


def outcome(name: str, status: Status) -> Outcome:
    return Outcome(name=name, status=status, phase=Phase.DONE)


def test_the_states_say_which_are_terminal_and_every_status_is_one() -> None:
    assert {s for s in ItemState if s.is_terminal} == {
        ItemState.SUCCEEDED, ItemState.FAILED, ItemState.TIMED_OUT, ItemState.SKIPPED, ItemState.INTERRUPTED,
        ItemState.ABANDONED}
    assert all(ItemState.ended_as(status).is_terminal and ItemState.ended_as(status) == status for status in Status)
    assert {s for s in ItemState if s.is_queued} == {ItemState.QUEUED, ItemState.RESERVING}
    assert {s for s in ItemState if s.is_running} == {ItemState.PLACING, ItemState.RUNNING, ItemState.STOPPING}
    assert not any(s.is_queued and s.is_running or s.is_terminal and (s.is_queued or s.is_running) for s in ItemState)


def test_an_item_reserved_placed_retried_and_ended_keeps_what_belongs_to_it() -> None:
    items = Ledger([item("a"), item("b")])
    record = items["a"]
    reservation: Any = object()
    record.reserve(reservation)
    assert record.state is ItemState.RESERVING and record.reservation is reservation
    record.launch(item("a"), WORKER, "ref-1", now=10.0, order=items.last(), placing=True, group_before="g0")
    assert (record.state, record.reservation, record.group_before, record.first_launched) == (
        ItemState.PLACING, None, "g0", 10.0)
    record.placed()
    record.retry(item("a", attempt=2), "attempt 1: out of memory", order=items.first())
    assert record.state is ItemState.QUEUED and record.worker is None and record.item.job.attempt == 2
    assert [r.name for r in items.queued()] == ["a", "b"]  # a retry waits at the head
    record.launch(record.item, WORKER, "ref-2", now=20.0, order=items.last())
    assert record.state is ItemState.RUNNING and record.first_launched == 10.0 and record.launched == 20.0
    record.end(outcome("a", Status.SUCCEEDED), order=items.last())
    assert record.state is ItemState.SUCCEEDED and record.retries == ["attempt 1: out of memory"]
    for move in (lambda: record.launch(item("a"), WORKER, "ref-3", now=30.0, order=0), record.placed,
                 lambda: record.end(outcome("a", Status.FAILED), order=0), record.abandon):
        with pytest.raises(TransitionError, match="succeeded cannot become"):
            move()


def test_what_cannot_happen_is_refused() -> None:
    record = Ledger([item("a")])["a"]
    with pytest.raises(TransitionError):
        record.placed()  # never launched
    record.launch(item("a"), WORKER, "ref", now=1.0, order=1)
    record.stop(deadline=5.0)
    assert record.state is ItemState.STOPPING and record.stop_deadline == 5.0
    with pytest.raises(TransitionError, match="stopping cannot become queued"):
        record.retry(item("a", attempt=2), "crash", order=-1)  # never retried while the run stops
    record.end(outcome("a", Status.INTERRUPTED), order=2)
    assert record.state is ItemState.INTERRUPTED
    abandoned = Ledger([item("b")])["b"]
    abandoned.launch(item("b"), WORKER, "ref", now=1.0, order=1)
    abandoned.abandon()
    assert abandoned.state.is_terminal and abandoned.outcome is None


def test_the_listings_keep_the_order_status_json_shows() -> None:
    items = Ledger([item(name) for name in "abcd"])
    for name in "cab":  # launched in this order
        items[name].launch(item(name), WORKER, f"ref-{name}", now=1.0, order=items.last())
    assert [r.name for r in items.running()] == ["c", "a", "b"] and [r.name for r in items.queued()] == ["d"]
    items["b"].end(outcome("b", Status.FAILED), items.last())
    items["d"].end(outcome("d", Status.SKIPPED), items.last())
    items["c"].retry(item("c", attempt=2), "crash", items.first())
    assert [r.name for r in items.ended()] == ["b", "d"] and [r.name for r in items.queued()] == ["c"]
    with pytest.raises(TransitionError, match="no outcome yet for \\['a', 'c'\\]"):
        items.outcomes()
    items["a"].end(outcome("a", Status.TIMED_OUT), items.last())
    items["c"].end(outcome("c", Status.INTERRUPTED), items.last())
    assert [o.name for o in items.outcomes()] == ["a", "b", "c", "d"]  # in the order the items were given
    assert [r.name for r in items.in_state(ItemState.INTERRUPTED, ItemState.FAILED)] == ["b", "c"]


def test_a_supervisor_runs_one_item_per_name() -> None:
    with pytest.raises(ValueError, match="two items for 'a'"):
        Ledger([item("a"), item("b"), item("a")])
