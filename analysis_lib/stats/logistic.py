"""Logistic regression as R's ``glm(family = binomial)`` (statsmodels ``GLM``), Firth's
penalised likelihood as R's ``logistf``/``brglm2`` (firthmodels), and what small samples
need besides: profile-likelihood intervals and likelihood-ratio tests, detection of
separation by linear programming, and all of them with the events per variable in one call
(:func:`analyse_logistic`).

References
----------
McCullagh P, Nelder JA (1989). Generalized Linear Models, 2nd ed., ch. 4.
Venzon DJ, Moolgavkar SH (1988). A method for computing profile-likelihood-based confidence
  intervals. J R Stat Soc C 37:87–94. (R: ``confint(glm)``, via MASS ``profile.glm``.)
Albert A, Anderson JA (1984). On the existence of maximum likelihood estimates in logistic
  regression models. Biometrika 71:1–10.
Konis K (2007). Linear programming algorithms for detecting separated data in binary
  logistic regression models. DPhil thesis, University of Oxford.
Firth D (1993). Bias reduction of maximum likelihood estimates. Biometrika 80:27–38.
Heinze G, Schemper M (2002). A solution to the problem of separation in logistic
  regression. Stat Med 21:2409–2419. (R: ``logistf``; ``brglm2`` ``type = "AS_mean"``.)
Peduzzi P et al. (1996). A simulation study of the number of events per variable in
  logistic regression analysis. J Clin Epidemiol 49:1373–1379.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np
import pandas as pd
from firthmodels import FirthLogisticRegression
from scipy import optimize, sparse, special, stats
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM


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


def _check_inputs(X: pd.DataFrame, y: np.ndarray | pd.Series
                  ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Names (``(Intercept)`` first), the design matrix with a leading column of ones and
    the 0/1 outcome, checked: complete, 0/1, full rank. Categorical columns of ``X`` are
    dummy-coded (:func:`dummy_code`)."""
    D = dummy_code(X)[0]
    names = ("(Intercept)", *map(str, D.columns))
    A = np.column_stack([np.ones(len(D)), D.to_numpy(dtype=float)])
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


def _loglik(A: np.ndarray, y: np.ndarray, beta: np.ndarray,
            weights: np.ndarray | None = None) -> float:
    eta = A @ beta
    terms = y * eta - np.logaddexp(0.0, eta)
    return float(np.sum(terms if weights is None else weights * terms))


#: Rows from which the refits of the profile likelihoods and Firth's fits run on the distinct
#: (covariate row, outcome) pairs with their counts as frequency weights, when there are at
#: most a quarter as many of them as rows (binary and categorical designs). The (penalised)
#: log-likelihood, its score and information are sums over rows, so the grouped data give
#: the same estimates, intervals and tests (tests/test_scale.py: to ~1e-10) at a cost that
#: no longer grows with the number of patients (issue 16: 60 of 89 s of the toxicity chapter
#: at 5,000 patients went into about 800 profile refits over all rows). Below the threshold
#: every row is used, as before.
GROUPED_MIN_ROWS = 1000


def _grouped(A: np.ndarray, y: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(A, y, None)``, or the distinct rows of ``[A, y]`` with their counts as weights when
    that is worth it (:data:`GROUPED_MIN_ROWS`)."""
    if len(y) < GROUPED_MIN_ROWS:
        return A, y, None
    full = np.column_stack([A, y])
    key = np.zeros(len(y), dtype=np.int64)
    for col in full.T:  # one integer per distinct row (mixed radix of the column codes)
        levels, code = np.unique(col, return_inverse=True)
        if len(levels) > len(y) // 4:
            return A, y, None
        key = key * len(levels) + code
        if key.max(initial=0) > 2**52:
            return A, y, None
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    if 4 * len(first) > len(y):
        return A, y, None
    u = full[first]
    return u[:, :-1], u[:, -1], counts.astype(float)


def _glm(A: np.ndarray, y: np.ndarray, tol: float = 1e-13, max_iter: int = 200,
         weights: np.ndarray | None = None):
    """statsmodels' IRLS fit of ``logit P(y = 1) = A b`` (R ``glm.fit``); under separation
    the estimates diverge and the log-likelihood approaches its supremum. ``weights``:
    frequency weights (grouped rows, :func:`_grouped`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # perfect separation, overflow far out
        return GLM(y, A, family=Binomial(), freq_weights=weights).fit(tol=tol, maxiter=max_iter)


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
    method: ClassVar[str] = "logistic regression, maximum likelihood (statsmodels GLM)"

    @property
    def z(self) -> np.ndarray:
        return self.coef / self.se

    @property
    def p_value(self) -> np.ndarray:
        return 2 * stats.norm.sf(np.abs(self.z))

    def summary(self, conf_level: float = 0.95) -> pd.DataFrame:
        """Wald table on the log-odds scale (:func:`wald_confint`)."""
        return wald_confint(self.coef, self.se, self.names, conf_level)

    def odds_ratios(self, conf_level: float = 0.95) -> pd.DataFrame:
        """Odds ratios with Wald confidence intervals (exp of coef ± z·SE)."""
        w = self.summary(conf_level)
        return pd.DataFrame({"term": w["term"], "or": np.exp(w["estimate"]),
                             "lower": np.exp(w["lower"]), "upper": np.exp(w["upper"]),
                             "p": w["p"]}).iloc[1:].reset_index(drop=True)


def logistic_regression(X: pd.DataFrame, y: np.ndarray | pd.Series, *, max_iter: int = 100,
                        tol: float = 1e-12) -> LogisticFit:
    """Fit ``logit P(y = 1) = b0 + X b`` by maximum likelihood (statsmodels ``GLM``, IRLS as
    R's ``glm``; convergence when the deviance changes by less than ``tol``, R: 1e-8), Wald
    standard errors from statsmodels' information matrix at the estimate.
    Categorical columns of ``X`` are dummy-coded against their first level. Under complete
    separation the estimates diverge (:func:`detect_separation` says which)."""
    names, A, yv = _check_inputs(X, y)
    r = _glm(A, yv, tol=tol, max_iter=max_iter)
    # IRLS's own covariance uses the weights of the previous iterate (as R's summary.glm
    # does), which differ from those at the estimate by the last step, ~1e-6 at tol 1e-12;
    # the information at the estimate itself gives the Wald SEs to machine precision.
    se = np.sqrt(np.diag(np.linalg.inv(-r.model.hessian(r.params))))
    return LogisticFit(names, np.asarray(r.params), se, float(r.llf),
                       int(r.fit_history["iteration"]), bool(r.converged))


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
    # Identical rows give identical constraints: one variable t_k per distinct row, weighted
    # by its count in the objective, and a sparse constraint matrix keep the programme of
    # size (distinct rows) instead of a dense (2n x n) matrix (quadratic in n).
    U, counts = _distinct_rows(M)
    k = len(U)
    c = np.concatenate([np.zeros(p), -counts.astype(float)])
    Us = sparse.csr_array(U)
    a_ub = sparse.vstack([sparse.hstack([-Us, sparse.eye_array(k)]),   # t_k - s_k x_k'd <= 0
                          sparse.hstack([-Us, sparse.csr_array((k, k))])],  # -s_k x_k'd <= 0
                         format="csc")
    b_ub = np.zeros(2 * k)
    bounds = [(None, None)] * p + [(0.0, 1.0)] * k
    res = optimize.linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"separation LP failed: {res.message}")
    n_sep = int(counts[res.x[p:] > 0.5].sum())
    up, down = unbounded_directions(U, tol) if n_sep else ([False] * p, [False] * p)
    return Separation(names, n, n_sep, tuple(up), tuple(down))


def _distinct_rows(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``M`` (in :func:`numpy.unique` order) and how often each occurs."""
    U, counts = np.unique(M, axis=0, return_counts=True)
    return U, counts


def unbounded_directions(M: np.ndarray, tol: float = 1e-6) -> tuple[list[bool], list[bool]]:
    """For the cone ``{d: M d >= 0}``: per coordinate ``j``, whether it holds a direction
    with ``d_j > 0`` and one with ``d_j < 0`` (``max ±d_j`` over the cone within ``|d| <= 1``
    above ``tol``, which sits above the LP solver's feasibility tolerance, 1e-7). Two linear
    programmes per coordinate (HiGHS, :func:`scipy.optimize.linprog`).

    One linear programme comes first: ``max 1'M d`` over the cone within the box. When no
    direction of the cone makes any row positive (optimum at most ``tol``) and ``M`` has full
    column rank (so ``M d = 0`` forces ``d = 0``), the cone is ``{0}`` and no coordinate is
    unbounded: the ``2p`` programmes are skipped (the usual case of a finite estimate)."""
    M, _ = _distinct_rows(np.asarray(M, float))  # repeated rows repeat a constraint
    p = M.shape[1]
    if p and len(M):
        r = optimize.linprog(-M.sum(axis=0), A_ub=-M, b_ub=np.zeros(len(M)),
                             bounds=[(-1.0, 1.0)] * p, method="highs")
        if r.status != 0:
            raise RuntimeError(f"direction LP failed: {r.message}")
        if -r.fun <= tol and np.linalg.matrix_rank(M) == p:
            return [False] * p, [False] * p
    out: tuple[list[bool], list[bool]] = ([], [])
    for j in range(p):
        for sign, store in ((1.0, out[0]), (-1.0, out[1])):
            c = np.zeros(p)
            c[j] = -sign
            r = optimize.linprog(c, A_ub=-M, b_ub=np.zeros(len(M)), bounds=[(-1.0, 1.0)] * p,
                                 method="highs")
            if r.status != 0:
                raise RuntimeError(f"direction LP failed: {r.message}")
            store.append(bool(-r.fun > tol))
    return out


# --------------------------------------------------------------------------------------------
# Profile likelihood intervals and likelihood-ratio tests
# --------------------------------------------------------------------------------------------

def _ml_refit(A: np.ndarray, y: np.ndarray, offset: np.ndarray,
              weights: np.ndarray | None = None) -> float:
    """Maximum log-likelihood of ``logit P(y = 1) = A b + offset`` over ``b``: firthmodels'
    Newton–Raphson with step halving and the penalty switched off (``penalty_weight=0``).
    statsmodels' IRLS, which has no step halving, can stop far from the maximum when the
    offset is large (tests/test_library_gaps.py)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separated refits do not converge: their sup is used
        return float(FirthLogisticRegression(
            backend="numpy", penalty_weight=0.0, fit_intercept=False, max_iter=200,
            gtol=1e-10, xtol=1e-10).fit(A, y, offset=offset, sample_weight=weights).loglik_)


def _profile_side(g: Callable[[float], float], est: float, side: float, step: float,
                  infinite: bool, limit: float, xtol: float) -> float:
    """Root of ``g`` (negative at ``est``, convex-like) on one side of ``est``: expand the
    step geometrically until ``g`` turns positive, then Brent's method on the bracket."""
    if infinite:
        return side * np.inf
    inner, h = est, step
    while True:
        outer = est + side * h
        if abs(outer - est) > limit:
            return side * np.inf
        if g(outer) > 0:
            lo, hi = sorted((inner, outer))
            return float(optimize.brentq(g, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps,
                                         maxiter=500))
        inner, h = outer, 2 * h


def profile_confint(X: pd.DataFrame, y: np.ndarray | pd.Series, *, conf_level: float = 0.95,
                    xtol: float = 1e-10, separation: Separation | None = None) -> pd.DataFrame:
    """Profile-likelihood confidence intervals and likelihood-ratio tests of an ML logistic
    regression (log-odds scale), as R's ``confint(glm)`` defines them.

    For each coefficient ``b_j`` the interval is ``{b: 2[l(b_hat) - l_j(b)] <= chi2_1(conf)}``
    where ``l_j(b)`` maximises the log-likelihood over the other coefficients with ``b_j = b``:
    a refit with ``b x_j`` as offset (:func:`_ml_refit`). The profile deviance is convex in ``b``,
    so each limit is the single root on its side of the estimate, found by bracketing and
    Brent's method to ``xtol``. R instead interpolates a spline through a grid of profile
    points (MASS ``profile.glm``), which agrees to about 1e-4.

    Under separation (:func:`detect_separation`) the profile deviance never reaches the
    cut-off on the side where the coefficient is unbounded, and that limit is reported as
    ``±inf``; the other limit is finite and computed as usual (searched from where the
    diverging fit stopped). ``separation``: the result of :func:`detect_separation` on the
    same data, when the caller already has it (not computed twice).

    Returns
    -------
    DataFrame with ``term``, ``estimate`` (ML; under separation the finite point where the
    iterations stopped), ``lower``, ``upper``, ``lr_chi2`` and ``p`` (the likelihood-ratio
    test of ``b_j = 0``, 1 df), one row per term, intercept first.
    """
    names, A, yv = _check_inputs(X, y)
    sep = separation if separation is not None else detect_separation(X, y)
    Ag, yg, wg = _grouped(A, yv)
    best = _glm(Ag, yg, weights=wg)
    crit = float(stats.chi2.ppf(conf_level, 1))
    se = np.asarray(best.bse)
    rows = []
    for j, term in enumerate(names):
        est = float(best.params[j])
        rest = np.delete(Ag, j, axis=1)

        def prof(b: float, j: int = j, rest: np.ndarray = rest) -> float:
            if not rest.shape[1]:
                return _loglik(Ag[:, [j]], yg, np.array([b]), wg)
            return _ml_refit(rest, yg, b * Ag[:, j], wg)

        def g(b: float) -> float:
            v = 2 * (best.llf - prof(b)) - crit
            return v if np.isfinite(v) else 1e300

        ok = np.isfinite(se[j])
        step = float(np.clip(np.sqrt(crit) * se[j], 0.05, 2.0)) if ok else 1.0
        limit = 1e4 * max(1.0, float(se[j]) if ok else 1.0)
        lower = _profile_side(g, est, -1.0, step, sep.unbounded_below[j], limit, xtol)
        upper = _profile_side(g, est, 1.0, step, sep.unbounded_above[j], limit, xtol)
        chi2 = max(2 * (best.llf - prof(0.0)), 0.0)
        rows.append({"term": term, "estimate": est, "lower": lower, "upper": upper,
                     "lr_chi2": chi2, "p": float(stats.chi2.sf(chi2, 1))})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Firth's penalised likelihood (firthmodels)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FirthFit:
    """Firth's penalised-likelihood logistic regression (Heinze & Schemper 2002).

    ``coef`` maximises ``l(b) + log|I(b)|/2`` (firthmodels); ``se`` are the square roots of
    the diagonal of ``I(b_hat)^-1``, as ``logistf`` and ``brglm2`` report them (firthmodels'
    ``bse_`` uses the information of the penalised score instead). The estimates are finite
    even under separation.
    """
    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    penalised_loglik: float
    loglik: float
    iterations: int
    converged: bool
    method: ClassVar[str] = "Firth's penalised likelihood (firthmodels)"

    @property
    def wald_p(self) -> np.ndarray:
        return 2 * stats.norm.sf(np.abs(self.coef / self.se))

    def summary(self, conf_level: float = 0.95) -> pd.DataFrame:
        return wald_confint(self.coef, self.se, self.names, conf_level)


def _firth(A: np.ndarray, y: np.ndarray, max_iter: int = 200, tol: float = 1e-8
           ) -> FirthLogisticRegression:
    """firthmodels' fit of ``y ~ A`` (intercept in ``A``'s first column), on the grouped data
    from :data:`GROUPED_MIN_ROWS` rows (frequency weights; the same penalised likelihood)."""
    Ag, yg, wg = _grouped(A, y)
    return FirthLogisticRegression(backend="numpy", max_iter=max_iter, gtol=tol, xtol=tol
                                   ).fit(Ag[:, 1:], yg, sample_weight=wg)


def firth_logistic_regression(X: pd.DataFrame, y: np.ndarray | pd.Series, *,
                              max_iter: int = 200, tol: float = 1e-8) -> FirthFit:
    """Fit ``logit P(y = 1) = b0 + X b`` by Firth's penalised likelihood (firthmodels'
    Newton–Raphson with step halving and a step cap of 5, as ``logistf``; converged when the
    largest score component and the largest step are below ``tol``; at 1e-9 and below its step
    halving can no longer raise the penalised likelihood in floating point and the fit is
    reported as not converged, so 1e-8). For the logit link this
    is the same estimator as ``brglm2``'s ``type = "AS_mean"`` (Kosmidis & Firth 2009), which
    the R parity tests use."""
    names, A, yv = _check_inputs(X, y)
    m = _firth(A, yv, max_iter, tol)
    beta = np.r_[m.intercept_, m.coef_]
    mu = special.expit(A @ beta)
    se = np.sqrt(np.diag(np.linalg.inv(A.T @ (A * (mu * (1 - mu))[:, None]))))
    return FirthFit(names, beta, se, float(m.loglik_), _loglik(A, yv, beta), int(m.n_iter_),
                    bool(m.converged_))


def firth_profile_confint(X: pd.DataFrame, y: np.ndarray | pd.Series, *,
                          conf_level: float = 0.95, xtol: float = 1e-10) -> pd.DataFrame:
    """Profile penalised-likelihood intervals and penalised likelihood-ratio tests of a Firth
    logistic regression, as ``logistf`` computes them (its defaults ``pl = TRUE``):
    firthmodels' ``conf_int(method="pl")`` (Venzon–Moolgavkar) and ``lrt()``.

    The interval for ``b_j`` is ``{b: 2[l*(b_hat) - l*_j(b)] <= chi2_1(conf)}`` with ``l*``
    the penalised log-likelihood and ``l*_j(b)`` its maximum over the other coefficients with
    ``b_j = b``, the penalty being that of the full model; the test of ``b_j = 0`` uses the
    same statistic at ``b = 0``. Every limit is finite.

    Returns the same columns as :func:`profile_confint`.
    """
    names, A, yv = _check_inputs(X, y)
    m = _firth(A, yv)
    ci = m.conf_int(alpha=1 - conf_level, method="pl", max_iter=200, tol=xtol)
    # The constrained fits of lrt() at gtol 1e-8 can stop on a failed step halving at the
    # optimum (depending on the last bit of the data); at 1e-6 they do not, and the
    # log-likelihoods, flat at the optimum, are still exact to ~1e-12.
    p = _firth(A, yv, tol=1e-6).lrt().lrt_pvalues_
    order = np.r_[-1, np.arange(A.shape[1] - 1)]  # firthmodels puts the intercept last
    return pd.DataFrame({"term": names, "estimate": np.r_[m.intercept_, m.coef_],
                         "lower": ci[order, 0], "upper": ci[order, 1],
                         "lr_chi2": stats.chi2.isf(p[order], 1), "p": p[order]})


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
    method: ClassVar[str] = ("logistic regression: ML (statsmodels GLM) with Wald and profile "
                             "intervals, Firth (firthmodels), separation by LP")

    @property
    def options(self) -> dict[str, object]:
        return {"conf_level": self.conf_level}

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
            pr = self.profile.iloc[j]
            c = odds_ratio_columns(self.separation.infinite(term), self.wald.iloc[j],
                                   self.firth_profile.iloc[j])
            rows.append({"term": term, **{k: c[k] for k in ML_COLUMNS},
                         "profile_lower": np.exp(pr["lower"]),
                         "profile_upper": np.exp(pr["upper"]), "lr_p": pr["p"],
                         **{k: c[k] for k in FIRTH_COLUMNS}})
        return pd.DataFrame(rows)

    summary = odds_ratios


#: The ML (Wald) and Firth columns of :func:`odds_ratio_columns`, in their table order.
ML_COLUMNS: tuple[str, ...] = ("infinite", "or_ml", "wald_lower", "wald_upper", "wald_p")
FIRTH_COLUMNS: tuple[str, ...] = ("or_firth", "firth_lower", "firth_upper", "firth_p")


def odds_ratio_columns(infinite: str, wald: Mapping[str, float] | None,
                       firth_profile: Mapping[str, float]) -> dict[str, Any]:
    """One covariate's ML and Firth results on the odds-ratio scale (:data:`ML_COLUMNS`,
    :data:`FIRTH_COLUMNS`) from its Wald row (``estimate``, ``lower``, ``upper``, ``p`` on the
    log-odds scale; ``None`` when the ML fit itself failed) and its Firth profile row.

    Where separation makes the ML estimate infinite (``infinite`` ``"+inf"``/``"-inf"``/
    ``"±inf"``), ``or_ml`` is ``inf``/``0``/``nan`` and the Wald columns are ``nan``: a Wald
    interval around a diverged estimate means nothing."""
    if infinite:
        or_ml, wl, wu, wp = {"+inf": np.inf, "-inf": 0.0}.get(infinite, np.nan), *[np.nan] * 3
    elif wald is None:
        or_ml = wl = wu = wp = np.nan
    else:
        or_ml, wl, wu, wp = (np.exp(wald["estimate"]), np.exp(wald["lower"]),
                             np.exp(wald["upper"]), wald["p"])
    fp = firth_profile
    return {"infinite": infinite, "or_ml": or_ml, "wald_lower": wl, "wald_upper": wu,
            "wald_p": wp, "or_firth": np.exp(fp["estimate"]), "firth_lower": np.exp(fp["lower"]),
            "firth_upper": np.exp(fp["upper"]), "firth_p": fp["p"]}


def analyse_logistic(X: pd.DataFrame, y: np.ndarray | pd.Series, *,
                     conf_level: float = 0.95) -> LogisticAnalysis:
    """Fit ``y ~ X`` by ML (Wald and profile-likelihood intervals) and by Firth's penalised
    likelihood (profile penalised-likelihood intervals), and check for separation."""
    names, _, yv = _check_inputs(X, y)
    ml = logistic_regression(X, yv, max_iter=100)
    sep = detect_separation(X, yv)
    wald = wald_confint(ml.coef, ml.se, names, conf_level)
    prof = profile_confint(X, yv, conf_level=conf_level, separation=sep)
    firth = firth_logistic_regression(X, yv)
    fprof = firth_profile_confint(X, yv, conf_level=conf_level)
    events = int(yv.sum())
    return LogisticAnalysis(names, len(yv), events, len(yv) - events, conf_level, ml, wald,
                            prof, firth, fprof, sep)
