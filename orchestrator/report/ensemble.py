"""The ensemble section of report.md and of the terminal summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from orchestrator.report import markdown as md
from orchestrator.report.numbers import fmt_number


def ensemble_markdown(section: dict[str, Any] | None, metric: str) -> list[str]:
    if not section:
        return []
    lines = ["", "## Ensemble", ""]
    if section["status"] != "ok":
        return lines + [f"{section['status']}: {md.text(section['reason'])}"]
    chosen = section.get("chosen", section["strategy"])  # a run from before the choice: its one strategy
    versus_best = section.get("versus_best_single", {})
    lines += [md.text(section["verdict"]), "",
              f"| method | val {metric} | test {metric} | test vs best single (95 % interval) | on test |",
              "|---|---|---|---|---|"]
    methods = [chosen, "best_single", *versus_best, "oracle"]  # no oracle for classification
    for method in dict.fromkeys(m for m in methods if m in section["scores"]):
        scores = section["scores"][method]
        label = {"best_single": f"best single ({md.text(section['best_member'])})",
                 "oracle": "oracle (ceiling: best candidate per input by its true score)"}.get(method, method)
        if method == chosen:
            label = f"**{label}** (chosen)"
        gap = versus_best.get(method, {}).get(metric)
        versus = (f"{gap['difference']:+.2f} ({gap['low']:+.2f} to {gap['high']:+.2f})", gap["verdict"]) if gap else ("", "")
        lines.append(f"| {label} | {fmt_number(scores['validation'].get(metric))} | "
                     f"{fmt_number(scores['test'].get(metric))} | {versus[0]} | {versus[1]} |")
    choice = section.get("choice")
    lines += ["", (f"Chosen on validation by the one-standard-error rule: {md.text(choice['reason'])}. " if choice else "")
              + "Meta-learner scores on validation are out of fold (no row was scored by a meta-learner fitted on it); "
              "the test split was never used for fitting or choosing. Intervals: paired bootstrap over test examples, "
              "seeded; a method is better or worse only when its interval excludes 0."]
    lines += cross_fit_markdown(section.get("cross_fit_members"))
    if section.get("weights"):
        top = sorted(section["weights"].items(), key=lambda kv: -abs(kv[1]))[:8]
        lines += ["", f"{md.text(chosen)} weights (largest): " + ", ".join(f"{md.code(k)} {v:+.3f}" for k, v in top)]
    return lines


def cross_fit_markdown(folds: dict[str, Any] | None) -> list[str]:
    """What the cross-fitted members added to the meta-learner's rows, and which folds could not."""
    if not folds:
        return []
    line = (f"Cross-fitted members: every meta-learner also learnt from {folds['training_rows']} training inputs, "
            f"each predicted by models trained without its fold ({len(folds['used'])} of {folds['folds']} folds used; "
            f"{folds['fold_models_trained']} fold model(s) trained, {folds['fold_models_kept']} kept from an earlier "
            f"run; {fmt_number(folds['wall_s'])} s).")
    lines = ["", line]
    for fold, why in folds.get("left_out", {}).items():
        lines.append(f"- fold {md.text(fold)} left out: {md.text(why)}")
    return lines


def print_ensemble(section: dict[str, Any] | None, console: Console) -> None:
    """The ensemble's verdict line under the end-of-run table, or why it did not run."""
    if not section:
        return
    if section.get("status") == "ok":
        console.print(f"ensemble: {escape(section['verdict'])}")
    else:
        console.print(f"ensemble {section['status']}: {escape(section.get('reason', ''))}")
