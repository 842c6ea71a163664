"""Units and cut-points: days to months, MRD levels as powers of ten, stable identifiers of cut-
points.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# ============================================================================================
# The paper's end points, relapse and transplant summaries
# ============================================================================================

#: Days per year and per month used for survival times (365.25 and 365.25 / 12).
DAYS_PER_YEAR: float = 365.25
DAYS_PER_MONTH: float = DAYS_PER_YEAR / 12


def days_to_months(days: float | np.ndarray | pd.Series) -> float | np.ndarray | pd.Series:
    """Convert days to months of 365.25/12 days."""
    return days / DAYS_PER_MONTH


def format_mrd(x: float) -> str:
    """``1e-4`` as ``10⁻⁴``."""
    exp = int(round(np.log10(x)))
    sup = str(exp).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"10{sup}"


def cut_id(x: float) -> str:
    """A cut-point as it appears in identifiers: a fraction below 1 in scientific form
    without sign or dot (``1e-4`` -> ``"1e4"``, ``2.5e-3`` -> ``"2p5e3"``), any other value
    with its decimal point dropped (``3.68`` -> ``"368"``, ``10`` -> ``"10"``), as in the
    registry keys of Table 3."""
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"a cut-point must be a positive number, got {x!r}")
    if x < 1:
        mant, exp = f"{x:.6e}".split("e")
        mant = mant.rstrip("0").rstrip(".").replace(".", "p")
        return f"{mant}e{-int(exp)}"
    return f"{x:g}".replace(".", "")
