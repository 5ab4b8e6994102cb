"""Line-per-event progress for the terminal and for CI logs."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape

from contract.phases import Phase
from orchestrator.data import below_baseline, shown_status
from orchestrator.live import loss_text, progress_text, speed_text
from orchestrator.outcome import stopped_early_text
from orchestrator.report.numbers import fmt_number
from orchestrator.stages import registry

_STATUS_STYLE = {"succeeded": "green", "failed": "red", "timed_out": "red", "skipped": "yellow",
                 "interrupted": "yellow"}


class EventPrinter:
    """Prints each phase change and outcome; heartbeats at most every `heartbeat_s` per candidate.
    A trained candidate that does not beat `baselines` (summary.json's section, set once the run
    knows them) on `metric` is printed as below baseline, with the hint."""

    baselines: dict[str, Any]
    metric: str | None = None

    def __init__(self, console: Console | None = None, heartbeat_s: float = 15.0, quiet: bool = False):
        self.baselines = {}
        self.console = console or Console(highlight=False, soft_wrap=True)
        if not self.console.is_terminal:
            self.console.width = max(self.console.width, 160)  # logs and CI: whole table rows, not ellipses
        self.heartbeat_s = heartbeat_s
        self.quiet = quiet
        self.started = time.monotonic()
        self._last_heartbeat: dict[str, float] = {}
        self._finished: set[str] = set()

    def __call__(self, name: str, kind: str, info: dict[str, Any]) -> None:
        """`name` is `<stage>/<candidate>`."""
        now = time.monotonic()
        if name in self._finished:
            return  # the board's last phase can arrive after the outcome
        if kind == "heartbeat":
            if self.quiet or now - self._last_heartbeat.get(name, 0.0) < self.heartbeat_s:
                return
            self._last_heartbeat[name] = now
            text = _progress_text(info)
        elif kind == "phase":
            if self.quiet:
                return
            text = " ".join(str(info[k]) for k in ("phase", "variant", "split") if info.get(k))
        elif kind in _STATUS_STYLE:
            self._finished.add(name)
            style = _STATUS_STYLE[kind]
            if info.get("resumed"):
                text = f"[{style}]{kind}[/{style}] earlier: complete checkpoint for this config, not retrained"
            elif info.get("phase") == Phase.PREFLIGHT:
                text = f"[{style}]{kind}[/{style}] by preflight"
            elif flag := self._below_baseline(name, kind, info):
                text = f"[yellow]{shown_status(kind, flag)}[/yellow] in {info.get('wall_s', 0):.0f} s: {escape(flag['hint'])}"
            else:
                text = f"[{style}]{kind}[/{style}] in {info.get('wall_s', 0):.0f} s"
                if stopped := stopped_early_text((info.get("details") or {}).get("stopped_early")):
                    text += f": {stopped}"
            if info.get("error"):
                text += f": {escape(info['error'])}"
                if info.get("hint"):
                    text += f"; fix: {escape(info['hint'])}"
                if info.get("log"):
                    text += f" (log: {escape(info['log'])})"
        elif kind == "retrying":
            text = f"[yellow]retrying[/yellow]: {escape(info['reason'])} ({escape(info['why'])})"
        else:
            if self.quiet:
                return
            text = kind
        self.console.print(f"{now - self.started:7.1f}s  {escape(name):<30} {text}")


    def _below_baseline(self, name: str, kind: str, info: dict[str, Any]) -> dict[str, Any] | None:
        if not name.startswith("train/") or kind != "succeeded":
            return None
        return below_baseline((info.get("metrics") or {}).get("validation") or {}, self.baselines, self.metric,
                              steps=(info.get("details") or {}).get("steps"))


def _progress_text(info: dict[str, Any]) -> str:
    """A heartbeat's line: the status table's progress, loss and speed cells, labelled."""
    progress = progress_text(info)
    if "predicted" in info and progress and not progress.startswith("step"):
        progress = f"{info.get('phase', '')} {progress}"
    loss, speed = loss_text(info), speed_text(info)
    return "  ".join(part for part in (progress, loss and f"loss {loss}", speed and f"{speed} ex/s") if part)


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """The end-of-run table: each candidate's outcome and scores, best first."""
    from rich.table import Table

    console = console or Console(highlight=False, soft_wrap=True)
    metric = summary["metric"]
    table = Table(title=f"{summary['experiment']}: {summary['status']} in {summary['wall_s']:.0f} s")
    for column in ("candidate", "family", "status", f"val {metric}", f"test {metric}", "wall s", "reason"):
        table.add_column(column)
    ranked = [row["name"] for row in summary["leaderboard"]]
    names = ranked + [n for n in summary["models"] if n not in ranked]
    for name in names:
        m = summary["models"][name]
        metrics = m.get("metrics") or {}
        status, reason = _status_cells(m)
        table.add_row(
            name, m["family"], status,
            fmt_number(metrics.get("validation", {}).get(metric)), fmt_number(metrics.get("test", {}).get(metric)),
            f"{m['wall_s']:.0f}", reason,
        )
    for name, baseline in (summary.get("baselines") or {}).items():
        table.add_row(
            f"[dim]{escape(name)} baseline[/dim]", "-", f"[dim]{escape(baseline.get('description', ''))}[/dim]",
            fmt_number(baseline.get("validation", {}).get(metric)), fmt_number(baseline.get("test", {}).get(metric)),
            "-", "",
        )
    console.print(table)
    for stage in registry.POST_TRAINING:
        if section := summary.get(stage.name):
            stage.show(section, console)
    console.print(f"run directory: {escape(summary['run_dir'])}")



def _status_cells(model: dict[str, Any]) -> tuple[str, str]:
    """A candidate's status and reason cells; one that finished without beating its task's
    trivial baseline is yellow, with why and what to change."""
    if flag := model.get("below_baseline"):
        return f"[yellow]{shown_status(model['status'], flag)}[/yellow]", f"[yellow]{escape(flag['hint'])}[/yellow]"
    style = _STATUS_STYLE.get(model["status"], "")
    return f"[{style}]{model['status']}[/{style}]", escape(model.get("error") or stopped_early_text(model.get("stopped_early")))


def print_preflight(verdicts: dict[str, Any], console: Console | None = None) -> None:
    """One row per candidate: precision plan, memory estimate, and what failed or warned, with the fix."""
    from rich.table import Table

    console = console or Console(highlight=False, soft_wrap=True)
    table = Table(title="preflight")
    for column in ("candidate", "precision", "memory", "checks", "problems (fixes below)"):
        table.add_column(column)
    lines: list[str] = []
    for candidate, verdict in verdicts.items():
        by_name = {c.name: c for c in verdict.checks}
        precision = by_name.get("precision")
        plan = precision.detail.split(" ")[0] if precision and precision.status == "ok" else "-"
        memory = f"{verdict.estimate_bytes / 2**30:.1f} GiB" if verdict.estimate_bytes else "-"
        passed = sum(c.status == "ok" for c in verdict.checks)
        problems = []
        for check in verdict.checks:
            if check.status != "ok":
                style = "red" if check.status == "fail" else "yellow"
                problems.append(f"[{style}]{check.name}[/{style}] ({'failed' if check.status == 'fail' else 'warning'})")
                fix = f"; fix: {check.fix}" if check.fix else ""
                lines.append(f"[{style}]{escape(candidate)}: {check.name}[/{style}]: {escape(check.detail + fix)}")
        verdict_style = "green" if verdict.ok else "red"
        table.add_row(
            escape(candidate), plan, memory, f"[{verdict_style}]{passed}/{len(verdict.checks)}[/{verdict_style}]",
            "\n".join(problems) or "[green]ready[/green]",
        )
    console.print(table)
    for line in lines:  # whole lines under the table: a narrow terminal never cuts a fix
        console.print(line, soft_wrap=True)
