"""The experiment schema: one YAML file describes data, cluster, candidates and later stages.

Loading never stops at the first problem: type errors (pydantic) and cross-field problems (each
section's `check_*_raw`) are gathered into one `ConfigError` whose issues each name the field path,
the bad value, what is allowed and how to fix it. The CLI prints them all and exits with 2.

Layout: `errors` (issues and pydantic's errors translated), one module per group of sections with
its models and checks (`data`, `cluster`, `stages`, `candidates`), `experiment` (the whole file)
and `loader` (path, YAML, overrides, validation). The per-candidate types come from
`contract.settings`, which training actors import without the driver's code.
"""

from __future__ import annotations

from contract.fields import CLASSIFICATION_METRICS, SUMMARIZATION_METRICS, Strict
from contract.names import did_you_mean
from contract.optimize import OptimizeConfig
from contract.settings import (
    CandidateBase,
    CandidateConfig,
    EarlyStopping,
    GenerationConfig,
    LoraConfig,
    Resources,
    TaskConfig,
    Timeouts,
    TrainingSettings,
)
from orchestrator.config.cluster import RayConfig, StorageConfig
from orchestrator.config.data import BuiltinData, DataConfig
from orchestrator.config.errors import ConfigError, ConfigIssue
from orchestrator.config.experiment import ExperimentConfig
from orchestrator.config.loader import (
    load_config,
    load_raw,
    load_run_config,
    parse_overrides,
    resolve_config_path,
    validate_raw,
)
from orchestrator.config.stages import EnsembleConfig, LearningRateSpace, TuneConfig

__all__ = [
    "CLASSIFICATION_METRICS",
    "SUMMARIZATION_METRICS",
    "BuiltinData",
    "CandidateBase",
    "CandidateConfig",
    "ConfigError",
    "ConfigIssue",
    "DataConfig",
    "EnsembleConfig",
    "ExperimentConfig",
    "EarlyStopping",
    "GenerationConfig",
    "LearningRateSpace",
    "LoraConfig",
    "OptimizeConfig",
    "RayConfig",
    "Resources",
    "StorageConfig",
    "Strict",
    "TaskConfig",
    "Timeouts",
    "TrainingSettings",
    "TuneConfig",
    "did_you_mean",
    "load_config",
    "load_raw",
    "load_run_config",
    "parse_overrides",
    "resolve_config_path",
    "validate_raw",
]
