"""The status table: every candidate in every stage, from `status.json`.

The supervisor rewrites `<run_dir>/status.json` every poll; this module turns it into one rich
table (phase, progress, loss, examples/s, elapsed, ETA, outcome and reason). `run` shows it live
on a terminal, and `python -m orchestrator status RUN_DIR` prints it from any process, during or
after the run, so the two always agree.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from contract.phases import Phase
from orchestrator.data import below_baseline, shown_status
from orchestrator.outcome import stopped_early_text

_OUTCOME_STYLE = {"succeeded": "green", "failed": "red", "timed_out": "red", "skipped": "yellow"}


def read_status(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not written yet, or caught mid-replace on an odd filesystem
        return None


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}"


def progress_text(state: dict[str, Any]) -> str:
    phase = state.get("phase")
    if state.get("detail") and phase not in (Phase.TRAINING, Phase.FIRST_STEP):
        return str(state["detail"])
    if "predicted" in state and phase not in (Phase.TRAINING, Phase.FIRST_STEP, Phase.EVALUATING, Phase.SAVING):
        where = " ".join(str(state[k]) for k in ("variant", "split") if state.get(k))
        return f"{where} {state['predicted']}/{state.get('to_predict', '?')}".strip()
    if "step" in state:
        resumed, workers = state.get("resumed_from_step"), state.get("workers")
        return (f"step {state['step']}/{state.get('total_steps', '?')}" + (f" on {workers} workers" if workers else "")
                + (f" (resumed at {resumed})" if resumed else ""))
    return ""


def eta(state: dict[str, Any], now: float) -> float | None:
    """Training time left at the pace so far; None outside training."""
    step, total, since = state.get("step"), state.get("total_steps"), state.get("training_since")
    done = (step or 0) - (state.get("resumed_from_step") or 0)  # steps this attempt trained
    if state.get("phase") != Phase.TRAINING or done <= 0 or not total or since is None:
        return None
    return (now - since) / done * (total - step)


def status_rows(status: dict[str, Any], now: float) -> Iterator[list[str]]:
    """One row per candidate and stage: finished ones with their outcome, then running, queued."""
    for stage, section in status.get("stages", {}).items():
        live = section.get("live", {})
        for name, outcome in section.get("finished", {}).items():
            style = _OUTCOME_STYLE.get(outcome["status"], "")
            state = live.get(name, {})
            reason = outcome.get("error") or ("resumed: checkpoint kept" if outcome.get("resumed") else
                                              stopped_early_text((outcome.get("details") or {}).get("stopped_early")))
            shown = outcome["status"]
            if flag := _below_baseline(stage, outcome, status):
                style, shown, reason = "yellow", shown_status(shown, flag), flag["hint"]
            yield [name, stage, f"[{style}]{shown}[/{style}]", outcome.get("phase", ""),
                   progress_text(state), loss_text(state), speed_text(state), duration(outcome.get("wall_s")), "",
                   f"[{style}]{escape(reason)}[/{style}]" if reason else ""]
        for name, running in section.get("running", {}).items():
            state = live.get(name, {})
            attempt = f" (attempt {running['attempt']})" if running.get("attempt", 1) > 1 else ""
            yield [name, stage, "[cyan]running[/cyan]" + attempt, state.get("phase", "starting"),
                   progress_text(state), loss_text(state), speed_text(state), duration(now - running["launched"]),
                   duration(eta(state, now)), ""]
        for name in section.get("queued", []):
            yield [name, stage, "[dim]queued[/dim]", "", "", "", "", "", "", ""]


def _below_baseline(stage: str, outcome: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
    """A trained candidate's validation score against the baseline the run put in status.json
    before training (`status.write_baselines`); None for a run without one, and in later stages,
    which score other things."""
    if stage != "train" or outcome["status"] != "succeeded":
        return None
    return below_baseline((outcome.get("metrics") or {}).get("validation") or {}, status.get("baselines") or {},
                          status.get("metric"), steps=(outcome.get("details") or {}).get("steps"))


def status_table(status: dict[str, Any] | None, now: float | None = None) -> Table:
    now = time.time() if now is None else now
    updated = f", updated {duration(now - status['updated'])} ago" if status and "updated" in status else ""
    table = Table(title=f"status{updated}", title_justify="left")
    for column in ("candidate", "stage", "status", "phase", "progress", "loss", "ex/s", "elapsed", "ETA", "reason"):
        table.add_column(column, overflow="fold" if column == "reason" else "ellipsis",
                         no_wrap=column != "reason")
    for row in status_rows(status or {}, now):
        table.add_row(*row)
    return table


@contextmanager
def live_status(run_dir: Path, console: Console, refresh_per_second: float = 2.0) -> Iterator[None]:
    """Redraw the status table from `status.json` while the block runs; lines printed to
    `console` meanwhile appear above it."""
    with Live(get_renderable=lambda: status_table(read_status(run_dir)), console=console,
              refresh_per_second=refresh_per_second, transient=False):
        yield


def loss_text(state: dict[str, Any]) -> str:
    return f"{state['loss']:.3f}" if isinstance(state.get("loss"), int | float) else ""


def speed_text(state: dict[str, Any]) -> str:
    value = state.get("examples_per_s")
    return f"{value:.0f}" if isinstance(value, int | float) and state.get("phase") == Phase.TRAINING else ""
