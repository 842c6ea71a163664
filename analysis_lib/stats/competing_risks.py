"""Cumulative incidence with competing risks and Gray's test, as R's ``cmprsk::cuminc``,
on the ``comprisk`` package.

The cumulative incidence function (CIF) of cause k is the Aalen–Johansen estimate
``F_k(t) = sum_{t_j <= t} S(t_j-) d_kj / n_j``, with ``S`` the all-cause Kaplan–Meier
estimate, ``d_kj`` the cause-k events and ``n_j`` the number at risk at ``t_j``, with the
delta-method variance of cmprsk (Gray's Fortran ``cinc``; Marubini E, Valsecchi MG (1995).
Analysing Survival Data from Clinical Trials and Observational Studies, Wiley, section 10.2),
updated at the times of events of the cause. Gray's test compares the CIF of one cause
between groups, weight ``(1 - F(t-))^rho``; stratified, the scores and variances of the
strata are summed (cmprsk ``crstm``). ``comprisk`` computes both; it matches cmprsk to
about 1e-13 (the R parity tests check it). ``scikit-survival``'s variance differs from
cmprsk's (7e-5 to 8.8 relative) and lifelines' ``AalenJohansenFitter`` jitters tied times at
random.

References
----------
* Kalbfleisch JD, Prentice RL (1980). The Statistical Analysis of Failure Time Data. Wiley
  (cumulative incidence).
* Aalen OO, Johansen S (1978). An empirical transition matrix for non-homogeneous Markov
  chains based on censored observations. Scand J Stat 5:141–150.
* Gray RJ (1988). A class of K-sample tests for comparing the cumulative incidence of a
  competing risk. Ann Stat 16:1141–1154.
* Gray RJ (2024). cmprsk: Subdistribution Analysis of Competing Risks, R package 2.2-11
  (``cuminc``, ``timepoints``): the reference these functions are tested against.
* comprisk 0.8 (Python): ``CumulativeIncidence``, ``gray_test``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import comprisk
import numpy as np
import pandas as pd
from scipy import stats

from .survival import check_times

__all__ = ["CumulativeIncidence", "GrayTest", "CumIncResult", "cumulative_incidence",
           "gray_test", "cuminc"]


@dataclass(frozen=True)
class CumulativeIncidence:
    """Cumulative incidence of one cause (in one group), as a right-continuous step function.

    Attributes
    ----------
    time: distinct times with an event of the cause, ascending.
    est: the CIF just after each of those times.
    var: cmprsk's variance estimate at each of those times.
    max_time: the largest follow-up time (the curve is defined up to it).
    n: observations; n_events: events of the cause.
    """
    time: np.ndarray
    est: np.ndarray
    var: np.ndarray
    max_time: float
    n: int
    n_events: int
    cause: object = 1
    group: object = None
    method: ClassVar[str] = "Aalen–Johansen with cmprsk's variance (comprisk CumulativeIncidence)"

    def summary(self, conf_level: float = 0.95,
                conf_type: Literal["log-log", "plain"] = "log-log") -> pd.DataFrame:
        """One row per event time of the cause: ``time``, ``est``, ``se``, ``lower``,
        ``upper``."""
        est, lo, hi = self.confidence_interval(self.time, conf_level, conf_type)
        return pd.DataFrame({"time": self.time, "est": est, "se": np.sqrt(self.var),
                             "lower": lo, "upper": hi})

    def at(self, times: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """CIF and variance at ``times`` (cmprsk ``timepoints``): 0 before the first event,
        ``nan`` after ``max_time``."""
        t = np.atleast_1d(np.asarray(times, dtype=float))
        i = np.searchsorted(self.time, t, side="right") - 1
        est = np.where(i >= 0, self.est[np.maximum(i, 0)] if self.est.size else 0.0, 0.0)
        var = np.where(i >= 0, self.var[np.maximum(i, 0)] if self.var.size else 0.0, 0.0)
        beyond = t > self.max_time
        est = np.where(beyond, np.nan, est)
        var = np.where(beyond, np.nan, var)
        return est, var

    def confidence_interval(self, times: np.ndarray | float, conf_level: float = 0.95,
                            conf_type: Literal["log-log", "plain"] = "log-log"
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Estimate and pointwise limits at ``times``.

        ``"log-log"``: ``F^exp(±z·se/(F·log F))`` (the transformation of
        ``scikit-survival``'s and ``tidycmprsk``'s intervals; stays in [0, 1]);
        ``"plain"``: ``F ± z·se`` clipped to [0, 1].
        """
        est, var = self.at(times)
        se = np.sqrt(var)
        z = stats.norm.ppf(1 - (1 - conf_level) / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            if conf_type == "log-log":
                k = z * se / (est * np.log(est))
                lo, hi = est ** np.exp(-k), est ** np.exp(k)
                lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
                degenerate = (est <= 0) | (est >= 1)
                lo = np.where(degenerate, est, lo)
                hi = np.where(degenerate, est, hi)
            elif conf_type == "plain":
                lo, hi = np.clip(est - z * se, 0, 1), np.clip(est + z * se, 0, 1)
            else:
                raise ValueError("conf_type must be 'log-log' or 'plain'")
        return est, lo, hi

    def corners(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``time``, ``est``, ``var`` vectors exactly as ``cuminc`` returns them (every
        corner of the step function, starting at (0, 0) and ending at ``max_time``)."""
        k = self.time.size
        x = np.empty(2 * k + 2)
        f = np.empty(2 * k + 2)
        v = np.empty(2 * k + 2)
        x[0] = f[0] = v[0] = 0.0
        x[1:2 * k + 1:2] = self.time
        x[2:2 * k + 1:2] = self.time
        prev_f = np.concatenate(([0.0], self.est[:-1]))
        prev_v = np.concatenate(([0.0], self.var[:-1]))
        f[1:2 * k + 1:2] = prev_f
        f[2:2 * k + 1:2] = self.est
        v[1:2 * k + 1:2] = prev_v
        v[2:2 * k + 1:2] = self.var
        x[-1] = self.max_time
        f[-1] = f[-2]
        v[-1] = v[-2]
        return x, f, v


def cumulative_incidence(time: np.ndarray | pd.Series, status: np.ndarray | pd.Series,
                         cause: object = 1, cencode: object = 0) -> CumulativeIncidence:
    """Aalen–Johansen cumulative incidence of ``cause`` with cmprsk's variance.

    Parameters
    ----------
    time: follow-up times; status: the cause of the event at ``time``, or ``cencode`` for
    censoring. Every other status value is a competing event.
    """
    t, s = check_times(time, np.asarray(status, dtype=object), "status")
    codes = np.where(s == cencode, 0, np.where(s == cause, 1, 2))
    fit = comprisk.CumulativeIncidence(cause_codes=[1]).fit(t, codes).curves_[(None, 1)]
    return CumulativeIncidence(np.asarray(fit.times, float), np.asarray(fit.cif, float),
                               np.asarray(fit.var, float), float(t.max()), int(t.size),
                               int((codes == 1).sum()), cause)


@dataclass(frozen=True)
class GrayTest:
    """Gray's K-sample test for one cause: score vector of the first ``groups - 1`` groups,
    its variance, the statistic ``s' V^-1 s``, degrees of freedom and p-value."""
    cause: object
    groups: tuple
    score: np.ndarray
    variance: np.ndarray
    stat: float
    df: int
    p_value: float
    method: ClassVar[str] = "Gray's test (comprisk gray_test; strata summed as cmprsk)"

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"cause": self.cause, "stat": self.stat, "df": self.df,
                              "p": self.p_value}])


def _gray_stratum(y: np.ndarray, m: np.ndarray, g: np.ndarray, ng: int, rho: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Score of all ``ng`` groups and its ``ng`` × ``ng`` covariance in one stratum
    (``m``: 0 censored, 1 the cause, 2 another cause; ``g``: 0..ng-1), from comprisk's
    ``gray_test`` on the groups present. comprisk reports all groups but the last; the scores
    sum to zero, and so does each row of the covariance, which completes them."""
    present = np.unique(g)
    score, var = np.zeros(ng), np.zeros((ng, ng))
    if present.size < 2:
        return score, var
    r = comprisk.gray_test(y, m, g, cause=1, rho=rho)
    k = present.size
    s_full = np.r_[r.score, -np.sum(r.score)]
    v_full = np.zeros((k, k))
    v_full[:-1, :-1] = r.var
    v_full[-1, :-1] = v_full[:-1, -1] = -np.sum(r.var, axis=0)
    v_full[-1, -1] = np.sum(r.var)
    score[present] = s_full
    var[np.ix_(present, present)] = v_full
    return score, var


def gray_test(time: np.ndarray | pd.Series, status: np.ndarray | pd.Series,
              group: np.ndarray | pd.Series, cause: object = 1, *,
              strata: np.ndarray | pd.Series | None = None, rho: float = 0.0,
              cencode: object = 0) -> GrayTest:
    """Gray's test that the cumulative incidence of ``cause`` is equal across groups
    (cmprsk ``cuminc(...)$Tests``).

    Groups are ordered as R's ``factor`` orders them (sorted); the score is reported for all
    but the last. When the variance is singular the statistic is -1 and the p-value 1, as
    cmprsk reports (``1 - pchisq(-1, df)``).
    """
    t = np.asarray(time, dtype=float)
    s = np.asarray(status, dtype=object)
    gcodes, glevels = pd.factorize(pd.Series(group), sort=True)
    ng = len(glevels)
    if ng < 2:
        raise ValueError("Gray's test needs at least two groups")
    st = (np.zeros(t.size, dtype=np.int64) if strata is None
          else pd.factorize(pd.Series(strata), sort=True)[0])
    failed = s != cencode
    m = np.where(failed & (s == cause), 1, np.where(failed, 2, 0)).astype(np.int64)
    score, var = np.zeros(ng), np.zeros((ng, ng))
    for k in np.unique(st):
        sel = st == k
        sc, vv = _gray_stratum(t[sel], m[sel], gcodes[sel], ng, rho)
        score, var = score + sc, var + vv
    score, var = score[:-1], var[:-1, :-1]
    df = ng - 1
    if np.linalg.matrix_rank(var) == df:
        stat = float(score @ np.linalg.solve(var, score))
    else:
        stat = -1.0
    return GrayTest(cause, tuple(glevels), score, var, stat, df, float(stats.chi2.sf(stat, df))
                    if stat >= 0 else 1.0)


@dataclass(frozen=True)
class CumIncResult:
    """``cuminc`` output: a curve per (group, cause) and Gray's test per cause."""
    curves: dict[tuple[object, object], CumulativeIncidence]
    tests: dict[object, GrayTest]

    def tests_frame(self) -> pd.DataFrame:
        """Gray's tests as cmprsk's ``Tests`` matrix: cause, stat, pv, df."""
        return pd.DataFrame({"cause": list(self.tests),
                             "stat": [t.stat for t in self.tests.values()],
                             "pv": [t.p_value for t in self.tests.values()],
                             "df": [t.df for t in self.tests.values()]})

    summary = tests_frame


def cuminc(time: np.ndarray | pd.Series, status: np.ndarray | pd.Series,
           group: np.ndarray | pd.Series | None = None, *,
           strata: np.ndarray | pd.Series | None = None, rho: float = 0.0,
           cencode: object = 0) -> CumIncResult:
    """Cumulative incidence of every cause in every group, and Gray's test of each cause
    across groups when there are two or more (R ``cmprsk::cuminc``)."""
    t = np.asarray(time, dtype=float)
    s = np.asarray(status, dtype=object)
    g = pd.Series(np.zeros(t.size) if group is None else np.asarray(group, dtype=object))
    levels = sorted(pd.unique(g))
    causes = sorted({c for c in s if c != cencode})
    curves: dict[tuple[object, object], CumulativeIncidence] = {}
    for c in causes:
        for lv in levels:
            sel = (g == lv).to_numpy()
            ci = cumulative_incidence(t[sel], s[sel], c, cencode)
            curves[(lv, c)] = CumulativeIncidence(ci.time, ci.est, ci.var, ci.max_time, ci.n,
                                                  ci.n_events, c, lv)
    tests = {}
    if len(levels) > 1:
        for c in causes:
            tests[c] = gray_test(t, s, g, c, strata=strata, rho=rho, cencode=cencode)
    return CumIncResult(curves, tests)
