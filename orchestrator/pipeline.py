"""The whole run, top to bottom: data, cluster, training, ensemble, optimize, summary."""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml
from rich.markup import escape

from contract.atomic import read_json_or_warn, write_json, write_text
from contract.redact import redact, without_credentials
from orchestrator.cluster import ClusterInfo, connect, disconnect
from orchestrator.config import ConfigError, ConfigIssue, ExperimentConfig
from orchestrator.data import baselines_section, label_order, prepare_data, run_data_files, trivial_baseline
from orchestrator.failures import one_line
from orchestrator.interrupts import RunInterrupted, StopRequest, arm, catch_interrupts
from orchestrator.live import live_status
from orchestrator.outcome import Outcome
from orchestrator.placement import placed_config
from orchestrator.preflight import InspectionChild, cluster_probe, run_preflight
from orchestrator.progress import EventPrinter, print_preflight, print_summary
from orchestrator.report.optimize import print_optimize
from orchestrator.report.summary import build_summary, exit_code, write_summary
from orchestrator.runlock import RunLock
from orchestrator.stages import registry
from orchestrator.stages.context import RunContext
from orchestrator.stages.optimize import run_optimize
from orchestrator.stages.train import run_training
from orchestrator.stages.tuned import resolve_learning_rates
from orchestrator.status import write_baselines
from orchestrator.storage import open_run_storage, remove_node_copies
from orchestrator.tracking import Tracker, TrackingTarget, run_results

log = logging.getLogger(__name__)


def connect_inspecting(config: ExperimentConfig) -> tuple[InspectionChild, ClusterInfo]:
    """Ray, with preflight's inspection child started first: its imports of the model libraries
    (seconds) overlap Ray's start instead of following it. The child is preflight's to close."""
    inspection = InspectionChild()
    try:
        return inspection, connect(config.ray)
    except BaseException:
        inspection.close()
        raise


def run_experiment(config: ExperimentConfig, *, quiet: bool = False, fresh: bool = False, use_tuned: bool = False) -> int:
    """Run every stage of `config`; returns the process exit status (0, 1 or 3).

    Rerunning the same config resumes: candidates with a complete checkpoint for the same
    settings are kept, the rest train. `fresh` discards earlier results first. Tuned learning
    rates (`learning_rate: tuned`, or every candidate's with `use_tuned`) are put in first, so
    everything after, config.yaml and fingerprints included, sees the numbers."""
    config = resolve_learning_rates(config, use_tuned=use_tuned)
    run_dir = config.run_dir.resolve()
    with RunLock(run_dir, "run"), catch_interrupts() as stop:
        try:
            return _run_experiment(config, run_dir, stop, quiet=quiet, fresh=fresh)
        except (ConfigError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug of ours: one line for the user, the traceback in the run directory
            raise DriverCrash.record(exc, run_dir, config.experiment) from exc


class DriverCrash(Exception):
    """An unexpected error on the driver, with its traceback in `log` and summary.json saying so."""

    def __init__(self, message: str, log: Path):
        super().__init__(message)
        self.log = log

    @classmethod
    def record(cls, exc: Exception, run_dir: Path, experiment: str) -> DriverCrash:
        path = run_dir / "errors" / "driver.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(traceback.format_exc()), encoding="utf-8")
        reason = redact(one_line(exc))
        write_json(run_dir / "summary.json", {"experiment": experiment, "status": "failed", "run_dir": str(run_dir),
                                              "reason": f"the driver failed: {reason}", "log": str(path),
                                              "models": {}, "leaderboard": []})
        return cls(reason, path)


def _run_experiment(config: ExperimentConfig, run_dir: Path, stop: StopRequest, *, quiet: bool, fresh: bool) -> int:
    started = time.time()
    if fresh:
        for name in ("models", "errors", *(stage.name for stage in registry.POST_TRAINING), "tracking", "summary.json",
                     "report.md", "report.html", "status.json"):
            path = run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    save_resolved_config(config, run_dir)
    data, labels = prepare_data(config, run_dir)
    storage = open_run_storage(config.storage, run_dir, fresh=fresh)
    printer = EventPrinter(quiet=quiet)
    live = printer.console.is_terminal and not quiet  # a table redrawn in place; plain lines otherwise
    printer.quiet = quiet or live  # under the live table, lines only for outcomes and retries
    stages: dict[str, dict[str, float]] = {}
    inspection, cluster = connect_inspecting(config)
    arm(stop)  # ray.init replaced our SIGTERM handler with its own
    config = placed_config(config, cluster.gpus)  # auto, gpus: N and share made concrete for this cluster
    try:
        if cluster.dashboard_url:
            printer.console.print(f"Ray dashboard: {cluster.dashboard_url} (actors are named <stage>/<candidate>)")
        with inspection:  # closed before training: it holds the model libraries' memory
            verdicts = run_preflight(config, run_dir, cluster_probe(cluster.gpus), cluster.gpus, inspection)
            baseline = trivial_baseline(config, data, inspection.call)
        printer.baselines, printer.metric = baselines_section(baseline), config.task.resolved_metric()
        write_baselines(run_dir, printer.metric, printer.baselines)
        print_preflight(verdicts, printer.console)
        tracker = open_tracker(config, run_dir)
        ctx = RunContext(config, data, labels, run_dir, cluster, printer, stop=stop, tracker=tracker)
        try:
            with live_status(run_dir, printer.console) if live else nullcontext():
                outcomes, sections = run_stages(ctx, verdicts, stages)
        except BaseException:
            if tracker is not None:
                tracker.close()
            raise
        finally:
            ctx.close()
            remove_node_copies(storage)
    finally:
        disconnect()
    summary = build_summary(config, outcomes, cluster, run_dir, started, stages, baseline, sections)
    if stop.requested:
        summary["status"] = "interrupted"
        source = config.source_file if config.source_file != "<config>" else run_dir / "config.yaml"
        summary["resume"] = f"python -m orchestrator run {source}"
    write_summary(summary, run_dir)
    if tracker is not None:
        finish_tracking(tracker, summary, run_dir)
    print_summary(summary, printer.console)
    if tracker is not None:
        for line in tracker.where():
            printer.console.print(f"tracked with {escape(line)}")
    log.info("run %s: %s; summary in %s", config.experiment, summary["status"], run_dir / "summary.json")
    if stop.requested:
        printer.console.print(f"interrupted; resume with: {summary['resume']} (the same options)")
        return stop.exit_status
    return exit_code(summary)


def open_tracker(config: ExperimentConfig, run_dir: Path) -> Tracker | None:
    """The run's experiment trackers (`tracking:`), or None when tracking is off."""
    target = TrackingTarget.for_run(config.tracking, run_dir, config.experiment)
    return Tracker(target) if target is not None else None


def finish_tracking(tracker: Tracker, summary: dict[str, Any], run_dir: Path) -> None:
    """The run's results and files on the experiment's tracked run; then every tracker closes."""
    metrics, notes = run_results(summary)
    files = [run_dir / "summary.json", run_dir / "report.html", run_dir / "report.md",
             *(path for stage in registry.POST_TRAINING for path in stage.outputs(run_dir))]
    tracker.finish(summary["status"], metrics, notes, files)
    tracker.close()
    if tracker.failed:  # said once as a warning already; summary.json keeps it too
        summary["tracking"] = {"failed": tracker.failed}
        write_summary(summary, run_dir)


def run_stages(
    ctx: RunContext, verdicts: dict[str, Any], stages: dict[str, dict[str, float]],
) -> tuple[list[Outcome], dict[str, dict[str, Any]]]:
    """Training, then each stage of `registry.POST_TRAINING` on its outcomes: the outcomes and
    each stage's section by name. Each stage's wall time goes to `stages`; after a stop, the stages
    not begun get a section saying so."""
    stage_started = time.time()
    outcomes = run_training(ctx, verdicts)
    stages["train"] = {"wall_s": round(time.time() - stage_started, 2)}
    sections: dict[str, dict[str, Any]] = {}
    for stage in registry.POST_TRAINING:
        if ctx.stop is not None and ctx.stop.requested:
            sections[stage.name] = {"status": "interrupted", "reason": "the run was stopped before this stage"}
            continue
        stage_started = time.time()
        sections[stage.name] = isolated_stage(stage.name, ctx.run_dir, stage.run, ctx, outcomes)
        stages[stage.name] = {"wall_s": round(time.time() - stage_started, 2)}
    return outcomes, sections


def rerun_optimize(config: ExperimentConfig, run_dir: Path, *, quiet: bool = False) -> int:
    """`optimize RUN_DIR`: the optimize stage again on what the run trained; summary.json and
    report.md get the new section. Exit 0 when at least one model was optimized, else 1."""
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise ConfigError([ConfigIssue("RUN_DIR", f"{run_dir} has no summary.json; run (or resume) it first")])
    with RunLock(run_dir, "optimize"):  # read under the lock: a `run` that holds it may be rewriting it
        summary = read_json_or_warn(summary_path, "optimize needs it")
        if not isinstance(summary, dict):
            raise ConfigError([ConfigIssue("RUN_DIR", f"{summary_path} is unreadable; rerun `run` to write it again")])
        return _rerun_optimize(config, run_dir, summary, quiet=quiet)


def _rerun_optimize(config: ExperimentConfig, run_dir: Path, summary: dict[str, Any], *, quiet: bool) -> int:
    survivors = [name for name, m in summary["models"].items() if m["status"] == "succeeded"]
    data = run_data_files(run_dir)
    storage = open_run_storage(config.storage, run_dir)
    printer = EventPrinter(quiet=quiet)
    started = time.time()
    cluster = connect(config.ray)
    ctx = RunContext(config, data, label_order(config, data), run_dir, cluster, printer)
    try:
        section = isolated_stage("optimize", run_dir, run_optimize, ctx, survivors)
    finally:
        ctx.close()
        remove_node_copies(storage)
        disconnect()
    summary["optimize"] = section
    summary.setdefault("stages", {})["optimize"] = {"wall_s": round(time.time() - started, 2)}
    write_summary(summary, run_dir)
    print_optimize(section, printer.console)
    return 0 if section["status"] == "ok" else 1


def tune_experiment(config: ExperimentConfig, names: list[str] | None, *, quiet: bool = False) -> int:
    """`tune`: sweep the learning rate of each chosen candidate (`names`, else every one) and
    write `tune/` in the run directory; a summary.json already there gets the section too.
    Exit 0 when every candidate got a best rate, 3 when some did, 1 when none did."""
    from orchestrator.stages.tuned import chosen_candidates

    run_dir = config.run_dir.resolve()
    with RunLock(run_dir, "tune"), catch_interrupts() as stop:
        return _tune_experiment(config, run_dir, chosen_candidates(config, names), stop, quiet=quiet)


def _tune_experiment(config: ExperimentConfig, run_dir: Path, candidates: list[Any], stop: StopRequest, *,
                     quiet: bool) -> int:
    from rich.console import Console

    from orchestrator.report.tune import print_tune
    from orchestrator.stages.tune import run_sweep
    from orchestrator.stages.tuned import write_tune

    data, labels = prepare_data(config, run_dir)
    storage = open_run_storage(config.storage, run_dir)
    if data.validation is None:
        raise ConfigError([ConfigIssue("data.validation", "a learning-rate sweep judges trials on a validation "
                                                          "split; give data.validation (or builtin validation_size)")])
    console = Console(highlight=False, soft_wrap=True)
    inspection, cluster = connect_inspecting(config)
    arm(stop)  # ray.init replaced our SIGTERM handler with its own
    config = placed_config(config, cluster.gpus)
    candidates = [config.candidate(c.name) for c in candidates]
    tracker = open_tracker(config, run_dir)  # the experiment's tracked run, before any trial looks for it
    try:
        with inspection:
            verdicts = run_preflight(config.model_copy(update={"models": candidates}), run_dir,
                                     cluster_probe(cluster.gpus), cluster.gpus, inspection)
        print_preflight(verdicts, console)
        models = run_sweep(config, candidates, data, labels, cluster, run_dir, None if quiet else console, verdicts,
                           stop)
    except BaseException:
        if tracker is not None:
            tracker.close()
        raise
    finally:
        remove_node_copies(storage)
        disconnect()
    section = write_tune(config, models, run_dir)
    if tracker is not None:
        rates = {f"{name}/learning_rate": m["learning_rate"] for name, m in models.items()
                 if isinstance(m.get("learning_rate"), (int, float))}
        tracker.finish("interrupted" if stop.requested else "ok", rates, {"tune": "learning-rate sweep"},
                       [run_dir / "tune" / "tune.json"])
        tracker.close()
    summary_path = run_dir / "summary.json"
    summary = read_json_or_warn(summary_path, "it does not get the sweep's section") if summary_path.is_file() else None
    if isinstance(summary, dict):
        summary["tune"] = section
        write_summary(summary, run_dir)
    print_tune({**section, "models": models}, console)
    if stop.requested:
        console.print(f"interrupted; resume the sweep with: python -m orchestrator tune {config.source_file} "
                      "(the same options)")
        return stop.exit_status
    console.print(f"tuned rates in {run_dir / 'tune' / 'tune.json'}; train with them: "
                  f"python -m orchestrator run {config.source_file} --use-tuned")
    found = sum(m["learning_rate"] is not None for m in models.values())
    return 0 if found == len(models) else (3 if found else 1)


def isolated_stage(name: str, run_dir: Path, stage: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run a post-training stage; its failure is reported in its summary section and logged to
    errors/<stage>.log, and never costs the checkpoints or the summary of what trained."""
    try:
        return stage(*args)
    except RunInterrupted as stopped:
        return {"status": "interrupted", "reason": f"{stopped}; rerun to do this stage"}
    except Exception as exc:  # noqa: BLE001 - a stage's bug must not lose the run's results
        path = run_dir / "errors" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(traceback.format_exc()), encoding="utf-8")
        log.error("%s stage failed: %s (log: %s)", name, exc, path)
        return {"status": "failed", "reason": redact(one_line(exc)), "log": str(path)}


def save_resolved_config(config: ExperimentConfig, run_dir: Path) -> Path:
    """The config as it ran (overrides applied, every default filled in), next to the outputs."""
    resolved = config.model_dump(mode="json", exclude_none=True)  # loads back as the same config
    if resolved.get("storage", {}).get("uri"):  # credentials stay with the user's own file and environment
        resolved["storage"]["uri"] = without_credentials(resolved["storage"]["uri"])
    resolved["resolved_settings"] = {
        c.name: config.settings_for(c).model_dump(mode="json") for c in config.models
    }
    path = run_dir / "config.yaml"
    return write_text(path, yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True))
