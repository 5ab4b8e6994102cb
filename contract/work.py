"""The steps a candidate's actor runs, each with one typed request and one typed result.

A `Step` names its function by a dotted path (`module:function`): the driver builds work items
from steps without importing the data plane, and the actor imports the function when it runs
it (torchtune's `_component_`, optimum-benchmark's `_target_`). Every step function has the
signature `function(job, reporter, request) -> result`. Requests and results are frozen
dataclasses of plain data (paths, numbers, strings, lists), so they pickle between processes
and `dataclasses.asdict` gives the JSON written to disk.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contract.optimize import OptimizeConfig

Row = dict[str, Any]


@dataclass(frozen=True)
class Step:
    """One kind of work: the stage it belongs to and the function that does it."""

    stage: str  # train | ensemble-propose | ensemble-score | ensemble-fit | optimize | tune | ...
    target: str  # "package.module:function", imported in the actor only
    reads_checkpoint: bool = True  # it needs the candidate's trained directory (every step after training)
    log_name: str | None = None  # its log in the candidate's directory; default: <stage before any '-'>.log
    saves_on_stop: bool = False  # on Ctrl-C it saves a checkpoint and stops (trainings); otherwise it is killed
    trains: bool = False  # it trains the candidate: on its `resources.processes` workers, placed as a group

    def resolve(self) -> Callable[..., Any]:
        return resolve(self.target)


def resolve(target: str) -> Callable[..., Any]:
    """The function a `module:function` path names, imported now."""
    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class TrainRequest:
    """Train the job's candidate. `keep_weights: False` (a tune trial) deletes the weights once
    metrics and predictions are written: only the final `run` keeps a checkpoint. `predict: False`
    (a member's fold model, see `orchestrator.stages.folds`) writes no predictions: the ensemble
    asks the model for the ones it needs."""

    keep_weights: bool = True
    predict: bool = True


@dataclass(frozen=True)
class ProposeRequest:
    """Per split, the member's own predictions (when `own_predictions`) and its top
    `candidates` of `beams` beam-search summaries."""

    inputs: dict[str, list[Row]]
    own_predictions: bool
    candidates: int
    beams: int


@dataclass(frozen=True)
class ScoreRequest:
    """Per split, (source, summary) pairs whose log-likelihood the member gives."""

    pairs: dict[str, list[tuple[str, str]]]


@dataclass(frozen=True)
class OptimizeRequest:
    """The experiment's `optimize` settings, the validation rows the quality check scores, and
    the directory the member's variants, sweeps and plots go to."""

    settings: OptimizeConfig
    rows: list[Row]
    out_dir: str


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TrainResult:
    """What training wrote (`metrics.json` holds exactly this)."""

    name: str
    checkpoint: str | None
    metrics: dict[str, Any]
    precision: str | None = None
    parameters: dict[str, Any] | None = None
    steps: int | None = None
    batch_size: int | None = None
    gradient_accumulation: int | None = None
    train_wall_s: float | None = None
    train_window: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    resumed_from_step: int | None = None  # the checkpoint's step this attempt continued from; None: from step 0
    steps_redone: int = 0  # steps an interrupted attempt had trained past that checkpoint, trained again
    evaluation_fingerprint: str | None = None  # what the metrics and predictions were computed under
    evaluated_with: dict[str, Any] | None = None  # the evaluation identity's parts (see orchestrator.identity)
    reevaluated: bool = False  # the checkpoint of an earlier run, evaluated again after evaluation settings changed
    truncated_inputs: dict[str, int] = field(default_factory=dict)  # per split: inputs cut at max_source_length
    stopped_early: dict[str, Any] | None = None  # early stopping: where, the best step kept, the time saved

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainResult:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Proposal:
    predictions: list[Row] | None = None  # the member's own prediction records
    candidates: list[list[str]] | None = None  # per input, its top beams


@dataclass(frozen=True)
class ProposeResult:
    splits: dict[str, Proposal]


@dataclass(frozen=True)
class ScoreResult:
    log_likelihoods: dict[str, list[float]]  # per split, one per pair asked


@dataclass(frozen=True)
class OptimizeResult:
    """The member's `optimize.json`: variants with quality and sweeps, the recommendation."""

    report: dict[str, Any]


# --------------------------------------------------------------------------- the steps


WEIGHT_DIRS = ("checkpoint", "base")  # under a candidate's directory: its trained model, a scratch preset's initial one

TRAIN = Step("train", "models.training:train_candidate", reads_checkpoint=False, saves_on_stop=True, trains=True)
# A kept checkpoint whose evaluation settings changed: scored and predicted again, not trained.
EVALUATE = Step("train", "models.training:evaluate_candidate")
PROPOSE = Step("ensemble-propose", "models.ensemble.members:propose")
SCORE = Step("ensemble-score", "models.ensemble.members:score")
OPTIMIZE = Step("optimize", "models.optimize.stage:optimize_member")
# a member's fold model (ensemble.cross_fit_members) trains as `run` does, for the ensemble stage
FOLD_TRAIN = Step("ensemble-folds", "models.training:train_candidate", reads_checkpoint=False, saves_on_stop=True,
                  trains=True, log_name="train.log")
# a sweep's trial trains as `run` does, and saves on Ctrl-C like it
TRIAL = Step("tune", "models.training:train_candidate", reads_checkpoint=False, saves_on_stop=True, trains=True,
             log_name="train.log")
# The ensemble's own computing, under a `contract.job.Job` of its own (`ensemble`, a CPU), requests and results
# in `contract.ensemble`: the folds of cross-fitted members, the meta-learner's fit and choice (writing ensemble/),
# and `predict` applying what was chosen (it reads the meta-learner in ensemble/).
ENSEMBLE_SPLIT = Step("ensemble-split", "models.ensemble.folds:split_folds", reads_checkpoint=False)
ENSEMBLE_FIT = Step("ensemble-fit", "models.ensemble.fit:fit_ensemble", reads_checkpoint=False)
ENSEMBLE_APPLY = Step("ensemble-apply", "models.ensemble.apply:apply_ensemble")


def result_dict(result: Any) -> dict[str, Any]:
    """A step's result as the JSON-ready dict outcomes carry (summary.json's `details`)."""
    if result is None:
        return {}
    if isinstance(result, OptimizeResult):
        return dict(result.report)
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return dict(result)
