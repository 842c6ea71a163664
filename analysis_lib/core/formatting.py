"""One formatter for every number a reader sees.

Every number the book shows in a sentence, a table cell, a caption or a figure annotation goes
through these functions, so one rule holds everywhere (and ``tests/test_formatting.py`` and
the scan of the built book in ``tests/test_book.py`` check it):

* **missing** values are an en dash, ``–``; never ``nan``;
* **counts** are integers with thousands separators (``1,234``), never ``29.0``;
* **general numbers** (:func:`number`): thousands separators from 1,000 up, no decimals there
  (``30,860``); ``sig`` significant digits below 1,000 (``10.17``, ``0.3261``); powers of ten
  written with a superscript below 0.01 (``8.44×10⁻³``, ``5.2×10⁻⁴``), never ``5.2e-04``, so
  no number has more than four decimals;
* **p-values** (:func:`p_value`): three decimals, and ``<0.001`` below that (``p < 0.001`` in
  a phrase, :func:`p_phrase`);
* **ratios** with their interval (:func:`estimate_ci`): ``0.34 (0.11–1.07)``; an estimate
  that is infinite, zero or beyond 10⁶ is "not estimable" (with the reason when one is given),
  never a number such as 28,326,021,362;
* **MRD levels** as powers of ten, ``10⁻³`` (:func:`analysis_lib.core.units.format_mrd`),
  never ``10^-3`` or ``0.001``;
* **percentages** with one decimal unless said otherwise (``58.0%``).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

#: Estimates at or beyond this size (or at or below its inverse) are shown as not estimable:
#: a hazard or odds ratio of a million or more is the mark of a likelihood with no finite
#: maximum (separation, no events in a group), not an estimate.
NOT_ESTIMABLE_BEYOND: float = 1e6
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
DASH = "–"


def missing(x: Any) -> bool:
    """True for ``None``, NaN and non-numbers."""
    if x is None or isinstance(x, bool):
        return x is None
    try:
        return bool(np.isnan(float(x)))
    except (TypeError, ValueError):
        return True


def sci(x: float, sig: int = 2) -> str:
    """``5.2×10⁻⁴``: a number in powers of ten with a superscript exponent, ``sig``
    significant digits without trailing zeros (``10⁻⁴`` for an exact power of ten)."""
    if missing(x):
        return DASH
    if x == 0:
        return "0"
    exp = int(math.floor(math.log10(abs(x))))
    mant = x / 10 ** exp
    if round(abs(mant), sig - 1) >= 10:
        mant, exp = mant / 10, exp + 1
    power = f"10{str(exp).translate(_SUPERSCRIPT)}"
    digits = f"{mant:.{sig - 1}f}".rstrip("0").rstrip(".")
    if digits in ("1", "-1"):
        return power if digits == "1" else f"-{power}"
    return f"{digits}×{power}"


def number(x: float, sig: int = 4) -> str:
    """A general number: ``30,860``; ``10.17``; ``0.3261``; ``8.44×10⁻³``; ``–`` if missing;
    ``∞`` / ``-∞`` for infinities (only where infinity is a value, e.g. a median not
    reached is written in words by the caller)."""
    if missing(x):
        return DASH
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) < 0.01:
        return sci(x, min(sig, 3))
    # at most four decimals: 0.02583 -> 0.0258, 0.32614 -> 0.3261, 365.25 stays with sig 6
    sig = max(1, min(sig, 5 + int(math.floor(math.log10(abs(x))))))
    return f"{x:.{sig}g}"


def fixed(x: float, digits: int = 1) -> str:
    """A number with ``digits`` decimals and thousands separators (``1,234.5``; ``–``)."""
    if missing(x):
        return DASH
    if math.isinf(float(x)):
        return "∞" if x > 0 else "-∞"
    return f"{float(x):,.{digits}f}"


def signed(x: float, digits: int = 2) -> str:
    """A signed difference (a bias, a change): ``+0.12``, ``-0.05``, with ``digits`` decimals
    and separators (:func:`fixed`); a value that rounds to zero is written without a sign
    (never ``-0.00``), a missing one "–"."""
    if missing(x) or not math.isfinite(float(x)):
        return DASH
    text = fixed(abs(float(x)), digits)
    if float(text.replace(",", "")) == 0:
        return text
    return ("+" if x > 0 else "-") + text


def count(k: Any) -> str:
    """A count: ``29``, ``1,234`` (a float count such as 29.0 is shown as 29)."""
    if missing(k):
        return DASH
    return f"{int(round(float(k))):,}"


def percent(x: float, digits: int = 1) -> str:
    """A percentage given in percent: ``58.0%``."""
    return DASH if missing(x) else f"{float(x):.{digits}f}%"


def p_value(p: float, digits: int = 3) -> str:
    """A p-value: ``0.017``, ``1.000``, ``<0.001``, ``–`` when missing."""
    if missing(p):
        return DASH
    if p < 10 ** -digits:
        return f"<{10 ** -digits:.{digits}f}"
    return f"{p:.{digits}f}"


def p_phrase(p: float, digits: int = 3) -> str:
    """``p = 0.017``, ``p < 0.001`` or ``p not available``."""
    t = p_value(p, digits)
    if t == DASH:
        return "p not available"
    return f"p < {t[1:]}" if t.startswith("<") else f"p = {t}"


def estimable(x: float) -> bool:
    """A ratio that can be shown as a number (finite, positive, below a million)."""
    return (not missing(x)) and math.isfinite(x) and \
        1 / NOT_ESTIMABLE_BEYOND < x < NOT_ESTIMABLE_BEYOND


def ratio(x: float, digits: int = 2) -> str:
    """A hazard or odds ratio with ``digits`` decimals (three significant digits below 0.1),
    or "not estimable"."""
    if missing(x):
        return DASH
    if not estimable(x):
        return "not estimable"
    if x < 0.001:
        return sci(x, 2)
    if x < 0.1:
        return f"{x:#.2g}"  # two significant digits, trailing zero kept (0.050)
    return f"{x:,.{digits}f}"


def interval(lower: float, upper: float, digits: int = 2) -> str:
    """``0.11–1.07``; an infinite limit as ``∞``, a zero limit as ``0``."""
    if missing(lower) and missing(upper):
        return DASH

    def one(v: float) -> str:
        if missing(v):
            return DASH
        if math.isinf(v):
            return "∞"
        if v == 0:
            return "0"
        return ratio(v, digits) if estimable(v) else (sci(v, 2) if v < 1 else "∞")

    return f"{one(lower)}–{one(upper)}"


def estimate_ci(est: float, lower: float, upper: float, digits: int = 2,
                reason: str = "") -> str:
    """``0.34 (0.11–1.07)``; "not estimable" (with ``reason`` in parentheses when given) for
    an estimate that is infinite, zero or beyond 10⁶."""
    if missing(est):
        return DASH
    if not estimable(est):
        return f"not estimable ({reason})" if reason else "not estimable"
    return f"{ratio(est, digits)} ({interval(lower, upper, digits)})"


# --------------------------------------------------------------------------------------------
# Phrases used by the chapters
# --------------------------------------------------------------------------------------------

def percent_ci_text(est: float, lower: float, upper: float, digits: int = 1) -> str:
    """``74.0% (95% CI 61.6–86.4%)`` from fractions; "–" for a missing estimate."""
    if missing(est) or not np.isfinite(est):
        return DASH
    return (f"{fixed(100 * est, digits)}% ({fixed(100 * lower, digits)}–"
            f"{fixed(100 * upper, digits)}%)")


def months_text(x: float, digits: int = 1) -> str:
    """A median in months, or "not reached"."""
    return "not reached" if missing(x) or not np.isfinite(x) else fixed(x, digits)


def medians_text(a: float, b: float, digits: int = 1, unit: str = "months") -> str:
    """Two medians for a comparison: ``22.2 vs 67.0 months``, ``not reached vs 5.0 months``,
    or ``not reached in either group``."""
    if not np.isfinite(a) and not np.isfinite(b):
        return "not reached in either group"
    return f"{months_text(a, digits)} vs {months_text(b, digits)} {unit}"


def median_range(x: pd.Series | np.ndarray, digits: int = 1) -> str:
    """``3.68 (0.05–6.33)``: median (minimum–maximum) of the non-missing values."""
    v = pd.Series(x, dtype=float).dropna()
    if v.empty:
        return DASH
    return f"{fixed(v.median(), digits)} ({fixed(v.min(), digits)}–{fixed(v.max(), digits)})"


def count_percent(k: int, n: int, digits: int = 0) -> str:
    """``27 (54%)``; ``<5`` when small-cell suppression is on and ``0 < k < 5``
    (:mod:`analysis_lib.core.suppression`)."""
    from .suppression import count_text, is_small

    if is_small(k):
        return count_text(k)
    return f"{count(k)} ({100 * k / n:.{digits}f}%)" if n else f"{count(k)} ({DASH})"


# Names the chapters used before the formatter was one module: the same rules.
format_number = number
format_value = number
format_p = p_value
p_text = p_phrase


# --------------------------------------------------------------------------------------------
# Generated explanations
# --------------------------------------------------------------------------------------------

_POWER = re.compile(r"10\^\{?([-+−]?\d+)\}?")
_ENOTATION = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)[eE]([-+]?\d+)(?![\w])")
_LONG_FLOAT = re.compile(r"(?<![\w.])(-?\d+\.\d{5,})(?![\d])")
_PAIR = re.compile(r"\(\s*(-?\d+\.\d+)\s*,\s*(-?\d+\.\d+)\s*\)")
_BRACKETS = re.compile(r"\[\s*(-?[\d.,×⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)\s*,\s*(-?[\d.,×⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)\s*\]")


def prose(text: str) -> str:
    """A generated explanation (an audit's arithmetic, a finding's reason) with its numbers
    in the book's form: ``10^-4`` as ``10⁻⁴``, ``1.6e-04`` as ``1.6×10⁻⁴``, a float with five
    or more decimals rounded by :func:`number` (six significant digits, at most four
    decimals) and a closed interval ``[a, b]`` as ``a–b``. Code spans (between backticks) are
    left as they are: they show what a user types."""
    parts = re.split(r"(`+[^`]*`+)", str(text))
    return "".join(p if p.startswith("`") else _prose(p) for p in parts)


def _prose(text: str) -> str:
    text = _POWER.sub(lambda m: "10" + m.group(1).replace("−", "-").translate(_SUPERSCRIPT),
                      text)
    text = _ENOTATION.sub(lambda m: sci(float(f"{m.group(1)}e{m.group(2)}"),
                                       max(2, len(m.group(1).replace("-", "").replace(".", "")))),
                          text)
    text = _LONG_FLOAT.sub(lambda m: number(float(m.group(1)), 6), text)
    # a closed interval [a, b], or a printed interval (a, b) of decimals, as the book writes
    # intervals: a–b
    text = _PAIR.sub(lambda m: f"({m.group(1)}–{m.group(2)})", text)
    return _BRACKETS.sub(lambda m: f"{m.group(1)}–{m.group(2)}", text)
