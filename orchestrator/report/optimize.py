"""The optimize section of report.md and of the terminal summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from orchestrator.report import markdown as md
from orchestrator.report.numbers import fmt_number


def best_point(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    ok = [p for p in points if p["status"] == "ok"]
    return max(ok, key=lambda p: p["samples_per_s"] or 0.0) if ok else None


def variant_rows(model: dict[str, Any]) -> list[dict[str, str]]:
    """One row per variant: size, quantized-layer ratio, quality and its verdict, best batch."""
    variants = model["variants"]
    fp32_points = {p["batch_size"]: p for p in variants["fp32"].get("points", []) if p["status"] == "ok"}
    rows = []
    for name, v in variants.items():
        if v["status"] != "ok":
            rows.append({"variant": name, "verdict": f"{v['status']}: {v.get('reason') or ''}"})
            continue
        best = best_point(v.get("points", []))
        speedup = "-"
        if best and best["batch_size"] in fp32_points and name != "fp32":
            speedup = f"{best['samples_per_s'] / fp32_points[best['batch_size']]['samples_per_s']:.2f}x"
        ratio = v.get("size_ratio")
        layers = v.get("layer_ratio")
        change = v.get("metric_change")
        rows.append({
            "variant": name,
            "size": f"{v.get('size_bytes', 0) / 2**20:.1f} MB" + (f" ({ratio:.2f}x smaller)" if ratio else ""),
            "layers": f"{layers:.2f}x smaller" if layers else "-",
            "metric": fmt_number(v.get("metric", v.get("quality", {}).get(model["metric"])))
            + (f" ({change:+.2f})" if change is not None and name != "fp32" else ""),
            "verdict": "reference" if name == "fp32" else ("accepted" if v.get("accepted") else
                                                          f"rejected: {v.get('reason', '')}"),
            "best": f"{best['batch_size']} ({best['samples_per_s']:.1f}/s)" if best else "-",
            "speedup": speedup,
        })
    return rows


def recommendation_text(model: dict[str, Any]) -> str:
    rec = model.get("recommendation") or {}
    if not rec.get("variant"):
        return f"no recommendation: {rec.get('reason', 'nothing measured')}"
    text = (f"**{rec['variant']} at batch size {rec['batch_size']}**: {rec['samples_per_s']:.1f} samples/s, "
            f"p95 {rec['p95_ms']:.0f} ms, peak {rec['peak_memory_mb']:.0f} MB")
    if rec.get("speedup_vs_fp32"):
        text += f", {rec['speedup_vs_fp32']:.2f}x fp32's throughput at that batch size"
    return text + f" ({rec['rule']})"


def optimize_markdown(section: dict[str, Any] | None, metric: str, run_dir: Path) -> list[str]:
    if not section:
        return []
    lines = ["", "## Quantization and batch size", ""]
    if "models" not in section:  # skipped, or the stage itself failed
        return lines + [f"{section['status']}: {md.text(section.get('reason', ''))}"
                        + (f" (log: {md.code(section['log'])})" if section.get("log") else "")]
    lines += [f"Benchmarked {section['benchmarked']}. Quality is {metric} on the validation split; a variant "
              "that loses more than `optimize.max_quality_drop` against fp32 is rejected and never recommended."]
    for name, model in section["models"].items():
        lines += ["", f"### {md.text(name)}", ""]
        if model["status"] != "ok":
            lines.append(f"{model['status']}: {md.text(model.get('error'))} (log: {md.code(model.get('log'))})")
            continue
        lines += [
            f"Recommended: {recommendation_text(model)}. Peak memory is {model['memory_source']} "
            f"({model['threads']} thread(s) on {model['device']}).", "",
            f"| variant | size on disk | quantized layers | val {metric} (change) | verdict | best batch (samples/s) "
            "| vs fp32 at that batch |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in variant_rows(model):
            lines.append(f"| {row['variant']} | {row.get('size', '-')} | {row.get('layers', '-')} | "
                         f"{row.get('metric', '-')} | {md.text(row['verdict'])} | {row.get('best', '-')} | "
                         f"{row.get('speedup', '-')} |")
        for kind, path in model.get("plots", {}).items():
            relative = Path(path).relative_to(run_dir) if Path(path).is_relative_to(run_dir) else Path(path)
            lines += ["", f"![{md.text(name)} {kind}]({relative.as_posix()})"]
    return lines


def print_optimize(section: dict[str, Any] | None, console: Console) -> None:
    """Per optimized model: each variant's size, quality verdict and best throughput; the pick."""
    from rich.table import Table

    if not section:
        return
    if "models" not in section:  # skipped, or the stage itself failed
        log_path = f" (log: {section['log']})" if section.get("log") else ""
        console.print(f"optimize {section['status']}: {escape(section.get('reason', ''))}{escape(log_path)}")
        return
    table = Table(title=f"quantization and batch size (benchmarked {section['benchmarked']})")
    for column in ("model", "variant", "size", "quantized layers", "val metric", "verdict", "best batch", "vs fp32"):
        table.add_column(column)
    for name, model in section["models"].items():
        if model["status"] != "ok":
            table.add_row(name, "-", "-", "-", "-", f"[red]{model['status']}[/red]: {escape(model.get('error') or '')}")
            continue
        for row in variant_rows(model):
            style = "red" if row["verdict"].startswith(("rejected", "failed")) else ""
            verdict = f"[{style}]{escape(row['verdict'])}[/{style}]" if style else escape(row["verdict"])
            table.add_row(name, row["variant"], row.get("size", "-"), row.get("layers", "-"), row.get("metric", "-"),
                          verdict, row.get("best", "-"), row.get("speedup", "-"))
    console.print(table)
    for name, model in section["models"].items():
        if model["status"] == "ok":
            console.print(f"{name}: {recommendation_text(model).replace('**', '')}")
