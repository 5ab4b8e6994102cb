"""The run's data: built-in generator or user files, normalised into `<run_dir>/data/*.jsonl`
so every stage (and every rerun) reads the same rows from the run directory alone."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.job import DataFiles
from contract.rows import read_rows, write_jsonl
from contract.work import resolve
from orchestrator.config import ConfigError, ConfigIssue, ExperimentConfig
from orchestrator.datacheck import check_configured_data, check_data, config_issues, with_references
from orchestrator.failures import one_line

log = logging.getLogger(__name__)
WRITE_BUILTIN_SPLITS = "models.data.builtin:write_builtin_splits"  # pure Python; the data plane's generator


def prepare_data(config: ExperimentConfig, run_dir: Path) -> tuple[DataFiles, tuple[str, ...]]:
    """Write the splits into the run directory; return their paths and the label order
    (classification only, fixed here so every candidate's probabilities line up). A user's files
    are checked whole first (`datacheck`): any problem is a ConfigError naming file, line and
    column, before anything is written."""
    out = run_dir / "data"
    task, data = config.task, config.data
    lengths = {c.name: config.settings_for(c).max_source_length for c in config.models}
    if data.builtin is not None:
        b = data.builtin
        sizes = {"train": b.train_size, "validation": b.validation_size, "test": b.test_size}
        paths = resolve(WRITE_BUILTIN_SPLITS)(
            out, task=task.type, language=b.language or task.language,
            sizes={k: v for k, v in sizes.items() if v > 0}, seed=b.seed,
        )
        report = check_data(task, paths, ensemble=config.ensemble, source_lengths=lengths)  # the sizes are the user's
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
                else:
                    rows = [with_references(row, target) for row in rows]
                paths[split] = write_jsonl(out / f"{split}.jsonl", rows[:limit] if limit else rows)
    if not report.ok:
        raise ConfigError(config_issues(report))
    for warning in report.warnings:
        log.warning("%s", warning)
    files = DataFiles(paths["train"], paths.get("validation"), paths.get("test"))
    if files.validation is None and (watching := early_stopping_without_validation(config)):
        raise ConfigError(watching)
    return files, label_order(config, files)


def early_stopping_without_validation(config: ExperimentConfig) -> list[ConfigIssue]:
    """Early stopping watches the validation split: without one it has nothing to watch."""
    issues = []
    for i, candidate in enumerate(config.models):
        stopping = config.settings_for(candidate).early_stopping
        if stopping is not None and stopping.patience > 0:
            where = f"models[{i}].early_stopping" if candidate.early_stopping else "defaults.early_stopping"
            issues.append(ConfigIssue(where, f"{candidate.name} stops early on validation {stopping.metric}, and there "
                                             "is no validation split; give data.validation (or "
                                             "data.builtin.validation_size), or set patience: 0"))
    return list({issue.path: issue for issue in issues}.values())


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


BASELINE_SCORES = {"lead": "models.metrics.baselines:lead_scores",
                   "majority": "models.metrics.baselines:majority_scores"}


@dataclass(frozen=True)
class Baseline:
    """The task's trivial predictor and its scores per split (0-100): what a candidate that learned
    nothing about its inputs gets, so a score no better than this one is no result at all."""

    name: str
    description: str
    scores: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        """The entry of summary.json's `baselines` (and status.json's): split scores at the top
        level, as readers of the lead baseline have always found them."""
        return {"description": self.description, **self.scores}


def baselines_section(baseline: Baseline | None) -> dict[str, Any]:
    """summary.json's (and status.json's) `baselines`: the task's baseline under its name, or
    nothing when it could not be scored."""
    return {baseline.name: baseline.to_dict()} if baseline else {}


def trivial_baseline(config: ExperimentConfig, data: DataFiles, call: Callable[..., Any]) -> Baseline | None:
    """Copying the dialogue's first turn (summarization) or always answering the most frequent
    training label (classification), scored on validation and test by `call` (an inspection
    child's, where the metric libraries are loaded). None without an evaluation split, or when
    scoring fails: the baseline is context for the results, never a reason to fail the run."""
    splits = {split: str(path) for split in ("validation", "test") if (path := getattr(data, split)) is not None}
    if not splits:
        return None
    name = "lead" if config.task.type == "summarization" else "majority"
    try:
        description, args = _baseline_plan(config, data)
        scores: dict[str, dict[str, float]] = call(BASELINE_SCORES[name], splits, *args)
    except Exception as exc:  # noqa: BLE001 - the baseline is context for the report, not a result
        log.warning("the %s baseline could not be scored: %s", name, one_line(exc))
        return None
    return Baseline(name, description, scores)


def _baseline_plan(config: ExperimentConfig, data: DataFiles) -> tuple[str, tuple[Any, ...]]:
    """The baseline's description and the arguments its scoring function takes after the splits."""
    task = config.task
    target = task.resolved_target_column()
    if task.type == "summarization":
        return "first turn", (task.resolved_input_column(), target, task.language, task.multi_reference)
    label = majority_label(data, target)
    return f"always '{label}'", (target, label)


def majority_label(data: DataFiles, target: str) -> str:
    """The most frequent label of the training split; ties go to the first in sorted order, so
    every run of the same data names the same one."""
    counts = Counter(str(r[target]) for r in read_rows(data.train))
    return min(counts, key=lambda label: (-counts[label], label))


def below_baseline(validation: dict[str, Any], baselines: dict[str, Any], metric: str | None, *,
                   steps: int | None = None, learning_rate: float | str | None = None) -> dict[str, Any] | None:
    """How a succeeded candidate fails to beat its task's trivial baseline on validation (None when
    it beats it, or either score is missing). Training that ran to the end without error can still
    have learned nothing (a classifier answering one class for every input); only this says so.
    `validation` is the candidate's scores, `baselines` summary.json's section of that name."""
    score = validation.get(metric) if metric else None
    for name, baseline in baselines.items():
        floor = (baseline.get("validation") or {}).get(metric) if metric else None
        if not isinstance(score, int | float) or not isinstance(floor, int | float) or score > floor:
            continue
        hint = (f"validation {metric} {score:.2f} does not beat the {name} baseline's {floor:.2f} "
                f"({baseline.get('description', name)}): {_undertrained(steps, learning_rate)}")
        return {"baseline": name, "metric": metric, "validation": score, "baseline_validation": floor, "hint": hint}
    return None


def shown_status(status: str, flag: dict[str, Any] | None) -> str:
    """A candidate's status as every view shows it: `succeeded, below baseline` when flagged."""
    return f"{status}, below baseline" if flag else status


def _undertrained(steps: int | None, learning_rate: float | str | None) -> str:
    trained = [f"{steps} steps"] if steps else []
    if isinstance(learning_rate, int | float):
        trained.append(f"learning rate {learning_rate:g}")
    done = f" ({', '.join(trained)})" if trained else ""
    return (f"likely undertrained{done}; train more steps or epochs (max_steps, epochs) or try another "
            "learning_rate (python -m orchestrator tune sweeps it)")
