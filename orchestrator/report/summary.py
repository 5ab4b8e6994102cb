"""summary.json (data for later stages and tools), report.md and report.html (for people)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from contract.atomic import write_json, write_text
from contract.redact import redact
from orchestrator.cluster import ClusterInfo
from orchestrator.config import ExperimentConfig
from orchestrator.data import Baseline, baselines_section, below_baseline, shown_status
from orchestrator.outcome import Outcome, stopped_early_text
from orchestrator.report import markdown as md
from orchestrator.report.html import render_html
from orchestrator.report.numbers import fmt_number
from orchestrator.report.serving import serving_markdown
from orchestrator.report.tune import tune_markdown, tune_section
from orchestrator.stages import registry

EXIT_OK, EXIT_NOTHING_USABLE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def build_summary(
    config: ExperimentConfig,
    outcomes: list[Outcome],
    cluster: ClusterInfo,
    run_dir: Path,
    started: float,
    stages: dict[str, dict[str, float]],
    baseline: Baseline | None = None,
    sections: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """summary.json's content from the training outcomes, then each later stage's section by its
    name (`pipeline.run_stages`); a succeeded candidate whose validation score does not beat
    `baseline` gets `below_baseline` (see `below_baseline`)."""
    sections = sections or {}
    succeeded = [o for o in outcomes if o.status == "succeeded"]
    status = "ok" if len(succeeded) == len(outcomes) else ("partial" if succeeded else "failed")
    metric = config.task.resolved_metric()
    baselines = baselines_section(baseline)
    models: dict[str, Any] = {}
    for outcome in outcomes:
        candidate = config.candidate(outcome.name)
        entry = outcome.to_dict()
        details = entry.pop("details") or {}
        entry.update(
            family=candidate.family,
            source=candidate.source,
            precision=details.get("precision"),
            parameters=details.get("parameters"),
            steps=details.get("steps"),
            resumed_from_step=details.get("resumed_from_step"),
            steps_redone=details.get("steps_redone", 0),
            reevaluated=details.get("reevaluated", False),
            truncated_inputs=details.get("truncated_inputs") or {},
            stopped_early=details.get("stopped_early"),
        )
        if outcome.status == "interrupted":
            entry["resumes_from_step"] = details.get("resumes_from_step")  # None: from step 0
        if outcome.status == "succeeded" and (flag := below_baseline(
                outcome.metrics.get("validation") or {}, baselines, metric, steps=details.get("steps"),
                learning_rate=config.settings_for(candidate).learning_rate)):
            entry["below_baseline"] = flag
        models[outcome.name] = entry
    return {
        "experiment": config.experiment,
        "status": with_stages(status, *sections.values()),
        "metric": metric,
        "run_dir": str(run_dir),
        "started": started,
        "wall_s": round(time.time() - started, 2),
        "cluster": {"address": cluster.address, "cpus": cluster.cpus, "gpus": cluster.gpus,
                    "dashboard": cluster.dashboard_url},
        "stages": stages,
        "leaderboard": leaderboard(models, metric),
        "models": models,
        "baselines": baselines,
        "tune": tune_section(run_dir),
        **sections,
    }


def leaderboard(models: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    """Succeeded candidates, best first by the test metric (validation where there is no test)."""
    rows = []
    for name, entry in models.items():
        if entry["status"] != "succeeded":
            continue
        metrics = entry["metrics"]
        split = "test" if metric in metrics.get("test", {}) else "validation"
        rows.append({"name": name, "split": split, metric: metrics.get(split, {}).get(metric)})
    return sorted(rows, key=lambda r: -(r[metric] if r[metric] is not None else float("-inf")))


def with_stages(status: str, *stages: dict[str, Any] | None) -> str:
    """The run's status once the stages after training are in: every candidate trained but a
    stage failed is `partial` (exit 3), like a failed candidate."""
    failed = any(stage and stage.get("status") == "failed" for stage in stages)
    return "partial" if status == "ok" and failed else status


def exit_code(summary: dict[str, Any]) -> int:
    return {"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(summary["status"], EXIT_NOTHING_USABLE)


def write_summary(summary: dict[str, Any], run_dir: Path) -> Path:
    path = run_dir / "summary.json"
    summary = json.loads(redact(json.dumps(summary)))  # a credential quoted in any message stays in memory
    write_json(path, summary)
    markdown = render_markdown(summary)
    write_text(run_dir / "report.md", markdown)
    write_text(run_dir / "report.html", render_html(markdown, run_dir))
    return path


def render_markdown(summary: dict[str, Any]) -> str:
    metric = summary["metric"]
    lines = [
        f"# {md.text(summary['experiment'])}",
        "",
        f"Status: **{summary['status']}** in {summary['wall_s']:.0f} s on "
        f"{summary['cluster']['cpus']:g} CPUs / {summary['cluster']['gpus']:g} GPUs.",
        "",
        *([f"Interrupted: what finished is kept; resume with {md.code(summary['resume'])}.", ""]
          if summary.get("resume") else []),
        "## Candidates",
        "",
        f"| model | family | status | val {metric} | test {metric} | train loss | params (trainable) | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in summary["models"].items():
        metrics = m.get("metrics") or {}
        params = m.get("parameters") or {}
        status = shown_status(m["status"], m.get("below_baseline"))
        lines.append(
            f"| {md.text(name)} | {m['family']} | {status} | {fmt_number(metrics.get('validation', {}).get(metric))} | "
            f"{fmt_number(metrics.get('test', {}).get(metric))} | {fmt_number(metrics.get('train_loss'))} | "
            f"{_params(params)} | {m['wall_s']:.0f} |"
        )
    for name, baseline in (summary.get("baselines") or {}).items():
        lines.append(
            f"| *{md.text(name)} baseline ({md.text(baseline.get('description', ''))})* | - | - | "
            f"{fmt_number(baseline.get('validation', {}).get(metric))} | "
            f"{fmt_number(baseline.get('test', {}).get(metric))} | - | - | - |"
        )
    below = [(n, m["below_baseline"]) for n, m in summary["models"].items() if m.get("below_baseline")]
    if below:
        lines += ["", "Below baseline: finished, but no better on validation than the trivial baseline, so "
                  "the model likely learned nothing useful:", ""]
        lines += [f"- **{md.text(n)}**: {md.text(flag['hint'])}" for n, flag in below]
    resumed = [(n, m) for n, m in summary["models"].items() if m.get("resumed_from_step")]
    if resumed:
        lines += ["", "Resumed from a checkpoint: " + ", ".join(
            f"{md.text(n)} at step {m['resumed_from_step']} ({m.get('steps_redone', 0)} step(s) trained again)"
            for n, m in resumed) + "."]
    truncated = [(n, m) for n, m in summary["models"].items() if any((m.get("truncated_inputs") or {}).values())]
    if truncated:
        lines += ["", "Inputs longer than max_source_length, cut for the model (counted with each candidate's own "
                  "tokenizer): " + "; ".join(md.text(n) + " " + ", ".join(
                      f"{count} {split}" for split, count in m["truncated_inputs"].items() if count)
                      for n, m in truncated) + "."]
    stopped = [(n, m["stopped_early"]) for n, m in summary["models"].items() if m.get("stopped_early")]
    if stopped:
        lines += ["", "Early stopping: " + "; ".join(f"{md.text(n)} {stopped_early_text(s)}" for n, s in stopped) + "."]
    reevaluated = [n for n, m in summary["models"].items() if m.get("reevaluated")]
    if reevaluated:
        lines += ["", "Kept an earlier checkpoint and evaluated it again (only evaluation settings or the test "
                  "split changed): " + ", ".join(map(md.text, reevaluated)) + "."]
    lines += tune_markdown(summary.get("tune"))
    for stage in registry.POST_TRAINING:
        if section := summary.get(stage.name):
            lines += stage.markdown(section, summary)
    lines += serving_markdown(summary.get("serving"))
    failures = [(n, m) for n, m in summary["models"].items() if m["status"] != "succeeded"]
    if failures:
        lines += ["", "## Failures", ""]
        for name, m in failures:
            lines.append(f"- **{md.text(name)}** ({m['status']} in phase {m['phase']}): {md.text(m['error'])}"
                         + (f"; resumes from step {m['resumes_from_step']}" if m.get("resumes_from_step") else ""))
            if m.get("hint"):
                lines.append(f"  - fix: {md.text(m['hint'])}")
            if m.get("log"):
                lines.append(f"  - log: {md.code(m['log'])}")
    return "\n".join(lines) + "\n"


def _params(params: dict[str, int]) -> str:
    if not params:
        return "-"
    share = 100 * params["trainable"] / max(params["total"], 1)
    return f"{params['total'] / 1e6:.2f}M ({share:.0f}%)"
