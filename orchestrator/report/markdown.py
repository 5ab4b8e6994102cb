"""Text from outside (data, error messages, model names, configs) as inert markdown.

report.md and report.html are mailed around; an error message that quotes a data row must never
become an image the renderer reads from disk, a live link or a broken table. `text` escapes every
character markdown gives a meaning (and puts a message on one line); `code` makes a code span
that no backtick inside can end.
"""

from __future__ import annotations

import re
from typing import Any

# what can start emphasis, code, a link or image, raw HTML, a table cell or a heading, or escape
# another character; the rest of ASCII punctuation reads the same either way and stays readable
_SPECIAL = re.compile(r"([\\`*_\[\]<>|!#~])")


def text(value: Any) -> str:
    """`value` as markdown that renders as exactly its characters, on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def code(value: Any) -> str:
    """`value` as an inline code span (a path, a command), however many backticks it holds."""
    body = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"
