"""The same config on the same machine gives the same results, ensemble included: its folds, its
choice of method and its bootstrap intervals are seeded like the training. (Cross-fitted members'
fold models train as the members do, with the same seed, on folds that are themselves checked to
be the same for the same seed in tests/test_cross_fit_members.py; training them here as well
doubled this test's time.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import read_json, run_cli, tiny_experiment, write_yaml

pytestmark = pytest.mark.integration


def test_a_config_run_twice_gives_identical_predictions_choice_and_intervals(tmp_path: Path) -> None:
    raw = tiny_experiment(tmp_path, [
        {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"},
        {"name": "llama", "source": "scratch:llama-tiny", "family": "causal"},
    ], ensemble={"strategy": "auto", "folds": 3, "num_candidates": 2, "num_beams": 2},
        data={"builtin": {"train_size": 48, "validation_size": 18, "test_size": 18}})
    sections = []
    for attempt in ("first", "second"):
        raw["output_dir"] = str(tmp_path / attempt)
        done = run_cli("run", "--quiet", str(write_yaml(tmp_path / f"{attempt}.yaml", raw)), cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        sections.append(read_json(tmp_path / attempt / "tiny" / "ensemble" / "ensemble.json"))

    first, second = (tmp_path / attempt / "tiny" for attempt in ("first", "second"))
    for name in ("bart", "llama"):
        for split in ("validation", "test"):
            path = Path("models") / name / "predictions" / f"{split}.jsonl"
            assert (first / path).read_bytes() == (second / path).read_bytes(), path
    for section in sections:
        section.pop("wall_s")
    assert sections[0] == sections[1]
    assert set(sections[0]["choice"]["validation"]) >= {"best_single", "mbr", "stacking:linear", "stacking:lambdarank"}
    assert all("low" in gap["rougeL"] for gap in sections[0]["versus_best_single"].values())
    chosen = Path("ensemble") / "test_predictions.jsonl"
    assert (first / chosen).read_bytes() == (second / chosen).read_bytes()
