"""Small-cell suppression of counts in published tables (disclosure control; see :mod:`analysis_lib.data.privacy` for pseudonyms).

Reference: Hundepool A, Domingo-Ferrer J, Franconi L, et al. (2012) *Statistical Disclosure Control*. Wiley. doi:10.1002/9781118348239.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import pandas as pd

_min_cell_count = 0


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


@contextmanager
def suppressed(k: int) -> Iterator[None]:
    """Suppress counts 1..k-1 inside the block (:func:`set_min_cell_count`), then restore the
    threshold in force before it, whatever happens inside."""
    before = _min_cell_count
    set_min_cell_count(k)
    try:
        yield
    finally:
        _restore(before)


def _restore(k: int) -> None:
    global _min_cell_count
    _min_cell_count = k


def min_cell_count() -> int:
    """The current suppression threshold (0: off)."""
    return _min_cell_count


def is_small(k: float, threshold: int | None = None) -> bool:
    """True when the count ``k`` must be suppressed (``0 < k < threshold``)."""
    t = _min_cell_count if threshold is None else threshold
    return t > 1 and 0 < k < t


def count_text(k: int, threshold: int | None = None) -> str:
    """A count as displayed, with the book's thousands separator (``29``, ``5,000``), or
    ``<K`` when it is small."""
    t = _min_cell_count if threshold is None else threshold
    return f"<{t}" if is_small(k, t) else f"{int(k):,}"


#: Column headers that hold counts of patients or events (matched case-insensitively).
COUNT_HEADER = re.compile(r"^(n|#|patients|at risk|events?|numbers?|count)(\b|_)|^n \(|"
                          r"^events \(|\bn/n\b|severe crs|crs grade|icans|^below|^at or above",
                          re.IGNORECASE)
#: A count as the book writes it: digits with optional thousands separators (1,234).
_N = r"(\d{1,3}(?:,\d{3})+|\d+)"
_COUNT_PERCENT = re.compile(rf"^\s*{_N}\s*\(([^)]*%[^)]*)\)\s*$")
_FRACTION = re.compile(rf"^\s*{_N}\s*/\s*{_N}\s*$")
_INTEGER = re.compile(rf"^\s*{_N}(\.0+)?\s*$")
#: Headers of columns derived from a row's count (a percentage or its CI): blanked in a row
#: whose count is suppressed, or the count could be recomputed from them.
DERIVED_HEADER = re.compile(r"%|\bci\b|percent|proportion|rate", re.IGNORECASE)
#: Headers of columns that show the paper's published numbers (public, never suppressed).
_PUBLISHED = re.compile(r"^published", re.IGNORECASE)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _suppress_cell(v: object, header: str, t: int) -> object:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return v
    s = str(v)
    m = _COUNT_PERCENT.match(s)
    if m:
        return f"<{t}" if is_small(_int(m.group(1)), t) else v
    if not COUNT_HEADER.search(header):
        return v
    m = _FRACTION.match(s)
    if m:
        return f"<{t}/{m.group(2)}" if is_small(_int(m.group(1)), t) else v
    m = _INTEGER.match(s)
    if m:
        return f"<{t}" if is_small(_int(m.group(1)), t) else v
    return v


def suppress_columns(frame: pd.DataFrame,
                     counts: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """``frame`` (a table offered for download) with the small counts of the named columns
    written ``<K`` and, in their rows, the columns computed from each (``counts[column]``: a
    percentage, an interval, a spread) blanked to "–": for count columns whose header
    :func:`suppress_table` cannot recognise (``k``, ``a``–``d``, ``tp``, ``cmax_n``). Returns
    ``frame`` itself when nothing is hidden."""
    t = _min_cell_count
    small = {c: frame[c].map(lambda v: bool(pd.notna(v)) and is_small(float(v), t)).to_numpy()
             for c in counts}
    if t <= 1 or not any(m.any() for m in small.values()):
        return frame
    out = frame.astype({c: object for c in {*counts, *(d for ds in counts.values() for d in ds)}})
    for col, derived in counts.items():
        for d in derived:
            out.loc[small[col], d] = "–"
        out.loc[small[col], col] = f"<{t}"
    return out


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
