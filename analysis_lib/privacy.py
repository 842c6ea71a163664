"""Disclosure control for books built from real cohorts.

Two safeguards, both applied by the library so that no notebook has to remember them:

1. **Pseudonymised patient codes.** When the data are not marked synthetic,
   :func:`analysis_lib.validation.load_dataset` replaces every ``patient_id`` (in both tables,
   consistently) by a pseudonym ``P001``, ``P002``, … before any analysis sees the data. The
   numbering is a keyed permutation: patients are ranked by HMAC-SHA256 of their code under a
   key derived from the bytes of the data files themselves, so the pseudonyms are stable for
   the same input, reveal neither the codes nor the order of the rows or of the codes, and
   cannot be inverted by someone who guesses the coding scheme but lacks the data (the data
   fingerprint shown in the book is a different hash and does not give the key). Listings,
   figure orderings and downloadable tables therefore never carry a real code.
2. **Small-cell suppression** (optional; ``cartbook build --min-cell-count K``). Counts from 1
   to K-1 in the book's tables, in "n (%)" phrases and in the numbers at risk under
   Kaplan–Meier curves are shown as ``<K`` (zeros are shown: an empty cell discloses nothing
   about a patient). This follows the usual rule of statistical disclosure control for
   aggregate tables (e.g. a threshold of 5 or 10; Hundepool et al. 2012, *Statistical
   Disclosure Control*, Wiley, ch. 5). Estimates (medians, hazard ratios, p-values) and
   counts glued into sentences are not suppressed: choose which chapters to publish with
   that in mind.

Reference: Hundepool A, Domingo-Ferrer J, Franconi L, et al. (2012) *Statistical Disclosure
Control*. Wiley. doi:10.1002/9781118348239.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Iterable, Mapping

import pandas as pd

#: Name of the identifier column in every table of the data model.
ID_COLUMN = "patient_id"

_min_cell_count = 0


def pseudonym_key(data: Iterable[bytes]) -> bytes:
    """The secret key of the pseudonym permutation: SHA-256 over the data files' bytes
    (with a domain prefix, so it differs from the published data fingerprint)."""
    h = hashlib.sha256(b"cartbook pseudonym key v1\0")
    for chunk in data:
        h.update(hashlib.sha256(chunk).digest())
    return h.digest()


def pseudonym_map(codes: Iterable[str], key: bytes) -> dict[str, str]:
    """Map each distinct patient code to ``P001``, ``P002``, … in the order of
    HMAC-SHA256(key, code); the width grows with the number of patients (at least 3)."""
    distinct = sorted({str(c) for c in codes if not pd.isna(c)})
    ranked = sorted(distinct, key=lambda c: hmac.new(key, c.encode("utf-8"),
                                                     hashlib.sha256).digest())
    width = max(3, len(str(len(ranked))))
    return {c: f"P{i:0{width}d}" for i, c in enumerate(ranked, start=1)}


def pseudonymise(tables: Mapping[str, pd.DataFrame], key: bytes,
                 column: str = ID_COLUMN) -> dict[str, pd.DataFrame]:
    """Copies of ``tables`` with ``column`` replaced by pseudonyms, one mapping for all tables
    (a code that appears only in a secondary table still gets a pseudonym)."""
    codes = [c for t in tables.values() if column in t.columns for c in t[column]]
    mapping = pseudonym_map(codes, key)
    out = {}
    for name, t in tables.items():
        t = t.copy()
        if column in t.columns:
            t[column] = t[column].map(lambda c: mapping.get(str(c), c) if not pd.isna(c) else c)
        out[name] = t
    return out


# --------------------------------------------------------------------------------------------
# Small-cell suppression
# --------------------------------------------------------------------------------------------

def set_min_cell_count(k: int) -> None:
    """Suppress counts 1..k-1 in what the library displays from now on (0 or 1: off). The
    chapters call this with their ``min_cell_count`` parameter."""
    global _min_cell_count
    if int(k) < 0:
        raise ValueError(f"min_cell_count must be >= 0, got {k}")
    _min_cell_count = int(k)


def min_cell_count() -> int:
    """The current suppression threshold (0: off)."""
    return _min_cell_count


def is_small(k: float, threshold: int | None = None) -> bool:
    """True when the count ``k`` must be suppressed (``0 < k < threshold``)."""
    t = _min_cell_count if threshold is None else threshold
    return t > 1 and 0 < k < t


def count_text(k: int, threshold: int | None = None) -> str:
    """A count as displayed: ``str(k)``, or ``<K`` when it is small."""
    t = _min_cell_count if threshold is None else threshold
    return f"<{t}" if is_small(k, t) else f"{int(k)}"


#: Column headers that hold counts of patients or events (matched case-insensitively).
COUNT_HEADER = re.compile(r"^(n|#|patients|at risk|events?|numbers?|count)(\b|_)|^n \(|"
                          r"^events \(|\bn/n\b|severe crs|crs grade|icans|^below|^at or above",
                          re.IGNORECASE)
_COUNT_PERCENT = re.compile(r"^\s*(\d+)\s*\(([^)]*%[^)]*)\)\s*$")
_FRACTION = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_INTEGER = re.compile(r"^\s*(\d+)(\.0+)?\s*$")
#: Headers of columns derived from a row's count (a percentage or its CI): blanked in a row
#: whose count is suppressed, or the count could be recomputed from them.
DERIVED_HEADER = re.compile(r"%|\bci\b|percent|proportion|rate", re.IGNORECASE)
#: Headers of columns that show the paper's published numbers (public, never suppressed).
_PUBLISHED = re.compile(r"^published", re.IGNORECASE)


def _suppress_cell(v: object, header: str, t: int) -> object:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return v
    s = str(v)
    m = _COUNT_PERCENT.match(s)
    if m:
        return f"<{t}" if is_small(int(m.group(1)), t) else v
    if not COUNT_HEADER.search(header):
        return v
    m = _FRACTION.match(s)
    if m:
        return f"<{t}/{m.group(2)}" if is_small(int(m.group(1)), t) else v
    m = _INTEGER.match(s)
    if m:
        return f"<{t}" if is_small(int(m.group(1)), t) else v
    return v


def suppress_table(frame: pd.DataFrame, threshold: int | None = None) -> pd.DataFrame:
    """``frame`` with small counts replaced by ``<K``: cells that read "n (x%)" in any column,
    and integers or "a/b" fractions in columns whose header names a count
    (:data:`COUNT_HEADER`). In a row where a count was suppressed, cells of columns derived
    from it (a percentage or its CI, :data:`DERIVED_HEADER`) are blanked to "–" too. Columns
    of published numbers are left alone. Returns ``frame`` itself when suppression is off."""
    t = _min_cell_count if threshold is None else threshold
    if t <= 1:
        return frame
    out = frame.astype(object)
    touched = pd.Series(False, index=range(len(frame)))
    for j, col in enumerate(frame.columns):
        header = str(col)
        if _PUBLISHED.match(header):
            continue
        new = [_suppress_cell(v, header, t) for v in frame.iloc[:, j]]
        touched |= pd.Series([str(a) != str(b) for a, b in zip(new, frame.iloc[:, j])])
        out.iloc[:, j] = new
    for j, col in enumerate(frame.columns):
        header = str(col)
        if DERIVED_HEADER.search(header) and not _PUBLISHED.match(header) \
                and not COUNT_HEADER.search(header):
            out.iloc[:, j] = ["–" if hit else v for hit, v in zip(touched, out.iloc[:, j])]
    return out
