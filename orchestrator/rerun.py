"""What a rerun does with each candidate's earlier work, decided from its files alone.

- **keep**: the final checkpoint verifies (every file's sha256, the training fingerprint) and
  metrics.json was computed under the same evaluation fingerprint.
- **re-evaluate**: the checkpoint stands, but only evaluation settings changed (generation, the
  metric, the test split...): it is evaluated again, not trained.
- **resume**: a sealed resumable checkpoint of the same training fingerprint exists: training
  continues from its step.
- **train**: nothing usable; the reason says why (what changed, or which file failed its check).

`run` acts on these decisions and `validate` prints them; neither writes anything to decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from contract.atomic import read_json
from contract.checkpoints import TRAINER_DIR, checkpoints, latest_sealed_step, read_manifest, verify_checkpoint
from contract.job import TrainingJob
from contract.work import resolve
from orchestrator.identity import changes

Action = Literal["keep", "re-evaluate", "resume", "train"]
HUB_COMMIT = "models.sources:hub_commit"  # imports huggingface_hub: only for a hub source with a recorded commit


@dataclass(frozen=True)
class RerunDecision:
    action: Action
    reason: str
    step: int | None = None  # the step a resume continues from
    metrics: dict[str, Any] | None = None  # metrics.json of a kept or re-evaluated candidate


def decide(job: TrainingJob) -> RerunDecision:
    final = job.output_dir / "checkpoint"
    metrics = read_json(job.output_dir / "metrics.json")
    problem = verify_checkpoint(final, job.fingerprint, hashes=True) if final.is_dir() else None
    if problem is None and final.is_dir():
        problem = _source_moved(job, read_manifest(final) or {})
    if final.is_dir() and problem is None and isinstance(metrics, dict):
        missing = [split for split in ("validation", "test") if getattr(job.data, split) is not None
                   and not (job.output_dir / "predictions" / f"{split}.jsonl").is_file()]
        if missing:
            return RerunDecision("re-evaluate", f"its predictions for {' and '.join(missing)} are missing",
                                 metrics=metrics)
        if metrics.get("evaluation_fingerprint") == job.evaluation_fingerprint:
            return RerunDecision("keep", "finished earlier under the same settings and data", metrics=metrics)
        what = changes(metrics.get("evaluated_with"), job.identity.get("evaluation", {}))
        return RerunDecision("re-evaluate", f"only evaluation changed ({what or 'evaluated before this was recorded'})",
                             metrics=metrics)
    resumable = latest_sealed_step(job.output_dir / TRAINER_DIR, job.fingerprint)
    if resumable is not None:
        return RerunDecision("resume", f"an earlier attempt was interrupted; continues from step {resumable}",
                             step=resumable)
    return RerunDecision("train", _why_train(job, final, problem))


def _source_moved(job: TrainingJob, manifest: dict[str, Any]) -> str | None:
    """A hub source whose cached commit is no longer the one the checkpoint was trained from."""
    trained_from = manifest.get("source_revision")
    now = resolve(HUB_COMMIT)(job.candidate.source) if isinstance(trained_from, str) else None
    if now is None or not isinstance(trained_from, str) or now == trained_from:
        return None
    return f"the hub's {job.candidate.source} moved from commit {trained_from[:12]} to {now[:12]}"


def _why_train(job: TrainingJob, final: Path, problem: str | None) -> str:
    recorded = [read_manifest(final)] + [read_manifest(f) for _, f in checkpoints(job.output_dir / TRAINER_DIR)]
    manifest = next((m for m in recorded if m is not None), None)
    if manifest is None:
        return "no earlier checkpoint" if not final.exists() else f"{final} is incomplete"
    if manifest.get("fingerprint") != job.fingerprint:
        what = changes(manifest.get("identity"), job.identity.get("training", {}))
        return f"what it trains on changed ({what or 'checkpoint from before identities were recorded'})"
    if problem is not None:
        return f"its checkpoint failed its check: {problem}"
    return "its metrics.json is missing or unreadable"
