"""2×2 tables: Fisher's exact test with the conditional maximum-likelihood odds ratio (R's
``fisher.test``), and every estimate of one binary exposure against one binary outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats.contingency import odds_ratio as _scipy_odds_ratio

from .logistic import (analyse_logistic, detect_separation, firth_profile_confint,
                       odds_ratio_columns)

# --------------------------------------------------------------------------------------------
# 2×2 tables: Fisher's exact test with the conditional MLE (as R's fisher.test)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FisherExact:
    """Fisher's exact test of a 2×2 table ``[[a, b], [c, d]]`` as R's ``fisher.test``.

    ``odds_ratio`` is the conditional maximum-likelihood estimate (the noncentrality of
    the noncentral hypergeometric distribution of ``a`` given the margins), not the sample
    cross-product ratio ``sample_odds_ratio``; ``lower``/``upper`` are the exact conditional
    limits; ``p`` is two-sided (tables no more probable than the observed one).
    """
    a: int
    b: int
    c: int
    d: int
    odds_ratio: float
    lower: float
    upper: float
    p: float
    conf_level: float

    method: ClassVar[str] = ("Fisher's exact test, conditional MLE and exact interval "
                             "(scipy fisher_exact, contingency.odds_ratio)")

    @property
    def sample_odds_ratio(self) -> float:
        return odds_ratio(self.a, self.b, self.c, self.d)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"estimate": self.odds_ratio, "lower": self.lower,
                              "upper": self.upper, "p": self.p, "conf_level": self.conf_level,
                              "sample_odds_ratio": self.sample_odds_ratio}])


def fisher_exact(a: int, b: int, c: int, d: int, conf_level: float = 0.95) -> FisherExact:
    """Fisher's exact test (``scipy.stats.fisher_exact``), conditional MLE of the odds ratio
    and its exact interval (``scipy.stats.contingency.odds_ratio(kind="conditional")``), as
    R's ``fisher.test`` defines them (Fisher 1935; Cornfield 1956), with the roots found to
    machine precision (R's ``uniroot`` stops at about 1e-4).

    Given the margins, ``a`` has the noncentral hypergeometric distribution with odds ratio
    ``psi``; the MLE solves ``E_psi[a] = a_obs`` (0 or ``inf`` at the ends of the support),
    the limits ``P_psi(a >= a_obs) = alpha/2`` (lower) and ``P_psi(a <= a_obs) = alpha/2``
    (upper). A table with an empty row or column has no estimate (``nan``, limits 0 and
    ``inf``).
    """
    if min(a, b, c, d) < 0:
        raise ValueError("cells must be non-negative")
    table = [[int(a), int(b)], [int(c), int(d)]]
    r = _scipy_odds_ratio(table, kind="conditional")
    ci = r.confidence_interval(confidence_level=conf_level)
    return FisherExact(int(a), int(b), int(c), int(d), float(r.statistic), float(ci.low),
                       float(ci.high), float(stats.fisher_exact(table).pvalue), conf_level)


def _two_by_two(exposed: np.ndarray, event: np.ndarray) -> tuple[int, int, int, int]:
    e, y = exposed.astype(bool), event.astype(bool)
    return (int((e & y).sum()), int((e & ~y).sum()), int((~e & y).sum()), int((~e & ~y).sum()))


def _binary_comparison(exposed: np.ndarray, event: np.ndarray, conf_level: float) -> dict:
    """Everything about one binary exposure and one binary outcome."""
    a, b, c, d = _two_by_two(exposed, event)
    fe = fisher_exact(a, b, c, d, conf_level)
    out = {"a": a, "b": b, "c": c, "d": d, "sample_or": fe.sample_odds_ratio,
           "cond_or": fe.odds_ratio, "cond_lower": fe.lower, "cond_upper": fe.upper,
           "fisher_p": fe.p}
    if 0 < a + b < a + b + c + d:
        X, y = pd.DataFrame({"x": exposed.astype(int)}), event.astype(float)
        try:
            an = analyse_logistic(X, y, conf_level=conf_level)
        except np.linalg.LinAlgError:
            out.update(_firth_only(X, y, conf_level))
        else:
            r = an.odds_ratios().iloc[0].to_dict()
            r.pop("term")
            out.update(r)
            out["separation"] = an.separation.kind
    else:
        out["separation"] = "constant"
    return out


def _firth_only(X: pd.DataFrame, y: np.ndarray, conf_level: float) -> dict:
    """The columns of :meth:`LogisticAnalysis.odds_ratios` when the ML fit itself fails: under
    separation with thousands of patients (a zero cell) the weights p(1-p) underflow and the
    information matrix is singular. The ML odds ratio is then the infinite (or zero) one the
    separation implies, without Wald or profile interval (``nan``); Firth's penalised
    likelihood still gives an estimate, its profile interval and test."""
    sep = detect_separation(X, y)
    fp = firth_profile_confint(X, y, conf_level=conf_level).iloc[1]
    return {**odds_ratio_columns(sep.infinite("x"), None, fp), "profile_lower": np.nan,
            "profile_upper": np.nan, "lr_p": np.nan, "separation": sep.kind}


def odds_ratio(a: int, b: int, c: int, d: int) -> float:
    """Cross-product ratio ``a·d / (b·c)`` (``inf`` when ``b·c = 0 < a·d``; ``nan`` for 0/0).

    Cells: ``a`` exposed with the event, ``b`` exposed without, ``c`` unexposed with the event,
    ``d`` unexposed without. With a binary predictor the univariable logistic regression
    estimate is exactly this ratio.
    """
    num, den = a * d, b * c
    if den == 0:
        return float("nan") if num == 0 else float("inf")
    return num / den
