"""The learning-rate sweep's results: tune/tune.json and trials.csv written, and the tuned rates
read back into a config (`learning_rate: tuned`, `run --use-tuned`).

Kept apart from the sweep itself (`stages/tune.py`) so that `run`, which only reads tuned rates,
never imports Ray Tune.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

from contract.atomic import write_json
from contract.names import canonical_name
from orchestrator.config import ConfigError, ConfigIssue, ExperimentConfig
from orchestrator.data import run_data_files
from orchestrator.report.tune import PLOT, fmt_rate, plot_sweep, tune_section

log = logging.getLogger(__name__)

ASHA_METRIC = "eval_loss"  # reported after every evaluation during training; lower is better
TIME_ATTR = "evaluation"  # ASHA's clock: evaluations done (epochs, or one when shorter)
SEARCHED = ("learning_rate",)  # the settings a sweep searches: the keys of `tune.search_space`


def chosen_candidates(config: ExperimentConfig, names: list[str] | None) -> list[Any]:
    """The candidates to sweep: `names` (tune.models), or every candidate of the config."""
    wanted = {canonical_name(n) for n in names} if names is not None else None
    return [c for c in config.models if wanted is None or canonical_name(c.name) in wanted]


def sweep_fingerprint(config: ExperimentConfig, candidate: Any) -> str:
    """The candidate's config fingerprint with the searched settings left out: a tuned rate was
    found for exactly these data and settings."""
    fixed = candidate.model_copy(update=dict.fromkeys(SEARCHED, 1.0))
    data = run_data_files(config.run_dir.resolve())
    return config.fingerprint(fixed, data if data.train.is_file() else None)


def describe(config: ExperimentConfig) -> dict[str, Any]:
    """A sweep's settings, as recorded with each model's trials in tune.json."""
    return {
        "space": {"learning_rate": config.tune.learning_rate.model_dump(exclude_none=True)},
        "samples": config.tune.samples,
        "scheduler": config.tune.scheduler,
        "asha": {"metric": ASHA_METRIC, "time_attr": TIME_ATTR, "grace_period": config.tune.grace_period,
                 "reduction_factor": config.tune.reduction_factor},
    }


def write_tune(config: ExperimentConfig, models: dict[str, dict[str, Any]], run_dir: Path) -> dict[str, Any]:
    """tune/tune.json (models swept earlier and not now are kept), tune/trials.csv and the plot;
    returns the whole section."""
    out = run_dir / "tune"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "tune.json"
    earlier = (tune_section(run_dir) or {}).get("models", {})
    # a candidate a stop kept from being swept keeps its last sweep's result
    models = {name: m for name, m in models.items() if not (m["status"] == "interrupted" and not m.get("trials")
                                                            and name in earlier)}
    section = {"metric": config.task.resolved_metric(), "models": {**earlier, **models}, "updated": time.time()}
    if any(m.get("trials") for m in section["models"].values()):
        plot_sweep(section, run_dir / PLOT)
        section["plot"] = PLOT
    write_json(path, section)
    columns = ["trial", "learning_rate", "status", "evaluations", "last_eval_loss", "final_eval_loss",
               "validation_metric", "wall_s", "error", "dir"]
    with (out / "trials.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", *columns[:6], f"validation_{section['metric']}", *columns[7:]])
        for name, model in section["models"].items():
            for t in model.get("trials", []):
                writer.writerow([name, *(t.get(k) for k in columns)])
    return section


# --------------------------------------------------------------------------- using the result


def resolve_learning_rates(config: ExperimentConfig, *, use_tuned: bool = False) -> ExperimentConfig:
    """The config with every `learning_rate: tuned` (every candidate's rate, with `use_tuned`)
    replaced by the best rate of its last sweep, set on the candidate itself: from here on
    `settings_for`, the fingerprint (so resume never reuses a checkpoint trained at another
    rate), config.yaml and the jobs all see that number. A candidate without a tuned rate is a
    config error naming the sweep that makes one."""
    wanted = [c for c in config.models if use_tuned or config.settings_for(c).learning_rate == "tuned"]
    if not wanted:
        return config
    run_dir = config.run_dir.resolve()
    section = tune_section(run_dir) or {"models": {}}
    issues, rates = [], {}
    for candidate in wanted:
        index = config.models.index(candidate)
        model = section["models"].get(candidate.name) or {}
        where = "--use-tuned" if use_tuned else f"models[{index}].learning_rate"
        sweep = f"python -m orchestrator tune {config.source_file} --only {candidate.name}"
        if model.get("learning_rate") is None:
            found = (f"its sweep found none ({model.get('reason')})" if model
                     else f"{run_dir / 'tune' / 'tune.json'} has no sweep of it")
            issues.append(ConfigIssue(where, f"no tuned learning rate for {candidate.name!r}: {found}; run {sweep}"))
            continue
        if model.get("fingerprint") != sweep_fingerprint(config, candidate):
            log.warning("%s: its learning rate was tuned with other data or settings; rerun %s to tune it again",
                        candidate.name, sweep)
        rates[candidate.name] = model["learning_rate"]
        log.info("%s: learning rate %s, tuned (tune/tune.json)", candidate.name, fmt_rate(model["learning_rate"]))
    if issues:
        raise ConfigError(issues, config.source_file)
    models = [c.model_copy(update={"learning_rate": rates[c.name]}) if c.name in rates else c for c in config.models]
    return config.model_copy(update={"models": models})
