"""The `tracking` section: which experiment trackers record the run (`orchestrator.tracking`).

    tracking: none                      # off
    tracking: [tensorboard, mlflow]     # exactly these, each with its defaults
    tracking:                           # TensorBoard stays on unless `tensorboard: false`
      mlflow: {tracking_uri: http://mlflow.internal:5000}
      wandb: {project: contest, mode: auto}
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from contract.fields import Strict, one_of
from contract.names import suggestion_text

BACKENDS = ("tensorboard", "mlflow", "wandb")


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
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown tracker {unknown[0]!r}{suggestion_text(unknown[0], BACKENDS)}; "
                         f"choose from {', '.join(BACKENDS)} or none")
    return {"tensorboard": "tensorboard" in names, **{n: {} for n in names if n != "tensorboard"}}


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
        return [name for name in BACKENDS if getattr(self, name)]


TrackingSection = Annotated[TrackingConfig, BeforeValidator(_shorthand)]
