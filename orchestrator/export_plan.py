"""What `export` writes, decided before anything is written: which candidate (`--model`, or the
best on validation), which variant (fp32, or an INT8 one the optimize stage made) and where, each
refused with what to do instead (`ExportError`). The card (`orchestrator.model_card`) and the
writing (`orchestrator.export`) both read the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.atomic import read_json
from orchestrator.config import ExperimentConfig, load_config


class ExportError(Exception):
    """What cannot be exported, and what to do instead."""


@dataclass(frozen=True)
class ExportPlan:
    run_dir: Path
    name: str
    variant: str  # fp32, or an INT8 backend the optimize stage wrote
    out_dir: Path
    config: ExperimentConfig
    summary: dict[str, Any]

    @property
    def model(self) -> dict[str, Any]:
        return dict(self.summary["models"][self.name])

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / "models" / self.name / "checkpoint"


def plan_export(run_dir: Path, name: str | None = None, variant: str = "fp32", out: Path | None = None) -> ExportPlan:
    """Which candidate (`name`, or the best on validation: the ensemble's best single member, else
    the highest validation score), which variant, and where; ExportError when the run has none."""
    run_dir = Path(run_dir).resolve()
    summary = read_json(run_dir / "summary.json")
    if not isinstance(summary, dict) or "models" not in summary:
        raise ExportError(f"{run_dir} has no readable summary.json: give a run directory written by `run`")
    config = load_config(run_dir / "config.yaml")
    finished = [n for n, m in summary["models"].items() if m.get("status") == "succeeded"]
    if name is None:
        name = best_on_validation(summary, finished)
    elif name not in summary["models"]:
        raise ExportError(f"{name!r} is not a candidate of this run; its candidates: {', '.join(summary['models'])}")
    elif name not in finished:
        raise ExportError(f"{name} did not finish ({summary['models'][name].get('status')}): nothing to export; "
                          f"finished: {', '.join(finished) or 'none'}")
    if variant != "fp32" and variant not in made_variants(summary, name):
        made = ", ".join(["fp32", *made_variants(summary, name)])
        raise ExportError(f"{name} has no {variant!r} variant; it has: {made} (the optimize stage makes INT8 ones)")
    default = run_dir / "export" / (name if variant == "fp32" else f"{name}-{variant}")
    return ExportPlan(run_dir, name, variant, Path(out or default).resolve(), config, summary)


def best_on_validation(summary: dict[str, Any], finished: list[str]) -> str:
    """The member the ensemble chose as best single model on validation, else the finished
    candidate with the best validation score; never one picked on test."""
    if not finished:
        raise ExportError("no candidate of this run finished: nothing to export")
    ensemble = summary.get("ensemble") or {}
    if ensemble.get("best_member") in finished:
        return str(ensemble["best_member"])
    metric = summary.get("metric")
    return max(finished, key=lambda n: (summary["models"][n].get("metrics") or {}).get("validation", {}).get(metric, -1))


def made_variants(summary: dict[str, Any], name: str) -> dict[str, Any]:
    """The INT8 variants the optimize stage made of `name` and recorded as ok: backend -> its record."""
    optimized = ((summary.get("optimize") or {}).get("models") or {}).get(name) or {}
    return {v: d for v, d in (optimized.get("variants") or {}).items()
            if v != "fp32" and isinstance(d, dict) and d.get("status") == "ok" and d.get("path")}
