"""The ML profile likelihood on the library engines, where an intercept diverges too: the
finite limit must be the true root (a refit that stalls far from its maximum would put it
next to the diverged estimate, as statsmodels' IRLS from its default start does)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_toxicity import CRIT95, loglik, profile_by_scipy, table_data

from analysis_lib.stats.logistic import profile_confint


@pytest.mark.parametrize("cells", [(8, 31, 0, 11), (5, 34, 0, 11)])
def test_finite_profile_limit_with_an_infinite_intercept_is_the_root(cells):
    # x = 0 has no events: intercept -> -inf, coefficient of x -> +inf; its lower limit is
    # finite and solves 2 [sup l - l_x(b)] = chi2_1(0.95).
    X, y = table_data(*cells)
    pr = profile_confint(X, y)
    lower = pr.loc[1, "lower"]
    assert np.isfinite(lower) and pr.loc[1, "upper"] == np.inf
    a, b = cells[:2]
    A = np.column_stack([np.ones(len(X)), X.to_numpy(float)])
    sup = loglik(A, y, np.array([-40.0, 40.0 + math.log(a / b)]))
    assert 2 * (sup - profile_by_scipy(A, y, 1, lower, loglik)) == pytest.approx(CRIT95, abs=1e-6)
