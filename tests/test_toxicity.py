"""Tests of the toxicity chapter: adverse-event tables, logistic models (ML, profile
likelihood, separation, Firth), Fisher's exact test, ROC/DeLong, and the notebook.

Expected values are hand-computed (stated in the test), closed forms (Firth's estimate for a
2×2 table is the cross-product ratio with 1/2 added to every cell; the ML one is the plain
cross-product ratio with Woolf's standard error), independent numerical computations (scipy
optimisers on the stated objective, scipy's noncentral hypergeometric distribution), or R
computed live (``@pytest.mark.r_parity``). What is checked against what in R:

* ``glm(family = binomial)``: coefficients, standard errors, Wald intervals
  (``confint.default``), profile-likelihood intervals (``confint(glm)``, MASS's spline
  interpolation, which is accurate to about 1e-3 only; and an exact R root-finding on the
  profile deviance with ``glm.fit`` and ``uniroot``, to 1e-6), likelihood-ratio p-values
  (``anova(..., test = "Chisq")``), divergence of coefficients under separation.
* ``brglm2`` (``method = "brglmFit"``, ``type = "AS_mean"``, = Firth for the logit link):
  coefficients (1e-6) and standard errors. ``logistf`` is not packaged for Debian, so the
  profile penalised-likelihood intervals and penalised likelihood-ratio tests are checked
  against a direct base-R transcription of ``logistf``'s definition (``optim`` over the
  nuisance coefficients, ``uniroot`` on the profile).
* ``fisher.test``: p-value, conditional MLE and exact interval (R's ``uniroot`` stops at about
  1e-4, so those to 1e-3 relative; the defining equations are checked to 1e-9 separately).
* ``wilcox.test``: the AUC equals ``W / (n1 n0)``. (DeLong's SE: pROC is not packaged; it is
  checked against a hand-computed example.)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats

from analysis_lib.analyses import toxicity
from analysis_lib.core import formatting
from analysis_lib.data.validation import load_dataset
from analysis_lib.stats import contingency
from analysis_lib.stats import logistic as regression
from analysis_lib.stats import roc as stats_roc
from analysis_lib.stats.logistic import (
    analyse_logistic,
    detect_separation,
    firth_logistic_regression,
    firth_profile_confint,
    logistic_regression,
    profile_confint,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "data" / "synthetic"
CRIT95 = float(stats.chi2.ppf(0.95, 1))


# ---------------------------------------------------------------------------------------
# Small data sets


def table_data(a: int, b: int, c: int, d: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Individual rows of the 2×2 table [[a, b], [c, d]] (rows: x = 1, 0; columns: y = 1, 0)."""
    x = [1] * (a + b) + [0] * (c + d)
    y = [1] * a + [0] * b + [1] * c + [0] * d
    return pd.DataFrame({"x": x}), np.array(y, float)


def seeded(n: int = 120, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.integers(0, 2, n),
                      "x3": rng.exponential(size=n)})
    lp = -0.7 + 0.9 * X.x1 - 0.8 * X.x2 + 0.4 * X.x3
    return X, (rng.random(n) < special.expit(lp)).astype(float)


def shipped_patients() -> pd.DataFrame:
    return load_dataset(SHIPPED).tables["patients"]


#: A synthetic cohort (the generator's seed 896, shipped until the scorecard recalibration)
#: whose model 2 is quasi-completely separated: the separation parity test uses it whatever
#: cohort is shipped now.
SEPARATED_SEED = 896


def shipped_models(patients: pd.DataFrame | None = None) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    p = shipped_patients() if patients is None else patients
    f, _ = toxicity.risk_factors(p)
    y = toxicity.outcomes(p)["crs_severe"].astype(float).to_numpy()
    return {"model1": (f[list(toxicity.MODEL_1)], y), "model2": (f[list(toxicity.MODEL_2)], y)}


def loglik(A: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    eta = A @ beta
    return float(np.sum(y * eta - np.logaddexp(0, eta)))


def pen_loglik(A: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    mu = special.expit(A @ beta)
    info = A.T @ (A * (mu * (1 - mu))[:, None])
    return loglik(A, y, beta) + 0.5 * np.linalg.slogdet(info)[1]


def profile_by_scipy(A: np.ndarray, y: np.ndarray, j: int, b: float, fun) -> float:
    """max over the other coefficients of fun(beta) with beta_j = b, by BFGS (independent of
    the library's Newton iterations)."""
    free = [k for k in range(A.shape[1]) if k != j]

    def neg(theta: np.ndarray) -> float:
        beta = np.empty(A.shape[1])
        beta[j], beta[free] = b, theta
        return -fun(A, y, beta)

    best = optimize.minimize(neg, np.zeros(len(free)), method="BFGS",
                             options={"gtol": 1e-10, "maxiter": 2000})
    best = optimize.minimize(neg, best.x, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20000})
    return -best.fun


# ---------------------------------------------------------------------------------------
# Maximum likelihood, profile likelihood


def test_ml_on_a_two_by_two_table_is_the_cross_product_ratio_with_woolf_se():
    X, y = table_data(6, 4, 3, 12)
    fit = logistic_regression(X, y)
    assert math.exp(fit.coef[1]) == pytest.approx(6 * 12 / (4 * 3), rel=1e-9)
    assert fit.se[1] == pytest.approx(math.sqrt(1 / 6 + 1 / 4 + 1 / 3 + 1 / 12), rel=1e-8)
    w = regression.wald_confint(fit.coef, fit.se, fit.names)
    assert w.loc[1, "upper"] - w.loc[1, "estimate"] == pytest.approx(1.959963985 * fit.se[1])


def test_profile_limits_are_where_the_profile_deviance_reaches_the_cut_off():
    X, y = seeded()
    A = np.column_stack([np.ones(len(X)), X.to_numpy(float)])
    pr = profile_confint(X, y)
    lmax = loglik(A, y, logistic_regression(X, y).coef)
    for j in range(A.shape[1]):
        for side in ("lower", "upper"):
            b = pr.loc[j, side]
            assert 2 * (lmax - profile_by_scipy(A, y, j, b, loglik)) == pytest.approx(CRIT95, abs=1e-6)
    # profile interval contains the estimate and is not symmetric in general
    assert (pr["lower"] < pr["estimate"]).all() and (pr["estimate"] < pr["upper"]).all()


def test_likelihood_ratio_p_is_the_drop_in_deviance_when_the_term_is_removed():
    X, y = seeded()
    full = logistic_regression(X, y)
    pr = profile_confint(X, y)
    for j, term in enumerate(X.columns, start=1):
        reduced = logistic_regression(X.drop(columns=term), y)
        chi2 = 2 * (full.loglik - reduced.loglik)
        assert pr.loc[j, "lr_chi2"] == pytest.approx(chi2, rel=1e-7, abs=1e-9)
        assert pr.loc[j, "p"] == pytest.approx(stats.chi2.sf(chi2, 1), rel=1e-6)


# ---------------------------------------------------------------------------------------
# Separation


def test_overlapping_data_are_not_separated():
    X, y = table_data(6, 4, 3, 12)
    s = detect_separation(X, y)
    assert (s.separated, s.kind, s.n_separated, s.infinite_terms) == (False, "none", 0, ())


def test_quasi_complete_separation_in_a_zero_cell():
    # x = 1: 0 of 10 events; x = 0: 4 of 12. Only x's coefficient diverges (to -inf); the
    # 10 patients with x = 1 are predicted perfectly.
    X, y = table_data(0, 10, 4, 8)
    s = detect_separation(X, y)
    assert s.kind == "quasi-complete" and s.n_separated == 10
    assert s.infinite("x") == "-inf" and s.infinite("(Intercept)") == ""
    pr = profile_confint(X, y)
    assert pr.loc[1, "lower"] == -np.inf and np.isfinite(pr.loc[1, "upper"])
    # the finite limit is a genuine root; the profile approaches its supremum as b -> -inf
    A = np.column_stack([np.ones(len(X)), X.to_numpy(float)])
    sup = loglik(A, y, np.array([math.log(4 / 8), -40.0]))
    upper = pr.loc[1, "upper"]
    assert 2 * (sup - profile_by_scipy(A, y, 1, upper, loglik)) == pytest.approx(CRIT95, abs=1e-6)
    assert 2 * (sup - profile_by_scipy(A, y, 1, -25.0, loglik)) < 1e-8


def test_zero_cell_in_the_reference_group_makes_the_intercept_infinite_too():
    # x = 0: 0 of 11 events, so the intercept (log-odds at x = 0) runs to -inf and the
    # coefficient of x (a difference of log-odds) to +inf.
    X, y = table_data(8, 31, 0, 11)
    s = detect_separation(X, y)
    assert (s.kind, s.n_separated) == ("quasi-complete", 11)
    assert (s.infinite("(Intercept)"), s.infinite("x")) == ("-inf", "+inf")
    pr = profile_confint(X, y)
    assert pr.loc[0, "lower"] == -np.inf and pr.loc[1, "upper"] == np.inf
    assert np.isfinite(pr.loc[0, "upper"]) and np.isfinite(pr.loc[1, "lower"])


def test_complete_separation_needing_a_combination_of_covariates():
    # y = 1 exactly when x1 + x2 >= 2; neither covariate separates alone.
    X = pd.DataFrame({"x1": [1, 2, 0, 0, 1, 0, 2, 1], "x2": [1, 0, 2, 0, 0, 1, 1, 2]})
    y = (X.x1 + X.x2 >= 2).astype(float).to_numpy()
    for col in ("x1", "x2"):
        assert not detect_separation(X[[col]], y).separated
    s = detect_separation(X, y)
    assert s.kind == "complete" and s.n_separated == len(y)
    assert s.infinite("x1") == "+inf" and s.infinite("x2") == "+inf"
    assert s.infinite("(Intercept)") == "-inf"


def test_coefficient_free_in_sign_is_reported_as_undetermined():
    # Both outcomes at (x1, x2) = (0, 0) pin the intercept's direction to 0. All patients with
    # x1 = 1 are non-events, at x2 = 1 and at x2 = 0: separating directions need d1 <= 0 and
    # d1 + d2 <= 0, so d1 diverges to -inf while d2 may take either sign (d = (0, -1, +-1/2)).
    X = pd.DataFrame({"x1": [0, 0, 0, 0, 1, 1, 1, 1], "x2": [0, 0, 0, 0, 1, 1, 0, 0]})
    y = np.array([0, 1, 0, 1, 0, 0, 0, 0], float)
    s = detect_separation(X, y)
    assert s.kind == "quasi-complete" and s.n_separated == 4
    assert (s.infinite("(Intercept)"), s.infinite("x1"), s.infinite("x2")) == ("", "-inf", "±inf")
    pr = profile_confint(X, y).set_index("term")
    assert pr.loc["x2", "lower"] == -np.inf and pr.loc["x2", "upper"] == np.inf
    assert pr.loc["x1", "lower"] == -np.inf and np.isfinite(pr.loc["x1", "upper"])


def test_firth_is_finite_under_separation_and_ml_profile_is_infinite_on_one_side():
    X, y = table_data(0, 10, 4, 8)
    a = analyse_logistic(X, y)
    row = a.odds_ratios().iloc[0]
    assert row["infinite"] == "-inf" and row["or_ml"] == 0 and np.isnan(row["wald_p"])
    assert row["profile_lower"] == 0 and np.isfinite(row["profile_upper"])
    assert 0 < row["firth_lower"] < row["or_firth"] < row["firth_upper"] < np.inf
    assert toxicity.describe_separation(a, {"x": "Exposed"}).startswith(
        "quasi-complete separation (10 of 22 patients")


# ---------------------------------------------------------------------------------------
# Firth


@pytest.mark.parametrize("cells", [(6, 4, 3, 12), (8, 31, 0, 11), (0, 10, 4, 8), (1, 22, 7, 20)])
def test_firth_on_a_two_by_two_table_adds_one_half_to_every_cell(cells):
    # Saturated logistic model: Firth's estimate equals the Haldane-corrected odds ratio.
    a, b, c, d = cells
    X, y = table_data(*cells)
    f = firth_logistic_regression(X, y)
    assert f.converged
    assert math.exp(f.coef[1]) == pytest.approx((a + .5) * (d + .5) / ((b + .5) * (c + .5)), rel=1e-9)
    assert math.exp(f.coef[0]) == pytest.approx((c + .5) / (d + .5), rel=1e-9)


def test_firth_maximises_the_penalised_likelihood():
    X, y = seeded(60, 9)
    A = np.column_stack([np.ones(len(X)), X.to_numpy(float)])
    f = firth_logistic_regression(X, y)
    ref = optimize.minimize(lambda b: -pen_loglik(A, y, b), np.zeros(A.shape[1]), method="BFGS",
                            options={"gtol": 1e-10})
    np.testing.assert_allclose(f.coef, ref.x, atol=1e-5)
    assert f.penalised_loglik >= -ref.fun - 1e-10
    info = A.T @ (A * (lambda m: m * (1 - m))(special.expit(A @ f.coef))[:, None])
    np.testing.assert_allclose(f.se, np.sqrt(np.diag(np.linalg.inv(info))), rtol=1e-10)


def test_firth_profile_limits_and_penalised_lr_test():
    X, y = table_data(8, 31, 0, 11)
    A = np.column_stack([np.ones(len(X)), X.to_numpy(float)])
    fp = firth_profile_confint(X, y)
    pmax = pen_loglik(A, y, firth_logistic_regression(X, y).coef)
    for side in ("lower", "upper"):
        b = fp.loc[1, side]
        assert 2 * (pmax - profile_by_scipy(A, y, 1, b, pen_loglik)) == pytest.approx(CRIT95, abs=1e-6)
    chi2 = 2 * (pmax - profile_by_scipy(A, y, 1, 0.0, pen_loglik))
    assert fp.loc[1, "lr_chi2"] == pytest.approx(chi2, abs=1e-7)


def test_epv_uses_the_smaller_outcome_class():
    X, y = seeded(40, 1)
    a = analyse_logistic(X, y)
    assert a.n_covariates == 3
    assert a.epv == pytest.approx(min(y.sum(), len(y) - y.sum()) / 3)


def test_rank_deficient_design_is_refused():
    X = pd.DataFrame({"a": [0, 1, 0, 1, 1], "b": [0, 1, 0, 1, 1]})
    with pytest.raises(ValueError, match="rank"):
        analyse_logistic(X, np.array([0, 1, 0, 0, 1.0]))


# ---------------------------------------------------------------------------------------
# Fisher's exact test


@pytest.mark.parametrize("cells", [(6, 4, 3, 12), (1, 22, 7, 20), (8, 31, 0, 11), (0, 10, 4, 8)])
def test_fisher_exact_solves_its_defining_equations(cells):
    a, b, c, d = cells
    fe = contingency.fisher_exact(a, b, c, d)
    assert fe.p == pytest.approx(stats.fisher_exact([[a, b], [c, d]]).pvalue, rel=1e-9)
    assert fe.sample_odds_ratio == (a * d / (b * c) if b * c else np.inf)
    M, m, k = a + b + c + d, a + c, a + b   # scipy: total, "successes" (column 1), draws (row 1)
    dist = lambda psi: stats.nchypergeom_fisher(M, m, k, psi)  # noqa: E731
    lo, hi = max(0, k - (M - m)), min(k, m)
    if lo < a < hi:
        assert dist(fe.odds_ratio).mean() == pytest.approx(a, abs=1e-9)
    if a > lo:
        assert dist(fe.lower).sf(a - 1) == pytest.approx(0.025, abs=1e-9)
    else:
        assert fe.lower == 0 and fe.odds_ratio == 0
    if a < hi:
        assert dist(fe.upper).cdf(a) == pytest.approx(0.025, abs=1e-9)
    else:
        assert fe.upper == np.inf and fe.odds_ratio == np.inf


# ---------------------------------------------------------------------------------------
# ROC, DeLong, thresholds


def test_delong_hand_computed_example():
    # positives 3, 4, 5; negatives 1, 2, 4. Pair scores: V10 = (2/3, 5/6, 1), V01 = (1, 1, 1/2).
    # AUC = 5/6; var(V10) = 1/36, var(V01) = 1/12 (divisor n - 1);
    # Var(AUC) = (1/36)/3 + (1/12)/3 = 1/27.
    marker = [3, 4, 5, 1, 2, 4]
    outcome = [True, True, True, False, False, False]
    auc, se = stats_roc.delong_auc(marker, outcome)
    assert auc == pytest.approx(5 / 6, abs=1e-15)
    assert se == pytest.approx(1 / math.sqrt(27), abs=1e-15)
    r = stats_roc.roc_analysis(marker, outcome)
    z = stats.norm.ppf(0.975)
    assert (r.lower, r.upper) == (pytest.approx(5 / 6 - z / math.sqrt(27)), 1.0)


def test_auc_is_the_mann_whitney_statistic_scaled():
    rng = np.random.default_rng(4)
    marker = np.round(rng.lognormal(3, 1, 60), 0)  # rounding creates ties
    outcome = rng.random(60) < 0.3
    u = stats.mannwhitneyu(marker[outcome], marker[~outcome]).statistic
    auc, _ = stats_roc.delong_auc(marker, outcome)
    assert auc == pytest.approx(u / (outcome.sum() * (~outcome).sum()), abs=1e-14)


def test_perfect_marker_has_a_degenerate_interval_and_missing_values_are_dropped():
    r = stats_roc.roc_analysis([1, 2, np.nan, 5, 6], [False, False, True, True, True])
    assert (r.auc, r.se, r.degenerate, r.n_pos, r.n_neg) == (1.0, 0.0, True, 2, 2)
    assert r.curve.iloc[0].tolist() == [np.inf, 0.0, 1.0, 0.0]
    assert r.youden()["threshold"] == 5


def test_threshold_table_counts():
    t = stats_roc.threshold_table([1, 5, 7, 2, 8, 9], [False, True, True, False, False, True], [5, 8])
    # >= 5: positives 5, 7, 8, 9 -> TP 3 (5, 7, 9), FP 1 (8); TN 2 (1, 2), FN 0
    assert t.loc[0, ["tp", "fn", "tn", "fp"]].tolist() == [3, 0, 2, 1]
    assert t.loc[0, "sensitivity"] == 100 and t.loc[0, "specificity"] == pytest.approx(200 / 3)
    assert t.loc[1, ["tp", "fn", "tn", "fp"]].tolist() == [1, 2, 2, 1]
    assert t.loc[1, "ppv"] == 50


# ---------------------------------------------------------------------------------------
# Adverse-event tables


def ae_frame() -> pd.DataFrame:
    b = lambda *v: pd.array(list(v), dtype="boolean")  # noqa: E731
    return pd.DataFrame({
        "crs_grade": pd.array([0, 1, 3, 4, 2], dtype="Int64"),
        "icans_grade": pd.array([0, 0, 1, 3, 0], dtype="Int64"),
        "neutropenia_grade4": b(True, False, True, False, False),
        "anc_nadir_1e9_per_l": [0.1, 0.9, 0.2, np.nan, 1.5],
        "infection_bacterial": b(True, False, False, False, False),
        "infection_cmv": b(True, False, True, False, False),
        "infection_ebv": b(False, False, False, False, False),
        "infection_fungal": b(False, False, False, False, True),
        "hlh": b(False, False, False, True, False),
        "tocilizumab": b(False, False, True, True, True),
        "corticosteroids": b(False, False, False, True, False),
        "prior_hsct": b(True, False, True, False, False),
        "gvhd": b(True, None, False, None, None),
        "il6_elevated": b(False, True, True, True, None),
        "il6_peak_pg_per_ml": [3.0, 20.0, 400.0, 5000.0, np.nan],
        "il6_peak_above_uloq": b(False, False, False, True, None),
        "il6_peak_day": pd.array([2, 9, 5, 12, pd.NA], dtype="Int64"),
    })


def test_adverse_event_counts_and_denominators():
    t = toxicity.adverse_event_table(ae_frame()).set_index("key")
    assert t.loc["crs_any", ["k", "n"]].tolist() == [4, 5]
    assert t.loc["crs_severe", ["k", "n"]].tolist() == [2, 5]
    assert t.loc["icans_any", ["k", "n"]].tolist() == [2, 5]
    assert t.loc["icans_severe", ["k", "n"]].tolist() == [1, 5]
    assert t.loc["infection_any", ["k", "n"]].tolist() == [3, 5]  # patients, not infections
    assert t.loc["gvhd", ["k", "n"]].tolist() == [1, 2]           # prior-HSCT patients only
    assert t.loc["il6_elevated", ["k", "n"]].tolist() == [3, 4]   # missing left out
    # the paper's values as its Results text prints them (read from the registry)
    assert t.loc["crs_severe", "published"] == "16.0%"
    assert t.loc["neutropenia_g4", "published"] == "24/50 (48%)"
    assert t.loc["infection_bacterial", "published"] == "n = 4"
    assert t.loc["gvhd", "published"] == "0/5"
    assert t.loc["icans_severe", "published"] == ""
    assert t.loc["crs_severe", "display"] == "2/5 (40.0%)"
    from analysis_lib.stats.proportions import clopper_pearson
    lo, hi = clopper_pearson(2, 5)
    assert t.loc["crs_severe", ["ci_low", "ci_high"]].tolist() == [100 * lo, 100 * hi]


def test_continuous_summaries_mark_a_censored_maximum():
    s = toxicity.continuous_summaries(ae_frame()).set_index("key")
    assert s.loc["anc_nadir", ["n", "median", "min", "max"]].tolist() == [4, 0.55, 0.1, 1.5]
    # peak among the 3 elevated: 20, 400, 5000 (the last above the limit)
    assert s.loc["il6_peak", "display"] == "400.0 (20.0–>5,000)"
    assert s.loc["il6_peak", "published"] == "33.3 (7.6–>5000)"  # as the paper prints it
    assert bool(s.loc["il6_peak", "max_censored"])
    assert s.loc["il6_peak_day", ["n", "median"]].tolist() == [3, 9.0]


def test_grade_distribution_adds_grades_beyond_the_default_range():
    d = toxicity.grade_distribution(pd.DataFrame({"g": [0, 0, 2, 5]}), "g")
    assert d["grade"].tolist() == [0, 1, 2, 3, 4, 5]
    assert d["n"].tolist() == [2, 0, 1, 0, 0, 1]


def test_risk_factor_cut_points_are_strict():
    p = pd.DataFrame({"sex": ["female", "male"], "age_years": [10.0, 10.5],
                      "genetic_risk": ["high", "low_intermediate"],
                      "prior_hsct": pd.array([True, False], dtype="boolean"),
                      "prior_cart": pd.array([False, True], dtype="boolean"),
                      "enrolment_reason": ["chemo_intolerance", "mrd_reemergence"],
                      "mrd_pre_ld": [1e-3, 9.9e-4], "mrd_post_ld": [0.0, 1e-3],
                      "cart_dose_1e6_per_kg": [3.68, 3.67]})
    f, labels = toxicity.risk_factors(p)
    assert f.to_dict("list") == {
        "female": [1, 0], "age_over": [0, 1], "high_genetic_risk": [1, 0],
        "no_prior_hsct": [0, 1], "no_prior_cart": [1, 0], "chemo_intolerance": [1, 0],
        "pre_ld_mrd_low": [0, 1], "post_ld_mrd_low": [1, 0], "dose_low": [0, 1]}
    assert labels["pre_ld_mrd_low"] == "Pre-LD MRD < 10⁻³"


def test_univariate_screen_rules():
    X, y = table_data(0, 10, 4, 8)
    factors = X.rename(columns={"x": "sep"}).assign(const=1, plain=[0, 1] * 11)
    lr, _ = toxicity.univariate_screen(factors, y, test="lr")
    wald, _ = toxicity.univariate_screen(factors, y, test="wald")
    lr, wald = lr.set_index("term"), wald.set_index("term")
    assert lr.loc["sep", "selected"] and not wald.loc["sep", "selected"]  # Wald drops it
    assert lr.loc["const", "separation"] == "constant" and not lr.loc["const", "selected"]
    assert lr.loc["sep", ["n_exposed", "events_exposed", "n_unexposed", "events_unexposed"]
                  ].tolist() == [10, 0, 12, 4]
    with pytest.raises(ValueError):
        toxicity.univariate_screen(factors, y, test="score")


def test_published_table2_comes_from_the_registry_and_agrees_with_the_audit():
    from analysis_lib.paper import feasibility
    t = toxicity.published_table2()
    assert len(t) == 13 and t["model"].value_counts().to_dict() == {
        "univariate": 5, "model 1": 4, "model 2": 4}
    row = t[(t.model == "model 2") & (t.term == "female")].iloc[0]
    assert (row["or"], row["lower"], row["upper"], row["p"]) == feasibility.MV2_FEMALE
    assert (row["or_text"], row["p_text"]) == ("0.185 (0.017–62.070)", "0.171")  # as printed
    uni = t[t.model == "univariate"].set_index("finding")
    for key, _label, _n, est, lo, hi, p in feasibility.TABLE2_UNIVARIATE:
        assert tuple(uni.loc[key, ["or", "lower", "upper", "p"]]) == (est, lo, hi, p)
    for key in t["finding"]:
        assert toxicity.finding(key).key == key


def test_dose_threshold_comparison_counts_patients_between_cuts():
    p = pd.DataFrame({"cart_dose_1e6_per_kg": [1.0, 3.66, 3.67, 3.68, 5.0, 6.0],
                      "crs_grade": pd.array([0, 3, 0, 4, 3, 1], dtype="Int64"),
                      "icans_grade": pd.array([0] * 6, dtype="Int64")})
    d = toxicity.dose_threshold_comparison(p, (3.66, 3.68)).set_index("cut")
    assert d.loc[3.66, ["n_below", "events_below", "n_above", "events_above", "n_between"]
                 ].tolist() == [1, 0, 5, 3, 0]
    assert d.loc[3.68, ["n_below", "events_below", "n_above", "events_above", "n_between"]
                 ].tolist() == [3, 1, 3, 2, 2]


def test_il6_odds_ratios_on_the_shipped_cohort_follow_the_two_by_two_table():
    p = shipped_patients()
    t = toxicity.il6_odds_ratios(p).set_index("outcome")
    el = p["il6_elevated"].astype(bool)
    sev = p["crs_grade"].astype(int) >= 3
    r = t.loc["crs_severe"]
    assert (r.a, r.b, r.c, r.d) == (int((el & sev).sum()), int((el & ~sev).sum()),
                                    int((~el & sev).sum()), int((~el & ~sev).sum()))
    hald = (r.a + .5) * (r.d + .5) / ((r.b + .5) * (r.c + .5))
    assert r.or_firth == pytest.approx(hald, rel=1e-9)
    assert r.published_or == 5.25 and r.finding == "il6_or_severe_crs"


def test_burden_and_outcomes_two_by_two_tables():
    p = pd.DataFrame({"mrd_pre_ld": [0.0, 1e-3, 2e-3, 1e-5, np.nan, 0.05],
                      "mrd_post_ld": [0.0, 0.0, 1e-3, 0.0, 0.0, 0.01],
                      "crs_grade": pd.array([0, 3, 4, 1, 3, 2], dtype="Int64"),
                      "icans_grade": pd.array([0, 1, 0, 0, 0, 2], dtype="Int64")})
    b = toxicity.burden_and_outcomes(p).set_index(["exposure", "outcome"])
    r = b.loc[("pre_ld_mrd_high", "crs_severe")]  # MRD >= 1e-3: 1e-3, 2e-3, 0.05
    assert (r.n, r.a, r.b, r.c, r.d) == (5, 2, 1, 0, 2)
    r = b.loc[("post_ld_mrd_high", "icans_any")]  # 1e-3 and 0.01: one ICANS (0.01)
    assert (r.n, r.a, r.b, r.c, r.d) == (6, 1, 1, 1, 3)
    f = contingency.fisher_exact(1, 1, 1, 3)
    assert r.fisher_p == pytest.approx(f.p) and r.cond_or == pytest.approx(f.odds_ratio)


def test_or_estimates_explain_separation():
    screen = pd.DataFrame({
        "term": ["a", "b", "c"], "label": ["A", "B", "C"], "n_exposed": [10, 10, 10],
        "events_exposed": [0, 3, 4], "n_unexposed": [40, 40, 40],
        "events_unexposed": [8, 5, 4], "infinite": ["-inf", "", ""],
        "or_ml": [0.0, 2.5, 4.8], "wald_p": [np.nan, 0.2, 0.03], "separation":
        ["quasi-complete", "none", "none"]})
    est = toxicity.or_estimates(screen).set_index("slug")
    assert "zero" in est.loc["a", "not_estimable"]
    assert "no events among the 10 patients with it" in est.loc["a", "not_estimable"]
    assert est.loc["b", "not_estimable"] == "" and est.loc["c", "p"] == 0.03


def test_odds_ratios_are_written_by_the_books_formatter():
    f = toxicity.ratio_ci
    assert f(0.34, 0.11, 1.07) == "0.34 (0.11–1.07)"
    assert f(0.0348, 0.00108, 0.310) == "0.035 (0.0011–0.31)"  # no raw 0.00108
    assert f(0.0125, 2.7e-4, 0.145) == "0.013 (2.7×10⁻⁴–0.14)"
    assert f(6.21, 0.673, np.inf) == "6.21 (0.67–∞)"
    assert f(2.5, np.nan, np.nan) == "2.50"
    # infinite or zero: not estimable, with the reason and a finite limit when there is one
    assert f(np.inf, 0.501, np.inf, "a zero cell") == "not estimable (a zero cell; CI 0.50–∞)"
    assert f(0.0, 0.0, 0.2) == "not estimable (CI 0–0.20)"
    assert f(np.inf, np.nan, np.nan, "separation") == "not estimable (separation)"
    assert f(np.nan, 1, 2) == "–"
    assert toxicity.zero_cell_reason(8, 31, 0, 11, "elevated IL-6", "severe CRS") == (
        "no severe CRS among the 11 patients without elevated IL-6")
    assert toxicity.zero_cell_reason(5, 0, 2, 9, "x", "CRS") == "CRS in all 5 patients with x"


# ---------------------------------------------------------------------------------------
# The chapter's entry point and its results object


@pytest.fixture(scope="module")
def shipped_results() -> toxicity.ToxicityResults:
    return toxicity.analyse(shipped_patients())


def test_results_glue_plain_values_and_every_key_the_map_and_claims_read(shipped_results):
    from analysis_lib.paper import scorecard

    g = shipped_results.glue
    assert all(type(v) in (int, float, str) for v in g.values()), \
        {k: type(v) for k, v in g.items() if type(v) not in (int, float, str)}
    m = scorecard.load_map()
    for key in m.loc[m["chapter"] == "toxicity", "glue_key"]:
        assert key in g, key
    c = scorecard.load_claims()
    for r in c[c["chapter"] == "toxicity"].itertuples():
        for k in (r.p_keys + ";" + r.effect_keys).split(";"):
            assert not k.strip() or k.strip() in g, k


def test_results_agree_with_the_library_functions(shipped_results):
    p = shipped_patients()
    g = shipped_results.glue
    f, labels = toxicity.risk_factors(p)
    y = toxicity.outcomes(p)["crs_severe"].astype(int)
    screen, _ = toxicity.univariate_screen(f, y, labels)
    assert g["n_selected"] == int(screen["selected"].sum())
    a = toxicity.risk_model(f, y, toxicity.MODEL_1)
    t = a.odds_ratios().set_index("term")
    assert g["m1_or__pre_ld_mrd_low"] == t.loc["pre_ld_mrd_low", "or_ml"]
    assert g["m1_p__pre_ld_mrd_low"] == t.loc["pre_ld_mrd_low", "wald_p"]
    assert g["uni_or__female"] == screen.set_index("term").loc["female", "or_ml"]


def test_table2_has_the_papers_layout_with_the_published_values_beside(shipped_results):
    from analysis_lib.analyses.cohort import Paired
    from analysis_lib.paper.scorecard import chapter_statuses

    t = shipped_results.tables["table2"]
    assert list(t.frame.columns) == ["Clinical factor", "Univariate: OR (95% CI)", "p",
                                     "Model 1: OR (95% CI)", "p", "Model 2: OR (95% CI)", "p"]
    assert t.frame["Clinical factor"].tolist() == [
        "Female", "No HSCT history", "Pre-LD MRD < 10⁻³", "Post-LD MRD < 10⁻³",
        "CAR-T dose < 3.68 ×10⁶/kg"]
    assert t.caption.startswith("Reproduces the paper's Table 2")
    cells = t.frame.to_numpy()
    # pre-LD MRD is not in model 2, post-LD MRD not in model 1
    assert cells[2, 5] == cells[2, 6] == cells[3, 3] == cells[3, 4] == "–"
    # the paper's values as printed in its Table 2
    assert (cells[0, 1].published, cells[0, 2].published) == ("0.544 (0.361–0.821)", "0.055")
    assert cells[0, 5].published == "0.185 (0.017–62.070)"
    assert (cells[4, 3].published, cells[4, 4].published) == ("0.089 (0.008–0.968)", "0.047")
    # the reproduced univariate OR of female sex is the cross-product ratio with Woolf's CI
    p = shipped_patients()
    sev = p["crs_grade"].astype(int) >= 3
    fem = p["sex"] == "female"
    a, b, c, d = (int((fem & sev).sum()), int((fem & ~sev).sum()), int((~fem & sev).sum()),
                  int((~fem & ~sev).sum()))
    est, se = a * d / (b * c), math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    z = stats.norm.ppf(0.975)
    assert cells[0, 1].reproduced == formatting.estimate_ci(
        est, est * math.exp(-z * se), est * math.exp(z * se))
    # every status is the scorecard's, from the chapter's own glued values
    st = chapter_statuses("toxicity", shipped_results.glue)
    keys = {(0, 1): "or_severe_crs_female", (0, 2): "or_severe_crs_female_p",
            (2, 3): "mv1_or_pre_ld_low", (3, 6): "mv2_or_post_ld_low_p"}
    for (i, j), key in keys.items():
        assert isinstance(cells[i, j], Paired) and cells[i, j].status == st.loc[key, "status"]


def test_tables_s3_and_s4_show_the_papers_values_with_the_scorecard_status(shipped_results):
    from analysis_lib.paper.scorecard import MATCH, chapter_statuses

    st = chapter_statuses("toxicity", shipped_results.glue)
    ae = shipped_results.tables["adverse_events"]
    assert ae.caption.startswith("Reproduces the paper's Supplementary Table S3")
    rows = ae.frame.set_index("Event")
    pct = rows.loc["CRS, any grade", "%"]
    assert (pct.published, pct.status) == ("68.0%", st.loc["crs_pct", "status"])
    nn = rows.loc["Grade 4 neutropenia", "n/N"]  # Table 3's count (the kinetics chapter maps it)
    assert (nn.published, nn.status) == ("24/50", MATCH)
    assert rows.loc["ICANS, grade ≥3", "%"].published == ""  # not in the paper's text
    s4 = shipped_results.tables["screen"]
    assert s4.caption.startswith("Reproduces the paper's Supplementary Table S4")
    f = s4.frame.set_index("Factor")
    assert f.loc["Female", "ML OR (Wald CI)"].published == "0.544 (0.361–0.821)"
    assert f.loc["Age > 10 years", "ML OR (Wald CI)"].published == ""


def test_no_number_in_the_chapters_tables_escapes_the_formatter(shipped_results):
    from htmlscan import RAW

    for name, t in shipped_results.tables.items():
        texts = [t.caption, *map(str, t.frame.columns)]
        texts += [str(v) for v in t.render().to_numpy().ravel()]
        for text in texts:
            for what, pat in RAW:
                assert not pat.search(text), (name, what, text)
    for key, v in shipped_results.glue.items():
        if isinstance(v, str):
            for what, pat in RAW:
                assert not pat.search(v), (key, what, v)


def test_each_paper_artefact_of_the_chapter_is_labelled_once_in_the_notebook():
    from analysis_lib.paper.artefacts import load_artefacts

    source = (ROOT / "notebooks" / "toxicity.py").read_text(encoding="utf-8")
    a = load_artefacts()
    labels = a.loc[a["chapter"] == "toxicity"].set_index("paper_label")["book_label"]
    assert labels.to_dict() == {"Table 2": "tbl-table2", "Table S3": "tbl-adverse-events",
                                "Table S4": "tbl-screen"}
    for label in labels:
        assert source.count(f'"{label}")') == 1, label


def test_figures_pass_the_books_checks(shipped_results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis_lib.book.figures import style
    from analysis_lib.book.figures import toxicity as plots

    figs = {"grades": plots.grade_distributions(shipped_results.grades),
            "forest": plots.odds_ratio_forest(shipped_results.models,
                                              shipped_results.published_models),
            "roc": plots.roc_curves(shipped_results.rocs)}
    for name, fig in figs.items():
        assert style.problems(fig) == [], name
        assert fig.get_figwidth() == pytest.approx(style.WIDTH), name
    fig = figs["grades"]
    fig.canvas.draw()
    for ax in fig.axes:  # count axes: integer ticks only
        assert all(float(v).is_integer() for v in ax.get_yticks())
    # the forest plot shows the paper's Table 2 beside the two fits: three series per panel
    assert [len(ax.collections) >= 3 for ax in figs["forest"].axes[:2]] == [True, True]
    labels = [t.get_text() for t in figs["forest"].legends[0].get_texts()]
    assert labels[-1] == "Paper's Table 2 (Wald CI)"
    for fig in figs.values():
        plt.close(fig)


# ---------------------------------------------------------------------------------------
# R parity (live)

R_HELPERS = r"""
suppressPackageStartupMessages({library(MASS); library(brglm2)})
fitc <- glm.control(epsilon = 1e-14, maxit = 100)
exact_profile <- function(f, j, side) {
  X <- model.matrix(f); y <- f$y; est <- coef(f)[j]; se <- sqrt(diag(vcov(f)))[j]
  crit <- qchisq(0.95, 1)
  # IRLS without step-halving can stall from a poor start; the profile deviance is the
  # minimum over the nuisance coefficients, so take the better of two starts.
  dev <- function(b, ...) suppressWarnings(glm.fit(X[, -j, drop = FALSE], y, offset = b * X[, j],
                                                   family = binomial(), control = fitc, ...))$deviance
  g <- function(b) min(dev(b), dev(b, start = coef(f)[-j])) - f$deviance - crit
  step <- min(max(se, 0.1), 2)
  if (side < 0) uniroot(g, c(est - step, est), extendInt = "downX", tol = 1e-13)$root
  else uniroot(g, c(est, est + step), extendInt = "upX", tol = 1e-13)$root
}
pl <- function(beta, X, y) {
  eta <- drop(X %*% beta); mu <- plogis(eta)
  sum(y * eta - ifelse(eta > 0, eta + log1p(exp(-eta)), log1p(exp(eta)))) +
    0.5 * as.numeric(determinant(crossprod(X, X * (mu * (1 - mu))), logarithm = TRUE)$modulus)
}
pl_grad <- function(beta, X, y) {
  mu <- plogis(drop(X %*% beta)); w <- mu * (1 - mu)
  h <- rowSums((X %*% solve(crossprod(X, X * w))) * X) * w
  drop(crossprod(X, y - mu + h * (0.5 - mu)))
}
pl_profile <- function(X, y, j, b, start) {
  fn <- function(th) { be <- numeric(ncol(X)); be[j] <- b; be[-j] <- th; -pl(be, X, y) }
  gr <- function(th) { be <- numeric(ncol(X)); be[j] <- b; be[-j] <- th; -pl_grad(be, X, y)[-j] }
  o <- optim(start[-j], fn, gr, method = "BFGS", control = list(reltol = 1e-16, maxit = 5000))
  o <- optim(o$par, fn, gr, method = "BFGS", control = list(reltol = 1e-16, maxit = 5000))
  -o$value
}
firth_ref <- function(formula, d) {
  b <- glm(formula, family = binomial, data = d, method = "brglmFit", type = "AS_mean",
           epsilon = 1e-12, maxit = 500)
  X <- model.matrix(b); y <- b$y; est <- coef(b); pmax <- pl(est, X, y)
  crit <- qchisq(0.95, 1); se <- sqrt(diag(vcov(b)))
  rows <- lapply(seq_along(est), function(j) {
    g <- function(v) 2 * (pmax - pl_profile(X, y, j, v, est)) - crit
    lo <- uniroot(g, c(est[j] - se[j], est[j]), extendInt = "downX", tol = 1e-11)$root
    hi <- uniroot(g, c(est[j], est[j] + se[j]), extendInt = "upX", tol = 1e-11)$root
    chi <- 2 * (pmax - pl_profile(X, y, j, 0, est))
    data.frame(coef = est[j], se = se[j], lower = lo, upper = hi, chi2 = chi)
  })
  do.call(rbind, rows)
}
ml_ref <- function(formula, d, profile = TRUE) {
  f <- glm(formula, family = binomial, data = d, control = fitc)
  s <- summary(f)$coefficients; w <- confint.default(f)
  out <- data.frame(coef = s[, 1], se = s[, 2], wald_lo = w[, 1], wald_hi = w[, 2])
  if (profile) {
    pr <- suppressMessages(confint(f))
    out$mass_lo <- pr[, 1]; out$mass_hi <- pr[, 2]
    out$exact_lo <- sapply(seq_len(nrow(s)), function(j) exact_profile(f, j, -1))
    out$exact_hi <- sapply(seq_len(nrow(s)), function(j) exact_profile(f, j, 1))
    out$lr_p <- c(NA, sapply(attr(terms(f), "term.labels"), function(t)
      anova(update(f, as.formula(paste(". ~ . -", t))), f, test = "Chisq")[2, "Pr(>Chi)"]))
  }
  out
}
"""


@pytest.fixture(scope="module")
def brglm2() -> None:
    """R's brglm2 and MASS must load: skipped locally without them, a failure in CI (where
    ``.ci/run`` installs r-cran-brglm2), like the other parity tests without R."""
    import subprocess

    from conftest import in_ci
    from rparity import rscript_path
    exe = rscript_path()
    ok = exe is not None and subprocess.run(
        [exe, "--vanilla", "-e", 'quit(status = if (all(sapply(c("brglm2", "MASS"), '
         'requireNamespace, quietly = TRUE))) 0 else 1)'],
        capture_output=True, timeout=120, check=False).returncode == 0
    if not ok:
        msg = "R package brglm2 or MASS missing (Debian: r-cran-brglm2)"
        if in_ci():
            pytest.fail(msg + "; CI must provide it", pytrace=False)
        pytest.skip(msg)


def _close(actual, expected, quantity: str, rtol: float, atol: float = 0.0) -> None:
    from rparity import record_difference

    record_difference(quantity, actual, expected)
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float),
                               rtol=rtol, atol=atol, err_msg=quantity)


def _formula(X: pd.DataFrame) -> str:
    return "y ~ " + " + ".join(X.columns)


@pytest.fixture(scope="module")
def r_logistic(brglm2):
    """R results for the overlapping data sets: seeded continuous covariates, the shipped
    cohort's model 1, and brglm2's endometrial data (Heinze & Schemper's separation example)
    for Firth only (its NV coefficient is infinite by ML)."""
    from rparity import run_r
    X, y = seeded()
    m1X, m1y = shipped_models()["model1"]
    sets = {"seeded": X.assign(y=y), "model1": m1X.assign(y=m1y)}
    script = R_HELPERS + "\n".join(
        f'write_output("{k}_ml", ml_ref({_formula(v.drop(columns="y"))}, {k}))\n'
        f'write_output("{k}_firth", firth_ref({_formula(v.drop(columns="y"))}, {k}))'
        for k, v in sets.items()) + r"""
data(endometrial)
e <- data.frame(NV = endometrial$NV, PI = endometrial$PI, EH = endometrial$EH, y = endometrial$HG)
write_output("endometrial_data", e)
write_output("endometrial_firth", firth_ref(y ~ NV + PI + EH, e))
"""
    out = run_r(script, sets)
    out["sets"] = {**{k: (v.drop(columns="y"), v["y"].to_numpy(float)) for k, v in sets.items()},
                   "endometrial": (out["endometrial_data"][["NV", "PI", "EH"]],
                                   out["endometrial_data"]["y"].to_numpy(float))}
    return out


@pytest.mark.r_parity
@pytest.mark.parametrize("name", ["seeded", "model1"])
def test_ml_coef_se_wald_profile_vs_glm(r_logistic, name):
    X, y = r_logistic["sets"][name]
    r = r_logistic[f"{name}_ml"]
    fit = logistic_regression(X, y)
    _close(fit.coef, r["coef"], "glm coefficient", 1e-6)
    _close(fit.se, r["se"], "glm standard error", 1e-6)
    w = regression.wald_confint(fit.coef, fit.se, fit.names)
    _close(w["lower"], r["wald_lo"], "Wald CI (confint.default)", 1e-6)
    _close(w["upper"], r["wald_hi"], "Wald CI (confint.default)", 1e-6)
    pr = profile_confint(X, y)
    _close(pr["lower"], r["exact_lo"], "profile CI (R uniroot on glm.fit deviance)", 1e-6, 1e-9)
    _close(pr["upper"], r["exact_hi"], "profile CI (R uniroot on glm.fit deviance)", 1e-6, 1e-9)
    # MASS confint(glm) interpolates a spline through a grid of profile points.
    _close(pr["lower"], r["mass_lo"], "profile CI (MASS confint.glm, spline)", 0, 5e-3)
    _close(pr["upper"], r["mass_hi"], "profile CI (MASS confint.glm, spline)", 0, 5e-3)
    _close(pr["p"].iloc[1:], r["lr_p"].iloc[1:], "likelihood-ratio p (anova)", 1e-6, 1e-12)


@pytest.mark.r_parity
@pytest.mark.parametrize("name", ["seeded", "model1", "endometrial"])
def test_firth_vs_brglm2_and_r_profile_penalised_likelihood(r_logistic, name):
    X, y = r_logistic["sets"][name]
    r = r_logistic[f"{name}_firth"]
    f = firth_logistic_regression(X, y)
    _close(f.coef, r["coef"], "Firth coefficient (brglm2 AS_mean)", 1e-6, 1e-10)
    _close(f.se, r["se"], "Firth standard error (brglm2)", 1e-6)
    fp = firth_profile_confint(X, y)
    _close(fp["lower"], r["lower"], "Firth profile penalised CI (base-R transcription)", 1e-5, 1e-7)
    _close(fp["upper"], r["upper"], "Firth profile penalised CI (base-R transcription)", 1e-5, 1e-7)
    _close(fp["lr_chi2"], r["chi2"], "Firth penalised LR chi2 (base-R transcription)", 1e-5, 1e-8)


@pytest.mark.r_parity
def test_separated_model_vs_glm(brglm2):
    """Model 2 on a cohort with quasi-complete separation (:data:`SEPARATED_SEED`): R's glm
    coefficients for the separated term keep growing with the iteration limit exactly where
    the LP finds an infinite estimate; the finite profile limits match R's exact profile; the
    Firth fit matches brglm2. (R's own confint(glm) is not used here: on separated data its
    limits are unreliable.)"""
    from rparity import run_r

    from analysis_lib.synthetic.generator import generate_cohort
    X, y = shipped_models(generate_cohort(seed=SEPARATED_SEED).patients)["model2"]
    d = X.assign(y=y)
    fml = _formula(X)
    out = run_r(R_HELPERS + f"""
c20 <- coef(suppressWarnings(glm({fml}, family = binomial, data = d,
            control = glm.control(epsilon = 1e-300, maxit = 20))))
c40 <- coef(suppressWarnings(glm({fml}, family = binomial, data = d,
            control = glm.control(epsilon = 1e-300, maxit = 40))))
f <- suppressWarnings(glm({fml}, family = binomial, data = d, control = fitc))
diverging <- abs(c40 - c20) > 1
lo <- hi <- rep(NA_real_, length(c20))
for (j in seq_along(c20)) {{
  if (!diverging[j]) {{ lo[j] <- exact_profile(f, j, -1); hi[j] <- exact_profile(f, j, 1) }}
  else if (c40[j] < 0) hi[j] <- exact_profile(f, j, 1) else lo[j] <- exact_profile(f, j, -1)
}}
b <- glm({fml}, family = binomial, data = d, method = "brglmFit", type = "AS_mean",
         epsilon = 1e-12, maxit = 500)
write_output("res", data.frame(c20 = c20, c40 = c40, diverging = diverging, lo = lo, hi = hi,
                               firth = coef(b), firth_se = sqrt(diag(vcov(b)))))
""", {"d": d})["res"]
    sep = detect_separation(X, y)
    infinite = np.array([bool(sep.infinite(t)) for t in sep.names])
    assert sep.separated and (infinite == out["diverging"].astype(bool).to_numpy()).all()
    pr = profile_confint(X, y)
    for side, col in (("lower", "lo"), ("upper", "hi")):
        finite = out[col].notna().to_numpy()
        assert np.isinf(pr[side].to_numpy()[~finite]).all()
        _close(pr[side].to_numpy()[finite], out[col].to_numpy()[finite],
               "profile CI under separation (R exact profile)", 1e-6, 1e-9)
    f = firth_logistic_regression(X, y)
    _close(f.coef, out["firth"], "Firth coefficient (brglm2 AS_mean)", 1e-6, 1e-10)
    _close(f.se, out["firth_se"], "Firth standard error (brglm2)", 1e-6)


@pytest.mark.r_parity
def test_fisher_exact_vs_fisher_test():
    from rparity import run_r
    cells = pd.DataFrame([(6, 4, 3, 12), (1, 22, 7, 20), (8, 31, 0, 11), (1, 24, 7, 18),
                          (5, 34, 0, 11), (2, 2, 9, 1)], columns=list("abcd"))
    r = run_r("""
res <- do.call(rbind, lapply(seq_len(nrow(cells)), function(i) {
  t <- fisher.test(matrix(unlist(cells[i, ]), 2, byrow = TRUE))
  data.frame(p = t$p.value, est = unname(t$estimate), lo = t$conf.int[1], hi = t$conf.int[2])
}))
write_output("res", res)
""", {"cells": cells})["res"]
    py = [contingency.fisher_exact(*row) for row in cells.itertuples(index=False)]
    _close([x.p for x in py], r["p"], "Fisher p (fisher.test)", 1e-9)
    # R solves for psi on (0, 1) and for 1/psi beyond 1 with uniroot's default tolerance
    # (1.2e-4), so compare min(psi, 1/psi) to 2e-4 absolute; the exact roots are checked in
    # test_fisher_exact_solves_its_defining_equations.
    folded = lambda v: np.where(np.asarray(v, float) > 1, 1 / np.asarray(v, float),  # noqa: E731
                                np.asarray(v, float))
    for attr, col, what in (("odds_ratio", "est", "conditional MLE"), ("lower", "lo", "exact CI"),
                            ("upper", "hi", "exact CI")):
        mine = [getattr(x, attr) for x in py]
        assert list(np.isinf(mine)) == list(np.isinf(r[col]))
        _close(mine, r[col], f"Fisher {what} (fisher.test; R's uniroot tol 1e-4)", 0.01)
        np.testing.assert_allclose(folded(mine), folded(r[col]), rtol=0, atol=2e-4)


@pytest.mark.r_parity
def test_auc_vs_wilcox_test():
    from rparity import run_r
    p = shipped_patients()
    d = pd.DataFrame({"m": p["il6_peak_pg_per_ml"].astype(float),
                      "crs": (p["crs_grade"].astype(int) >= 3).astype(int),
                      "icans": (p["icans_grade"].astype(int) >= 1).astype(int)})
    r = run_r("""
auc <- function(e) { w <- wilcox.test(d$m[e == 1], d$m[e == 0], exact = FALSE)$statistic
                     unname(w) / (sum(e == 1) * sum(e == 0)) }
write_output("res", data.frame(crs = auc(d$crs), icans = auc(d$icans)))
""", {"d": d})["res"].iloc[0]
    for col in ("crs", "icans"):
        _close([stats_roc.delong_auc(d["m"], d[col].astype(bool))[0]], [r[col]],
               "AUC (wilcox.test W / n1 n0)", 1e-12)


# ---------------------------------------------------------------------------------------
# The notebook


@pytest.mark.slow
def test_notebook_glues_the_library_results(tmp_path: Path):
    from analysis_lib.book.pipeline import ROOT as PROOT
    from analysis_lib.book.pipeline import execute_notebook, notebook_parameters
    from analysis_lib.book.report import glued_values
    from analysis_lib.synthetic.generator import generate_cohort, write_cohort

    data = tmp_path / "data"
    write_cohort(generate_cohort(n=300, seed=5), data)
    source = PROOT / "notebooks" / "toxicity.py"
    params = notebook_parameters("toxicity", source, data)
    res = execute_notebook("toxicity", source, params, tmp_path / "work")
    assert res.status == "executed", res.error
    g = glued_values(tmp_path / "work" / "toxicity.ipynb")

    p = load_dataset(data).tables["patients"]
    assert g["n_patients"] == len(p) == 300
    ae = toxicity.adverse_event_table(p).set_index("key")
    for key in ae.index:
        assert g[f"ae_{key}_k"] == ae.loc[key, "k"] and g[f"ae_{key}_n"] == ae.loc[key, "n"]
    summ = toxicity.continuous_summaries(p).set_index("key")
    assert g["anc_nadir_median"] == summ.loc["anc_nadir", "median"]
    assert g["il6_peak_text"] == summ.loc["il6_peak", "display"]

    f, labels = toxicity.risk_factors(p)
    y = toxicity.outcomes(p)["crs_severe"].astype(int)
    screen, _ = toxicity.univariate_screen(f, y, labels)
    assert g["n_selected"] == int(screen["selected"].sum())
    for m, terms in ((1, toxicity.MODEL_1), (2, toxicity.MODEL_2)):
        a = toxicity.risk_model(f, y, terms)
        assert g[f"m{m}_epv"] == pytest.approx(a.epv) and g[f"m{m}_events"] == a.events
        assert g[f"m{m}_separation"] == toxicity.describe_separation(a, labels)
        row = a.odds_ratios().set_index("term").loc[terms[2]]
        assert g[f"m{m}_{terms[2]}_firth"].startswith(formatting.ratio(row["or_firth"]) + " (")

    il6 = toxicity.il6_odds_ratios(p).set_index("outcome")
    assert g["il6_crs_severe_fisher_p"] == pytest.approx(il6.loc["crs_severe", "fisher_p"])
    marker = p["il6_peak_pg_per_ml"].astype(float)
    roc = stats_roc.roc_analysis(marker, toxicity.outcomes(p)["crs_severe"])
    assert g["roc_crs_severe_auc"] == pytest.approx(roc.auc)
    assert g["roc_crs_severe_lower"] == pytest.approx(roc.lower)
    dose = toxicity.dose_threshold_comparison(p).set_index("cut")
    assert g["dose_table_n_between"] == dose.loc[3.68, "n_between"]
    for k in ("fig_forest", "fig_roc", "fig_grades"):  # glued figures (SVG: their repr)
        assert str(g[k]).startswith(("<figure>", "<Figure size")), (k, g[k])
    assert not [k for k, v in g.items() if isinstance(v, str) and v.startswith("np.")]
    out = tmp_path / "work" / "outputs" / "toxicity"
    for t in toxicity.analyse(p).tables.values():
        assert (out / f"{t.file}.csv").is_file() and (out / f"{t.file}.csv.json").is_file()
    table2 = pd.read_csv(out / "table2.csv")  # plain CSV, no options needed
    assert len(table2) == 13 and set(table2["model"]) == {"univariate", "model 1", "model 2"}
