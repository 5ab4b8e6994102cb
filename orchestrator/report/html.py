"""report.html: report.md as one self-contained page (images inlined, inline CSS, no scripts).

It is rendered from the same markdown as report.md, so the two reports never disagree. What the
markdown cannot say (section anchors, status colours, right-aligned numbers) is added as attributes
on the parsed tokens, never by editing the text.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

# Raw HTML in the markdown stays text: error messages and hints may hold "<pad>" or "<class 'int'>".
# The report makes no links of its own, so none is rendered live (a URL from data stays text).
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").disable(["link", "autolink"])
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}

STATUSES = ("succeeded", "ok", "accepted", "reference", "failed", "timed_out", "rejected", "skipped", "partial")

# The browser enforces what the renderer promises: data: images and the inline style, nothing else.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'"

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       background: #fff; max-width: 76rem; margin: 2rem auto; padding: 0 1rem; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .8rem 0; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 90%; background: #f6f8fa;
       padding: .1rem .3rem; border-radius: 4px; }
img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
.status-succeeded, .status-ok, .status-accepted { color: #1a7f37; background: #dafbe1; font-weight: 600; }
.status-failed, .status-timed_out, .status-rejected { color: #a40e26; background: #ffebe9; font-weight: 600; }
.status-skipped, .status-partial { color: #7d4e00; background: #fff8c5; font-weight: 600; }
.missing-image { display: inline-block; padding: .4rem .6rem; border: 1px dashed #cf222e; color: #a40e26; }
"""


def render_html(markdown_text: str, run_dir: Path) -> str:
    """One HTML document from report.md's text; images are read relative to `run_dir`."""
    tokens = _annotate(_MARKDOWN.parse(markdown_text), Path(run_dir))
    body = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    title = next((tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h1"),
                 Path(run_dir).name)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}: orchestrator report</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )


def _annotate(tokens: list[Token], run_dir: Path) -> list[Token]:
    """Each h2 opens a <section id=slug> (h3s get "<section>-<slug>"), tables scroll sideways,
    status words and numbers in cells get classes, images become data URIs."""
    out: list[Token] = []
    section: str | None = None
    used: set[str] = set()
    for i, token in enumerate(tokens):
        following = tokens[i + 1].content if i + 1 < len(tokens) else ""
        if token.type == "heading_open" and token.tag == "h2":
            if section:
                out.append(_raw("</section>\n"))
            section = _unique(_slug(following), used)
            out.append(_raw(f'<section id="{section}">\n'))
        elif token.type == "heading_open" and token.tag == "h3":
            token.attrSet("id", _unique(f"{section}-{_slug(following)}" if section else _slug(following), used))
        elif token.type == "table_open":
            out.append(_raw('<div class="table-wrap">\n'))
        elif token.type == "td_open":
            _classify_cell(token, following)
        elif token.type == "inline" and token.children:
            token.children = _inline(token.children, run_dir)
        out.append(token)
        if token.type == "table_close":
            out.append(_raw("</div>\n"))
    if section:
        out.append(_raw("</section>\n"))
    return out


def _inline(children: list[Token], run_dir: Path) -> list[Token]:
    for j, child in enumerate(children):
        if child.type == "strong_open" and j + 1 < len(children) and children[j + 1].content in STATUSES:
            child.attrSet("class", f"status-{children[j + 1].content}")
    return [_image(child, run_dir) if child.type == "image" else child for child in children]


def _classify_cell(token: Token, text: str) -> None:
    word = re.match(r"[a-z_]*", text).group()
    if word in STATUSES and text[len(word):len(word) + 1] in ("", ":"):
        token.attrSet("class", f"status-{word}")
    elif re.fullmatch(r"[-+]?\d+(\.\d+)?[a-zA-Z%]*( \(.*\))?", text):
        token.attrSet("class", "num")


def _image(token: Token, run_dir: Path) -> Token:
    """The image as a data URI, only when it is a picture (PNG, JPEG, GIF) inside the run
    directory, named relative to it: the plots the report makes. Anything else (a remote one, an
    absolute path, one reached through `..` or a link out of the run directory, another kind of
    file) becomes a visible note, and nothing is read."""
    src = unquote(token.attrGet("src") or "")
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", src) or Path(src).is_absolute():
        return _raw(_note("image not embedded (not a file of this run)", src), inline=True)
    root = run_dir.resolve()
    path = (root / src).resolve()
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if not path.is_relative_to(root) or mime is None:
        return _raw(_note("image not embedded (not a plot of this run)", src), inline=True)
    if not path.is_file():
        return _raw(_note("image not found", src), inline=True)
    token.attrSet("src", f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}")
    token.attrSet("data-source", src)
    return token


def _note(what: str, src: str) -> str:
    return f'<span class="missing-image">{what}: <code>{html.escape(src)}</code></span>'


def _raw(content: str, inline: bool = False) -> Token:
    return Token("html_inline" if inline else "html_block", "", 0, content=content)


def _slug(title: str) -> str:
    return re.sub(r"[\W_]+", "-", title.lower()).strip("-") or "section"


def _unique(slug: str, used: set[str]) -> str:
    candidate, n = slug, 2
    while candidate in used:
        candidate, n = f"{slug}-{n}", n + 1
    used.add(candidate)
    return candidate
