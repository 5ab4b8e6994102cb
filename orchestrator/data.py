"""The run's data: built-in generator or user files, normalised into `<run_dir>/data/*.jsonl`
so every stage (and every rerun) reads the same rows from the run directory alone."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract.job import DataFiles
from models.data.files import read_rows, write_jsonl
from orchestrator.config import ConfigError, ExperimentConfig
from orchestrator.datacheck import check_configured_data, check_data, config_issues, stacking_folds
from orchestrator.failures import one_line

log = logging.getLogger(__name__)


def prepare_data(config: ExperimentConfig, run_dir: Path) -> tuple[DataFiles, tuple[str, ...]]:
    """Write the splits into the run directory; return their paths and the label order
    (classification only, fixed here so every candidate's probabilities line up). A user's files
    are checked whole first (`datacheck`): any problem is a ConfigError naming file, line and
    column, before anything is written."""
    out = run_dir / "data"
    task, data = config.task, config.data
    folds = stacking_folds(config.ensemble)
    lengths = {c.name: config.settings_for(c).max_source_length for c in config.models}
    if data.builtin is not None:
        from models.data.builtin import write_builtin_splits

        b = data.builtin
        sizes = {"train": b.train_size, "validation": b.validation_size, "test": b.test_size}
        paths = write_builtin_splits(
            out, task=task.type, language=b.language or task.language,
            sizes={k: v for k, v in sizes.items() if v > 0}, seed=b.seed,
        )
        report = check_data(task, paths, stacking_folds=folds, source_lengths=lengths)  # the sizes are the user's
    else:
        report = check_configured_data(task, data, config.ensemble, lengths)
        paths = {}
        if report.ok:
            target = task.resolved_target_column()
            for split, read in report.splits.items():
                limit = data.max_train_samples if split == "train" else data.max_eval_samples
                rows = read.with_ids()
                if task.type == "classification":  # an integer label is a class name like any other
                    rows = [{**row, target: str(row[target])} for row in rows]
                paths[split] = write_jsonl(out / f"{split}.jsonl", rows[:limit] if limit else rows)
    if not report.ok:
        raise ConfigError(config_issues(report))
    for warning in report.warnings:
        log.warning("%s", warning)
    files = DataFiles(paths["train"], paths.get("validation"), paths.get("test"))
    return files, label_order(config, files)


def label_order(config: ExperimentConfig, files: DataFiles) -> tuple[str, ...]:
    """The classes in a fixed order (sorted, from the training split); empty for summarization."""
    if config.task.type != "classification":
        return ()
    target = config.task.resolved_target_column()
    return tuple(sorted({str(r[target]) for r in read_rows(files.train)}))


def run_data_files(run_dir: Path) -> DataFiles:
    """The splits an earlier run wrote into its run directory."""
    out = run_dir / "data"
    existing = {split: out / f"{split}.jsonl" for split in ("validation", "test")}
    return DataFiles(out / "train.jsonl", *(p if p.is_file() else None for p in existing.values()))


LEAD_SCORES = "models.metrics.baselines:lead_scores"


def lead_baseline_scores(config: ExperimentConfig, data: DataFiles,
                         call: Callable[..., Any]) -> dict[str, dict[str, float]]:
    """ROUGE of copying the dialogue's first turn: the floor a summariser must clear. Computed by
    `call` (an inspection child's, where the metric libraries are loaded); a failure here costs
    only the baseline's line in the report, never the run."""
    if config.task.type != "summarization":
        return {}
    splits = {split: str(path) for split in ("validation", "test") if (path := getattr(data, split)) is not None}
    if not splits:
        return {}
    try:
        scores: dict[str, dict[str, float]] = call(
            LEAD_SCORES, splits, config.task.resolved_input_column(), config.task.resolved_target_column(),
            config.task.language,
        )
    except Exception as exc:  # noqa: BLE001 - the baseline is context for the report, not a result
        log.warning("the lead baseline could not be scored: %s", one_line(exc))
        return {}
    return scores
