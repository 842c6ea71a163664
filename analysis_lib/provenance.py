"""Provenance of a build's input data: what the files say about themselves."""

from __future__ import annotations

import pandas as pd

from .report import dataset_fingerprint
from .validation import ValidationReport

#: Metadata keys shown to readers (others, which could be free text, are not published).
SHOWN_KEYS = ("synthetic", "generator", "seed", "n_patients")


def provenance_table(report: ValidationReport) -> pd.DataFrame:
    """One row per input table: rows, format, the metadata it carries and the fingerprint
    of the whole data set. File paths are not shown."""
    rows = []
    for name, frame in report.tables.items():
        meta = report.metadata.get(name, {})
        rows.append({
            "Table": name,
            "Rows": len(frame),
            "Format": report.files[name].suffix.lstrip("."),
            "Marked synthetic": "yes" if meta.get("synthetic", "").lower() == "true" else "no",
            "Generator": " ".join(f"{k}={meta[k]}" for k in SHOWN_KEYS[1:] if k in meta) or "–",
        })
    out = pd.DataFrame(rows)
    out["Data fingerprint"] = f"`{dataset_fingerprint(report.files)}`"
    return out
