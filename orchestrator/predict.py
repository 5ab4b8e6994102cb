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
from models.ensemble.members import MemberModel
from orchestrator.config import ConfigError, ConfigIssue, ExperimentConfig
from orchestrator.stages.train import member_job

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


def predict(run_dir: Path, input_path: Path, output_path: Path) -> Path:
    config, ensemble = load_run(run_dir)
    source = config.task.resolved_input_column()
    rows = read_rows(input_path, required=[source])
    members, labels = ensemble["members"], tuple(ensemble.get("labels", ()))
    models = {m: MemberModel(member_job(config, run_dir, m, labels)) for m in members}
    outputs = {m: model.predict(rows) for m, model in models.items()}
    strategy = ensemble["strategy"]
    meta = joblib.load(ensemble["meta_learner"]) if ensemble.get("meta_learner") else None

    if config.task.type == "classification":
        from models.ensemble.classification import features

        probabilities = {m: np.array([p["probabilities"] for p in outputs[m]]) for m in members}
        chosen = meta.predict(features(probabilities, members)) if strategy == "stacking" else (
            np.mean([probabilities[m] for m in members], axis=0).argmax(1))
        results = [{"id": r.get("id", ""), "prediction": labels[int(c)]} for r, c in zip(rows, chosen, strict=True)]
    else:
        from models.ensemble.summarization import build_pool, candidate_features, consensus, pick

        greedy = {m: [p["prediction"] for p in outputs[m]] for m in members}
        sources = [str(r[source]) for r in rows]
        if strategy == "stacking":
            settings = config.ensemble
            proposals = {m: model.propose(rows, settings.num_candidates, settings.num_beams) for m, model in models.items()}
            pool = build_pool(members, sources, greedy, proposals, lambda pairs: {m: x.score(pairs) for m, x in models.items()})
            x, _ = candidate_features(pool, config.task.language)
            chosen = pick(pool, meta.predict(x))
        else:
            pool = build_pool(members, sources, greedy)
            chosen = pick(pool, consensus(pool, config.task.language))
        results = [{"id": r.get("id", ""), "prediction": pool.texts[i][c]} for i, (r, c) in enumerate(zip(rows, chosen, strict=True))]
    return write_jsonl(output_path, results)
