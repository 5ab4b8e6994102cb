"""The whole run, top to bottom: data, cluster, training, ensemble, optimize, summary."""

from __future__ import annotations

import json
import logging
import shutil
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml

from models.job import DataFiles
from orchestrator.cluster import ClusterInfo, connect, disconnect
from orchestrator.config import ConfigError, ConfigIssue, ExperimentConfig
from orchestrator.data import label_order, lead_baseline_scores, prepare_data, run_data_files
from orchestrator.failures import one_line
from orchestrator.live import live_status
from orchestrator.preflight import cluster_probe, run_preflight
from orchestrator.progress import EventPrinter, print_optimize, print_preflight, print_summary
from orchestrator.report.summary import build_summary, exit_code, write_summary
from orchestrator.stages.ensemble import run_ensemble
from orchestrator.stages.optimize import run_optimize
from orchestrator.stages.train import run_training
from orchestrator.supervisor import Outcome

log = logging.getLogger(__name__)


def run_experiment(config: ExperimentConfig, *, quiet: bool = False, fresh: bool = False) -> int:
    """Run every stage of `config`; returns the process exit status (0, 1 or 3).

    Rerunning the same config resumes: candidates with a complete checkpoint for the same
    settings are kept, the rest train. `fresh` discards earlier results first."""
    started = time.time()
    run_dir = config.run_dir.resolve()
    if fresh:
        for name in ("models", "errors", "ensemble", "optimize", "summary.json", "report.md", "status.json"):
            path = run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_resolved_config(config, run_dir)
    data, labels = prepare_data(config, run_dir)
    printer = EventPrinter(quiet=quiet)
    live = printer.console.is_terminal and not quiet  # a table redrawn in place; plain lines otherwise
    printer.quiet = quiet or live  # under the live table, lines only for outcomes and retries
    stages: dict[str, dict[str, float]] = {}
    cluster = connect(config.ray)
    try:
        if cluster.dashboard_url:
            printer.console.print(f"Ray dashboard: {cluster.dashboard_url} (actors are named <stage>/<candidate>)")
        verdicts = run_preflight(config, run_dir, cluster_probe(cluster.gpus), cluster.gpus)
        print_preflight(verdicts, printer.console)
        with live_status(run_dir, printer.console) if live else nullcontext():
            outcomes, ensemble, optimize = run_stages(config, data, labels, cluster, run_dir, printer, verdicts, stages)
    finally:
        disconnect()
    summary = build_summary(config, outcomes, cluster, run_dir, started, stages)
    summary["baselines"] = {"lead": lead_baseline_scores(config, data)}
    summary["ensemble"] = ensemble
    summary["optimize"] = optimize
    write_summary(summary, run_dir)
    print_summary(summary, printer.console)
    log.info("run %s: %s; summary in %s", config.experiment, summary["status"], run_dir / "summary.json")
    return exit_code(summary)


def run_stages(
    config: ExperimentConfig, data: DataFiles, labels: tuple[str, ...], cluster: ClusterInfo, run_dir: Path,
    printer: EventPrinter, verdicts: dict[str, Any], stages: dict[str, dict[str, float]],
) -> tuple[list[Outcome], dict[str, Any], dict[str, Any]]:
    """Training, then the stages that use its survivors; each stage's wall time goes to `stages`."""
    stage_started = time.time()
    outcomes = run_training(config, data, labels, cluster, run_dir, printer, verdicts)
    stages["train"] = {"wall_s": round(time.time() - stage_started, 2)}
    stage_started = time.time()
    ensemble = isolated_stage("ensemble", run_dir, run_ensemble, config, outcomes, data, labels, run_dir, cluster, printer)
    stages["ensemble"] = {"wall_s": round(time.time() - stage_started, 2)}
    stage_started = time.time()
    survivors = [o.name for o in outcomes if o.status == "succeeded"]
    optimize = isolated_stage("optimize", run_dir, run_optimize, config, survivors, data, labels, run_dir, cluster,
                              printer)
    stages["optimize"] = {"wall_s": round(time.time() - stage_started, 2)}
    return outcomes, ensemble, optimize


def rerun_optimize(config: ExperimentConfig, run_dir: Path, *, quiet: bool = False) -> int:
    """`optimize RUN_DIR`: the optimize stage again on what the run trained; summary.json and
    report.md get the new section. Exit 0 when at least one model was optimized, else 1."""
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise ConfigError([ConfigIssue("RUN_DIR", f"{run_dir} has no summary.json; run (or resume) it first")])
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    survivors = [name for name, m in summary["models"].items() if m["status"] == "succeeded"]
    data = run_data_files(run_dir)
    printer = EventPrinter(quiet=quiet)
    started = time.time()
    cluster = connect(config.ray)
    try:
        section = isolated_stage(
            "optimize", run_dir, run_optimize, config, survivors, data, label_order(config, data), run_dir, cluster,
            printer,
        )
    finally:
        disconnect()
    summary["optimize"] = section
    summary.setdefault("stages", {})["optimize"] = {"wall_s": round(time.time() - started, 2)}
    write_summary(summary, run_dir)
    print_optimize(section, printer.console)
    return 0 if section["status"] == "ok" else 1


def isolated_stage(name: str, run_dir: Path, stage: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run a post-training stage; its failure is reported in its summary section and logged to
    errors/<stage>.log, and never costs the checkpoints or the summary of what trained."""
    try:
        return stage(*args)
    except Exception as exc:  # noqa: BLE001 - a stage's bug must not lose the run's results
        path = run_dir / "errors" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc(), encoding="utf-8")
        log.error("%s stage failed: %s (log: %s)", name, exc, path)
        return {"status": "failed", "reason": one_line(exc), "log": str(path)}


def save_resolved_config(config: ExperimentConfig, run_dir: Path) -> Path:
    """The config as it ran (overrides applied, every default filled in), next to the outputs."""
    resolved = config.model_dump(mode="json", exclude_none=True)  # loads back as the same config
    resolved["resolved_settings"] = {
        c.name: config.settings_for(c).model_dump(mode="json") for c in config.models
    }
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
