"""`validate`: check an experiment file and list its candidates, without starting anything."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contract.settings import Resources
from contract.sources import parse_source
from orchestrator.cli.common import add_config_arguments, config_from_args
from orchestrator.config import ExperimentConfig
from orchestrator.storage import run_storage

HELP = "check an experiment file and show what would run"


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--no-preflight", action="store_true", help="check the file only, not models and hardware")


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args, read_data=True)
    table = Table(title=f"{config.experiment}: {config.task.type} ({config.task.language})")
    for column in ("candidate", "family", "source", "adapters", "precision", "lr", "resources"):
        table.add_column(column)
    for candidate in config.models:
        settings = config.settings_for(candidate)
        source = parse_source(candidate.source)
        adapters = "-"
        if candidate.lora is not None:
            adapters = f"LoRA r={candidate.lora.r}" + (f" + {candidate.quantization}" if candidate.quantization else "")
        res = settings.resources
        table.add_row(
            escape(candidate.name), candidate.family, escape(f"{source.kind}: {source.value}"), adapters,
            settings.precision, str(settings.learning_rate),  # a number, or "tuned" (put in by `run`)
            resources_text(res),
        )
    console = Console(highlight=False, soft_wrap=True)
    console.print(table)
    for warning in config._data_warnings:
        console.print(f"warning: {escape(warning)}")
    storage = run_storage(config.storage, config.run_dir)
    where = escape(f"{config.run_dir}" + (f", handing artefacts over through {storage.location}" if storage else ""))
    print_rerun_plan(config, console)
    console.print(f"tracking: {', '.join(config.tracking.enabled) or 'none'} (in {escape(str(config.run_dir))}/tracking)")
    if args.no_preflight:
        console.print(f"OK: {len(config.models)} candidate(s); runs write to {where}")
        return 0
    from orchestrator.preflight import local_probe, run_preflight
    from orchestrator.progress import print_preflight

    # The model checks, and the count of this machine's GPUs that `gpus: auto` goes by (None),
    # happen in a child process: this one never imports torch.
    verdicts = run_preflight(config, config.run_dir.resolve(), local_probe, None)
    print_preflight(verdicts, console)
    ready = sum(v.ok for v in verdicts.values())
    console.print(
        f"OK: {len(config.models)} candidate(s), {ready} ready on this machine; runs write to {where}"
    )
    return 0


def print_rerun_plan(config: ExperimentConfig, console: Console) -> None:
    """Where the run directory holds earlier work: what a rerun would keep, evaluate again,
    resume or train, and why. The data is prepared aside, so its content decides as in `run`."""
    run_dir = config.run_dir.resolve()
    if not (run_dir / "models").is_dir():
        return
    from orchestrator.config import ConfigError
    from orchestrator.data import prepare_data
    from orchestrator.preflight import call_in_child
    from orchestrator.rerun import decide
    from orchestrator.stages.folds import SPLIT_TRAINING, fold_decision, fold_job, member_folds, split_request
    from orchestrator.stages.train import build_jobs
    from orchestrator.stages.tuned import resolve_learning_rates

    try:
        config = resolve_learning_rates(config)  # as `run` does: a tuned rate is part of what trains
    except ConfigError as missing:
        console.print(f"a rerun trains the candidates without a tuned rate only after their sweep: {escape(str(missing))}")
        return
    with tempfile.TemporaryDirectory(prefix="orchestrator-validate-") as scratch:
        data, labels = prepare_data(config, Path(scratch))
        decisions = {job.name: decide(job) for job in build_jobs(config, data, labels, run_dir)}
        if member_folds(config) >= 2:  # the ensemble's fold models, for whichever candidates survive
            split = split_request(config, Path(scratch) / "folds")  # cut by scikit-learn, in a child process
            for fold in call_in_child(SPLIT_TRAINING, data.train, Path(split.out_dir), split.count, split.seed,
                                      split.stratify_by):
                for name in [c.name for c in config.models]:
                    job = fold_job(config, data, labels, run_dir, name, fold)
                    decisions[job.name] = fold_decision(job)
    table = Table(title=f"a rerun of {run_dir}")
    for column in ("candidate", "would", "why"):
        table.add_column(column)
    for name, decision in decisions.items():
        action = f"resume at step {decision.step}" if decision.action == "resume" else decision.action
        table.add_row(escape(name), action, escape(decision.reason))
    console.print(table)


def resources_text(res: Resources) -> str:
    """`0.6 CPU, auto GPU`; `4 workers x (1 CPU, 1 GPU), fsdp`; `1 CPU, GPUs shared`."""
    if res.gpus == "share":
        return f"{res.cpus:g} CPU per worker, GPUs shared at run time, {res.strategy}"
    each = f"{res.cpus:g} CPU, {'auto' if res.gpus is None else f'{res.gpus_per_process:g}'} GPU"
    return each if res.processes == 1 else f"{res.processes} workers x ({each}), {res.strategy}"
