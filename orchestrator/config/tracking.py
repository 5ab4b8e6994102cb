"""The `tracking` section: which experiment trackers record the run (`orchestrator.tracking`).

    tracking: none                      # off
    tracking: [tensorboard, mlflow]     # exactly these, each with its defaults
    tracking:                           # TensorBoard stays on unless `tensorboard: false`
      mlflow: {tracking_uri: http://mlflow.internal:5000}
      wandb: {project: contest, mode: auto}

A new tracker is its backend's module under `orchestrator/tracking/` plus, here, one row in
`TRACKERS`, its settings model and its field of `TrackingConfig` (named as the row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from contract.fields import Strict, one_of
from contract.names import suggestion_text


@dataclass(frozen=True)
class TrackerBackend:
    """One tracker: its name (in the shorthand, and its field of `TrackingConfig`) and the class
    that writes it (`module:class`, imported when a run opens its trackers), built with the run's
    `TrackingTarget` and the field's value."""

    name: str
    implementation: str


TRACKERS: dict[str, TrackerBackend] = {tracker.name: tracker for tracker in (
    TrackerBackend("tensorboard", "orchestrator.tracking.tensorboard:TensorBoardBackend"),
    TrackerBackend("mlflow", "orchestrator.tracking.mlflow:MlflowBackend"),
    TrackerBackend("wandb", "orchestrator.tracking.wandb:WandbBackend"),
)}


class MlflowConfig(Strict):
    tracking_uri: str | None = Field(
        None, description="Any MLflow tracking URI (http://host:5000, databricks, sqlite:///...). Default: a local "
                          "store in the run directory, sqlite:///<run dir>/tracking/mlflow.db.",
    )
    experiment: str | None = Field(None, description="The MLflow experiment; default: the experiment's name.")


class WandbConfig(Strict):
    project: str = Field("orchestrator", description="The W&B project.")
    entity: str | None = Field(None, description="The W&B team or user; default: your default entity.")
    mode: one_of("auto", "online", "offline") = Field(
        "auto", description="auto: online when an API key is set (WANDB_API_KEY or `wandb login`), else offline: "
                            "files under <run dir>/tracking/wandb, uploaded later with `wandb sync`.",
    )


def _shorthand(value: Any) -> Any:
    """`none`, one backend's name or a list of names: exactly those, each with its defaults."""
    if isinstance(value, str):
        value = [] if value.strip().lower() in ("none", "off", "false") else [value]
    if value is False or value is None:
        value = []
    if not isinstance(value, list):
        return value
    names = [str(v).strip().lower() for v in value]
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ValueError(f"unknown tracker {unknown[0]!r}{suggestion_text(unknown[0], TRACKERS)}; "
                         f"choose from {', '.join(TRACKERS)} or none")
    return {name: name in names for name in TRACKERS}


def _enabled(value: Any) -> Any:
    """`mlflow: true` is the backend with its defaults; `false` is off."""
    if value is True:
        return {}
    return None if value is False else value


class TrackingConfig(Strict):
    tensorboard: bool = Field(True, description="Event files under <run dir>/tracking/tensorboard; no server needed.")
    mlflow: Annotated[MlflowConfig | None, BeforeValidator(_enabled)] = Field(
        None, description="MLflow: a mapping, or true for its defaults; one run per candidate under a parent run."
    )
    wandb: Annotated[WandbConfig | None, BeforeValidator(_enabled)] = Field(
        None, description="Weights & Biases: a mapping, or true for its defaults; runs grouped by experiment."
    )

    @property
    def enabled(self) -> list[str]:
        return [name for name in TRACKERS if getattr(self, name)]


TrackingSection = Annotated[TrackingConfig, BeforeValidator(_shorthand)]
