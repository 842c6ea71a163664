"""The consistent API of the method layer: every result carries its method and a tidy
summary(); arrays or named columns in; categorical columns dummy-coded with the reference
stated; groups given by their labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis_lib.analyses import survival as survival_analyses
from analysis_lib.stats import competing_risks as cr
from analysis_lib.stats import cox
from analysis_lib.stats import logistic as regression
from analysis_lib.stats import survival as sv
from analysis_lib.stats.contingency import fisher_exact
from analysis_lib.stats.proportions import proportion
from analysis_lib.stats.rank_tests import mann_whitney, spearman

T = np.array([1, 3, 2, 4, 5, 6, 7, 8.0])
E = np.array([1, 1, 1, 0, 1, 0, 1, 1])
G = np.array(["A", "A", "B", "B", "A", "B", "A", "B"])


def test_dummy_code_names_levels_and_reference():
    X = pd.DataFrame({"age": [1.0, 2, 3, 4], "arm": ["b", "a", "c", np.nan],
                      "grade": pd.Categorical(["hi", "lo", "lo", "hi"],
                                              categories=["lo", "hi"])})
    D, terms, refs = regression.dummy_code(X)
    assert list(D.columns) == ["age", "arm[b]", "arm[c]", "grade[hi]"]
    assert terms == {"age": ("age",), "arm": ("arm[b]", "arm[c]"), "grade": ("grade[hi]",)}
    assert refs == {"arm": "a", "grade": "lo"}  # sorted text; a category's own order
    assert D["arm[b]"].tolist()[:3] == [1.0, 0.0, 0.0] and np.isnan(D["arm[b]"].iloc[3])
    assert list(regression.dummy_code(np.ones((3, 2)))[0].columns) == ["x1", "x2"]


def test_logrank_takes_labels_and_a_reference():
    a = sv.logrank_test(T, E, G)                  # reference: the first label, A
    b = sv.logrank_test(T, E, G, reference="B")
    assert a.groups == ("A", "B") and b.groups == ("B", "A")
    assert a.chi2 == pytest.approx(b.chi2) and a.hr_peto == pytest.approx(1 / b.hr_peto)
    assert a.chi2 == pytest.approx(sv.survdiff(T, E, G).chi2)


def test_every_result_has_a_method_and_a_summary():
    km = sv.kaplan_meier(T, E)
    assert km.se_scale == "log S(t)" and "statsmodels" in km.method
    assert list(km.summary().columns) == ["time", "n_risk", "n_event", "n_censor", "surv",
                                          "std_err", "lower", "upper"]
    fit = cox.coxph(pd.DataFrame({"g": G}), T, E)
    assert fit.references == {"g": "A"} and fit.names == ("g[B]",)
    s = fit.summary()
    assert {"coef", "se", "hr", "lower", "upper", "p"} <= set(s.columns)
    assert np.allclose(np.log(s[["lower", "upper"]].to_numpy()), fit.conf_int())
    results = [km, sv.survdiff(T, E, G), sv.compare_groups(T, E, G), fit,
               cr.cuminc(T, E * np.where(G == "A", 1, 2), G).curves[("A", 1)],
               regression.logistic_regression(pd.DataFrame({"g": G}), E),
               regression.firth_logistic_regression(pd.DataFrame({"g": G}), E),
               fisher_exact(3, 1, 1, 3), proportion("x", 3, 8),
               mann_whitney(T, G), spearman(T, np.arange(8.0))]
    for r in results:
        frame = r.summary()
        assert isinstance(frame, pd.DataFrame) and len(frame) >= 1, type(r).__name__


def test_hsct_analyses_return_coefficients_and_standard_errors():
    rng = np.random.default_rng(3)
    t = rng.exponential(10, 60)
    e = (rng.random(60) < 0.7).astype(int)
    h = np.where(rng.random(60) < 0.4, rng.uniform(0, 5, 60), np.nan)
    tab = survival_analyses.hsct_effect(t, e, h, landmarks=[2.0])
    for r in tab.itertuples():
        assert np.exp(r.coef) == pytest.approx(r.hr)
        assert np.log(r.upper) - r.coef == pytest.approx(1.959963984540054 * r.se)
