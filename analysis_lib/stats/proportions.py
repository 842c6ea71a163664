"""Binomial proportions with exact Clopper–Pearson intervals (Clopper CJ, Pearson ES (1934).
Biometrika 26:404–413), as R's ``binom.test``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from ..core.formatting import fixed
from ..core.suppression import count_text, is_small

# --------------------------------------------------------------------------------------------
# Proportions
# --------------------------------------------------------------------------------------------

def clopper_pearson(k: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) confidence limits for a binomial proportion ``k/n``
    (statsmodels ``proportion_confint(method="beta")``, as R's ``binom.test``)."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    lo, hi = proportion_confint(k, n, alpha=1 - conf_level, method="beta")
    return float(lo), float(hi)


@dataclass(frozen=True)
class Proportion:
    """A proportion ``k/n`` with an exact confidence interval."""
    label: str
    k: int
    n: int
    ci_low: float
    ci_high: float
    conf_level: float = 0.95
    method: str = "Clopper-Pearson exact"

    @property
    def estimate(self) -> float:
        return self.k / self.n

    @property
    def se(self) -> float:
        """Binomial standard error sqrt(p (1 - p) / n) (for reference; the interval is exact)."""
        return math.sqrt(self.estimate * (1 - self.estimate) / self.n)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"label": self.label, "k": self.k, "n": self.n,
                              "estimate": self.estimate, "se": self.se, "lower": self.ci_low,
                              "upper": self.ci_high, "conf_level": self.conf_level,
                              "method": self.method}])

    def text(self, digits: int = 1) -> str:
        """``49/50 (98.0%; 95% CI 89.4–99.9%)``, counts with thousands separators; with
        small-cell suppression on (:mod:`analysis_lib.core.suppression`) a small ``k`` gives
        ``<5/50`` and no percentage or interval, which would give it away."""
        if is_small(self.k):
            return f"{count_text(self.k)}/{count_text(self.n)}"
        lvl = round(100 * self.conf_level)
        return (f"{count_text(self.k)}/{count_text(self.n)} ({fixed(100 * self.estimate, digits)}%;"
                f" {lvl}% CI {fixed(100 * self.ci_low, digits)}–"
                f"{fixed(100 * self.ci_high, digits)}%)")


def proportion(label: str, k: int, n: int, conf_level: float = 0.95) -> Proportion:
    lo, hi = clopper_pearson(k, n, conf_level)
    return Proportion(label, int(k), int(n), lo, hi, conf_level)
