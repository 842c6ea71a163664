"""Tests of the internal-consistency audit (:mod:`analysis_lib.paper.audit`).

Every expected number is worked out by hand in the comments, or comes from an independent
library call (``scipy.stats.norm``, ``scipy.stats.t``), a brute-force search, or a direct
read of the registry. None is taken from the function under test. Broken registries for the
negative cases are made by editing a copy of the registry frame.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis_lib.paper import audit as au
from analysis_lib.paper import registry as rg


@pytest.fixture(scope="module")
def reg() -> pd.DataFrame:
    return rg.load_registry()


@pytest.fixture(scope="module")
def audit(reg: pd.DataFrame) -> pd.DataFrame:
    return au.run_audit(reg)


def one(df: pd.DataFrame, check: str, key: str) -> pd.Series:
    sub = df.loc[df["check"].eq(check) & df["key"].eq(key)]
    assert len(sub) == 1, (check, key, len(sub))
    return sub.iloc[0]


def edited(reg: pd.DataFrame, key: str, **changes) -> pd.DataFrame:
    out = reg.copy()
    i = out.index[out["key"].eq(key)][0]
    for col, v in changes.items():
        out.at[i, col] = v
    return out


def wald_p(est: float, lo: float, hi: float, z: float = 1.959964) -> float:
    """Independent Wald p (Altman & Bland 2011), for expectations."""
    se = (math.log(hi) - math.log(lo)) / (2 * z)
    return float(2 * stats.norm.sf(abs(math.log(est) / se)))


# ============================================================================================
# Printed precision
# ============================================================================================

def test_decimals_and_half_unit():
    assert au.decimals("0.030") == 3
    assert au.decimals("<0.001") == 3
    assert au.decimals("30,860") == 0
    assert au.decimals("18.0") == 1
    assert au.half_unit("0.032") == pytest.approx(0.0005)
    assert au.half_unit("14") == pytest.approx(0.5)
    # "1,890,000" with its zeros read as not significant: rounded to the thousands, ± 5,000.
    assert au.half_unit("1,890,000", integer_zeros_significant=False) == pytest.approx(5000)
    assert au.half_unit("1,890,000") == pytest.approx(0.5)


@pytest.mark.parametrize("text, expected", [
    ("0.944,0.995", ("0.944", "0.995")),
    ("0.203, 6.289", ("0.203", "6.289")),
    ("0.361-0.821", ("0.361", "0.821")),
    ("64.8–85.1", ("64.8", "85.1")),
    ("1,602-1,890,000", ("1,602", "1,890,000")),
    ("7.6 to >5000", ("7.6", ">5000")),
    ("-5 to -3", ("-5", "-3")),
])
def test_interval_limit_texts(text, expected):
    assert au.interval_limit_texts(text) == expected


def test_printed_p_interval():
    assert au.printed_p_interval("0.032") == pytest.approx((0.0315, 0.0325))
    assert au.printed_p_interval("<0.001") == pytest.approx((0.0, 0.001))
    assert au.printed_p_interval("0.030") == pytest.approx((0.0295, 0.0305))


# ============================================================================================
# 1. p from ratio CIs
# ============================================================================================

def test_wald_p_hand_case_female_lfs():
    # Table 1A female: HR 0.235 (0.062-0.884).
    # SE = (ln 0.884 - ln 0.062)/3.92 = (-0.12330 + 2.78062)/3.92 = 0.6779
    # z = ln 0.235 / 0.6779 = -1.44817/0.6779 = -2.136; p = 2·Phi(-2.136) = 0.0327
    p, p_min, p_max = au.wald_p_interval(0.235, 0.062, 0.884, 0.0005, 0.0005, 0.0005)
    assert p == pytest.approx(0.0327, abs=2e-4)
    assert p == pytest.approx(wald_p(0.235, 0.062, 0.884), rel=1e-6)
    # Extremes by hand: smallest p at est 0.2345 (farther from 1) with the narrowest CI
    # (0.0625, 0.8835); largest at est 0.2355 with the widest CI (0.0615, 0.8845).
    assert p_min == pytest.approx(wald_p(0.2345, 0.0625, 0.8835), rel=1e-6)
    assert p_max == pytest.approx(wald_p(0.2355, 0.0615, 0.8845), rel=1e-6)
    # The printed 0.032 stands for [0.0315, 0.0325]; it meets [p_min, p_max] -> consistent.
    assert p_min <= 0.0325 and p_max >= 0.0315


def test_wald_p_interval_brute_force():
    # Independent check of the monotonicity argument: random points in the rounding box
    # never leave [p_min, p_max], and the corners reach both ends.
    rng = np.random.default_rng(7)
    for est, lo, hi in [(0.235, 0.062, 0.884), (1.023, 0.527, 1.983), (0.067, 0.006, 0.725)]:
        _, p_min, p_max = au.wald_p_interval(est, lo, hi, 0.0005, 0.0005, 0.0005)
        box = rng.uniform(-0.0005, 0.0005, size=(3000, 3))
        ps = [wald_p(est + a, lo + b, hi + c) for a, b, c in box]
        corners = [wald_p(est + a, lo + b, hi + c)
                   for a, b, c in itertools.product((-0.0005, 0.0005), repeat=3)]
        # a box around an estimate near 1 also contains est = 1 (p = 1) - not these cases
        # (wald_p uses z = 1.959964, the module the exact quantile: relative error < 1e-6)
        assert min(ps) >= p_min * (1 - 1e-6) and max(ps) <= p_max * (1 + 1e-6)
        assert min(corners) == pytest.approx(p_min, rel=1e-6)
        assert max(corners) == pytest.approx(p_max, rel=1e-6)


def test_wald_p_interval_estimate_box_containing_one():
    # HR 1.000 (0.5-2.0): the box 0.9995-1.0005 contains 1, so the largest p is 1.
    _, _, p_max = au.wald_p_interval(1.0, 0.5, 2.0, 0.0005, 0.0005, 0.0005)
    assert p_max == pytest.approx(1.0)


def test_p_from_ratio_ci_hand_cases(audit):
    # Table 1A female: consistent (above).
    assert one(audit, "p_from_ratio_ci", "hr_female_lfs")["verdict"] == "consistent"
    # Table 1A BCA: HR 0.969 (0.944-0.995). SE = (ln 0.995 - ln 0.944)/3.92
    # = (-0.005013 + 0.057629)/3.92 = 0.013423; z = ln 0.969/SE = -0.031491/0.013423 = -2.346;
    # p = 0.019. The estimate's rounding moves |ln HR| by ±0.0005/0.969 (±1.6%) and the
    # width by ±2%: p from 0.0150 (0.9685, 0.9445, 0.9945) to 0.0236 (0.9695, 0.9435, 0.9955),
    # which contains 0.021 -> consistent.
    assert wald_p(0.969, 0.944, 0.995) == pytest.approx(0.019, abs=5e-4)
    assert wald_p(0.9685, 0.9445, 0.9945) < 0.0205 < 0.0215 < wald_p(0.9695, 0.9435, 0.9955)
    assert one(audit, "p_from_ratio_ci", "hr_bca_lfs")["verdict"] == "consistent"
    # Table 2 female, univariate: OR 0.544 (0.361-0.821), printed p = 0.055.
    # SE = (ln 0.821 - ln 0.361)/3.92 = (-0.19723 + 1.01888)/3.92 = 0.20960;
    # z = ln 0.544/SE = -0.60881/0.20960 = -2.905; p = 0.0037: significant, while the
    # printed 0.055 is not -> inconsistent, a decision error.
    assert wald_p(0.544, 0.361, 0.821) == pytest.approx(0.0037, abs=1e-4)
    row = one(audit, "p_from_ratio_ci", "or_severe_crs_female")
    assert (row["verdict"], row["severity"]) == ("inconsistent", "decision")
    assert "or_severe_crs_female" in row["see_also"]
    # Table 2 dose, univariate: 0.490 (0.317-0.758): SE = (-0.27707 + 1.14885)/3.92 = 0.22239,
    # z = -0.71335/0.22239 = -3.208, p = 0.0013 vs printed 0.049: both significant, 36 times
    # smaller -> major.
    assert wald_p(0.490, 0.317, 0.758) == pytest.approx(0.0013, abs=1e-4)
    row = one(audit, "p_from_ratio_ci", "or_severe_crs_dose_low")
    assert (row["verdict"], row["severity"]) == ("inconsistent", "major")
    # Table 2 no HSCT history, univariate: 0.286 (0.056-1.446): SE = (0.36880 + 2.88240)/3.92
    # = 0.82939, z = -1.25176/0.82939 = -1.509, p = 0.131; the widest rounding gives 0.133,
    # printed 0.176 is 1.3 times that -> minor.
    assert wald_p(0.286, 0.056, 1.446) == pytest.approx(0.131, abs=1e-3)
    assert wald_p(0.2865, 0.0555, 1.4465) < 0.1755
    row = one(audit, "p_from_ratio_ci", "or_severe_crs_no_prior_hsct")
    assert (row["verdict"], row["severity"]) == ("inconsistent", "minor")
    # Table 1B no CAR-T history: 0.128 (0.015-1.059): p = 0.058 from the printed numbers, but
    # the lower limit 0.015 is known only to ±3%, and 0.057 is within reach -> consistent.
    assert wald_p(0.128, 0.015, 1.059) == pytest.approx(0.0584, abs=2e-4)
    assert one(audit, "p_from_ratio_ci", "hr_no_cart_history_os")["verdict"] == "consistent"


def test_p_from_ratio_ci_mv2_female_typo(reg):
    # Table 2 model 2 female: 0.185 (0.017-62.070), p = 0.171. SE = (4.12826 + 4.07454)/3.92
    # = 2.09255, z = -1.68740/2.09255 = -0.806, p = 0.420 -> inconsistent.
    assert wald_p(0.185, 0.017, 62.070) == pytest.approx(0.420, abs=1e-3)
    rows = {c.key: c for c in au.p_from_ratio_ci(reg)}
    assert rows["mv2_or_female"].verdict == "inconsistent"
    # With the upper limit 2.070 (the probable typo): SE = (0.72755 + 4.07454)/3.92 = 1.22502,
    # z = -1.37745, p = 0.168; the rounding of 0.017 (±3%) reaches 0.171 -> consistent.
    assert wald_p(0.185, 0.017, 2.070) == pytest.approx(0.168, abs=1e-3)
    fixed = edited(reg, "mv2_or_female", upper=2.07, interval_text="0.017-2.070")
    rows = {c.key: c for c in au.p_from_ratio_ci(fixed)}
    assert rows["mv2_or_female"].verdict == "consistent"


def test_p_from_ratio_ci_covers_every_ratio_with_ci_and_p(reg, audit):
    # Eligibility worked out here, independently: a ratio row with a 95% CI whose p is the
    # "p ..." cell of the same table row and model, or the text row "<key>_p".
    checked = audit.loc[audit["check"].eq("p_from_ratio_ci")]
    eligible = []
    for r in reg.itertuples():
        if r.statistic not in ("hazard_ratio", "odds_ratio") or r.interval_type != "ci95":
            continue
        if r.table_column:
            pcol = "p" if r.table_column == "HR (95%CI)" else \
                r.table_column.replace("OR (95%CI)", "p")
            has_p = ((reg["section"] == r.section) & (reg["table_row"] == r.table_row)
                     & (reg["table_column"] == pcol)).any()
        else:
            has_p = (reg["key"] == r.key + "_p").any()
        if has_p:
            eligible.append(r.key)
    assert len(eligible) == 21  # 3 (1A) + 3 (1B) + 13 (Table 2) + 2 text repeats
    got = checked.loc[checked["verdict"].ne("not checkable"), "key"].tolist()
    assert got == eligible
    # The IL-6 odds ratios have a p but no CI.
    for key in ("il6_or_severe_crs", "il6_or_icans"):
        assert one(audit, "p_from_ratio_ci", key)["verdict"] == "not checkable"


# ============================================================================================
# 2. Log symmetry
# ============================================================================================

def test_log_symmetry_hand_cases(audit):
    # mv2 female 0.185 (0.017-62.070): (ln 62.070 - ln 0.185)/(ln 0.185 - ln 0.017)
    # = (4.12826 + 1.68740)/(-1.68740 + 4.07454) = 5.81566/2.38714 = 2.436; sqrt(L·U) = 1.027.
    ratio = (math.log(62.070) - math.log(0.185)) / (math.log(0.185) - math.log(0.017))
    assert ratio == pytest.approx(2.436, abs=1e-3)
    row = one(audit, "log_symmetry", "mv2_or_female")
    assert (row["verdict"], row["severity"]) == ("inconsistent", "major")
    assert "2.436" in row["recomputed"]
    # BCA 0.969 (0.944, 0.995): sqrt(0.944·0.995) = 0.96917 -> prints 0.969: consistent.
    assert math.sqrt(0.944 * 0.995) == pytest.approx(0.96917, abs=1e-5)
    assert one(audit, "log_symmetry", "hr_bca_lfs")["verdict"] == "consistent"
    # Table 1B CRS(>=3) 1.122 (0.203, 6.289): ln 1.122 - (ln 0.203 + ln 6.289)/2
    # = 0.11511 - (-1.59455 + 1.83880)/2 = -0.00702. Over the rounding box it runs from
    # ln 1.1215 - (ln 0.2035 + ln 6.2895)/2 = -0.0087 to ln 1.1225 - (ln 0.2025 + ln 6.2885)/2
    # = -0.0053: never 0 -> inconsistent, though the asymmetry ratio is only 1.008 (minor).
    a_min = math.log(1.1215) - (math.log(0.2035) + math.log(6.2895)) / 2
    a_max = math.log(1.1225) - (math.log(0.2025) + math.log(6.2885)) / 2
    assert a_min == pytest.approx(-0.0087, abs=1e-4) and a_max == pytest.approx(-0.0053, abs=1e-4)
    row = one(audit, "log_symmetry", "hr_severe_crs_os")
    assert (row["verdict"], row["severity"]) == ("inconsistent", "minor")


def test_log_asymmetry_interval_brute_force():
    rng = np.random.default_rng(3)
    est, lo, hi, h = 0.364, 0.030, 4.330, 0.0005
    _, a_min, a_max = au.log_asymmetry_interval(est, lo, hi, h, h, h)
    box = rng.uniform(-h, h, size=(5000, 3))
    a = [math.log(est + x) - (math.log(lo + y) + math.log(hi + z)) / 2 for x, y, z in box]
    assert a_min - 1e-12 <= min(a) and max(a) <= a_max + 1e-12
    # corner by hand: a_min at (0.3635, 0.0305, 4.3305) = -1.011976 - (-3.490029 + 1.465683)/2
    # = +0.00020 > 0, so even the most favourable rounding leaves mv1 female (Table 2 model 1)
    # slightly asymmetric.
    assert a_min == pytest.approx(
        math.log(0.3635) - (math.log(0.0305) + math.log(4.3305)) / 2, rel=1e-12)
    assert a_min == pytest.approx(0.00020, abs=1e-5)


# ============================================================================================
# 3. CI contains estimate
# ============================================================================================

def test_ci_contains_estimate_every_ci(reg, audit):
    ci_keys = reg.loc[reg["interval_type"].eq("ci95")
                      & ~reg["section"].isin(rg.EXTERNAL_SECTIONS), "key"].tolist()
    checked = audit.loc[audit["check"].eq("ci_contains_estimate")]
    assert checked["key"].tolist() == ci_keys
    assert checked["verdict"].eq("consistent").all()
    # A broken copy: 5-year OS 90.0 outside 64.8-85.1.
    bad = edited(reg, "os_5y", value=90.0, value_text="90.0")
    rows = {c.key: c for c in au.ci_contains_estimate(bad)}
    assert (rows["os_5y"].verdict, rows["os_5y"].severity) == ("inconsistent", "major")


# ============================================================================================
# 4. Percentages (GRIM)
# ============================================================================================

def test_grim_counts_hand_cases():
    assert au.grim_counts("14", 50) == (7,)        # 7/50 = 14%
    assert au.grim_counts("15", 50) == ()          # 7/50 = 14%, 8/50 = 16%: 15% impossible
    assert au.grim_counts("18.0", 50) == (9,)      # 9/50 = 18.0%
    assert au.grim_counts("15.4", 13) == (2,)      # 2/13 = 15.38%
    assert au.grim_counts("15.4", 14) == ()        # 2/14 = 14.29%, 3/14 = 21.43%
    # 1/8 = 12.5% exactly: "13" (half-up) and "12" (half-even) both pass (inclusive bounds).
    assert au.grim_counts("13", 8) == (1,) and au.grim_counts("12", 8) == (1,)


def test_percent_vs_count_rows(reg, audit):
    # "7 cases (14%)": 100·7/50 = 14.0 -> consistent.
    row = one(audit, "percent_vs_count", "pct_chemo_intolerance")
    assert row["verdict"] == "consistent" and "100·7/50" in row["arithmetic"]
    # "24/50 (48%)": consistent.
    assert one(audit, "percent_vs_count", "g4_neutropenia_pct")["verdict"] == "consistent"
    # 68.0% CRS with no count printed: GRIM only, k = 34 (34/50 = 68.0%).
    row = one(audit, "percent_vs_count", "crs_pct")
    assert row["verdict"] == "consistent" and "k = 34" in row["recomputed"]
    # Grade >= 3 CRS 16.0% against Table 3's 8 patients with CRS 3-4: 8/50 = 16.0%.
    assert "t3_crs_grade3_4_n" in one(audit, "percent_vs_count", "severe_crs_pct")["note"]
    # every percent row with a denominator is checked, repeats included
    pct = reg.loc[reg["statistic"].eq("percent") & ~reg["section"].isin(rg.EXTERNAL_SECTIONS)]
    assert audit.loc[audit["check"].eq("percent_vs_count"), "key"].tolist() == pct["key"].tolist()
    # A broken copy: 15% with 7 of 50 (and no count fits 15% of 50).
    bad = edited(reg, "pct_chemo_intolerance", value=15.0, value_text="15")
    rows = {c.key: c for c in au.percent_vs_count(bad)}
    assert (rows["pct_chemo_intolerance"].verdict,
            rows["pct_chemo_intolerance"].severity) == ("inconsistent", "major")


# ============================================================================================
# 5-6. Medians
# ============================================================================================

def test_median_in_range(reg, audit):
    # Table 3 non-MRD-CR median Cmax 863 < overall minimum 1,602: a median of 2 is their mean,
    # so one value is <= 863 -> inconsistent, covered by the feasibility finding cmax_min.
    row = one(audit, "median_in_range", "t3_mrd_cr_d28_no_cmax_median")
    assert (row["verdict"], row["severity"]) == ("inconsistent", "major")
    assert "cmax_min" in row["see_also"].split(";")
    # every median with a range, and all 34 Table 3 median Cmax cells, are checked
    own = reg.loc[reg["statistic"].eq("median") & reg["interval_type"].eq("range"), "key"]
    t3 = reg.loc[reg["section"].eq("Table 3") & reg["table_column"].eq("Median Cmax"), "key"]
    keys = set(audit.loc[audit["check"].eq("median_in_range"), "key"])
    assert set(own) <= keys and set(t3) <= keys and len(t3) == 34
    # "median onset of 1-20 days" has no median: not checkable.
    assert one(audit, "median_in_range", "bca_onset")["verdict"] == "not checkable"
    # CD19-negative 5.0 and CD19-positive 15.7 months within the relapse range 0.5-38.4.
    for key in ("relapse_time_median_cd19_neg", "relapse_time_median_cd19_pos"):
        assert one(audit, "median_in_range", key)["verdict"] == "consistent"
    bad = edited(reg, "followup_median_months", value=99.0, value_text="99.0")
    rows = {c.key: c for c in au.median_in_range(bad)}
    assert rows["followup_median_months"].verdict == "inconsistent"


def test_median_bracket_brute_force():
    # Independent: random small integer samples (ties, odd and even sizes).
    rng = np.random.default_rng(11)
    for _ in range(20000):
        a = rng.integers(0, 6, rng.integers(1, 7)).astype(float)
        b = rng.integers(0, 6, rng.integers(1, 7)).astype(float)
        m = float(np.median(np.concatenate([a, b])))
        assert au.median_bracket_holds(m, float(np.median(a)), float(np.median(b)))
    # A = {1, 9} (median 5), B = {2, 3, 100} (median 3): union median 3 is in [3, 5]; 6 is not.
    assert au.median_bracket_holds(3.0, 5.0, 3.0)
    assert not au.median_bracket_holds(6.0, 5.0, 3.0)


def test_median_between_groups(audit):
    sub = audit.loc[audit["check"].eq("median_between_groups")]
    # 17 Table 3 factors against the overall Cmax median 30,860, 3 column-wide brackets, relapses
    assert len(sub) == 17 + 3 + 1
    assert sub["verdict"].eq("consistent").all()
    # Tightest factor: post-LD MRD 10^-4, medians 30,920 and 30,800 bracket 30,860.
    row = one(audit, "median_between_groups", "t3_post_ld_mrd_1e4_lt1e4_cmax_median")
    assert "30800" in row["published"] and "30920" in row["published"]
    # AUC0-28d, by hand: largest lower group median 203,017 (CAR-T history No), smallest upper
    # 215,288 (dose < 3.68): [203,017, 215,288] is not empty. Tlast: [38, 40].
    auc = sub.loc[sub["location"].str.endswith("Median AUC0-28d")].iloc[0]
    assert auc["recomputed"] == "common bracket [203,017, 215,288]"
    tl = sub.loc[sub["location"].str.endswith("Median Tlast")].iloc[0]
    assert tl["recomputed"] == "common bracket [38, 40]"
    # 5.0 <= 12.0 <= 15.7 with 4 + 11 = 15.
    assert one(audit, "median_between_groups", "relapse_time_median")["verdict"] == "consistent"


# ============================================================================================
# 7. Geometric means
# ============================================================================================

def test_geometric_vs_median(audit):
    # MRD-CR (n = 48): the largest GM with median 31,906 (+0.5) and no value above 1,895,000
    # (1,890,000 read as rounded to thousands) is (m^25·M^23)^(1/48):
    gm_max = math.exp((25 * math.log(31906.5) + 23 * math.log(1_895_000)) / 48)
    assert gm_max == pytest.approx(225_835, abs=2)
    assert 319_016 > gm_max
    row = one(audit, "geometric_vs_median", "gm_cmax_mrd_cr")
    assert (row["verdict"], row["severity"]) == ("inconsistent", "major")
    assert "gm_cmax_mrd_cr" in row["see_also"].split(";")
    # Non-MRD-CR (n = 2): median 863 < minimum 1,602 -> no such pair.
    row = one(audit, "geometric_vs_median", "gm_cmax_non_mrd_cr")
    assert row["verdict"] == "inconsistent" and "gm_cmax_non_mrd_cr" in row["see_also"]


# ============================================================================================
# 8. Thresholds
# ============================================================================================

def test_threshold_consistency(audit):
    sub = audit.loc[audit["check"].eq("threshold_consistency")]
    # 3.66 (Toxicity) vs the median dose 3.68 and the tables' 3.68: a 0.5% difference.
    row = one(audit, "threshold_consistency", "dose_threshold_text")
    assert (row["verdict"], row["severity"]) == ("inconsistent", "minor")
    assert "dose_cut" in row["see_also"]
    for key in ("or_severe_crs_dose_low", "t3_dose_ge368_n", "t3_dose_lt368_n"):
        assert one(audit, "threshold_consistency", key)["verdict"] == "consistent"
    # "High tumour burden" is MRD >= 10^-3 in Toxicity, >= 10^-2 in Treatment outcomes and
    # the Discussion; "low tumour burden" is < 10^-4 in both places.
    high = sub.loc[sub["published"].str.startswith("'high tumour burden'")]
    low = sub.loc[sub["published"].str.startswith("'low tumour burden'")]
    assert high["verdict"].tolist() == ["inconsistent"] and high.iloc[0]["severity"] == "major"
    assert low["verdict"].tolist() == ["consistent"]
    # Age 0-10 vs >10; the p < 0.2 screen (Cox text and Table 2 title) and the five Table 2
    # univariate p-values 0.055, 0.176, 0.007, 0.013, 0.049, all below 0.2.
    assert one(audit, "threshold_consistency", "t3_age_0_10_n")["verdict"] == "consistent"
    assert one(audit, "threshold_consistency",
               "table2_screening_p_threshold")["verdict"] == "consistent"
    screened = sub.loc[sub["key"].str.endswith("_p") & sub["location"].str.startswith("Table 2")]
    assert len(screened) == 5 and screened["verdict"].eq("consistent").all()
    # 0.01% = 10^-4 (MRD positivity vs FCM sensitivity); smallest printed Cmax statistic 863
    # >= LLOQ 100.
    assert one(audit, "threshold_consistency", "methods_mrd_positive_fcm")["verdict"] == \
        "consistent"
    assert one(audit, "threshold_consistency", "methods_lloq")["verdict"] == "consistent"


# ============================================================================================
# 9. Counts
# ============================================================================================

def test_counts_add_up(reg, audit):
    sub = audit.loc[audit["check"].eq("counts_add_up")]
    # Table 3: 17 factors, two levels each, read directly from the registry here.
    t3n = reg.loc[reg["section"].eq("Table 3") & reg["table_column"].eq("N")]
    assert len(t3n) == 34
    factor_rows = sub.loc[sub["location"].str.startswith("Table 3 |")
                          & ~sub["published"].str.contains("<=")]
    assert len(factor_rows) == 17 and factor_rows["verdict"].eq("consistent").all()
    # Nesting: pre-LD 14 <= 29 <= 45, post-LD 23 <= 33 <= 47.
    nest = sub.loc[sub["published"].str.contains("<=")]
    assert len(nest) == 2 and nest["verdict"].eq("consistent").all()
    # Enrolment reasons 7 + 41 + 2 = 50; 14 + 82 + 4 = 100; relapses 4 + 11 = 15.
    assert 7 + 41 + 2 == 50 and 4 + 11 == 15
    for key in ("n_chemo_intolerance", "pct_chemo_intolerance", "n_relapse_cd19_neg",
                "n_infection_bacterial_bsi"):
        assert one(audit, "counts_add_up", key)["verdict"] == "consistent"
    bad = edited(reg, "n_relapse_cd19_pos", value=10.0, value_text="10")
    rows = {c.key: c for c in au.counts_add_up(bad)}
    assert (rows["n_relapse_cd19_neg"].verdict,
            rows["n_relapse_cd19_neg"].severity) == ("inconsistent", "major")
    bad = edited(reg, "t3_sex_female_n", value=24.0, value_text="24")
    rows = [c for c in au.counts_add_up(bad) if c.key == "t3_sex_male_n"]
    assert rows[0].verdict == "inconsistent"


# ============================================================================================
# 10. Correlations
# ============================================================================================

def test_correlation_p_hand_cases(audit):
    # r = 0.349, n = 50: t = 0.349·sqrt(48)/sqrt(1 - 0.121801) = 2.4180/0.93712 = 2.580,
    # p = 0.013 (df 48). With n = 47: t = 0.349·6.7082/0.93712 = 2.498, p = 0.0162 -> "0.016".
    def p_t(r, n):
        t = r * math.sqrt(n - 2) / math.sqrt(1 - r * r)
        return float(2 * stats.t.sf(t, n - 2))
    assert au.correlation_p(0.349, 50) == pytest.approx(p_t(0.349, 50), rel=1e-12)
    assert p_t(0.349, 50) == pytest.approx(0.0130, abs=2e-4)
    assert p_t(0.349, 47) == pytest.approx(0.0162, abs=2e-4)
    # Independent scan of n for r = 0.349 +- 0.0005 and p in [0.0155, 0.0165].
    fits = [n for n in range(5, 51)
            if p_t(0.3495, n) <= 0.0165 and p_t(0.3485, n) >= 0.0155]
    assert fits == [47]
    row = one(audit, "p_from_correlation", "r_cmax_tlast")
    assert row["verdict"] == "consistent" and "n in 47" in row["recomputed"]
    assert "does not fit" in row["note"]
    # r = 0.313, p = 0.032: n = 47 too (p = 0.0320).
    assert p_t(0.313, 47) == pytest.approx(0.0320, abs=3e-4)
    assert "n in 47" in one(audit, "p_from_correlation", "r_auc28_tlast")["recomputed"]


# ============================================================================================
# 11. Repeats, driver, summary
# ============================================================================================

def test_repeats_agree_every_repeat(reg, audit):
    reps = reg.loc[reg["duplicate_of"].ne("") & ~reg["section"].isin(rg.EXTERNAL_SECTIONS)]
    sub = audit.loc[audit["check"].eq("repeats_agree")]
    assert sub["key"].tolist() == reps["key"].tolist()
    assert sub["verdict"].eq("consistent").all()
    bad = edited(reg, "outcomes_hr_female_lfs", lower=0.063, interval_text="0.063–0.884")
    rows = {c.key: c for c in au.repeats_agree(bad)}
    assert rows["outcomes_hr_female_lfs"].verdict == "inconsistent"


def test_run_audit_is_deterministic_and_ordered(reg, audit):
    again = au.run_audit(reg)
    pd.testing.assert_frame_equal(audit, again)
    order = [name for name, _ in au.CHECKS]
    seen = list(dict.fromkeys(audit["check"]))
    assert seen == order
    assert list(audit.columns) == ["check", "key", "location", "published", "recomputed",
                                   "verdict", "severity", "arithmetic", "note", "see_also",
                                   "repeat_of"]
    assert audit["verdict"].isin(au.VERDICTS).all()
    # severity exactly for inconsistencies; every inconsistency shows its arithmetic
    assert (audit["severity"].ne("") == audit["verdict"].eq("inconsistent")).all()
    assert audit["arithmetic"].str.len().gt(0).all()


def test_see_also_names_existing_findings(audit):
    from analysis_lib.paper import feasibility as fz
    known = {f.key for f in fz.FINDINGS}
    for s in audit["see_also"]:
        assert all(k in known for k in s.split(";") if k)


def test_audit_summary(audit):
    summ = au.audit_summary(audit)
    assert list(summ.index) == [name for name, _ in au.CHECKS]
    assert summ["total"].sum() == len(audit)
    assert (summ[list(au.VERDICTS)].sum(axis=1) == summ["total"]).all()
    assert (summ[["decision", "major", "minor"]].sum(axis=1) == summ["inconsistent"]).all()
    # hand tally of the headline check: 25 ratio rows = 21 checked + 4 without CI
    assert summ.loc["p_from_ratio_ci", "total"] == 25
    assert summ.loc["p_from_ratio_ci", "not checkable"] == 4


def test_inconsistencies_ordering(audit):
    inc = au.inconsistencies(audit)
    rank = {"decision": 0, "major": 1, "minor": 2}
    assert inc["severity"].map(rank).is_monotonic_increasing
    assert inc.iloc[0]["key"] == "or_severe_crs_female"
    assert inc["repeat_of"].eq("").all()


def test_check_validates_verdict_and_severity():
    with pytest.raises(ValueError):
        au.Check("x", "k", "", "", "", "wrong", "a")
    with pytest.raises(ValueError):
        au.Check("x", "k", "", "", "", "consistent", "a", severity="major")
    with pytest.raises(ValueError):
        au.Check("x", "k", "", "", "", "inconsistent", "a")
