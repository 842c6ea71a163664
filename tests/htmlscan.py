"""Scan a built page for numbers that escaped the book's formatter (issue: the book must never
show raw floats, e-notation, nan/inf, carets or Python reprs to a reader).

Only what a reader reads is scanned: the article's text without code (``<pre>``, ``<code>``,
the collapsed code cells), scripts, styles and typeset mathematics.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

#: (what, pattern) of everything a formatted number never looks like.
RAW: tuple[tuple[str, re.Pattern], ...] = (
    ("raw float (5+ decimals)", re.compile(r"(?<![\w.])\d+\.\d{5,}")),
    ("e-notation", re.compile(r"(?<![\w.])\d+(\.\d+)?[eE][-+]?\d+(?![\w])")),
    ("nan", re.compile(r"\b(nan|NaN|NA)\b")),
    ("inf", re.compile(r"(?<![\w-])(-?inf|Infinity)\b")),
    ("caret", re.compile(r"\^")),
    ("Python repr", re.compile(r"np\.\w+\(|\barray\(|\bdtype\b|object at 0x|Timestamp\(|"
                               r"\bNone\b(?=[,)\]])|\[\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?")),
    ("tuple", re.compile(r"\(\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*\)")),
)

_DROP = re.compile(
    r"<(script|style|pre|code|svg)\b[^>]*>.*?</\1>|"
    r'<(span|div)\b[^>]*class="[^"]*\bmath\b[^"]*"[^>]*>.*?</\2>|'
    r'<details\b[^>]*class="[^"]*\b(hide-input|above-input|toggle-details)\b[^"]*"[^>]*>.*?</details>',
    flags=re.S)


def reader_text(html: str) -> str:
    """The article's text as a reader reads it (no code, scripts, styles or mathematics)."""
    i, j = html.find("<article"), html.find("</article>")
    body = html[i:j] if i >= 0 and j > i else html
    body = re.sub(r'<div class="cell_input[^"]*"[^>]*>.*?</div>\s*</div>', " ", body, flags=re.S)
    while True:
        new = _DROP.sub(" ", body)
        if new == body:
            break
        body = new
    text = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", unescape(text))


def raw_numbers(page: Path) -> list[str]:
    """Every place on ``page`` where a number escaped the formatter, with context."""
    text = reader_text(page.read_text(encoding="utf-8"))
    out = []
    for what, pat in RAW:
        for m in pat.finditer(text):
            ctx = text[max(0, m.start() - 40):m.end() + 40].strip()
            out.append(f"{what}: …{ctx}…")
    return out
