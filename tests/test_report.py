"""report.html: self-contained, the same content as report.md, and rendered by a real browser.

The browser test runs Debian's Chromium headless and checks the DOM it built; it skips where no
Chromium is installed (.ci/run installs it where it can).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from orchestrator.report.html import render_html
from orchestrator.report.summary import write_summary

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_TIMEOUT_S = 60
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None = None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self, tag: str | None = None) -> list[Node]:
        found = [self] if tag in (None, self.tag) else []
        for child in self.children:
            if isinstance(child, Node):
                found += child.iter(tag)
        return found

    def by_id(self, id_: str) -> Node:
        matches = [n for n in self.iter() if n.attrs.get("id") == id_]
        assert len(matches) == 1, f"expected one element with id {id_!r}, found {len(matches)}"
        return matches[0]

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class TreeBuilder(HTMLParser):
    """A small DOM from HTML text (html.parser only): enough to look for elements and their text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag: str) -> None:
        node = self.current
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html_text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html_text)
    builder.close()
    return builder.root


def write_plot(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(4, 3), dpi=50)
    ax = fig.add_subplot()
    ax.plot([1, 2, 4, 8], [10.0, 18.0, 30.0, 41.0], marker="o")
    ax.set_xlabel("batch size")
    fig.savefig(path)
    return path


def synthetic_summary(run_dir: Path) -> dict[str, Any]:
    """Every section report.html draws: a leaderboard with a succeeded, a failed and a skipped
    candidate, the ensemble, and an optimize section with one plot on disk and one missing."""
    throughput = write_plot(run_dir / "optimize" / "alpha" / "throughput.png")
    point = {"batch_size": 8, "status": "ok", "samples_per_s": 40.0}
    return {
        "experiment": "report-test",
        "status": "partial",
        "metric": "rougeL",
        "run_dir": str(run_dir),
        "wall_s": 95.0,
        "cluster": {"address": None, "cpus": 2, "gpus": 0, "dashboard": None},
        "models": {
            "alpha": {"status": "succeeded", "phase": "done", "family": "seq2seq", "wall_s": 61.0,
                      "metrics": {"validation": {"rougeL": 40.5}, "test": {"rougeL": 41.25}, "train_loss": 1.5},
                      "parameters": {"total": 1_000_000, "trainable": 250_000}},
            "beta": {"status": "failed", "phase": "training", "family": "causal", "wall_s": 12.0,
                     "error": "loss was not finite on 6 steps (<pad> id 0)", "hint": "lower the learning rate",
                     "log": "errors/beta.log", "metrics": {}, "parameters": None},
            "gamma": {"status": "skipped", "phase": "preflight", "family": "seq2seq", "wall_s": 0.0,
                      "error": "weights not found", "hint": "check models[2].source", "metrics": {}},
        },
        "ensemble": {
            "status": "ok", "strategy": "auto", "chosen": "stacking:linear", "best_member": "alpha",
            "verdict": "stacking:linear (chosen on validation) is better than the best single model (alpha) on test",
            "choice": {"method": "stacking:linear", "rule": "one standard error",
                       "reason": "stacking:linear scored best on validation", "validation": {}},
            "scores": {"stacking:linear": {"validation": {"rougeL": 42.0}, "test": {"rougeL": 43.5}},
                       "best_single": {"validation": {"rougeL": 40.5}, "test": {"rougeL": 41.25}},
                       "oracle": {"validation": {"rougeL": 60.0}, "test": {"rougeL": 59.0}}},
            "versus_best_single": {"stacking:linear": {"rougeL": {
                "difference": 2.25, "low": 0.5, "high": 4.0, "confidence": 0.95, "verdict": "better"}}},
        },
        "optimize": {
            "status": "ok", "benchmarked": "one model at a time",
            "models": {"alpha": {
                "status": "ok", "metric": "rougeL", "device": "cpu", "threads": 1, "memory_source": "process RSS",
                "variants": {
                    "fp32": {"status": "ok", "size_bytes": 4 * 2**20, "quality": {"rougeL": 40.5},
                             "points": [point]},
                    "onnxruntime": {"status": "ok", "size_bytes": 2**20, "size_ratio": 4.0, "layer_ratio": 3.9,
                                    "quality": {"rougeL": 38.0}, "metric_change": -2.5, "accepted": False,
                                    "reason": "lost 2.50 > max_quality_drop 1.0",
                                    "points": [{**point, "samples_per_s": 80.0}]},
                    "bitsandbytes": {"status": "skipped", "reason": "no CPU backend"},
                },
                "recommendation": {"variant": "fp32", "batch_size": 8, "samples_per_s": 40.0, "p95_ms": 210.0,
                                   "peak_memory_mb": 700.0, "rule": "highest samples/s"},
                "plots": {"throughput": str(throughput),
                          "latency": str(run_dir / "optimize" / "alpha" / "latency.png")},
            }},
        },
    }


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    summary = synthetic_summary(tmp_path)
    write_summary(summary, tmp_path)
    return tmp_path, summary


def assert_key_elements(root: Node) -> None:
    """What a reader of report.html must find, checked on our HTML and on Chromium's DOM alike."""
    candidates = root.by_id("candidates").iter("table")[0]
    rows = [[cell.text().strip() for cell in tr.iter("td")] for tr in candidates.iter("tbody")[0].iter("tr")]
    assert [r[0] for r in rows] == ["alpha", "beta", "gamma"]
    assert rows[0][4] == "41.25" and rows[0][6] == "1.00M (25%)"
    status_classes = {cell.text(): cell.classes() for cell in candidates.iter("td") if cell.attrs.get("class")}
    assert "status-succeeded" in status_classes["succeeded"]
    assert "status-failed" in status_classes["failed"]
    assert "status-skipped" in status_classes["skipped"]

    failures = root.by_id("failures").text()
    assert "loss was not finite on 6 steps (<pad> id 0)" in failures
    assert "fix: lower the learning rate" in failures and "errors/beta.log" in failures
    assert "fix: check models[2].source" in failures

    ensemble = [[c.text() for c in tr.iter("td")] for tr in root.by_id("ensemble").iter("tr")[1:]]
    assert ensemble == [["stacking:linear (chosen)", "42.00", "43.50", "+2.25 (+0.50 to +4.00)", "better"],
                        ["best single (alpha)", "40.50", "41.25", "", ""],
                        ["oracle (ceiling: best candidate per input by its true score)", "60.00", "59.00", "", ""]]

    optimize = root.by_id("quantization-and-batch-size")
    variants = {tr.iter("td")[0].text(): tr.iter("td") for tr in optimize.iter("tbody")[0].iter("tr")}
    assert set(variants) == {"fp32", "onnxruntime", "bitsandbytes"}
    assert "status-rejected" in variants["onnxruntime"][4].classes()
    assert "status-skipped" in variants["bitsandbytes"][4].classes()
    images = optimize.iter("img")
    assert [img.attrs["data-source"] for img in images] == ["optimize/alpha/throughput.png"]
    missing = [n for n in optimize.iter("span") if "missing-image" in n.classes()]
    assert len(missing) == 1 and "optimize/alpha/latency.png" in missing[0].text()


def test_report_html_has_the_key_elements(report: tuple[Path, dict[str, Any]]) -> None:
    run_dir, _ = report
    root = parse((run_dir / "report.html").read_text(encoding="utf-8"))
    assert root.iter("title")[0].text() == "report-test: orchestrator report"
    assert_key_elements(root)


def test_report_html_is_rendered_from_report_md(report: tuple[Path, dict[str, Any]]) -> None:
    run_dir, _ = report
    markdown = (run_dir / "report.md").read_text(encoding="utf-8")
    assert (run_dir / "report.html").read_text(encoding="utf-8") == render_html(markdown, run_dir)


def test_report_html_is_self_contained(report: tuple[Path, dict[str, Any]]) -> None:
    run_dir, _ = report
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    root = parse(text)
    assert "http://" not in text and "https://" not in text
    assert not root.iter("script") and not root.iter("link") and not root.iter("iframe")
    for node in root.iter():
        for name in ("src", "href"):
            assert not node.attrs.get(name) or node.attrs[name].startswith("data:"), (node.tag, name)
    csp = [m.attrs["content"] for m in root.iter("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp == ["default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'"]


def test_images_are_embedded_as_data_uris(report: tuple[Path, dict[str, Any]]) -> None:
    run_dir, _ = report
    (img,) = parse((run_dir / "report.html").read_text(encoding="utf-8")).iter("img")
    prefix = "data:image/png;base64,"
    assert img.attrs["src"].startswith(prefix)
    assert base64.b64decode(img.attrs["src"][len(prefix):]) == (run_dir / "optimize/alpha/throughput.png").read_bytes()
    assert img.attrs["alt"] == "alpha throughput"


def test_sections_get_stable_unique_ids(tmp_path: Path) -> None:
    markdown = ("# t\n\n## Learning-rate sweep\n\n### m1\n\n### m1\n\n![lr](tune/learning_rate.png)\n\n"
                "![remote](https://example.org/x.png)\n\n## Failures\n\n- <b>raw</b>\n")
    root = parse(render_html(markdown, tmp_path))
    assert [s.attrs["id"] for s in root.iter("section")] == ["learning-rate-sweep", "failures"]
    assert [h.attrs["id"] for h in root.iter("h3")] == ["learning-rate-sweep-m1", "learning-rate-sweep-m1-2"]
    notes = [n.text() for n in root.iter("span") if "missing-image" in n.classes()]
    assert notes == ["image not found: tune/learning_rate.png",
                     "image not embedded (not a file of this run): https://example.org/x.png"]
    assert not root.iter("img") and not root.iter("b") and "<b>raw</b>" in root.by_id("failures").text()


INJECTED = "label ![x](/proc/self/environ) [click](https://evil.example/x) <img src=x onerror=alert(1)> | `a` *b*"


def test_text_from_data_and_errors_is_inert_in_both_reports(tmp_path: Path) -> None:
    """An error quoting a data row, a reason, a verdict: never an image read from disk, a live
    link, raw HTML or a broken table; only the run's own plots are inlined."""
    summary = synthetic_summary(tmp_path)
    summary["models"]["beta"]["error"] = INJECTED
    summary["models"]["beta"]["hint"] = "see ![y](../../etc/passwd.png)"
    summary["ensemble"]["verdict"] = INJECTED
    (tmp_path / "outside.png").write_bytes((tmp_path / "optimize/alpha/throughput.png").read_bytes())
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "optimize").symlink_to(tmp_path / "optimize")  # a link out of the run directory
    summary["run_dir"] = str(run_dir)
    write_summary(summary, run_dir)
    markdown = (run_dir / "report.md").read_text(encoding="utf-8")
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    root = parse(text)
    assert not root.iter("a") and not root.iter("script") and "onerror" not in str(root.iter("img"))
    assert not root.iter("img"), [i.attrs.get("data-source") for i in root.iter("img")]  # the plots' folder is a link out
    assert "evil.example" not in "".join(str(n.attrs) for n in root.iter())
    failures = root.by_id("failures").text()
    assert "label ![x](/proc/self/environ) [click](https://evil.example/x) <img src=x onerror=alert(1)> | `a` *b*" in failures
    assert len(root.by_id("candidates").iter("tr")[2].iter("td")) == 8  # the `|` did not add a cell
    assert "| `a` *b*" not in markdown and "\\|" in markdown  # escaped in report.md too
    environ = base64.b64encode(Path("/proc/self/environ").read_bytes()[:30]).decode("ascii")[:20]
    assert environ not in text


def test_only_the_run_directorys_own_plots_are_inlined(tmp_path: Path) -> None:
    (tmp_path / "run" / "tune").mkdir(parents=True)
    plot = tmp_path / "run" / "tune" / "learning_rate.png"
    Figure().savefig(plot)
    (tmp_path / "secret.png").write_bytes(plot.read_bytes())
    (tmp_path / "run" / "notes.txt").write_text("not an image", encoding="utf-8")
    markdown = ("# t\n\n![ok](tune/learning_rate.png) ![up](../secret.png) ![abs](" + str(tmp_path / "secret.png")
                + ") ![txt](notes.txt)\n")
    root = parse(render_html(markdown, tmp_path / "run"))
    assert [img.attrs["data-source"] for img in root.iter("img")] == ["tune/learning_rate.png"]
    notes = [n.text() for n in root.iter("span") if "missing-image" in n.classes()]
    assert len(notes) == 3 and all("not embedded" in n for n in notes), notes


def chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def run_chromium(binary: str, profile: Path, *args: str) -> str:
    """Headless Chromium with a private profile; the whole process group is killed past the limit."""
    # --no-sandbox: Chromium refuses to run as root without it, and containers often lack the
    # namespaces its sandbox needs; the page is our own file.
    command = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{binary} did not finish in {CHROMIUM_TIMEOUT_S} s (CHROMIUM_TIMEOUT_S in {__file__})")
    assert proc.returncode == 0, f"{' '.join(command)} exited {proc.returncode}:\n{err[-3000:]}"
    return out


# Reports every image's decoded size: the report forbids scripts, so the probe copy allows this one.
PROBE = """<script nonce="probe">
window.addEventListener("load", () => {
  document.body.dataset.images = JSON.stringify(Array.from(document.images, (img) => ({
    source: img.dataset.source, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight})));
});
</script>
"""


@pytest.mark.skipif(chromium() is None, reason=f"no Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)})")
def test_chromium_renders_the_report(report: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
                                     ) -> None:
    run_dir, _ = report
    binary = chromium()
    assert binary is not None
    work = tmp_path_factory.mktemp("chromium")
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "script-src 'none'" in page
    probe = run_dir / "probe.html"
    probe.write_text(page.replace("script-src 'none'", "script-src 'nonce-probe'").replace("</body>", PROBE + "</body>"),
                     encoding="utf-8")

    root = parse(run_chromium(binary, work / "profile", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()))
    assert_key_elements(root)
    images = json.loads(root.iter("body")[0].attrs["data-images"])
    assert images == [{"source": "optimize/alpha/throughput.png", "complete": True, "width": 200, "height": 150}]

    shot = work / "report.png"
    run_chromium(binary, work / "profile", "--window-size=1000,1400", "--hide-scrollbars",
                 f"--screenshot={shot}", (run_dir / "report.html").as_uri())
    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (1400, 1000)
    colours = set(np.unique(pixels[:, :, 0] << 16 | pixels[:, :, 1] << 8 | pixels[:, :, 2]).tolist())
    assert 0xFFEBE9 in colours, "no failed-status background: the inline CSS was not applied"
    assert 0xDAFBE1 in colours, "no succeeded-status background"
    assert len(colours) > 50, "the screenshot is nearly blank"


def test_a_failed_stage_after_training_makes_the_run_partial() -> None:
    from orchestrator.report.summary import EXIT_PARTIAL, exit_code, with_stages

    ok, failed, skipped = {"status": "ok"}, {"status": "failed", "reason": "x"}, {"status": "skipped"}
    assert with_stages("ok", ok, skipped) == "ok"
    assert with_stages("ok", failed, ok) == "partial" and with_stages("ok", ok, failed) == "partial"
    assert exit_code({"status": with_stages("ok", failed, None)}) == EXIT_PARTIAL
    assert with_stages("failed", failed, ok) == "failed" and with_stages("interrupted", failed) == "interrupted"


def test_an_ensemble_section_from_before_the_choice_still_renders() -> None:
    """`optimize RUN_DIR` rewrites an older run's report: its ensemble section has one strategy,
    no choice and no intervals."""
    from orchestrator.report.ensemble import ensemble_markdown

    old = {"status": "ok", "strategy": "stacking", "best_member": "alpha", "verdict": "stacking beats it",
           "scores": {"stacking": {"validation": {"rougeL": 42.0}, "test": {"rougeL": 43.5}},
                      "best_single": {"validation": {"rougeL": 40.5}, "test": {"rougeL": 41.25}}}}
    lines = "\n".join(ensemble_markdown(old, "rougeL"))
    assert "| **stacking** (chosen) | 42.00 | 43.50 |  |  |" in lines and "one-standard-error" not in lines
