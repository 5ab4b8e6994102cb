"""With storage, a training's sealed checkpoints reach storage while it trains, so the node that
continues it after its own is lost starts from the last one, not from step 0."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contract.checkpoints import TRAINER_DIR, checkpoints
from contract.errors import TrainingStopped
from models.checkpoint import verify_checkpoint
from models.reporting import RecordingReporter
from models.training import train_candidate
from orchestrator.storage import RunStorage
from orchestrator.uploads import CheckpointUploader
from tests.test_families import make_job
from tests.test_resume import BART


class UploadingReporter(RecordingReporter):
    """What a worker's reporter does with storage: every sealed checkpoint goes to the uploader;
    it asks the training to stop at its `stop_at`-th step, as a lost node would end it."""

    def __init__(self, uploader: CheckpointUploader, stop_at: int):
        super().__init__()
        self.uploader, self.calls, self.stop_at = uploader, 0, stop_at

    def checkpoint_saved(self, directory: str) -> None:
        super().checkpoint_saved(directory)
        self.uploader.saved(directory)

    def stop_requested(self) -> bool:
        self.calls += 1
        return self.calls >= self.stop_at


def test_checkpoints_pushed_while_training_let_another_node_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    job = make_job(run_dir, BART, max_steps=40, checkpoint_every=10)
    storage = RunStorage(uri=str(tmp_path / "storage"), run_dir=run_dir)
    storage.publish(storage.relpath(job.data.train.parent))

    node_a = tmp_path / "node-a" / "run"
    on_a = storage.localize(job, node_a)
    storage.pull_inputs(job, node_a, trained=False)
    uploader = CheckpointUploader(storage, node_a, on_a.output_dir / TRAINER_DIR)
    reporter = UploadingReporter(uploader, stop_at=25)
    with pytest.raises(TrainingStopped):
        train_candidate(on_a, reporter)
    uploader.close()
    saved = [e["directory"] for kind, e in reporter.events if kind == "checkpoint"]
    assert saved and saved[-1].endswith("checkpoint-25") and uploader.pushed >= 1
    local_steps = [step for step, _ in checkpoints(on_a.output_dir / TRAINER_DIR)]
    shutil.rmtree(tmp_path / "node-a")  # the node is lost, and its disk with it
    # a worker that outlives its disk for a moment pushes nothing and deletes nothing
    assert storage.mirror(node_a, uploader.relpath) == 0
    CheckpointUploader(storage, node_a, on_a.output_dir / TRAINER_DIR).close()
    # ... or that finds its folder half deleted, or made again by a save that never sealed
    (on_a.output_dir / TRAINER_DIR / "checkpoint-99").mkdir(parents=True)
    CheckpointUploader(storage, node_a, on_a.output_dir / TRAINER_DIR)._push()
    shutil.rmtree(tmp_path / "node-a")

    node_b = tmp_path / "node-b" / "run"
    on_b = storage.localize(job, node_b)
    storage.pull_inputs(job, node_b, trained=False)
    pulled = checkpoints(on_b.output_dir / TRAINER_DIR)
    assert [step for step, _ in pulled] == local_steps  # storage mirrored the rotation, not every save
    assert all(verify_checkpoint(folder, job.fingerprint, hashes=True) is None for _, folder in pulled)
    result = train_candidate(on_b, RecordingReporter())
    assert (result.resumed_from_step, result.steps) == (25, 40)
