"""What a run's data files must hold, checked on the driver in seconds, before Ray starts.

`read_data_file` finds what is wrong with a file's form; `check_data` adds what is wrong with
what its rows hold, for the task: the input and target columns present in every row, text where
text is expected (classification labels may be strings or integers), no null or blank values,
splits large enough for the ensemble's folds, validation and test labels that training has seen,
more than one class. Every problem names the file, the lines and the column, with the fix
(`run` and `validate` exit 2 on any). Rows shared between splits are a warning, with counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.rows import REFERENCES
from contract.settings import TaskConfig
from orchestrator.config.data import DataConfig
from orchestrator.config.errors import ConfigIssue
from orchestrator.config.stages import EnsembleConfig
from orchestrator.datafiles import DataProblem, ProblemTally, RowsRead, read_data_file

SPLITS = ("train", "validation", "test")
SHOWN_LABELS = 5  # unseen labels named in a problem; the rest are counted


@dataclass
class DataReport:
    """The user's splits as read (rows with their line numbers), their problems and warnings."""

    splits: dict[str, RowsRead] = field(default_factory=dict)
    problems: list[DataProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_data(task: TaskConfig, files: dict[str, str | Path], *, ensemble: EnsembleConfig | None = None,
               source_lengths: dict[str, int] | None = None) -> DataReport:
    """Read and check each split in `files` (split -> path). `ensemble`: the folds its stacking
    fits in need as many validation rows (and its cross-fitted members as many training rows);
    `source_lengths`: each candidate's `max_source_length`, for the count of inputs truncated."""
    report = DataReport()
    for split in SPLITS:
        if split not in files:
            continue
        read = read_data_file(Path(files[split]))
        report.splits[split] = read
        report.problems += read.problems
        report.problems += check_rows(read, task)
    if report.problems:  # the checks across splits need every row readable
        return report
    report.problems += size_problems(report.splits, ensemble)
    if task.type == "classification":
        report.problems += label_problems(report.splits, task.resolved_target_column())
    report.warnings += shared_rows(report.splits, task.resolved_input_column())
    report.warnings += long_inputs(report.splits, task.resolved_input_column(), source_lengths or {})
    return report


def check_rows(read: RowsRead, task: TaskConfig) -> list[DataProblem]:
    """Every row has the input and the target, as non-blank text (an integer label too). A
    summary's target may be several references: a list, or columns `<target>1`, `<target>2`, ..."""
    tally = ProblemTally(read.path, read.unit)
    target = task.resolved_target_column()
    columns = {task.resolved_input_column(): "text", target: "label" if task.type == "classification" else "text"}
    present = sorted({name for row in read.rows for name in row})
    setting = {task.resolved_input_column(): "task.input_column", target: "task.target_column"}
    for row, line in zip(read.rows, read.lines, strict=True):
        for column, kind in columns.items():
            if column == target and kind == "text" and (found := references_of(row, target)) is not None:
                for name, value in found:
                    if (problem := _value_problem(value, "text")) is not None:
                        tally.add(line, problem[0], problem[1], name)
                if not found:
                    tally.add(line, "the list of references is empty", "give at least one reference", column)
                continue
            if column not in row:
                numbered = f" or {target}1, {target}2, ..." if column == target and kind == "text" else ""
                tally.add(line, "the column is missing",
                          f"give every row this column{numbered}, or set {setting[column]} (columns seen: "
                          f"{', '.join(present[:10])})", column)
                continue
            problem = _value_problem(row[column], kind)
            if problem is not None:
                tally.add(line, problem[0], problem[1], column)
    return tally.problems()


def references_of(row: dict[str, Any], target: str) -> list[tuple[str, Any]] | None:
    """A summary row's references, each with where it came from: the target column's value (or
    each item of its list), else the numbered columns `<target>1`, `<target>2`, ... (as DialogSum's
    test split and the Korean contest's files have them); None when there are none of these."""
    if target in row:
        value = row[target]
        return [(f"{target}[{i}]", v) for i, v in enumerate(value)] if isinstance(value, list) else [(target, value)]
    numbered = []
    while (name := f"{target}{len(numbered) + 1}") in row:
        numbered.append((name, row[name]))
    return numbered or None


def with_references(row: dict[str, Any], target: str) -> dict[str, Any]:
    """A checked summary row as the run keeps it: the first reference in the target column (what
    training learns from) and, when there are several, all of them under `REFERENCES`."""
    references = [str(value) for _, value in references_of(row, target) or []]
    row = {**row, target: references[0]}
    if len(references) > 1:
        row[REFERENCES] = references
    return row


def _value_problem(value: Any, kind: str) -> tuple[str, str] | None:
    if value is None:
        return "the value is null", "give every row a value, or leave the row out"
    if kind == "label" and isinstance(value, int) and not isinstance(value, bool):
        return None
    if not isinstance(value, str):
        allowed = "a string or an integer" if kind == "label" else "a string"
        return f"the value is a {_kind(value)}, not {allowed}", f"write it as {allowed}"
    if not value.strip():
        return "the value is empty", "give every row a value, or leave the row out"
    return None


def size_problems(splits: dict[str, RowsRead], ensemble: EnsembleConfig | None) -> list[DataProblem]:
    """The stacking ensemble fits its meta-learner in folds over the validation rows, and its
    cross-fitted members hold out folds of the training rows."""
    if ensemble is None or ensemble.strategy not in ("auto", "stacking"):
        return []
    problems = []
    validation, train = splits.get("validation"), splits.get("train")
    if validation is not None and len(validation.rows) < ensemble.folds:
        problems.append(DataProblem(
            validation.path, f"holds {len(validation.rows)} row(s), fewer than the stacking ensemble's "
                              f"{ensemble.folds} folds",
            f"give validation at least {ensemble.folds} rows, lower ensemble.folds, or set ensemble.strategy: none"))
    members_folds = ensemble.cross_fit_members
    if train is not None and members_folds >= 2 and len(train.rows) < 2 * members_folds:
        problems.append(DataProblem(
            train.path, f"holds {len(train.rows)} row(s), too few for ensemble.cross_fit_members {members_folds} "
                        f"(each fold model needs rows to train on and rows to predict)",
            f"give training at least {2 * members_folds} rows, lower ensemble.cross_fit_members, or set it to 0"))
    return problems


def label_problems(splits: dict[str, RowsRead], target: str) -> list[DataProblem]:
    """Training must see more than one class, and every class validation and test hold."""
    train = splits["train"]
    seen = {str(row[target]) for row in train.rows}
    problems = []
    if len(seen) < 2:
        problems.append(DataProblem(train.path, f"every row has the same label ({next(iter(seen))!r})",
                                    "give training examples of at least two classes", column=target))
    for split in ("validation", "test"):
        read = splits.get(split)
        if read is None:
            continue
        unseen: dict[str, list[int]] = {}
        for row, line in zip(read.rows, read.lines, strict=True):
            if (label := str(row[target])) not in seen:
                unseen.setdefault(label, []).append(line)
        if unseen:
            names = ", ".join(repr(label) for label in sorted(unseen)[:SHOWN_LABELS])
            more = f" and {len(unseen) - SHOWN_LABELS} more" if len(unseen) > SHOWN_LABELS else ""
            lines = sorted(line for found in unseen.values() for line in found)
            problems.append(DataProblem(
                read.path, f"label(s) {names}{more} never occur in training", "add training examples of those "
                f"classes, or leave these rows out of {split}", tuple(lines[:3]), len(lines), target, read.unit))
    return problems


def shared_rows(splits: dict[str, RowsRead], column: str) -> list[str]:
    """Inputs that appear in training and in validation or test: leakage worth knowing."""
    train = splits.get("train")
    if train is None:
        return []
    train_inputs = {str(row[column]).strip() for row in train.rows}
    warnings = []
    for split in ("validation", "test"):
        read = splits.get(split)
        if read is None:
            continue
        shared = sum(str(row[column]).strip() in train_inputs for row in read.rows)
        if shared:
            warnings.append(f"{read.path}: {shared} of {len(read.rows)} {split} input(s) also appear in training "
                            f"({train.path}); their scores overstate what the model does on new data")
    return warnings


def long_inputs(splits: dict[str, RowsRead], column: str, source_lengths: dict[str, int]) -> list[str]:
    """Inputs cut at `max_source_length`: counted by words, which no tokenizer makes fewer tokens
    of, so the counts are a floor (the exact number depends on each candidate's tokenizer)."""
    by_length: dict[int, list[str]] = {}
    for name, length in source_lengths.items():
        by_length.setdefault(length, []).append(name)
    warnings = []
    for length, names in sorted(by_length.items()):
        counts = [(split, sum(len(str(row[column]).split()) > length for row in read.rows), len(read.rows))
                  for split, read in splits.items()]
        if any(long for _, long, _ in counts):
            shown = ", ".join(f"{long} of {total} {split}" for split, long, total in counts if long)
            warnings.append(f"at least {shown} inputs have more than {length} words, so more than max_source_length "
                            f"{length} tokens: they are truncated for {', '.join(names)} (raise max_source_length "
                            "to keep more of them)")
    return warnings


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__)


def config_issues(report: DataReport) -> list[ConfigIssue]:
    """The report's problems in the config's error list, each under its split's field."""
    split_of = {read.path: split for split, read in reversed(report.splits.items())}
    return [ConfigIssue(f"data.{split_of.get(p.file, 'train')}", str(p)) for p in report.problems]


def check_configured_data(task: TaskConfig, data: DataConfig, ensemble: EnsembleConfig,
                          source_lengths: dict[str, int] | None = None) -> DataReport:
    """`check_data` on the config's own files (none for the built-in data, which is made right)."""
    files = {split: path for split in SPLITS if (path := getattr(data, split)) is not None}
    if data.builtin is not None or not files:
        return DataReport()
    return check_data(task, files, ensemble=ensemble, source_lengths=source_lengths)
