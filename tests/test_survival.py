"""Unit tests of the survival chapter's methods on small cases worked out by hand.

Each expected value below is derived in the comment next to it from the definitions (product
limit, hypergeometric log-rank variance, partial likelihood), not taken from the code under
test. R parity on real data sets is in ``test_survival_parity.py``; the chapter's papermill
run is at the end (``slow``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_lib.analyses import survival as survival_analyses
from analysis_lib.core import formatting
from analysis_lib.stats import competing_risks as cr
from analysis_lib.stats import cox
from analysis_lib.stats import survival as sv

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------
# Log-rank (K groups, stratified)

def test_survdiff_two_groups_by_hand():
    # A: deaths at 1 and 3; B: death at 2, censored at 4.
    # t=1: n=4, nA=2, d=1 -> E_A=1/2, V=(2/4)(2/4)=1/4
    # t=2: n=3, nA=1, d=1 -> E_A=1/3, V=(1/3)(2/3)=2/9
    # t=3: n=2, nA=1, d=1 -> E_A=1/2, V=1/4
    # O_A=2, E_A=4/3, V=13/18 -> chi2=(2/3)^2/(13/18)=8/13
    t = [1, 3, 2, 4]
    e = [1, 1, 1, 0]
    g = ["A", "A", "B", "B"]
    r = sv.survdiff(t, e, g)
    assert r.groups == ("A", "B")
    assert r.observed == pytest.approx([2, 1])
    assert r.expected == pytest.approx([4 / 3, 5 / 3])
    assert r.variance[0, 0] == pytest.approx(13 / 18)
    assert r.variance[0, 1] == pytest.approx(-13 / 18)
    assert r.chi2 == pytest.approx(8 / 13)
    assert r.df == 1
    # the existing two-group test agrees
    lr = sv.logrank_test(t, e, np.array(g) == "B")
    assert lr.chi2 == pytest.approx(r.chi2)


def test_survdiff_stratified_sums_strata():
    # Two identical strata: O - E and V double, so chi2 doubles: 16/13.
    t = [1, 3, 2, 4] * 2
    e = [1, 1, 1, 0] * 2
    g = ["A", "A", "B", "B"] * 2
    s = [1] * 4 + [2] * 4
    r = sv.survdiff(t, e, g, strata=s)
    assert r.chi2 == pytest.approx(16 / 13)
    assert r.variance[0, 0] == pytest.approx(13 / 9)


def test_survdiff_tied_deaths_use_hypergeometric_variance():
    # Both groups of 2; all four die at t=1: V = d (n-d)/(n-1) * p(1-p) = 4*0/3*.. = 0.
    # One death in A and one in B at t=1, the rest censored at 2:
    # V = 2*(4-2)/(4-1) * (1/2)(1/2) = 1/3; O_A - E_A = 1 - 1 = 0 -> chi2 0.
    r = sv.survdiff([1, 2, 1, 2], [1, 0, 1, 0], ["A", "A", "B", "B"])
    assert r.variance[0, 0] == pytest.approx(1 / 3)
    assert r.chi2 == pytest.approx(0.0)


def test_survdiff_three_groups_df_and_empty_expected_group():
    t = np.arange(1, 10)
    e = np.ones(9)
    g = ["a", "b", "c"] * 3
    r = sv.survdiff(t, e, g)
    assert r.df == 2 and r.chi2 >= 0
    # a group censored before every event has expected 0 and is dropped (R: df - 1)
    r2 = sv.survdiff([1, 2, 3, 0.5], [1, 1, 0, 0], ["a", "b", "a", "z"])
    assert r2.expected[2] == 0
    assert r2.df == 1


# ------------------------------------------------------------------------------------------
# Counting-process Kaplan–Meier, number at risk, tables

def test_kaplan_meier_counting_by_hand():
    # rows (start, stop, event): at risk at t = #{start < t <= stop}
    start = [0, 0, 0, 2, 0, 3, 1]
    stop = [2, 5, 3, 6, 4, 7, 8]
    ev = [0, 1, 1, 1, 0, 1, 0]
    km = sv.kaplan_meier_counting(start, stop, ev)
    assert km.time.tolist() == [2, 3, 4, 5, 6, 7, 8]
    # t=2: (0,2],(0,5],(0,3],(0,4],(1,8] -> 5; t=3: (0,5],(0,3],(2,6],(0,4],(1,8] -> 5
    # t=4: (0,5],(2,6],(0,4],(3,7],(1,8] -> 5; t=5: 4; t=6: 3; t=7: 2; t=8: 1
    assert km.n_risk.tolist() == [5, 5, 5, 4, 3, 2, 1]
    # S: 1, 4/5, 4/5, 4/5*3/4=0.6, 0.6*2/3=0.4, 0.4*1/2=0.2, 0.2
    assert km.surv == pytest.approx([1, 0.8, 0.8, 0.6, 0.4, 0.2, 0.2])
    # Greenwood at t=3: 1/(5*4) -> se = sqrt(0.05)
    assert km.std_err[1] == pytest.approx(math.sqrt(0.05))


def test_kaplan_meier_counting_without_delayed_entry_is_kaplan_meier():
    rng = np.random.default_rng(1)
    t = rng.integers(1, 30, 80).astype(float)
    e = rng.integers(0, 2, 80)
    a = sv.kaplan_meier(t, e)
    b = sv.kaplan_meier_counting(np.zeros(80), t, e)
    np.testing.assert_allclose(a.surv, b.surv)
    np.testing.assert_allclose(a.std_err, b.std_err)
    assert a.n_risk.tolist() == b.n_risk.tolist()


def test_number_at_risk_and_survival_table():
    t = [1, 2, 2, 3, 5]
    e = [1, 1, 0, 1, 0]
    assert sv.number_at_risk(t, [0, 2, 2.5, 5, 6]).tolist() == [5, 4, 2, 1, 0]
    assert sv.number_at_risk([2, 5], [1, 3], start=[1.5, 0]).tolist() == [1, 1]
    km = sv.kaplan_meier(t, e)
    tab = sv.survival_table(km, [0.5, 2, 4], "plain")
    # S(2) = (4/5)(3/4) = 0.6; S(4) = 0.6 (1/2) = 0.3
    assert tab["surv"].tolist() == pytest.approx([1.0, 0.6, 0.3])
    assert tab["n_risk"].tolist() == [5, 4, 1]
    assert tab["n_event"].tolist() == [0, 2, 3]
    # Greenwood SE of log S(2), the curve's one scale: sqrt(1/(5*4) + 1/(4*3))
    assert tab["std_err"][1] == pytest.approx(math.sqrt(1 / 20 + 1 / 12))
    assert np.isnan(sv.survival_table(km, [6])["surv"][0])


def test_compare_groups_medians_and_logrank():
    t = [1, 2, 3, 4, 5, 6]
    e = [1, 1, 1, 1, 1, 1]
    g = ["x", "x", "x", "y", "y", "y"]
    cmp = sv.compare_groups(t, e, g, ["y", "x"])
    assert cmp.labels == ("y", "x")
    # group x: S = 2/3, 1/3, 0 -> median 2; group y: median 5
    assert cmp.medians["x"].estimate == 2 and cmp.medians["y"].estimate == 5
    assert cmp.logrank.chi2 == pytest.approx(sv.survdiff(t, e, g).chi2)
    assert cmp.at_risk([0, 2, 4])["x"].tolist() == [3, 2, 0]


# ------------------------------------------------------------------------------------------
# Cox partial likelihood

def test_cox_one_covariate_closed_form():
    # Deaths at 1 (x=1), 2 (x=0), 3 (x=1): L(b) = e^b/(2e^b+1) * 1/(e^b+1) * 1.
    # dlogL/db = 1 - 2u/(2u+1) - u/(u+1) = 0 with u = e^b  <=>  1 - 2u^2 = 0, u = 1/sqrt(2).
    # Information: 2u/(2u+1)^2 + u/(u+1)^2.
    fit = cox.coxph(pd.DataFrame({"x": [1, 0, 1]}), [1, 2, 3], [1, 1, 1])
    u = 1 / math.sqrt(2)
    assert fit.coef[0] == pytest.approx(math.log(u), abs=1e-12)
    info = 2 * u / (2 * u + 1) ** 2 + u / (u + 1) ** 2
    assert fit.se[0] == pytest.approx(1 / math.sqrt(info), rel=1e-12)
    assert fit.loglik == pytest.approx(math.log(u / (2 * u + 1)) - math.log(u + 1), rel=1e-12)
    # at b = 0: log(1/3) + log(1/2)
    assert fit.loglik_null == pytest.approx(-math.log(6))
    assert fit.converged and not fit.infinite.any()


def test_cox_efron_and_breslow_ties_by_hand():
    # Two tied deaths at 1 (x=1 and x=0) and a censoring at 2 (x=0).
    # Efron: logL(b) = b - log(e^b + 2) - log(e^b + 2 - (e^b + 1)/2);  at 0: -log 3 - log 2
    # Breslow: logL(b) = b - 2 log(e^b + 2);                              at 0: -2 log 3
    X = pd.DataFrame({"x": [1, 0, 0]})
    efron = cox.coxph(X, [1, 1, 2], [1, 1, 0])
    breslow = cox.coxph(X, [1, 1, 2], [1, 1, 0], ties="breslow")
    assert efron.loglik_null == pytest.approx(-math.log(3) - math.log(2))
    assert breslow.loglik_null == pytest.approx(-2 * math.log(3))
    # Breslow MLE: 1 - 2u/(u+2) = 0 -> u = 2
    assert breslow.coef[0] == pytest.approx(math.log(2), abs=1e-10)
    # Efron MLE: 1 - u/(u+2) - (u/2)/(u/2 + 3/2) = 0 -> u^2 + ... solve numerically from the
    # closed-form score and compare
    from scipy.optimize import brentq
    score = lambda b: 1 - np.exp(b) / (np.exp(b) + 2) - 0.5 * np.exp(b) / (0.5 * np.exp(b) + 1.5)
    assert efron.coef[0] == pytest.approx(brentq(score, -5, 5), abs=1e-10)


def test_cox_score_test_equals_logrank_without_ties():
    rng = np.random.default_rng(3)
    t = rng.permutation(np.arange(1.0, 61.0))
    e = rng.integers(0, 2, 60)
    g = rng.integers(0, 2, 60)
    fit = cox.coxph(pd.DataFrame({"g": g}), t, e)
    assert fit.score_test == pytest.approx(sv.survdiff(t, e, g).chi2, rel=1e-10)


def test_cox_counting_process_split_rows_give_the_same_fit():
    # Splitting each patient's follow-up at an arbitrary time, with the same covariates in
    # both pieces, leaves every risk set and so the partial likelihood unchanged.
    rng = np.random.default_rng(4)
    n = 40
    t = rng.integers(2, 50, n).astype(float)
    e = rng.integers(0, 2, n)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 2, n)})
    whole = cox.coxph(X, t, e)
    cut = np.floor(t / 2)
    start = np.concatenate([np.zeros(n), cut])
    stop = np.concatenate([cut, t])
    ev = np.concatenate([np.zeros(n), e])
    split = cox.coxph(pd.concat([X, X], ignore_index=True), stop, ev, start=start)
    np.testing.assert_allclose(split.coef, whole.coef, rtol=1e-10)
    np.testing.assert_allclose(split.se, whole.se, rtol=1e-10)
    assert split.loglik == pytest.approx(whole.loglik, rel=1e-12)


def test_cox_monotone_likelihood_is_flagged_infinite():
    # every event is in the x=1 group first, then nobody with x=1 is left: b -> +inf
    X = pd.DataFrame({"x": [1, 1, 0, 0, 0]})
    fit = cox.coxph(X, [1, 2, 3, 4, 5], [1, 1, 0, 0, 0])
    assert fit.infinite[0]


def test_exact_monotone_likelihood_names_the_infinite_coefficients():
    rng = np.random.default_rng(1)
    n = 40
    x = rng.integers(0, 2, n).astype(float)
    z = rng.normal(size=n)
    t = rng.exponential(1, n)
    e = rng.random(n) < 0.7
    # no events where x = 0: the hazard ratio of x is +infinity, z stays finite
    fit = cox.coxph(pd.DataFrame({"x": x, "z": z}), t, e & (x == 1))
    assert cox.monotone_likelihood(fit) == {"x": "+inf"}
    why = cox.not_estimable(fit)
    assert set(why) == {"x"} and "no events among the" in why["x"] and "reference" in why["x"]
    # the mirror image: no events where x = 1
    fit = cox.coxph(pd.DataFrame({"x": x, "z": z}), t, e & (x == 0))
    assert cox.monotone_likelihood(fit) == {"x": "-inf"}
    # overlapping data: every estimate finite
    fit = cox.coxph(pd.DataFrame({"x": x, "z": z}), t, e)
    assert cox.monotone_likelihood(fit) == {} and cox.not_estimable(fit) == {}
    # a continuous covariate that orders every event first in its risk set
    tt = np.arange(1.0, 11.0)
    fit = cox.coxph(pd.DataFrame({"w": -tt}), tt, np.ones(10))
    assert cox.monotone_likelihood(fit) == {"w": "+inf"}
    # strata and counting-process rows: risk sets stay within stratum and interval
    fit = cox.coxph(pd.DataFrame({"x": [1, 0, 1, 0]}), [2, 3, 2, 3], [1, 0, 1, 0],
                    start=[0, 0, 0, 0], strata=[1, 1, 2, 2])
    assert cox.monotone_likelihood(fit) == {"x": "+inf"}


def test_screen_and_fit_estimates_carry_the_reason():
    rng = np.random.default_rng(2)
    n = 30
    frame = pd.DataFrame({"A": rng.integers(0, 2, n).astype(float), "B": rng.normal(size=n)})
    design = cox.design_frame({"A": frame["A"], "B": frame["B"]}, {"A": "1 vs 0", "B": "per 1"})
    t = rng.exponential(1, n)
    e = (rng.random(n) < 0.8) & (frame["A"] == 1).to_numpy()
    scr = survival_analyses.univariate_screen(design, t, e)
    est = survival_analyses.screen_estimates(scr).set_index("slug")
    assert est.loc["a", "not_estimable"] and not est.loc["b", "not_estimable"]
    assert not scr.loc[scr["term"] == "A", "selected"].any()
    fit = survival_analyses.multivariable_cox(design, ["A", "B"], t, e)
    fe = survival_analyses.fit_estimates(fit, design).set_index("slug")
    assert fe.loc["a", "not_estimable"] and fe.loc["b", "not_estimable"] == ""
    assert survival_analyses.slug("Severe CRS (grade ≥ 3)") == "severe_crs_grade_3"


def test_cox_wald_tests_and_epv():
    rng = np.random.default_rng(5)
    n = 100
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    t = rng.exponential(size=n)
    e = np.ones(n)
    fit = cox.coxph(X, t, e, terms={"both": ["a", "b"]})
    chi, df, p = fit.wald_test()
    assert df == 2 and chi == pytest.approx(fit.coef @ np.linalg.solve(fit.var, fit.coef))
    assert fit.term_p_values()["both"] == pytest.approx(p)
    assert fit.events_per_variable == 50
    one = fit.wald_test([0])
    assert one[0] == pytest.approx(fit.z[0] ** 2)


def test_cox_zph_single_covariate_global_equals_term():
    rng = np.random.default_rng(6)
    n = 80
    t = rng.exponential(size=n)
    e = rng.integers(0, 2, n)
    fit = cox.coxph(pd.DataFrame({"x": rng.normal(size=n)}), t, e)
    z = cox.cox_zph(fit)
    assert z["term"].tolist() == ["x", "GLOBAL"]
    assert z["chisq"][0] == pytest.approx(z["chisq"][1])
    with pytest.raises(ValueError):
        cox.cox_zph(fit, transform="nonsense")


# ------------------------------------------------------------------------------------------
# Competing risks

def test_cumulative_incidence_without_censoring_is_the_empirical_proportion():
    # 5 patients: cause 1 at 1 and 4, cause 2 at 2 and 3, cause 1 at 5.
    # Without censoring F1(t) = #(cause 1 by t)/5: 0.2 at 1, 0.4 at 4, 0.6 at 5.
    t = [1, 2, 3, 4, 5]
    s = [1, 2, 2, 1, 1]
    ci = cr.cumulative_incidence(t, s, cause=1)
    assert ci.time.tolist() == [1, 4, 5]
    assert ci.est == pytest.approx([0.2, 0.4, 0.6])
    est, _ = ci.at([0.5, 1, 3.9, 4, 5, 5.1])
    assert est[:5] == pytest.approx([0, 0.2, 0.2, 0.4, 0.6])
    assert np.isnan(est[5])  # beyond the last follow-up (cmprsk timepoints: NA)
    # cmprsk's variance at the first event (S(0-) = 1, n = 5, d = 1, F = 0.2, S = 0.8):
    # t6 = 1/25, t3 = 1/S = 1.25, t4 = 1 + F/S = 1.25, so v1 = t4^2 t6, v2 = t3 t4 t6,
    # v3 = t3^2 t6 and var = v1 + F^2 v3 - 2F v2 = t6 (t4 - F t3)^2 = t6 = 1/25
    assert ci.var[0] == pytest.approx(1 / 25)


def test_cumulative_incidences_and_survival_add_up():
    rng = np.random.default_rng(7)
    n = 60
    t = rng.integers(1, 40, n).astype(float)
    s = rng.integers(0, 3, n)
    res = cr.cuminc(t, s)
    f1 = res.curves[(0.0, 1)].at(np.arange(40))[0]
    f2 = res.curves[(0.0, 2)].at(np.arange(40))[0]
    km = sv.kaplan_meier(t, s > 0)
    surv = np.array([km.survival_at(x)[0] for x in np.arange(40)])
    ok = ~np.isnan(f1)
    np.testing.assert_allclose(f1[ok] + f2[ok] + surv[ok], 1.0, atol=1e-12)


def test_corners_layout_as_cmprsk():
    ci = cr.cumulative_incidence([1, 2, 3, 6], [1, 0, 1, 0])
    x, f, v = ci.corners()
    assert x.tolist() == [0, 1, 1, 3, 3, 6]
    assert f[:2].tolist() == [0, 0] and f[2] == pytest.approx(0.25) and f[-1] == f[-2]
    assert v[0] == 0 and v[-1] == v[-2]


def test_gray_test_identical_groups_and_label_swap():
    t = np.array([1, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    s = np.array([1, 2, 1, 0, 1, 2, 0, 1])
    g = np.array(["a"] * 4 + ["b"] * 4)
    same = cr.gray_test(np.concatenate([t, t]), np.concatenate([s, s]),
                        ["a"] * 8 + ["b"] * 8)
    assert same.stat == pytest.approx(0.0, abs=1e-12)
    a = cr.gray_test(t, s, g)
    b = cr.gray_test(t, s, np.where(g == "a", "b", "a"))
    assert a.stat == pytest.approx(b.stat)
    assert a.score[0] == pytest.approx(-b.score[0])
    with pytest.raises(ValueError):
        cr.gray_test(t, s, ["a"] * 8)


# ------------------------------------------------------------------------------------------
# End points and immortal-time tools

def _toy_patients() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": ["P1", "P2", "P3", "P4"],
        "last_followup_day": pd.array([300, 900, 1200, 400], dtype="Int64"),
        "death": pd.array([True, False, True, False], dtype="boolean"),
        "death_day": pd.array([300, pd.NA, 1200, pd.NA], dtype="Int64"),
        "relapse": pd.array([True, True, False, False], dtype="boolean"),
        "relapse_day": pd.array([100, 500, pd.NA, pd.NA], dtype="Int64"),
        "relapse_cd19": ["negative", "positive", None, None],
        "hsct_after": pd.array([False, True, True, False], dtype="boolean"),
        "hsct_day": pd.array([pd.NA, 60, 90, pd.NA], dtype="Int64"),
    })


def test_endpoints_definitions():
    ep = survival_analyses.endpoints(_toy_patients(), days_per_unit=1.0)
    assert ep["os_time"].tolist() == [300, 900, 1200, 400]
    assert ep["os_event"].tolist() == [1, 0, 1, 0]
    assert ep["lfs_time"].tolist() == [100, 500, 1200, 400]
    assert ep["lfs_event"].tolist() == [1, 1, 1, 0]
    assert ep["cr_status"].tolist() == [sv.RELAPSE, sv.RELAPSE, sv.NRM, sv.CENSORED]
    assert ep["hsct"].tolist() == [False, True, True, False]
    assert np.isnan(ep["hsct_time"][0]) and ep["hsct_time"][1] == 60


def test_relapse_and_hsct_summaries():
    p = _toy_patients()
    rel = survival_analyses.relapse_summary(p, days_per_unit=1.0)
    assert rel["all"].n == 2 and rel["all"].median == 300
    assert rel["negative"].n == 1 and rel["negative"].median == 100
    assert rel["positive"].median == 500
    hs = survival_analyses.hsct_summary(p, days_per_unit=1.0)
    assert (hs.n, hs.median, hs.minimum, hs.maximum) == (2, 75, 60, 90)
    assert hs.text(0, "days") == "75 days (range 60–90)"


def test_split_at_as_tmerge():
    sp = sv.split_at([10, 5, 8, 6], [1, 0, 1, 1], [4, np.nan, 8, 0], ids=["a", "b", "c", "d"])
    rows = sp.to_dict("records")
    assert rows == [
        {"id": "a", "start": 0.0, "stop": 4.0, "event": 0, "exposed": 0},
        {"id": "a", "start": 4.0, "stop": 10.0, "event": 1, "exposed": 1},
        {"id": "b", "start": 0.0, "stop": 5.0, "event": 0, "exposed": 0},
        # exposure at the end of follow-up does not count
        {"id": "c", "start": 0.0, "stop": 8.0, "event": 1, "exposed": 0},
        # exposed from the start
        {"id": "d", "start": 0.0, "stop": 6.0, "event": 1, "exposed": 1},
    ]


def test_landmark_selection():
    d = sv.landmark([2, 10, 12, 7], [1, 1, 0, 1], [np.nan, 3, 8, 1], at=6)
    # patient 0 has its event before the landmark and is dropped; patient 2's HSCT (day 8)
    # is after the landmark, so it counts as unexposed
    assert d["row"].tolist() == [1, 2, 3]
    assert d["time"].tolist() == [4, 6, 1]
    assert d["exposed"].tolist() == [1, 0, 1]


def test_hsct_effect_time_dependent_equals_fixed_when_exposed_from_start():
    rng = np.random.default_rng(8)
    n = 60
    t = rng.integers(5, 100, n).astype(float)
    e = rng.integers(0, 2, n)
    c = np.where(rng.integers(0, 2, n) == 1, 0.0, np.nan)   # transplanted at time 0 or never
    tab = survival_analyses.hsct_effect(t, e, c, landmarks=[0.0]).set_index("analysis")
    assert tab.loc["time-dependent", "hr"] == pytest.approx(tab.loc["fixed", "hr"], rel=1e-10)
    assert tab.loc["time-dependent", "n"] == n
    assert tab.loc["landmark", "hr"] == pytest.approx(tab.loc["fixed", "hr"], rel=1e-10)


def test_hsct_effect_removes_immortal_time_bias():
    # Transplant does nothing, but only patients alive at a random day 30-120 can get one:
    # the fixed comparison credits them with the wait and shows a spurious benefit; the
    # time-dependent model does not.
    rng = np.random.default_rng(9)
    n = 4000
    t = rng.exponential(365, n)
    c = rng.uniform(30, 120, n)
    c = np.where((rng.random(n) < 0.6) & (c < t), c, np.nan)
    e = np.ones(n)
    tab = survival_analyses.hsct_effect(t, e, c).set_index("analysis")
    assert tab.loc["fixed", "hr"] < 0.85
    assert tab.loc["time-dependent", "lower"] < 1 < tab.loc["time-dependent", "upper"]


def test_candidate_covariates_on_the_shipped_cohort():
    from analysis_lib.data.validation import load_dataset

    data = load_dataset(ROOT / "data" / "synthetic")
    p, k = data.tables["patients"], data.tables["kinetics"]
    d = survival_analyses.candidate_covariates(p, k)
    assert list(d.terms) == list(survival_analyses.CANDIDATE_TERMS)
    assert len(d.terms["Pre-LD MRD"]) == 3
    assert d.frame["Female"].sum() == (p["sex"] == "female").sum()
    # BCA duration in months of 365.25/12 days; 0 for patients without BCA
    months = p["bca_duration_days"].astype(float).where(p["bca"].astype(bool), 0) / (365.25 / 12)
    np.testing.assert_allclose(d.frame["BCA duration"], months)
    per_week = survival_analyses.candidate_covariates(p, k, bca_unit_days=7.0)
    assert "per 7 days" in per_week.reference["BCA duration"]


def test_text_helpers():
    # the chapter's numbers go through the book's one formatter (core.formatting)
    assert formatting.p_value(0.0004) == "<0.001" and formatting.p_value(np.nan) == "–"
    assert formatting.p_phrase(0.0004) == "p < 0.001" and formatting.p_phrase(0.0213) == "p = 0.021"
    assert formatting.estimate_ci(0.5, 0.25, 1.0) == "0.50 (0.25–1.00)"
    assert formatting.estimate_ci(np.inf, 0, np.inf) == "not estimable"
    assert not hasattr(survival_analyses, "hr_text")  # no chapter-local formatter left
    summary = survival_analyses.TimeSummary(3, 2.04, 0.5, 1234.56)
    assert summary.text() == "2.0 months (range 0.5–1,234.6)"
    assert survival_analyses.TimeSummary(0, np.nan, np.nan, np.nan).text() == "none"
    assert formatting.medians_text(np.nan, np.nan) == "not reached in either group"
    assert formatting.medians_text(22.24, np.nan) == "22.2 vs not reached months"
    assert formatting.percent_ci_text(0.5, 0.4, 0.6) == "50.0% (40.0–60.0%)"


# ------------------------------------------------------------------------------------------
# The chapter, executed by papermill on another cohort

@pytest.mark.slow
def test_survival_notebook_glues_the_library_results(tmp_path: Path):
    from analysis_lib.book.pipeline import execute_notebook, notebook_parameters
    from analysis_lib.book.report import glued_values
    from analysis_lib.data.validation import load_dataset
    from analysis_lib.synthetic.generator import generate_cohort, write_cohort

    data = tmp_path / "centre3"
    write_cohort(generate_cohort(n=300, seed=5), data)
    source = ROOT / "notebooks" / "survival.py"
    params = notebook_parameters("survival", source, data, {"conf_level": 0.9})
    work = tmp_path / "work"
    res = execute_notebook("survival", source, params, work)
    assert res.status == "executed", res.error
    g = glued_values(work / "survival.ipynb")

    loaded = load_dataset(data)
    p, k = loaded.tables["patients"], loaded.tables["kinetics"]
    ep = survival_analyses.endpoints(p)
    assert g["n_patients"] == 300
    for name in ("os", "lfs"):
        km = sv.kaplan_meier(ep[f"{name}_time"], ep[f"{name}_event"], 0.9)
        s, lo, hi = km.survival_at(60.0, "plain")
        assert g[f"{name}_5y"] == pytest.approx(100 * s)
        assert g[f"{name}_5y_plain_lower"] == pytest.approx(100 * lo)
        upper = km.survival_at(60.0, "log-log")[2]
        assert g[f"{name}_5y_loglog_upper"] == pytest.approx(100 * upper)
        assert g[f"{name}_events"] == int(ep[f"{name}_event"].sum())
        assert "90% CI" not in g[f"{name}_5y_text"]  # the level is stated once, in the prose
    assert g["conf_lvl"] == "90%"
    rel = survival_analyses.relapse_summary(p)
    assert g["relapse_all_n"] == rel["all"].n
    assert g["relapse_negative_median"] == pytest.approx(rel["negative"].median)
    assert g["n_hsct_k"] == survival_analyses.hsct_summary(p).n
    cif = cr.cuminc(ep["cr_time"], ep["cr_status"])
    cir = next(c for (_, cause), c in cif.curves.items() if cause == sv.RELAPSE)
    assert g["cir_5y"] == pytest.approx(100 * cir.at(60.0)[0][0])
    design = survival_analyses.candidate_covariates(p, k)
    for name in ("lfs", "os"):
        scr = survival_analyses.univariate_screen(design, ep[f"{name}_time"], ep[f"{name}_event"])
        terms = survival_analyses.select_terms(scr)
        assert g[f"{name}_n_selected"] == len(terms)
        fit = survival_analyses.multivariable_cox(design, terms, ep[f"{name}_time"], ep[f"{name}_event"])
        assert g[f"{name}_mv_epv"] == pytest.approx(fit.events_per_variable)
        assert g[f"{name}_zph_global_p"] == pytest.approx(cox.cox_zph(fit)["p"].iloc[-1])
        eff = survival_analyses.hsct_effect(ep[f"{name}_time"], ep[f"{name}_event"], ep["hsct_time"],
                              landmarks=[3.0, 6.0, 9.0], conf_level=0.9).set_index("analysis")
        assert g[f"it_{name}_fixed_hr"] == pytest.approx(eff.loc["fixed", "hr"])
        assert g[f"it_{name}_td_hr"] == pytest.approx(eff.loc["time-dependent", "hr"])
    low = p["mrd_pre_ld"].astype(float).to_numpy() < 1e-4
    lr = sv.survdiff(ep["os_time"][low], ep["os_event"][low], ep["hsct"][low])
    assert g["fig1_pre_low_os_p"] == pytest.approx(lr.p_value)
    written = pd.read_csv(work / "outputs" / "survival" / "multivariable_cox.csv")
    assert set(written["end_point"]) == {"lfs", "os"}
    # every displayed table has its download (plain CSV and metadata sidecar)
    for name in ("survival_at_times", "univariate_cox", "table1_paper_covariate_sets",
                 "multivariable_cox", "ph_tests", "figure1_hsct_by_mrd", "hsct_immortal_time",
                 "gray_tests"):
        path = work / "outputs" / "survival" / f"{name}.csv"
        assert not pd.read_csv(path).empty, name
        assert path.with_name(f"{name}.csv.json").is_file(), name
    # the figures are glued, Figure 1 as one figure
    assert {"fig_os_lfs", "fig_cif", "fig_figure1", "fig_s1", "fig_s2",
            "fig_simon_makuch"} <= set(g)
    assert not {"fig_figure1_pre", "fig_figure1_pos"} & set(g)
    raw = (work / "survival.ipynb").read_text()
    assert "papermill-error-cell-tag" not in raw


def test_median_or_infinity_distinguishes_not_reached_from_empty():
    assert survival_analyses.median_or_infinity(43.3, 10) == 43.3
    assert survival_analyses.median_or_infinity(float("nan"), 10) == float("inf")
    assert np.isnan(survival_analyses.median_or_infinity(float("nan"), 0))
