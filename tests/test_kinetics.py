"""Tests of analysis_lib.analyses.kinetics (the paper's PK results), its figures and its chapter.

Expected values are computed by hand (each written as the arithmetic that gives it), by an
independent implementation (scipy's exact Mann–Whitney distribution, NCAResult.summary), or by
R while the tests run (``@pytest.mark.r_parity``); none is copied from the code under test.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis_lib.analyses import kinetics as K
from analysis_lib.core import formatting, units
from analysis_lib.stats import descriptive, rank_tests
from analysis_lib.stats.nca import nca

BLQ = None
LN2 = math.log(2)


# --------------------------------------------------------------------------------------------
# Small hand-made cohorts
# --------------------------------------------------------------------------------------------

def kin(*profiles: tuple[str, list[tuple[float, float | None]]], lloq: float = 100.0) -> pd.DataFrame:
    rows = [{"patient_id": pid, "day": float(d),
             "copies_per_ug_dna": np.nan if v is BLQ else float(v),
             "below_lloq": v is BLQ, "lloq_copies_per_ug_dna": lloq}
            for pid, pts in profiles for d, v in pts]
    return pd.DataFrame(rows)


def pats(ids: list[str], **cols) -> pd.DataFrame:
    base = {"patient_id": ids, "d28_response": ["cr"] * len(ids), "d28_mrd": [0.0] * len(ids),
            "bca": [False] * len(ids), "bca_duration_days": [np.nan] * len(ids)}
    base.update(cols)
    return pd.DataFrame(base)


@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    k = kin(("A", [(0, BLQ), (7, 1000), (14, 500), (28, BLQ), (35, BLQ)]),
            ("B", [(0, BLQ), (7, 150), (14, BLQ), (21, BLQ)]))
    p = pats(["A", "B", "C"], d28_response=["cr", "cri", "nr"], d28_mrd=[0.0, 2e-4, 0.05],
             bca=[True, False, True], bca_duration_days=[30.0, np.nan, 12.0],
             last_followup_day=[400, 400, 400])
    return k, p


# --------------------------------------------------------------------------------------------
# kinetic_parameters
# --------------------------------------------------------------------------------------------

def test_kinetic_parameters_by_hand(small):
    k, p = small
    kp = K.kinetic_parameters(k, p).set_index("patient_id")
    a = kp.loc["A"]
    assert (a.cmax, a.tmax, a.tlast) == (1000.0, 7.0, 14.0)
    # 0-7 linear rise from the day-0 BLQ (0): 7*1000/2; 7-14 log-down: 7*(1000-500)/ln 2;
    # 14-28 linear fall to the first BLQ (0): 14*500/2.
    assert a.auc_0_28 == pytest.approx(7 * 1000 / 2 + 7 * 500 / LN2 + 14 * 500 / 2, rel=1e-12)
    assert a.expanded and a.persistence_ended and a.mrd_cr
    assert a.expansion_threshold == 200.0  # 2 x LLOQ 100
    b = kp.loc["B"]
    assert b.cmax == 150.0 and not b.expanded  # peak below 2 x LLOQ
    assert not b.mrd_cr  # CRi but day-28 MRD 2e-4 >= 1e-4
    c = kp.loc["C"]  # no kinetics at all
    assert math.isnan(c.cmax) and not c.expanded and c.n_samples == 0 and not c.mrd_cr
    assert kp.loc["A", "bca_duration"] == 30.0 and math.isnan(kp.loc["B", "bca_duration"])
    assert list(kp.index) == ["A", "B", "C"]  # patients' order, one row each


def test_expansion_threshold_and_auc_method(small):
    k, p = small
    kp = K.kinetic_parameters(k, p, expansion_threshold=100.0,
                              auc_method="linear").set_index("patient_id")
    assert kp.loc["B", "expanded"]  # 150 >= 100
    assert kp.loc["A", "auc_0_28"] == pytest.approx(7 * 1000 / 2 + 7 * 1500 / 2 + 14 * 500 / 2)
    assert kp.attrs["auc_method"] == "linear"
    assert not K.kinetic_parameters(k, p, expansion_threshold=1000.5)["expanded"].any()


def test_unknown_patient_is_rejected(small):
    k, p = small
    with pytest.raises(ValueError, match="not in the patients table"):
        K.kinetic_parameters(k, p[p["patient_id"] != "A"])


def test_nca_table_and_display_hide_nothing_and_show_no_ids(small):
    k, p = small
    kp = K.kinetic_parameters(k, p)
    assert K.nca_table(kp)["patient_id"].tolist() == ["A", "B", "C"]
    shown = K.nca_display(kp)
    assert "patient_id" not in shown.columns
    assert not shown.astype(str).apply(lambda c: c.str.contains("^[ABC]$")).any().any()
    assert shown["#"].tolist() == [1, 2, 3]
    assert shown["Cmax (copies/µg DNA)"].tolist() == ["1,000", "150", "–"]  # decreasing Cmax


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------

def test_geometric_stats_by_hand():
    g = descriptive.geometric_stats([10.0, 1000.0, np.nan, 0.0])
    s = (math.log(1000) - math.log(10)) / math.sqrt(2)  # SD of the two logs
    half = stats.t.ppf(0.975, 1) * s / math.sqrt(2)
    assert g["n_positive"] == 2
    assert g["geo_mean"] == pytest.approx(100.0)
    assert g["geo_ci_low"] == pytest.approx(100 * math.exp(-half))
    assert g["geo_ci_high"] == pytest.approx(100 * math.exp(half))
    assert g["geo_cv_pct"] == pytest.approx(100 * math.sqrt(math.exp(s * s) - 1))
    one = descriptive.geometric_stats([5.0])
    assert one["geo_mean"] == pytest.approx(5.0) and math.isnan(one["geo_ci_low"])


def test_summarise_agrees_with_nca_summary(small):
    k, p = small
    kp = K.kinetic_parameters(k, p)
    summ = K.summarise(kp, conf_level=0.9).set_index("parameter")
    ref = nca(k).summary(conf_level=0.9).set_index("parameter")
    for ours, theirs in (("cmax", "cmax"), ("tlast", "tlast"), ("auc_0_28", "auc_interval")):
        for col in ("n", "median", "min", "max", "geo_mean", "geo_ci_low", "geo_ci_high",
                    "geo_cv_pct"):
            assert summ.loc[ours, col] == pytest.approx(ref.loc[theirs, col], nan_ok=True)
    assert summ.loc["cmax", "median"] == (1000 + 150) / 2
    sub = K.summarise(kp, subset=kp["expanded"]).set_index("parameter")
    assert sub.loc["cmax", "n"] == 1 and sub.loc["cmax", "median"] == 1000.0


def test_geometric_means_by_response():
    params = pd.DataFrame({"cmax": [10.0, 1000.0, 100.0, 1.0], "mrd_cr": [True, True, False, False]})
    gm = K.geometric_means(params).set_index("level")
    assert gm.loc[True, "geo_mean"] == pytest.approx(100.0)
    assert gm.loc[False, "geo_mean"] == pytest.approx(10.0)
    # W for MRD-CR = #(x > y) pairs: 10>1, 1000>100, 1000>1 -> 3 of 4; exact p = 2*P(W >= 3)
    # for sizes 2, 2: W takes 0,1,2,2,3,4 over the 6 arrangements -> P(W >= 3) = 2/6.
    assert gm.loc[True, "p_value"] == pytest.approx(2 * 2 / 6)
    assert gm.loc[True, "test_method"] == "exact"


def test_bca_summary_by_hand(small):
    _, p = small
    p = p.assign(bca_onset_day=[3, pd.NA, 9], bca_ongoing=[False, pd.NA, True])
    b = K.bca_summary(p)
    assert (b["n"], b["n_bca"], b["n_ongoing"]) == (3, 2, 1)
    assert (b["onset_min"], b["onset_max"], b["duration_median"]) == (3.0, 9.0, (30 + 12) / 2)


# --------------------------------------------------------------------------------------------
# Mann-Whitney
# --------------------------------------------------------------------------------------------

def test_exact_rank_sum_by_hand():
    r = rank_tests.rank_sum_test([1, 2, 3], [4, 5])
    assert (r.statistic, r.method, r.n1, r.n2) == (0.0, "exact", 3, 2)
    assert r.p_value == pytest.approx(2 * 1 / math.comb(5, 2))
    # x ranks 1, 4, 6 -> W = 11 - 6 = 5 <= 12/2: p = 2 P(W <= 5) = 2 (1+1+2+3+4+4)/35
    r = rank_tests.rank_sum_test([1.5, 4, 6], [2, 3, 5, 7])
    assert r.statistic == 5.0 and r.p_value == pytest.approx(30 / 35)
    # the upper tail: W = 12 - 5 = 7 > 6, p = 2 P(W >= 7) (symmetric) = 30/35 as well
    r = rank_tests.rank_sum_test([2, 3, 5, 7], [1.5, 4, 6])
    assert r.statistic == 7.0 and r.p_value == pytest.approx(30 / 35)


def test_exact_matches_scipy_exact_distribution():
    rng = np.random.default_rng(3)
    for n1, n2 in ((2, 48), (7, 9), (20, 25), (49, 3)):
        x, y = rng.normal(size=n1), rng.normal(0.5, size=n2)
        ref = stats.mannwhitneyu(x, y, method="exact").pvalue
        assert rank_tests.rank_sum_test(x, y).p_value == pytest.approx(ref, rel=1e-10)


def test_normal_approximation_with_ties_by_hand():
    # pooled 1, 2, 2, 2, 3, 3: mid-ranks 1, 3, 3, 3, 5.5, 5.5; W = (1 + 3 + 3) - 6 = 1.
    # z0 = 1 - 9/2 = -3.5; ties 3 and 2: sum(t^3 - t) = 24 + 6 = 30, / (6*5) = 1;
    # sigma^2 = (9/12)(7 - 1) = 4.5; corrected z = (-3.5 + 0.5)/sqrt(4.5) = -sqrt(2);
    # p = 2 Phi(-sqrt 2) = erfc(1).
    r = rank_tests.rank_sum_test([1, 2, 2], [2, 3, 3])
    assert r.method == "asymptotic" and r.ties and r.statistic == 1.0
    assert r.p_value == pytest.approx(math.erfc(1.0), rel=1e-12)
    assert "ties" in r.note
    # without continuity correction: z = -3.5/sqrt(4.5)
    r = rank_tests.rank_sum_test([1, 2, 2], [2, 3, 3], correct=False)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(3.5 / math.sqrt(4.5)), rel=1e-12)
    assert r.describe() == "normal approximation with tie correction"
    with pytest.warns(UserWarning, match="ties"):
        assert rank_tests.rank_sum_test([1, 2, 2], [2, 3, 3], method="exact").method == "asymptotic"


def test_auto_switches_to_the_normal_approximation_at_50():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=3)
    r = rank_tests.rank_sum_test(x, y)
    n = 53
    z = r.statistic - 150 / 2
    sigma = math.sqrt(150 / 12 * (n + 1))
    p = 2 * stats.norm.sf((abs(z) - 0.5) / sigma)
    assert r.method == "asymptotic" and r.p_value == pytest.approx(p, rel=1e-12)
    assert rank_tests.rank_sum_test(x[:49], y).method == "exact"
    assert rank_tests.rank_sum_test(x[:49], y, method="asymptotic").method == "asymptotic"


def test_mann_whitney_groups_and_degenerate_cases():
    r = rank_tests.mann_whitney([1, 2, 3, 4, np.nan, 5], ["a", "a", "a", "b", "b", None])
    assert (r.n1, r.n2, r.levels) == (3, 1, ("a", "b"))
    assert r.p_value == pytest.approx(2 * 1 / 4)  # W = 0 of C(4,1) = 4 arrangements
    assert rank_tests.mann_whitney([1, 2], ["a", "a"], levels=("a", "b")).method == "not computable"
    assert math.isnan(rank_tests.rank_sum_test([1, 1], [1, 1]).p_value)
    with pytest.raises(ValueError, match="two levels"):
        rank_tests.mann_whitney([1, 2, 3], ["a", "b", "c"])


# --------------------------------------------------------------------------------------------
# Spearman
# --------------------------------------------------------------------------------------------

def test_spearman_exact_by_hand():
    # d = (-1, 1, -1, 1, 0): S = 4, rho = 1 - 6*4/(5*24) = 0.8. Permutations of 5 with S <= 4:
    # identity (0), 4 adjacent transpositions (2), 3 pairs of disjoint adjacent ones (4) = 8;
    # p = 2 * 8/120.
    r = rank_tests.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert r.r == pytest.approx(0.8) and r.method == "exact" and r.statistic == pytest.approx(4)
    assert r.p_value == pytest.approx(16 / 120)
    neg = rank_tests.spearman([1, 2, 3, 4, 5], [4, 5, 2, 3, 1])  # reversed pattern: upper tail
    assert neg.r == pytest.approx(-0.8) and neg.p_value == pytest.approx(16 / 120)


def test_spearman_t_approximation_by_hand():
    r = rank_tests.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], method="asymptotic")
    t = 0.8 * math.sqrt(3 / (1 - 0.64))
    assert r.method == "t" and r.p_value == pytest.approx(2 * stats.t.sf(t, 3), rel=1e-10)
    # ties force the t approximation; rho is the Pearson correlation of the mid-ranks
    x, y = [1, 2, 2, 3, 4, 5], [1, 3, 2, 4, 4, 6]
    rt = rank_tests.spearman(x, y)
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rho = np.corrcoef(rx, ry)[0, 1]
    assert rt.ties and rt.method == "t" and rt.r == pytest.approx(rho)
    tt = rho * math.sqrt(4 / (1 - rho ** 2))
    assert rt.p_value == pytest.approx(2 * stats.t.sf(tt, 4), rel=1e-10)


def test_spearman_degenerate_cases():
    assert rank_tests.spearman([1, 2], [2, 1]).method == "not computable"
    assert math.isnan(rank_tests.spearman([1, 1, 1, 1], [1, 2, 3, 4]).r)
    r = rank_tests.spearman([1, 2, np.nan, 4, 5, 6], [1, 3, 2, np.nan, 5, 6])
    assert r.n == 4


def test_correlations_use_bca_patients_only(small):
    k, p = small
    kp = K.kinetic_parameters(k, p)
    c = K.correlations(kp).set_index("key")
    assert c.loc["bca_tlast", "n"] == 1  # A has BCA and a Tlast; C has BCA but no Tlast
    assert c.loc["tlast_cmax", "n"] == 2
    assert set(c.index) == {"bca_tlast", "bca_cmax", "bca_auc", "tlast_cmax", "tlast_auc"}


# --------------------------------------------------------------------------------------------
# Table 3
# --------------------------------------------------------------------------------------------

def _t3_params() -> pd.DataFrame:
    n = 5
    return pd.DataFrame({
        "patient_id": list("ABCDE"), "age_years": [4.0, 10.0, 10.5, 15.0, 8.0],
        "sex": ["male", "female", "male", "female", "male"],
        "prior_hsct": [False] * n, "prior_cart": [True, False, False, False, False],
        "mrd_pre_ld": [0.0, 1e-4, 5e-4, 2e-3, 0.02], "mrd_post_ld": [0.0] * n,
        "cart_dose_1e6_per_kg": [3.68, 3.0, 4.0, 1.0, 5.0], "crs_grade": [0, 3, 4, 1, 2],
        "icans_grade": [0] * n, "neutropenia_grade4": [True] * n, "tocilizumab": [False] * n,
        "corticosteroids": [True, True, False, False, False],
        "mrd_cr": [True, True, True, True, False],
        "cmax": [100.0, 200.0, 300.0, 400.0, 500.0],
        "auc_0_28": [1e3, 2e3, 3e3, np.nan, 5e3], "tlast": [28.0, 28.0, 14.0, 56.0, 7.0],
    })


def test_table3_levels_medians_and_p_by_hand():
    t3 = K.table3(_t3_params())
    st = t3[t3["factor"] == "steroids"].set_index("level")
    assert st.loc["Yes", "n"] == 2 and st.loc["No", "n"] == 3
    assert st.loc["Yes", "cmax_median"] == 150.0 and st.loc["No", "cmax_median"] == 400.0
    assert st.loc["No", "auc_median"] == 4e3 and st.loc["No", "auc_n"] == 2  # NaN left out
    # Cmax: steroid values all below the others: W = 0, exact p = 2 * 1/C(5,2)
    assert st.loc["Yes", "p_cmax"] == pytest.approx(2 / math.comb(5, 2))
    assert st.loc["Yes", "method_cmax"] == "exact"
    assert st.loc["Yes", "method_tlast"] == "asymptotic"  # Tlast 28, 28: ties
    age = t3[t3["factor"] == "age"].set_index("level")
    assert age.loc["0–10", "n"] == 3 and age.loc[">10", "n"] == 2  # 10.0 is in 0-10
    dose = t3[t3["factor"] == "dose"].set_index("level")
    assert dose.loc["≥3.68", "n"] == 3  # 3.68 itself is >= the threshold
    crs = t3[t3["factor"] == "crs"].set_index("level")
    assert crs.loc["≥3", "n"] == 2
    pre = t3[t3["factor"] == "pre_ld_mrd_1e4"].set_index("level")
    assert pre.loc["≥10⁻⁴", "n"] == 4  # 1e-4 itself is >= the cut
    empty = t3[t3["factor"] == "icans"].set_index("level")
    assert empty.loc["Yes", "n"] == 0 and math.isnan(empty.loc["Yes", "p_cmax"])


def test_table3_factor_parameters_and_order():
    f = K.table3_factors(age_cut=12, mrd_cuts=[1e-3], dose_threshold=3.0)
    keys = [x.key for x in f]
    assert keys[:4] == ["age", "sex", "hsct_history", "cart_history"]
    assert keys[4:6] == ["pre_ld_mrd_1e3", "post_ld_mrd_1e3"]
    assert keys[-1] == "mrd_cr_d28" and len(keys) == 13
    assert [x.level_ids for x in f if x.key in ("age", "dose")] == [("0_12", "gt12"),
                                                                    ("ge3", "lt3")]
    t3 = K.table3(_t3_params(), f)
    assert t3[t3["factor"] == "age"]["level"].tolist() == ["0–12", ">12"]
    assert t3[t3["factor"] == "dose"].set_index("level").loc["≥3", "n"] == 4  # 3.0 is >= 3
    assert len(K.table3(_t3_params())["factor"].unique()) == 17  # the rows of the paper's Table 3


def test_cut_identifiers():
    assert [units.cut_id(x) for x in (1e-4, 1e-3, 1e-2, 2.5e-3, 3.68, 10.0, 12.5)] == \
        ["1e4", "1e3", "1e2", "2p5e3", "368", "10", "125"]
    with pytest.raises(ValueError):
        units.cut_id(0.0)


def test_table3_cells_are_keyed_by_factor_cut_and_level_not_by_position():
    from analysis_lib.paper import registry as rg

    t3 = K.table3(_t3_params())
    cells = K.table3_cells(t3)
    # every key of the paper's Table 3 in the registry is produced, and nothing else
    reg = rg.canonical(rg.load_registry())
    assert set(cells) == set(reg.loc[reg["section"] == "Table 3", "key"])
    # the cells come from their own row, whatever the row order
    pre = t3[(t3["factor"] == "pre_ld_mrd_1e3") & (t3["level"] == "≥10⁻³")].iloc[0]
    assert cells["t3_pre_ld_mrd_1e3_ge1e3_n"] == pre["n"] == 2  # 2e-3 and 0.02
    assert cells["t3_pre_ld_mrd_1e3_p_cmax"] == pre["p_cmax"]
    shuffled = K.table3_cells(t3.sample(frac=1.0, random_state=3))
    assert shuffled == pytest.approx(cells, nan_ok=True)
    # another cut gives other keys, never the paper's
    other = K.table3_cells(K.table3(_t3_params(), K.table3_factors(mrd_cuts=[5e-3])))
    assert "t3_pre_ld_mrd_5e3_lt5e3_n" in other and "t3_pre_ld_mrd_1e3_lt1e3_n" not in other


def test_table3_display_contrast_and_counts():
    t3 = K.table3(_t3_params())
    shown = K.table3_display(t3)
    # the paper's layout in five columns: a bold row per factor carrying its three p-values
    # in the columns of the parameters they test, then a row per level
    assert list(shown.columns) == ["Characteristic", "N", *K.TABLE3_HEADERS.values()]
    assert len(shown) == 17 + 2 * 17
    head = shown[shown["Characteristic"] == "**Steroids**"].iloc[0]
    assert head["N"] == ""
    assert head[K.TABLE3_HEADERS["cmax"]] == f"p = {2 / 10:.3f}"
    yes = shown.iloc[shown.index[shown["Characteristic"] == "**Steroids**"][0] + 1]
    assert yes["Characteristic"] == "&emsp;Yes" and yes["N"] == "2"
    assert yes[K.TABLE3_HEADERS["cmax"]] == "150"  # (100 + 200) / 2
    # MRD factors and the dose as the paper prints them: the cut shows in the levels
    assert shown["Characteristic"].tolist().count("**Pre-LD MRD**") == 3
    assert "&emsp;≥3.68 ×10⁶/kg" in shown["Characteristic"].tolist()
    c = K.contrast(t3, "crs", "cmax", level="≥3")
    # grade >= 3: B 200, C 300 -> 250; grade 0-2: A 100, D 400, E 500 -> 400
    assert (c.level_a, c.median_a, c.median_b) == ("≥3", 250.0, 400.0)
    assert c.comparison == "lower than" and c.text("copies/µg DNA").startswith("250 vs 400")
    counts = K.method_counts(t3)
    assert sum(counts.values()) == 3 * 17
    assert formatting.p_value(0.0004) == "<0.001" and formatting.p_phrase(0.0172) == "p = 0.017"


def test_table3_display_with_the_papers_values_and_suppression():
    from analysis_lib.core import suppression
    from analysis_lib.paper import registry as rg

    t3 = K.table3(_t3_params())
    paper = K.PaperValues.load("kinetics", K.table3_cells(t3))
    shown = K.table3_display(t3, paper)
    cells = [v for col in shown.columns[1:] for v in shown[col] if isinstance(v, K.Compared)]
    assert len(cells) == 187  # every cell of the paper's Table 3 (17 factors x 11)
    reg = rg.load_registry().set_index("key")
    steroids = shown.index[shown["Characteristic"] == "**Steroids**"][0]
    p = shown.at[steroids, K.TABLE3_HEADERS["auc"]]
    assert p.published == reg.at["t3_steroids_p_auc28", "value_text"] == "0.012"
    yes_cmax = shown.at[steroids + 1, K.TABLE3_HEADERS["cmax"]]
    # the registry prints 135522; the book's formatter adds the thousands separator
    assert yes_cmax.published == "135,522" and reg.at["t3_steroids_yes_cmax_median",
                                                       "value"] == 135522
    card = paper.card
    assert yes_cmax.status == card.at["t3_steroids_yes_cmax_median", "status"] != ""
    n_cell = shown.at[steroids + 1, "N"]
    assert (n_cell.reproduced, n_cell.published) == ("2", "7")
    suppression.set_min_cell_count(5)
    try:
        n_cell = K.table3_display(t3, paper).at[steroids + 1, "N"]
        assert n_cell.reproduced == "<5" and n_cell.published == "7"  # published: public
    finally:
        suppression.set_min_cell_count(0)
    # a cut the paper did not use has no published value, and says nothing
    other = K.table3(_t3_params(), K.table3_factors(mrd_cuts=[5e-3]))
    alone = K.table3_display(other, K.PaperValues.load("kinetics", K.table3_cells(other)))
    pre = alone.index[alone["Characteristic"] == "**Pre-LD MRD**"][0]
    assert alone.at[pre + 1, "N"] == K.Compared("4")
    comparison = K.table3_comparison(t3, paper)
    assert len(comparison) == 187 and set(comparison["key"]) == set(K.table3_cells(t3))
    row = comparison.set_index("key").loc["t3_steroids_p_auc28"]
    assert row["published"] == 0.012 and row["reproduced"] == K.table3_cells(t3)[
        "t3_steroids_p_auc28"]


# --------------------------------------------------------------------------------------------
# Median profiles
# --------------------------------------------------------------------------------------------

def test_blq_quantile_rules():
    assert K.blq_quantile([500, 1000, 0], [False, False, True], 50) == (500.0, False)
    assert K.blq_quantile([0, 0, 500], [True, True, False], 50) == (pytest.approx(np.nan, nan_ok=True), True)
    v, blq = K.blq_quantile([0, 980], [True, False], 50)  # between a BLQ and 980: BLQ
    assert blq and math.isnan(v)
    assert K.blq_quantile([200, 400], [False, False], 50) == (300.0, False)
    assert K.blq_quantile([100, 200, 300, 400, 500], [False] * 5, 25) == (200.0, False)


def test_median_profiles_carry_blq_forward(small):
    k, p = small
    k = pd.concat([k, kin(("C", [(0, BLQ), (7, 300), (14, 800), (28, 400)]))], ignore_index=True)
    p = p.assign(d28_response="cr", d28_mrd=0.0)  # one group: all MRD-CR
    kp = K.kinetic_parameters(k, p)
    prof = K.median_profiles(k, kp, days=(7, 14, 28, 35, 84)).set_index("day")
    assert prof.loc[7, "n"] == 3 and prof.loc[7, "median"] == 300.0
    # day 14: A 500, B BLQ, C 800 -> median 500
    assert prof.loc[14, "median"] == 500.0 and prof.loc[14, "n_blq"] == 1
    # day 28: A BLQ, B ended (BLQ carried from day 21), C 400 -> median BLQ
    assert prof.loc[28, "n"] == 3 and prof.loc[28, "n_carried"] == 1 and prof.loc[28, "median_blq"]
    # day 35 is the last sampled day of the table; day 84 is after it and left out
    assert 84 not in prof.index
    # C is still measurable at its last sample (day 28): not carried
    assert prof.loc[35, "n"] == 2 and prof.loc[35, "n_carried"] == 1
    no_carry = K.median_profiles(k, kp, days=(28,), carry_blq_forward=False)
    assert no_carry["n"].tolist() == [2]
    short = K.median_profiles(k, kp.assign(last_followup_day=30), days=(35,))
    assert short["n_carried"].tolist() == [0]  # carried only up to the last follow-up


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def test_figures_draw(small):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from analysis_lib.book.figures import kinetics as plots
    from analysis_lib.book.figures import style

    k, p = small
    kp = K.kinetic_parameters(k, p).assign(mrd_pre_ld=[0.0, 2e-3, 0.05],
                                           mrd_post_ld=[0.0, 1e-4, 0.02])
    figs = [plots.kinetic_profiles(k, kp.set_index("patient_id")["mrd_cr"], 100.0),
            plots.median_profiles(K.median_profiles(k, kp)),
            plots.correlation_panels(kp, K.correlations(kp), ["bca_tlast", "bca_cmax", "bca_auc"]),
            plots.correlation_panels(kp, K.correlations(kp), ["tlast_cmax", "tlast_auc"]),
            plots.kinetics_by_burden(kp, [1e-4, 1e-3, 1e-2])]
    for fig in figs:
        assert fig.get_size_inches()[0] <= style.WIDTH  # sized for the book's page
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert not any(re.search(r"\b[ABC]\b", t) for t in texts)  # no patient labels
        assert style.problems(fig) == []  # no overlapping, tiny or cut-off text
        assert all(ax.get_visible() for ax in fig.axes)  # no empty panel
    log_axes = figs[0].axes
    assert all(ax.get_yscale() == "log" for ax in log_axes)
    lloq_lines = [ln for ln in log_axes[0].lines if list(ln.get_ydata()) == [100.0, 100.0]]
    assert lloq_lines and lloq_lines[0].get_linestyle() == "--"


# --------------------------------------------------------------------------------------------
# R parity (live)
# --------------------------------------------------------------------------------------------

def _mw_cases() -> list[dict]:
    rng = np.random.default_rng(2025)
    cont = lambda n, mu=0.0: rng.lognormal(mu, 1.0, n)  # noqa: E731  (no ties)
    grid = lambda n, mu=0.0: np.round(rng.lognormal(3 + mu, 0.6, n) / 7) * 7  # noqa: E731
    cases = [
        ("no ties 5 vs 7", cont(5), cont(7, 1.0), "auto", True),
        ("n=2 vs 48 no ties, extreme", cont(2, -3.0), cont(48, 1.0), "auto", True),
        ("n=2 vs 48 no ties", cont(2), cont(48), "auto", True),
        ("n=2 vs 48 ties", grid(2), grid(48), "auto", True),
        ("n=48 vs 2 ties, no correction", grid(48), grid(2), "auto", False),
        ("ties 30 vs 30", grid(30), grid(30, 0.3), "auto", True),
        ("50 vs 10 auto asymptotic", cont(50), cont(10, 0.5), "auto", True),
        ("60 vs 55 no correction", cont(60), cont(55, 0.2), "auto", False),
        ("exact forced 49 vs 49", cont(49), cont(49, 0.4), "exact", True),
        ("asymptotic forced no ties", cont(12), cont(9, 1.0), "asymptotic", True),
        ("asymptotic forced, no correction", cont(12), cont(9, 1.0), "asymptotic", False),
        ("1 vs 10", cont(1, 3.0), cont(10), "auto", True),
        ("all above: W max", cont(8, 5.0), cont(6), "auto", True),
        ("heavy ties", np.array([1, 1, 2, 2, 2, 3.0]), np.array([2, 3, 3, 3, 4, 4, 4.0]), "auto",
         True),
    ]
    return [{"case": i, "label": lab, "x": x, "y": y, "method": m, "correct": c}
            for i, (lab, x, y, m, c) in enumerate(cases)]


R_WILCOX = r"""
out <- data.frame()
for (i in sort(unique(cases$case))) {
  s <- settings[settings$case == i, ]
  x <- cases$value[cases$case == i & cases$sample == "x"]
  y <- cases$value[cases$case == i & cases$sample == "y"]
  ex <- if (s$method == "auto") NULL else (s$method == "exact")
  t <- suppressWarnings(wilcox.test(x, y, exact = ex, correct = as.logical(s$correct)))
  out <- rbind(out, data.frame(case = i, W = unname(t$statistic), p = t$p.value,
                               exact = as.integer(grepl("exact", t$method))))
}
write_output("wilcox", out)
"""


@pytest.mark.r_parity
def test_mann_whitney_matches_r_wilcox_test():
    from rparity import record_difference, run_r

    cases = _mw_cases()
    long = pd.concat([pd.DataFrame({"case": c["case"], "sample": s, "value": c[s]})
                      for c in cases for s in ("x", "y")], ignore_index=True)
    settings = pd.DataFrame({"case": [c["case"] for c in cases],
                             "method": [c["method"] for c in cases],
                             "correct": [int(c["correct"]) for c in cases]})
    r = run_r(R_WILCOX, {"cases": long, "settings": settings})["wilcox"].set_index("case")
    ours_p, ref_p = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in cases:
            res = rank_tests.rank_sum_test(c["x"], c["y"], method=c["method"], correct=c["correct"])
            row = r.loc[c["case"]]
            assert res.statistic == row["W"], c["label"]
            assert (res.method == "exact") == bool(row["exact"]), c["label"]
            assert res.p_value == pytest.approx(row["p"], rel=1e-6, abs=1e-12), c["label"]
            ours_p.append(res.p_value)
            ref_p.append(row["p"])
    record_difference("kinetics.mann_whitney p", ours_p, ref_p)
    assert {c["label"] for c in cases if rank_tests.rank_sum_test(c["x"], c["y"]).method == "exact"}


def _sp_cases() -> list[dict]:
    rng = np.random.default_rng(77)
    out = []
    for n in (4, 5, 7, 9, 10, 12, 20, 35, 60, 120):
        x = rng.normal(size=n)
        for rho in (0.6, -0.3):
            y = rho * x + rng.normal(size=n)
            for method in ("auto", "asymptotic"):
                out.append({"x": x, "y": y, "method": method, "continuity": False})
    x = rng.normal(size=15)
    out.append({"x": x, "y": x + rng.normal(size=15), "method": "asymptotic", "continuity": True})
    for n in (8, 25, 50):  # ties (a sampling grid, like Tlast)
        x = np.round(rng.uniform(0, 6, n)) * 7
        y = np.exp(x / 20 + rng.normal(size=n))
        out.append({"x": x, "y": y, "method": "auto", "continuity": False})
    out.append({"x": np.arange(1.0, 8.0), "y": np.arange(1.0, 8.0), "method": "auto",
                "continuity": False})  # rho = 1 exactly
    out.append({"x": np.arange(1.0, 12.0), "y": -np.arange(1.0, 12.0) ** 2, "method": "auto",
                "continuity": False})  # rho = -1, Edgeworth branch
    for i, c in enumerate(out):
        c["case"] = i
    return out


R_SPEARMAN = r"""
out <- data.frame()
for (i in sort(unique(pairs$case))) {
  s <- settings[settings$case == i, ]
  d <- pairs[pairs$case == i, ]
  ex <- if (s$method == "auto") NULL else FALSE
  t <- suppressWarnings(cor.test(d$x, d$y, method = "spearman", exact = ex,
                                 continuity = as.logical(s$continuity)))
  out <- rbind(out, data.frame(case = i, rho = unname(t$estimate), S = unname(t$statistic),
                               p = t$p.value))
}
write_output("spearman", out)
"""


@pytest.mark.r_parity
def test_spearman_matches_r_cor_test():
    from rparity import record_difference, run_r

    cases = _sp_cases()
    pairs = pd.concat([pd.DataFrame({"case": c["case"], "x": c["x"], "y": c["y"]})
                       for c in cases], ignore_index=True)
    settings = pd.DataFrame({"case": [c["case"] for c in cases],
                             "method": [c["method"] for c in cases],
                             "continuity": [int(c["continuity"]) for c in cases]})
    r = run_r(R_SPEARMAN, {"pairs": pairs, "settings": settings})["spearman"].set_index("case")
    methods = set()
    got = {"r": [], "p": []}
    ref = {"r": [], "p": []}
    for c in cases:
        res = rank_tests.spearman(c["x"], c["y"], method=c["method"], continuity=c["continuity"])
        row = r.loc[c["case"]]
        methods.add(res.method)
        assert res.r == pytest.approx(row["rho"], rel=1e-9, abs=1e-12), c["case"]
        assert res.p_value == pytest.approx(row["p"], rel=1e-6, abs=1e-12), (c["case"], res)
        got["r"].append(res.r)
        ref["r"].append(row["rho"])
        got["p"].append(res.p_value)
        ref["p"].append(row["p"])
    assert methods == {"exact", "edgeworth", "t"}  # every branch was compared with R
    record_difference("kinetics.spearman r", got["r"], ref["r"])
    record_difference("kinetics.spearman p", got["p"], ref["p"])


# --------------------------------------------------------------------------------------------
# The chapter, executed on a different cohort
# --------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_kinetics_notebook_on_a_different_cohort(tmp_path: Path):
    import nbformat

    from analysis_lib.book import report
    from analysis_lib.book.pipeline import ROOT, execute_notebook, notebook_parameters
    from analysis_lib.book.report import glued_values
    from analysis_lib.data.validation import load_dataset
    from analysis_lib.synthetic.generator import generate_cohort, write_cohort

    data = tmp_path / "centre5"
    write_cohort(generate_cohort(n=300, seed=5), data)
    source = ROOT / "notebooks" / "kinetics.py"
    over = {"conf_level": 0.9, "dose_threshold": 3.0, "expansion_threshold": 500.0}
    params = notebook_parameters("kinetics", source, data, over)
    assert params["dose_threshold"] == 3.0 and params["expansion_threshold"] == 500.0
    work = tmp_path / "work"
    res = execute_notebook("kinetics", source, params, work)
    assert res.status == "executed", res.error
    nb_path = work / "kinetics.ipynb"
    g = glued_values(nb_path)

    ds = load_dataset(data)
    pt, kt = ds.tables["patients"], ds.tables["kinetics"]
    kp = K.kinetic_parameters(kt, pt, expansion_threshold=500.0)
    assert g["n_patients"] == 300 and g["n_samples"] == len(kt)
    assert g["n_expanded"] == int(kp["expanded"].sum())
    summ = K.summarise(kp, conf_level=0.9).set_index("parameter")
    for p in ("cmax", "tmax", "tlast", "auc_0_28"):
        for stat in ("median", "min", "max", "geo_mean", "geo_ci_low", "geo_ci_high"):
            assert g[f"{p}_{stat}"] == pytest.approx(summ.loc[p, stat]), (p, stat)
    gm = K.geometric_means(kp, conf_level=0.9).set_index("level")
    assert g["gm_cmax_mrdcr_geo_ci_low"] == pytest.approx(gm.loc[True, "geo_ci_low"])
    assert g["n_other"] == gm.loc[False, "n"]
    assert "90% CI" in g["gm_cmax_mrdcr_text"]
    t3 = K.table3(kp, K.table3_factors(mrd_cuts=[1e-4, 1e-3, 1e-2], dose_threshold=3.0))
    for p in ("cmax", "auc", "tlast"):
        assert g[f"p_mrdcr_{p}"] == pytest.approx(K.contrast(t3, "mrd_cr_d28", p).p_value)
        assert g[f"p_steroids_{p}"] == pytest.approx(K.contrast(t3, "steroids", p).p_value)
        assert g[f"p_crs_{p}"] == pytest.approx(K.contrast(t3, "crs", p).p_value)
    counts = K.method_counts(t3)
    assert g["n_tests_exact"] == counts.get("exact", 0)
    assert g["n_tests_asymptotic"] == counts.get("asymptotic", 0)
    corr = K.correlations(kp).set_index("key")
    for key in corr.index:
        assert g[f"r_{key}"] == pytest.approx(corr.loc[key, "r"])
        assert g[f"p_{key}"] == pytest.approx(corr.loc[key, "p_value"], abs=1e-300)
    bca = K.bca_summary(pt)
    assert g["n_bca"] == bca["n_bca"] and g["bca_duration_median"] == bca["duration_median"]

    # every glue reference in the narrative has a value; figures and tables are there
    nb = nbformat.read(str(nb_path), as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    refs = set(re.findall(r"\{glue:(?:text|md)\}`([^`:]+)", md))
    refs |= set(re.findall(r"```\{glue:figure\} (\S+)", md))
    assert refs and refs <= set(g), refs - set(g)
    # figures are glued as SVG (report.glued_values recognises PNG only, so look at the
    # glued output itself)
    svg = {o["metadata"]["scrapbook"]["name"] for c in nb.cells for o in c.get("outputs", [])
           if o.get("metadata", {}).get("scrapbook")
           and any(k.endswith("image/svg+xml") for k in o.get("data", {}))}
    assert {"fig_kinetic_profiles", "fig_median_profiles", "fig_kinetics_by_burden",
            "fig_tlast_correlations", "fig_bca_correlations", "fig_half_life"} <= svg
    outputs = "\n".join(str(o.get("data", {}).get("text/markdown", ""))
                        for c in nb.cells for o in c.get("outputs", []))
    for label in ("tbl-kinetics-summary", "tbl-nca", "tbl-gm-response", "tbl-table3"):
        assert f":name: {label}" in outputs
    assert "| &emsp;<3 ×10⁶/kg |" in outputs  # the dose threshold of the parameters is used
    assert 'class="sc-pub">paper ' in outputs  # the paper's values beside this build's
    # no study code anywhere in what the book shows
    shown = "\n".join(str(o) for c in nb.cells for o in c.get("outputs", []))
    assert not any(pid in shown for pid in pt["patient_id"])
    csv = work / "outputs" / "kinetics" / "kinetic_parameters.csv"
    assert report.read_output_metadata(csv)["synthetic"] is True
    written = pd.read_csv(csv)
    assert len(written) == 300
    assert written["cmax"].to_numpy() == pytest.approx(kp["cmax"].to_numpy(), nan_ok=True)
    # every displayed table has its CSV, and every CSV is linked from the page
    for name in K.analyse(pt, kt).downloads:
        assert (work / "outputs" / "kinetics" / f"{name}.csv").is_file(), name
        assert f"<outputs/kinetics/{name}.csv>" in md, name
    # code on demand: every code cell but the parameters is collapsed, none removed
    tags = [c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code"]
    assert not any("remove-input" in t for t in tags)
    assert all("hide-input" in t for t in tags
               if "parameters" not in t and "injected-parameters" not in t)

    # Beyond the paper: the persistence-phase half-life, glued from the library's result.
    hl = K.persistence_half_life(kp, kinetics=kt)
    assert g["hl_all_n_estimable"] == hl.overall["n_estimable"] > 0
    for key, level in (("all", "all"), ("mrdcr", True), ("other", False)):
        row = hl.overall if level == "all" else hl.group(level)
        for stat in ("median", "min", "max"):
            assert g[f"hl_{key}_{stat}"] == pytest.approx(row[stat], nan_ok=True), (key, stat)
        assert g[f"hl_{key}_text"] == hl.group_text(level)
    assert g["p_hl_mrdcr"] == pytest.approx(hl.test.p_value, nan_ok=True)
    assert g["hl_reasons_text"] == hl.reasons_text()
    assert g["hl_min_points"] == 3
    for label in ("tbl-half-life", "tbl-half-life-patients"):
        assert f":name: {label}" in outputs
    written = pd.read_csv(work / "outputs" / "kinetics" / "persistence_half_life.csv")
    assert len(written) == 300 and written["half_life"].notna().sum() == g["hl_all_n_estimable"]
