"""The experiment schema: one YAML file describes data, cluster, candidates and later stages.

Loading never stops at the first problem: type errors (pydantic) and cross-field problems
(`_semantic_issues`) are gathered into one `ConfigError` whose issues each name the field path,
the bad value, what is allowed and how to fix it. The CLI prints them all and exits with 2.
"""

from __future__ import annotations

import copy
import hashlib
import json
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

from contract.names import canonical_name, did_you_mean, suggestion_text

# --------------------------------------------------------------------------- value types


def _choice(*allowed: str) -> Any:
    """A string field matched case-, hyphen- and underscore-insensitively against `allowed`."""

    def match(value: Any) -> Any:
        if value is None:
            return None  # optional fields; a required one still fails on its type
        if isinstance(value, str):
            for option in allowed:
                if canonical_name(option) == canonical_name(value):
                    return option
        raise PydanticCustomError(
            "choice",
            "{value} is not allowed; use one of: {allowed}{hint}",
            {
                "value": repr(value),
                "allowed": ", ".join(allowed),
                "hint": suggestion_text(str(value), allowed),
            },
        )

    return Annotated[Literal[allowed], BeforeValidator(match)]  # type: ignore[valid-type]


def _auto_or_number(value: Any) -> Any:
    """'auto' becomes None (decided at run time); anything else must be a number."""
    if isinstance(value, str) and canonical_name(value) == "auto":
        return None
    return value


AutoFloat = Annotated[float | None, BeforeValidator(_auto_or_number)]


def _rate_or_tuned(value: Any) -> Any:
    """A learning rate: a number > 0, or 'tuned' (the best rate of the last `tune` sweep, put in
    its place before anything trains)."""
    if value is None:
        return None  # per-candidate overrides are optional
    if isinstance(value, str):
        if canonical_name(value) == "tuned":
            return "tuned"
        try:
            value = float(value)  # YAML reads 1e-3 (no dot) as a string
        except ValueError:
            raise PydanticCustomError(
                "choice",
                "{value} is not a learning rate; use a number greater than 0, or tuned (the best rate of the "
                "last `tune` sweep){hint}",
                {"value": repr(value), "hint": suggestion_text(value, ["tuned"])},
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise PydanticCustomError(
            "choice", "{value} is invalid: use a number greater than 0, or tuned", {"value": repr(value)}
        )
    return float(value)


LearningRate = Annotated[float | Literal["tuned"], BeforeValidator(_rate_or_tuned)]

Precision = _choice("auto", "fp32", "fp16", "bf16")
Family = _choice("seq2seq", "causal", "classifier")
TaskType = _choice("summarization", "classification")
Language = _choice("ko", "en")
Quantization = _choice("4bit", "8bit")
SUMMARIZATION_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
CLASSIFICATION_METRICS = ("accuracy", "macro_f1")
TASK_FAMILIES = {"summarization": ("seq2seq", "causal"), "classification": ("classifier",)}


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


# --------------------------------------------------------------------------- sections


class TaskConfig(Strict):
    type: TaskType = "summarization"
    language: Language = Field("ko", description="Decides how ROUGE tokenises text.")
    input_column: str | None = Field(None, description="Default: dialogue (summarization), text.")
    target_column: str | None = Field(None, description="Default: summary (summarization), label.")
    metric: str | None = Field(None, description="Default: rougeL, or accuracy.")
    prompt: str | None = Field(
        None, description="Causal models: template with {input}; default per language."
    )

    def resolved_input_column(self) -> str:
        return self.input_column or ("dialogue" if self.type == "summarization" else "text")

    def resolved_target_column(self) -> str:
        return self.target_column or ("summary" if self.type == "summarization" else "label")

    def resolved_metric(self) -> str:
        return self.metric or ("rougeL" if self.type == "summarization" else "accuracy")


class BuiltinData(Strict):
    language: Language | None = Field(None, description="Default: the task's language.")
    train_size: int = Field(1200, gt=0)
    validation_size: int = Field(150, ge=0)
    test_size: int = Field(150, ge=0)
    seed: int = 0


class DataConfig(Strict):
    builtin: BuiltinData | None = None
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    max_train_samples: int | None = Field(None, gt=0)
    max_eval_samples: int | None = Field(None, gt=0)


class RayConfig(Strict):
    address: str | None = Field(
        None, description="None starts a private local cluster; 'auto' or 'ray://host:port'."
    )
    dashboard: bool = True
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(8265, gt=0, lt=65536)
    num_cpus: float | None = Field(None, gt=0, description="Local cluster only.")
    num_gpus: float | None = Field(None, ge=0, description="Local cluster only.")
    object_store_memory_mb: int | None = Field(None, gt=0)


class Resources(Strict):
    cpus: float = Field(1.0, gt=0)
    gpus: AutoFloat = Field(None, ge=0, description="'auto': 1 where the cluster has GPUs, else 0.")
    memory_gb: float | None = Field(
        None, gt=0, description="Host memory the actor may allocate; enforced, and used for scheduling."
    )


class Timeouts(Strict):
    """Seconds; each limit names itself when it fires."""

    load: float = Field(600, gt=0, description="From the actor's launch until the model is loaded.")
    first_step: float = Field(600, gt=0)
    total: float = Field(4 * 3600, gt=0)
    stall: float = Field(300, gt=0)


class LoraConfig(Strict):
    r: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["auto"] = "auto"


class GenerationConfig(Strict):
    max_new_tokens: int = Field(64, gt=0)
    num_beams: int = Field(1, gt=0)


class TrainingSettings(Strict):
    """What every candidate inherits from `defaults` and may override in its own entry."""

    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="Overrides epochs when set.")
    learning_rate: LearningRate = Field(
        5e-4, description="A number, or tuned: the best rate of the last `tune` sweep (<run dir>/tune/tune.json)."
    )
    batch_size: int = Field(16, gt=0)
    eval_batch_size: int = Field(32, gt=0)
    gradient_accumulation: int = Field(1, gt=0)
    max_source_length: int = Field(256, gt=0)
    max_target_length: int = Field(64, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    precision: Precision = "auto"
    seed: int = 42
    logging_steps: int = Field(10, gt=0)
    generation: GenerationConfig = GenerationConfig()
    resources: Resources = Resources()
    timeouts: Timeouts = Timeouts()
    max_retries: int = Field(1, ge=0, description="Retries after a crash (out of memory has its own rule).")
    max_nonfinite_steps: int = Field(
        5, ge=0, description="Steps with a NaN/inf loss skipped before the candidate fails."
    )


class CandidateBase(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=80)
    source: str = Field(description="scratch:<preset>, a local save_pretrained directory, or a hub id.")
    family: Family
    lora: LoraConfig | None = None
    quantization: Quantization | None = Field(None, description="QLoRA: needs lora.")
    trust_remote_code: bool = False


def _optional(field: Any) -> Any:
    """The field's type with its validators and bounds kept, and None allowed."""
    if not field.metadata:
        return field.annotation | None
    return Annotated[(field.annotation | None, *field.metadata)]  # type: ignore[misc]


# Per-candidate overrides: every training setting, optional, checked with the same types.
CandidateConfig = create_model(
    "CandidateConfig",
    __base__=CandidateBase,
    **{
        name: (_optional(field), None)
        for name, field in TrainingSettings.model_fields.items()
    },
)


class EnsembleConfig(Strict):
    strategy: _choice("none", "mbr", "stacking", "average") = "stacking"
    min_models: int = Field(2, ge=1)
    meta_learner: _choice("linear", "gradient_boosting") = Field(
        "linear", description="linear: logistic regression (classification) or ridge (summarization)."
    )
    folds: int = Field(5, ge=2)
    num_candidates: int = Field(4, ge=1, description="Summaries each model proposes per input.")
    num_beams: int = Field(4, ge=1)


class OptimizeConfig(Strict):
    enabled: bool = True
    backends: list[_choice("torch_dynamic", "onnxruntime", "bitsandbytes")] = [
        "torch_dynamic",
        "onnxruntime",
    ]
    models: list[str] | None = None
    batch_sizes: list[Annotated[int, Field(gt=0)]] | Literal["auto"] = "auto"
    max_batch_size: int = Field(64, gt=0)
    warmup: int = Field(1, ge=0)
    repeats: int = Field(3, ge=1)
    point_timeout_s: float = Field(60, gt=0)
    max_quality_drop: float = Field(1.0, ge=0, description="Metric points (e.g. ROUGE-L x100).")
    memory_budget_mb: float | None = Field(None, gt=0)
    latency_slo_ms: float | None = Field(None, gt=0)


class LearningRateSpace(Strict):
    min: float | None = Field(None, gt=0)
    max: float | None = Field(None, gt=0)
    values: list[Annotated[float, Field(gt=0)]] | None = None


class TuneConfig(Strict):
    learning_rate: LearningRateSpace = LearningRateSpace(min=1e-5, max=1e-2)
    samples: int = Field(4, ge=1, description="Draws from a min/max range; a list of values is tried whole.")
    scheduler: _choice("asha", "none") = "asha"
    max_concurrent: int | None = Field(None, ge=1, description="Default: as many trials as the cluster fits.")
    grace_period: int = Field(1, ge=1, description="Evaluations (epochs) every trial gets before ASHA may stop it.")
    reduction_factor: int = Field(2, ge=2, description="ASHA keeps the best 1/reduction_factor at each rung.")
    models: list[str] | None = None


def _uri_shorthand(value: Any) -> Any:
    return {"uri": value} if isinstance(value, str) else value


class StorageConfig(Strict):
    """`storage: s3://bucket/experiments` is short for `storage: {uri: s3://bucket/experiments}`."""

    uri: str | None = Field(
        None, description="Where stages hand artefacts to each other: a path every node sees, or a URI pyarrow "
                          "opens (s3://, gs://, hdfs://). None: the run directory itself (one machine, or NFS).",
    )
    scratch_dir: str | None = Field(None, description="Node-local working copies; default: each node's temp dir.")


class ExperimentConfig(Strict):
    experiment: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=80)
    output_dir: str = "runs"
    task: TaskConfig = TaskConfig()
    data: DataConfig = DataConfig(builtin=BuiltinData())
    ray: RayConfig = RayConfig()
    defaults: TrainingSettings = TrainingSettings()
    models: list[CandidateConfig] = Field(min_length=1)  # type: ignore[valid-type]
    ensemble: EnsembleConfig = EnsembleConfig()
    optimize: OptimizeConfig = OptimizeConfig()
    tune: TuneConfig = TuneConfig()
    storage: Annotated[StorageConfig, BeforeValidator(_uri_shorthand)] = StorageConfig()
    _source_file: str = PrivateAttr("")

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.experiment

    @property
    def source_file(self) -> str:
        """The file this config was loaded from, for messages that give a command to run."""
        return self._source_file or "<config>"

    def settings_for(self, candidate: Any) -> TrainingSettings:
        """The candidate's training settings: `defaults`, deep-merged with its own overrides."""
        overrides = candidate.model_dump(
            exclude_unset=True, exclude_none=True, include=set(TrainingSettings.model_fields)
        )
        merged = _deep_merge(self.defaults.model_dump(), overrides)
        return TrainingSettings.model_validate(merged)

    def candidate(self, name: str) -> Any:
        for c in self.models:
            if canonical_name(c.name) == canonical_name(name):
                return c
        raise KeyError(name)

    def fingerprint(self, candidate: Any) -> str:
        """Hash of everything that decides a candidate's checkpoint (for resume)."""
        payload = {
            "task": self.task.model_dump(),
            "data": self.data.model_dump(),
            "candidate": candidate.model_dump(exclude=set(TrainingSettings.model_fields)),
            "settings": self.settings_for(candidate).model_dump(exclude={"timeouts", "max_retries"}),
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# --------------------------------------------------------------------------- errors


class ConfigIssue(typing.NamedTuple):
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """Every problem found in one config, each with its field path and fix."""

    def __init__(self, issues: Iterable[ConfigIssue], source: str = ""):
        self.issues = sorted(set(issues), key=lambda i: _path_sort_key(i.path))
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        lines = [f"{len(self.issues)} problem(s){where}:"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)


def _path_sort_key(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in path.replace("[", ".").replace("]", "").split(".")]


def _format_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation can hold (through Optional, list, Annotated, unions)."""
    origin = typing.get_origin(annotation)
    if origin is None:
        return [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    return [m for arg in typing.get_args(annotation) for m in _unwrap(arg)]


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Field names allowed at `loc` in the schema, for 'did you mean' on unknown keys."""
    models: list[type[BaseModel]] = [ExperimentConfig]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for model in models:
            field = model.model_fields.get(part)
            if field is not None:
                nxt += _unwrap(field.annotation)
        models = nxt
    return sorted({name for model in models for name in model.model_fields})


def _issues_from_validation(error: ValidationError) -> list[ConfigIssue]:
    issues = []
    for err in error.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        path = _format_path(loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            allowed = _fields_at(loc[:-1])
            hint = suggestion_text(str(loc[-1]), allowed)
            message = f"unknown key{hint}; allowed here: {', '.join(allowed)}"
        elif kind == "missing":
            message = "is required but missing; add it"
        elif kind == "choice":
            message = err["msg"]
        else:
            value = err.get("input")
            shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
            message = f"{shown} is invalid: {err['msg'].lower()}"
        issues.append(ConfigIssue(path, message))
    return issues


# --------------------------------------------------------------------------- cross-field checks


def _semantic_issues(raw: dict[str, Any]) -> list[ConfigIssue]:
    """Problems between fields, read defensively from the raw dict so they show up next to type
    errors instead of after them."""
    from models.registry import PRESETS, parse_source  # light: no torch import

    issues: list[ConfigIssue] = []
    task = raw.get("task") if isinstance(raw.get("task"), dict) else {}
    task_type = canonical_name(str(task.get("type", "summarization")))
    families = TASK_FAMILIES.get(task_type, ())
    metric = task.get("metric")
    allowed_metrics = SUMMARIZATION_METRICS if task_type == "summarization" else CLASSIFICATION_METRICS
    if metric is not None and task_type in TASK_FAMILIES and metric not in allowed_metrics:
        issues.append(ConfigIssue(
            "task.metric",
            f"{metric!r} does not fit a {task_type} task; use one of: "
            f"{', '.join(allowed_metrics)}{suggestion_text(str(metric), allowed_metrics)}",
        ))

    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    if data.get("builtin") is not None and data.get("train") is not None:
        issues.append(ConfigIssue("data", "set either data.builtin or data.train, not both"))
    if "data" in raw and data.get("builtin") is None and data.get("train") is None:
        issues.append(ConfigIssue(
            "data.train", "no training data; give data.train (CSV or JSONL) or data.builtin: {}"
        ))
    for split in ("train", "validation", "test"):
        value = data.get(split)
        if isinstance(value, str) and Path(value).suffix.lower() not in (".csv", ".jsonl", ".json"):
            issues.append(ConfigIssue(f"data.{split}", f"{value!r}: use a .csv or .jsonl file"))

    ensemble = raw.get("ensemble") if isinstance(raw.get("ensemble"), dict) else {}
    strategy = canonical_name(str(ensemble.get("strategy", "stacking")))
    only_for = {"mbr": "summarization", "average": "classification"}
    if strategy in only_for and task_type in TASK_FAMILIES and only_for[strategy] != task_type:
        issues.append(ConfigIssue(
            "ensemble.strategy",
            f"{strategy!r} is for {only_for[strategy]} tasks; use stacking or none "
            f"(or {'mbr' if task_type == 'summarization' else 'average'}) for {task_type}",
        ))

    tune = raw.get("tune") if isinstance(raw.get("tune"), dict) else {}
    space = tune.get("learning_rate")
    if isinstance(space, dict):
        has_range = space.get("min") is not None or space.get("max") is not None
        if has_range == (space.get("values") is not None):
            issues.append(ConfigIssue(
                "tune.learning_rate", "give either min and max (log-uniform) or values, not both"
            ))
        elif has_range:
            low, high = _number_or_none(space.get("min")), _number_or_none(space.get("max"))
            if low is None or high is None or not low < high:
                issues.append(ConfigIssue("tune.learning_rate", "needs numbers min < max"))

    candidates = raw.get("models") if isinstance(raw.get("models"), list) else []
    seen: dict[str, int] = {}
    for i, entry in enumerate(candidates):
        if not isinstance(entry, dict):
            continue
        where = f"models[{i}]"
        name = entry.get("name")
        if isinstance(name, str):
            key = canonical_name(name)
            if key in seen:
                issues.append(ConfigIssue(
                    f"{where}.name",
                    f"{name!r} clashes with models[{seen[key]}] (names are compared ignoring case, "
                    "'-' and '_'); rename one",
                ))
            seen.setdefault(key, i)
        family = canonical_name(str(entry.get("family", "")))
        if families and family in ("seq2seq", "causal", "classifier") and family not in families:
            issues.append(ConfigIssue(
                f"{where}.family",
                f"{family!r} cannot do a {task_type} task; use one of: {', '.join(families)}",
            ))
        source = entry.get("source")
        if isinstance(source, str):
            parsed = parse_source(source)
            if parsed.kind == "scratch":
                preset = PRESETS.get_or_none(parsed.value)
                if preset is None:
                    issues.append(ConfigIssue(
                        f"{where}.source",
                        f"unknown preset {parsed.value!r}{suggestion_text(parsed.value, PRESETS.names())}; "
                        f"known: {', '.join(PRESETS.names())}",
                    ))
                elif family and preset.family != family and family in ("seq2seq", "causal", "classifier"):
                    issues.append(ConfigIssue(
                        f"{where}.family",
                        f"preset {parsed.value!r} is a {preset.family} model; set family: {preset.family}",
                    ))
        if entry.get("quantization") is not None and entry.get("lora") is None:
            issues.append(ConfigIssue(
                f"{where}.quantization",
                "a quantized base model trains only through adapters (QLoRA); add lora: {} "
                "or remove quantization",
            ))

    storage = _uri_shorthand(raw.get("storage"))
    if isinstance(storage, dict) and isinstance(storage.get("uri"), str):
        from orchestrator.storage import storage_problem

        if (problem := storage_problem(storage["uri"])) is not None:
            issues.append(ConfigIssue(
                "storage.uri",
                f"{storage['uri']!r}: {problem}",
            ))

    names = [c.get("name") for c in candidates if isinstance(c, dict) and isinstance(c.get("name"), str)]
    for section in ("optimize", "tune"):
        block = raw.get(section)
        if isinstance(block, dict) and isinstance(block.get("models"), list):
            for j, name in enumerate(block["models"]):
                if canonical_name(str(name)) not in {canonical_name(n) for n in names}:
                    issues.append(ConfigIssue(
                        f"{section}.models[{j}]",
                        f"no candidate named {name!r}{suggestion_text(str(name), names)}",
                    ))
    return issues


def _number_or_none(value: Any) -> float | None:
    """A number as pydantic will read it (YAML reads 1e-3, without a dot, as a string)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- loading


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


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


def _apply_override(raw: dict[str, Any], path: list[str], value: Any) -> ConfigIssue | None:
    """Set `value` at `path`; under `models`, a segment may be an index or a candidate's name."""
    node: Any = raw
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
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            return ConfigIssue("--set " + ".".join(path), f"{'.'.join(path[:depth])} is not a mapping")
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})
    return None


def _list_index(node: list[Any], part: str) -> int | None:
    if part.lstrip("-").isdigit():
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


def validate_raw(raw: dict[str, Any], source: str = "") -> ExperimentConfig:
    issues = _semantic_issues(raw)
    config = None
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        issues += _issues_from_validation(exc)
    if issues:
        raise ConfigError(issues, source)
    assert config is not None
    return config


def load_config(
    path: str | Path,
    overrides: Iterable[str] = (),
    output_dir: str | None = None,
    only: Iterable[str] | None = None,
) -> ExperimentConfig:
    """Read, override, filter and validate one experiment file."""
    config_path = resolve_config_path(path)
    raw = load_raw(config_path)
    issues = [
        issue
        for keys, value in parse_overrides(overrides)
        if (issue := _apply_override(raw, keys, value)) is not None
    ]
    if output_dir is not None:
        raw["output_dir"] = output_dir
    if only:
        issues += _filter_candidates(raw, list(only))
    if issues:
        raise ConfigError(issues, str(config_path))
    config = validate_raw(raw, str(config_path))
    config._source_file = str(config_path)
    return config


def load_run_config(run_dir: Path, overrides: Iterable[str] = ()) -> ExperimentConfig:
    """The config an earlier run saved in its directory, with `overrides` applied."""
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError([ConfigIssue("RUN_DIR", f"{run_dir} holds no config.yaml; is it a run directory?")])
    return load_config(run_dir / "config.yaml", overrides, output_dir=str(run_dir.resolve().parent))


def _filter_candidates(raw: dict[str, Any], only: list[str]) -> list[ConfigIssue]:
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


__all__ = [
    "CandidateConfig",
    "ConfigError",
    "ConfigIssue",
    "ExperimentConfig",
    "TrainingSettings",
    "did_you_mean",
    "load_config",
    "validate_raw",
]
