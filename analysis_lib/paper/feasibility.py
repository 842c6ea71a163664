"""Audit of the paper's published numbers: which of them can be true together.

The synthetic cohort (:mod:`analysis_lib.synthetic.generator`) is calibrated to numbers printed in
Wang et al. (2025) (:mod:`analysis_lib.synthetic.calibration`). Some of those numbers can't all be
true together: a geometric mean larger than any sample with the printed median and maximum
could have, odds ratios that no 2×2 table with the printed margins gives, a follow-up longer
than the time between the first enrolment and the data cut-off. Chasing such a number would
distort the cohort. So each one is identified here, with the arithmetic that exposes it, and
its calibration target is excluded (:attr:`Finding.excluded_targets`) instead of being
silently missed.

Verdicts
--------
``impossible``
    No data set can give the number as printed, with the paper's other numbers taken at face
    value (for example, an odds ratio that none of the 2×2 tables with the printed margins
    gives).
``inconsistent``
    Printed statistics contradict each other (a p-value against its own confidence interval),
    or they can hold together only under an assumption that another statement of the paper,
    or standard practice, rules out.
``ambiguous``
    What the number measures is undetermined (a median given as a range, a hazard ratio per
    unstated unit, a range over an unstated set of patients).
``feasible``
    The number is attainable. The arithmetic shows what it implies for the cohort.

Each bound is a small pure function with its derivation in the docstring. The published
numbers are module constants that name their place in the paper, and :data:`FINDINGS` is
built by calling the functions on them.

Reference
---------
Wang Y, Jia Y-p, Lu A-d, Zhang L-p, Xue Y-j, Zeng H-m (2025). Effective MRD clearance and
long-term survival with CD19 CAR-T in pediatric B-ALL patients with MRD positivity or
chemotherapy intolerance. Front. Immunol. 16:1672509. doi:10.3389/fimmu.2025.1672509
("the paper"; "Results" means its Results section).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..core.formatting import fixed, number, p_phrase, p_value
from ..core.units import DAYS_PER_MONTH
from ..stats.contingency import odds_ratio

__all__ = [
    "Verdict", "Finding", "TwoByTwo", "WaldCheck", "FINDINGS", "findings_frame",
    "excluded_target_keys",
    "max_geometric_mean", "min_geometric_mean", "max_arithmetic_mean",
    "largest_value_of_pair", "two_by_two_tables", "fisher_exact_p", "odds_ratio",
    "wald_se_log_or", "min_wald_se_log_or", "min_wald_se_log_or_any_margin",
    "wald_from_ci", "months_between", "max_followup_months", "min_followup_alive_months",
    "binomial_se", "fractions_rounding_to", "min_survival_se", "max_events_by",
    "min_deaths_for_km_median", "logrank_min_p_one_vs_many", "mann_whitney_asymptotic_p",
    "mann_whitney_u_for_p", "middle_pairs_on_grid", "hazard_ratio_over",
]

Verdict = Literal["impossible", "inconsistent", "ambiguous", "feasible"]
VERDICTS: tuple[str, ...] = ("impossible", "inconsistent", "ambiguous", "feasible")

#: Two-sided 95% normal quantile.
Z95: float = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Finding:
    """One published number (or set of numbers) checked for attainability.

    Attributes
    ----------
    key : str
        Stable snake_case identifier.
    published : str
        The number(s) as printed, with the place in the paper.
    verdict : {"impossible", "inconsistent", "ambiguous", "feasible"}
        See the module docstring.
    reason : str
        One or two plain sentences.
    arithmetic : str
        The worked arithmetic, multi-line, with the actual numbers.
    bound : float or None
        The computed limit, where one applies (its unit is stated in ``arithmetic``).
    excluded_targets : tuple of str
        Calibration target keys (:mod:`analysis_lib.synthetic.calibration`) that must be left out of
        the objective because of this finding.
    concerns : {"value", "interval"}
        What the finding impugns in the registry numbers it is attached to: the printed value
        itself, or only its printed interval (confidence interval, range or ± SE). A
        scorecard scores the point estimate of an ``"interval"`` finding as usual and marks
        the interval (:mod:`analysis_lib.paper.scorecard`).
    """
    key: str
    published: str
    verdict: Verdict
    reason: str
    arithmetic: str
    bound: float | None = None
    excluded_targets: tuple[str, ...] = ()
    concerns: Literal["value", "interval"] = "value"

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")
        if self.concerns not in ("value", "interval"):
            raise ValueError(f"unknown concern {self.concerns!r}")


# ============================================================================================
# Order statistics: means of a sample with a given median and extreme
# ============================================================================================

def _check_n(n: int) -> None:
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")


def max_geometric_mean(n: int, median: float, maximum: float) -> float:
    """Largest geometric mean of ``n`` positive values with the given median, all ``<= maximum``.

    Derivation. Sort the sample ``x(1) <= ... <= x(n)``. The geometric mean grows with every
    value, so each value is pushed as high as the constraints allow.

    * Odd ``n = 2k + 1``: ``x(k+1)`` is the median ``m``. The ``k`` values below it are at most
      ``m`` and the ``k`` above at most ``M``, so ``GM^n <= m^(k+1) · M^k``.
    * Even ``n = 2k``: the median is ``(x(k) + x(k+1)) / 2 = m``. Write ``x(k) = a <= m``,
      which makes ``x(k+1) = 2m - a``. The ``k - 1`` values below ``x(k)`` are at most ``a`` and
      the ``k - 1`` above ``x(k+1)`` at most ``M``. So
      ``log GM^n <= k·log a + log(2m - a) + (k - 1)·log M``. This is concave in ``a`` and
      its derivative ``k/a - 1/(2m - a)`` is positive for ``a <= m`` (``k >= 1``), so the
      maximum is at ``a = m``. Then both middle values equal the median and
      ``GM^n <= m^(k+1) · M^(k-1)``.

    The bound is attained (by the sample just described). For ``n = 2`` it gives the AM–GM
    inequality: the geometric mean of two values is at most their mean, which is the median.

    Parameters
    ----------
    n : int
        Sample size.
    median : float
        Sample median (same unit as the values, e.g. copies/µg DNA).
    maximum : float
        Upper bound on every value (e.g. the published maximum of a larger set).

    Returns
    -------
    float
        The largest attainable geometric mean, in the unit of the values.
    """
    _check_n(n)
    if not 0 < median <= maximum:
        raise ValueError("need 0 < median <= maximum")
    k = n // 2
    lm, lM = math.log(median), math.log(maximum)
    log_prod = (k + 1) * lm + k * lM if n % 2 else (k + 1) * lm + (k - 1) * lM
    return math.exp(log_prod / n)


def min_geometric_mean(n: int, median: float, minimum: float) -> float:
    """Smallest geometric mean of ``n`` values with the given median, all ``>= minimum > 0``.

    Derivation (the mirror image of :func:`max_geometric_mean`):

    * Odd ``n = 2k + 1``: ``k`` values at the minimum ``L``, the median ``m`` and ``k`` values
      at ``m``, so ``GM^n >= L^k · m^(k+1)``.
    * Even ``n = 2k``: with ``x(k) = a`` in ``[L, m]`` and ``x(k+1) = 2m - a``, the ``k - 1``
      lowest values are at least ``L`` and the ``k - 1`` highest at least ``2m - a``, so
      ``log GM^n >= (k - 1)·log L + log a + k·log(2m - a)``. This is concave in ``a``, so its
      minimum over ``[L, m]`` lies at an end: ``a = m`` gives ``L^(k-1) · m^(k+1)`` and
      ``a = L`` gives ``L^k · (2m - L)^k``. The bound is the smaller of the two. Unlike the
      maximum, the median need not be one of the values: for ``n = 2`` the smallest
      geometric mean is ``sqrt(L · (2m - L))``, from the pair ``(L, 2m - L)``.

    Parameters
    ----------
    n : int
        Sample size.
    median : float
        Sample median.
    minimum : float
        Lower bound on every value (``0 < minimum <= median``; a sample whose median is
        below its minimum does not exist).

    Returns
    -------
    float
        The smallest attainable geometric mean.
    """
    _check_n(n)
    if not 0 < minimum <= median:
        raise ValueError("need 0 < minimum <= median (no sample has its median below its "
                         "minimum)")
    k = n // 2
    lL, lm = math.log(minimum), math.log(median)
    if n % 2:
        log_prod = k * lL + (k + 1) * lm
    else:
        log_prod = min((k - 1) * lL + (k + 1) * lm,
                       k * lL + k * math.log(2 * median - minimum))
    return math.exp(log_prod / n)


def max_arithmetic_mean(n: int, median: float, maximum: float) -> float:
    """Largest arithmetic mean of ``n`` values with the given median, all ``<= maximum``.

    As in :func:`max_geometric_mean`, but the objective is linear. For odd ``n = 2k + 1``:
    ``((k + 1)·m + k·M) / n``. For even ``n = 2k`` the two middle values always add up to
    ``2m``, so ``(k - 1)·a + 2m + (k - 1)·M`` is largest at ``a = m``:
    ``((k + 1)·m + (k - 1)·M) / n``.
    """
    _check_n(n)
    if not median <= maximum:
        raise ValueError("need median <= maximum")
    k = n // 2
    total = (k + 1) * median + k * maximum if n % 2 else (k + 1) * median + (k - 1) * maximum
    return total / n


def largest_value_of_pair(mean: float, geometric_mean: float, half_unit: float = 0.0) -> float:
    """Larger of two positive values with the given arithmetic and geometric means.

    Two values with mean ``m`` and geometric mean ``g <= m`` are the roots of
    ``x² - 2m·x + g² = 0``: ``m ± sqrt(m² - g²)``. With printed numbers rounded to
    ``± half_unit``, the larger value is at most ``(m + h) + sqrt((m + h)² - (g - h)²)``.
    For two values the median is the mean, so this applies to a median of two patients.

    Returns
    -------
    float
        The largest value the larger member of the pair can have.
    """
    m, g = mean + half_unit, geometric_mean - half_unit
    if g > m:
        raise ValueError("the geometric mean of two values cannot exceed their mean")
    return m + math.sqrt(m * m - g * g)


# ============================================================================================
# 2×2 tables with fixed margins
# ============================================================================================

def wald_se_log_or(a: int, b: int, c: int, d: int) -> float:
    """Woolf (Wald) standard error of the log odds ratio, ``sqrt(1/a + 1/b + 1/c + 1/d)``.

    This is also the Wald standard error of the coefficient of a univariable logistic
    regression on a binary predictor. It is ``inf`` when a cell is empty.
    (Woolf B (1955). On estimating the relation between blood group and disease. Ann Hum
    Genet 19:251–253.)
    """
    if min(a, b, c, d) <= 0:
        return float("inf")
    return math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)


def fisher_exact_p(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact p-value of a 2×2 table.

    With the margins fixed, ``a`` is hypergeometric. The p-value is the total probability of
    the tables no more probable than the observed one (relative tolerance 1e-7, as in R's
    ``fisher.test``). Fisher RA (1935). The logic of inductive inference. J R Stat Soc
    98:39–82.
    """
    n_exp, events, n = a + b, a + c, a + b + c + d
    support = np.arange(max(0, events - (n - n_exp)), min(events, n_exp) + 1)
    pmf = stats.hypergeom.pmf(support, n, events, n_exp)
    p_obs = stats.hypergeom.pmf(a, n, events, n_exp)
    return float(min(1.0, pmf[pmf <= p_obs * (1 + 1e-7)].sum()))


@dataclass(frozen=True)
class TwoByTwo:
    """One 2×2 table with its odds ratio, Fisher p-value and Wald SE of the log odds ratio."""
    a: int
    b: int
    c: int
    d: int
    odds_ratio: float
    fisher_p: float
    wald_se: float


def two_by_two_tables(n: int, exposed: int, events: int) -> tuple[TwoByTwo, ...]:
    """Every 2×2 table with ``n`` patients, ``exposed`` with the factor and ``events`` with
    the outcome.

    With both margins fixed, the table is set by ``a`` (exposed patients with the event), for
    ``max(0, events + exposed - n) <= a <= min(events, exposed)``. Then ``b = exposed - a``,
    ``c = events - a`` and ``d = n - exposed - c``. The odds ratio ``a·d / (b·c)`` increases
    with ``a``, so the attainable odds ratios are this finite list and nothing in between.

    Parameters
    ----------
    n : int
        Patients.
    exposed : int
        Patients with the factor.
    events : int
        Patients with the outcome.

    Returns
    -------
    tuple of TwoByTwo
        In increasing order of ``a`` (and of the odds ratio).
    """
    if not (0 <= exposed <= n and 0 <= events <= n):
        raise ValueError("need 0 <= exposed, events <= n")
    out = []
    for a in range(max(0, events + exposed - n), min(events, exposed) + 1):
        b, c = exposed - a, events - a
        d = n - exposed - c
        out.append(TwoByTwo(a, b, c, d, odds_ratio(a, b, c, d), fisher_exact_p(a, b, c, d),
                            wald_se_log_or(a, b, c, d)))
    return tuple(out)


def min_wald_se_log_or(n: int, exposed: int, events: int) -> float:
    """Smallest Wald SE of a log odds ratio over the 2×2 tables with these margins (tables
    with an empty cell have no finite Wald SE and are skipped)."""
    return min(t.wald_se for t in two_by_two_tables(n, exposed, events))


def min_wald_se_log_or_any_margin(n: int, events: int) -> float:
    """Lower bound of the Wald SE of a log odds ratio for any exposure margin.

    ``a + c = events`` and ``b + d = n - events``. By convexity of ``1/x``,
    ``1/a + 1/c >= 4/events`` and ``1/b + 1/d >= 4/(n - events)``, so
    ``SE >= 2·sqrt(1/events + 1/(n - events))``, whatever the number exposed. Equality
    holds when ``a = c`` and ``b = d``.
    """
    if not 0 < events < n:
        raise ValueError("need 0 < events < n")
    return 2 * math.sqrt(1 / events + 1 / (n - events))


@dataclass(frozen=True)
class WaldCheck:
    """What a ratio estimate and its confidence interval imply on the log scale.

    Attributes
    ----------
    se : float
        ``(log upper - log lower) / (2 z)``, the SE a Wald interval of this width has.
    z : float
        ``log estimate / se``.
    p : float
        Two-sided Wald p-value ``2·(1 - Phi(|z|))``.
    log_asymmetry : float
        ``log estimate - (log lower + log upper) / 2``. A Wald interval is symmetric about the
        estimate on the log scale, so this is 0 up to rounding of the printed numbers.
    """
    se: float
    z: float
    p: float
    log_asymmetry: float


def wald_from_ci(estimate: float, lower: float, upper: float,
                 conf_level: float = 0.95) -> WaldCheck:
    """Recover the Wald SE, z and p-value of a ratio (OR or HR) from its printed CI.

    Cox and logistic models (SPSS, R) print Wald intervals ``exp(b ± z·se)`` with Wald
    p-values ``2·(1 - Phi(|b|/se))``. Given the interval, ``se`` and ``p`` follow.
    """
    if not 0 < lower <= upper:
        raise ValueError("need 0 < lower <= upper")
    z_crit = float(stats.norm.ppf(0.5 + conf_level / 2))
    se = (math.log(upper) - math.log(lower)) / (2 * z_crit)
    z = math.log(estimate) / se
    return WaldCheck(se, z, float(2 * stats.norm.sf(abs(z))),
                     math.log(estimate) - (math.log(lower) + math.log(upper)) / 2)


# ============================================================================================
# Follow-up from calendar dates
# ============================================================================================

def months_between(start: date, end: date) -> float:
    """Months from ``start`` to ``end``: days / (365.25 / 12), the project's month
    (:data:`analysis_lib.data.schema.DAYS_PER_MONTH`)."""
    return (end - start).days / DAYS_PER_MONTH


def max_followup_months(enrolment_start: date, cutoff: date) -> float:
    """Longest possible follow-up: from the earliest possible infusion to the cut-off.

    Infusion follows enrolment, so no infusion is earlier than ``enrolment_start``.
    """
    return months_between(enrolment_start, cutoff)


def min_followup_alive_months(enrolment_end: date, cutoff: date) -> float:
    """Shortest possible follow-up of a patient alive and in contact at the cut-off.

    This patient was infused by ``enrolment_end``. A shorter follow-up means death or loss
    to follow-up.
    """
    return months_between(enrolment_end, cutoff)


# ============================================================================================
# Proportions and survival estimates
# ============================================================================================

def binomial_se(k: int, n: int) -> float:
    """Standard error ``sqrt(p(1 - p)/n)`` of the proportion ``p = k/n``."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n, n > 0")
    p = k / n
    return math.sqrt(p * (1 - p) / n)


def fractions_rounding_to(percent: float, n_max: int, decimals: int = 1,
                          n_min: int = 1) -> tuple[tuple[int, int], ...]:
    """All ``(k, n)`` with ``n_min <= n <= n_max`` whose ``100·k/n`` rounds to ``percent``.

    Rounding is half-up at ``decimals`` places. Each fraction is kept in its first
    (smallest-``n``) form only, so 2/13 is listed and 4/26 is not.
    """
    out = []
    half = 0.5 * 10 ** (-decimals)
    for n in range(n_min, n_max + 1):
        for k in range(n + 1):
            if math.gcd(k, n) != 1 and k != 0:
                continue
            if k == 0 and n != 1:
                continue
            v = 100 * k / n
            if percent - half - 1e-12 <= v < percent + half - 1e-12:
                out.append((k, n))
    return tuple(out)


def min_survival_se(surv: float, n0: int) -> float:
    """Smallest Greenwood (or Peto) standard error of a Kaplan–Meier estimate ``surv`` from
    ``n0`` patients: ``sqrt(surv·(1 - surv)/n0)``, the binomial SE without censoring.

    Proof. By Efron's redistribute-to-the-right construction every event gets KM mass
    ``S(t_i-)·d_i/n_i >= d_i/n0``, so the number at risk satisfies ``n_i <= n0·S(t_i-)``.
    Greenwood's term is ``d_i / (n_i (n_i - d_i))``, and
    ``1/S(t_i) - 1/S(t_i-) = d_i / (S(t_i-) (n_i - d_i))``. Together these give
    ``d_i / (n_i (n_i - d_i)) >= (1/S(t_i) - 1/S(t_i-)) / n0``. The sum telescopes to
    ``(1/S - 1)/n0``, so ``Var = S² · sum >= S(1 - S)/n0``. Peto's variance
    ``S²(1 - S)/n(t)`` with ``n(t) <= n0·S`` obeys the same bound. So censoring can only
    widen the interval. (Greenwood M (1926); Peto R et al. (1977) Br J Cancer 35:1–39;
    Efron B (1967) Proc 5th Berkeley Symp 4:831–853.)
    """
    if not 0 <= surv <= 1 or n0 <= 0:
        raise ValueError("need 0 <= surv <= 1 and n0 > 0")
    return math.sqrt(surv * (1 - surv) / n0)


def max_events_by(surv: float, n0: int, half_unit: float = 0.0) -> int:
    """Most events that can have occurred by ``t`` when the KM estimate is ``S(t) = surv``.

    The redistribute-to-the-right argument of :func:`min_survival_se` gives each event KM mass
    at least ``1/n0``. Hence ``1 - S(t) >= D(t)/n0`` and ``D(t) <= n0·(1 - S(t))``, with or
    without censoring. With a printed estimate rounded to ``± half_unit`` the bound uses
    ``surv - half_unit``.
    """
    return int(math.floor(n0 * (1 - (surv - half_unit)) + 1e-9))


def min_deaths_for_km_median(n: int) -> int:
    """Fewest deaths by ``t`` for a KM median ``<= t`` when nobody is censored before ``t``.

    Without censoring ``S(t) = 1 - D/n <= 0.5`` needs ``D >= n/2``. (Censoring before ``t``
    can lower this. That is why callers state when censoring is ruled out.)
    """
    _check_n(n)
    return math.ceil(n / 2)


def logrank_min_p_one_vs_many(n_other: int, single_dies: bool = True) -> tuple[float, float]:
    """Smallest log-rank p-value between a group of one patient and a group of ``n_other``
    patients when the single patient fares better than expected.

    The single patient is followed to ``tau``. It either dies there (``single_dies``, observed
    deaths ``O = 1``) or is censored there (``O = 0``). At each death time ``t`` at which it is
    at risk, its expected deaths are ``1/n_t`` and the hypergeometric variance is
    ``(n_t - 1)/n_t²`` (one death, ``n_t`` at risk). Events after ``tau`` do not count. The
    function enumerates every configuration of untied event times: each of the ``n_other``
    patients dies before ``tau``, is censored before ``tau``, or is still at risk at ``tau``,
    in any order. It keeps those with ``O < E`` (the single patient fares better) and returns
    the largest ``chi² = (O - E)²/V`` and its p-value (1 df).

    Ties are excluded on purpose: tied deaths shrink the variance and can make any p-value
    reachable, but survival times in months from calendar dates are rarely tied.

    Parameters
    ----------
    n_other : int
        Size of the other group.
    single_dies : bool
        Whether the single patient dies at ``tau`` (``True``) or is censored there.

    Returns
    -------
    (chi2_max, p_min) : tuple of float
    """
    if n_other < 1:
        raise ValueError("need n_other >= 1")
    best = 0.0
    o = 1.0 if single_dies else 0.0

    def walk(at_risk: int, e: float, v: float) -> None:
        nonlocal best
        r = at_risk + 1                      # at risk at tau, the single patient included
        e_end, v_end = (e + 1 / r, v + (r - 1) / r ** 2) if single_dies else (e, v)
        if v_end > 0 and e_end > o:
            best = max(best, (o - e_end) ** 2 / v_end)
        if at_risk:
            walk(at_risk - 1, e + 1 / r, v + (r - 1) / r ** 2)   # another patient dies
            walk(at_risk - 1, e, v)                               # another is censored

    walk(n_other, 0.0, 0.0)
    return best, float(stats.chi2.sf(best, 1))


# ============================================================================================
# Rank tests, grids, hazard ratios
# ============================================================================================

def mann_whitney_asymptotic_p(u: float, n1: int, n2: int) -> float:
    """Two-sided Mann–Whitney p-value by the normal approximation without continuity
    correction and without ties (SPSS's "Asymp. Sig."):
    ``z = (n1·n2/2 - u) / sqrt(n1·n2·(n1 + n2 + 1)/12)``.
    """
    mu = n1 * n2 / 2
    sd = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    return float(2 * stats.norm.sf(abs(mu - u) / sd))


def mann_whitney_u_for_p(p: float, n1: int, n2: int, decimals: int = 3) -> tuple[int, ...]:
    """The values of ``U = min(U1, U2)`` whose asymptotic p-value rounds to ``p``."""
    return tuple(u for u in range(0, n1 * n2 // 2 + 1)
                 if round(mann_whitney_asymptotic_p(u, n1, n2), decimals) == round(p, decimals))


def middle_pairs_on_grid(median: float, grid: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """Pairs ``(lo, hi)`` of grid values, ``lo <= hi``, whose mean is ``median``: the possible
    two middle values of an even-sized sample measured on that grid."""
    g = sorted(set(float(x) for x in grid))
    return tuple((lo, hi) for i, lo in enumerate(g) for hi in g[i:]
                 if math.isclose((lo + hi) / 2, median))


def hazard_ratio_over(hr_per_unit: float, amount: float, unit: float) -> float:
    """Hazard ratio for ``amount`` more of a covariate whose HR is given per ``unit``:
    ``hr_per_unit ** (amount / unit)`` (log-linear Cox model)."""
    return hr_per_unit ** (amount / unit)


# ============================================================================================
# The published numbers (each written once, with its place in the paper)
# ============================================================================================

#: Results, "Patient characteristics": infused patients.
N_PATIENTS = 50
#: Results, "PK of CAR-T cells": Cmax range over patients (copies/µg DNA).
CMAX_MIN, CMAX_MAX = 1_602.0, 1_890_000.0
#: Results, "PK of CAR-T cells": effective expansion in 49 of 50.
N_EXPANDED = 49
#: Results, "PK of CAR-T cells": geometric mean Cmax, MRD-negative CR (n = 48) vs not (n = 2).
GM_CMAX_MRD_CR, GM_CMAX_NON_MRD_CR = 319_016.0, 863.0
#: Results, "PK of CAR-T cells": p-values of MRD-CR vs non-MRD-CR for Cmax and AUC0–28d.
P_CMAX_MRD_CR, P_AUC_MRD_CR = 0.017, 0.029
#: Table 3, "MRD-CR on Day 28": group sizes and median Cmax (copies/µg DNA).
N_MRD_CR, N_NON_MRD_CR = 48, 2
MEDIAN_CMAX_MRD_CR, MEDIAN_CMAX_NON_MRD_CR = 31_906.0, 863.0
#: Methods, "Pharmacokinetics": lower limit of quantification (copies/µg DNA).
LLOQ = 100.0

#: Results, "Toxicity": elevated IL-6 39/50, grade >= 3 CRS 16% (8/50), ICANS 10% (5/50).
IL6_ELEVATED, SEVERE_CRS, ICANS = 39, 8, 5
#: Results, "Toxicity": OR of elevated IL-6 for severe CRS and for ICANS, "p < 0.001 for both".
OR_IL6_SEVERE_CRS, OR_IL6_ICANS, P_IL6_BELOW = 5.250, 9.000, 0.001

#: Methods, "Patients" and "Statistical analyses": enrolment window and last follow-up date.
ENROLMENT_START, ENROLMENT_END, DATA_CUTOFF = date(2017, 6, 1), date(2021, 3, 31), date(2025, 6, 30)
#: Results, "Patient characteristics": median follow-up 68.7 months (range 5.9–97.5).
FOLLOWUP_MEDIAN, FOLLOWUP_MIN, FOLLOWUP_MAX = 68.7, 5.9, 97.5

#: Results, "Treatment outcomes": 5-year OS and LFS with 95% CI (fractions).
OS_5Y, OS_5Y_CI = 0.749, (0.648, 0.851)
LFS_5Y, LFS_5Y_CI = 0.678, (0.575, 0.780)
#: Results, "Treatment outcomes": 15 relapses, at 0.5–38.4 months.
N_RELAPSE, RELAPSE_MAX_MONTHS = 15, 38.4

#: Table 3: patients with pre-LD MRD < 1e-4 and with post-LD MRD < 1e-4.
N_PRE_LD_LOW, N_POST_LD_LOW = 14, 23
#: Results (after Table 1 text): NRM 15.4% ± 1.1% in transplanted patients with pre-LD MRD
#: < 1e-4, vs 0% without HSCT.
NRM_LOW, NRM_LOW_SE = 0.154, 0.011
#: Same paragraph: median OS, HSCT vs no HSCT (months) and log-rank p.
MEDIAN_OS_PRE_LD_LOW, P_OS_PRE_LD_LOW = (22.2, 67.0), 0.022
MEDIAN_OS_POST_LD_LOW, P_OS_POST_LD_LOW = (43.3, 68.3), 0.031

#: Table 2, univariate ORs of grade >= 3 CRS: (label, exposed n from Table 3, OR, lower,
#: upper, printed p).
TABLE2_UNIVARIATE: tuple[tuple[str, str, int, float, float, float, float], ...] = (
    ("or_severe_crs_female", "female", 23, 0.544, 0.361, 0.821, 0.055),
    ("or_severe_crs_no_prior_hsct", "no HSCT history", 45, 0.286, 0.056, 1.446, 0.176),
    ("or_severe_crs_pre_ld_low", "pre-LD MRD < 10⁻³", 29, 0.381, 0.231, 0.629, 0.007),
    ("or_severe_crs_post_ld_low", "post-LD MRD < 10⁻³", 33, 0.349, 0.183, 0.667, 0.013),
    ("or_severe_crs_dose_low", "CAR-T dose < 3.68 × 10⁶/kg", 25, 0.490, 0.317, 0.758, 0.049),
)
#: Table 2, multivariable model 2, female: OR 0.185 (0.017–62.070), p = 0.171.
MV2_FEMALE = (0.185, 0.017, 62.070, 0.171)
#: Tables 1A, 1B and 2 (multivariable): (row, estimate, lower, upper, printed p).
MULTIVARIABLE_ROWS: tuple[tuple[str, float, float, float, float], ...] = (
    ("Table 1A LFS, BCA duration", 0.969, 0.944, 0.995, 0.021),
    ("Table 1A LFS, female", 0.235, 0.062, 0.884, 0.032),
    ("Table 1A LFS, MRD-CR on day 28", 0.910, 0.148, 5.578, 0.919),
    ("Table 1B OS, no CAR-T history", 0.128, 0.015, 1.059, 0.057),
    ("Table 1B OS, grade 4 neutropenia", 1.023, 0.527, 1.983, 0.947),
    ("Table 1B OS, CRS >= 3", 1.122, 0.203, 6.289, 0.895),
    ("Table 2 model 1, female", 0.364, 0.030, 4.330, 0.424),
    ("Table 2 model 1, no HSCT history", 0.391, 0.031, 4.874, 0.465),
    ("Table 2 model 1, pre-LD MRD < 1e-3", 0.067, 0.006, 0.725, 0.026),
    ("Table 2 model 1, dose < 3.68", 0.089, 0.008, 0.968, 0.047),
    ("Table 2 model 2, no HSCT history", 0.135, 0.007, 2.496, 0.178),
    ("Table 2 model 2, post-LD MRD < 1e-3", 0.067, 0.006, 0.711, 0.025),
    ("Table 2 model 2, dose < 3.68", 0.138, 0.013, 1.513, 0.105),
)

#: Results, "PK of CAR-T cells": median Tmax 10.5 days (range 4–21). Methods: samples on
#: days 7, 14, 28 (then weeks 12, 26, ...); days 4 and 21 are the range's ends.
TMAX_MEDIAN, TMAX_RANGE, TMAX_GRID = 10.5, (4.0, 21.0), (4.0, 7.0, 14.0, 21.0, 28.0)
#: Results, "PK of CAR-T cells": BCA in 48/50, "median onset of 1–20 days", median duration
#: 59 days.
N_BCA, BCA_ONSET_PRINTED, BCA_DURATION_MEDIAN_DAYS = 48, (1.0, 20.0), 59.0
#: Table 1A: HR of LFS per unit of BCA duration (unit not stated).
HR_BCA = (0.969, 0.944, 0.995, 0.021)
#: Results, "Patient characteristics": median dose 3.68 × 10⁶/kg; Table 2/3 cut "< 3.68"
#: (25/25); Results, "Toxicity": "below the median threshold (3.66 × 10⁶ cells/kg)".
DOSE_MEDIAN, DOSE_CUT_TABLE, DOSE_CUT_TEXT, N_DOSE_LOW = 3.68, 3.68, 3.66, 25


# ============================================================================================
# The findings
# ============================================================================================

def _f_gm_cmax_mrd_cr() -> Finding:
    n, m, M = N_MRD_CR, MEDIAN_CMAX_MRD_CR, CMAX_MAX
    gm = max_geometric_mean(n, m, M)
    am = max_arithmetic_mean(n, m, M)
    return Finding(
        "gm_cmax_mrd_cr",
        "Results, PK: geometric mean Cmax 319,016 copies/µg in MRD-CR patients (n=48); "
        "Table 3: their median Cmax 31,906; Results: overall range 1,602–1,890,000",
        "impossible" if GM_CMAX_MRD_CR > gm else "feasible",
        "No 48 values with median 31,906 and none above 1,890,000 have a geometric mean above "
        f"{number(gm)}, so 319,016 cannot be a geometric mean. It could be an arithmetic mean "
        f"(at most {number(am)}), or a mistyped 31,906, which is Table 3's median with a digit added.",
        "n = 48 = 2k, k = 24; median m = 31,906 (Table 3); every value <= M = 1,890,000.\n"
        "Largest GM: 24 values at m (the lowest 23 and the lower middle value), the upper "
        "middle value at m too (the two middle values add up to 2m), 23 values at M.\n"
        f"GM_max = (m^25 · M^23)^(1/48) = exp((25·ln 31,906 + 23·ln 1,890,000)/48)\n"
        f"       = exp((25·{fixed(math.log(m), 4)} + 23·{fixed(math.log(M), 4)})/48) = "
        f"{number(gm)} copies/µg\n"
        f"319,016 > {number(gm)}: impossible ({fixed(GM_CMAX_MRD_CR / gm, 2)} times the bound).\n"
        f"Arithmetic mean bound (25·m + 23·M)/48 = {number(am)}: 319,016 would be attainable "
        "as an arithmetic mean.",
        gm, ("gm_cmax_mrd_cr",))


def _f_gm_cmax_non_mrd_cr() -> Finding:
    g, m = GM_CMAX_NON_MRD_CR, MEDIAN_CMAX_NON_MRD_CR
    hi = largest_value_of_pair(m, g, half_unit=0.5)
    x1_max = 2 * m - CMAX_MIN
    gm_consistent = math.sqrt(x1_max * CMAX_MIN)
    return Finding(
        "gm_cmax_non_mrd_cr",
        "Results, PK: geometric mean Cmax 863 copies/µg in the 2 non-MRD-CR patients; "
        "Table 3: their median 863; Results: Cmax range 1,602–1,890,000; expansion in 49/50",
        "impossible" if hi < CMAX_MIN and N_PATIENTS - N_EXPANDED < N_NON_MRD_CR else "feasible",
        "Two values whose mean (the median of two) and geometric mean both equal 863 are both "
        f"about 863 (each below {fixed(hi, 0)}), so two patients would lie below the stated minimum "
        "of 1,602, although only one patient did not expand. Under the only consistent reading "
        f"(finding cmax_min) the pair's geometric mean is at most {fixed(gm_consistent, 0)}.",
        "Two values x1 <= x2: median = (x1 + x2)/2 = 863, GM = sqrt(x1·x2) = 863.\n"
        "x = m ± sqrt(m² - g²); GM = median forces x1 = x2 = 863.\n"
        "Allowing rounding (median < 863.5, GM >= 862.5): x2 <= 863.5 + sqrt(863.5² - 862.5²)"
        f" = 863.5 + {fixed(math.sqrt(863.5**2 - 862.5**2), 1)} = {fixed(hi, 1)} < 1,602.\n"
        "So both non-MRD-CR patients would be below the minimum 1,602. Even if that minimum "
        "covers only the 49 expanders, just one patient (the non-expander) may be below it.\n"
        f"Consistent reading: x2 >= 1,602, x1 = 1,726 - x2 <= {fixed(x1_max, 0)}; "
        f"GM = sqrt(x1·x2) <= sqrt({fixed(x1_max, 0)}·1,602) = {fixed(gm_consistent, 1)} < 863.",
        hi, ("gm_cmax_non_mrd_cr",))


def _f_cmax_min() -> Finding:
    m = MEDIAN_CMAX_NON_MRD_CR
    x1_max = 2 * m - CMAX_MIN
    return Finding(
        "cmax_min",
        "Results, PK: Cmax range 1,602–1,890,000 and effective expansion in 98% (49/50); "
        "Table 3: median Cmax 863 in the 2 non-MRD-CR patients",
        "ambiguous",
        "A median of 863 for two patients puts at least one value at or below 863, so 1,602 "
        "cannot be the minimum over all 50 patients. It fits only as the minimum over the 49 "
        f"expanders, with the non-expander a non-MRD-CR patient whose Cmax is <= {fixed(x1_max, 0)} "
        "copies/µg.",
        "Median of two = (x1 + x2)/2 = 863, so x1 <= 863 < 1,602: 1,602 is not the minimum of "
        "all 50.\n"
        "Range over the 49 expanders: at most one patient (the non-expander) is below 1,602.\n"
        f"The other non-MRD-CR patient has x2 >= 1,602, so x1 = 1,726 - x2 <= {fixed(x1_max, 0)} "
        f"copies/µg (above the LLOQ of {fixed(LLOQ, 0)} is possible), and 1,602 <= x2 <= 1,726.\n"
        "Both non-MRD-CR values lie below all 48 MRD-CR values, as the Mann–Whitney p = 0.017 "
        "also implies (finding cmax_mwu_mrd_cr). The minimum over all 50 is x1, not 1,602.",
        x1_max, ("cmax_min",))


def _f_cmax_mwu() -> Finding:
    us = mann_whitney_u_for_p(P_CMAX_MRD_CR, N_MRD_CR, N_NON_MRD_CR)
    us_auc = mann_whitney_u_for_p(P_AUC_MRD_CR, N_MRD_CR, N_NON_MRD_CR)
    p0 = mann_whitney_asymptotic_p(0, N_MRD_CR, N_NON_MRD_CR)
    p1 = mann_whitney_asymptotic_p(1, N_MRD_CR, N_NON_MRD_CR)
    exact_min = 2 / math.comb(N_MRD_CR + N_NON_MRD_CR, N_NON_MRD_CR)
    return Finding(
        "cmax_mwu_mrd_cr",
        "Results, PK and Table 3: MRD-CR vs non-MRD-CR, Cmax p = 0.017, AUC0–28d p = 0.029 "
        "(Mann–Whitney, n = 48 vs 2)",
        "feasible",
        "p = 0.017 is the asymptotic Mann–Whitney p-value for U = 0, so both non-MRD-CR "
        "patients have a lower Cmax than every MRD-CR patient. AUC0–28d p = 0.029 "
        f"corresponds to U = {us_auc[0] if us_auc else 'none'}.",
        "n1 = 48, n2 = 2: mean U = 48, SD = sqrt(48·2·51/12) = sqrt(408) = 20.199.\n"
        f"U = 0: z = 48/20.199 = 2.376, p = {fixed(p0, 5)} (prints 0.017); U = 1: p = "
        f"{fixed(p1, 5)} (0.020); five decimals show the rounding to the printed three.\n"
        f"U values whose p rounds to 0.017: {us}; to 0.029: {us_auc}.\n"
        f"(The exact test's smallest p is 2/C(50,2) = {number(exact_min)}, so SPSS's asymptotic "
        "value was printed.)",
        p0, ())


def _il6_finding(key: str, outcome: str, events: int, published_or: float) -> Finding:
    tables = two_by_two_tables(N_PATIENTS, IL6_ELEVATED, events)
    finite = [t.odds_ratio for t in tables if math.isfinite(t.odds_ratio)]
    max_finite = max(finite)
    min_p_or_ge1 = min(t.fisher_p for t in tables
                       if not math.isnan(t.odds_ratio) and t.odds_ratio >= 1)
    attainable = any(round(o, 3) == round(published_or, 3) for o in finite)
    lines = [f"Margins: n = 50, IL-6 elevated 39, {outcome} {events}. "
             f"a = elevated with {outcome}, b = 39 - a, c = {events} - a, d = 11 - c.",
             "a  b  c  d   OR = a·d/(b·c)   Fisher two-sided p"]
    for t in tables:
        orr = "inf" if math.isinf(t.odds_ratio) else fixed(t.odds_ratio, 4)
        lines.append(f"{t.a}  {t.b} {t.c}  {t.d}   {orr:>8}        {p_value(t.fisher_p)}")
    lines.append(f"{published_or:g} lies strictly between {number(max_finite)} and infinity: "
                 "not attainable.")
    lines.append(f"Smallest Fisher p with OR >= 1: {p_value(min_p_or_ge1)} (> 0.001); p < 0.001 "
                 "occurs only for tables with OR < 1 (IL-6 protective).")
    return Finding(
        key,
        f"Results, Toxicity: IL-6 elevated in 39/50; {outcome} in {events}/50; OR of IL-6 "
        f"elevation for {outcome} = {published_or:.3f}, p < 0.001",
        "impossible" if not attainable or min_p_or_ge1 >= P_IL6_BELOW else "feasible",
        f"With these margins the attainable odds ratios jump from {number(max_finite)} straight "
        f"to infinity, so {published_or:g} is not attainable. No table with an odds ratio above "
        f"1 has a Fisher p below 0.001 (smallest {p_value(min_p_or_ge1)}). (If the OR was per unit of "
        "a continuous IL-6 level, the paper does not say so.)",
        "\n".join(lines), max_finite, (key,))


def _f_followup_max() -> Finding:
    mx = max_followup_months(ENROLMENT_START, DATA_CUTOFF)
    days = (DATA_CUTOFF - ENROLMENT_START).days
    latest = DATA_CUTOFF - timedelta(days=FOLLOWUP_MAX * DAYS_PER_MONTH)
    return Finding(
        "followup_max",
        "Results, Patient characteristics: follow-up range 5.9–97.5 months; Methods: "
        "enrolment June 2017 – March 2021, last follow-up 30 June 2025",
        "inconsistent" if FOLLOWUP_MAX > mx else "feasible",
        f"The earliest possible infusion (1 June 2017) gives at most {fixed(mx, 2)} months of "
        "follow-up by 30 June 2025, less than 97.5. The numbers agree only with 30-day months "
        "or an infusion before the stated enrolment window.",
        f"2017-06-01 to 2025-06-30 = {days} days.\n"
        f"{days} / (365.25/12) = {days} / {fixed(DAYS_PER_MONTH, 4)} = {fixed(mx, 2)} months < "
        f"97.5 (short by {fixed(FOLLOWUP_MAX - mx, 2)} months = "
        f"{fixed((FOLLOWUP_MAX - mx) * DAYS_PER_MONTH, 0)} days).\n"
        f"{days} / (365/12) = {fixed(days / (365 / 12), 2)}; only {days} / 30 = "
        f"{fixed(days / 30, 2)} "
        "exceeds 97.5.\n"
        f"97.5 months (365.25/12) before the cut-off is {latest:%Y-%m-%d}, before June 2017.",
        mx, ("followup_max",), concerns="interval")


def _f_followup_min() -> Finding:
    mn = min_followup_alive_months(ENROLMENT_END, DATA_CUTOFF)
    mx = max_followup_months(ENROLMENT_START, DATA_CUTOFF)
    days = (DATA_CUTOFF - ENROLMENT_END).days
    return Finding(
        "followup_min_months",
        "Results, Patient characteristics: median follow-up 68.7 months (range 5.9–97.5)",
        "feasible" if mn <= FOLLOWUP_MEDIAN <= mx else "inconsistent",
        f"A patient alive and in contact at the cut-off was followed for at least {fixed(mn, 1)} "
        "months, so the 5.9-month minimum belongs to a patient who died (or was lost) at 5.9 "
        "months. The median of 68.7 lies inside the window.",
        f"Latest infusion 2021-03-31 to 2025-06-30 = {days} days = {fixed(mn, 2)} months.\n"
        f"Follow-up of an alive patient lies in [{fixed(mn, 1)}, {fixed(mx, 1)}] months; "
        f"{FOLLOWUP_MIN} < {fixed(mn, 1)}, so that patient died or was lost; {FOLLOWUP_MEDIAN} "
        f"is within [{fixed(mn, 1)}, {fixed(mx, 1)}].",
        mn, ())


def _f_nrm_se() -> Finding:
    fr = fractions_rounding_to(100 * NRM_LOW, N_PRE_LD_LOW)
    k, n = fr[0]
    se_kn = binomial_se(k, n)
    se_min = min_survival_se(k / n, N_PRE_LD_LOW)
    se_min50 = min_survival_se(k / n, N_PATIENTS)
    n_needed = (k / n) * (1 - k / n) / NRM_LOW_SE ** 2
    return Finding(
        "nrm_se_low_burden",
        "Results: NRM 15.4% ± 1.1% in transplanted patients with pre-LD MRD < 10⁻⁴ "
        "(Table 3: 14 such patients)",
        "impossible" if NRM_LOW_SE < se_min else "feasible",
        f"Among at most 14 patients only {k}/{n} gives 15.4%. Its standard error is "
        f"{fixed(100 * se_kn, 1)}%, and no Kaplan–Meier or binomial estimate of 15.4% from 14 "
        f"patients has an SE below {fixed(100 * se_min, 1)}%. An SE of 1.1% would need about "
        f"{fixed(n_needed, 0)} patients.",
        f"k/n with n <= 14 rounding to 15.4%: {fr} (2/13 = {fixed(2 / 13, 4)}).\n"
        f"Binomial SE = sqrt(p(1-p)/n) = sqrt({fixed(k / n, 4)}·{fixed(1 - k / n, 4)}/{n}) = "
        f"{fixed(se_kn, 4)}.\n"
        f"Greenwood/Peto SE >= sqrt(S(1-S)/n0) (censoring only widens it): n0 = 14 gives "
        f"{fixed(se_min, 4)}; even n0 = 50 gives {fixed(se_min50, 4)}.\n"
        f"SE = 0.011 needs n = p(1-p)/SE² = {fixed(k / n, 4)}·{fixed(1 - k / n, 4)}/0.011² = "
        f"{fixed(n_needed, 0)}.",
        se_min, ("nrm_se_low_burden",), concerns="interval")


def _f_nrm_lfs() -> Finding:
    d_lfs = max_events_by(LFS_5Y, N_PATIENTS, half_unit=0.0005)
    d_os = max_events_by(OS_5Y, N_PATIENTS, half_unit=0.0005)
    return Finding(
        "nrm_timing_lfs_5y",
        "Results: 5-year LFS 67.8%, 5-year OS 74.9%, 15 relapses (0.5–38.4 months); NRM "
        "15.4% (= 2/13) in transplanted patients with pre-LD MRD < 10⁻⁴",
        "feasible",
        f"A 5-year LFS of 67.8% allows at most {d_lfs} LFS events before 5 years, and the 15 "
        "relapses (all by 38.4 months) use up all but one. So at most one of the two "
        "non-relapse deaths implied by 2/13 can fall before month 60, and a synthetic cohort "
        "that puts both earlier cannot reach 67.8% (its LFS is <= 66%).",
        "KM: each event carries mass >= 1/n0, so events by t <= n0·(1 - S(t)).\n"
        f"LFS: 50·(1 - 0.6775) = {fixed(50 * (1 - 0.6775), 3)} -> at most {d_lfs} events by 60 "
        "months.\n"
        f"15 relapses by 38.4 months + NRM deaths before 60 months <= {d_lfs} -> at most "
        f"{d_lfs - N_RELAPSE} such death.\n"
        f"OS: 50·(1 - 0.7485) = {fixed(50 * (1 - 0.7485), 3)} -> at most {d_os} deaths by 60 "
        "months.\n"
        "Without censoring before 5 years, 15 relapses + 2 early NRM would give "
        f"LFS <= 1 - 17/50 = {fixed(1 - 17 / 50, 2)}.",
        float(d_lfs), ())


def _f_median_os_pre() -> Finding:
    k, n_h = fractions_rounding_to(100 * NRM_LOW, N_PRE_LD_LOW)[0]
    n_nh = N_PRE_LD_LOW - n_h
    need = min_deaths_for_km_median(n_h)
    d_os = max_events_by(OS_5Y, N_PATIENTS, half_unit=0.0005)
    d_lfs = max_events_by(LFS_5Y, N_PATIENTS, half_unit=0.0005)
    t_h, t_nh = MEDIAN_OS_PRE_LD_LOW
    chi2_max, p_min = logrank_min_p_one_vs_many(n_h, single_dies=True)
    chi2_cens, p_cens = logrank_min_p_one_vs_many(n_h, single_dies=False)
    fisher = fisher_exact_p(need, N_PRE_LD_LOW - need, d_os - need,
                            N_PATIENTS - N_PRE_LD_LOW - (d_os - need))
    return Finding(
        "median_os_low_burden",
        "Results: pre-LD MRD < 10⁻⁴, HSCT vs no HSCT, median OS 22.2 vs 67.0 months, "
        "p = 0.022; NRM 15.4% vs 0%; Table 3: 14 patients with pre-LD MRD < 10⁻⁴",
        "inconsistent" if min(p_min, p_cens) > P_OS_PRE_LD_LOW else "feasible",
        f"NRM 15.4% = {k}/{n_h} puts {n_h} of the 14 in the HSCT group and one in the other, "
        "so the 67.0-month 'median' describes a single patient. Whether that patient died or "
        f"was censored, no log-rank test of 13 vs 1 with untied times reaches p = 0.022 "
        f"(smallest p {p_value(min(p_min, p_cens))}).",
        f"NRM: of all k/n with n <= 14 only {k}/{n_h} rounds to 15.4%. This assumes no censoring "
        "before the NRM deaths (alive patients have >= 51.0 months of potential follow-up). "
        f"So HSCT n = {n_h}, no HSCT n = {n_nh}.\n"
        f"KM median {t_nh} in a group of {n_nh}: that patient died at {t_nh} months (a single "
        "censored patient has no median); if alive, 67.0 is its follow-up (SPSS's mean).\n"
        "Log-rank 1 vs 13, untied times: E = sum 1/n_t, V = sum (n_t-1)/n_t² over deaths while "
        "the single patient is at risk.\n"
        f"  dies at 67.0 (O = 1): max chi² = {fixed(chi2_max, 3)} (all 13 die first), "
        f"p >= {p_value(p_min)}\n"
        f"  censored (O = 0):     max chi² = {fixed(chi2_cens, 3)}, p >= {p_value(p_cens)}; "
        "both > 0.022.\n"
        f"KM median {t_h} with {n_h} patients, no censoring before {t_h}: "
        f">= ceil({n_h}/2) = {need} "
        f"deaths by 22.2 months, at most {d_lfs - N_RELAPSE} of them an NRM death (finding "
        f"nrm_timing_lfs_5y), so >= {need - (d_lfs - N_RELAPSE)} relapse deaths.\n"
        f"Cohort: <= {d_os} deaths by 60 months (50·(1 - 0.7485)). With {need} of them among the "
        f"14 low-burden patients, the other 36 have <= {d_os - need}: crude Fisher p = "
        f"{p_value(fisher)} for {need}/14 vs {d_os - need}/36, even at the split that favours "
        "no association. This is at odds with the paper's 'no significant association' of OS "
        "with pre-infusion MRD (cut-point not stated).",
        min(p_min, p_cens),
        ("median_os_hsct_low_burden", "median_os_no_hsct_low_burden", "p_os_hsct_low_burden"))


def _f_median_os_post() -> Finding:
    mn = min_followup_alive_months(ENROLMENT_END, DATA_CUTOFF)
    d_os = max_events_by(OS_5Y, N_PATIENTS, half_unit=0.0005)
    t_h, t_nh = MEDIAN_OS_POST_LD_LOW
    return Finding(
        "median_os_post_ld_low",
        "Results: post-LD MRD < 10⁻⁴ (Table 3: 23 patients), HSCT vs no HSCT, median OS 43.3 "
        "vs 68.3 months, p = 0.031",
        "ambiguous",
        "These can be KM medians (the group sizes are not given, so nothing forces a "
        "contradiction), but they come from the same Figure 1 analysis as the inconsistent "
        "pre-LD numbers. The no-HSCT value 68.3, like 67.0, falls where alive patients are "
        "censored, so it may be SPSS's restricted mean rather than a median.",
        f"Group sizes n_h + n_nh = {N_POST_LD_LOW} are not published, so p = "
        f"{P_OS_POST_LD_LOW} cannot be checked.\n"
        f"HSCT median {t_h}: >= ceil(n_h/2) deaths by {t_h} months (no censoring of alive "
        f"patients before {fixed(mn, 1)} months); the cohort's <= {d_os} deaths by 60 months cover "
        f"ceil(n_h/2) <= {math.ceil(N_POST_LD_LOW / 2)} for every n_h <= {N_POST_LD_LOW}.\n"
        f"No-HSCT median {t_nh}: needs a death at {t_nh} months that takes S from > 0.5 to "
        "<= 0.5; "
        "if S(68.3-) is near the cohort's 0.75, S·(1 - 1/r) <= 0.5 needs r <= 3 at risk.\n"
        f"That death is {t_nh} - {RELAPSE_MAX_MONTHS} = {fixed(t_nh - RELAPSE_MAX_MONTHS, 1)} months "
        "or more after "
        "the last relapse, or a non-relapse death without HSCT.\n"
        f"{t_nh} lies in [{fixed(mn, 1)}, "
        f"{fixed(max_followup_months(ENROLMENT_START, DATA_CUTOFF), 1)}], "
        "where alive patients are censored: a group without "
        "deaths has restricted mean = its longest follow-up.",
        None, ("median_os_hsct_post_ld_low", "median_os_no_hsct_post_ld_low"))


def _f_table2_univariate(key: str, label: str, exposed: int, est: float, lo: float,
                         hi: float, p_printed: float) -> Finding:
    w = wald_from_ci(est, lo, hi)
    tables = two_by_two_tables(N_PATIENTS, exposed, SEVERE_CRS)
    se_min = min_wald_se_log_or(N_PATIENTS, exposed, SEVERE_CRS)
    se_any = min_wald_se_log_or_any_margin(N_PATIENTS, SEVERE_CRS)
    ors = [t.odds_ratio for t in tables]
    below = max((o for o in ors if o < est), default=float("nan"))
    above = min((o for o in ors if o > est), default=float("nan"))
    ratio_min = math.exp(2 * Z95 * se_min)
    attainable = any(round(o, 3) == round(est, 3) for o in ors if math.isfinite(o))
    return Finding(
        key,
        f"Table 2, univariate: {label} OR {est:.3f} ({lo:.3f}–{hi:.3f}), p = {p_printed:.3f} "
        f"(grade >= 3 CRS 8/50; {exposed}/50 exposed)",
        "impossible" if not attainable or w.se < se_min else "feasible",
        f"No 2×2 table with these margins gives OR {est:.3f} (neighbours {fixed(below, 3)} and "
        f"{fixed(above, 3)}), and the CI implies a log-OR SE of {fixed(w.se, 3)} where 8 events "
        f"allow no less than {fixed(se_min, 3)}. The CI also implies {p_phrase(w.p)}, not "
        f"{p_printed:.3f}.",
        f"Margins n = 50, exposed = {exposed}, events = 8. Attainable ORs: "
        + ", ".join("inf" if math.isinf(o) else fixed(o, 3) for o in ors) + ".\n"
        f"CI -> SE = (ln {hi} - ln {lo})/(2·1.96) = {fixed(w.se, 4)}; z = ln {est}/SE = "
        f"{fixed(w.z, 3)}; Wald {p_phrase(w.p)} vs printed {p_printed}.\n"
        f"Smallest Wald SE sqrt(1/a+1/b+1/c+1/d) over these tables = {fixed(se_min, 4)} "
        f"(any margin: 2·sqrt(1/8 + 1/42) = {fixed(se_any, 4)}).\n"
        f"So upper/lower >= exp(2·1.96·{fixed(se_min, 4)}) = {fixed(ratio_min, 1)}; printed "
        f"{hi}/{lo} = {fixed(hi / lo, 2)}.",
        se_min, (key,))


def _f_mv2_female() -> Finding:
    est, lo, hi, _ = MV2_FEMALE
    w = wald_from_ci(est, lo, hi)
    hi_sym = est ** 2 / lo
    w_fix = wald_from_ci(est, lo, 2.070)
    return Finding(
        "or_mv2_severe_crs_female",
        "Table 2, multivariable model 2: female OR 0.185 (0.017–62.070), p = 0.171",
        "inconsistent",
        "The interval is not centred on the OR on the log scale (its geometric midpoint is "
        f"{fixed(math.exp(math.log(est) - w.log_asymmetry), 3)}, not 0.185). An upper limit of "
        f"2.070 fits the OR and gives Wald {p_phrase(w_fix.p)}, so 62.070 is likely a typo.",
        f"sqrt(0.017·62.070) = {fixed(math.sqrt(lo * hi), 3)} != 0.185 (log asymmetry "
        f"{fixed(w.log_asymmetry, 2)}).\n"
        f"Symmetric upper limit = OR²/lower = 0.185²/0.017 = {fixed(hi_sym, 3)} (2.07 within rounding "
        "of 0.017).\n"
        f"With 2.070: SE = {fixed(w_fix.se, 4)}, z = {fixed(w_fix.z, 3)}, p = {p_value(w_fix.p)} "
        "(printed 0.171).",
        hi_sym, (), concerns="interval")


def _f_multivariable_ok() -> Finding:
    lines = []
    worst = 0.0
    for row, est, lo, hi, p in MULTIVARIABLE_ROWS:
        w = wald_from_ci(est, lo, hi)
        worst = max(worst, abs(w.p - p))
        lines.append(f"{row}: {est} ({lo}–{hi}) -> SE {fixed(w.se, 3)}, Wald p {p_value(w.p)} "
                     f"(printed {p})")
    return Finding(
        "multivariable_wald_ci",
        "Tables 1A, 1B, 2 (multivariable): hazard and odds ratios with 95% CI and p",
        "feasible",
        "Every multivariable row (except model 2's female CI) has a log-symmetric interval whose "
        f"Wald p matches the printed p to within {fixed(worst, 3)}. The log-scale SEs (about 1.2 in "
        "Table 2) are of the size 8 events allow, unlike the univariate column.",
        "\n".join(lines), worst, ())


def _survival_ci_finding(key: str, label: str, s: float, ci: tuple[float, float]) -> Finding:
    half = (ci[1] - ci[0]) / 2
    se_pub = half / Z95
    se_min = min_survival_se(s, N_PATIENTS)
    z_impl = half / se_min
    conf = 2 * stats.norm.cdf(z_impl) - 1
    n_impl = s * (1 - s) / se_pub ** 2
    return Finding(
        key,
        f"Results, Treatment outcomes: 5-year {label} {100 * s:.1f}% (95% CI "
        f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}%), n = 50",
        "inconsistent" if half < Z95 * se_min else "feasible",
        f"A Kaplan–Meier estimate of {100 * s:.1f}% from 50 patients has a standard error of at "
        f"least {fixed(100 * se_min, 2)}%, so its 95% CI is at least "
        f"±{fixed(100 * Z95 * se_min, 1)} points; the printed ±{fixed(100 * half, 2)} is too "
        f"narrow (coverage at most {fixed(100 * conf, 0)}%, or n ≈ {fixed(n_impl, 0)}). The "
        "point estimate is unaffected.",
        f"Printed half-width ({100 * ci[1]:.1f} - {100 * ci[0]:.1f})/2 = {fixed(100 * half, 2)} "
        f"points (symmetric: plain Greenwood) -> SE = {fixed(100 * se_pub, 2)}%.\n"
        f"Minimum Greenwood SE sqrt(S(1-S)/50) = sqrt({s}·{fixed(1 - s, 3)}/50) = "
        f"{fixed(100 * se_min, 2)}% -> 95% half-width >= {fixed(100 * Z95 * se_min, 2)} points.\n"
        f"Printed half-width / min SE = {fixed(z_impl, 3)} -> a {fixed(100 * conf, 1)}% interval "
        "at best.\n"
        f"Sample size that would give the printed SE: S(1-S)/SE² = {fixed(n_impl, 1)}.",
        se_min, (key,), concerns="interval")


def _f_tmax() -> Finding:
    pairs = middle_pairs_on_grid(TMAX_MEDIAN, TMAX_GRID)
    return Finding(
        "tmax_median",
        "Results, PK: median Tmax 10.5 days (range 4–21); Methods: samples on days 7, 14, 28",
        "feasible",
        "For n = 50 the median is the mean of the 25th and 26th values, and on the sampling "
        "grid the only such pair is days 7 and 14. So 25 patients peaked by day 7 and 25 on "
        "day 14 or later: 10.5 is attainable but reflects the grid, not a typical peak day.",
        f"Median = (x25 + x26)/2 = 10.5 -> x25 + x26 = 21.\n"
        f"Grid {TMAX_GRID} (scheduled days 7, 14, 28 plus the range ends 4, 21): pairs = {pairs}.\n"
        f"The range ends, days {TMAX_RANGE[0]:g} and {TMAX_RANGE[1]:g}, are off the schedule, "
        "so some patients had extra samples.\n"
        "x25 = 7 and x26 = 14 leave no Tmax strictly between days 7 and 14 (e.g. at an extra "
        "day-10 visit); x25 + x26 = 21 with x25 in (7, 14) would need an off-grid pair such "
        "as (10, 11).",
        None, ())


def _f_bca_onset() -> Finding:
    return Finding(
        "bca_onset_median",
        "Results, PK: BCA in 96% (48/50) 'with a median onset of 1–20 days'",
        "ambiguous",
        "A median is one number, not a range. '1–20' is probably the range of onset days, "
        "with the median itself not reported.",
        f"n = {N_BCA}: the median onset = (x{N_BCA // 2} + x{N_BCA // 2 + 1})/2, a single "
        "day count.\n"
        f"'1–20' fits a range (minimum {BCA_ONSET_PRINTED[0]:g}, maximum "
        f"{BCA_ONSET_PRINTED[1]:g}); the median is then unknown, somewhere "
        "in [1, 20].",
        None, ("bca_onset_median",))


def _f_hr_bca() -> Finding:
    hr, lo, hi, _ = HR_BCA
    w = wald_from_ci(hr, lo, hi)
    d = BCA_DURATION_MEDIAN_DAYS
    per_day = hazard_ratio_over(hr, d, 1.0)
    per_week = hazard_ratio_over(hr, d, 7.0)
    per_month = hazard_ratio_over(hr, d, DAYS_PER_MONTH)
    return Finding(
        "hr_bca_lfs",
        "Table 1A: LFS HR 0.969 (0.944–0.995), p = 0.021, per unit of BCA duration (unit "
        "not stated); Results: median BCA duration 59 days",
        "ambiguous",
        "The unit of BCA duration is not stated. For 59 days (the median duration) the HR is "
        f"{fixed(per_day, 3)} if per day, {fixed(per_week, 3)} if per week or "
        f"{fixed(per_month, 3)} if per "
        "month, so the implied effect differs six-fold.",
        f"HR over 59 days = 0.969^(59/unit): per day 0.969^59 = {fixed(per_day, 3)}; per week "
        f"0.969^{fixed(d / 7, 2)} = {fixed(per_week, 3)}; per month "
        f"0.969^{fixed(d / DAYS_PER_MONTH, 2)} = {fixed(per_month, 3)}.\n"
        f"Wald check: SE = {fixed(w.se, 4)}, p = {p_value(w.p)} (printed 0.021).",
        None, ("hr_bca_lfs",))


def _f_dose_cut() -> Finding:
    return Finding(
        "dose_cut",
        "Results: median dose 3.68 × 10⁶/kg; Tables 2–3: cut '< 3.68' (25 vs 25); Results, "
        "Toxicity: 'below the median threshold (3.66 × 10⁶ cells/kg)'",
        "ambiguous",
        "The tables and the median agree on 3.68; the text's 3.66 is probably a typo. "
        "Calibration should use < 3.68, which splits 25/25.",
        "n = 50: median 3.68 = (x25 + x26)/2. The split '< 3.68' has 25 patients exactly when "
        f"x25 < {DOSE_CUT_TABLE} <= x26 (then x26 = {fixed(2 * DOSE_MEDIAN, 2)} - x25 > "
        f"{DOSE_MEDIAN}).\n"
        f"A {DOSE_CUT_TEXT} cut would give {N_DOSE_LOW} only if no dose lies in "
        f"[{DOSE_CUT_TEXT}, {DOSE_CUT_TABLE}).",
        None, ())


FINDINGS: tuple[Finding, ...] = (
    _f_gm_cmax_mrd_cr(),
    _f_gm_cmax_non_mrd_cr(),
    _f_cmax_min(),
    _f_cmax_mwu(),
    _il6_finding("il6_or_severe_crs", "severe CRS", SEVERE_CRS, OR_IL6_SEVERE_CRS),
    _il6_finding("il6_or_icans", "ICANS", ICANS, OR_IL6_ICANS),
    _f_followup_max(),
    _f_followup_min(),
    _f_nrm_se(),
    _f_nrm_lfs(),
    _f_median_os_pre(),
    _f_median_os_post(),
    *(_f_table2_univariate(*row) for row in TABLE2_UNIVARIATE),
    _f_mv2_female(),
    _f_multivariable_ok(),
    _survival_ci_finding("os_5y_ci", "OS", OS_5Y, OS_5Y_CI),
    _survival_ci_finding("lfs_5y_ci", "LFS", LFS_5Y, LFS_5Y_CI),
    _f_tmax(),
    _f_bca_onset(),
    _f_hr_bca(),
    _f_dose_cut(),
)


def excluded_target_keys() -> tuple[str, ...]:
    """Every calibration target key excluded by some finding, in order of first mention."""
    out: list[str] = []
    for f in FINDINGS:
        out += [k for k in f.excluded_targets if k not in out]
    return tuple(out)


def findings_frame() -> pd.DataFrame:
    """The findings as a table: one row each, columns ``key``, ``published``, ``verdict``,
    ``reason``, ``arithmetic``, ``bound`` (``nan`` where none) and ``excluded_targets``
    (comma-separated)."""
    return pd.DataFrame({
        "key": [f.key for f in FINDINGS],
        "published": [f.published for f in FINDINGS],
        "verdict": [f.verdict for f in FINDINGS],
        "reason": [f.reason for f in FINDINGS],
        "arithmetic": [f.arithmetic for f in FINDINGS],
        "bound": [np.nan if f.bound is None else float(f.bound) for f in FINDINGS],
        "excluded_targets": [", ".join(f.excluded_targets) for f in FINDINGS],
    })
