"""Rank tests as R computes them: Mann–Whitney (``wilcox.test``) and Spearman's rank correlation
(``cor.test``), with R's choice between exact and asymptotic p-values stated on every result.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

MWMethod = Literal["auto", "exact", "asymptotic"]
SpearmanMethod = Literal["auto", "exact", "asymptotic"]


# ============================================================================================
# Mann-Whitney / Wilcoxon rank-sum test, as R's wilcox.test
# ============================================================================================

@dataclass(frozen=True)
class MannWhitney:
    """Result of :func:`rank_sum_test` / :func:`mann_whitney` (two-sided).

    Attributes
    ----------
    statistic : R's W for the first sample: its rank sum minus n1(n1 + 1)/2 (= U of the
        first sample; mid-ranks for ties).
    p_value : two-sided p (NaN when a group is empty or every value is tied).
    method : ``"exact"`` or ``"asymptotic"`` (the method actually used), or
        ``"not computable"``.
    n1, n2 : non-missing values in each sample.
    ties : the pooled values have ties.
    correct : continuity correction applied (asymptotic method only).
    levels : the group levels of the two samples (:func:`mann_whitney`).
    note : why the method differs from the one asked for, if it does.
    """
    statistic: float
    p_value: float
    method: str
    n1: int
    n2: int
    ties: bool
    correct: bool
    levels: tuple = ()
    note: str = ""

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"statistic": self.statistic, "p": self.p_value,
                              "method": self.describe(), "n1": self.n1, "n2": self.n2,
                              "levels": self.levels, "note": self.note}])

    def describe(self) -> str:
        """The method in words, e.g. ``exact`` or ``normal approximation with continuity
        and tie correction``."""
        if self.method == "exact":
            return "exact"
        if self.method == "asymptotic":
            parts = ["tie"] if self.ties else []
            if self.correct:
                parts.insert(0, "continuity")
            return ("normal approximation" + (f" with {' and '.join(parts)} correction"
                                              if parts else ""))
        return self.method


def rank_sum_test(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                  method: MWMethod = "auto", correct: bool = True) -> MannWhitney:
    """Two-sided Wilcoxon rank-sum (Mann–Whitney) test of ``x`` against ``y``, as R's
    ``wilcox.test(x, y, exact = ..., correct = correct)``: ``scipy.stats.mannwhitneyu`` with
    R's choice of method.

    Parameters
    ----------
    x, y : samples (any unit); NaN values are dropped (R drops NA and NaN).
    method : ``"auto"`` (R's default ``exact = NULL``: exact when both samples have fewer
        than 50 values), ``"exact"`` (R's ``exact = TRUE``) or ``"asymptotic"``
        (``exact = FALSE``). As in R, the exact method is not available with ties: the normal
        approximation (tie-corrected variance) is used instead and ``note`` says so (R warns).
        scipy's own ``method="auto"`` would switch to the approximation above 8 values.
    correct : continuity correction of the normal approximation (R's default True).

    Returns
    -------
    MannWhitney
        W (the U of ``x``), the two-sided p-value and the method actually used.
    """
    if method not in ("auto", "exact", "asymptotic"):
        raise ValueError(f"method must be 'auto', 'exact' or 'asymptotic', got {method!r}")
    xv = np.asarray(x, dtype=float)
    yv = np.asarray(y, dtype=float)
    xv, yv = xv[~np.isnan(xv)], yv[~np.isnan(yv)]
    n1, n2 = int(xv.size), int(yv.size)
    if n1 == 0 or n2 == 0:
        return MannWhitney(math.nan, math.nan, "not computable", n1, n2, False, correct,
                           note="a group has no value")
    pooled = np.concatenate([xv, yv])
    ties = bool(np.unique(pooled).size < pooled.size)
    exact = (n1 < 50 and n2 < 50) if method == "auto" else method == "exact"
    note = ""
    if exact and ties:
        exact = False
        note = "ties: the exact test is not available, normal approximation used"
        if method == "exact":
            warnings.warn("cannot compute exact p-value with ties", stacklevel=2)
    if np.all(pooled == pooled[0]):
        return MannWhitney(float(n1 * n2 / 2), math.nan, "not computable", n1, n2, ties,
                           correct, note="every value is tied")
    used = "exact" if exact else "asymptotic"
    r = stats.mannwhitneyu(xv, yv, alternative="two-sided", method=used,
                           use_continuity=correct)
    return MannWhitney(float(r.statistic), float(r.pvalue), used, n1, n2, ties, correct,
                       note=note)


def mann_whitney(x: Sequence[float] | np.ndarray | pd.Series,
                 group: Sequence[object] | np.ndarray | pd.Series,
                 method: MWMethod = "auto", *, correct: bool = True,
                 levels: tuple | None = None) -> MannWhitney:
    """Mann–Whitney test of ``x`` between the two levels of ``group`` (R's
    ``wilcox.test(x[group == levels[0]], x[group == levels[1]])``; see :func:`rank_sum_test`).

    Parameters
    ----------
    x : values (e.g. Cmax in copies/µg DNA, Tlast in days); NaN values are dropped.
    group : group of each value; rows with a missing group are dropped.
    method : ``"auto"`` | ``"exact"`` | ``"asymptotic"`` (R's rules; see
        :func:`rank_sum_test`). The result's ``method`` is the one actually used.
    correct : continuity correction of the normal approximation.
    levels : the two levels, first sample first; default the sorted distinct levels of
        ``group`` (there must be exactly two). W is reported for the first level; the
        two-sided p does not depend on the order.
    """
    g = pd.Series(group).reset_index(drop=True)
    v = pd.Series(x, dtype=float).reset_index(drop=True)
    if len(g) != len(v):
        raise ValueError("x and group must have the same length")
    ok = g.notna()
    if levels is None:
        levels = tuple(sorted(pd.unique(g[ok])))
        if len(levels) != 2:
            raise ValueError(f"group must have exactly two levels, got {list(levels)}")
    a = v[ok & (g == levels[0])].to_numpy()
    b = v[ok & (g == levels[1])].to_numpy()
    res = rank_sum_test(a, b, method=method, correct=correct)
    return MannWhitney(res.statistic, res.p_value, res.method, res.n1, res.n2, res.ties,
                       res.correct, tuple(levels), res.note)


# ============================================================================================
# Spearman correlation, as R's cor.test(method = "spearman")
# ============================================================================================

@dataclass(frozen=True)
class Spearman:
    """Result of :func:`spearman` (two-sided).

    Attributes
    ----------
    r : Spearman's rho (Pearson correlation of the mid-ranks).
    p_value : two-sided p.
    n : complete pairs used.
    method : ``"exact"`` (AS 89 enumeration, n <= 9), ``"edgeworth"`` (AS 89 series,
        10 <= n <= 1290), ``"t"`` (t approximation) or ``"not computable"``.
    ties : either variable has ties.
    statistic : R's S = (n³ − n)(1 − r)/6.
    note : why the method differs from the one asked for, if it does.
    """
    r: float
    p_value: float
    n: int
    method: str
    ties: bool
    statistic: float
    note: str = ""

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"estimate": self.r, "p": self.p_value, "n": self.n,
                              "method": self.describe(), "statistic": self.statistic,
                              "note": self.note}])

    def describe(self) -> str:
        return {"exact": "exact permutation distribution (AS 89)",
                "edgeworth": "Edgeworth series approximation (AS 89)",
                "t": "t approximation"}.get(self.method, self.method)


_AS89 = (0.2274, 0.2531, 0.1745, 0.0758, 0.1033, 0.3932, 0.0879, 0.0151, 0.0072, 0.0831,
         0.0131, 4.6e-4)


@functools.lru_cache(maxsize=16)
def _spearman_s_values(n: int) -> np.ndarray:
    """S = Σ (i − p_i)² over all n! permutations (sorted), for the exact AS 89 branch."""
    perms = np.array(list(itertools.permutations(range(1, n + 1))), dtype=np.int64)
    s = ((perms - np.arange(1, n + 1)) ** 2).sum(axis=1)
    return np.sort(s)


def prho(n: int, s: float, lower_tail: bool) -> float:
    """R's ``prho`` (AS 89): P(S >= s), or P(S < s) when ``lower_tail``, for Spearman's
    S = Σ d² under independence; exact for n <= 9, Edgeworth series otherwise."""
    pv = 0.0 if lower_tail else 1.0
    if n <= 1 or s <= 0:
        return pv
    n3 = n * (n * n - 1.0) / 3.0
    if s > n3:
        return 1.0 - pv
    if n <= 9:
        nfac = math.factorial(n)
        if s == n3:
            ifr = 1
        else:
            values = _spearman_s_values(n)
            ifr = int(values.size - np.searchsorted(values, s, side="left"))  # S >= s
        return (nfac - ifr if lower_tail else ifr) / nfac
    c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12 = _AS89
    y = float(n)
    b = 1.0 / y
    x = (6.0 * (s - 1) * b / (y * y - 1) - 1) * math.sqrt(y - 1)
    y = x * x
    u = x * b * (c1 + b * (c2 + c3 * b)
                 + y * (-c4 + b * (c5 + c6 * b)
                        - y * b * (c7 + c8 * b - y * (c9 - c10 * b + y * b * (c11 - c12 * y)))))
    y = u / math.exp(y / 2.0)
    norm = stats.norm.cdf(x) if lower_tail else stats.norm.sf(x)
    pv = (-y if lower_tail else y) + float(norm)
    return min(max(pv, 0.0), 1.0)


def _round_half_even(x: float) -> float:
    return float(np.round(x))


def spearman(x: Sequence[float] | np.ndarray | pd.Series,
             y: Sequence[float] | np.ndarray | pd.Series,
             method: SpearmanMethod = "auto", *, continuity: bool = False) -> Spearman:
    """Spearman's rank correlation with its two-sided p-value, as R's
    ``cor.test(x, y, method = "spearman", exact = ..., continuity = continuity)``.

    Parameters
    ----------
    x, y : paired values (e.g. BCA duration in days and Cmax in copies/µg DNA); pairs with a
        missing value in either are dropped (R's ``complete.cases``).
    method : ``"auto"`` (R's default, ``exact = NULL``): AS 89 when there are no ties and
        n <= 1290 (exact enumeration for n <= 9, Edgeworth series above), else the t
        approximation; ``"exact"`` (``exact = TRUE``): the same (R also falls back to the t
        approximation with ties, with a warning); ``"asymptotic"`` (``exact = FALSE``): the t
        approximation always.
    continuity : R's ``continuity`` (t approximation only): use (n³ − n)/6 + 1 as the
        denominator when converting S back to rho.

    Returns
    -------
    Spearman
        rho, p, n, the method actually used.

    Notes
    -----
    R's decision between the two tails uses S = (n³ − n)(1 − r)/6: when S > (n³ − n)/6
    (negative r) the upper tail P(S >= round(S)) is doubled, else the lower tail
    P(S < round(S) + 2) (the S values of untied data are even integers); ``p = min(1, 2·tail)``.
    t approximation: ``t = r / sqrt((1 − r²)/(n − 2))`` on n − 2 degrees of freedom.
    Fewer than 3 complete pairs, or a constant variable: r and p are NaN.
    """
    if method not in ("auto", "exact", "asymptotic"):
        raise ValueError(f"method must be 'auto', 'exact' or 'asymptotic', got {method!r}")
    xv = np.asarray(pd.Series(x, dtype=float), dtype=float)
    yv = np.asarray(pd.Series(y, dtype=float), dtype=float)
    if xv.size != yv.size:
        raise ValueError("x and y must have the same length")
    ok = ~(np.isnan(xv) | np.isnan(yv))
    xv, yv = xv[ok], yv[ok]
    n = int(xv.size)
    if n < 3:
        return Spearman(math.nan, math.nan, n, "not computable", False, math.nan,
                        note="fewer than 3 complete pairs")
    ties = min(np.unique(xv).size, np.unique(yv).size) < n
    rx, ry = stats.rankdata(xv), stats.rankdata(yv)
    if np.all(rx == rx[0]) or np.all(ry == ry[0]):
        return Spearman(math.nan, math.nan, n, "not computable", ties, math.nan,
                        note="a variable is constant")
    r = float(np.corrcoef(rx, ry)[0, 1])
    r = min(max(r, -1.0), 1.0)
    nn = float(n)
    q = (nn ** 3 - nn) * (1 - r) / 6
    exact = method in ("auto", "exact")
    note = ""
    if ties and exact:
        exact = False
        note = "ties: AS 89 is not available, t approximation used"
        if method == "exact":
            warnings.warn("Cannot compute exact p-value with ties", stacklevel=2)

    def tail(lower: bool) -> float:
        if n <= 1290 and exact:
            return prho(n, _round_half_even(q) + 2 * lower, lower)
        den = nn * (nn ** 2 - 1) / 6
        if continuity:
            den += 1
        rr = 1 - q / den
        if abs(rr) < 1:
            t = rr / math.sqrt((1 - rr ** 2) / (nn - 2))
        else:  # |rho| = 1: t is infinite, as in R
            t = math.copysign(math.inf, rr)
        return float(stats.t.sf(t, n - 2) if lower else stats.t.cdf(t, n - 2))

    if q > (nn ** 3 - nn) / 6:
        p = tail(lower=False)
    else:
        p = tail(lower=True)
    used = ("exact" if n <= 9 else "edgeworth") if (exact and n <= 1290) else "t"
    return Spearman(r, min(2 * p, 1.0), n, used, bool(ties), q, note)
