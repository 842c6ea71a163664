"""Internal-consistency audit of the paper's printed numbers (statcheck and GRIM in spirit).

:mod:`analysis_lib.paper.feasibility` builds 25 findings by hand, each a worked argument about one
number. This module is the systematic complement: it walks the registry of published numbers
(:func:`analysis_lib.paper.registry.load_registry`) and applies every check below to **every row it
applies to**, so that nothing is left out by selection. Each result is a :class:`Check` with
the number as printed, the recomputation, a verdict and one short line of arithmetic with
the actual numbers. Where a feasibility finding already covers a case, ``see_also`` names it
(from the registry's ``audit`` column) instead of repeating its argument.

Checks (in the order :func:`run_audit` runs them)
--------------------------------------------------
``p_from_ratio_ci``
    p-value of a hazard or odds ratio recomputed from its 95% CI (Wald), against the printed p.
``log_symmetry``
    A Wald CI of a ratio is symmetric about the estimate on the log scale.
``ci_contains_estimate``
    Every 95% CI contains its point estimate.
``percent_vs_count``
    Every percentage with a denominator is attainable as ``k/n`` (GRIM), and matches its count.
``median_in_range``
    Every median with a range lies in it; subgroup medians lie in the overall range.
``median_between_groups``
    The median of a two-group partition lies between the two group medians (Table 3).
``geometric_vs_median``
    Geometric means against the medians, minima and maxima of the same values.
``threshold_consistency``
    Cut-points and rules (dose cut, MRD cut-points, age, screening p, CRS grade, MRD
    positivity, LLOQ) used alike in the text and the tables.
``counts_add_up``
    Parts add up to their whole (Table 3 factors to 50, enrolment reasons, relapses, ...),
    and nested subgroups are nested.
``p_from_correlation``
    p-value of a correlation recomputed from r (t distribution); the n is not printed, so the
    sample sizes compatible with r and p are reported.
``repeats_agree``
    A number printed twice (Abstract, Results, Discussion, tables) is printed alike.

Tolerance principle
-------------------
Every printed number stands for the interval of values that round to it: ``0.032`` for
``[0.0315, 0.0325]``, ``14`` (a percentage) for ``[13.5, 14.5]``. A recomputation is
*consistent* when some combination of values inside those intervals reproduces what is
printed. For a p-value recomputed from a CI this means: the CI limits and the estimate are
each moved within half a unit of their last printed digit, which sweeps out an interval of
recomputed p-values; the printed p is consistent when its own rounding interval meets that
interval. This is the statcheck rule (a reported p is consistent if it equals the recomputed
p after rounding, allowing for the rounding of the test statistic), made exact by carrying
the rounding of all inputs through the monotone formula instead of a fixed tolerance.
Boundaries are inclusive, so both round-half-up and round-half-even printing pass.

Verdicts: ``consistent``, ``inconsistent`` or ``not checkable`` (the inputs are not printed).
Severity of an inconsistency: ``decision`` (a p-value on the other side of the paper's
significance level, statcheck's "gross inconsistency"), ``major`` (off by more than a factor
of two, impossible by counting, or a different definition of the same term), ``minor``
(beyond rounding but small, such as a probable typo of one digit).

References
----------
Wang Y, Jia Y-p, Lu A-d, Zhang L-p, Xue Y-j, Zeng H-m (2025). Effective MRD clearance and
long-term survival with CD19 CAR-T in pediatric B-ALL patients with MRD positivity or
chemotherapy intolerance. Front. Immunol. 16:1672509. doi:10.3389/fimmu.2025.1672509

Nuijten MB, Hartgerink CHJ, van Assen MALM, Epskamp S, Wicherts JM (2016). The prevalence of
statistical reporting errors in psychology (1985–2013). Behav Res Methods 48:1205–1226.

Altman DG, Bland JM (2011). How to obtain the P value from a confidence interval. BMJ
343:d2304.

Brown NJL, Heathers JAJ (2017). The GRIM test: a simple technique detects numerous anomalies
in the reporting of results in psychology. Soc Psychol Personal Sci 8:363–369.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..core.formatting import fixed, number, p_value, signed
from . import feasibility as fz
from .registry import EXTERNAL_SECTIONS, load_registry

__all__ = [
    "Verdict", "Severity", "VERDICTS", "SEVERITIES", "CHECKS", "Z95", "Check",
    "CountFamily", "COUNT_FAMILIES", "MRD_TEXT_CUTS",
    "decimals", "half_unit", "interval_limit_texts", "printed_p_interval",
    "wald_p_interval", "log_asymmetry_interval", "grim_counts", "median_bracket_holds",
    "correlation_p", "correlation_p_interval",
    "p_from_ratio_ci", "log_symmetry", "ci_contains_estimate", "percent_vs_count",
    "median_in_range", "median_between_groups", "geometric_vs_median",
    "threshold_consistency", "counts_add_up", "p_from_correlation", "repeats_agree",
    "run_audit", "audit_summary", "inconsistencies",
]

Verdict = Literal["consistent", "inconsistent", "not checkable"]
Severity = Literal["", "minor", "major", "decision"]
VERDICTS: tuple[str, ...] = ("consistent", "inconsistent", "not checkable")
SEVERITIES: tuple[str, ...] = ("", "minor", "major", "decision")

#: Two-sided 95% normal quantile (1.959964...), the "1.96" of a Wald interval.
Z95: float = float(stats.norm.ppf(0.975))

#: Ratio statistics whose CI is a Wald interval on the log scale.
_RATIO_STATS: tuple[str, ...] = ("hazard_ratio", "odds_ratio")


@dataclass(frozen=True)
class Check:
    """One check of one printed number (or one set of numbers) against the others.

    Attributes
    ----------
    check : str
        Name of the check (one of :data:`CHECKS`).
    key : str
        Registry key of the number checked; for a set of numbers, the key of the first (or
        of the binding) member. Empty only for a statement whose number is a subgroup label,
        which the registry does not list (an MRD cut-point in the text).
    location : str
        Where it is printed: ``section | table_row | table_column`` for a table cell, the
        section for text.
    published : str
        The number(s) as printed.
    recomputed : str
        What the check recomputes (with its rounding interval where relevant).
    verdict : {"consistent", "inconsistent", "not checkable"}
    arithmetic : str
        One short worked line with the actual numbers.
    severity : {"", "minor", "major", "decision"}
        Empty unless the verdict is ``inconsistent``; see the module docstring.
    note : str
        Caveats: the registry's note on the row (extraction problems), assumptions made.
    see_also : tuple of str
        Keys of :mod:`analysis_lib.paper.feasibility` findings that cover the same number.
    repeat_of : str
        For a number printed again, the registry key of the occurrence that counts.
    """
    check: str
    key: str
    location: str
    published: str
    recomputed: str
    verdict: Verdict
    arithmetic: str
    severity: Severity = ""
    note: str = ""
    see_also: tuple[str, ...] = ()
    repeat_of: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if (self.verdict == "inconsistent") != (self.severity != ""):
            raise ValueError("severity is given exactly when the verdict is inconsistent")


# ============================================================================================
# Printed precision
# ============================================================================================

def _clean(text: str) -> str:
    return re.sub(r"^[<>≤≥=\s]+", "", text.strip())


def decimals(text: str) -> int:
    """Number of decimals printed in a number: ``"0.030"`` -> 3, ``"30,860"`` -> 0,
    ``"<0.001"`` -> 3.

    Trailing zeros after the decimal point count ("0.030" was printed to three places).
    """
    s = _clean(text).replace(",", "")
    return len(s.split(".", 1)[1]) if "." in s else 0


def half_unit(text: str, integer_zeros_significant: bool = True) -> float:
    """Half a unit in the last printed place of a number: ``"0.032"`` -> 0.0005,
    ``"14"`` -> 0.5.

    Parameters
    ----------
    text : str
        The number as printed.
    integer_zeros_significant : bool, default True
        For an integer with trailing zeros (``"1,890,000"``), whether those zeros are
        significant. If not, the half unit is that of the last non-zero digit (5,000 here):
        the conservative reading of a large rounded maximum.
    """
    s = _clean(text).replace(",", "")
    d = decimals(s)
    if d > 0 or integer_zeros_significant:
        return 0.5 * 10.0 ** (-d)
    digits = s.lstrip("-+")
    zeros = len(digits) - len(digits.rstrip("0")) if digits.strip("0") else 0
    return 0.5 * 10.0 ** zeros


def interval_limit_texts(interval_text: str) -> tuple[str, str]:
    """The two limits of a printed interval, as printed: ``"0.944,0.995"``,
    ``"0.361-0.821"``, ``"64.8–85.1"``, ``"1,602-1,890,000"``, ``"7.6 to >5000"``.

    A dash separates the limits when there is one; otherwise a comma does (Table 1 prints
    ``lower,upper``), so thousands separators inside dash-separated limits survive.
    """
    s = interval_text.strip()
    if " to " in s:
        a, b = s.split(" to ", 1)
    else:
        m = re.fullmatch(r"\s*([<>≤≥]?-?[\d.,]+?)\s*[-–]\s*([<>≤≥]?-?[\d.,]+)\s*", s)
        if m:
            a, b = m.groups()
        elif "," in s:
            a, b = s.split(",", 1)
        else:
            raise ValueError(f"cannot split interval {interval_text!r}")
    return a.strip(), b.strip()


def _as_float(text: str) -> float:
    return float(_clean(text).replace(",", ""))


def printed_p_interval(value_text: str) -> tuple[float, float]:
    """Values a printed p-value stands for: ``"0.032"`` -> (0.0315, 0.0325),
    ``"<0.001"`` -> (0, 0.001)."""
    s = value_text.strip()
    if s.startswith(("<", "≤")):
        return 0.0, _as_float(s)
    if s.startswith((">", "≥")):
        return _as_float(s), 1.0
    v, h = _as_float(s), half_unit(s)
    return max(0.0, v - h), min(1.0, v + h)


# ============================================================================================
# Recomputations (pure)
# ============================================================================================

def _two_sided_p(z: float) -> float:
    return float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else 0.0


def wald_p_interval(estimate: float, lower: float, upper: float, h_estimate: float = 0.0,
                    h_lower: float = 0.0, h_upper: float = 0.0,
                    z_crit: float = Z95) -> tuple[float, float, float]:
    """Wald p-value of a ratio from its CI, and its range over the rounding of the inputs.

    A 95% Wald interval is ``exp(b ± z·se)`` with ``b = ln(estimate)``, so
    ``se = (ln U - ln L) / (2·z)``, ``z = b / se`` and ``p = 2·(1 - Phi(|z|))`` (Altman &
    Bland 2011). ``|z|`` grows with ``|ln estimate|`` and falls with the width
    ``ln U - ln L``, so over the box ``estimate ± h_estimate``, ``L ± h_lower``,
    ``U ± h_upper`` the smallest p takes the estimate farthest from 1 and the narrowest
    interval ``(L + h_lower, U - h_upper)``, and the largest p the estimate nearest to 1 (or
    1 itself, if the box contains it) and the widest interval ``(L - h_lower, U + h_upper)``.

    Returns
    -------
    (p, p_min, p_max) : tuple of float
        ``p`` from the printed numbers; ``[p_min, p_max]`` the p-values compatible with
        their rounding.
    """
    if not 0 < lower <= upper or estimate <= 0:
        raise ValueError("need 0 < lower <= upper and estimate > 0")
    se = (math.log(upper) - math.log(lower)) / (2 * z_crit)
    p = _two_sided_p(math.log(estimate) / se) if se > 0 else 0.0
    e_lo, e_hi = estimate - h_estimate, estimate + h_estimate
    abs_hi = math.inf if e_lo <= 0 else max(abs(math.log(e_lo)), abs(math.log(e_hi)))
    abs_lo = 0.0 if e_lo <= 1 <= e_hi else min(abs(math.log(max(e_lo, 1e-300))),
                                               abs(math.log(e_hi)))
    lo_n, hi_n = lower + h_lower, upper - h_upper
    se_min = (math.log(hi_n) - math.log(lo_n)) / (2 * z_crit) if hi_n > lo_n else 0.0
    lo_w, hi_w = lower - h_lower, upper + h_upper
    se_max = math.inf if lo_w <= 0 else (math.log(hi_w) - math.log(lo_w)) / (2 * z_crit)
    p_min = 0.0 if se_min == 0 or math.isinf(abs_hi) else _two_sided_p(abs_hi / se_min)
    p_max = 1.0 if math.isinf(se_max) else _two_sided_p(abs_lo / se_max)
    return p, p_min, p_max


def log_asymmetry_interval(estimate: float, lower: float, upper: float, h_estimate: float = 0.0,
                           h_lower: float = 0.0,
                           h_upper: float = 0.0) -> tuple[float, float, float]:
    """Log-scale asymmetry ``a = ln(estimate) - (ln L + ln U)/2`` and its range over rounding.

    ``a`` is 0 for a Wald interval. It increases with the estimate and decreases with both
    limits, so ``a_min`` takes ``(estimate - h, L + h, U + h)`` and ``a_max``
    ``(estimate + h, L - h, U - h)``.

    Returns
    -------
    (a, a_min, a_max) : tuple of float
    """
    def a(e: float, lo: float, hi: float) -> float:
        return math.log(e) - (math.log(lo) + math.log(hi)) / 2

    a0 = a(estimate, lower, upper)
    a_min = a(estimate - h_estimate, lower + h_lower, upper + h_upper)
    lo_w = lower - h_lower
    a_max = math.inf if lo_w <= 0 else a(estimate + h_estimate, lo_w, upper - h_upper)
    return a0, a_min, a_max


def grim_counts(percent_text: str, n: int) -> tuple[int, ...]:
    """The counts ``k`` (0 <= k <= n) whose percentage ``100·k/n`` rounds to the printed one.

    GRIM (Brown & Heathers 2017) for a proportion, the mean of 0/1 data: with ``n`` patients
    a percentage can only take the values ``100·k/n``. The printed ``"14"`` stands for
    ``[13.5, 14.5]`` (inclusive, so either rounding convention passes); an empty result means
    no count gives the printed percentage.
    """
    if n < 1:
        raise ValueError("n must be positive")
    v, h = _as_float(percent_text), half_unit(percent_text)
    tol = 1e-9
    return tuple(k for k in range(n + 1) if v - h - tol <= 100 * k / n <= v + h + tol)


def median_bracket_holds(overall: float, median_a: float, median_b: float,
                         half: float = 0.0) -> bool:
    """Whether ``overall`` can be the median of the union of two groups with these medians.

    Claim: the median of ``A ∪ B`` lies between the medians of ``A`` and ``B`` (for the usual
    median, the mean of the two middle values when a sample is even). Proof, with
    ``m_a <= m_b`` and ``n = |A| + |B|``: at least ``|A|/2`` values of ``A`` are ``<= m_a``
    and at least ``|B|/2`` values of ``B`` are ``<= m_b``, so at least ``n/2`` values are
    ``<= m_b``. For odd ``n`` this puts the middle value at or below ``m_b``. For even
    ``n = 2k`` it gives ``x(k) <= m_b``; if even ``x(k+1) <= m_b`` we are done. Otherwise
    exactly ``k`` values are ``<= m_b``, which happens only when both groups are even,
    ``A`` has no value in ``(m_a, m_b]`` and each group splits exactly in half. Then
    ``x(k)`` is the lower middle value of ``A`` or of ``B`` and ``x(k+1)`` is at most the
    upper middle value of the same group, so ``(x(k) + x(k+1))/2`` is at most that group's
    median ``<= m_b``. The lower bound is the mirror image. ``half`` widens the bracket by
    the printed rounding.
    """
    lo, hi = min(median_a, median_b), max(median_a, median_b)
    return lo - half <= overall <= hi + half


def correlation_p(r: float, n: int) -> float:
    """Two-sided p-value of a correlation coefficient ``r`` from ``n`` pairs,
    ``t = r·sqrt(n - 2)/sqrt(1 - r²)`` with ``n - 2`` degrees of freedom (the test SPSS
    reports for Pearson's r, and its large-sample test for Spearman's rho)."""
    if n < 3 or not -1 < r < 1:
        raise ValueError("need n >= 3 and -1 < r < 1")
    t = r * math.sqrt(n - 2) / math.sqrt(1 - r * r)
    return float(2 * stats.t.sf(abs(t), n - 2))


def correlation_p_interval(r: float, n: int, h: float = 0.0) -> tuple[float, float]:
    """Range of :func:`correlation_p` over ``|r| ± h`` (p falls as ``|r|`` grows)."""
    a = abs(r)
    return correlation_p(min(a + h, 1 - 1e-12), n), correlation_p(max(a - h, 0.0), n)


# ============================================================================================
# Registry helpers
# ============================================================================================

def _location(row: pd.Series) -> str:
    parts = [row["section"]]
    if row["table_row"]:
        parts.append(row["table_row"])
    if row["table_column"]:
        parts.append(row["table_column"])
    return " | ".join(parts)


def _audit_keys(*rows: pd.Series | None) -> tuple[str, ...]:
    """Feasibility finding keys named in the rows' ``audit`` column (those that exist)."""
    known = {f.key for f in fz.FINDINGS}
    out: list[str] = []
    for row in rows:
        if row is None:
            continue
        out += [k for k in row["audit"].split(";") if k and k in known and k not in out]
    return tuple(out)


def _n(row: pd.Series) -> int | None:
    v = row["n"]
    return None if pd.isna(v) else int(v)


def _fmt_p(p: float) -> str:
    """A recomputed p-value in an arithmetic that shows a rounding interval: one decimal more
    than the paper prints (``0.0215``), so the interval around a printed three-decimal p can
    be seen, and three significant digits in powers of ten below 0.001 (``1.59×10⁻⁴``), never
    ``0.0000`` (:func:`analysis_lib.core.formatting.fixed`,
    :func:`~analysis_lib.core.formatting.number`). A p-value on its own is written by the
    p-value rule (:func:`_p_is`, :func:`~analysis_lib.core.formatting.p_value`)."""
    if p == 0:
        return "0"
    return fixed(p, 4) if p >= 0.001 else number(p, 3)


def _p_is(p: float) -> str:
    """``= 0.013`` or ``< 0.001``: a recomputed p-value by the p-value rule, after "p"."""
    text = p_value(p)
    return f"< {text[1:]}" if text.startswith("<") else f"= {text}"


def _fmt(x: float, digits: int = 0) -> str:
    """A number with ``digits`` decimals and thousands separators (the book's formatter)."""
    return fixed(x, digits)


def _sig(x: float, sig: int = 4) -> str:
    """``x`` with ``sig`` significant digits in fixed notation (``0.06595``, ``1,235``), for
    an arithmetic whose point is a small difference (the book's formatter,
    :func:`analysis_lib.core.formatting.fixed`, with the decimals that keep them)."""
    if x == 0 or not math.isfinite(x):
        return number(x)
    return fixed(x, max(0, sig - 1 - math.floor(math.log10(abs(x)))))


class _Registry:
    """The registry frame with lookups by key (internal)."""
    def __init__(self, df: pd.DataFrame):
        self.df = df.reset_index(drop=True)
        self.by_key = {k: self.df.loc[i] for i, k in enumerate(self.df["key"])}
        alpha = self.by_key.get("methods_alpha")
        self.alpha = float(alpha["value"]) if alpha is not None else 0.05

    def get(self, key: str) -> pd.Series | None:
        return self.by_key.get(key)

    def canonical_key(self, key: str) -> str:
        d = self.by_key[key]["duplicate_of"]
        return d if d else key

    def rows(self, mask: pd.Series) -> Iterable[pd.Series]:
        for i in np.flatnonzero(mask.to_numpy()):
            yield self.df.loc[i]

    def internal(self) -> pd.Series:
        return ~self.df["section"].isin(EXTERNAL_SECTIONS)


def _reg(registry: pd.DataFrame | None) -> _Registry:
    return _Registry(load_registry() if registry is None else registry)


def _note(row: pd.Series, extra: str = "") -> str:
    return "; ".join(s for s in (extra, row["note"]) if s)


# ============================================================================================
# 1. p-values from ratio CIs
# ============================================================================================

#: Ratio rows whose p-value is printed once for several estimates (Results, Toxicity:
#: "p < 0.001 for both").
_SHARED_P: dict[str, str] = {"il6_or_severe_crs": "il6_or_p", "il6_or_icans": "il6_or_p"}


def _p_partner(reg: _Registry, row: pd.Series) -> pd.Series | None:
    """The printed p-value of a ratio row: the ``p`` cell of the same table row and model,
    else the text row ``<key>_p``, else a shared p (:data:`_SHARED_P`)."""
    if row["table_column"]:
        col = re.sub(r"^(HR|OR) \(95%CI\)\s*", "p ", row["table_column"]).strip()
        df = reg.df
        m = (df["section"].eq(row["section"]) & df["table_row"].eq(row["table_row"])
             & df["table_column"].eq(col))
        hits = list(reg.rows(m))
        if hits:
            return hits[0]
    own = reg.get(row["key"] + "_p")
    return own if own is not None else reg.get(_SHARED_P.get(row["key"], ""))


def _ratio_rows(reg: _Registry) -> Iterable[pd.Series]:
    return reg.rows(reg.df["statistic"].isin(_RATIO_STATS) & reg.internal())


def _ratio_inputs(row: pd.Series) -> tuple[str, str, str, float, float, float]:
    lo_t, hi_t = interval_limit_texts(row["interval_text"])
    return (row["value_text"], lo_t, hi_t, half_unit(row["value_text"]), half_unit(lo_t),
            half_unit(hi_t))


def p_from_ratio_ci(registry: pd.DataFrame | None = None) -> list[Check]:
    """Recompute the p-value of every hazard and odds ratio from its printed 95% CI.

    For each ratio row (Tables 1A, 1B, 2 and the text, repeats included) with a 95% CI and a
    printed p: ``SE = (ln U - ln L)/(2·1.96)``, ``z = ln(estimate)/SE``, two-sided normal p
    (Altman & Bland 2011), as Cox and logistic software computes the Wald p that it prints
    next to a Wald CI. The estimate and both limits are printed to 3 decimals, so each is
    known to ±0.0005; :func:`wald_p_interval` turns that into the interval of compatible
    p-values, and the printed p (itself ± half a unit, or ``< 0.001``) is consistent when
    the two intervals meet (the statcheck rule, Nuijten et al. 2016).

    Severity: ``decision`` when the printed p and every compatible p fall on opposite sides
    of the paper's significance level (Methods: p < 0.05); ``major`` when the printed p is
    more than twice as far (as a ratio) from the nearest compatible p; else ``minor``.
    Ratio rows without a printed CI or p are reported as ``not checkable``.
    """
    reg = _reg(registry)
    out: list[Check] = []
    for row in _ratio_rows(reg):
        p_row = _p_partner(reg, row)
        label = "HR" if row["statistic"] == "hazard_ratio" else "OR"
        base = dict(check="p_from_ratio_ci", key=row["key"], location=_location(row),
                    see_also=_audit_keys(row, p_row), repeat_of=row["duplicate_of"])
        if row["interval_type"] != "ci95" or p_row is None:
            missing = "95% CI" if row["interval_type"] != "ci95" else "p-value"
            printed = f"{label} {row['value_text']}" + (
                f", p {_p_text(p_row)}" if p_row is not None else "")
            out.append(Check(**base, published=printed, recomputed="",
                             verdict="not checkable",
                             arithmetic=f"no {missing} printed with this estimate",
                             note=_note(row)))
            continue
        e_t, lo_t, hi_t, he, hl, hu = _ratio_inputs(row)
        est, lo, hi = row["value"], row["lower"], row["upper"]
        p, p_min, p_max = wald_p_interval(est, lo, hi, he, hl, hu)
        se = (math.log(hi) - math.log(lo)) / (2 * Z95)
        z = math.log(est) / se
        pr_lo, pr_hi = printed_p_interval(p_row["value_text"])
        ok = p_max >= pr_lo and p_min <= pr_hi
        severity: Severity = ""
        if not ok:
            printed_sig = pr_hi < reg.alpha
            if p_max < reg.alpha:
                recomputed_sig: bool | None = True
            elif p_min >= reg.alpha:
                recomputed_sig = False
            else:
                recomputed_sig = None
            pv = p_row["value"]
            factor = pv / p_max if pr_lo > p_max else (p_min / pv if pv > 0 else math.inf)
            if recomputed_sig is not None and recomputed_sig != printed_sig:
                severity = "decision"
            else:
                severity = "major" if factor > 2 else "minor"
        arith = (f"SE = (ln {hi_t} - ln {lo_t})/(2·1.96) = {fixed(se, 4)}; z = ln {e_t}/SE = "
                 f"{fixed(z, 3)}; p = {_fmt_p(p)}; over the printed rounding p in "
                 f"[{_fmt_p(p_min)}, {_fmt_p(p_max)}] vs printed {_p_text(p_row)} "
                 f"[{_fmt_p(pr_lo)}, {_fmt_p(pr_hi)}] (one decimal more than printed, to show "
                 "the rounding)")
        if severity == "decision":
            arith += (f"; printed {'<' if pr_hi < reg.alpha else '>='} {reg.alpha:g} but "
                      f"recomputed {'<' if p_max < reg.alpha else '>='} {reg.alpha:g}")
        out.append(Check(
            **base,
            published=f"{label} {e_t} ({row['interval_text']}), p {_p_text(p_row)}",
            recomputed=(f"p {_p_is(p)} (over the printed rounding: "
                        f"{_fmt_p(p_min)}–{_fmt_p(p_max)})"),
            verdict="consistent" if ok else "inconsistent", arithmetic=arith,
            severity=severity, note=_note(row)))
    return out


def _p_text(p_row: pd.Series | None) -> str:
    if p_row is None:
        return ""
    s = p_row["value_text"].strip()
    return s.replace("<", "< ") if s.startswith("<") else f"= {s}"


# ============================================================================================
# 2. Log-scale symmetry of ratio CIs
# ============================================================================================

def log_symmetry(registry: pd.DataFrame | None = None) -> list[Check]:
    """Check that every ratio CI is symmetric about its estimate on the log scale.

    A Wald interval ``exp(b ± z·se)`` has ``ln(estimate)`` at the midpoint of ``ln L`` and
    ``ln U``: the estimate is the geometric mean ``sqrt(L·U)`` of the limits. The check
    reports the asymmetry ratio ``(ln U - ln est)/(ln est - ln L)`` (1 for a symmetric
    interval) and is consistent when some values within the printed rounding (±half a unit
    of the last digit of each number) make the interval symmetric
    (:func:`log_asymmetry_interval` contains 0). Profile-likelihood or exact intervals would
    be asymmetric, but neither SPSS's Cox nor its logistic output prints them by default.

    Severity: ``major`` when the asymmetry ratio is above 2 or below 1/2, else ``minor``.
    """
    reg = _reg(registry)
    out: list[Check] = []
    for row in _ratio_rows(reg):
        base = dict(check="log_symmetry", key=row["key"], location=_location(row),
                    see_also=_audit_keys(row), repeat_of=row["duplicate_of"])
        if row["interval_type"] != "ci95":
            out.append(Check(**base, published=row["value_text"], recomputed="",
                             verdict="not checkable", arithmetic="no 95% CI printed",
                             note=_note(row)))
            continue
        e_t, lo_t, hi_t, he, hl, hu = _ratio_inputs(row)
        est, lo, hi = row["value"], row["lower"], row["upper"]
        a0, a_min, a_max = log_asymmetry_interval(est, lo, hi, he, hl, hu)
        ok = a_min <= 0 <= a_max
        down = math.log(est) - math.log(lo)
        ratio = (math.log(hi) - math.log(est)) / down if down > 0 else math.inf
        mid = math.sqrt(lo * hi)
        sym_hi = est * est / lo
        severity: Severity = "" if ok else ("major" if not 0.5 <= ratio <= 2 else "minor")
        out.append(Check(
            **base, published=f"{e_t} ({row['interval_text']})",
            recomputed=f"sqrt(L·U) = {_sig(mid)}; asymmetry ratio {fixed(ratio, 3)}",
            verdict="consistent" if ok else "inconsistent",
            arithmetic=(f"sqrt({lo_t}·{hi_t}) = {_sig(mid)} vs {e_t}; (ln {hi_t} - "
                        f"ln {e_t})/(ln {e_t} - ln {lo_t}) = {fixed(ratio, 3)}; ln est - "
                        f"mid(ln L, ln U) = {signed(a0, 4)}, range over rounding "
                        f"[{signed(a_min, 4)}, {signed(a_max, 4)}]"
                        + ("" if ok else
                           f"; symmetric upper limit est²/L = {_sig(sym_hi)}")),
            severity=severity, note=_note(row)))
    return out


# ============================================================================================
# 3. CIs contain their estimates
# ============================================================================================

def ci_contains_estimate(registry: pd.DataFrame | None = None) -> list[Check]:
    """Check that every printed 95% CI (ratios and survival rates, repeats included)
    contains its point estimate: ``L <= estimate <= U`` as printed. No rounding allowance is
    needed: rounding is monotone, so it cannot move a value across a limit. A CI with no
    estimate printed beside it is ``not checkable``. Severity of a failure: ``major``."""
    reg = _reg(registry)
    out: list[Check] = []
    for row in reg.rows(reg.df["interval_type"].eq("ci95") & reg.internal()):
        base = dict(check="ci_contains_estimate", key=row["key"], location=_location(row),
                    published=f"{row['value_text']} ({row['interval_text']})",
                    see_also=_audit_keys(row), repeat_of=row["duplicate_of"])
        if math.isnan(row["value"]):
            out.append(Check(**base, recomputed="", verdict="not checkable",
                             arithmetic="no estimate printed", note=_note(row)))
            continue
        lo, hi, v = row["lower"], row["upper"], row["value"]
        ok = lo <= v <= hi
        out.append(Check(
            **base, recomputed=f"{lo:g} <= {v:g} <= {hi:g}: {ok}",
            verdict="consistent" if ok else "inconsistent",
            arithmetic=f"{lo:g} {'<=' if lo <= v else '>'} {v:g} {'<=' if v <= hi else '>'} "
                       f"{hi:g}",
            severity="" if ok else "major", note=_note(row)))
    return out


# ============================================================================================
# 4. Percentages against counts (GRIM)
# ============================================================================================

#: Percentages whose count is printed under another name: Toxicity's grade >= 3 CRS and
#: ICANS percentages (counts in Table 3) and the Discussion's 64.0% bridged to HSCT (count
#: in Treatment outcomes).
_COUNT_FOR_PERCENT: dict[str, str] = {
    "severe_crs_pct": "t3_crs_grade3_4_n",
    "icans_pct": "t3_icans_yes_n",
    "hsct_after_cart_pct": "n_bridged_hsct",
}


def _count_partner(reg: _Registry, key: str) -> pd.Series | None:
    """The count printed with a percentage: ``n_X`` for ``X_pct`` or ``pct_X`` (after
    resolving repeats), or :data:`_COUNT_FOR_PERCENT`."""
    canon = reg.canonical_key(key)
    if canon in _COUNT_FOR_PERCENT:
        return reg.get(_COUNT_FOR_PERCENT[canon])
    stem = canon[4:] if canon.startswith("pct_") else (
        canon[:-4] if canon.endswith("_pct") else "")
    cand = reg.get("n_" + stem) if stem else None
    return cand if cand is not None and cand["statistic"] == "count" else None


def percent_vs_count(registry: pd.DataFrame | None = None) -> list[Check]:
    """Check every percentage that has a denominator against the counts it can come from.

    GRIM for proportions (Brown & Heathers 2017): with denominator ``n`` a percentage
    printed to ``d`` decimals must be ``100·k/n`` for an integer ``k``, after rounding; the
    printed value stands for ± half a unit of its last digit (inclusive). When the paper
    also prints the count (``7 cases (14%)``, ``24/50 (48%)``), ``100·k/n`` must round to the
    printed percentage; otherwise the check is that some ``k`` does (GRIM proper). Every
    percent row of this study with a denominator is checked, repeats included. Severity of a
    failure: ``major`` (no count of patients gives the number).
    """
    reg = _reg(registry)
    out: list[Check] = []
    mask = reg.df["statistic"].eq("percent") & reg.internal()
    for row in reg.rows(mask):
        n = _n(row)
        count = _count_partner(reg, row["key"])
        base = dict(check="percent_vs_count", key=row["key"], location=_location(row),
                    see_also=_audit_keys(row, count), repeat_of=row["duplicate_of"])
        if n is None:
            out.append(Check(**base, published=f"{row['value_text']}%", recomputed="",
                             verdict="not checkable", arithmetic="no denominator printed",
                             note=_note(row)))
            continue
        ks = grim_counts(row["value_text"], n)
        h = half_unit(row["value_text"])
        d = decimals(row["value_text"])
        lo_b, hi_b = row["value"] - h, row["value"] + h
        if count is not None:
            k = int(count["value"])
            pct = 100 * k / n
            ok = k in ks
            published = f"{count['value_text']} of {n} ({row['value_text']}%)"
            arith = (f"100·{k}/{n} = {pct:.{d + 2}f}%, printed {row['value_text']}% stands "
                     f"for [{lo_b:.{d + 1}f}, {hi_b:.{d + 1}f}]")
            if not ok:
                arith += f"; counts that fit: {', '.join(map(str, ks)) or 'none'}"
            recomputed = f"{pct:.{d + 2}f}%"
            see_count = f" (count: {count['key']})"
        else:
            ok = bool(ks)
            published = f"{row['value_text']}% of {n}"
            if ok:
                arith = "; ".join(f"100·{k}/{n} = {100 * k / n:.{d + 2}f}%" for k in ks)
                recomputed = f"k = {', '.join(map(str, ks))} of {n}"
            else:
                below = max((k for k in range(n + 1) if 100 * k / n < lo_b), default=0)
                arith = (f"100·{below}/{n} = {100 * below / n:.{d + 2}f}% and "
                         f"100·{below + 1}/{n} = {100 * (below + 1) / n:.{d + 2}f}%: none "
                         f"in [{lo_b:.{d + 1}f}, {hi_b:.{d + 1}f}]")
                recomputed = "no k"
            see_count = " (no count printed: GRIM only)"
        out.append(Check(**base, published=published, recomputed=recomputed,
                         verdict="consistent" if ok else "inconsistent", arithmetic=arith,
                         severity="" if ok else "major",
                         note=_note(row, see_count.strip(" ()"))))
    return out


# ============================================================================================
# 5. Medians against ranges
# ============================================================================================

#: Subgroup medians and the overall row whose range they must lie in: every Table 3 median
#: Cmax (overall Cmax range, Results, PK) and the CD19-negative/positive relapse times
#: (overall relapse range, Results, Treatment outcomes).
_SUBGROUP_OF: dict[str, str] = {
    "relapse_time_median_cd19_neg": "relapse_time_median",
    "relapse_time_median_cd19_pos": "relapse_time_median",
}
_TABLE3_COLUMN_OVERALL: dict[str, str] = {"Median Cmax": "cmax_median"}


def median_in_range(registry: pd.DataFrame | None = None) -> list[Check]:
    """Check that every median lies within its range, and every subgroup median within the
    overall range.

    (a) Every median printed with a range (``median (range a–b)``): ``a <= median <= b``.
    (b) Every median of a subgroup whose overall range is printed (Table 3 median Cmax
    against the Results' Cmax range 1,602–1,890,000; CD19-negative and CD19-positive median
    relapse times against the range of all 15): at least half of the subgroup is at or below
    its median and at least half at or above, so the median lies within the range of the
    subgroup, and so within the overall range. Rounding is allowed for (± half a unit of the
    last printed digit of each number). A median printed only as a range is ``not
    checkable``. Severity of a failure: ``major``.
    """
    reg = _reg(registry)
    df = reg.df
    out: list[Check] = []
    mask = df["statistic"].eq("median") & df["interval_type"].eq("range") & reg.internal()
    for row in reg.rows(mask):
        base = dict(check="median_in_range", key=row["key"], location=_location(row),
                    see_also=_audit_keys(row), repeat_of=row["duplicate_of"])
        if math.isnan(row["value"]):
            out.append(Check(**base, published=f"median {row['interval_text']}",
                             recomputed="", verdict="not checkable",
                             arithmetic="a range is printed where the median should be",
                             note=_note(row)))
            continue
        out.append(_median_vs_range(row, row, base))
    pairs = [(row, _SUBGROUP_OF[row["key"]])
             for row in reg.rows(df["key"].isin(list(_SUBGROUP_OF)))]
    for col, overall_key in _TABLE3_COLUMN_OVERALL.items():
        pairs += [(row, overall_key) for row in reg.rows(df["section"].eq("Table 3")
                                                         & df["table_column"].eq(col))]
    for row, overall_key in pairs:
        overall = reg.get(overall_key)
        if overall is None:
            continue
        base = dict(check="median_in_range", key=row["key"], location=_location(row),
                    see_also=_audit_keys(row), repeat_of=row["duplicate_of"])
        c = _median_vs_range(row, overall, base)
        if c.verdict == "inconsistent":  # the overall range's findings cover the failure
            c = replace(c, see_also=_audit_keys(row, overall))
        out.append(c)
    return out


def _median_vs_range(row: pd.Series, rng_row: pd.Series, base: dict) -> Check:
    lo_t, hi_t = interval_limit_texts(rng_row["interval_text"])
    lo, hi, m = rng_row["lower"], rng_row["upper"], row["value"]
    h = max(half_unit(row["value_text"]), half_unit(lo_t), half_unit(hi_t))
    ok = lo - h <= m <= hi + h
    own = rng_row["key"] == row["key"]
    n = _n(row)
    what = "its range" if own else f"the overall range ({rng_row['key']})"
    arith = f"{lo_t} <= {row['value_text']} <= {hi_t}: {'yes' if ok else 'no'}"
    if not ok and m < lo:
        half_n = math.ceil(n / 2) if n else None
        arith += (f"; {row['value_text']} < {lo_t}: at least "
                  + (f"half of the {n} values ({half_n} or more)" if n else "half the values")
                  + " lie below the printed minimum")
    elif not ok:
        arith += f"; {row['value_text']} > {hi_t}, above the printed maximum"
    return Check(**base, published=f"median {row['value_text']} vs {what} {lo_t}–{hi_t}",
                 recomputed=f"in [{lo_t}, {hi_t}]: {ok}",
                 verdict="consistent" if ok else "inconsistent", arithmetic=arith,
                 severity="" if ok else "major", note=_note(row))


# ============================================================================================
# 6. Overall median between group medians
# ============================================================================================

def _table3_factor_pairs(reg: _Registry) -> list[tuple[str, str, str]]:
    """Table 3 factors as ``(factor, level a, level b)``, from the p-value rows
    (``factor | a vs b``), in printed order."""
    df = reg.df
    pairs: list[tuple[str, str, str]] = []
    for label in dict.fromkeys(df.loc[df["section"].eq("Table 3")
                                      & df["table_row"].str.contains(" vs "), "table_row"]):
        factor, levels = label.split(" | ", 1)
        a, b = levels.split(" vs ", 1)
        pairs.append((factor, a, b))
    return pairs


def _t3_cell(reg: _Registry, factor: str, level: str, column: str) -> pd.Series | None:
    df = reg.df
    hit = list(reg.rows(df["section"].eq("Table 3")
                        & df["table_row"].eq(f"{factor} | {level}")
                        & df["table_column"].eq(column)))
    return hit[0] if hit else None


def median_between_groups(registry: pd.DataFrame | None = None) -> list[Check]:
    """Check that an overall median lies between the medians of the two groups of each
    partition of the same patients (:func:`median_bracket_holds`).

    Table 3 splits the 50 patients by 17 factors, each into two groups whose N add up to 50.
    For median Cmax, the printed overall median (Results, PK: 30,860) must lie between the
    two group medians of every factor (one check per factor). For median AUC0-28d and Tlast,
    whose overall median is not printed, the 17 brackets must still share a common value: one
    check per column, reporting the intersection (for Cmax too). The relapse median (12.0
    months, 15 patients) must lie between the CD19-negative (4) and CD19-positive (11)
    medians. Assumption: each factor partitions the same patients whose value enters the
    overall median (checked through N); a factor whose N do not add up is ``not
    checkable``. Rounding: ± half a unit of the last printed digit. Severity: ``major``.
    """
    reg = _reg(registry)
    out: list[Check] = []
    pairs = _table3_factor_pairs(reg)
    for col in ("Median Cmax", "Median AUC0-28d", "Median Tlast"):
        overall = reg.get(_TABLE3_COLUMN_OVERALL.get(col, ""))
        lo_all, hi_all = -math.inf, math.inf
        lo_key = hi_key = ""
        used = 0
        for factor, a, b in pairs:
            # a factor enters only if its two N add up to the cohort
            na, nb = _t3_cell(reg, factor, a, "N"), _t3_cell(reg, factor, b, "N")
            ma, mb = _t3_cell(reg, factor, a, col), _t3_cell(reg, factor, b, col)
            if ma is None or mb is None:
                continue
            total = _n(na) if na is not None else None
            loc = f"Table 3 | {factor} | {a} vs {b} | {col}"
            if na is None or nb is None or total is None or na["value"] + nb["value"] != total:
                if overall is not None:
                    out.append(Check("median_between_groups", ma["key"], loc,
                                     f"{ma['value_text']} vs {mb['value_text']}", "",
                                     "not checkable", "the two N do not add up to the cohort"))
                continue
            used += 1
            lo_f, hi_f = sorted((ma["value"], mb["value"]))
            if lo_f > lo_all:
                lo_all, lo_key = lo_f, (ma if ma["value"] == lo_f else mb)["key"]
            if hi_f < hi_all:
                hi_all, hi_key = hi_f, (ma if ma["value"] == hi_f else mb)["key"]
            if overall is None:
                continue
            h = max(half_unit(ma["value_text"]), half_unit(mb["value_text"]),
                    half_unit(overall["value_text"]))
            ok = median_bracket_holds(overall["value"], ma["value"], mb["value"], h)
            out.append(Check(
                "median_between_groups", ma["key"], loc,
                f"{a} (n={int(na['value'])}) {ma['value_text']}, {b} (n={int(nb['value'])}) "
                f"{mb['value_text']}; overall {overall['value_text']}",
                f"overall in [{_fmt(lo_f)}, {_fmt(hi_f)}]: {ok}",
                "consistent" if ok else "inconsistent",
                f"min({ma['value_text']}, {mb['value_text']}) <= {overall['value_text']} <= "
                f"max(...): {'yes' if ok else 'no'}",
                "" if ok else "major", see_also=_audit_keys(ma, mb)))
        if used:
            ok = lo_all <= hi_all
            published = f"{used} factor brackets of {col}"
            if overall is not None:
                published += f"; overall {overall['value_text']}"
                ok = ok and lo_all <= overall["value"] <= hi_all
            out.append(Check(
                "median_between_groups", lo_key, f"Table 3 | all factors | {col}", published,
                f"common bracket [{_fmt(lo_all)}, {_fmt(hi_all)}]",
                "consistent" if ok else "inconsistent",
                f"largest lower group median {_fmt(lo_all)} ({lo_key}) <= smallest upper "
                f"group median {_fmt(hi_all)} ({hi_key}): {'yes' if lo_all <= hi_all else 'no'}"
                + (f"; overall {overall['value_text']} inside: "
                   f"{'yes' if lo_all <= overall['value'] <= hi_all else 'no'}"
                   if overall is not None else "; overall median not printed"),
                "" if ok else "major",
                note="assumes every factor splits the same 50 patients (N add up to 50)"))
    # relapse times
    tot, neg, pos = (reg.get(k) for k in ("relapse_time_median", "relapse_time_median_cd19_neg",
                                          "relapse_time_median_cd19_pos"))
    if tot is not None and neg is not None and pos is not None:
        nn, npos = _n(neg), _n(pos)
        parts_ok = nn is not None and npos is not None and nn + npos == _n(tot)
        h = max(half_unit(x["value_text"]) for x in (tot, neg, pos))
        ok = median_bracket_holds(tot["value"], neg["value"], pos["value"], h)
        out.append(Check(
            "median_between_groups", tot["key"], tot["section"],
            f"all {_n(tot)} relapses {tot['value_text']}; CD19-negative (n={nn}) "
            f"{neg['value_text']}, CD19-positive (n={npos}) {pos['value_text']}",
            f"overall in [{neg['value_text']}, {pos['value_text']}]: {ok}",
            ("consistent" if ok else "inconsistent") if parts_ok else "not checkable",
            f"{neg['value_text']} <= {tot['value_text']} <= {pos['value_text']}: "
            f"{'yes' if ok else 'no'}; {nn} + {npos} = {_n(tot)}",
            "" if ok or not parts_ok else "major", see_also=_audit_keys(neg, pos)))
    return out


# ============================================================================================
# 7. Geometric means against medians, minima and maxima
# ============================================================================================

#: Geometric means and the median of the same patients (Table 3, MRD-CR on day 28), with
#: the row holding the overall range of the same quantity.
_GM_PARTNERS: dict[str, tuple[str, str]] = {
    "gm_cmax_mrd_cr": ("t3_mrd_cr_d28_yes_cmax_median", "cmax_median"),
    "gm_cmax_non_mrd_cr": ("t3_mrd_cr_d28_no_cmax_median", "cmax_median"),
}


def geometric_vs_median(registry: pd.DataFrame | None = None) -> list[Check]:
    """Check every geometric mean against the median and the range of the same values.

    With ``n`` values, median ``m`` and all values in ``[L, M]``, the geometric mean lies in
    ``[min_geometric_mean(n, m, L), max_geometric_mean(n, m, M)]``
    (:func:`analysis_lib.paper.feasibility.min_geometric_mean`,
    :func:`~analysis_lib.paper.feasibility.max_geometric_mean`, which derive the extreme samples).
    If the median is itself below ``L`` no sample exists. Rounding: the printed geometric
    mean and median ± 0.5; the printed maximum ``1,890,000`` is read as rounded to its last
    non-zero digit (± 5,000), the reading most favourable to the paper. For two values
    (the median is their mean) the check also gives the largest value of the pair
    (:func:`~analysis_lib.paper.feasibility.largest_value_of_pair`). Severity: ``major``.
    """
    reg = _reg(registry)
    out: list[Check] = []
    for row in reg.rows(reg.df["statistic"].eq("geometric_mean") & reg.internal()):
        med_key, rng_key = _GM_PARTNERS.get(reg.canonical_key(row["key"]), ("", ""))
        med, rng = reg.get(med_key), reg.get(rng_key)
        n = _n(row)
        base = dict(check="geometric_vs_median", key=row["key"], location=_location(row),
                    see_also=_audit_keys(row, med, rng), repeat_of=row["duplicate_of"])
        if med is None or rng is None or n is None:
            out.append(Check(**base, published=row["value_text"], recomputed="",
                             verdict="not checkable",
                             arithmetic="no median or range of the same values printed"))
            continue
        lo_t, hi_t = interval_limit_texts(rng["interval_text"])
        g, m = row["value"], med["value"]
        hg, hm = half_unit(row["value_text"]), half_unit(med["value_text"])
        hi = rng["upper"] + half_unit(hi_t, integer_zeros_significant=False)
        lo_allow = rng["lower"] - half_unit(lo_t)
        published = (f"GM {row['value_text']} (n={n}); median {med['value_text']} "
                     f"({med['key']}); range {lo_t}–{hi_t}")
        if m + hm < lo_allow:
            gm_hi = fz.max_geometric_mean(n, m + hm, hi)
            extra = ""
            if n == 2:
                top = fz.largest_value_of_pair(m, g, 0.5)
                extra = (f"; two values with mean {med['value_text']} and GM "
                         f"{row['value_text']}: both <= {_fmt(top, 1)}")
            out.append(Check(
                **base, published=published,
                recomputed=f"no sample: median below the minimum (GM <= {_fmt(gm_hi)} from "
                           "the median and maximum alone)",
                verdict="inconsistent",
                arithmetic=(f"median {med['value_text']} < minimum {lo_t}: at least "
                            f"half of the {n} values ({math.ceil(n / 2)} or more) are <= "
                            f"{med['value_text']}, below the printed minimum{extra}"),
                severity="major", note=_note(row)))
            continue
        gm_hi = fz.max_geometric_mean(n, m + hm, hi)
        gm_lo = fz.min_geometric_mean(n, max(m - hm, lo_allow), lo_allow)
        ok = gm_lo <= g + hg and g - hg <= gm_hi
        k = n // 2
        if n % 2:
            form = f"(m^{k + 1}·M^{k})^(1/{n})"
        else:
            form = f"(m^{k + 1}·M^{k - 1})^(1/{n})"
        out.append(Check(
            **base, published=published,
            recomputed=f"GM in [{_fmt(gm_lo)}, {_fmt(gm_hi)}]",
            verdict="consistent" if ok else "inconsistent",
            arithmetic=(f"GM_max = {form} with m = {med['value_text']}, M = {_fmt(hi)} = "
                        f"{_fmt(gm_hi)}; GM_min (L = {lo_t}) = {_fmt(gm_lo)}; printed "
                        f"{row['value_text']} "
                        + ("inside" if ok else
                           f"{'above' if g > gm_hi else 'below'} ({_fmt(g / gm_hi, 2)}× the max)"
                           if g > gm_hi else "below the min")),
            severity="" if ok else "major", note=_note(row)))
    return out


# ============================================================================================
# 8. Thresholds across text and tables
# ============================================================================================

#: Text statements that name an MRD cut-point. The cut-point is part of a subgroup label,
#: which the registry does not list as a number, so these are written here with their
#: place: (place, term, relation, exponent of ten, paraphrase).
MRD_TEXT_CUTS: tuple[tuple[str, str, str, int, str], ...] = (
    ("Abstract, Results", "predictor of severe CRS", "≥", -3,
     "pre-infusion MRD ≥ 10^-3 independently predicts severe CRS"),
    ("Results, Toxicity", "high tumour burden", "≥", -3,
     "high pre-infusion tumour burden defined as MRD ≥ 10^-3 pre- or post-LD (ICANS, "
     "severe CRS; Table 2)"),
    ("Results, Treatment outcomes", "low tumour burden", "<", -4,
     "low tumour burden: pre-LD MRD < 10^-4 (HSCT vs no HSCT, Figure 1)"),
    ("Results, Treatment outcomes", "post-LD subgroup", "<", -4,
     "post-LD MRD < 10^-4 (HSCT vs no HSCT)"),
    ("Results, Treatment outcomes", "high tumour burden", "≥", -2,
     "high tumour burden: MRD ≥ 10^-2 (non-transplant group, Supplementary Figure S1)"),
    ("Discussion", "low tumour burden", "<", -4,
     "low pre-infusion tumour burden, e.g. MRD < 10^-4: defer HSCT"),
    ("Discussion", "high tumour burden", "≥", -2,
     "high tumour burden patients (MRD ≥ 10^-2): HSCT may help"),
)

_MRD_LABEL_RE = re.compile(r"(Pre|Post)-LD MRD\s*(?:\|\s*)?([<≥])\s*10\^(-\d+)")
_DOSE_LABEL_RE = re.compile(r"CAR-T dose\s*(?:\|\s*)?([<≥])\s*(\d+\.\d+)×10\^6")


def threshold_consistency(registry: pd.DataFrame | None = None) -> list[Check]:
    """Check that thresholds printed in several places are the same everywhere.

    * **Dose cut.** The text calls the CRS dose cut "the median" and prints 3.66; the
      median dose is 3.68 and Tables 2 and 3 split at 3.68 (25 vs 25). Each use is compared
      with the median dose at its printed precision (2 decimals: equal as printed).
    * **MRD cut-points.** Every cut-point used in Table 2 and in the text
      (:data:`MRD_TEXT_CUTS`) must be one of Table 3's strata (10^-4, 10^-3, 10^-2), and
      each named term ("high tumour burden", "low tumour burden") must have one cut-point.
    * **Age.** Table 3's two age levels (0-10, >10) must meet at one cut with no gap or
      overlap.
    * **Screening rule.** The p < 0.2 entry rule is printed for the Cox models (text) and
      for Table 2 (title); both must agree, and every Table 2 factor in a multivariable
      model must have a univariate p below it (as printed).
    * **Severe CRS.** "grade ≥ 3" (text, Table 1B, Table 2) against Table 3's 3-4 vs 0-2
      (grades run 1–4 under the ASBMT 2018 consensus the Methods cite).
    * **MRD positivity.** FCM-MRD ≥ 0.01% (Methods) against the FCM sensitivity 10^-4.
    * **LLOQ.** Every printed Cmax statistic must be at or above the LLOQ (100 copies/µg).

    Severity: ``minor`` for a difference within 1% (a probable typo), ``major`` for a
    different definition.
    """
    reg = _reg(registry)
    df = reg.df
    out: list[Check] = []
    # --- dose cut --------------------------------------------------------------------------
    med = reg.get("dose_median")
    if med is not None:
        ref, ref_t = med["value"], med["value_text"]
        uses: list[tuple[pd.Series, str, str, float]] = []
        txt = reg.get("dose_threshold_text")
        if txt is not None:
            uses.append((txt, _location(txt), txt["value_text"], txt["value"]))
        seen: set[str] = set()
        for row in reg.rows(df["section"].isin(["Table 2", "Table 3"])
                            & df["table_row"].str.contains("CAR-T dose")):
            m = _DOSE_LABEL_RE.search(row["table_row"])
            if m is None or row["table_row"] in seen or row["table_column"] not in (
                    "N", "OR (95%CI) univariate"):
                continue
            seen.add(row["table_row"])
            uses.append((row, f"{row['section']} | {row['table_row']} (label)",
                         m.group(2), float(m.group(2))))
        for row, loc, printed, v in uses:
            ok = printed.strip() == ref_t.strip() or math.isclose(v, ref)
            rel = abs(v - ref) / ref
            arith = f"cut {printed} vs median dose {ref_t} (dose_median): " + (
                "equal" if ok else f"differ by {_fmt(abs(v - ref), 2)} ({_fmt(100 * rel, 1)}%)")
            if row["section"] == "Table 3" and ok:
                pair = [r for r in reg.rows(df["section"].eq("Table 3")
                                            & df["table_row"].str.contains("CAR-T dose")
                                            & df["table_column"].eq("N"))]
                if len(pair) == 2:
                    a, b = (int(r["value"]) for r in pair)
                    arith += (f"; N {a} + {b} = {a + b}: a median split of {a + b} puts "
                              f"{(a + b) // 2} on each side, as printed" if a == b else
                              f"; N {a} vs {b}: not a median split")
            out.append(Check("threshold_consistency", row["key"], loc,
                             f"dose cut {printed} ×10^6 cells/kg", f"median {ref_t}",
                             "consistent" if ok else "inconsistent", arith,
                             "" if ok else ("minor" if rel < 0.01 else "major"),
                             note=_note(row) if row["key"] == "dose_threshold_text" else "",
                             see_also=_audit_keys(row, med)))
    # --- MRD cut-points ---------------------------------------------------------------------
    t3_cuts: set[tuple[str, int]] = set()
    for row in reg.rows(df["section"].eq("Table 3") & df["table_column"].eq("N")):
        m = _MRD_LABEL_RE.search(row["table_row"])
        if m:
            t3_cuts.add((m.group(1), int(m.group(3))))
    t3_exps = sorted({e for _, e in t3_cuts}, reverse=True)
    t3_txt = ", ".join(f"10^{e}" for e in t3_exps)
    for row in reg.rows(df["section"].eq("Table 2")
                        & df["table_column"].eq("OR (95%CI) univariate")):
        m = _MRD_LABEL_RE.search(row["table_row"])
        if not m:
            continue
        cut = (m.group(1), int(m.group(3)))
        ok = cut in t3_cuts
        out.append(Check("threshold_consistency", row["key"],
                         f"Table 2 | {row['table_row']} (label)",
                         f"{m.group(1)}-LD MRD {m.group(2)}10^{m.group(3)}",
                         f"Table 3 {m.group(1)}-LD strata: {t3_txt}",
                         "consistent" if ok else "inconsistent",
                         f"10^{cut[1]} is {'' if ok else 'not '}a Table 3 {cut[0]}-LD cut-point"
                         f" ({t3_txt})", "" if ok else "major"))
    for place, term, rel, exp, para in MRD_TEXT_CUTS:
        ok = exp in t3_exps
        out.append(Check("threshold_consistency", "", place, f"{term}: MRD {rel} 10^{exp}",
                         f"Table 3 strata: {t3_txt}", "consistent" if ok else "inconsistent",
                         f"10^{exp} is {'' if ok else 'not '}a Table 3 cut-point; {para}",
                         "" if ok else "major",
                         note="cut-point in a subgroup label (not a registry number)"))
    terms: dict[str, list[tuple[str, str, int]]] = {}
    for place, term, rel, exp, _ in MRD_TEXT_CUTS:
        if "tumour burden" in term:
            terms.setdefault(term, []).append((place, rel, exp))
    for term, uses_t in terms.items():
        exps = sorted({e for _, _, e in uses_t}, reverse=True)
        ok = len(exps) == 1
        listing = "; ".join(f"{p}: MRD {r} 10^{e}" for p, r, e in uses_t)
        out.append(Check(
            "threshold_consistency", "", " / ".join(dict.fromkeys(p for p, _, _ in uses_t)),
            f"'{term}' defined as {listing}",
            f"{len(exps)} cut-point(s): " + ", ".join(f"10^{e}" for e in exps),
            "consistent" if ok else "inconsistent",
            (f"one cut-point (10^{exps[0]}) wherever '{term}' is defined" if ok else
             f"'{term}' means MRD {uses_t[0][1]} "
             + f" in one place and MRD {uses_t[0][1]} ".join(f"10^{e}" for e in exps)
             + f" in another: a {_fmt(10 ** (exps[0] - exps[-1]))}-fold difference in the "
             "cut-point"),
            "" if ok else "major",
            note="the Results' subgroup remark and the Discussion's HSCT advice use the "
                 "10^-2 meaning; Toxicity and Table 2 the 10^-3 one" if not ok else ""))
    # --- age --------------------------------------------------------------------------------
    for factor, a, b in _table3_factor_pairs(reg):
        if not factor.lower().startswith("age"):
            continue
        row = _t3_cell(reg, factor, a, "N")
        ma = re.fullmatch(r"(\d+)-(\d+)", a)
        mb = re.fullmatch(r">\s*(\d+)", b)
        ok = bool(ma and mb and ma.group(2) == mb.group(1))
        out.append(Check("threshold_consistency", row["key"] if row is not None else "",
                         f"Table 3 | {factor}", f"levels {a} and {b}",
                         f"cut at {mb.group(1) if mb else '?'} years",
                         "consistent" if ok else "inconsistent",
                         f"{a} (closed at {ma.group(2) if ma else '?'}) and {b} (open at "
                         f"{mb.group(1) if mb else '?'}) meet with no gap or overlap; the "
                         "text prints no other age cut" if ok else
                         f"{a} and {b} do not meet at one cut", "" if ok else "major"))
    # --- screening rule ---------------------------------------------------------------------
    cox, t2 = reg.get("cox_screening_p_threshold"), reg.get("table2_screening_p_threshold")
    if cox is not None and t2 is not None:
        ok = math.isclose(cox["value"], t2["value"])
        out.append(Check("threshold_consistency", t2["key"], f"{_location(cox)} / {_location(t2)}",
                         f"p {cox['value_text']} (Cox) and p {t2['value_text']} (Table 2)",
                         "same rule" if ok else "different rules",
                         "consistent" if ok else "inconsistent",
                         f"{cox['value_text']} vs {t2['value_text']}", "" if ok else "major"))
        thr = t2["value"]
        for row in reg.rows(df["section"].eq("Table 2") & df["table_column"].eq("p univariate")):
            in_model = df["section"].eq("Table 2") & df["table_row"].eq(row["table_row"]) \
                & df["table_column"].str.match(r"p model")
            if not in_model.any():
                continue
            ok = row["value"] < thr
            out.append(Check("threshold_consistency", row["key"], _location(row),
                             f"univariate p = {row['value_text']}, entered a multivariable "
                             "model", f"< {thr:g}: {ok}",
                             "consistent" if ok else "inconsistent",
                             f"{row['value_text']} {'<' if ok else '>='} {thr:g} (screening "
                             "rule, Table 2 title)", "" if ok else "major",
                             see_also=_audit_keys(row)))
    # --- severe CRS grade -------------------------------------------------------------------
    crs_rows = list(reg.rows(df["section"].eq("Table 3") & df["table_row"].str.match(r"CRS \|")
                             & df["table_column"].eq("N")))
    sev = reg.get("severe_crs_pct")
    if len(crs_rows) == 2 and sev is not None:
        lv = [r["table_row"].split(" | ", 1)[1] for r in crs_rows]
        m_hi = re.fullmatch(r"(\d)-(\d)", lv[1])
        m_lo = re.fullmatch(r"(\d)-(\d)", lv[0])
        t1b = [r["table_row"] for r in reg.rows(df["section"].eq("Table 1B")
                                                & df["table_row"].str.contains("CRS"))]
        t2_title = any("grade ≥3 CRS" in q for q in df.loc[df["section"].eq("Table 2"),
                                                             "quantity"])
        ok = bool(m_hi and m_lo and int(m_hi.group(1)) == 3 and int(m_lo.group(2)) == 2
                  and int(m_hi.group(2)) == 4)
        out.append(Check(
            "threshold_consistency", crs_rows[1]["key"], "Toxicity / Table 1B / Table 2 / Table 3",
            f"severe CRS: grade ≥3 (text{', ' + t1b[0] if t1b else ''}"
            f"{', Table 2 title' if t2_title else ''}); Table 3 levels {lv[0]} vs {lv[1]}",
            "grade ≥3 = grades 3-4", "consistent" if ok else "inconsistent",
            f"grades 1-4 (ASBMT 2018): ≥3 = {{3, 4}} = Table 3 '{lv[1]}', complement "
            f"'{lv[0]}'; Table 3 N {int(crs_rows[1]['value'])} = {sev['value_text']}% of "
            f"{_n(sev)} ({int(crs_rows[1]['value'])}/{_n(sev)} = "
            f"{_fmt(100 * crs_rows[1]['value'] / _n(sev), 1)}%)", "" if ok else "major",
            note=_note(crs_rows[1])))
    # --- MRD positivity vs FCM sensitivity ----------------------------------------------------
    pos, sens = reg.get("methods_mrd_positive_fcm"), reg.get("methods_fcm_sensitivity")
    if pos is not None and sens is not None:
        frac = pos["value"] / 100
        ok = math.isclose(frac, sens["value"])
        out.append(Check("threshold_consistency", pos["key"], "Methods",
                         f"MRD positive: FCM-MRD {pos['value_text']}%; FCM sensitivity "
                         f"{sens['value_text']}", f"{pos['value']:g}% = {frac:g}",
                         "consistent" if ok else "inconsistent",
                         f"{pos['value']:g}/100 = {frac:g} {'=' if ok else '!='} "
                         f"{sens['value']:g}; the same 10^-4 also splits Table 3's lowest "
                         "MRD stratum", "" if ok else "major"))
    # --- LLOQ -------------------------------------------------------------------------------
    lloq = reg.get("methods_lloq")
    if lloq is not None:
        cm = df["unit"].eq("copies/µg DNA") & df["statistic"].isin(
            ["median", "geometric_mean"]) & reg.internal()
        vals = [(r["key"], r["value"]) for r in reg.rows(cm) if not math.isnan(r["value"])]
        rng = reg.get("cmax_median")
        if rng is not None:
            vals.append((rng["key"] + " (minimum)", rng["lower"]))
        low_key, low = min(vals, key=lambda kv: kv[1])
        ok = low >= lloq["value"]
        out.append(Check("threshold_consistency", lloq["key"], "Methods / Results, PK / Table 3",
                         f"LLOQ {lloq['value_text']} copies/µg; {len(vals)} printed Cmax "
                         "statistics", f"smallest {_fmt(low)} ({low_key})",
                         "consistent" if ok else "inconsistent",
                         f"min of printed Cmax medians, GMs and range = {_fmt(low)} "
                         f"{'>=' if ok else '<'} LLOQ {lloq['value_text']}",
                         "" if ok else "major"))
    return out


# ============================================================================================
# 9. Counts add up
# ============================================================================================

@dataclass(frozen=True)
class CountFamily:
    """Parts that must add up to (``==``), stay within (``<=``) or cover (``>=``) a whole.

    Attributes
    ----------
    name : str
        What is counted.
    parts : tuple of str
        Registry keys of the parts.
    whole : str
        Registry key of the whole, or empty when ``whole_value`` is given.
    relation : {"==", "<=", ">="}
        ``sum(parts) relation whole``.
    whole_value : float or None
        A fixed whole (100 for percentages).
    why : str
        Why the relation must hold.
    """
    name: str
    parts: tuple[str, ...]
    whole: str
    relation: Literal["==", "<=", ">="]
    whole_value: float | None = None
    why: str = ""


#: Text families (Table 3 factors and nesting are derived from the table itself).
COUNT_FAMILIES: tuple[CountFamily, ...] = (
    CountFamily("enrolment reasons (patients)",
                ("n_chemo_intolerance", "n_mrd_reemergence", "n_mrd_persistent"),
                "n_patients", "==", why="the three reasons partition the cohort"),
    CountFamily("enrolment reasons (%)",
                ("pct_chemo_intolerance", "pct_mrd_reemergence", "pct_mrd_persistent"),
                "", "==", 100.0, why="shares of a partition add up to 100%"),
    CountFamily("relapses by CD19 status", ("n_relapse_cd19_neg", "n_relapse_cd19_pos"),
                "n_relapse", "==", why="each relapse is CD19-negative or CD19-positive"),
    CountFamily("infections by type", ("n_infection_bacterial_bsi", "n_infection_cmv",
                                       "n_infection_ebv", "n_infection_fungal"),
                "n_infection", ">=", why="every infected patient has at least one episode"),
    CountFamily("MRD-negative CR within CR", ("n_mrd_neg_cr_d28",), "n_cr_d28", "<=",
                why="MRD-negative CR/CRi is a subset of CR/CRi"),
    CountFamily("CR/CRi within the cohort", ("n_cr_d28",), "n_patients", "<=",
                why="responders are among the infused"),
    CountFamily("severe CRS within any CRS", ("severe_crs_pct",), "crs_pct", "<=",
                why="grade ≥3 CRS is a subset of CRS"),
    CountFamily("non-MRD-CR = cohort minus MRD-negative CR",
                ("t3_mrd_cr_d28_no_n", "n_mrd_neg_cr_d28"), "n_patients", "==",
                why="Table 3's 'MRD-CR No' are the patients not in MRD-negative CR"),
    CountFamily("GVHD among prior-HSCT patients", ("n_gvhd_prior_hsct",), "n_prior_hsct", "<=",
                why="GVHD is counted among the 5 with prior HSCT"),
    CountFamily("bridged to HSCT within the cohort", ("n_bridged_hsct",), "n_patients", "<=",
                why="bridged patients are among the infused"),
)


def _family_check(reg: _Registry, fam: CountFamily) -> Check:
    rows = [reg.get(k) for k in fam.parts]
    whole = reg.get(fam.whole) if fam.whole else None
    key = fam.parts[0]
    if any(r is None for r in rows) or (fam.whole and whole is None):
        return Check("counts_add_up", key, "", fam.name, "", "not checkable",
                     "a part or the whole is not in the registry")
    vals = [r["value"] for r in rows]
    total = float(whole["value"]) if whole is not None else float(fam.whole_value)
    is_pct = rows[0]["unit"] == "%"
    # rounding: percentages printed to d decimals each carry ± half a unit
    slack = sum(half_unit(r["value_text"]) for r in rows) if is_pct else 0.0
    if whole is not None and is_pct:
        slack += half_unit(whole["value_text"])
    s = sum(vals)
    ok = {"==": abs(s - total) <= slack + 1e-9, "<=": s <= total + slack + 1e-9,
          ">=": s >= total - slack - 1e-9}[fam.relation]
    unit = "%" if is_pct else ""
    parts_txt = " + ".join(f"{r['value_text']}{unit}" for r in rows)
    whole_txt = (f"{whole['value_text']}{unit} ({whole['key']})" if whole is not None
                 else f"{total:g}{unit}")
    locs = " / ".join(dict.fromkeys(r["section"] for r in rows + ([whole] if whole is not None
                                                                    else [])))
    nums = " + ".join(f"{v:g}{unit}" for v in vals)
    return Check("counts_add_up", key, locs, f"{fam.name}: {parts_txt} vs {whole_txt}",
                 f"{s:g}{unit} {fam.relation} {total:g}{unit}: {ok}",
                 "consistent" if ok else "inconsistent",
                 (f"{nums} = {s:g}{unit}" if len(vals) > 1 else f"{nums}")
                 + f" {fam.relation if ok else 'not ' + fam.relation} "
                 f"{total:g}{unit}" + (f" (rounding ± {slack:g})" if slack else "")
                 + f"; {fam.why}",
                 "" if ok else "major",
                 see_also=_audit_keys(*rows, whole))


def counts_add_up(registry: pd.DataFrame | None = None) -> list[Check]:
    """Check that parts add up to their wholes.

    * Table 3: the two levels of every factor add up to the cohort (the ``n`` of the N
      rows, 50), one check per factor, found from the table itself.
    * Table 3: the MRD strata are nested: ``N(< 10^-4) <= N(< 10^-3) <= N(< 10^-2)`` before
      and after lymphodepletion (a patient below a lower cut is below every higher one).
    * Text families (:data:`COUNT_FAMILIES`): enrolment reasons 7 + 41 + 2 = 50 and
      14% + 82% + 4% = 100% (± the rounding of each share), CD19-negative + CD19-positive
      relapses = 15, infection types cover the infected patients, MRD-negative CR within
      CR, severe CRS within CRS, and so on.

    Severity of a failure: ``major``.
    """
    reg = _reg(registry)
    out: list[Check] = []
    for factor, a, b in _table3_factor_pairs(reg):
        ra, rb = _t3_cell(reg, factor, a, "N"), _t3_cell(reg, factor, b, "N")
        if ra is None or rb is None:
            continue
        total = _n(ra)
        s = int(ra["value"] + rb["value"])
        ok = total is not None and s == total
        out.append(Check("counts_add_up", ra["key"], f"Table 3 | {factor} | N",
                         f"{a} {ra['value_text']} + {b} {rb['value_text']}",
                         f"{s} vs {total}", "consistent" if ok else "inconsistent",
                         f"{ra['value_text']} + {rb['value_text']} = {s} "
                         f"{'=' if ok else '!='} {total}", "" if ok else "major",
                         see_also=_audit_keys(ra, rb)))
    df = reg.df
    for phase in ("Pre", "Post"):
        chain: list[tuple[int, pd.Series]] = []
        for row in reg.rows(df["section"].eq("Table 3") & df["table_column"].eq("N")):
            m = _MRD_LABEL_RE.search(row["table_row"])
            if m and m.group(1) == phase and m.group(2) == "<":
                chain.append((int(m.group(3)), row))
        chain.sort(key=lambda t: t[0])
        if len(chain) < 2:
            continue
        vals = [int(r["value"]) for _, r in chain]
        ok = all(x <= y for x, y in zip(vals, vals[1:]))
        txt = " <= ".join(f"N(<10^{e}) {int(r['value'])}" for e, r in chain)
        out.append(Check("counts_add_up", chain[0][1]["key"],
                         f"Table 3 | {phase}-LD MRD | N", txt,
                         f"nested: {ok}", "consistent" if ok else "inconsistent",
                         f"{' <= '.join(map(str, vals))}: "
                         + ("non-decreasing" if ok else "not nested")
                         + "; a patient below a lower cut-point is below every higher one",
                         "" if ok else "major"))
    out += [_family_check(reg, fam) for fam in COUNT_FAMILIES]
    return out


# ============================================================================================
# 10. p-values of correlations
# ============================================================================================

def p_from_correlation(registry: pd.DataFrame | None = None, n_max: int | None = None,
                       n_min: int = 5) -> list[Check]:
    """Recompute the p-value of every printed correlation coefficient from r.

    statcheck recomputes ``p`` from ``r`` and its degrees of freedom (Nuijten et al. 2016);
    here the number of pairs is not printed, so the check finds every ``n`` in
    ``[n_min, n_max]`` (``n_max`` = the cohort, 50) for which some ``r`` within the printed
    rounding (± 0.0005) gives a p compatible with the printed one (:func:`correlation_p`,
    t test with ``n - 2`` df). Consistent when such an ``n`` exists; the note says whether
    the full cohort is among them (a smaller ``n`` means missing pairs, or another test).
    Severity when none exists: ``major``.
    """
    reg = _reg(registry)
    cohort = reg.get("n_patients")
    n_max = n_max or (int(cohort["value"]) if cohort is not None else 50)
    out: list[Check] = []
    for row in reg.rows(reg.df["statistic"].eq("correlation") & reg.internal()):
        p_row = reg.get(row["key"] + "_p")
        base = dict(check="p_from_correlation", key=row["key"], location=_location(row),
                    see_also=_audit_keys(row, p_row), repeat_of=row["duplicate_of"])
        if p_row is None:
            out.append(Check(**base, published=f"r = {row['value_text']}", recomputed="",
                             verdict="not checkable", arithmetic="no p-value printed"))
            continue
        r, h = row["value"], half_unit(row["value_text"])
        pr_lo, pr_hi = printed_p_interval(p_row["value_text"])
        fits = []
        for n in range(n_min, n_max + 1):
            lo, hi = correlation_p_interval(r, n, h)
            if hi >= pr_lo and lo <= pr_hi:
                fits.append(n)
        p_full = correlation_p(r, n_max)
        ok = bool(fits)
        fit_txt = _ranges(fits) if fits else "none"
        t_full = r * math.sqrt(n_max - 2) / math.sqrt(1 - r * r)
        arith = (f"n = {n_max}: t = {row['value_text']}·sqrt({n_max - 2})/sqrt(1 - "
                 f"{row['value_text']}²) = {fixed(t_full, 3)}, p = {_fmt_p(p_full)} vs printed "
                 f"{_p_text(p_row)}; n compatible with r and p: {fit_txt}")
        note = "" if not ok else ("the full cohort fits" if n_max in fits else
                                  f"the full cohort ({n_max}) does not fit: fewer pairs "
                                  "(missing values) or another test")
        out.append(Check(**base, published=f"r = {row['value_text']}, p {_p_text(p_row)}",
                         recomputed=f"p(n={n_max}) {_p_is(p_full)}; n in {fit_txt}",
                         verdict="consistent" if ok else "inconsistent", arithmetic=arith,
                         severity="" if ok else "major", note=_note(row, note)))
    return out


def _ranges(ns: Sequence[int]) -> str:
    out: list[str] = []
    start = prev = ns[0]
    for n in list(ns[1:]) + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{start}" if start == prev else f"{start}–{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(out)


# ============================================================================================
# 11. Repeats agree
# ============================================================================================

def repeats_agree(registry: pd.DataFrame | None = None) -> list[Check]:
    """Check that every number printed twice is printed alike.

    For each repeat (``duplicate_of``): the value (the registry already requires it), the
    interval where both occurrences print one, and the denominator where both state one.
    A repeat may drop the interval or the denominator (the Abstract often does); that is not
    an inconsistency. Differences in wording are reported in the note. Severity: ``major``.
    """
    reg = _reg(registry)
    out: list[Check] = []
    for row in reg.rows(reg.df["duplicate_of"].ne("") & reg.internal()):
        c = reg.get(row["duplicate_of"])
        diffs: list[str] = []
        if not (math.isnan(row["value"]) and math.isnan(c["value"])) and not math.isclose(
                row["value"], c["value"]):
            diffs.append(f"value {row['value_text']} vs {c['value_text']}")
        both_iv = row["interval_type"] in ("ci95", "range") and c["interval_type"] in (
            "ci95", "range")
        if both_iv and not (math.isclose(row["lower"], c["lower"])
                            and math.isclose(row["upper"], c["upper"])):
            diffs.append(f"interval {row['interval_text']} vs {c['interval_text']}")
        if row["interval_type"] == "pm_se" and c["interval_type"] == "pm_se" and \
                not math.isclose(row["se"], c["se"]):
            diffs.append(f"± {row['se']:g} vs ± {c['se']:g}")
        if row["unit"] == "date" and row["value_text"] not in c["value_text"]:
            diffs.append(f"date {row['value_text']} vs {c['value_text']}")
        if _n(row) is not None and _n(c) is not None and _n(row) != _n(c):
            diffs.append(f"n {_n(row)} vs {_n(c)}")
        ok = not diffs
        shown = row["value_text"] + (f" ({row['interval_text']})" if row["interval_text"] else "")
        cshown = c["value_text"] + (f" ({c['interval_text']})" if c["interval_text"] else "")
        out.append(Check("repeats_agree", row["key"], _location(row),
                         f"{shown} (repeat of {c['key']}: {cshown} in {_location(c)})",
                         "same" if ok else "; ".join(diffs),
                         "consistent" if ok else "inconsistent",
                         f"{shown} vs {cshown}" + ("" if both_iv or not (
                             row["interval_text"] or c["interval_text"]) else
                             " (interval printed in one place only)"),
                         "" if ok else "major", note=_note(row),
                         see_also=_audit_keys(row), repeat_of=c["key"]))
    return out


# ============================================================================================
# Driver
# ============================================================================================

#: The checks, in the order :func:`run_audit` runs them.
CHECKS: tuple[tuple[str, Callable[[pd.DataFrame | None], list[Check]]], ...] = (
    ("p_from_ratio_ci", p_from_ratio_ci),
    ("log_symmetry", log_symmetry),
    ("ci_contains_estimate", ci_contains_estimate),
    ("percent_vs_count", percent_vs_count),
    ("median_in_range", median_in_range),
    ("median_between_groups", median_between_groups),
    ("geometric_vs_median", geometric_vs_median),
    ("threshold_consistency", threshold_consistency),
    ("counts_add_up", counts_add_up),
    ("p_from_correlation", p_from_correlation),
    ("repeats_agree", repeats_agree),
)

_COLUMNS: tuple[str, ...] = ("check", "key", "location", "published", "recomputed", "verdict",
                             "severity", "arithmetic", "note", "see_also", "repeat_of")


def run_audit(registry: pd.DataFrame | None = None) -> pd.DataFrame:
    """Run every check on the registry.

    Parameters
    ----------
    registry : pandas.DataFrame, optional
        A registry frame (:func:`analysis_lib.paper.registry.load_registry`); loaded when omitted.

    Returns
    -------
    pandas.DataFrame
        One row per :class:`Check`, columns ``check``, ``key``, ``location``, ``published``,
        ``recomputed``, ``verdict``, ``severity``, ``arithmetic``, ``note``, ``see_also``
        (``;``-separated) and ``repeat_of``; in :data:`CHECKS` order and, within a check,
        in registry order (deterministic).
    """
    reg = load_registry() if registry is None else registry
    checks = [c for _, fn in CHECKS for c in fn(reg)]
    return pd.DataFrame({
        col: [";".join(getattr(c, col)) if col == "see_also" else getattr(c, col)
              for c in checks]
        for col in _COLUMNS
    }, columns=list(_COLUMNS))


def audit_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Counts of results per check and verdict.

    Returns
    -------
    pandas.DataFrame
        Index: the checks in :data:`CHECKS` order; columns ``consistent``, ``inconsistent``,
        ``not checkable``, ``total``, and ``repeats`` (rows that check a number printed
        again) and ``decision``/``major``/``minor`` (inconsistencies by severity).
    """
    order = [name for name, _ in CHECKS]
    counts = pd.crosstab(pd.Categorical(df["check"], categories=order),
                         pd.Categorical(df["verdict"], categories=list(VERDICTS)),
                         dropna=False)
    counts.index = pd.Index(order, name="check")
    counts.columns = list(VERDICTS)
    counts["total"] = counts.sum(axis=1)
    counts["repeats"] = df.loc[df["repeat_of"].ne("")].groupby("check").size().reindex(
        order, fill_value=0).to_numpy()
    for sev in ("decision", "major", "minor"):
        counts[sev] = df.loc[df["severity"].eq(sev)].groupby("check").size().reindex(
            order, fill_value=0).to_numpy()
    return counts.astype(int)


def inconsistencies(df: pd.DataFrame, include_repeats: bool = False) -> pd.DataFrame:
    """The inconsistent rows, most severe first (decision, major, minor), then in audit
    order; repeats of an already-listed number are dropped unless ``include_repeats``."""
    rank = {"decision": 0, "major": 1, "minor": 2}
    sub = df.loc[df["verdict"].eq("inconsistent")]
    if not include_repeats:
        sub = sub.loc[sub["repeat_of"].eq("")]
    order = sub["severity"].map(rank)
    return sub.assign(_r=order, _i=np.arange(len(sub))).sort_values(
        ["_r", "_i"]).drop(columns=["_r", "_i"]).reset_index(drop=True)
