"""Descriptive statistics of positive, skewed quantities: geometric mean, its t-based confidence
interval on the log scale and the geometric CV (Kirkwood TBL (1979). Biometrics 35:908–909).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

# ============================================================================================
# Summaries
# ============================================================================================

def geometric_stats(x: Sequence[float] | np.ndarray | pd.Series,
                    conf_level: float = 0.95) -> dict[str, float]:
    """Geometric mean, its t-based confidence interval and the geometric CV%.

    With m and s the mean and SD (divisor n − 1) of the natural logs of the positive values:
    geometric mean ``exp(m)``, interval ``exp(m ± t(1 − α/2, n − 1) s / √n)``, geometric CV%
    ``100 √(exp(s²) − 1)`` (Kirkwood 1979). Non-positive and missing values are left out
    (``n_positive`` counts the rest). The interval and the CV need two values, the mean one;
    otherwise they are NaN. Same definitions as :meth:`analysis_lib.stats.nca.NCAResult.summary`.
    """
    v = np.asarray(pd.Series(x, dtype=float), dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    k = int(v.size)
    out = {"n_positive": k, "geo_mean": math.nan, "geo_ci_low": math.nan,
           "geo_ci_high": math.nan, "geo_cv_pct": math.nan}
    if k >= 1:
        logs = np.log(v)
        m = float(logs.mean())
        out["geo_mean"] = math.exp(m)
        if k >= 2:
            s = float(logs.std(ddof=1))
            half = float(stats.t.ppf(0.5 + conf_level / 2, k - 1)) * s / math.sqrt(k)
            out["geo_ci_low"], out["geo_ci_high"] = math.exp(m - half), math.exp(m + half)
            out["geo_cv_pct"] = 100.0 * math.sqrt(math.expm1(s * s))
    return out
