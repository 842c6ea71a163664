"""Logistic regression by maximum likelihood (Newton–Raphson / IRLS), as R's
``glm(family = binomial)``.

Coefficients and Wald standard errors from the observed information; tested against R.
(McCullagh P, Nelder JA (1989). Generalized Linear Models, 2nd ed., ch. 4.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


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
