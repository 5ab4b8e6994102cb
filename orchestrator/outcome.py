"""How one candidate's work in a stage ended: the per-model entry of summary.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from contract.phases import Status


@dataclass
class Outcome:
    """What became of one candidate's item; the per-model entry of summary.json."""

    name: str
    status: Status
    phase: str
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
