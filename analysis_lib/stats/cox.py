"""Cox proportional hazards regression as R's ``coxph`` (on statsmodels' ``PHReg``), its
proportional-hazards test as R's ``cox.zph``, and the paper's covariate screen.

statsmodels computes the partial likelihood (Efron's, R's default, or Breslow's handling of
ties; strata; delayed entry for counting-process ``(start, stop]`` data), its score and
information; :func:`coxph` maximises it with R's Newton–Raphson rule. Standard errors are the
square roots of the diagonal of the inverse information at the maximum (R's
``vcov(coxph)``). :func:`cox_zph` (survival 3.x's score test) and the exact check for a
monotone likelihood (:func:`monotone_likelihood`) have no library equivalent.

References
----------
* Cox DR (1972). Regression models and life-tables. J R Stat Soc B 34:187–220.
* Efron B (1977). The efficiency of Cox's likelihood function for censored data. J Am Stat
  Assoc 72:557–565.
* Andersen PK, Gill RD (1982). Cox's regression model for counting processes. Ann Stat
  10:1100–1120 (counting-process input).
* Grambsch PM, Therneau TM (1994). Proportional hazards tests and diagnostics based on
  weighted residuals. Biometrika 81:515–526; and survival 3.x ``cox.zph``, which replaced
  the residual regression by the score test for adding ``x * g(t)`` terms (implemented here,
  see :func:`cox_zph`).
* Peduzzi P, Concato J, Kemper E, Holford TR, Feinstein AR (1996). A simulation study of the
  number of events per variable in logistic regression analysis. J Clin Epidemiol
  49:1373–1379 (events per variable).
* Therneau T (2024). survival: A Package for Survival Analysis in R (``coxph``, ``cox.zph``):
  the reference implementation these functions are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats
from statsmodels.duration.hazard_regression import PHReg

from .logistic import dummy_code, unbounded_directions
from .survival import kaplan_meier

Ties = Literal["efron", "breslow"]


# ============================================================================================
# The fitting engine: statsmodels PHReg, maximised with R's coxph iteration rule
# ============================================================================================

@dataclass(frozen=True)
class CoxFit:
    """A fitted Cox model (R ``coxph``).

    Attributes
    ----------
    names: coefficient names (design columns; a dummy-coded factor ``f`` gives ``f[level]``).
    coef: log hazard ratios. var: their covariance (inverse information at the maximum).
    loglik_null, loglik: log partial likelihood at beta = 0 and at the estimate.
    score_test: R's "Score (logrank) test" statistic (at beta = 0).
    iterations, converged: Newton–Raphson details; ``infinite`` flags coefficients that
        are probably infinite (monotone likelihood), as R's warning does.
    n, n_events: rows used and events. ties: ``"efron"`` or ``"breslow"``.
    terms: term label -> coefficient positions (a factor with k levels is one term with
        k - 1 columns); used for joint Wald tests and by :func:`cox_zph`.
    references: term label -> its reference level, for dummy-coded factors.
    """
    names: tuple[str, ...]
    coef: np.ndarray
    var: np.ndarray
    loglik_null: float
    loglik: float
    score_test: float
    iterations: int
    converged: bool
    infinite: np.ndarray
    n: int
    n_events: int
    ties: str
    terms: dict[str, tuple[int, ...]]
    references: dict[str, str] = field(default_factory=dict)
    method: ClassVar[str] = "Cox partial likelihood (statsmodels PHReg), Newton–Raphson as R coxph"
    # data kept for cox_zph and monotone_likelihood (not shown in repr)
    _X: np.ndarray = field(repr=False, default=None)
    _time: np.ndarray = field(repr=False, default=None)
    _event: np.ndarray = field(repr=False, default=None)
    _strata: np.ndarray = field(repr=False, default=None)
    _start: np.ndarray = field(repr=False, default=None)

    @property
    def options(self) -> dict[str, object]:
        return {"ties": self.ties, "counting_process": self._start is not None,
                "stratified": bool(self._strata is not None and np.unique(self._strata).size > 1),
                "references": self.references}

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.var))

    @property
    def z(self) -> np.ndarray:
        return self.coef / self.se

    @property
    def p_value(self) -> np.ndarray:
        """Two-sided Wald p-values (R's ``Pr(>|z|)``)."""
        return 2 * stats.norm.sf(np.abs(self.z))

    def conf_int(self, conf_level: float = 0.95) -> np.ndarray:
        """Wald limits of the coefficients (log hazard ratios), ``b ± z·se``, as columns."""
        q = stats.norm.ppf(1 - (1 - conf_level) / 2)
        return np.column_stack([self.coef - q * self.se, self.coef + q * self.se])

    @property
    def n_parameters(self) -> int:
        return len(self.coef)

    @property
    def events_per_variable(self) -> float:
        """Events divided by estimated coefficients (Peduzzi et al. 1996 suggest >= 10)."""
        return self.n_events / self.n_parameters if self.n_parameters else float("nan")

    @property
    def lr_test(self) -> tuple[float, int, float]:
        """Likelihood-ratio test of all coefficients: (chi2, df, p)."""
        chi2 = 2 * (self.loglik - self.loglik_null)
        df = self.n_parameters
        return chi2, df, float(stats.chi2.sf(chi2, df))

    def wald_test(self, positions: Sequence[int] | None = None) -> tuple[float, int, float]:
        """Joint Wald test that the coefficients at ``positions`` (all by default) are 0;
        NaN statistic and p when their covariance is singular (no information, e.g. a
        covariate that is constant in the data)."""
        idx = np.arange(self.n_parameters) if positions is None else np.asarray(positions)
        b = self.coef[idx]
        v = self.var[np.ix_(idx, idx)]
        try:
            chi2 = float(b @ np.linalg.solve(v, b))
        except np.linalg.LinAlgError:
            # no information on these coefficients (e.g. a covariate constant in the data):
            # no test, rather than an error that would stop a whole screen
            return float("nan"), idx.size, float("nan")
        return chi2, idx.size, float(stats.chi2.sf(chi2, idx.size))

    def term_p_values(self) -> dict[str, float]:
        """Wald p-value per term (joint over a factor's columns)."""
        return {t: self.wald_test(pos)[2] for t, pos in self.terms.items()}

    def hazard_ratios(self, conf_level: float = 0.95) -> pd.DataFrame:
        """Tidy summary: ``term``, ``coef``, ``se``, hazard ratio ``hr`` with Wald limits
        exp(b ± z·se), ``z``, Wald ``p`` and ``infinite``."""
        lo, hi = self.conf_int(conf_level).T
        with np.errstate(over="ignore"):
            return pd.DataFrame({"term": list(self.names), "coef": self.coef, "se": self.se,
                                 "hr": np.exp(self.coef), "lower": np.exp(lo),
                                 "upper": np.exp(hi), "z": self.z, "p": self.p_value,
                                 "infinite": self.infinite})

    summary = hazard_ratios


#: Rows from which :func:`coxph` computes the partial likelihood, its score and information
#: with :class:`RiskSetSums` (vectorised cumulative sums over the sorted times: linear in the
#: number of rows) instead of statsmodels ``PHReg`` (a Python loop over the distinct event
#: times, about 30x slower at 5,000 patients). Both give the same numbers to ~1e-12 relative
#: (tests/test_scale.py); below the threshold the book keeps ``PHReg``, the engine the R
#: parity tests were measured with. Counting-process data too, with PHReg's entry shifted.
VECTORISED_COX_MIN_ROWS = 2000


class RiskSetSums:
    """Cox partial log-likelihood, score and information for right-censored or
    counting-process ``(start, stop]`` data, optionally stratified, by cumulative sums over
    rows sorted by decreasing time.

    For each distinct (stratum, event time) ``tau`` with ``d`` events, the risk-set sums
    ``S0 = sum r_k``, ``S1 = sum r_k x_k``, ``S2 = sum r_k x_k x_k'`` over ``t_k >= tau`` and the
    same sums ``D0, D1, D2`` over the events at ``tau`` give, for Efron's approximation
    (Efron 1977, JASA 72:557–565; R's default), the terms ``k = 0..d-1`` with
    ``S - (k/d) D``; Breslow's uses ``S`` ``d`` times. With ``start``, a row is at risk at
    ``tau`` when ``start < tau <= stop`` (R's ``Surv(start, stop, event)``): the sums over
    ``stop >= tau`` minus those over ``start >= tau`` (a subset, as start < stop), the latter
    by cumulative sums over the rows sorted by start. Linear in the number of rows (after
    sorting).
    """

    def __init__(self, X: np.ndarray, time: np.ndarray, event: np.ndarray,
                 strata: np.ndarray, ties: str, start: np.ndarray | None = None):
        order = np.lexsort((-time, strata))
        self.order = order
        self.X = X[order]
        t, e, st = time[order], event[order].astype(bool), strata[order]
        n = t.size
        # last row (in this order) with the same stratum and a time >= each row's time
        key_new = np.r_[True, (st[1:] != st[:-1]) | (t[1:] != t[:-1])]
        grp = np.cumsum(key_new) - 1                     # (stratum, time) group of each row
        last = np.r_[np.flatnonzero(key_new)[1:] - 1, n - 1]  # last row of each group
        self.first_of_stratum = np.r_[True, st[1:] != st[:-1]]
        self.stratum_start = np.maximum.accumulate(np.where(self.first_of_stratum,
                                                            np.arange(n), 0))
        ev_groups = np.unique(grp[e])
        self.end = last[ev_groups]                       # risk set: stratum start .. end
        self.begin = self.stratum_start[self.end]
        d = np.bincount(grp[e], minlength=grp.max() + 1)[ev_groups]
        self.d = d
        self.ev_group_of_row = grp
        self.ev_groups = ev_groups
        self.e = e
        # one slot per event: its group and k/d (Efron) or 0 (Breslow)
        self.slot = np.repeat(np.arange(ev_groups.size), d)
        k = np.arange(d.sum()) - np.repeat(np.cumsum(d) - d, d)
        self.frac = k / np.repeat(d, d) if ties == "efron" else np.zeros(d.sum())
        self.xsum_events = self.X[e].sum(axis=0)
        # map each event row to its event-group index
        pos = np.full(grp.max() + 1, -1)
        pos[ev_groups] = np.arange(ev_groups.size)
        self.ev_index = pos[grp[e]]
        self.late = None  # counting process: rows (in start order) that enter after tau
        if start is not None:
            a, tau, s_tau = start[order], t[self.end], st[self.end]
            # one exact integer key per (stratum, value): ranks of the starts and event times
            vals, inv = np.unique(np.r_[a, tau], return_inverse=True)
            width = np.int64(vals.size + 1)
            keys = st.astype(np.int64) * width + inv[:n]
            self.by_start = np.argsort(keys, kind="stable")
            sorted_keys = keys[self.by_start]
            lo = np.searchsorted(sorted_keys, s_tau.astype(np.int64) * width + inv[n:], "left")
            hi = np.searchsorted(sorted_keys, s_tau.astype(np.int64) * width + vals.size,
                                 "right")
            self.late = (lo, hi)

    @staticmethod
    def _range_sums(v: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Sums of the rows ``begin .. end - 1`` of ``v`` (rows first), by cumulative sums."""
        c0 = np.concatenate([np.zeros((1,) + v.shape[1:]), np.cumsum(v, axis=0)])
        return c0[end] - c0[begin]

    def _risk(self, v: np.ndarray) -> np.ndarray:
        """Sums of ``v`` (rows first) over each event time's risk set."""
        out = self._range_sums(v, self.begin, self.end + 1)
        if self.late is not None:  # minus the rows that start at or after the event time
            out = out - self._range_sums(v[self.by_start], *self.late)
        return out

    def _dead(self, v: np.ndarray) -> np.ndarray:
        out = np.zeros((self.ev_groups.size,) + v.shape[1:])
        np.add.at(out, self.ev_index, v[self.e])
        return out

    def moments(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per event slot (one per event): the weighted risk-set sum ``s0``, mean ``m`` of x
        and second moment ``s2 / s0`` at ``beta``."""
        X = self.X
        r = np.exp(X @ beta)
        rx = r[:, None] * X
        rxx = rx[:, :, None] * X[:, None, :]
        S0, S1, S2 = self._risk(r), self._risk(rx), self._risk(rxx)
        D0, D1, D2 = self._dead(r), self._dead(rx), self._dead(rxx)
        f, g = self.frac, self.slot
        s0 = S0[g] - f * D0[g]
        s1 = S1[g] - f[:, None] * D1[g]
        s2 = S2[g] - f[:, None, None] * D2[g]
        return s0, s1 / s0[:, None], s2 / s0[:, None, None]

    def derivs(self, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log partial likelihood, score and information (minus the Hessian) at ``beta``."""
        s0, m, m2 = self.moments(beta)
        ll = float((self.X[self.e] @ beta).sum() - np.log(s0).sum())
        U = self.xsum_events - m.sum(axis=0)
        info = m2.sum(axis=0) - m.T @ m
        return ll, U, info

    def event_means(self) -> np.ndarray:
        """Per event slot: the mean covariate row of the events at its time."""
        xd = self._dead(self.X) / self.d[:, None]
        return xd[self.slot]


def coxph(X: pd.DataFrame | np.ndarray, time: np.ndarray | pd.Series,
          event: np.ndarray | pd.Series, *, start: np.ndarray | pd.Series | None = None,
          strata: np.ndarray | pd.Series | None = None, ties: Ties = "efron",
          terms: Mapping[str, Sequence[str]] | None = None, max_iter: int = 50,
          eps: float = 1e-12) -> CoxFit:
    """Fit a Cox model (R ``coxph(Surv(time, event) ~ X)``, or ``Surv(start, time, event)``
    when ``start`` is given).

    Parameters
    ----------
    X: covariates: an array (one column per coefficient) or a DataFrame whose categorical
        (text or ``category``) columns are dummy-coded against their first level
        (:func:`analysis_lib.stats.logistic.dummy_code`; the reference is in ``references``).
        Rows with a missing value anywhere (X, time, event, start, strata) are dropped, as
        R's ``na.omit``.
    time: follow-up time (the interval's end, ``stop``, for counting-process data).
    event: 1/True for an event at ``time``.
    start: interval start for counting-process ``(start, stop]`` data; each row is at risk
        for event times ``start < t <= stop``.
    strata: stratum labels (separate baseline hazards, as ``+ strata(s)`` in R).
    ties: ``"efron"`` (R's default) or ``"breslow"``.
    terms: term label -> column names, to group columns into one term (default: one term per
        column, a dummy-coded factor's columns together).
    max_iter, eps: iteration limit and relative log-likelihood convergence tolerance.

    The partial likelihood, its score and information are statsmodels' ``PHReg``
    (``entry`` is the start moved up by one ulp: PHReg counts a row starting at t in the
    risk set at t, R does not). They are maximised from beta = 0 by Newton–Raphson with
    step halving and R's convergence rule (relative change of the log-likelihood below
    ``eps``; R uses 1e-9, the tighter default keeps estimates on R's maximum to well within
    1e-6). As in R, a coefficient is flagged as possibly infinite when one more Newton step
    would still move it by more than sqrt(1e-9), absolutely and relative to its size.
    """
    t = np.asarray(time, dtype=float)
    D, term_cols, refs = dummy_code(X, t.size)
    A, names = D.to_numpy(dtype=float), tuple(D.columns)
    e = np.asarray(pd.Series(event).astype(float), dtype=float)
    s0 = None if start is None else np.asarray(start, dtype=float)
    st = (np.zeros(t.size, dtype=np.int64) if strata is None
          else pd.factorize(pd.Series(strata), sort=True)[0])
    ok = ~np.isnan(t) & ~np.isnan(e) & ~np.isnan(A).any(axis=1) & (st >= 0)
    if s0 is not None:
        ok &= ~np.isnan(s0)
    t, e, A, st = t[ok], e[ok].astype(bool), A[ok], st[ok]
    if s0 is not None:
        s0 = s0[ok]
        if np.any(s0 >= t):
            raise ValueError("start must be before stop in every row")
    if t.size == 0:
        raise ValueError("no complete observations")
    if ties not in ("efron", "breslow"):
        raise ValueError("ties must be 'efron' or 'breslow'")
    p = A.shape[1]
    # centred covariates (R does), which keeps exp(x'b) well scaled; none: one zero column
    Xc = A - A.mean(axis=0) if p else np.zeros((t.size, 1))
    if t.size >= VECTORISED_COX_MIN_ROWS:
        derivs = RiskSetSums(Xc, t, e, st, ties, start=s0).derivs
    else:
        model = PHReg(t, Xc, e.astype(float), strata=st, ties=ties,
                      entry=None if s0 is None else np.nextafter(s0, np.inf))

        def derivs(b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            return float(model.loglike(b)), model.score(b), -model.hessian(b)

    beta = np.zeros(max(p, 1))
    ll, U, I = derivs(beta)
    ll0 = ll
    score = float(U @ np.linalg.lstsq(I, U, rcond=None)[0]) if p else 0.0
    converged, it = p == 0, 0
    for it in range(1, max_iter + 1):
        if p == 0:
            break
        try:
            step = np.linalg.solve(I, U)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(I, U, rcond=None)[0]
        new = beta + step
        ll_new, U_new, I_new = derivs(new)
        # As R's coxfit: convergence is checked on the full Newton step before any halving
        done = np.isfinite(ll_new) and (abs(1 - ll / ll_new) <= eps if ll_new != 0
                                        else abs(ll_new - ll) <= eps)
        halvings = 0
        while not done and (not np.isfinite(ll_new) or ll_new < ll) and halvings < 30:
            new = (beta + new) / 2
            ll_new, U_new, I_new = derivs(new)
            halvings += 1
        beta, ll, U, I = new, ll_new, U_new, I_new
        if done or np.max(np.abs(step)) < 1e-14:
            converged = True
            break
    beta, U, I = beta[:p], U[:p], I[:p, :p]
    try:
        var = np.linalg.inv(I) if p else np.zeros((0, 0))
    except np.linalg.LinAlgError:
        var = np.linalg.pinv(I)
    more = np.abs(var @ U)
    infinite = (more > np.sqrt(1e-9)) & (more > np.sqrt(1e-9) * np.abs(beta))
    pos = {nm: i for i, nm in enumerate(names)}
    groups = term_cols if terms is None else terms
    term_map = {lab: tuple(pos[c] for c in cols) for lab, cols in groups.items()}
    return CoxFit(names, beta, var, ll0, ll, score, it, converged, infinite, int(t.size),
                  int(e.sum()), ties, term_map, refs, _X=A, _time=t, _event=e, _strata=st,
                  _start=s0)


# ============================================================================================
# Proportional hazards: R's cox.zph (survival >= 3.0)
# ============================================================================================

def cox_zph(fit: CoxFit, transform: str = "km", terms: bool = True,
            global_test: bool = True) -> pd.DataFrame:
    """Test of proportional hazards as R's ``cox.zph`` (survival 3.x), for right-censored,
    stratified and counting-process fits.

    For each term, the score test (at the fitted coefficients) of adding the interactions
    ``x * g(t)`` to the model, where ``g`` is the transformed event time, centred on its mean
    over the events; ``GLOBAL`` tests all interactions together. This is the test R has
    reported since survival 3.0; the older Grambsch–Therneau regression of scaled Schoenfeld
    residuals on ``g(t)`` (survival 2.x, and lifelines' ``proportional_hazard_test``) gives
    different numbers, and no Python library has this one.

    ``transform``: ``"km"`` (R's default: 1 minus the left-continuous Kaplan–Meier estimate of
    the pooled data, counting-process rows included, at each stop time), ``"identity"``,
    ``"rank"`` or ``"log"``.

    Returns a frame with columns ``term``, ``chisq``, ``df``, ``p`` (last row ``GLOBAL``).
    """
    t, e, A, st, a = fit._time, fit._event, fit._X, fit._strata, fit._start
    if transform == "km":
        km = kaplan_meier(t, e, start=a)
        g = 1.0 - np.r_[1.0, km.surv][np.searchsorted(km.time, t, side="left")]
    elif transform in ("identity", "rank", "log"):
        g = {"identity": t, "rank": stats.rankdata(t), "log": np.log(t)}[transform]
    else:
        raise ValueError("transform must be 'km', 'identity', 'rank' or 'log'")
    g = g - g[e].mean()
    X = A - A.mean(axis=0)
    p = X.shape[1]
    # Efron-weighted moments of each event time's risk set, by cumulative sums (linear in
    # the rows; tests/cox_reference.py has the same sums as a loop over the event times)
    rs = RiskSetSums(X, t, e, st, fit.ties, start=a)
    _, m, m2 = rs.moments(fit.coef)
    V = m2 - m[:, :, None] * m[:, None, :]
    gs = g[rs.order][rs.e][np.argsort(rs.ev_index, kind="stable")]  # g per event slot
    Ug = (gs[:, None] * (rs.event_means() - m)).sum(axis=0)
    I11 = V.sum(axis=0)
    I12 = (gs[:, None, None] * V).sum(axis=0)
    I22 = (gs[:, None, None] ** 2 * V).sum(axis=0)
    imat = np.block([[I11, I12], [I12.T, I22]])
    u = np.concatenate([np.zeros(p), Ug])
    groups = fit.terms if terms else {nm: (i,) for i, nm in enumerate(fit.names)}
    rows = []
    for label, cols in groups.items():
        kk = np.concatenate([np.arange(p), np.asarray(cols) + p])
        chi = float(u[kk] @ np.linalg.solve(imat[np.ix_(kk, kk)], u[kk]))
        rows.append((label, chi, len(cols), float(stats.chi2.sf(chi, len(cols)))))
    if global_test:
        chi = float(u @ np.linalg.solve(imat, u))
        rows.append(("GLOBAL", chi, p, float(stats.chi2.sf(chi, p))))
    return pd.DataFrame(rows, columns=["term", "chisq", "df", "p"])


# ============================================================================================
# Designs, the univariate screen and multivariable models
# ============================================================================================

@dataclass(frozen=True)
class Design:
    """Model covariates: one column per coefficient, grouped into terms.

    ``frame`` holds the numeric design columns (NaN for missing); ``terms`` maps each term's
    label to its columns; ``reference`` describes each term's comparison (level vs reference,
    or the unit of a continuous covariate).
    """
    frame: pd.DataFrame
    terms: dict[str, tuple[str, ...]]
    reference: dict[str, str]

    def subset(self, labels: Sequence[str]) -> "Design":
        cols = [c for lab in labels for c in self.terms[lab]]
        return Design(self.frame[cols], {lab: self.terms[lab] for lab in labels},
                      {lab: self.reference[lab] for lab in labels})


def design_frame(columns: Mapping[str, pd.Series | pd.DataFrame],
                 reference: Mapping[str, str]) -> Design:
    """Build a :class:`Design` from term label -> a Series (one coefficient) or a DataFrame
    of indicator columns (a factor)."""
    parts, terms = [], {}
    for label, obj in columns.items():
        if isinstance(obj, pd.DataFrame):
            parts.append(obj.astype(float))
            terms[label] = tuple(str(c) for c in obj.columns)
        else:
            parts.append(obj.astype(float).rename(label).to_frame())
            terms[label] = (label,)
    return Design(pd.concat(parts, axis=1), terms, dict(reference))


def monotone_likelihood(fit: CoxFit, *, tol: float = 1e-6) -> dict[str, str]:
    """Coefficients whose estimate is infinite because the partial likelihood is monotone.

    The Cox partial likelihood has no finite maximum if and only if some direction ``d != 0``
    ranks every event first within its risk set: ``(x_i - x_k)'d >= 0`` for every event ``i``
    and every ``k`` at risk at its time, in its stratum (Bryson & Johnson 1981,
    Technometrics 23:381–383; the Cox analogue of separation in logistic regression,
    :func:`analysis_lib.stats.logistic.detect_separation`). Such directions form a cone; a
    coefficient is infinite when the cone holds a direction with a non-zero component for it.
    For each coefficient ``j``, two linear programmes (HiGHS) maximise ``d_j`` and ``-d_j``
    over the cone within ``|d| <= 1``, on columns scaled to a largest absolute value of 1.
    Unlike R's warning ("coefficient may be infinite"), which :attr:`CoxFit.infinite`
    reproduces and which depends on how far Newton–Raphson ran, this is exact.

    Returns
    -------
    dict
        Coefficient name -> ``"+inf"``, ``"-inf"`` or ``"±inf"``, for the infinite ones only.
    """
    X, t, e, st = fit._X, fit._time, fit._event, fit._strata
    if X is None or X.shape[1] == 0 or not e.any():
        return {}
    start = fit._start
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    Xs = X / scale
    if start is None:
        up, down = _monotone_directions_nested(Xs, t, e, st, tol)
    else:  # (start, stop] risk sets are not nested: every event against its risk set
        diffs = []
        for i in np.flatnonzero(e):
            at_risk = (st == st[i]) & (t >= t[i]) & (start < t[i])
            diffs.append(Xs[i] - Xs[at_risk])
        D = np.unique(np.round(np.vstack(diffs), 12), axis=0)
        D = D[np.any(D != 0, axis=1)]
        if D.size == 0:  # every event ties with its whole risk set: nothing identifies beta
            return {nm: "±inf" for nm in fit.names}
        up, down = unbounded_directions(D, tol)
    kinds = {(True, False): "+inf", (False, True): "-inf", (True, True): "±inf"}
    return {nm: kinds[(u, d)] for nm, u, d in zip(fit.names, up, down) if u or d}


def _monotone_directions_nested(Xs: np.ndarray, t: np.ndarray, e: np.ndarray,
                                st: np.ndarray, tol: float) -> tuple[list[bool], list[bool]]:
    """:func:`unbounded_directions` of the cone ``{d: x_i'd >= x_k'd for every event i and
    every k with t_k >= t_i in its stratum}`` without forming the (events x patients) pairs.

    Right-censored risk sets are nested, so the constraints are written as a chain (linear in
    the number of patients): per stratum and distinct event time ``tau_k`` a variable ``z_k``
    with ``z_k >= x'd`` for the distinct covariate rows whose time lies in
    ``[tau_k, tau_{k+1})``, ``z_k >= z_{k+1}``, and ``x_i'd >= z_k`` for the distinct rows of
    the events at ``tau_k``. ``z_k`` is then an upper bound of ``max x_k'd`` over the risk set
    at ``tau_k`` and can equal it, so the projection of the feasible set on ``d`` is exactly
    the cone. Both linear programmes per coefficient run on this sparse system (HiGHS).
    """
    n, p = Xs.shape
    Xr = np.round(Xs, 12)
    d_parts, plus_parts, minus_parts = [], [], []  # rows: d'coef + z[plus] - z[minus] <= 0
    n_z = 0
    for s_ in np.unique(st):
        m = st == s_
        ts, es, xs = t[m], e[m], Xr[m]
        taus = np.unique(ts[es])
        if not taus.size:
            continue
        k = np.searchsorted(taus, ts, side="right") - 1  # block of each row (-1: never at risk)
        keep = k >= 0
        # z_k >= x'd  ->  x'd - z_k <= 0 (distinct rows per block)
        blk = np.unique(np.column_stack([k[keep], xs[keep]]), axis=0)
        d_parts.append(blk[:, 1:])
        plus_parts.append(np.full(len(blk), -1))
        minus_parts.append(n_z + blk[:, 0].astype(np.int64))
        # x_i'd >= z_k  ->  z_k - x_i'd <= 0 (distinct event rows per event time)
        ev = np.unique(np.column_stack([k[es], xs[es]]), axis=0)
        d_parts.append(-ev[:, 1:])
        plus_parts.append(n_z + ev[:, 0].astype(np.int64))
        minus_parts.append(np.full(len(ev), -1))
        # z_{k+1} - z_k <= 0
        chain = np.arange(taus.size - 1)
        d_parts.append(np.zeros((chain.size, p)))
        plus_parts.append(n_z + chain + 1)
        minus_parts.append(n_z + chain)
        n_z += taus.size
    if not n_z:
        return [True] * p, [True] * p
    dpart = np.vstack(d_parts)
    plus, minus = np.concatenate(plus_parts), np.concatenate(minus_parts)
    nr = len(dpart)
    ii = np.r_[np.flatnonzero(plus >= 0), np.flatnonzero(minus >= 0)]
    jj = np.r_[plus[plus >= 0], minus[minus >= 0]]
    vv = np.r_[np.ones((plus >= 0).sum()), -np.ones((minus >= 0).sum())]
    zpart = sparse.csr_array((vv, (ii, jj)), shape=(nr, n_z))
    a_ub = sparse.hstack([sparse.csr_array(dpart), zpart], format="csc")
    b_ub = np.zeros(nr)
    bounds = [(-1.0, 1.0)] * p + [(None, None)] * n_z
    out: tuple[list[bool], list[bool]] = ([], [])
    for j in range(p):
        for sign, store in ((1.0, out[0]), (-1.0, out[1])):
            c = np.zeros(p + n_z)
            c[j] = -sign
            r = optimize.linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
            if r.status != 0:
                raise RuntimeError(f"direction LP failed: {r.message}")
            store.append(bool(-r.fun > tol))
    return out


def not_estimable(fit: CoxFit) -> dict[str, str]:
    """Why each infinite coefficient of ``fit`` is not estimable, in words: R's flag
    (:attr:`CoxFit.infinite`) or an exact monotone likelihood (:func:`monotone_likelihood`).
    For a 0/1 covariate the reason names the group without events, with its size as the book
    shows counts (:func:`analysis_lib.core.suppression.count_text`: ``<5`` when small-cell
    suppression is on and the group is small)."""
    from ..core.suppression import count_text

    mono = monotone_likelihood(fit)
    out: dict[str, str] = {}
    for j, name in enumerate(fit.names):
        if name not in mono and not bool(fit.infinite[j]):
            continue
        x = fit._X[:, j]
        ev = fit._event
        if set(np.unique(x)) <= {0.0, 1.0}:
            n1, n0 = int((x == 1).sum()), int((x == 0).sum())
            e1, e0 = int(ev[x == 1].sum()), int(ev[x == 0].sum())
            if e0 == 0 or e1 == 0:
                grp = (f"{count_text(n0)} patients with '{name}' = 0 (the reference group)"
                       if e0 == 0 else f"{count_text(n1)} patients with '{name}' = 1")
                out[name] = f"no events among the {grp}: the hazard ratio is infinite"
                continue
        kind = mono.get(name, "±inf")
        out[name] = (f"monotone partial likelihood: the estimate of '{name}' runs off to "
                     f"{kind.replace('inf', 'infinity')} (one covariate pattern ranks every "
                     "event first in its risk set)")
    return out


def hazard_ratio_table(fit: CoxFit, design: Design, conf_level: float = 0.95) -> pd.DataFrame:
    """A fit's hazard ratios with each coefficient's term and comparison."""
    hr = fit.hazard_ratios(conf_level)
    col_term = {c: lab for lab, cols in design.terms.items() for c in cols}
    hr.insert(0, "term_label", [col_term.get(c, c) for c in hr["term"]])
    hr.insert(1, "comparison", [design.reference.get(col_term.get(c, c), "") for c in hr["term"]])
    return hr
