"""Formatting of numbers for the reader: one place for every number a page shows (counts,
percentages, medians with ranges, p-values).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def format_number(x: float, digits: int = 4) -> str:
    """A number for a table cell: thousands separators for large values, ``digits``
    significant digits otherwise, "–" for missing (30860 -> "30,860"; 0.3261 -> "0.3261")."""
    if x is None or not math.isfinite(x):
        return "–"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def percent_ci_text(est: float, lower: float, upper: float, digits: int = 1) -> str:
    """``74.0% (95% CI 61.6–86.4%)`` from fractions; "–" for a missing estimate."""
    if est is None or not np.isfinite(est):
        return "–"
    return f"{100 * est:.{digits}f}% ({100 * lower:.{digits}f}–{100 * upper:.{digits}f}%)"


def months_text(x: float, digits: int = 1) -> str:
    """A median in months, or "not reached"."""
    return "not reached" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def medians_text(a: float, b: float, digits: int = 1, unit: str = "months") -> str:
    """Two medians for a comparison: ``22.2 vs 67.0 months``, ``not reached vs 5.0 months``,
    or ``not reached in either group``."""
    if not np.isfinite(a) and not np.isfinite(b):
        return "not reached in either group"
    return f"{months_text(a, digits)} vs {months_text(b, digits)} {unit}"


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------

def median_range(x: pd.Series | np.ndarray, digits: int = 1) -> str:
    """``3.68 (0.05–6.33)``: median (minimum–maximum) of the non-missing values."""
    v = pd.Series(x, dtype=float).dropna()
    if v.empty:
        return "–"
    return f"{v.median():.{digits}f} ({v.min():.{digits}f}–{v.max():.{digits}f})"


def count_percent(k: int, n: int, digits: int = 0) -> str:
    """``27 (54%)``; ``<5`` when small-cell suppression is on and ``0 < k < 5``
    (:mod:`analysis_lib.data.privacy`)."""
    from .suppression import count_text, is_small

    if is_small(k):
        return count_text(k)
    return f"{k} ({100 * k / n:.{digits}f}%)" if n else f"{k} (–)"


def format_value(x: float, digits: int = 4) -> str:
    """A number for tables and text: thousands separators from 1,000 up (1,602; 30,860),
    ``digits`` significant digits below (10.17), "–" when missing (after
    :func:`analysis_lib.core.formatting.format_number`, which separates only from 10,000)."""
    if x is not None and math.isfinite(x) and abs(x) >= 1000:
        return f"{x:,.0f}"
    return format_number(x, digits)


def format_p(p: float, digits: int = 3) -> str:
    """A p-value for text and tables: ``0.017``, ``< 0.001``, ``1.000``, ``–`` when missing."""
    if p is None or not math.isfinite(p):
        return "–"
    if p < 10 ** -digits:
        return f"< {10 ** -digits:.{digits}f}"
    return f"{p:.{digits}f}"


def _p_phrase(p: float) -> str:
    """``= 0.017`` or ``< 0.001``: a p-value after the letter p."""
    txt = format_p(p)
    return txt if txt.startswith("<") else f"= {txt}"


def p_text(p: float) -> str:
    """``p = 0.017`` or ``p < 0.001`` (``p = –`` when missing)."""
    return f"p {_p_phrase(p)}"
