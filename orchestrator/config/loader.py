"""From a path on the command line to a validated `ExperimentConfig`: find the file, read the YAML,
apply `--set` overrides and `--only`, then validate types and cross-field rules in one pass.

Loading never stops at the first problem: every step gathers its issues, and `validate_raw` raises
one `ConfigError` with pydantic's type errors and the sections' cross-field problems together.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from contract.names import canonical_name, suggestion_text
from contract.settings import TaskConfig
from orchestrator.config.cluster import check_storage_place
from orchestrator.config.data import BuiltinData, DataConfig
from orchestrator.config.errors import ConfigError, ConfigIssue, _issues_from_validation
from orchestrator.config.experiment import ExperimentConfig, semantic_issues
from orchestrator.config.stages import EnsembleConfig


def resolve_config_path(path: str | Path, search_dirs: Iterable[Path] = (Path("configs"),)) -> Path:
    """The config file for `path`, found also when only its name's spelling differs
    (`solar_10.7b.yaml` for `solar-10.7b.yaml`) or when only a name under configs/ is given."""
    path = Path(path)
    if path.is_file():
        return path
    wanted = canonical_name(path.name.removesuffix(".yaml").removesuffix(".yml"))
    dirs = [path.parent] if str(path.parent) not in ("", ".") else []
    dirs += [d for d in search_dirs if d not in dirs]
    known: list[str] = []
    for directory in dirs:
        if not directory.is_dir():
            continue
        for candidate in sorted(directory.glob("*.y*ml")):
            stem = candidate.name.rsplit(".", 1)[0]
            known.append(str(candidate))
            if canonical_name(stem) == wanted:
                return candidate
    hint = suggestion_text(str(path), known)
    raise ConfigError([ConfigIssue("", f"config file {str(path)!r} not found{hint}")])


def parse_overrides(pairs: Iterable[str]) -> list[tuple[list[str], Any]]:
    """`--set a.b=1` pairs as (path, YAML-parsed value)."""
    parsed, issues = [], []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            issues.append(ConfigIssue("--set", f"{pair!r} is not key.path=value"))
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        parsed.append(([p for p in key.strip().split(".") if p], value))
    if issues:
        raise ConfigError(issues)
    return parsed


def _apply_override(raw: dict[str, Any], path: list[str], value: Any) -> ConfigIssue | str | None:
    """Set `value` at `path`; under `models`, a segment may be an index or a candidate's name.
    Returns a problem, or the field path (as issues spell it) of the first key the override added,
    so that validation's word on that key is reported under the `--set` that wrote it."""
    node: Any = raw
    shown, added = "", None
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, list):
            index = _list_index(node, part)
            if index is None:
                names = [str(e.get("name")) for e in node if isinstance(e, dict)]
                return ConfigIssue(
                    "--set " + ".".join(path),
                    f"no list entry {part!r}{suggestion_text(part, names)}; use an index or a name",
                )
            shown += f"[{index % len(node)}]"
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            return ConfigIssue("--set " + ".".join(path), f"{'.'.join(path[:depth])} is not a mapping")
        shown += f".{part}" if shown else part
        if added is None and part not in node:
            added = shown
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})
    return added


def _list_index(node: list[Any], part: str) -> int | None:
    """A list entry by index (negative allowed) or by its `name`, spelled loosely."""
    if part.lstrip("-").isdecimal():
        index = int(part)
        return index if -len(node) <= index < len(node) else None
    for i, entry in enumerate(node):
        if isinstance(entry, dict) and canonical_name(str(entry.get("name", ""))) == canonical_name(part):
            return i
    return None


def load_raw(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue("", f"not valid YAML{where}: {problem}")], str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue("", f"cannot read {path}: {exc}")], str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError([ConfigIssue("", "the file must hold a mapping of sections")], str(path))
    raw.pop("resolved_settings", None)  # a run directory's config.yaml: what each candidate ran with, for people
    return raw


def validate_raw(raw: dict[str, Any], source: str = "", *, read_data: bool = False) -> ExperimentConfig:
    """The config, or one ConfigError with every problem. `read_data`: the data files are read
    and checked too, whenever the sections they depend on are valid, even if others are not."""
    issues = semantic_issues(raw)
    config = None
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        issues += _issues_from_validation(exc, ExperimentConfig)
    if config is not None:
        issues += check_storage_place(config.storage.uri, config.run_dir, config.output_dir)
        merge_issues = merged_settings_issues(config)
        issues += merge_issues
    warnings: list[str] = []
    if read_data:
        merged = config is not None and not merge_issues
        lengths = {c.name: config.settings_for(c).max_source_length for c in config.models} if merged else {}
        data_issues, warnings = _data_check(raw, lengths)
        issues += data_issues
    if issues:
        raise ConfigError(issues, source)
    assert config is not None
    config._data_warnings = warnings
    return config


def merged_settings_issues(config: ExperimentConfig) -> list[ConfigIssue]:
    """What only `defaults` and a candidate's overrides together get wrong (a batch that does not
    split over the candidate's workers), named at the candidate's entry."""
    issues = []
    for i, candidate in enumerate(config.models):
        try:
            settings = config.settings_for(candidate)
        except ValidationError as exc:
            issues += [ConfigIssue(f"models[{i}] ({candidate.name})", str(error["msg"]).removeprefix("Value error, "))
                       for error in exc.errors()]
            continue
        res, where = settings.resources, f"models[{i}] ({candidate.name}).resources"
        if res.strategy == "fsdp":
            if res.processes == 1 and res.gpus != "share":
                issues.append(ConfigIssue(f"{where}.strategy", "fsdp shards the model over several processes: set "
                                                               "workers (or gpus) above 1, or use strategy: ddp"))
            if candidate.quantization:
                issues.append(ConfigIssue(f"{where}.strategy", "a quantized (QLoRA) candidate trains its adapters "
                                                               "with ddp: its 4/8-bit weights are not sharded"))
    return issues


def _data_check(raw: dict[str, Any], source_lengths: dict[str, int]) -> tuple[list[ConfigIssue], list[str]]:
    """The data files' problems and warnings, when `task`, `data` and `ensemble` are valid on their own."""
    from orchestrator.datacheck import check_configured_data, config_issues

    try:
        sections = {name: model.model_validate(raw.get(name) or {}) for name, model in (
            ("task", TaskConfig), ("data", DataConfig), ("ensemble", EnsembleConfig))}
    except ValidationError:  # already among the issues
        return [], []
    data = sections["data"] if raw.get("data") else DataConfig(builtin=BuiltinData())
    report = check_configured_data(sections["task"], data, sections["ensemble"], source_lengths)
    return config_issues(report), report.warnings


def load_config(
    path: str | Path,
    overrides: Iterable[str] = (),
    output_dir: str | None = None,
    only: Iterable[str] | None = None,
    *,
    read_data: bool = False,
) -> ExperimentConfig:
    """Read, override, filter and validate one experiment file (`read_data`: its data files too)."""
    config_path = resolve_config_path(path)
    raw = load_raw(config_path)
    issues: list[ConfigIssue] = []
    added: dict[str, str] = {}  # a key an override added -> that override's path
    for keys, value in parse_overrides(overrides):
        outcome = _apply_override(raw, keys, value)
        if isinstance(outcome, ConfigIssue):
            issues.append(outcome)
        elif outcome is not None:
            added[outcome] = ".".join(keys)
    if output_dir is not None:
        raw["output_dir"] = output_dir
    if only:
        issues += _filter_candidates(raw, list(only))
    try:  # the overrides' problems and the file's, in one list
        config = validate_raw(raw, str(config_path), read_data=read_data and not issues)
    except ConfigError as error:
        found = [_under_override(issue, added) for issue in error.issues]
        raise ConfigError([*issues, *found], str(config_path)) from None
    if issues:
        raise ConfigError(issues, str(config_path))
    config._source_file = str(config_path)
    return config


def _under_override(issue: ConfigIssue, added: dict[str, str]) -> ConfigIssue:
    """An issue about a key that only an override wrote, named by that override."""
    for prefix, override in added.items():
        if issue.path == prefix or issue.path.startswith((prefix + ".", prefix + "[")):
            return ConfigIssue(f"--set {override}", issue.message)
    return issue


def load_run_config(run_dir: Path, overrides: Iterable[str] = ()) -> ExperimentConfig:
    """The config an earlier run saved in its directory, with `overrides` applied."""
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError([ConfigIssue("RUN_DIR", f"{run_dir} holds no config.yaml; is it a run directory?")])
    return load_config(run_dir / "config.yaml", overrides, output_dir=str(run_dir.resolve().parent))


def _filter_candidates(raw: dict[str, Any], only: list[str]) -> list[ConfigIssue]:
    """Keep only the `--only` candidates; a name that matches none is an issue."""
    entries = raw.get("models") if isinstance(raw.get("models"), list) else []
    names = [str(e.get("name")) for e in entries if isinstance(e, dict)]
    wanted = {canonical_name(n) for n in only}
    issues = [
        ConfigIssue("--only", f"no candidate named {n!r}{suggestion_text(n, names)}; known: {', '.join(names)}")
        for n in only
        if canonical_name(n) not in {canonical_name(k) for k in names}
    ]
    raw["models"] = [e for e in entries if isinstance(e, dict) and canonical_name(str(e.get("name"))) in wanted]
    return issues
