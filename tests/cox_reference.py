"""Reference implementation of the score test of :func:`analysis_lib.stats.cox.cox_zph`, kept
as a test oracle.

It loops over the distinct (stratum, event time) pairs and forms each risk set explicitly
(``start < tau <= stop`` for counting-process rows), with Efron's or Breslow's weights, as
survival 3.x's ``cox.zph`` defines the test (Grambsch & Therneau 1994; Therneau, survival
package, ``cox.zph``). It is quadratic and exists only to check the cumulative-sum form the
library ships (:class:`analysis_lib.stats.cox.RiskSetSums`), alongside the R parity tests.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from analysis_lib.stats.cox import CoxFit
from analysis_lib.stats.survival import kaplan_meier


def cox_zph_loop(fit: CoxFit, transform: str = "km") -> dict[str, float]:
    """Per-coefficient and global chi-squared statistics of the PH score test: coefficient
    name (and ``"GLOBAL"``) -> statistic."""
    t, e, A, st, a = fit._time, fit._event, fit._X, fit._strata, fit._start
    if transform == "km":
        km = kaplan_meier(t, e, start=a)
        g = 1.0 - np.r_[1.0, km.surv][np.searchsorted(km.time, t, side="left")]
    else:
        g = {"identity": t, "rank": stats.rankdata(t), "log": np.log(t)}[transform]
    g = g - g[e].mean()
    X = A - A.mean(axis=0)
    p = X.shape[1]
    r = np.exp(X @ fit.coef)
    Ug, I11, I12, I22 = np.zeros(p), np.zeros((p, p)), np.zeros((p, p)), np.zeros((p, p))
    for s, tau in sorted({(int(s_), float(t_)) for s_, t_ in zip(st[e], t[e])}):
        risk = (st == s) & (t >= tau) & (True if a is None else a < tau)
        dead = risk & e & (t == tau)
        d = int(dead.sum())
        xd = X[dead].sum(axis=0)
        for k in range(d):
            w = r * (risk - (k / d if fit.ties == "efron" else 0.0) * dead)
            m = w @ X / w.sum()
            V = (X * w[:, None]).T @ X / w.sum() - np.outer(m, m)
            gk = g[dead][0]
            Ug += gk * (xd / d - m)
            I11, I12, I22 = I11 + V, I12 + gk * V, I22 + gk * gk * V
    imat = np.block([[I11, I12], [I12.T, I22]])
    u = np.concatenate([np.zeros(p), Ug])
    out = {}
    for j, name in enumerate(fit.names):
        kk = np.r_[np.arange(p), j + p]
        out[name] = float(u[kk] @ np.linalg.solve(imat[np.ix_(kk, kk)], u[kk]))
    out["GLOBAL"] = float(u @ np.linalg.solve(imat, u))
    return out
