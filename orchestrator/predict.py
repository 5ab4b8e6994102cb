"""Apply a finished run's ensemble to new inputs with the method its ensemble stage chose on
validation: the best single member alone, or every member predicting (and, for stacked summaries,
proposing and scoring candidates) and the `ensemble-apply` step combining what they made with the
saved meta-learner (or MBR / averaging), exactly as on the test split. The driver checks which
meta-learner file may be loaded; only the step's actor loads it."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from contract.atomic import file_sha256, read_json_or_warn
from contract.ensemble import ApplyRequest, ApplyResult, ChosenEnsemble
from contract.job import DataFiles
from contract.rows import write_jsonl
from contract.settings import TaskConfig
from contract.work import ENSEMBLE_APPLY
from orchestrator.cluster import connect, disconnect
from orchestrator.config import ConfigError, ConfigIssue, ExperimentConfig, load_run_config
from orchestrator.datacheck import check_rows
from orchestrator.datafiles import read_data_file
from orchestrator.progress import EventPrinter
from orchestrator.runlock import RunLock
from orchestrator.stages.context import RunContext
from orchestrator.stages.members import EnsembleStepFailed, Members, TooFewMembers, run_ensemble_step

log = logging.getLogger(__name__)


def load_run(run_dir: Path) -> tuple[ExperimentConfig, dict[str, Any]]:
    """The config a run used and its ensemble section, or a ConfigError saying what is missing."""
    config = load_run_config(run_dir)
    ensemble_path = run_dir / "ensemble" / "ensemble.json"
    if not ensemble_path.is_file():
        raise ConfigError([ConfigIssue("RUN_DIR", f"{run_dir} has no ensemble (see its summary.json)")])
    ensemble = read_json_or_warn(ensemble_path, "predict cannot use it")
    if not isinstance(ensemble, dict):
        raise ConfigError([ConfigIssue("RUN_DIR", f"{ensemble_path} is unreadable; rerun the run to fit the ensemble again")])
    return config, ensemble


def predict(run_dir: Path, input_path: Path, output_path: Path, *, quiet: bool = True) -> Path:
    """Write the ensemble's output for every row of `input_path`. The members run as supervised
    Ray actors on a private cluster (or `ray.address`), concurrently where resources allow. It
    writes the run directory's status.json, so it holds the run directory's lock while it runs."""
    with RunLock(run_dir, "predict"):
        return _predict(run_dir, input_path, output_path, quiet=quiet)


def chosen_ensemble(run_dir: Path, ensemble: dict[str, Any]) -> ChosenEnsemble:
    """What the run's ensemble stage chose (its ensemble.json), with the meta-learner's file
    checked (`meta_learner_file`) when the method needs one."""
    method = ensemble.get("chosen", ensemble["strategy"])
    members = [ensemble["best_member"]] if method == "best_single" else list(ensemble["members"])
    chosen = ChosenEnsemble(method, members, tuple(ensemble.get("labels", ())))
    if not chosen.stacking:
        return chosen
    meta_learner_file(run_dir, ensemble)  # refused unless it is the file the stage wrote
    return dataclasses.replace(chosen, meta_learner_file=ensemble["meta_learner_file"],
                               meta_learner_sha256=ensemble["meta_learner_sha256"])


def _predict(run_dir: Path, input_path: Path, output_path: Path, *, quiet: bool) -> Path:
    config, ensemble = load_run(run_dir)
    rows = read_inputs(input_path, config.task)
    chosen = chosen_ensemble(run_dir, ensemble)
    members = chosen.members
    config.ensemble.min_models = len(members)  # the chosen method needs every one of these members
    printer = EventPrinter(quiet=quiet)
    cluster = connect(config.ray)
    ctx = RunContext(config, DataFiles(run_dir / "data" / "train.jsonl", None, None), chosen.labels,
                     run_dir.resolve(), cluster, printer)
    try:
        team = Members(ctx, members)
        if chosen.method == "best_single":
            outputs = team.predictions({"input": rows})["input"][members[0]]
            predictions = [p["prediction"] for p in outputs]
        else:
            if config.task.type == "classification":
                outputs = team.predictions({"input": rows})["input"]
                inputs: Any = {m: [p["probabilities"] for p in outputs[m]] for m in members}
            else:
                inputs = team.pools({"input": rows}, None, stacking=chosen.stacking)["input"]
            applied: ApplyResult = run_ensemble_step(ctx, ENSEMBLE_APPLY, ApplyRequest(chosen, inputs,
                                                                                         config.task.language))
            predictions = applied.predictions
    except TooFewMembers as exc:
        raise PredictError(f"the ensemble needs all its members: {exc}") from None
    except EnsembleStepFailed as exc:
        raise PredictError(f"the ensemble could not combine its members' outputs: {exc} (log: {exc.log})") from None
    finally:
        ctx.close()
        disconnect()
    results = [{"id": r.get("id", ""), "prediction": p} for r, p in zip(rows, predictions, strict=True)]
    return write_jsonl(output_path, results)


def read_inputs(path: Path, task: TaskConfig) -> list[dict[str, Any]]:
    """The new inputs, read and checked like the run's data (the input column only)."""
    read = read_data_file(path)
    problems = read.problems + [p for p in check_rows(read, task.model_copy(update={"target_column": None}))
                                if p.column == task.resolved_input_column()]
    if problems:
        raise ConfigError([ConfigIssue("--input", str(p)) for p in problems])
    return read.with_ids()


def meta_learner_file(run_dir: Path, ensemble: dict[str, Any]) -> Path:
    """The stacking meta-learner's file, only the one the ensemble stage wrote: named relative to
    `RUN_DIR/ensemble`, inside the run directory, with the sha256 recorded beside it. Unpickling
    runs code, so anything else is refused with the reason (a run directory from elsewhere is as
    trusted as its author; see docs/guide/security.md). The actor that loads it checks the sha256
    again (`models.ensemble.apply.load_meta_learner`)."""
    name = ensemble.get("meta_learner_file")
    folder = (run_dir / "ensemble").resolve()
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ConfigError([ConfigIssue("RUN_DIR", f"{folder / 'ensemble.json'} names no meta-learner file of its own "
                                                  f"({name!r}); rerun the run's ensemble stage to fit it again")])
    path = (folder / name).resolve()
    if not path.is_relative_to(run_dir.resolve()) or not path.is_file():
        raise ConfigError([ConfigIssue("RUN_DIR", f"{folder / name} is missing or leads out of the run directory; "
                                                  "rerun the run's ensemble stage")])
    if file_sha256(path) != ensemble.get("meta_learner_sha256"):
        raise ConfigError([ConfigIssue("RUN_DIR", f"{path} is not the file the ensemble stage wrote (its sha256 "
                                                  "differs from ensemble.json's); it is not loaded. Rerun the run's "
                                                  "ensemble stage, or get the run directory again from its author")])
    return path


class PredictError(Exception):
    """A member could not run on the new inputs; the message says which and where its log is."""
