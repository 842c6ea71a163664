"""Logistic regression by maximum likelihood (Newton–Raphson / IRLS), as R's
``glm(family = binomial)``.

Coefficients and Wald standard errors from the observed information; tested against R.
(McCullagh P, Nelder JA (1989). Generalized Linear Models, 2nd ed., ch. 4.)

For small samples: profile-likelihood intervals and likelihood-ratio tests
(:func:`profile_confint`), detection of separation by linear programming
(:func:`detect_separation`), Firth's penalised likelihood with profile penalised-likelihood
intervals (:func:`firth_logistic_regression`, :func:`firth_profile_confint`), and all of them
with the events per variable in one call (:func:`analyse_logistic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special, stats


def dummy_code(X: pd.DataFrame | pd.Series | np.ndarray | None, n: int | None = None
               ) -> tuple[pd.DataFrame, dict[str, tuple[str, ...]], dict[str, str]]:
    """Numeric design columns from plain arrays or a DataFrame with named columns.

    Numeric and boolean columns are kept (0/1); a categorical column (text, object or
    ``category`` dtype) ``f`` with levels ``l0 < l1 < ...`` (its categories' order, else
    sorted) becomes indicator columns ``f[l1]``, ``f[l2]``, ... against the reference ``l0``;
    a missing value stays missing in all of them. An array's columns are named ``x1``,
    ``x2``, ... Returns the columns, term label -> its columns (a factor is one term) and
    term label -> reference level (factors only). ``X`` None: ``n`` rows, no column.
    """
    if X is None:
        return pd.DataFrame(index=range(n or 0)), {}, {}
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if not isinstance(X, pd.DataFrame):
        A = np.asarray(X, dtype=float)
        A = A[:, None] if A.ndim == 1 else A
        X = pd.DataFrame(A, columns=[f"x{i + 1}" for i in range(A.shape[1])])
    parts, terms, refs = [], {}, {}
    for col in X.columns:
        v = X[col]
        if isinstance(v.dtype, pd.CategoricalDtype) or v.dtype == object or \
                pd.api.types.is_string_dtype(v.dtype):
            cat = v.astype("category")
            levels = list(cat.cat.categories)
            if not isinstance(v.dtype, pd.CategoricalDtype):
                levels = sorted(levels)
            ind = pd.DataFrame({f"{col}[{lv}]": (v == lv).astype(float).where(v.notna())
                                for lv in levels[1:]}, index=X.index)
            parts.append(ind)
            terms[str(col)] = tuple(ind.columns)
            refs[str(col)] = str(levels[0]) if levels else ""
        else:
            parts.append(v.astype(float).rename(str(col)).to_frame())
            terms[str(col)] = (str(col),)
    frame = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=X.index)
    return frame, terms, refs


@dataclass(frozen=True)
class LogisticFit:
    """Maximum-likelihood logistic regression: coefficients (log odds ratios), Wald SEs,
    Wald z and p, and convergence details. ``names`` includes ``(Intercept)`` first."""

    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    loglik: float
    iterations: int
    converged: bool

    @property
    def z(self) -> np.ndarray:
        return self.coef / self.se

    @property
    def p_value(self) -> np.ndarray:
        return 2 * stats.norm.sf(np.abs(self.z))

    def odds_ratios(self, conf_level: float = 0.95) -> pd.DataFrame:
        """Odds ratios with Wald confidence intervals (exp of coef ± z·SE)."""
        q = stats.norm.ppf(1 - (1 - conf_level) / 2)
        return pd.DataFrame({"term": self.names, "or": np.exp(self.coef),
                             "lower": np.exp(self.coef - q * self.se),
                             "upper": np.exp(self.coef + q * self.se),
                             "p": self.p_value}).iloc[1:].reset_index(drop=True)


def logistic_regression(X: pd.DataFrame, y: np.ndarray | pd.Series, *, max_iter: int = 50,
                        tol: float = 1e-10) -> LogisticFit:
    """Fit ``logit P(y = 1) = b0 + X b`` by Newton–Raphson (R ``glm``'s IRLS fixed point).

    Parameters
    ----------
    X: covariates (numeric or boolean columns); an intercept is added.
    y: 0/1 outcome.
    Convergence: relative change in deviance below ``tol`` (R: ``epsilon = 1e-8``).
    Under complete separation the estimates diverge and ``converged`` is False.
    """
    names = ("(Intercept)", *[str(c) for c in X.columns])
    A = np.column_stack([np.ones(len(X)), X.to_numpy(dtype=float)])
    yv = np.asarray(y, dtype=float)
    beta = np.zeros(A.shape[1])
    dev_old = np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        eta = A @ beta
        mu = 1 / (1 + np.exp(-eta))
        w = np.clip(mu * (1 - mu), 1e-12, None)
        grad = A.T @ (yv - mu)
        info = A.T @ (A * w[:, None])
        beta = beta + np.linalg.solve(info, grad)
        mu = 1 / (1 + np.exp(-(A @ beta)))
        mu_c = np.clip(mu, 1e-15, 1 - 1e-15)
        dev = -2 * float(np.sum(yv * np.log(mu_c) + (1 - yv) * np.log(1 - mu_c)))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            converged = True
            break
        dev_old = dev
    mu = 1 / (1 + np.exp(-(A @ beta)))
    w = mu * (1 - mu)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    mu_c = np.clip(mu, 1e-15, 1 - 1e-15)
    ll = float(np.sum(yv * np.log(mu_c) + (1 - yv) * np.log(1 - mu_c)))
    return LogisticFit(names, beta, np.sqrt(np.diag(cov)), ll, it, converged)


# ============================================================================================
# Beyond Wald: profile-likelihood intervals, separation, Firth's penalised likelihood
# ============================================================================================
#
# References
# ----------
# Venzon DJ, Moolgavkar SH (1988). A method for computing profile-likelihood-based confidence
#   intervals. J R Stat Soc C 37:87–94. (R: ``confint(glm)``, via MASS ``profile.glm``.)
# Albert A, Anderson JA (1984). On the existence of maximum likelihood estimates in logistic
#   regression models. Biometrika 71:1–10.
# Konis K (2007). Linear programming algorithms for detecting separated data in binary
#   logistic regression models. DPhil thesis, University of Oxford.
# Firth D (1993). Bias reduction of maximum likelihood estimates. Biometrika 80:27–38.
# Heinze G, Schemper M (2002). A solution to the problem of separation in logistic
#   regression. Stat Med 21:2409–2419. (R: ``logistf``; ``brglm2`` ``type = "AS_mean"``.)
# Peduzzi P et al. (1996). A simulation study of the number of events per variable in
#   logistic regression analysis. J Clin Epidemiol 49:1373–1379.


def design_matrix(X: pd.DataFrame) -> tuple[tuple[str, ...], np.ndarray]:
    """Term names (``(Intercept)`` first) and the design matrix with a leading column of ones."""
    names = ("(Intercept)", *[str(c) for c in X.columns])
    A = np.column_stack([np.ones(len(X)), X.to_numpy(dtype=float)]) if X.shape[1] else \
        np.ones((len(X), 1))
    return names, A


def _check_inputs(X: pd.DataFrame, y: np.ndarray | pd.Series) -> tuple[tuple[str, ...],
                                                                     np.ndarray, np.ndarray]:
    names, A = design_matrix(X)
    yv = np.asarray(y, dtype=float)
    if yv.shape != (A.shape[0],):
        raise ValueError("y must have one value per row of X")
    if not np.all(np.isfinite(A)) or not np.all(np.isfinite(yv)):
        raise ValueError("X and y must be complete (no missing values)")
    if not np.all((yv == 0) | (yv == 1)):
        raise ValueError("y must be 0/1")
    if np.linalg.matrix_rank(A) < A.shape[1]:
        raise ValueError("the design matrix is rank-deficient (collinear covariates)")
    return names, A, yv


def _loglik(A: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    eta = A @ beta
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def _information(A: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu = special.expit(A @ beta)
    w = mu * (1 - mu)
    return mu, w, A.T @ (A * w[:, None])


def _penalised_loglik(A: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    """Firth's penalised log-likelihood ``l(b) + log|I(b)| / 2`` (Jeffreys-prior penalty)."""
    _, _, info = _information(A, beta)
    sign, logdet = np.linalg.slogdet(info)
    if sign <= 0:
        return -np.inf
    return _loglik(A, y, beta) + 0.5 * logdet


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    objective: float  # log-likelihood, or penalised log-likelihood when penalised
    iterations: int
    converged: bool


def _newton(A: np.ndarray, y: np.ndarray, beta0: np.ndarray, free: np.ndarray, *,
            penalised: bool, max_iter: int = 200, tol: float = 1e-10,
            loglik_tol: float = 1e-13, max_step: float = 5.0) -> _Fit:
    """Maximise the (penalised) log-likelihood over the coordinates ``free``, the others held
    at their values in ``beta0``.

    Newton–Raphson with the expected information of the free coordinates, the largest step
    component capped at ``max_step`` and step-halving whenever the objective would fall (as
    ``logistf``). With ``penalised`` the score is Firth's modified score
    ``A'(y - mu + h (1/2 - mu))``, ``h`` the diagonal of the hat matrix of the *full* model
    (so a constrained fit keeps the full model's penalty, as ``logistf``'s profile does).

    Converged: largest score component and largest step below ``tol``, or (for unpenalised
    fits of separated data, whose estimates diverge) a relative change of the log-likelihood
    below ``loglik_tol``: the log-likelihood is then at its supremum to about that precision,
    because along a separating direction it approaches the supremum geometrically.
    """
    beta = np.array(beta0, dtype=float)
    objective = _penalised_loglik if penalised else _loglik
    value = objective(A, y, beta)
    fidx = np.flatnonzero(free)
    if fidx.size == 0:
        return _Fit(beta, value, 0, True)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        mu, w, info = _information(A, beta)
        resid = y - mu
        if penalised:
            inv = np.linalg.inv(info)
            h = w * np.einsum("ij,jk,ik->i", A, inv, A)
            resid = resid + h * (0.5 - mu)
        score = A.T @ resid
        sub = info[np.ix_(fidx, fidx)]
        try:
            delta = np.linalg.solve(sub, score[fidx])
        except np.linalg.LinAlgError:
            delta = np.linalg.lstsq(sub, score[fidx], rcond=None)[0]
        biggest = np.max(np.abs(delta))
        if biggest > max_step:
            delta *= max_step / biggest
        step = 1.0
        while True:
            trial = beta.copy()
            trial[fidx] += step * delta
            new = objective(A, y, trial)
            if new >= value - 1e-12 * (abs(value) + 1) or step < 2 ** -30:
                break
            step /= 2
        change = new - value
        beta, value = trial, new
        if np.max(np.abs(score[fidx])) < tol and np.max(np.abs(step * delta)) < tol:
            converged = True
            break
        if not penalised and abs(change) < loglik_tol * (abs(value) + 0.1) and it > 1:
            converged = True
            break
    return _Fit(beta, value, it, converged)


# --------------------------------------------------------------------------------------------
# Separation
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Separation:
    """Result of the linear-programming check for separation (Konis 2007).

    The maximum-likelihood estimate exists and is finite if and only if no direction ``d``
    (``d != 0``) satisfies ``s_i x_i'd >= 0`` for every observation, with ``s_i = 2 y_i - 1``
    (Albert & Anderson 1984; the design has full rank). Such directions form a convex cone
    ``C``; along any of them the log-likelihood never decreases, so it approaches its supremum
    only as the coefficients run off to infinity.

    Attributes
    ----------
    names : term names, ``(Intercept)`` first.
    n : number of observations.
    n_separated : observations that some direction in ``C`` predicts strictly (they have a
        fitted probability tending to exactly 0 or 1); 0 when the data overlap.
    unbounded_above, unbounded_below : per term, whether some direction in ``C`` has a
        positive (negative) component for it. Then the profile log-likelihood of that
        coefficient approaches its supremum as the coefficient goes to +inf (-inf): its
        profile-likelihood limit on that side is infinite, and so is its ML estimate.
    """

    names: tuple[str, ...]
    n: int
    n_separated: int
    unbounded_above: tuple[bool, ...]
    unbounded_below: tuple[bool, ...]

    @property
    def separated(self) -> bool:
        return self.n_separated > 0

    @property
    def kind(self) -> str:
        """``"none"``, ``"quasi-complete"`` or ``"complete"`` (every observation separated)."""
        if not self.separated:
            return "none"
        return "complete" if self.n_separated == self.n else "quasi-complete"

    def infinite(self, term: str) -> str:
        """``"+inf"``, ``"-inf"``, ``"±inf"`` (either sign) or ``""`` (finite) for ``term``."""
        j = self.names.index(term)
        up, down = self.unbounded_above[j], self.unbounded_below[j]
        return {(True, False): "+inf", (False, True): "-inf", (True, True): "±inf"}.get(
            (up, down), "")

    @property
    def infinite_terms(self) -> tuple[str, ...]:
        """Terms whose ML estimate is infinite (intercept included)."""
        return tuple(t for t in self.names if self.infinite(t))


def detect_separation(X: pd.DataFrame, y: np.ndarray | pd.Series, *,
                      tol: float = 1e-6) -> Separation:
    """Detect complete or quasi-complete separation by linear programming (Konis 2007).

    Two kinds of linear programme (HiGHS, via :func:`scipy.optimize.linprog`), on the design
    with each column scaled to a largest absolute value of 1 (positive scaling changes no
    sign, so the answer is unchanged):

    1. ``max sum_i t_i`` subject to ``t_i <= s_i x_i'd``, ``0 <= t_i <= 1`` and
       ``s_i x_i'd >= 0``, ``d`` free. A cone can be scaled up, so at the optimum ``t_i = 1``
       exactly for the observations some separating direction predicts strictly: their count
       is ``n_separated`` (0: the data overlap and the MLE is finite; ``n``: complete
       separation).
    2. For each coefficient ``j``: ``max d_j`` and ``max -d_j`` over ``C`` within the box
       ``|d| <= 1``. An optimum above ``tol`` means the coefficient is unbounded in that
       direction (``tol`` sits above the LP solver's feasibility tolerance, 1e-7).
    """
    names, A, yv = _check_inputs(X, y)
    scale = np.max(np.abs(A), axis=0)
    scale[scale == 0] = 1.0
    As = A / scale
    s = 2 * yv - 1
    M = s[:, None] * As  # rows s_i x_i'
    n, p = M.shape
    # (1) count of strictly separable observations; variables (d, t)
    c = np.concatenate([np.zeros(p), -np.ones(n)])
    a_ub = np.block([[-M, np.eye(n)],                 # t_i - s_i x_i'd <= 0
                     [-M, np.zeros((n, n))]])         # -s_i x_i'd <= 0
    b_ub = np.zeros(2 * n)
    bounds = [(None, None)] * p + [(0.0, 1.0)] * n
    res = optimize.linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"separation LP failed: {res.message}")
    n_sep = int(np.sum(res.x[p:] > 0.5))
    up, down = [], []
    for j in range(p):
        for sign, store in ((1.0, up), (-1.0, down)):
            if n_sep == 0:
                store.append(False)
                continue
            cj = np.zeros(p)
            cj[j] = -sign
            r = optimize.linprog(cj, A_ub=-M, b_ub=np.zeros(n), bounds=[(-1.0, 1.0)] * p,
                                 method="highs")
            if r.status != 0:
                raise RuntimeError(f"separation LP failed: {r.message}")
            store.append(bool(-r.fun > tol))
    return Separation(names, n, n_sep, tuple(up), tuple(down))


# --------------------------------------------------------------------------------------------
# Profile (penalised) likelihood intervals and likelihood-ratio tests
# --------------------------------------------------------------------------------------------

def _profile_value(A: np.ndarray, y: np.ndarray, j: int, b: float, start: np.ndarray,
                   penalised: bool) -> float:
    beta0 = start.copy()
    beta0[j] = b
    free = np.ones(A.shape[1], dtype=bool)
    free[j] = False
    return _newton(A, y, beta0, free, penalised=penalised).objective


def _profile_side(g: Callable[[float], float], est: float, side: float, step: float,
                  infinite: bool, limit: float, xtol: float) -> float:
    """Root of ``g`` (negative at ``est``, convex-like) on one side of ``est``: expand the
    step geometrically until ``g`` turns positive, then Brent's method on the bracket."""
    if infinite:
        return side * np.inf
    inner = est
    h = step
    while True:
        outer = est + side * h
        if abs(outer - est) > limit:
            return side * np.inf
        if g(outer) > 0:
            lo, hi = sorted((inner, outer))
            return float(optimize.brentq(g, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps,
                                         maxiter=500))
        inner = outer
        h *= 2


def _profile_table(A: np.ndarray, y: np.ndarray, names: Sequence[str], best: _Fit,
                   se: np.ndarray, conf_level: float, penalised: bool,
                   separation: Separation | None, xtol: float) -> pd.DataFrame:
    crit = float(stats.chi2.ppf(conf_level, 1))
    rows = []
    for j, term in enumerate(names):
        est = float(best.beta[j])

        def g(b: float, j: int = j) -> float:
            v = 2 * (best.objective - _profile_value(A, y, j, b, best.beta, penalised)) - crit
            return v if np.isfinite(v) else 1e300  # e.g. a singular information far out

        step = float(np.clip(np.sqrt(crit) * se[j], 0.05, 2.0)) if np.isfinite(se[j]) else 1.0
        up_inf = bool(separation and separation.unbounded_above[j])
        down_inf = bool(separation and separation.unbounded_below[j])
        # An infinite ML estimate sits at the end of a diverging Newton path; the finite side
        # of its interval is searched from a point the path has already passed.
        # Without separation the profile always crosses the cut-off; the limit only stops a
        # runaway search (reported as infinite).
        limit = 1e4 * max(1.0, float(se[j]) if np.isfinite(se[j]) else 1.0)
        lower = _profile_side(g, est, -1.0, step, down_inf, limit, xtol)
        upper = _profile_side(g, est, 1.0, step, up_inf, limit, xtol)
        chi2 = 2 * (best.objective - _profile_value(A, y, j, 0.0, best.beta, penalised))
        chi2 = max(chi2, 0.0)
        rows.append({"term": term, "estimate": est, "lower": lower, "upper": upper,
                     "lr_chi2": chi2, "p": float(stats.chi2.sf(chi2, 1))})
    return pd.DataFrame(rows)


def profile_confint(X: pd.DataFrame, y: np.ndarray | pd.Series, *, conf_level: float = 0.95,
                    xtol: float = 1e-10) -> pd.DataFrame:
    """Profile-likelihood confidence intervals and likelihood-ratio tests of an ML logistic
    regression (log-odds scale), as R's ``confint(glm)`` computes them.

    For each coefficient ``b_j`` the interval is ``{b: 2[l(b_hat) - l_j(b)] <= chi2_1(conf)}``
    where ``l_j(b)`` maximises the log-likelihood over the other coefficients with ``b_j = b``
    (a Newton fit with ``b_j`` held fixed). The profile deviance is convex in ``b``, so each
    limit is the single root on its side of the estimate, found by bracketing and Brent's
    method to ``xtol``. R instead interpolates a spline through a grid of profile points
    (MASS ``profile.glm``), which agrees to about 1e-4.

    Under separation (:func:`detect_separation`) the profile deviance never reaches the
    cut-off on the side where the coefficient is unbounded, and that limit is reported as
    ``±inf``; the other limit is finite and computed as usual.

    Returns
    -------
    DataFrame with ``term``, ``estimate`` (ML; under separation the finite point where
    Newton's iterations stopped), ``lower``, ``upper``, ``lr_chi2`` and ``p`` (the
    likelihood-ratio test of ``b_j = 0``, 1 df), one row per term, intercept first.
    """
    names, A, yv = _check_inputs(X, y)
    sep = detect_separation(X, y)
    best = _newton(A, yv, np.zeros(A.shape[1]), np.ones(A.shape[1], bool), penalised=False)
    _, _, info = _information(A, best.beta)
    se = np.sqrt(np.diag(np.linalg.pinv(info)))
    return _profile_table(A, yv, names, best, se, conf_level, False, sep, xtol)


@dataclass(frozen=True)
class FirthFit:
    """Firth's penalised-likelihood logistic regression (Heinze & Schemper 2002).

    ``coef`` maximises ``l(b) + log|I(b)|/2``; ``se`` are the square roots of the diagonal
    of ``I(b_hat)^-1`` (as ``logistf`` and ``brglm2`` report them). The estimates are finite
    even under separation.
    """

    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    penalised_loglik: float
    loglik: float
    iterations: int
    converged: bool

    @property
    def wald_p(self) -> np.ndarray:
        return 2 * stats.norm.sf(np.abs(self.coef / self.se))


def firth_logistic_regression(X: pd.DataFrame, y: np.ndarray | pd.Series, *,
                              max_iter: int = 200, tol: float = 1e-10) -> FirthFit:
    """Fit ``logit P(y = 1) = b0 + X b`` by Firth's penalised likelihood.

    Newton–Raphson on the modified score ``U*(b) = A'(y - mu + h(1/2 - mu))`` with the
    expected information, step-halving on the penalised log-likelihood and a step cap of 5
    (``logistf``'s ``maxstep``); converged when the largest score component and the largest
    step are below ``tol``. For the logit link this is the same estimator as ``brglm2``'s
    ``type = "AS_mean"`` (Kosmidis & Firth 2009), which the R parity tests use.
    """
    names, A, yv = _check_inputs(X, y)
    fit = _newton(A, yv, np.zeros(A.shape[1]), np.ones(A.shape[1], bool), penalised=True,
                  max_iter=max_iter, tol=tol)
    _, _, info = _information(A, fit.beta)
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    return FirthFit(names, fit.beta, se, fit.objective, _loglik(A, yv, fit.beta),
                    fit.iterations, fit.converged)


def firth_profile_confint(X: pd.DataFrame, y: np.ndarray | pd.Series, *,
                          conf_level: float = 0.95, xtol: float = 1e-10) -> pd.DataFrame:
    """Profile penalised-likelihood intervals and penalised likelihood-ratio tests of a Firth
    logistic regression, as ``logistf`` computes them (its defaults ``pl = TRUE``).

    The interval for ``b_j`` is ``{b: 2[l*(b_hat) - l*_j(b)] <= chi2_1(conf)}`` with ``l*``
    the penalised log-likelihood and ``l*_j(b)`` its maximum over the other coefficients with
    ``b_j = b``, the penalty being that of the full model. The test of ``b_j = 0`` uses the
    same statistic at ``b = 0`` (Heinze & Schemper 2002). The penalised likelihood falls
    without bound as any coefficient grows, so every limit is finite.

    Returns the same columns as :func:`profile_confint`.
    """
    names, A, yv = _check_inputs(X, y)
    best = _newton(A, yv, np.zeros(A.shape[1]), np.ones(A.shape[1], bool), penalised=True)
    _, _, info = _information(A, best.beta)
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    return _profile_table(A, yv, names, best, se, conf_level, True, None, xtol)


def wald_confint(coef: np.ndarray, se: np.ndarray, names: Sequence[str],
                 conf_level: float = 0.95) -> pd.DataFrame:
    """Wald intervals ``b ± z·SE`` and Wald p-values (log-odds scale), as R's
    ``confint.default`` and ``summary(glm)``."""
    q = stats.norm.ppf(0.5 + conf_level / 2)
    coef, se = np.asarray(coef, float), np.asarray(se, float)
    return pd.DataFrame({"term": list(names), "estimate": coef, "se": se,
                         "lower": coef - q * se, "upper": coef + q * se,
                         "p": 2 * stats.norm.sf(np.abs(coef / se))})


# --------------------------------------------------------------------------------------------
# Everything a small-sample logistic model needs, in one place
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogisticAnalysis:
    """A logistic model fitted three ways, with what limits it.

    ``ml``: maximum likelihood (:func:`logistic_regression`); ``wald``: its Wald intervals
    and p; ``profile``: its profile-likelihood intervals and likelihood-ratio p;
    ``firth``: Firth's penalised likelihood, ``firth_profile``: its profile penalised-
    likelihood intervals and penalised likelihood-ratio p; ``separation``: the LP check.

    ``epv``, events per variable: the smaller outcome class divided by the number of
    covariates (Peduzzi et al. 1996 advise at least 10).
    """

    names: tuple[str, ...]
    n: int
    events: int
    non_events: int
    conf_level: float
    ml: LogisticFit
    wald: pd.DataFrame
    profile: pd.DataFrame
    firth: FirthFit
    firth_profile: pd.DataFrame
    separation: Separation

    @property
    def n_covariates(self) -> int:
        return len(self.names) - 1

    @property
    def epv(self) -> float:
        return min(self.events, self.non_events) / self.n_covariates

    def odds_ratios(self) -> pd.DataFrame:
        """One row per covariate (intercept dropped), on the odds-ratio scale.

        Columns: ``term``; ``infinite`` (``"+inf"``/``"-inf"``/``"±inf"`` where separation
        makes the ML estimate infinite, else ``""``); ``or_ml`` (``inf``/``0``/``nan`` for
        ``+inf``/``-inf``/``±inf``), ``wald_lower``, ``wald_upper``, ``wald_p`` (``nan``
        where the estimate is infinite: a Wald interval around a diverged estimate means
        nothing); ``profile_lower``, ``profile_upper``, ``lr_p``; ``or_firth``,
        ``firth_lower``, ``firth_upper``, ``firth_p``.
        """
        rows = []
        for j, term in enumerate(self.names[1:], start=1):
            inf = self.separation.infinite(term)
            w, pr, fp = self.wald.iloc[j], self.profile.iloc[j], self.firth_profile.iloc[j]
            if inf:
                or_ml = {"+inf": np.inf, "-inf": 0.0}.get(inf, np.nan)
                wl = wu = wp = np.nan
            else:
                or_ml, wl, wu, wp = (np.exp(w["estimate"]), np.exp(w["lower"]),
                                     np.exp(w["upper"]), w["p"])
            rows.append({"term": term, "infinite": inf, "or_ml": or_ml, "wald_lower": wl,
                         "wald_upper": wu, "wald_p": wp,
                         "profile_lower": np.exp(pr["lower"]),
                         "profile_upper": np.exp(pr["upper"]), "lr_p": pr["p"],
                         "or_firth": np.exp(fp["estimate"]), "firth_lower": np.exp(fp["lower"]),
                         "firth_upper": np.exp(fp["upper"]), "firth_p": fp["p"]})
        return pd.DataFrame(rows)


def analyse_logistic(X: pd.DataFrame, y: np.ndarray | pd.Series, *,
                     conf_level: float = 0.95) -> LogisticAnalysis:
    """Fit ``y ~ X`` by ML (Wald and profile-likelihood intervals) and by Firth's penalised
    likelihood (profile penalised-likelihood intervals), and check for separation."""
    names, _, yv = _check_inputs(X, y)
    ml = logistic_regression(X, yv, max_iter=100)
    sep = detect_separation(X, yv)
    wald = wald_confint(ml.coef, ml.se, names, conf_level)
    prof = profile_confint(X, yv, conf_level=conf_level)
    firth = firth_logistic_regression(X, yv)
    fprof = firth_profile_confint(X, yv, conf_level=conf_level)
    events = int(yv.sum())
    return LogisticAnalysis(names, len(yv), events, len(yv) - events, conf_level, ml, wald,
                            prof, firth, fprof, sep)
