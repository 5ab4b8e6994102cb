"""Throughput and latency against batch size, one line per variant, as PNG files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on actors or CI
import matplotlib.pyplot as plt  # noqa: E402

from models.optimize.benchmark import Point  # noqa: E402


def plot_sweeps(title: str, sweeps: dict[str, list[Point]], out_dir: Path) -> dict[str, str]:
    """`throughput.png` (samples/s) and `latency.png` (median with the p95 above it) in
    `out_dir`; points that ran out of memory or time are marked where the line ends."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, ylabel in (("throughput", "samples / s"), ("latency", "ms per batch (median, bar to p95)")):
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        for variant, points in sweeps.items():
            ok = [p for p in points if p.status == "ok"]
            sizes = [p.batch_size for p in ok]
            if kind == "throughput":
                line = ax.plot(sizes, [p.samples_per_s for p in ok], marker="o", label=variant)[0]
            else:
                medians = [p.median_ms or 0.0 for p in ok]
                spread = [(p.p95_ms or 0.0) - (p.median_ms or 0.0) for p in ok]
                line = ax.errorbar(sizes, medians, yerr=[[0] * len(ok), spread], marker="o", capsize=3,
                                   label=variant).lines[0]
            for p in points:
                if p.status != "ok":
                    ax.axvline(p.batch_size, color=line.get_color(), linestyle=":", alpha=0.6)
                    ax.annotate(p.status, (p.batch_size, 0), xycoords=("data", "axes fraction"),
                                xytext=(2, 4), textcoords="offset points", fontsize=7, color=line.get_color())
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}: {kind}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{kind}.png"
        fig.savefig(path)
        plt.close(fig)
        paths[kind] = str(path)
    return paths
