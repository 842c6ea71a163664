"""Provenance of a build's input data: what the files say about themselves."""

from __future__ import annotations

import pandas as pd

from ..data.validation import ValidationReport

#: Metadata keys shown to readers (others, which could be free text, are not published).
SHOWN_KEYS = ("synthetic", "generator", "seed")


def provenance_table(report: ValidationReport) -> pd.DataFrame:
    """One row per input table: rows, format and the provenance metadata it carries.
    File paths and free-text metadata are not shown; the metadata values shown come from the
    files, so they are escaped for Markdown (:func:`analysis_lib.book.report.md_escape`)."""
    from .report import md_escape

    rows = []
    for name, frame in report.tables.items():
        meta = report.metadata.get(name, {})
        rows.append({
            "Table": name,
            "Rows": len(frame),
            "Format": report.files[name].suffix.lstrip(".").lower(),
            "Marked synthetic": "yes" if meta.get("synthetic", "").lower() == "true" else "no",
            "Generator": md_escape(meta["generator"], 80) if "generator" in meta else "–",
            "Seed": md_escape(meta["seed"], 40) if "seed" in meta else "–",
        })
    return pd.DataFrame(rows)
