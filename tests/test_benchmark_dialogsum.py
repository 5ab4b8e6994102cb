"""The DialogSum benchmark's splits: what trains, what validates, what is scored, and that the test
dialogues it trains on are never the ones it scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.ensemble import dialogsum_absent, dialogsum_overrides
from contract.rows import read_rows

pytestmark = pytest.mark.skipif(dialogsum_absent() is not None, reason=str(dialogsum_absent()))


def splits(workdir: Path) -> dict[str, list[dict[str, str]]]:
    return {split: read_rows(workdir / f"{split}.jsonl") for split in ("train", "validation", "test")}


def test_the_unscored_test_dialogues_train_only_with_the_option_and_never_overlap_the_scored_ones(tmp_path: Path) -> None:
    plain = dialogsum_overrides(tmp_path / "plain", epochs=4, train_size=350, validation_size=150, test_size=250)
    tail = dialogsum_overrides(tmp_path / "tail", epochs=4, train_size=350, validation_size=150, test_size=250,
                               test_tail_training=True, overrides=("defaults.early_stopping.patience=2",))
    assert tail[-1] == "defaults.early_stopping.patience=2" and "defaults.early_stopping=null" in plain

    without, with_tail = splits(tmp_path / "plain"), splits(tmp_path / "tail")
    assert [len(without[s]) for s in ("train", "validation", "test")] == [350, 150, 250]
    assert [len(with_tail[s]) for s in ("train", "validation", "test")] == [600, 150, 250]
    assert with_tail["train"][:350] == without["train"] and with_tail["test"] == without["test"]
    ids = {split: {row["id"] for row in rows} for split, rows in with_tail.items()}
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"] and not ids["validation"] & ids["test"]
    dialogues = {split: {row["dialogue"] for row in rows} for split, rows in with_tail.items()}
    assert not dialogues["train"] & dialogues["test"]
    assert all(set(row) == {"id", "dialogue", "summary"} for row in with_tail["train"])  # one reference each
    assert all({"summary1", "summary2", "summary3"} <= set(row) for row in with_tail["test"])
