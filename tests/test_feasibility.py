"""Tests of the audit of published numbers (:mod:`analysis_lib.paper.feasibility`).

Every expected value is worked out by hand in the comments, or comes from an independent
library call (scipy) or an independent brute-force search. None is taken from the function
under test.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis_lib.paper import feasibility as fz


def finding(key: str) -> fz.Finding:
    (f,) = [f for f in fz.FINDINGS if f.key == key]
    return f


# ============================================================================================
# Bound functions
# ============================================================================================

def test_max_geometric_mean_hand_cases():
    # n = 2: the GM of two values is at most their mean (AM-GM); the mean of two is the median.
    assert fz.max_geometric_mean(2, 5.0, 100.0) == pytest.approx(5.0)
    # n = 3, median 2, max 8: best sample (2, 2, 8), GM = 32^(1/3) = 3.1748021.
    assert fz.max_geometric_mean(3, 2.0, 8.0) == pytest.approx(3.1748021, rel=1e-7)
    # n = 4, median 2, max 8: middle pair adds to 4, best (2, 2, 2, 8): 64^(1/4) = 2.8284271.
    assert fz.max_geometric_mean(4, 2.0, 8.0) == pytest.approx(2.8284271, rel=1e-7)
    with pytest.raises(ValueError):
        fz.max_geometric_mean(4, 10.0, 8.0)


def test_max_geometric_mean_against_brute_force_for_n4():
    # Independent search: x1 <= a, x2 = a, x3 = 2m - a, x4 in [x3, M]. The product grows with
    # x1 and x4, so x1 = a and x4 = M; scan a on a fine grid in (0, m].
    m, big = 3.0, 50.0
    a = np.linspace(1e-6, m, 200_001)
    best = np.max(a * a * (2 * m - a) * big) ** 0.25
    assert fz.max_geometric_mean(4, m, big) == pytest.approx(best, rel=1e-9)
    # Random feasible samples never beat the bound.
    rng = np.random.default_rng(1)
    for _ in range(2000):
        x = np.sort(rng.uniform(0.01, big, 4))
        med, mx = np.median(x), x.max()
        assert np.exp(np.mean(np.log(x))) <= fz.max_geometric_mean(4, med, mx) * (1 + 1e-12)


def test_min_geometric_mean_hand_cases():
    # n = 2, median 5, minimum 1: pair (1, 9), GM = 3.
    assert fz.min_geometric_mean(2, 5.0, 1.0) == pytest.approx(3.0)
    # n = 3, median 4, minimum 1: (1, 4, 4), GM = 16^(1/3) = 2.5198421.
    assert fz.min_geometric_mean(3, 4.0, 1.0) == pytest.approx(2.5198421, rel=1e-7)
    # n = 4, median 5, minimum 1: (1, 1, 9, 9) product 81 beats (1, 5, 5, 5) product 125.
    assert fz.min_geometric_mean(4, 5.0, 1.0) == pytest.approx(3.0)
    # n = 4, median 5, minimum 4: (4, 5, 5, 5) product 500 beats (4, 4, 6, 6) product 576.
    assert fz.min_geometric_mean(4, 5.0, 4.0) == pytest.approx(500 ** 0.25)
    with pytest.raises(ValueError):       # a median below the minimum: no such sample
        fz.min_geometric_mean(2, 863.0, 1602.0)


def test_min_geometric_mean_never_beaten_by_random_samples():
    rng = np.random.default_rng(2)
    for n in (2, 3, 4, 5, 6):
        for _ in range(1000):
            x = np.sort(rng.lognormal(0, 1.5, n))
            bound = fz.min_geometric_mean(n, float(np.median(x)), float(x.min()))
            assert np.exp(np.mean(np.log(x))) >= bound * (1 - 1e-12)


def test_max_arithmetic_mean_and_pair():
    # n = 4, median 2, max 8: (2, 2, 2, 8), mean 3.5.
    assert fz.max_arithmetic_mean(4, 2.0, 8.0) == pytest.approx(3.5)
    # n = 3: (2, 2, 8), mean 4.
    assert fz.max_arithmetic_mean(3, 2.0, 8.0) == pytest.approx(4.0)
    # Pair with mean 5 and GM 4: roots of x² - 10x + 16, i.e. 2 and 8.
    assert fz.largest_value_of_pair(5.0, 4.0) == pytest.approx(8.0)
    # Equal means: both values equal the mean.
    assert fz.largest_value_of_pair(863.0, 863.0) == pytest.approx(863.0)
    with pytest.raises(ValueError):
        fz.largest_value_of_pair(4.0, 5.0)


def test_two_by_two_enumerated_by_hand():
    # n = 6, 3 exposed, 2 events: a = 0, 1, 2.
    # a=0: (0,3,2,1) OR 0;  a=1: (1,2,1,2) OR 1·2/(2·1) = 1;  a=2: (2,1,0,3) OR inf.
    tabs = fz.two_by_two_tables(6, 3, 2)
    assert [(t.a, t.b, t.c, t.d) for t in tabs] == [(0, 3, 2, 1), (1, 2, 1, 2), (2, 1, 0, 3)]
    assert [t.odds_ratio for t in tabs] == [0.0, 1.0, math.inf]
    for t in tabs:
        assert t.fisher_p == pytest.approx(
            stats.fisher_exact([[t.a, t.b], [t.c, t.d]])[1], rel=1e-9)
    # Wald SE of the middle table: sqrt(1 + 1/2 + 1 + 1/2) = sqrt(3); the others have a 0 cell.
    assert tabs[1].wald_se == pytest.approx(math.sqrt(3))
    assert math.isinf(tabs[0].wald_se) and math.isinf(tabs[2].wald_se)
    assert fz.min_wald_se_log_or(6, 3, 2) == pytest.approx(math.sqrt(3))
    assert math.isnan(fz.odds_ratio(0, 1, 0, 1))


def test_two_by_two_il6_margins_by_hand():
    # 39 of 50 with elevated IL-6, 8 with severe CRS: a = 0..8, b = 39-a, c = 8-a, d = 3+a.
    # OR = a(3+a)/((39-a)(8-a)): 0, 4/266, 10/222, 18/180, 28/140, 40/102, 54/66, 70/32, inf.
    tabs = fz.two_by_two_tables(50, 39, 8)
    expected = [0, 4 / 266, 10 / 222, 18 / 180, 28 / 140, 40 / 102, 54 / 66, 70 / 32, math.inf]
    assert [t.odds_ratio for t in tabs] == pytest.approx(expected)
    for t in tabs:
        assert t.fisher_p == pytest.approx(
            stats.fisher_exact([[t.a, t.b], [t.c, t.d]])[1], rel=1e-9, abs=1e-15)


def test_min_wald_se_any_margin():
    # 8 events of 50: 1/a + 1/c >= 4/8 and 1/b + 1/d >= 4/42, so SE >= sqrt(0.5 + 0.0952381).
    assert fz.min_wald_se_log_or_any_margin(50, 8) == pytest.approx(math.sqrt(0.5 + 4 / 42))
    # Independent brute force over every exposure margin and every table.
    best = math.inf
    for exposed in range(1, 50):
        for a in range(1, 8):
            b, c = exposed - a, 8 - a
            d = 50 - exposed - c
            if min(b, d) >= 1:
                best = min(best, math.sqrt(1 / a + 1 / b + 1 / c + 1 / d))
    assert best == pytest.approx(fz.min_wald_se_log_or_any_margin(50, 8))


def test_wald_from_ci():
    # log OR 1, SE 0.5: CI exp(1 ± 1.959964·0.5); z = 2, p = 2·(1 - Phi(2)) = 0.0455003.
    z = stats.norm.ppf(0.975)
    w = fz.wald_from_ci(math.e, math.exp(1 - z * 0.5), math.exp(1 + z * 0.5))
    assert w.se == pytest.approx(0.5)
    assert w.z == pytest.approx(2.0)
    assert w.p == pytest.approx(2 * stats.norm.sf(2.0))
    assert w.log_asymmetry == pytest.approx(0.0, abs=1e-12)
    # Table 2 female: ln(0.821/0.361)/3.92 = 0.8217/3.92 = 0.2096; z = -0.6088/0.2096 = -2.90.
    w = fz.wald_from_ci(0.544, 0.361, 0.821)
    assert w.se == pytest.approx(0.2096, abs=1e-4)
    assert w.p == pytest.approx(0.0037, abs=2e-4)


def test_months_between_and_followup():
    # 2000-01-01 to 2001-01-01 = 366 days (leap year) = 366 / 30.4375 = 12.0246 months.
    assert fz.months_between(date(2000, 1, 1), date(2001, 1, 1)) == pytest.approx(366 / 30.4375)
    # 2017-06-01 to 2025-06-01 = 8·365 + 2 leap days = 2922; to 2025-06-30: +29 = 2951 days.
    assert fz.max_followup_months(date(2017, 6, 1), date(2025, 6, 30)) == pytest.approx(
        2951 / 30.4375)
    # 2021-03-31 to 2025-03-31 = 1461 days (2024 leap); + 30 + 31 + 30 = 1552 days.
    assert fz.min_followup_alive_months(date(2021, 3, 31), date(2025, 6, 30)) == pytest.approx(
        1552 / 30.4375)


def test_binomial_se_and_fractions():
    # 2/13: sqrt((2/13)(11/13)/13) = sqrt(22/2197) = 0.1000683.
    assert fz.binomial_se(2, 13) == pytest.approx(math.sqrt(22 / 2197))
    assert fz.binomial_se(0, 5) == 0.0
    with pytest.raises(ValueError):
        fz.binomial_se(3, 2)
    # k/n <= 14 rounding to 15.4%: 2/13 = 15.38%; 1/6 = 16.7%, 1/7 = 14.3% miss.
    assert fz.fractions_rounding_to(15.4, 14) == ((2, 13),)
    # 50.0% with n <= 4: 1/2 only (2/4 is the same fraction).
    assert fz.fractions_rounding_to(50.0, 4) == ((1, 2),)
    assert fz.fractions_rounding_to(33.3, 9) == ((1, 3),)


def _greenwood(times: np.ndarray, events: np.ndarray, t: float) -> tuple[float, float, int]:
    """Hand-written KM and Greenwood variance at t, and the number of events by t."""
    s, acc, d_total = 1.0, 0.0, 0
    for u in np.unique(times[times <= t]):
        n = int(np.sum(times >= u))
        d = int(np.sum((times == u) & events))
        if d:
            s *= 1 - d / n
            acc += d / (n * (n - d)) if n > d else math.inf
            d_total += d
    return s, s * s * acc, d_total


def test_min_survival_se_and_max_events_hold_for_censored_data():
    # No censoring, 4 patients, 1 death: Greenwood var = (3/4)²/(4·3) = 0.046875 = binomial.
    assert fz.min_survival_se(0.75, 4) ** 2 == pytest.approx(0.046875)
    # One censored at t=1, one death at t=2 among 3: S = 2/3, var = (4/9)/(3·2) = 0.0740741,
    # above the bound (2/3)(1/3)/4 = 0.0555556.
    s, var, _ = _greenwood(np.array([1.0, 2, 3, 4]), np.array([False, True, False, False]), 2.0)
    assert s == pytest.approx(2 / 3) and var == pytest.approx(4 / 54)
    assert var >= fz.min_survival_se(s, 4) ** 2
    rng = np.random.default_rng(3)
    for _ in range(500):
        n = int(rng.integers(5, 40))
        times = np.round(rng.exponential(10, n), 1) + 0.1
        events = rng.random(n) < 0.6
        t = float(np.quantile(times, 0.7))
        s, var, d = _greenwood(times, events, t)
        if 0 < s < 1:
            assert var >= fz.min_survival_se(s, n) ** 2 * (1 - 1e-12)
        assert d <= fz.max_events_by(s, n)
    # 50 patients, no censoring: 12 deaths give S = 0.76 and 13 give 0.74, so 74.9% (>= 0.7485)
    # allows 12 at most.
    assert fz.max_events_by(0.749, 50, half_unit=0.0005) == 12
    assert fz.max_events_by(0.678, 50, half_unit=0.0005) == 16     # 50·0.3225 = 16.1
    assert fz.max_events_by(0.5, 10) == 5


def test_min_deaths_for_km_median():
    assert fz.min_deaths_for_km_median(13) == 7     # 1 - 6/13 = 0.54 > 0.5; 1 - 7/13 = 0.46
    assert fz.min_deaths_for_km_median(14) == 7     # 1 - 7/14 = 0.5
    assert fz.min_deaths_for_km_median(1) == 1


def test_logrank_one_vs_many_by_hand_and_scipy():
    # n_other = 1. The other dies first (2 at risk): E = 1/2, V = 1/4; the single patient dies
    # alone: E += 1, V += 0. chi² = (1 - 1.5)²/0.25 = 1, p = 0.3173.
    chi2, p = fz.logrank_min_p_one_vs_many(1)
    assert chi2 == pytest.approx(1.0)
    assert p == pytest.approx(stats.chi2.sf(1.0, 1))
    # n_other = 2, both die first: E = 1/3 + 1/2 + 1 = 11/6, V = 2/9 + 1/4 = 17/36,
    # chi² = (5/6)²/(17/36) = 25/17.
    assert fz.logrank_min_p_one_vs_many(2)[0] == pytest.approx(25 / 17)
    assert fz.logrank_min_p_one_vs_many(2, single_dies=False)[0] == pytest.approx(25 / 17)
    # n_other = 13, all die before the single patient: scipy's log-rank gives the same p.
    res = stats.logrank(stats.CensoredData(uncensored=np.arange(1.0, 14.0)),
                        stats.CensoredData(uncensored=[67.0]))
    chi2, p = fz.logrank_min_p_one_vs_many(13)
    assert chi2 == pytest.approx(res.statistic ** 2, rel=1e-9)
    assert p == pytest.approx(res.pvalue, rel=1e-9)


def test_mann_whitney_asymptotic_matches_scipy():
    y = np.array([1.0, 2.0])
    x = np.arange(48) + 100.0                      # every x above both y: U = 0
    ref = stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=False)
    assert fz.mann_whitney_asymptotic_p(0, 48, 2) == pytest.approx(ref.pvalue, rel=1e-12)
    y4 = np.array([1.0, 103.5])                    # 103.5 exceeds 100..103: U = 4
    ref4 = stats.mannwhitneyu(x, y4, method="asymptotic", use_continuity=False)
    assert min(ref4.statistic, 96 - ref4.statistic) == 4
    assert fz.mann_whitney_asymptotic_p(4, 48, 2) == pytest.approx(ref4.pvalue, rel=1e-12)
    assert fz.mann_whitney_u_for_p(0.017, 48, 2) == (0,)


def test_middle_pairs_and_hazard_ratio():
    assert fz.middle_pairs_on_grid(10.5, [4, 7, 14, 21, 28]) == ((7.0, 14.0),)
    assert fz.middle_pairs_on_grid(3, [1, 2, 3, 4, 5]) == ((1.0, 5.0), (2.0, 4.0), (3.0, 3.0))
    # 0.969^59 = exp(59·ln 0.969) = exp(59·(-0.0314911)) = exp(-1.857975) = 0.15601.
    assert fz.hazard_ratio_over(0.969, 59, 1) == pytest.approx(0.15601, abs=5e-5)
    assert fz.hazard_ratio_over(0.5, 2, 1) == pytest.approx(0.25)


# ============================================================================================
# Findings: one test each, from the published constants
# ============================================================================================

def test_finding_gm_cmax_mrd_cr():
    f = finding("gm_cmax_mrd_cr")
    # (25·log10 31,906 + 23·log10 1,890,000)/48 = (112.5968 + 144.3586)/48 = 5.353238
    # -> 10^5.353238 = 225,548.
    assert f.verdict == "impossible"
    assert f.bound == pytest.approx(225_548, rel=1e-5)
    assert 319_016 > f.bound
    assert f.excluded_targets == ("gm_cmax_mrd_cr",)


def test_finding_gm_cmax_non_mrd_cr():
    f = finding("gm_cmax_non_mrd_cr")
    # Larger of the pair <= 863.5 + sqrt(863.5² - 862.5²) = 863.5 + sqrt(1726) = 905.045.
    assert f.verdict == "impossible"
    assert f.bound == pytest.approx(863.5 + math.sqrt(1726), rel=1e-12)
    assert f.bound < 1_602
    assert f.excluded_targets == ("gm_cmax_non_mrd_cr",)


def test_finding_cmax_min():
    f = finding("cmax_min")
    # x1 + x2 = 2·863 = 1,726 with x2 >= 1,602 -> x1 <= 124.
    assert f.verdict == "ambiguous"
    assert f.bound == pytest.approx(124.0)
    assert f.excluded_targets == ("cmax_min",)


def test_finding_cmax_mwu():
    f = finding("cmax_mwu_mrd_cr")
    # U = 0: z = 48/sqrt(48·2·51/12) = 48/sqrt(408) = 2.3764, p = 0.01748 -> "0.017".
    assert f.verdict == "feasible"
    assert f.bound == pytest.approx(2 * stats.norm.sf(48 / math.sqrt(408)))
    assert round(f.bound, 3) == 0.017
    assert f.excluded_targets == ()


def test_finding_il6_severe_crs():
    f = finding("il6_or_severe_crs")
    # Largest finite OR: a = 7 -> 7·10/(32·1) = 2.1875; 5.25 is between it and infinity.
    assert f.verdict == "impossible"
    assert f.bound == pytest.approx(70 / 32)
    # With OR > 1 the smallest Fisher p is at a = 8 (0 exposed-free events), far above 0.001.
    assert stats.fisher_exact([[8, 31], [0, 11]])[1] > 0.001
    assert stats.fisher_exact([[7, 32], [1, 10]])[1] > 0.001
    assert f.excluded_targets == ("il6_or_severe_crs",)


def test_finding_il6_icans():
    f = finding("il6_or_icans")
    # 5 ICANS: a = 4 -> 4·10/(35·1) = 1.142857; a = 5 -> inf; 9.0 unattainable.
    assert f.verdict == "impossible"
    assert f.bound == pytest.approx(40 / 35)
    assert stats.fisher_exact([[5, 34], [0, 11]])[1] > 0.001
    assert f.excluded_targets == ("il6_or_icans",)


def test_finding_followup_max():
    f = finding("followup_max")
    # 2951 days / 30.4375 = 96.95 months < 97.5.
    assert f.verdict == "inconsistent"
    assert f.bound == pytest.approx(2951 / 30.4375)
    assert f.bound < 97.5
    assert f.excluded_targets == ("followup_max",)


def test_finding_followup_min():
    f = finding("followup_min_months")
    # 1552 days / 30.4375 = 50.99 months > 5.9: the 5.9-month patient died or was lost.
    assert f.verdict == "feasible"
    assert f.bound == pytest.approx(1552 / 30.4375)
    assert f.excluded_targets == ()


def test_finding_nrm_se():
    f = finding("nrm_se_low_burden")
    # Smallest SE of 2/13 from 14 patients: sqrt((2/13)(11/13)/14) = sqrt(22/2366) = 0.09643.
    assert f.verdict == "impossible"
    assert f.bound == pytest.approx(math.sqrt(22 / 2366))
    assert f.bound > 0.011
    assert f.excluded_targets == ("nrm_se_low_burden",)


def test_finding_nrm_timing():
    f = finding("nrm_timing_lfs_5y")
    # 50·(1 - 0.6775) = 16.125 -> 16 LFS events by 5 years; 15 relapses + at most 1 NRM.
    assert f.verdict == "feasible"
    assert f.bound == 16
    assert f.excluded_targets == ()


def test_finding_median_os_low_burden():
    f = finding("median_os_low_burden")
    # All 13 die while the single patient is at risk (risk sets 14..2), then it dies alone:
    # E = sum_{n=2}^{14} 1/n + 1, V = sum_{n=2}^{14} (n-1)/n², chi² = (E - 1)²/V.
    e = sum(1 / n for n in range(2, 15))
    v = sum((n - 1) / n ** 2 for n in range(2, 15))
    assert f.verdict == "inconsistent"
    assert f.bound == pytest.approx(stats.chi2.sf(e * e / v, 1))
    assert f.bound > 0.022
    assert set(f.excluded_targets) == {"median_os_hsct_low_burden",
                                       "median_os_no_hsct_low_burden", "p_os_hsct_low_burden"}


def test_finding_median_os_post_ld():
    f = finding("median_os_post_ld_low")
    assert f.verdict == "ambiguous"
    assert f.bound is None
    assert set(f.excluded_targets) == {"median_os_hsct_post_ld_low",
                                       "median_os_no_hsct_post_ld_low"}


# Smallest Wald SE per exposure margin (8 events of 50), and the Wald p implied by the
# printed CI (z = ln OR / (ln(hi/lo)/3.92)), by hand:
#   female 0.544 (0.361-0.821): SE 0.2096, z -2.905, p 0.0037 (printed 0.055)
#   no HSCT 0.286 (0.056-1.446): SE 0.8294, z -1.509, p 0.131 (printed 0.176)
#   pre-LD 0.381 (0.231-0.629): SE 0.2555, z -3.776, p 0.00016 (printed 0.007)
#   post-LD 0.349 (0.183-0.667): SE 0.3299, z -3.191, p 0.0014 (printed 0.013)
#   dose 0.490 (0.317-0.758): SE 0.2224, z -3.208, p 0.0013 (printed 0.049)
#   23 exposed, a = 4: (4, 19, 4, 23): 1/4 + 1/19 + 1/4 + 1/23 = 0.596110 -> 0.772081
#   45 exposed, a = 6: (6, 39, 2, 3):  1/6 + 1/39 + 1/2 + 1/3  = 1.025641 -> 1.012739
#   29 exposed, a = 4: (4, 25, 4, 17): 1/4 + 1/25 + 1/4 + 1/17 = 0.598824 -> 0.773837
#   33 exposed, a = 4: (4, 29, 4, 13): 1/4 + 1/29 + 1/4 + 1/13 = 0.611406 -> 0.781925
#   25 exposed, a = 4: (4, 21, 4, 21): 1/2 + 2/21            = 0.595238 -> 0.771517
TABLE2_EXPECTED = {
    "or_severe_crs_female": (0.772081, 0.544, 23, 0.0037),
    "or_severe_crs_no_prior_hsct": (1.012739, 0.286, 45, 0.131),
    "or_severe_crs_pre_ld_low": (0.773837, 0.381, 29, 0.00016),
    "or_severe_crs_post_ld_low": (0.781925, 0.349, 33, 0.0014),
    "or_severe_crs_dose_low": (0.771517, 0.490, 25, 0.0013),
}


@pytest.mark.parametrize("key", sorted(TABLE2_EXPECTED))
def test_finding_table2_univariate(key):
    se_min, published_or, exposed, wald_p = TABLE2_EXPECTED[key]
    f = finding(key)
    assert f.verdict == "impossible"
    assert f.bound == pytest.approx(se_min, abs=1e-6)
    assert f.excluded_targets == (key,)
    # The published OR is not the OR of any table with these margins (independent loop).
    ors = set()
    for a in range(0, 9):
        b, c = exposed - a, 8 - a
        d = 50 - exposed - c
        if min(b, c, d) >= 0 and b * c > 0:
            ors.add(round(a * d / (b * c), 3))
    assert published_or not in ors
    # The CI's implied Wald p (hand values above) disagrees with the printed p.
    row = [r for r in fz.TABLE2_UNIVARIATE if r[0] == key][0]
    _, _, _, est, lo, hi, printed_p = row
    w = fz.wald_from_ci(est, lo, hi)
    assert w.p == pytest.approx(wald_p, rel=0.05)
    assert abs(w.p - printed_p) > 0.004


def test_finding_mv2_female():
    f = finding("or_mv2_severe_crs_female")
    # Log-symmetric upper limit: 0.185²/0.017 = 0.034225/0.017 = 2.01324.
    assert f.verdict == "inconsistent"
    assert f.bound == pytest.approx(0.034225 / 0.017)
    assert f.excluded_targets == ()


def test_finding_multivariable_rows_consistent():
    f = finding("multivariable_wald_ci")
    # e.g. Table 1A female: SE = ln(0.884/0.062)/3.92 = 0.6779, z = -1.4482/0.6779 = -2.136,
    # p = 0.0327 vs printed 0.032; the largest gap over all rows is below 0.005.
    assert f.verdict == "feasible"
    assert f.bound < 0.005
    assert f.excluded_targets == ()


def test_finding_os_5y_ci():
    f = finding("os_5y_ci")
    # sqrt(0.749·0.251/50) = sqrt(0.0037600) = 0.061319; 1.96·0.061319 = 0.1202 > 0.1015.
    assert f.verdict == "inconsistent"
    assert f.bound == pytest.approx(math.sqrt(0.749 * 0.251 / 50))
    assert stats.norm.ppf(0.975) * f.bound > (0.851 - 0.648) / 2
    assert f.excluded_targets == ("os_5y_ci",)


def test_finding_lfs_5y_ci():
    f = finding("lfs_5y_ci")
    # sqrt(0.678·0.322/50) = 0.066078; 1.96·0.066078 = 0.1295 > 0.1025.
    assert f.verdict == "inconsistent"
    assert f.bound == pytest.approx(math.sqrt(0.678 * 0.322 / 50))
    assert stats.norm.ppf(0.975) * f.bound > (0.780 - 0.575) / 2
    assert f.excluded_targets == ("lfs_5y_ci",)


def test_finding_tmax():
    f = finding("tmax_median")
    assert f.verdict == "feasible"
    assert f.bound is None
    assert f.excluded_targets == ()          # attainable: not excluded


def test_finding_bca_onset():
    f = finding("bca_onset_median")
    assert f.verdict == "ambiguous"
    assert f.excluded_targets == ("bca_onset_median",)


def test_finding_hr_bca():
    f = finding("hr_bca_lfs")
    assert f.verdict == "ambiguous"
    assert f.bound is None
    assert f.excluded_targets == ("hr_bca_lfs",)
    assert "0.156" in f.reason and "0.941" in f.reason   # per day / per month at 59 days


def test_finding_dose_cut():
    f = finding("dose_cut")
    assert f.verdict == "ambiguous"
    assert f.excluded_targets == ()


# ============================================================================================
# The collection
# ============================================================================================

#: Every finding key, each asserted by one test_finding_* test above.
TESTED_KEYS = {
    "gm_cmax_mrd_cr", "gm_cmax_non_mrd_cr", "cmax_min", "cmax_mwu_mrd_cr", "il6_or_severe_crs",
    "il6_or_icans", "followup_max", "followup_min_months", "nrm_se_low_burden",
    "nrm_timing_lfs_5y", "median_os_low_burden", "median_os_post_ld_low",
    *TABLE2_EXPECTED, "or_mv2_severe_crs_female", "multivariable_wald_ci", "os_5y_ci",
    "lfs_5y_ci", "tmax_median", "bca_onset_median", "hr_bca_lfs", "dose_cut",
}


def test_every_finding_is_tested_and_well_formed():
    keys = [f.key for f in fz.FINDINGS]
    assert len(set(keys)) == len(keys)
    assert set(keys) == TESTED_KEYS
    for f in fz.FINDINGS:
        assert f.verdict in fz.VERDICTS
        assert f.published and f.reason and any(ch.isdigit() for ch in f.arithmetic)
        assert f.key == f.key.lower() and " " not in f.key
        if f.verdict == "feasible":
            assert f.excluded_targets == ()


def test_findings_frame_and_excluded_keys():
    df = fz.findings_frame()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["key", "published", "verdict", "reason", "arithmetic", "bound",
                                "excluded_targets"]
    assert len(df) == len(fz.FINDINGS)
    assert set(fz.excluded_target_keys()) == {
        "gm_cmax_mrd_cr", "gm_cmax_non_mrd_cr", "cmax_min", "il6_or_severe_crs", "il6_or_icans",
        "followup_max", "nrm_se_low_burden", "median_os_hsct_low_burden",
        "median_os_no_hsct_low_burden", "p_os_hsct_low_burden", "median_os_hsct_post_ld_low",
        "median_os_no_hsct_post_ld_low", "or_severe_crs_female", "or_severe_crs_no_prior_hsct",
        "or_severe_crs_pre_ld_low", "or_severe_crs_post_ld_low", "or_severe_crs_dose_low",
        "os_5y_ci", "lfs_5y_ci", "bca_onset_median", "hr_bca_lfs"}
    assert "tmax_median" not in fz.excluded_target_keys()
