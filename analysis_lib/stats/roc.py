"""ROC analysis of a continuous marker: empirical AUC with DeLong's variance (DeLong ER, DeLong
DM, Clarke-Pearson DL (1988). Biometrics 44:837–845), sensitivity and specificity at thresholds
with exact intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .proportions import clopper_pearson

# --------------------------------------------------------------------------------------------
# IL-6 as a classifier: ROC, AUC (DeLong), sensitivity and specificity
# --------------------------------------------------------------------------------------------

def _placements(marker: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: for each positive, the fraction of negatives it
    exceeds (ties count one half), and for each negative, the fraction of positives that
    exceed it."""
    pos, neg = marker[outcome], marker[~outcome]
    # counts by binary search in the sorted other group (O(n log n)), not the
    # positives x negatives matrix of pair scores (quadratic in time and memory: 225 million
    # pairs at 50,000 patients); the counts are integers and halves, so the fractions are the
    # same floating-point numbers as the means of the pair scores
    sp, sn = np.sort(pos), np.sort(neg)
    below = np.searchsorted(sn, pos, side="left")
    tied = np.searchsorted(sn, pos, side="right") - below
    above = len(sp) - np.searchsorted(sp, neg, side="right")
    tied_p = np.searchsorted(sp, neg, side="right") - np.searchsorted(sp, neg, side="left")
    return (below + 0.5 * tied) / len(neg), (above + 0.5 * tied_p) / len(pos)


def _clean(marker: Sequence[float], outcome: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(pd.Series(marker, dtype=float))
    o = pd.Series(outcome, dtype="boolean")
    keep = ~np.isnan(m) & o.notna().to_numpy()
    return m[keep], o[keep].astype(bool).to_numpy()


def delong_auc(marker: Sequence[float], outcome: Sequence[bool]) -> tuple[float, float]:
    """Area under the ROC curve and its DeLong standard error.

    ``AUC = mean over positive/negative pairs of [x_pos > x_neg] + 1/2 [x_pos = x_neg]``,
    the Mann–Whitney ``U`` of the positives divided by ``n_pos · n_neg``. DeLong et al.
    (1988, Biometrics 44:837–845): with ``V10_i`` the mean of the pair scores of positive
    ``i`` and ``V01_j`` that of negative ``j``,
    ``Var(AUC) = var(V10)/n_pos + var(V01)/n_neg`` (sample variances, divisor ``n - 1``).
    Missing markers or outcomes are dropped.
    """
    m, o = _clean(marker, outcome)
    n1, n0 = int(o.sum()), int((~o).sum())
    if n1 < 2 or n0 < 2:
        raise ValueError("need at least two positives and two negatives")
    v10, v01 = _placements(m, o)
    auc = float(v10.mean())
    var = float(np.var(v10, ddof=1) / n1 + np.var(v01, ddof=1) / n0)
    return auc, float(np.sqrt(var))


@dataclass(frozen=True)
class ROCAnalysis:
    """ROC analysis of a continuous marker (higher = more likely positive).

    ``lower``/``upper``: DeLong interval ``AUC ± z·SE`` cut to [0, 1] (as R's pROC
    ``ci.auc(method = "delong")``); ``degenerate`` is True when ``SE = 0`` (the marker
    separates the groups perfectly), when the interval says nothing. ``curve``: one row per
    threshold ``c`` (every observed value, highest first), positives being ``marker >= c``:
    ``threshold``, ``sensitivity``, ``specificity``, ``fpr``, plus (inf, 0, 1, 0).
    """
    auc: float
    se: float
    lower: float
    upper: float
    conf_level: float
    n_pos: int
    n_neg: int
    curve: pd.DataFrame

    @property
    def degenerate(self) -> bool:
        return self.se == 0

    def youden(self) -> pd.Series:
        """The curve row maximising sensitivity + specificity - 1 (the lowest such threshold
        on ties). Chosen on the same data, it is optimistic."""
        j = self.curve["sensitivity"] + self.curve["specificity"] - 1
        return self.curve.loc[j[::-1].idxmax()]


def roc_analysis(marker: Sequence[float], outcome: Sequence[bool], *,
                 conf_level: float = 0.95) -> ROCAnalysis:
    """ROC curve and AUC with its DeLong confidence interval (:func:`delong_auc`)."""
    m, o = _clean(marker, outcome)
    auc, se = delong_auc(m, o)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    n1, n0 = int(o.sum()), int((~o).sum())
    thresholds = np.sort(np.unique(m))[::-1]
    sens = np.array([(m[o] >= c).mean() for c in thresholds])
    spec = np.array([(m[~o] < c).mean() for c in thresholds])
    curve = pd.DataFrame({"threshold": np.concatenate(([np.inf], thresholds)),
                          "sensitivity": np.concatenate(([0.0], sens)),
                          "specificity": np.concatenate(([1.0], spec))})
    curve["fpr"] = 1 - curve["specificity"]
    return ROCAnalysis(auc, se, float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se)),
                       conf_level, n1, n0, curve)


def threshold_table(marker: Sequence[float], outcome: Sequence[bool],
                    thresholds: Iterable[float], *, conf_level: float = 0.95) -> pd.DataFrame:
    """Sensitivity and specificity of ``marker >= threshold`` at each threshold, with exact
    Clopper–Pearson limits (percent): ``threshold``, ``tp``, ``fn``, ``tn``, ``fp``,
    ``sensitivity``, ``sens_low``, ``sens_high``, ``specificity``, ``spec_low``,
    ``spec_high``, ``ppv``, ``npv`` (percent; ``nan`` when undefined)."""
    m, o = _clean(marker, outcome)
    rows = []
    for c in thresholds:
        test = m >= c
        tp, fn = int((test & o).sum()), int((~test & o).sum())
        tn, fp = int((~test & ~o).sum()), int((test & ~o).sum())
        sl, sh = clopper_pearson(tp, tp + fn, conf_level)
        pl, ph = clopper_pearson(tn, tn + fp, conf_level)
        rows.append({"threshold": float(c), "tp": tp, "fn": fn, "tn": tn, "fp": fp,
                     "sensitivity": 100 * tp / (tp + fn), "sens_low": 100 * sl,
                     "sens_high": 100 * sh, "specificity": 100 * tn / (tn + fp),
                     "spec_low": 100 * pl, "spec_high": 100 * ph,
                     "ppv": 100 * tp / (tp + fp) if tp + fp else np.nan,
                     "npv": 100 * tn / (tn + fn) if tn + fn else np.nan})
    return pd.DataFrame(rows)
