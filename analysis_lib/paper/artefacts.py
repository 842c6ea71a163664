"""The paper's tables and figures, and where the book reproduces each.

``data/published/artefacts.csv`` lists every table and figure the paper has (Tables 1–3,
Figures 1–2 and the supplementary Tables S1–S4 and Figures S1–S4, which the paper's text
describes) with the label of the table or figure of the book that reproduces it. The book's
Sphinx extension (:mod:`analysis_lib.book.sphinxext`) numbers those with the paper's own
labels, so a reader finds the paper's Table 3 as "Table 3", and the index page lists them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..core.paths import ROOT

ARTEFACTS_PATH: Path = ROOT / "data" / "published" / "artefacts.csv"
#: Columns of the file.
COLUMNS: tuple[str, ...] = ("paper_label", "kind", "book_label", "chapter", "reproduces")
_LABEL = re.compile(r"^(Table|Figure) (S?\d+)$")


def load_artefacts(path: Path | None = None) -> pd.DataFrame:
    """The paper's tables and figures (one row each, in the paper's order), checked: labels
    of the form "Table 3" / "Figure S2" matching ``kind``, book labels ``tbl-…``/``fig-…``,
    each used once."""
    a = pd.read_csv(path or ARTEFACTS_PATH, comment="#", dtype=str, keep_default_na=False)
    problems = []
    if tuple(a.columns) != COLUMNS:
        problems.append(f"columns must be {COLUMNS}, not {tuple(a.columns)}")
    else:
        for r in a.itertuples():
            m = _LABEL.match(r.paper_label)
            if not m or m.group(1).lower() != r.kind:
                problems.append(f"{r.paper_label!r}: not a {r.kind} label")
            prefix = {"table": "tbl-", "figure": "fig-"}.get(r.kind, "?")
            if not r.book_label.startswith(prefix):
                problems.append(f"{r.paper_label}: the book label must start with {prefix!r}")
        for col in ("paper_label", "book_label"):
            dup = a[col][a[col].duplicated()]
            if len(dup):
                problems.append(f"{col} used twice: {sorted(dup)}")
    if problems:
        raise ValueError("problems in the list of the paper's tables and figures: "
                         + "; ".join(problems))
    return a


def paper_numbers(path: Path | None = None) -> dict[str, str]:
    """Book label -> the paper's number ("3", "S2") of the table or figure it reproduces."""
    a = load_artefacts(path)
    return {r.book_label: _LABEL.match(r.paper_label).group(2) for r in a.itertuples()}
