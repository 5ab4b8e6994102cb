"""The whole experiment file: `ExperimentConfig` gathers the sections, and `semantic_issues` runs
each present section's cross-field check, so one pass over a file finds every problem."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PrivateAttr

from contract.fields import HomePath, Strict
from contract.job import DataFiles
from contract.names import canonical_name
from contract.optimize import OptimizeConfig
from contract.settings import CandidateConfig, TaskConfig, TrainingSettings
from orchestrator.config.candidates import check_defaults_raw, check_models_raw
from orchestrator.config.cluster import RayConfig, StorageConfig, _uri_shorthand, check_storage_raw
from orchestrator.config.data import BuiltinData, DataConfig, check_data_raw, check_task_raw
from orchestrator.config.errors import ConfigIssue
from orchestrator.config.raw import RawContext
from orchestrator.config.stages import (
    EnsembleConfig,
    TuneConfig,
    check_ensemble_raw,
    check_optimize_raw,
    check_tune_raw,
)
from orchestrator.config.tracking import TrackingConfig, TrackingSection
from orchestrator.identity import Identity, candidate_identity


class ExperimentConfig(Strict):
    experiment: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=80,
                            description="The run's name: its directory is <output_dir>/<experiment>.")
    output_dir: HomePath = Field("runs", description="Where run directories are made.")
    task: TaskConfig = Field(TaskConfig(), description="What the candidates learn and how they are scored.")
    data: DataConfig = Field(DataConfig(builtin=BuiltinData()),
                             description="Where the examples come from: the built-in generator or your files.")
    ray: RayConfig = Field(RayConfig(), description="The Ray cluster the stages run on.")
    defaults: TrainingSettings = Field(
        TrainingSettings(), description="Training settings every candidate inherits; any may be overridden per model."
    )
    models: list[CandidateConfig] = Field(
        min_length=1, description="The candidates, trained concurrently, one Ray actor each, started in this order."
    )
    ensemble: EnsembleConfig = Field(EnsembleConfig(), description="How the survivors are combined.")
    optimize: OptimizeConfig = Field(
        OptimizeConfig(), description="INT8 variants of the survivors and a batch-size benchmark of each."
    )
    tune: TuneConfig = Field(TuneConfig(), description="The learning-rate sweep run by `tune`.")
    storage: Annotated[StorageConfig, BeforeValidator(_uri_shorthand)] = Field(
        StorageConfig(), description="Where stages hand artefacts to each other on a cluster; a string is short "
                                     "for {uri: ...}."
    )
    tracking: TrackingSection = Field(
        default_factory=lambda: TrackingConfig(),
        description="Experiment trackers: none, a tracker's name or a list of names (each with its defaults), or a "
                    "mapping, in which TensorBoard stays on unless tensorboard: false.",
    )
    _source_file: str = PrivateAttr("")
    _data_warnings: list[str] = PrivateAttr(default_factory=list)  # from reading the data, when it was read

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.experiment

    @property
    def source_file(self) -> str:
        """The file this config was loaded from, for messages that give a command to run."""
        return self._source_file or "<config>"

    def settings_for(self, candidate: CandidateConfig) -> TrainingSettings:
        """The candidate's training settings: `defaults`, deep-merged with its own overrides."""
        overrides = candidate.model_dump(
            exclude_unset=True, exclude_none=True, include=set(TrainingSettings.model_fields)
        )
        merged = _deep_merge(self.defaults.model_dump(), overrides)
        return TrainingSettings.model_validate(merged)

    def candidate(self, name: str) -> CandidateConfig:
        for c in self.models:
            if canonical_name(c.name) == canonical_name(name):
                return c
        raise KeyError(name)

    def identity(self, candidate: CandidateConfig, data: DataFiles | None) -> Identity:
        """What decides the candidate's checkpoint and its metrics (see `orchestrator.identity`)."""
        return candidate_identity(self.task, candidate, self.settings_for(candidate), data)

    def fingerprint(self, candidate: CandidateConfig, data: DataFiles | None = None) -> str:
        """The training fingerprint: a checkpoint is resumed or kept only under the same one."""
        return self.identity(candidate, data).fingerprint


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over a copy of `base`; nested mappings merge key by key instead of replacing."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


SectionCheck = Callable[[Any, RawContext], list[ConfigIssue]]

# Each section's cross-field check, run only when the file has that section: an absent section
# takes its defaults, which pass every check.
SECTION_CHECKS: dict[str, SectionCheck] = {
    "task": check_task_raw,
    "data": check_data_raw,
    "ensemble": check_ensemble_raw,
    "tune": check_tune_raw,
    "models": check_models_raw,
    "defaults": check_defaults_raw,
    "storage": check_storage_raw,
    "optimize": check_optimize_raw,
}


def semantic_issues(raw: dict[str, Any]) -> list[ConfigIssue]:
    """Problems between fields, read defensively from the raw dict so they show up next to type
    errors instead of after them."""
    context = RawContext.of(raw)
    return [issue for key, check in SECTION_CHECKS.items() if key in raw for issue in check(raw[key], context)]
