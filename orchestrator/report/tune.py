"""The learning-rate sweep as people read it: report.md lines, the terminal table, the plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from contract.atomic import read_json_or_warn
from orchestrator.report import markdown as md
from orchestrator.report.numbers import fmt_number

PLOT = "tune/learning_rate.png"  # relative to the run directory


def tune_section(run_dir: Path) -> dict[str, Any] | None:
    """The run's last sweeps (`tune/tune.json`), None when it has none."""
    path = run_dir / "tune" / "tune.json"
    section = read_json_or_warn(path, "the report leaves the sweep out") if path.is_file() else None
    return section if isinstance(section, dict) else None


def fmt_rate(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else "-"


def trial_rows(model: dict[str, Any]) -> list[dict[str, str]]:
    """One row per trial, by learning rate: what it reached and why it ended."""
    best = (model.get("best") or {}).get("trial")
    rows = []
    for t in sorted(model.get("trials", []), key=lambda t: t["learning_rate"]):
        note = t.get("error") or ""
        if t["status"] == "stopped_early":
            note = f"stopped by ASHA after {t['evaluations']} of {model.get('evaluations', '?')} evaluations"
        elif t["status"] == "interrupted":
            note = f"continues from step {t.get('resumes_from_step') or 0}"
        elif t.get("resumed_from_step"):
            note = f"resumed from step {t['resumed_from_step']}"
        rows.append({
            "error": t.get("error") or "",
            "learning_rate": fmt_rate(t["learning_rate"]) + (" (best)" if t["trial"] == best else ""),
            "status": t["status"],
            "evaluations": str(t["evaluations"]),
            "eval_loss": fmt_number(t.get("last_eval_loss")),
            "metric": fmt_number(t.get("validation_metric")),
            "wall_s": f"{t['wall_s']:.0f}" if t.get("wall_s") is not None else "-",
            "note": note,
        })
    return rows


def best_text(name: str, model: dict[str, Any], metric: str) -> str:
    best = model.get("best")
    if best:
        return (f"{md.text(name)}: best learning rate **{fmt_rate(best['learning_rate'])}** "
                f"(validation {metric} {fmt_number(best['validation_metric'])})")
    return f"{md.text(name)}: no best learning rate ({md.text(model.get('reason') or model['status'])})"


def tune_markdown(section: dict[str, Any] | None) -> list[str]:
    """The `tune` section of report.md: per model, every trial and the rate `run` would use."""
    if not section or not section.get("models"):
        return []
    metric = section["metric"]
    lines = [
        "", "## Learning-rate sweep", "",
        f"The best rate is the finished trial with the highest validation {metric}; `run --use-tuned` "
        "(or `learning_rate: tuned`) trains with it.",
    ]
    for name, model in section["models"].items():
        lines += ["", f"### {best_text(name, model, metric)}", ""]
        if not model.get("trials"):
            continue
        lines += [
            f"{model['scheduler']} {model['concurrency']} trial(s) at a time, {model['wall_s']:.0f} s in all.", "",
            f"| learning rate | status | evaluations | last eval loss | val {metric} | wall s | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in trial_rows(model):
            lines.append(f"| {row['learning_rate']} | {row['status']} | {row['evaluations']} | {row['eval_loss']} | "
                         f"{row['metric']} | {row['wall_s']} | {md.text(row['note'])} |")
    if section.get("plot"):
        lines += ["", f"![validation {metric} and eval loss against learning rate]({section['plot']})"]
    return lines


def print_tune(section: dict[str, Any], console: Any) -> None:
    """The end-of-sweep table in the terminal, one block of rows per model."""
    from rich.markup import escape
    from rich.table import Table

    metric = section["metric"]
    styles = {"completed": "green", "stopped_early": "yellow", "failed": "red", "interrupted": "yellow"}
    table = Table(title="learning-rate sweep")
    for column in ("model", "lr", "status", "evals", "eval loss", f"val {metric}", "s", "reason"):
        table.add_column(column, overflow="fold")
    for name, model in section["models"].items():
        rows = trial_rows(model)
        if not rows:
            style = styles.get(model["status"], "red")
            table.add_row(name, "-", f"[{style}]{model['status']}[/{style}]", "-", "-", "-", "-",
                          escape(model.get("reason") or ""))
        for row in rows:
            style = styles.get(row["status"], "")
            table.add_row(name, row["learning_rate"], f"[{style}]{row['status']}[/{style}]", row["evaluations"],
                          row["eval_loss"], row["metric"], row["wall_s"], escape(row["note"]))
        table.add_section()
    console.print(table)
    for name, model in section["models"].items():
        console.print(best_text(name, model, metric).replace("**", ""))


def plot_sweep(section: dict[str, Any], path: Path) -> Path:
    """One column per model, the learning rate on a log axis: the final validation metric of the
    trials that finished (the best one starred), and below it the last eval loss of every trial
    that evaluated. Early-stopped trials are hollow; failed trials are red dotted lines."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    models = {n: m for n, m in section["models"].items() if m.get("trials")}
    metric = section["metric"]
    fig, axes = plt.subplots(2, max(1, len(models)), figsize=(4.2 * max(1, len(models)), 6.0), dpi=110,
                             sharex="col", squeeze=False)
    for column, (name, model) in enumerate(models.items()):
        top, bottom = axes[0][column], axes[1][column]
        trials = model["trials"]
        done = [t for t in trials if t["status"] == "completed" and t.get("validation_metric") is not None]
        stopped = [t for t in trials if t["status"] == "stopped_early"]
        evaluated = [t for t in trials if t.get("last_eval_loss") is not None]
        top.scatter([t["learning_rate"] for t in done], [t["validation_metric"] for t in done], color="tab:blue",
                    label="finished")
        best = model.get("best")
        if best:
            top.scatter([best["learning_rate"]], [best["validation_metric"]], marker="*", s=220, color="tab:orange",
                        zorder=3, label="best")
        for t in evaluated:
            hollow = t["status"] == "stopped_early"
            bottom.scatter([t["learning_rate"]], [t["last_eval_loss"]], color="tab:blue",
                           facecolors="none" if hollow else "tab:blue")
        for t in stopped:
            top.axvline(t["learning_rate"], color="tab:gray", linestyle="--", alpha=0.6)
        top.set_xscale("log")
        top.xaxis.set_minor_formatter(NullFormatter())
        ran = [t["learning_rate"] for t in trials if t["status"] != "failed"]
        if ran:  # whole decades around the rates that ran; a failure far outside (1e30) is drawn at the edge
            top.set_xlim(10 ** math.floor(math.log10(min(ran) / 1.5)), 10 ** math.ceil(math.log10(max(ran) * 1.5)))
        low, high = top.get_xlim()
        for t in trials:
            if t["status"] != "failed":
                continue
            x = min(max(t["learning_rate"], low * 1.2), high / 1.2)
            for ax in (top, bottom):
                ax.axvline(x, color="tab:red", linestyle=":", alpha=0.8)
            if x != t["learning_rate"]:
                top.annotate(f"failed at {fmt_rate(t['learning_rate'])}", (x, 0.03), xycoords=("data", "axes fraction"),
                             rotation=90, fontsize=7, color="tab:red", ha="right", va="bottom")
        top.margins(y=0.2)
        top.set_title(name)
        top.set_ylabel(f"validation {metric}")
        bottom.set_ylabel("last eval loss")
        bottom.set_xlabel("learning rate")
    marks = [
        Line2D([], [], color="tab:blue", marker="o", linestyle="", label="finished"),
        Line2D([], [], color="tab:orange", marker="*", markersize=12, linestyle="", label="best"),
        Line2D([], [], color="tab:blue", marker="o", markerfacecolor="none", linestyle="", label="stopped early"),
        Line2D([], [], color="tab:gray", linestyle="--", label="stopped early (no final metric)"),
        Line2D([], [], color="tab:red", linestyle=":", label="failed"),
    ]
    fig.legend(handles=marks, loc="lower center", ncol=len(marks), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
