"""The `models` section's cross-field checks. The candidate types themselves live in
`contract.settings` (a training actor receives them); these checks also read the preset table
(`contract.sources`)."""

from __future__ import annotations

from typing import Any

from contract.families import FAMILIES
from contract.fields import CLASSIFICATION_METRICS, SUMMARIZATION_METRICS
from contract.names import canonical_name, suggestion_text
from contract.sources import PRESETS, parse_source
from orchestrator.config.errors import ConfigIssue
from orchestrator.config.raw import RawContext, section


def check_models_raw(raw: Any, context: RawContext) -> list[ConfigIssue]:
    """Each entry on its own, and no two names that differ only in case, '-' or '_' (run
    directories and `--only` match names that way)."""
    entries = raw if isinstance(raw, list) else []
    issues: list[ConfigIssue] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        name = entry.get("name")
        if isinstance(name, str):
            key = canonical_name(name)
            if key in seen:
                issues.append(ConfigIssue(
                    f"models[{i}].name",
                    f"{name!r} clashes with models[{seen[key]}] (names are compared ignoring case, "
                    "'-' and '_'); rename one",
                ))
            seen.setdefault(key, i)
        issues += check_candidate_raw(entry, f"models[{i}]", context)
    return issues


def check_candidate_raw(entry: dict[str, Any], where: str, context: RawContext) -> list[ConfigIssue]:
    """The family must do the task and match a scratch preset's; quantization needs adapters."""
    issues = []
    family = canonical_name(str(entry.get("family", "")))
    if context.families and family in FAMILIES and family not in context.families:
        issues.append(ConfigIssue(
            f"{where}.family",
            f"{family!r} cannot do a {context.task_type} task; use one of: {', '.join(context.families)}",
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
            elif family and preset.family != family and family in FAMILIES:
                issues.append(ConfigIssue(
                    f"{where}.family",
                    f"preset {parsed.value!r} is a {preset.family} model; set family: {preset.family}",
                ))
        elif parsed.kind == "hub" and (problem := hub_id_problem(parsed.value)) is not None:
            issues.append(ConfigIssue(f"{where}.source", problem))
        elif parsed.kind == "local" and parsed.value.startswith("~"):
            issues.append(ConfigIssue(f"{where}.source", f"{source!r}: no such user's home directory; give the "
                                                         "full path"))
    if entry.get("quantization") is not None and entry.get("lora") is None:
        issues.append(ConfigIssue(
            f"{where}.quantization",
            "a quantized base model trains only through adapters (QLoRA); add lora: {} "
            "or remove quantization",
        ))
    return issues + early_stopping_issues(entry, where, context)


def check_defaults_raw(raw: Any, context: RawContext) -> list[ConfigIssue]:
    return early_stopping_issues(section(raw), "defaults", context)


def early_stopping_issues(settings: dict[str, Any], where: str, context: RawContext) -> list[ConfigIssue]:
    """Early stopping watches eval_loss or one of the metrics the task reports."""
    stopping = settings.get("early_stopping")
    if not isinstance(stopping, dict) or not context.task_known:
        return []
    metric = stopping.get("metric", "eval_loss")
    allowed = ("eval_loss", *(SUMMARIZATION_METRICS if context.task_type == "summarization" else CLASSIFICATION_METRICS))
    if metric in allowed:
        return []
    return [ConfigIssue(f"{where}.early_stopping.metric",
                        f"{metric!r} is not measured on validation for a {context.task_type} task; use one of: "
                        f"{', '.join(allowed)}{suggestion_text(str(metric), allowed)}")]


def hub_id_problem(repo_id: str) -> str | None:
    """What the Hugging Face Hub would reject in `repo_id` (its own rule, `validate_repo_id`),
    said before any download is tried; None when the id is well formed."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return (f"{repo_id!r} is not a hub model id ({str(exc).split(':')[0]}); write namespace/name, e.g. "
                "upstage/SOLAR-10.7B-Instruct-v1.0, or a local path starting with / or ./")
    return None
