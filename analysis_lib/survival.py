"""Kaplan–Meier estimation with the confidence intervals and median of R's ``survfit``.

References
----------
* Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete observations.
  J Am Stat Assoc 53:457–481.
* Greenwood M (1926). The natural duration of cancer. Reports on Public Health and Medical
  Subjects 33:1–26 (variance).
* Brookmeyer R, Crowley J (1982). A confidence interval for the median survival time.
  Biometrics 38:29–41 (median CI by inverting the pointwise band, as R does).
* Schemper M, Smith TL (1996). A note on quantifying follow-up in studies of failure time.
  Control Clin Trials 17:343–346 (reverse Kaplan–Meier for median follow-up).
* Therneau T (2024). survival: A Package for Survival Analysis in R (``survfit.formula``,
  ``quantile.survfit``): the reference implementation these functions are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

ConfType = Literal["plain", "log", "log-log"]
CONF_TYPES: tuple[ConfType, ...] = ("plain", "log", "log-log")


@dataclass(frozen=True)
class MedianEstimate:
    """A median survival time with its confidence limits (``nan`` when not reached)."""

    estimate: float
    lower: float
    upper: float
    conf_level: float
    conf_type: str


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier estimate at each distinct observed time.

    Attributes
    ----------
    time: distinct times (events or censorings), ascending, in the input's unit.
    n_risk, n_event, n_censor: counts at each time.
    surv: survival probability just after each time.
    std_err: Greenwood standard error of the cumulative hazard, sqrt(sum d / (n (n - d))),
        which is what R's ``survfit`` calls ``std.err``.
    conf_level: level of the pointwise confidence intervals.
    """

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    surv: np.ndarray
    std_err: np.ndarray
    conf_level: float = 0.95

    @property
    def z(self) -> float:
        return float(stats.norm.ppf(1 - (1 - self.conf_level) / 2))

    def confidence_interval(self, conf_type: ConfType = "log") -> tuple[np.ndarray, np.ndarray]:
        """Pointwise limits as R's ``survfit(conf.type=...)``: ``plain`` (S ± z·S·se),
        ``log`` (R's default) or ``log-log``."""
        s, se, z = self.surv, self.std_err, self.z
        with np.errstate(divide="ignore", invalid="ignore"):
            if conf_type == "plain":
                lo = np.maximum(s - z * se * s, 0.0)
                hi = np.minimum(s + z * se * s, 1.0)
            elif conf_type == "log":
                lo = np.exp(np.log(s) - z * se)
                hi = np.minimum(np.exp(np.log(s) + z * se), 1.0)
            elif conf_type == "log-log":
                xx = np.where((s == 0) | (s == 1), np.nan, np.log(-np.log(s)))
                lo = np.exp(-np.exp(xx - z * se / np.log(s)))
                hi = np.exp(-np.exp(xx + z * se / np.log(s)))
            else:
                raise ValueError(f"conf_type must be one of {CONF_TYPES}")
        undefined = np.isnan(se)
        lo[undefined] = np.nan
        hi[undefined] = np.nan
        return lo, hi

    def table(self, conf_type: ConfType = "log") -> pd.DataFrame:
        """Tidy table: time, n_risk, n_event, n_censor, surv, std_err, lower, upper."""
        lo, hi = self.confidence_interval(conf_type)
        return pd.DataFrame({"time": self.time, "n_risk": self.n_risk, "n_event": self.n_event,
                             "n_censor": self.n_censor, "surv": self.surv,
                             "std_err": self.std_err, "lower": lo, "upper": hi})

    def survival_at(self, t: float, conf_type: ConfType = "log") -> tuple[float, float, float]:
        """S(t) with its confidence limits (right-continuous step function)."""
        i = np.searchsorted(self.time, t, side="right") - 1
        if i < 0:
            return 1.0, 1.0, 1.0
        lo, hi = self.confidence_interval(conf_type)
        return float(self.surv[i]), float(lo[i]), float(hi[i])

    def median(self, conf_type: ConfType = "log") -> MedianEstimate:
        """Median with the confidence limits R's ``print.survfit`` reports.

        The median is the first time the curve falls to 0.5 or below; when it equals 0.5
        exactly over an interval, the midpoint of that interval (R's convention), or the
        start of the interval if the curve stays at 0.5 to the end. The limits are the same
        quantile read off the lower and upper pointwise bands.
        """
        lo, hi = self.confidence_interval(conf_type)
        return MedianEstimate(_quantile_time(self.time, self.surv, 0.5),
                              _quantile_time(self.time, lo, 0.5),
                              _quantile_time(self.time, hi, 0.5),
                              self.conf_level, conf_type)


def _quantile_time(time: np.ndarray, curve: np.ndarray, p: float) -> float:
    """First time ``curve`` <= ``p``; on an exact tie (within sqrt(eps)) the midpoint between
    that time and the first time the curve drops below it, or that time itself if it never
    does (R's ``print.survfit`` / ``summary(fit)$table``); ``nan`` when ``p`` is not reached."""
    tol = np.sqrt(np.finfo(float).eps)
    y = np.asarray(curve, dtype=float)
    keep = ~np.isnan(y) & (y < p + tol)
    t, y = np.asarray(time, dtype=float)[keep], y[keep]
    if t.size == 0:
        return float("nan")
    if abs(y[0] - p) < tol:
        later = np.flatnonzero(y < y[0])
        if later.size:
            return float((t[0] + t[later[0]]) / 2)
    return float(t[0])


def kaplan_meier(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
                 conf_level: float = 0.95) -> KaplanMeier:
    """Kaplan–Meier estimate for right-censored data.

    Parameters
    ----------
    time: follow-up times (any unit; the result keeps it), non-negative.
    event: 1/True for an event, 0/False for censoring.
    conf_level: level of the pointwise intervals.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    if t.shape != e.shape:
        raise ValueError("time and event must have the same length")
    if t.size == 0:
        raise ValueError("no observations")
    if np.isnan(t).any():
        raise ValueError("time has missing values")
    times, inv = np.unique(t, return_inverse=True)
    n_event = np.bincount(inv, weights=e, minlength=times.size)
    n_total = np.bincount(inv, minlength=times.size).astype(float)
    n_censor = n_total - n_event
    n_risk = t.size - np.concatenate(([0.0], np.cumsum(n_total)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1 - n_event / n_risk)
        terms = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    var = np.cumsum(terms)
    std_err = np.sqrt(var)
    std_err[surv == 0] = np.nan  # R: undefined once the curve reaches zero
    return KaplanMeier(times, n_risk.astype(int), n_event.astype(int), n_censor.astype(int),
                       surv, std_err, conf_level)


def reverse_kaplan_meier(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
                         conf_level: float = 0.95) -> KaplanMeier:
    """Reverse Kaplan–Meier (Schemper & Smith 1996): censoring is the event, events censor.

    Its median is the median potential follow-up, robust to early deaths.
    """
    return kaplan_meier(time, ~np.asarray(event, dtype=bool), conf_level)


@dataclass(frozen=True)
class LogRankResult:
    """Two-group log-rank test (R ``survdiff(rho = 0)``).

    ``observed``/``expected`` are the events in each group and their expectation under the
    null; ``variance`` is the hypergeometric variance of group 1's observed minus expected;
    ``hr_peto`` is Peto's one-step hazard ratio of group 1 versus group 0,
    ``exp((O1 - E1) / V)`` (Yusuf S, Peto R, et al. (1985). Prog Cardiovasc Dis 27:335-371).
    """

    observed: tuple[float, float]
    expected: tuple[float, float]
    variance: float
    chi2: float
    p_value: float
    hr_peto: float


def logrank_test(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
                 group: np.ndarray | pd.Series) -> LogRankResult:
    """Log-rank test comparing group 1 (``group`` true) with group 0, vectorised over times.

    Parameters
    ----------
    time: follow-up times (any unit); event: 1/True for an event; group: 0/1 or boolean.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    g = np.asarray(group, dtype=bool)
    times, inv = np.unique(t, return_inverse=True)
    d_all = np.bincount(inv, weights=e, minlength=times.size)
    d_1 = np.bincount(inv, weights=e & g, minlength=times.size)
    n_all_at = np.bincount(inv, minlength=times.size).astype(float)
    n_1_at = np.bincount(inv, weights=g, minlength=times.size)
    r_all = t.size - np.concatenate(([0.0], np.cumsum(n_all_at)[:-1]))
    r_1 = g.sum() - np.concatenate(([0.0], np.cumsum(n_1_at)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        e_1 = np.where(r_all > 0, d_all * r_1 / r_all, 0.0)
        v = np.where(r_all > 1, d_all * (r_1 / r_all) * (1 - r_1 / r_all)
                     * (r_all - d_all) / (r_all - 1), 0.0)
    o1, e1, var = float(d_1.sum()), float(e_1.sum()), float(v.sum())
    o0, e0 = float(d_all.sum() - o1), float(d_all.sum() - e1)
    chi2 = (o1 - e1) ** 2 / var if var > 0 else float("nan")
    p = float(stats.chi2.sf(chi2, 1)) if var > 0 else float("nan")
    hr = float(np.exp((o1 - e1) / var)) if var > 0 else float("nan")
    return LogRankResult((o0, o1), (e0, e1), var, chi2, p, hr)
