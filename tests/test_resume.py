"""Resumable training: an interrupted candidate continues from its last sealed checkpoint.

Real interruptions: a training process is killed with SIGKILL in mid-training, and the next attempt
is checked to resume past step 0, finish, and leave a checkpoint that loads (the same through a
whole run whose driver is killed: tests/test_faults.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contract.atomic import read_json
from contract.checkpoints import TRAINER_DIR
from models.checkpoint import seal_checkpoint, verify_checkpoint
from models.reporting import RecordingReporter
from models.resume import PROGRESS, CheckpointClock, find_resume_point, record_progress
from models.training import train_candidate
from orchestrator.config import ConfigError, validate_raw
from tests.conftest import REPO, tiny_experiment
from tests.test_families import make_job

BART = {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}
LONG = {"max_steps": 120, "checkpoint_every": 20}

TRAIN_IN_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from models.reporting import RecordingReporter
from models.training import train_candidate
from tests.test_families import make_job
train_candidate(make_job(Path({tmp!r}), {candidate!r}, **{settings!r}), RecordingReporter())
"""


def wait_for_step(progress: Path, step: int, process: subprocess.Popen[bytes], timeout: float = 600) -> int:
    """Poll the training's progress note until it reaches `step`; the step it shows then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        note = read_json(progress)
        if isinstance(note, dict) and note.get("step", 0) >= step:
            return int(note["step"])
        assert process.poll() is None, f"the training ended (status {process.returncode}) before step {step}"
        time.sleep(0.2)
    raise AssertionError(f"no step {step} within {timeout} s")


def test_a_training_killed_mid_way_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    job = make_job(tmp_path, BART, **LONG)
    child = subprocess.Popen(
        [sys.executable, "-c", TRAIN_IN_CHILD.format(repo=str(REPO), tmp=str(tmp_path), candidate=BART, settings=LONG)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        reached = wait_for_step(job.output_dir / TRAINER_DIR / PROGRESS, 50, child)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not (job.output_dir / "metrics.json").exists()

    result = train_candidate(job, RecordingReporter())
    assert result.resumed_from_step is not None and 20 <= result.resumed_from_step <= reached
    assert result.steps_redone >= reached - result.resumed_from_step >= 0
    assert result.steps == 120
    checkpoint = Path(result.checkpoint or "")
    assert verify_checkpoint(checkpoint, job.fingerprint, hashes=True) is None
    assert read_json(job.output_dir / "metrics.json")["resumed_from_step"] == result.resumed_from_step
    assert not (job.output_dir / TRAINER_DIR).exists()  # resumable checkpoints go once the candidate is done

    from transformers import AutoModelForSeq2SeqLM

    assert AutoModelForSeq2SeqLM.from_pretrained(checkpoint).num_parameters() == result.parameters["total"]


def fake_checkpoint(trainer_dir: Path, step: int, fingerprint: str = "fp") -> Path:
    folder = trainer_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 4)
    (folder / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    return seal_checkpoint(folder, fingerprint, step=step)


def test_the_newest_checkpoint_that_verifies_is_chosen(tmp_path: Path) -> None:
    fake_checkpoint(tmp_path, 10)
    fake_checkpoint(tmp_path, 20)
    record_progress(tmp_path, 27)
    point = find_resume_point(tmp_path, "fp")
    assert (point.step, point.furthest_step, point.redone) == (20, 27, 7)


def test_a_same_size_overwrite_of_the_weights_is_caught_and_not_resumed(tmp_path: Path) -> None:
    fake_checkpoint(tmp_path, 10)
    tampered = fake_checkpoint(tmp_path, 20) / "model.safetensors"
    tampered.write_bytes(bytes(reversed(range(256))) * 4)  # same size, other bytes
    point = find_resume_point(tmp_path, "fp")
    assert point.step == 10
    assert not tampered.parent.exists()


def test_unsealed_and_other_configs_checkpoints_are_not_resumed(tmp_path: Path) -> None:
    fake_checkpoint(tmp_path, 10, fingerprint="another config")
    unsealed = tmp_path / "checkpoint-30"
    unsealed.mkdir()
    (unsealed / "model.safetensors").write_bytes(b"half written")
    point = find_resume_point(tmp_path, "fp")
    assert (point.checkpoint, point.step, point.redone) == (None, None, 0)
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_progress_note_reads_as_no_progress(tmp_path: Path) -> None:
    fake_checkpoint(tmp_path, 10)
    (tmp_path / PROGRESS).write_text('{"step": 4')
    assert find_resume_point(tmp_path, "fp").redone == 0


def test_the_checkpoint_clock_counts_steps_or_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = CheckpointClock(25)
    assert [s for s in range(1, 101) if steps.due(s)] == [25, 50, 75, 100]
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    timed = CheckpointClock("15m")
    now[0] += 899
    assert not timed.due(1)
    now[0] += 1
    assert timed.due(2)
    timed.saved()
    assert not timed.due(3)


def test_checkpoint_every_takes_steps_or_a_duration_and_does_not_change_the_fingerprint(tmp_path: Path) -> None:
    def config(**defaults: object) -> object:
        raw = tiny_experiment(tmp_path, [BART])
        raw["defaults"].update(defaults)
        return validate_raw(raw)

    plain, steps, timed = config(), config(checkpoint_every=500), config(checkpoint_every="90s")
    assert plain.defaults.checkpoint_every == "15m" and steps.defaults.checkpoint_every == 500
    fingerprints = {c.fingerprint(c.models[0]) for c in (plain, steps, timed)}
    assert len(fingerprints) == 1
    with pytest.raises(ConfigError) as error:
        config(checkpoint_every="15 minutes")
    assert "defaults.checkpoint_every" in str(error.value) and "15m" in str(error.value)
