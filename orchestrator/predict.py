"""Apply a finished run's ensemble to new inputs: every member predicts, the saved
meta-learner (or MBR / averaging) combines, exactly as on the test split."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import yaml

from models.data.files import read_rows, write_jsonl
from models.job import DataFiles, TrainingJob
from models.precision import decide_precision, detect_hardware
from models.registry import load_family
from orchestrator.config import ConfigError, ConfigIssue, ExperimentConfig

log = logging.getLogger(__name__)


def load_run(run_dir: Path) -> tuple[ExperimentConfig, dict[str, Any]]:
    """The config a run used and its ensemble section, or a ConfigError saying what is missing."""
    config_path, ensemble_path = run_dir / "config.yaml", run_dir / "ensemble" / "ensemble.json"
    if not config_path.is_file():
        raise ConfigError([ConfigIssue("RUN_DIR", f"{run_dir} holds no config.yaml; is it a run directory?")])
    if not ensemble_path.is_file():
        raise ConfigError([ConfigIssue("RUN_DIR", f"{run_dir} has no ensemble (see its summary.json)")])
    raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    raw.pop("resolved_settings", None)
    return ExperimentConfig.model_validate(raw), json.loads(ensemble_path.read_text(encoding="utf-8"))


def member_predictions(config: ExperimentConfig, run_dir: Path, member: str, rows: list[dict[str, Any]],
                       labels: tuple[str, ...]) -> list[dict[str, Any]]:
    candidate = config.candidate(member)
    settings = config.settings_for(candidate)
    job = TrainingJob(
        name=member, candidate=candidate, settings=settings, task=config.task,
        data=DataFiles(run_dir / "data" / "train.jsonl", None, None), output_dir=run_dir / "models" / member,
        fingerprint=config.fingerprint(candidate), labels=labels,
    )
    family = load_family(candidate.family)(job)
    plan = decide_precision(settings.precision, detect_hardware(), adapters_only=candidate.lora is not None)
    model, tokenizer = family.load_trained(job.output_dir / "checkpoint", plan)
    log.info("%s: predicting %d inputs", member, len(rows))
    return family.predict(model, tokenizer, rows)


def predict(run_dir: Path, input_path: Path, output_path: Path) -> Path:
    config, ensemble = load_run(run_dir)
    source = config.task.resolved_input_column()
    rows = read_rows(input_path, required=[source])
    members, labels = ensemble["members"], tuple(ensemble.get("labels", ()))
    outputs = {m: member_predictions(config, run_dir, m, rows, labels) for m in members}
    strategy = ensemble["strategy"]
    model = joblib.load(ensemble["meta_learner"]) if ensemble.get("meta_learner") else None

    if config.task.type == "classification":
        from models.ensemble.classification import features

        probabilities = {m: np.array([p["probabilities"] for p in outputs[m]]) for m in members}
        chosen = model.predict(features(probabilities, members)) if strategy == "stacking" else (
            np.mean([probabilities[m] for m in members], axis=0).argmax(1))
        results = [{"id": r.get("id", ""), "prediction": labels[int(c)]} for r, c in zip(rows, chosen, strict=True)]
    else:
        from models.ensemble.summarization import Candidates, candidate_features, consensus

        texts = [[outputs[m][i]["prediction"] for m in members] for i in range(len(rows))]
        candidates = Candidates(members, [str(r[source]) for r in rows], texts)
        if strategy == "stacking":
            x, _ = candidate_features(candidates, config.task.language)
            picks = model.predict(x).reshape(-1, len(members)).argmax(1)
        else:
            picks = consensus(candidates, config.task.language).argmax(1)
        results = [
            {"id": r.get("id", ""), "prediction": texts[i][int(c)], "member": members[int(c)]}
            for i, (r, c) in enumerate(zip(rows, picks, strict=True))
        ]
    return write_jsonl(output_path, results)
