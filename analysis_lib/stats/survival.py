"""Kaplan–Meier estimation and log-rank tests with the conventions of R's ``survfit`` and
``survdiff``, on statsmodels' engines (``SurvfuncRight``, ``survdiff``).

statsmodels computes the product-limit estimate, Greenwood's variance and the log-rank
scores; this module adds what R reports beyond them (every distinct time with its counts,
the three confidence-interval types, R's median rule, the K × K covariance) and the paper's
end points.

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
* Mantel N (1966). Cancer Chemother Rep 50:163–170; Peto R, Peto J (1972). J R Stat Soc A
  135:185–207 (log-rank test).
* Therneau T (2024). survival: A Package for Survival Analysis in R (``survfit.formula``,
  ``quantile.survfit``, ``survdiff``): the reference implementation these functions are tested
  against.
* Seabold S, Perktold J (2010). statsmodels: Econometric and statistical modeling with Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration import survfunc

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

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"estimate": self.estimate, "lower": self.lower,
                              "upper": self.upper, "conf_level": self.conf_level,
                              "conf_type": self.conf_type}])


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier estimate at each distinct observed time (R ``survfit``).

    Attributes
    ----------
    time: distinct times (events or censorings; the stop times of counting-process rows),
        ascending, in the input's unit.
    n_risk, n_event, n_censor: counts at each time.
    surv: survival probability just after each time.
    std_err: the result's one standard error, on the scale :attr:`se_scale` names: of
        log S(t), Greenwood's sqrt(sum d / (n (n - d))), R's ``survfit`` ``std.err``; ``nan``
        once the curve reaches 0. The standard error of S itself is ``surv * std_err``.
    conf_level: level of the pointwise confidence intervals.
    counting_process: estimated from ``(start, stop]`` rows (delayed entry).
    """
    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    surv: np.ndarray
    std_err: np.ndarray
    conf_level: float = 0.95
    counting_process: bool = False
    se_scale: ClassVar[str] = "log S(t)"
    method: ClassVar[str] = "Kaplan–Meier with Greenwood variance (statsmodels SurvfuncRight)"

    @property
    def options(self) -> dict[str, object]:
        return {"conf_level": self.conf_level, "counting_process": self.counting_process}

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
        """Tidy table: time, n_risk, n_event, n_censor, surv, std_err (of log S), lower,
        upper."""
        lo, hi = self.confidence_interval(conf_type)
        return pd.DataFrame({"time": self.time, "n_risk": self.n_risk, "n_event": self.n_event,
                             "n_censor": self.n_censor, "surv": self.surv,
                             "std_err": self.std_err, "lower": lo, "upper": hi})

    summary = table

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
        quantile read off the lower and upper pointwise bands. (statsmodels' and lifelines'
        medians take the start of such a plateau.)
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


def check_times(time: np.ndarray | pd.Series, other: np.ndarray,
                name: str) -> tuple[np.ndarray, np.ndarray]:
    """Follow-up times as floats, checked against their companion array ``other`` (event
    indicators or statuses, called ``name`` in messages): same length, not empty, no missing
    time."""
    t = np.asarray(time, dtype=float)
    if t.shape != other.shape:
        raise ValueError(f"time and {name} must have the same length")
    if t.size == 0:
        raise ValueError("no observations")
    if np.isnan(t).any():
        raise ValueError("time has missing values")
    return t, other


def _bool(x: np.ndarray | pd.Series) -> np.ndarray:
    return np.asarray(pd.Series(x).astype(float), dtype=float).astype(bool)


def kaplan_meier(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
                 conf_level: float = 0.95, *, start: np.ndarray | pd.Series | None = None
                 ) -> KaplanMeier:
    """Kaplan–Meier estimate, as R's ``survfit(Surv(time, event) ~ 1)``, or
    ``Surv(start, time, event)`` for counting-process rows when ``start`` is given.

    Parameters
    ----------
    time: follow-up times (any unit; the result keeps it), non-negative; the interval ends
        for counting-process rows.
    event: 1/True for an event, 0/False for censoring.
    conf_level: level of the pointwise intervals.
    start: interval starts of counting-process ``(start, stop]`` rows: a row is at risk at
        ``t`` when ``start < t <= stop``. With each patient's rows split where a
        time-dependent group changes (:func:`split_at`), the estimate per group is the
        Simon–Makuch curve (Simon R, Makuch RW (1984). Stat Med 3:35–44).

    statsmodels' ``SurvfuncRight`` (with ``entry=start``) gives S and its standard error at
    the event times; the curve is reported, as R does, at every distinct time.
    """
    t, e = check_times(time, _bool(event), "event")
    a = None if start is None else np.asarray(start, dtype=float)
    if a is not None and (a.shape != t.shape or np.any(a >= t)):
        raise ValueError("start must be before stop in every row")
    sf = survfunc.SurvfuncRight(t, e.astype(float), entry=a)
    times, inv = np.unique(t, return_inverse=True)
    n_event = np.bincount(inv, weights=e, minlength=times.size)
    n_censor = np.bincount(inv, minlength=times.size) - n_event
    j = np.searchsorted(sf.surv_times, times, side="right")  # 0: before the first event
    surv = np.r_[1.0, sf.surv_prob][j]
    with np.errstate(divide="ignore", invalid="ignore"):
        std_err = np.r_[0.0, sf.surv_prob_se][j] / surv
    std_err[surv == 0] = np.nan  # R: undefined once the curve reaches zero
    return KaplanMeier(times, number_at_risk(t, times, a), n_event.astype(int),
                       n_censor.astype(int), surv, std_err, conf_level, a is not None)


def kaplan_meier_counting(start: np.ndarray | pd.Series, stop: np.ndarray | pd.Series,
                          event: np.ndarray | pd.Series, conf_level: float = 0.95) -> KaplanMeier:
    """:func:`kaplan_meier` of counting-process ``(start, stop]`` rows."""
    return kaplan_meier(stop, event, conf_level, start=start)


def reverse_kaplan_meier(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
                         conf_level: float = 0.95) -> KaplanMeier:
    """Reverse Kaplan–Meier (Schemper & Smith 1996): censoring is the event, events censor.

    Its median is the median potential follow-up, robust to early deaths.
    """
    return kaplan_meier(time, ~_bool(event), conf_level)


@dataclass(frozen=True)
class SurvDiff:
    """K-sample log-rank test, optionally stratified (R ``survdiff(rho = 0)``).

    ``observed``/``expected`` are events per group (summed over strata), ``variance`` the
    K × K hypergeometric covariance of observed minus expected; ``chi2`` is
    ``(O - E)' V⁻ (O - E)`` over the groups with expected > 0 minus one, with ``df`` degrees of
    freedom.
    """
    groups: tuple
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    chi2: float
    df: int
    p_value: float
    stratified: bool = False
    method: ClassVar[str] = "log-rank test (statsmodels survdiff)"

    @property
    def options(self) -> dict[str, object]:
        return {"stratified": self.stratified, "reference": self.groups[0]}

    def summary(self) -> pd.DataFrame:
        """One row per group: ``group``, ``n``, ``observed``, ``expected``, then the test's
        ``chi2``, ``df`` and ``p`` on every row."""
        return pd.DataFrame({"group": list(self.groups), "n": self.n, "observed": self.observed,
                             "expected": self.expected, "chi2": self.chi2, "df": self.df,
                             "p": self.p_value})


def survdiff(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
             group: np.ndarray | pd.Series,
             strata: np.ndarray | pd.Series | None = None) -> SurvDiff:
    """Log-rank test of equal survival across the groups of ``group`` (labels, sorted as R's
    ``factor``), within strata of ``strata`` when given (R ``survdiff(Surv(time, event) ~
    group + strata(strata))``). Rows with a missing group or stratum are dropped. With fewer
    than two groups there is nothing to compare: the statistic and p are NaN with 0 degrees
    of freedom (R stops with an error).

    The scores O - E and their covariance of each stratum come from statsmodels (the routine
    behind ``statsmodels.duration.survfunc.survdiff``, which returns only the statistic);
    they are summed over strata, completed to all K groups, and the statistic uses R's rule
    for groups without expected events.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(pd.Series(event).astype(float), dtype=float)
    g, levels = pd.factorize(pd.Series(group), sort=True)
    s = (np.zeros(t.size, dtype=np.int64) if strata is None
         else pd.factorize(pd.Series(strata), sort=True)[0])
    ok = (g >= 0) & (s >= 0) & ~np.isnan(t) & ~np.isnan(e)
    t, e, g, s = t[ok], e[ok], g[ok], s[ok]
    k = len(levels)
    if k < 2:  # one group (R's survdiff stops: "There is only 1 group"): no test
        obs = np.bincount(g, weights=e, minlength=k)
        return SurvDiff(tuple(levels), np.bincount(g, minlength=k), obs, obs.copy(),
                        np.zeros((k, k)), float("nan"), 0, float("nan"), strata is not None)
    o_e, v = np.zeros(k - 1), np.zeros((k - 1, k - 1))
    for st in np.unique(s):
        sel = s == st
        a, b = survfunc._survdiff(t[sel], e[sel], g[sel], None, np.arange(k))
        o_e, v = o_e + a, v + b
    var = np.zeros((k, k))
    var[1:, 1:] = v
    var[0, 1:] = var[1:, 0] = -v.sum(axis=0)
    var[0, 0] = v.sum()
    obs = np.bincount(g, weights=e, minlength=k)
    exp = obs - np.r_[-o_e.sum(), o_e]
    keep = np.flatnonzero(exp > 0)
    chi2, df = 0.0, 0
    if keep.size >= 2:
        idx = keep[1:]
        d = (obs - exp)[idx]
        chi2, df = float(d @ np.linalg.solve(var[np.ix_(idx, idx)], d)), keep.size - 1
    p = float(stats.chi2.sf(chi2, df)) if df > 0 else float("nan")
    return SurvDiff(tuple(levels), np.bincount(g, minlength=k), obs, exp, var, chi2, df, p,
                    strata is not None)


@dataclass(frozen=True)
class LogRankResult:
    """Two-group log-rank test (:func:`logrank_test`): ``observed``/``expected`` events of
    (reference, other), the hypergeometric ``variance`` of the other group's O - E, and
    Peto's one-step hazard ratio of the other group versus the reference, ``exp((O - E) / V)``
    (Yusuf S, Peto R, et al. (1985). Prog Cardiovasc Dis 27:335–371)."""
    groups: tuple
    observed: tuple[float, float]
    expected: tuple[float, float]
    variance: float
    chi2: float
    p_value: float
    hr_peto: float
    method: ClassVar[str] = SurvDiff.method

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"group": list(self.groups), "observed": self.observed,
                             "expected": self.expected, "chi2": self.chi2, "p": self.p_value,
                             "hr_peto": [np.nan, self.hr_peto]})


def logrank_test(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
                 group: np.ndarray | pd.Series, reference: object | None = None
                 ) -> LogRankResult:
    """Two-group log-rank test (:func:`survdiff`) of the two labels of ``group`` with the
    ``reference`` group first (default: the first sorted label; for 0/1 or boolean groups,
    0/False)."""
    g = pd.Series(np.asarray(group, dtype=object))
    levels = sorted(pd.unique(g.dropna()), key=lambda v: (v != reference, v))
    if len(levels) != 2:
        raise ValueError(f"group must have exactly two levels, got {levels}")
    r = survdiff(time, event, pd.Categorical(g, categories=levels).codes.astype(float))
    v = float(r.variance[1, 1])
    hr = float(np.exp((r.observed[1] - r.expected[1]) / v)) if v > 0 else float("nan")
    return LogRankResult(tuple(levels), tuple(map(float, r.observed)),
                         tuple(map(float, r.expected)), v, r.chi2, r.p_value, hr)


def number_at_risk(time: np.ndarray | pd.Series, times: np.ndarray | list[float],
                   start: np.ndarray | pd.Series | None = None) -> np.ndarray:
    """Patients at risk at each of ``times``: ``time >= t`` (R ``summary(survfit, times)``'s
    ``n.risk``), or ``start < t <= stop`` for counting-process rows."""
    t = np.sort(np.asarray(time, dtype=float))
    q = np.asarray(times, dtype=float)
    n = t.size - np.searchsorted(t, q, side="left")
    if start is not None:
        a = np.sort(np.asarray(start, dtype=float))
        n = n - (a.size - np.searchsorted(a, q, side="left"))
    return n.astype(int)


def survival_table(km: KaplanMeier, times: np.ndarray | list[float],
                   conf_type: ConfType = "log") -> pd.DataFrame:
    """S(t) with its confidence limits at chosen ``times`` (R ``summary(fit, times)``):
    columns ``time``, ``n_risk`` (at risk just before ``t``), ``n_event`` (events up to
    ``t``), ``surv``, ``std_err`` (of log S, as the curve's), ``lower``, ``upper``. Times
    after the last observation give ``nan``."""
    rows = []
    lo, hi = km.confidence_interval(conf_type)
    for t in np.asarray(times, dtype=float):
        i = int(np.searchsorted(km.time, t, side="right") - 1)
        j = int(np.searchsorted(km.time, t, side="left"))
        n_risk = int(km.n_risk[j]) if j < km.time.size else 0
        if t > km.time[-1]:
            rows.append((t, 0, int(km.n_event.sum()), np.nan, np.nan, np.nan, np.nan))
        elif i < 0:
            rows.append((t, n_risk, 0, 1.0, 0.0, 1.0, 1.0))
        else:
            rows.append((t, n_risk, int(km.n_event[:i + 1].sum()), float(km.surv[i]),
                         float(km.std_err[i]), float(lo[i]), float(hi[i])))
    return pd.DataFrame(rows, columns=["time", "n_risk", "n_event", "surv", "std_err",
                                       "lower", "upper"])

#: Competing-risk status codes of :func:`endpoints` (``cr_status``).
CENSORED, RELAPSE, NRM = 0, 1, 2


# ============================================================================================
# Immortal time: time-dependent exposure, landmark analysis
# ============================================================================================

def split_at(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
             change_time: np.ndarray | pd.Series, ids: np.ndarray | pd.Series | None = None
             ) -> pd.DataFrame:
    """Counting-process rows for a binary time-dependent exposure that switches on at
    ``change_time`` (``nan``: never), as R's ``tmerge(..., tdc(change_time))``.

    A patient exposed at ``c`` with ``0 < c < time`` gets two rows, ``(0, c]`` unexposed and
    without event, and ``(c, time]`` exposed with the patient's event; otherwise one row
    ``(0, time]``, exposed only if ``c <= 0``. An exposure at or after the end of follow-up
    (``c >= time``) is ignored: it happened after the event or censoring.

    Returns columns ``id``, ``start``, ``stop``, ``event``, ``exposed``.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(pd.Series(event).astype(float), dtype=float).astype(int)
    c = np.asarray(change_time, dtype=float)
    idv = np.arange(t.size) if ids is None else np.asarray(ids)
    split = ~np.isnan(c) & (c > 0) & (c < t)
    at0 = ~np.isnan(c) & (c <= 0)
    first = pd.DataFrame({"id": idv, "start": 0.0, "stop": np.where(split, c, t),
                          "event": np.where(split, 0, e), "exposed": at0.astype(int)})
    second = pd.DataFrame({"id": idv[split], "start": c[split], "stop": t[split],
                           "event": e[split], "exposed": 1})
    out = pd.concat([first, second], ignore_index=True)
    order = np.lexsort((out["start"].to_numpy(), pd.factorize(out["id"])[0]))
    return out.iloc[order].reset_index(drop=True)


def landmark(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
             exposure_time: np.ndarray | pd.Series, at: float) -> pd.DataFrame:
    """Landmark analysis data (Anderson JR, Cain KC, Gelber RD (1983). Analysis of survival
    by tumor response. J Clin Oncol 1:710–719).

    Keeps the patients still at risk at the landmark ``at`` (``time > at``; for LFS that
    means alive and leukaemia-free), classifies them by exposure by the landmark
    (``exposure_time <= at``) and restarts the clock there. Exposures after the landmark are
    ignored (those patients count as unexposed), which is what makes the comparison free of
    immortal time.

    Returns columns ``row`` (position in the input), ``time`` (since the landmark), ``event``,
    ``exposed``.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(pd.Series(event).astype(float), dtype=float).astype(int)
    c = np.asarray(exposure_time, dtype=float)
    keep = t > at
    exposed = (~np.isnan(c) & (c <= at))[keep]
    return pd.DataFrame({"row": np.flatnonzero(keep), "time": t[keep] - at, "event": e[keep],
                         "exposed": exposed.astype(int)})


@dataclass(frozen=True)
class GroupComparison:
    """Kaplan–Meier curves of several groups with their log-rank test.

    ``curves``, ``n``, ``events`` and ``medians`` are keyed by group label in display order;
    ``logrank`` is :func:`survdiff` over the groups present.
    """
    labels: tuple[str, ...]
    curves: dict[str, KaplanMeier]
    n: dict[str, int]
    events: dict[str, int]
    medians: dict[str, MedianEstimate]
    logrank: SurvDiff | None

    def summary(self) -> pd.DataFrame:
        """One row per group: ``group``, ``n``, ``events``, ``median`` with its limits, and
        the log-rank ``chi2``, ``df`` and ``p`` (the same on every row)."""
        lr = self.logrank
        return pd.DataFrame({"group": list(self.labels), "n": [self.n[g] for g in self.labels],
                             "events": [self.events[g] for g in self.labels],
                             "median": [self.medians[g].estimate for g in self.labels],
                             "lower": [self.medians[g].lower for g in self.labels],
                             "upper": [self.medians[g].upper for g in self.labels],
                             "chi2": lr.chi2 if lr else np.nan, "df": lr.df if lr else 0,
                             "p": lr.p_value if lr else np.nan})

    def at_risk(self, times: np.ndarray | list[float]) -> dict[str, np.ndarray]:
        """Number at risk in each group at ``times``."""
        out = {}
        for lab, km in self.curves.items():
            q = np.asarray(times, dtype=float)
            j = np.searchsorted(km.time, q, side="left")
            out[lab] = np.where(j < km.time.size, km.n_risk[np.minimum(j, km.time.size - 1)], 0)
        return out


def compare_groups(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
                   group: np.ndarray | pd.Series, order: list[str] | None = None,
                   conf_level: float = 0.95, median_conf_type: ConfType = "log"
                   ) -> GroupComparison:
    """Kaplan–Meier estimate per group, medians (with ``median_conf_type`` limits) and the
    log-rank test (``None`` when fewer than two groups have patients)."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(pd.Series(event).astype(float), dtype=float)
    g = pd.Series(group).astype(object).to_numpy()
    labels = [lab for lab in (order or sorted(pd.unique(pd.Series(g).dropna())))
              if np.any(g == lab)]
    curves, n, ev, med = {}, {}, {}, {}
    for lab in labels:
        sel = g == lab
        km = kaplan_meier(t[sel], e[sel], conf_level)
        curves[lab], n[lab], ev[lab] = km, int(sel.sum()), int(e[sel].sum())
        med[lab] = km.median(median_conf_type)
    lr = None
    if len(labels) >= 2:
        sel = np.isin(g, labels)
        lr = survdiff(t[sel], e[sel], g[sel])
    return GroupComparison(tuple(labels), curves, n, ev, med, lr)
