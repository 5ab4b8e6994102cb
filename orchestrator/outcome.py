"""How one candidate's work in a stage ended: the per-model entry of summary.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from contract.phases import Phase, Status


def stopped_early_text(stopped: dict[str, Any] | None) -> str:
    """How early stopping ended a candidate's training, as every view says it; '' when it did not."""
    if not stopped:
        return ""
    best = f", best step {stopped['best_step']} kept" if stopped.get("best_step") is not None else ""
    return (f"stopped early at step {stopped['step']} of {stopped['of_steps']} (epoch {stopped['epoch']:g}: "
            f"{stopped['metric']} stopped improving{best}; about {stopped['saved_s']:.0f} s, "
            f"{100 * stopped['saved_share']:.0f} % of the configured training, saved)")


@dataclass
class Outcome:
    """What became of one candidate's item; the per-model entry of summary.json."""

    name: str
    status: Status
    phase: Phase  # where it ended: written as the phase's plain name
    error: str | None = None
    hint: str | None = None
    log: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    wall_s: float = 0.0
    attempts: int = 1
    failure_kind: str | None = None
    retries: list[str] = field(default_factory=list)
    resumed: bool = False
    finished_at: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    result: Any = field(default=None, repr=False)  # the step's typed result (not written to disk)

    @property
    def ok(self) -> bool:
        return self.status == Status.SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("result")
        return out
