"""The Serving section of report.md: what `benchmarks/serve.py` measured when it served this run."""

from __future__ import annotations

from typing import Any

from orchestrator.report import markdown as md
from orchestrator.report.numbers import fmt_number

GOALS = {"of_offline": "batched throughput at least 70 % of offline",
         "over_unbatched_at_16": "batching at least 2x batching-off at concurrency 16",
         "p95_at_1_within_slo": "p95 of a lone request within the latency SLO"}


def serving_markdown(section: dict[str, Any] | None) -> list[str]:
    if not section:
        return []
    fig = section["figures"]
    lines = ["", "## Serving", "",
             f"`serve --model {md.text(section['model'])}` over HTTP ({md.text(fig['variant'])}, Serve batching at "
             f"batch size {fig['batch_size']}; the optimize stage measured {fmt_number(fig['offline_samples_per_s'])} "
             f"samples/s offline), against the same model with batching off; medians over {section['repeats']} "
             "repeat(s) (`benchmarks/serve.py`).", "",
             "| concurrency | batched samples/s | p50 ms | p95 ms | p99 ms | unbatched samples/s | batched / offline |",
             "|---|---|---|---|---|---|---|"]
    for level, row in fig["levels"].items():
        batched, unbatched = row.get("batched", {}), row.get("unbatched", {})
        lines.append(f"| {level} | {fmt_number(batched.get('samples_per_s', {}).get('median'))} | "
                     f"{fmt_number(batched.get('p50_ms'))} | {fmt_number(batched.get('p95_ms'))} | "
                     f"{fmt_number(batched.get('p99_ms'))} | {fmt_number(unbatched.get('samples_per_s', {}).get('median'))} "
                     f"| {fmt_number(row.get('of_offline'))} |")
    met = [GOALS.get(name, name) + (": met" if goal["met"] else ": **not met**") for name, goal in fig["goals"].items()]
    return lines + ["", "Goals: " + "; ".join(met) + "."]
