"""The scorecard's status rules on hand-checked cases, and its map against the registry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis_lib import registry as rg
from analysis_lib import scorecard as sc


def row(**kw):
    base = {"value": np.nan, "value_text": "", "statistic": "", "unit": "", "n": None,
            "lower": np.nan, "upper": np.nan, "interval_type": "none"}
    base.update(kw)
    return base


def test_printed_precision():
    assert sc.printed_decimals("74.9") == 1
    assert sc.printed_decimals("30,860") == 0
    assert sc.printed_decimals("0.032") == 3
    assert sc.matches_precision("74.9", 74.94) and not sc.matches_precision("74.9", 74.96)
    assert sc.matches_precision("30,860", 30860.4)
    assert sc.matches_precision("<0.001", 0.0004) and not sc.matches_precision("<0.001", 0.002)


def test_counts_must_be_exact_even_when_printed_as_words():
    r = row(value=49.0, value_text="Forty-nine", statistic="count")
    assert sc.classify(r, 49) == sc.STATUSES[0]
    assert sc.classify(r, 48) == sc.STATUSES[3]


def test_percentage_within_binomial_sampling_error():
    # 74.9% at n = 50: SE = sqrt(0.749 * 0.251 / 50) * 100 = 6.133 points; 1.96 SE = 12.0
    r = row(value=74.9, value_text="74.9", statistic="percent", unit="%", n=50)
    assert sc.sampling_z(r, 80.0) == pytest.approx((80.0 - 74.9) / (math.sqrt(0.749 * 0.251 / 50) * 100))
    assert sc.classify(r, 80.0) == sc.STATUSES[1]
    assert sc.classify(r, 90.0) == sc.STATUSES[3]


def test_ratio_uses_the_published_ci_on_the_log_scale():
    # HR 0.235 (0.062-0.884): SE = (ln 0.884 - ln 0.062) / 3.92 = 0.6778
    r = row(value=0.235, value_text="0.235", statistic="hazard_ratio", unit="ratio",
            lower=0.062, upper=0.884, interval_type="ci95")
    se = (math.log(0.884) - math.log(0.062)) / 3.92
    assert sc.sampling_z(r, 0.5) == pytest.approx((math.log(0.5) - math.log(0.235)) / se)
    assert sc.classify(r, 0.5) == sc.STATUSES[1]
    assert sc.classify(r, 0.99) == sc.STATUSES[2]  # outside 1.96 SE (z = 2.12), still < 1
    assert sc.classify(r, 1.5) == sc.STATUSES[3]


def test_p_values_by_significance():
    r = row(value=0.032, value_text="0.032", statistic="p_value")
    assert sc.classify(r, 0.0324) == sc.STATUSES[0]
    assert sc.classify(r, 0.004) == sc.STATUSES[2]
    assert sc.classify(r, 0.30) == sc.STATUSES[3]


def test_inconsistent_and_missing():
    r = row(value=319016.0, value_text="319,016", statistic="geometric_mean")
    assert sc.classify(r, 30000.0, inconsistent=True) == sc.STATUSES[4]
    assert sc.classify(row(value=1.0, value_text="1"), float("nan")) == sc.STATUSES[5]


def test_map_refers_to_registry_keys_once():
    reg = rg.load_registry()
    m = sc.load_map()
    assert m["key"].is_unique
    assert set(m["key"]) <= set(rg.canonical(reg)["key"])
    assert set(m["chapter"]) <= {"cohort", "kinetics", "survival", "toxicity", ""}
    assert (m["scale"] > 0).all()


def test_table3_matching_pairs_levels_by_label():
    reg = rg.canonical(rg.load_registry())
    glued = {"t3_0_factor": "age", "t3_0_level": "0–10", "t3_0_n": 29, "t3_0_cmax_median": 1.0,
             "t3_0_auc_median": 2.0, "t3_0_tlast_median": 3.0, "t3_0_p_cmax": 0.5,
             "t3_0_p_auc": 0.6, "t3_0_p_tlast": 0.7,
             "t3_1_factor": "age", "t3_1_level": ">10", "t3_1_n": 21, "t3_1_cmax_median": 4.0,
             "t3_1_auc_median": 5.0, "t3_1_tlast_median": 6.0, "t3_1_p_cmax": 0.5,
             "t3_1_p_auc": 0.6, "t3_1_p_tlast": 0.7}
    v = sc.table3_values(reg, glued)
    assert v["t3_age_0_10_n"] == 29 and v["t3_age_gt10_cmax_median"] == 4.0
    assert v["t3_age_p_tlast"] == 0.7


def test_map_scales_are_unit_conversions_not_cohort_sizes():
    # a scale that converts a count to a percentage would only be right for n = 50
    assert set(sc.load_map()["scale"]) <= {1.0, 100.0}


def test_design_facts_are_not_counted_as_unmapped_results():
    reg = rg.load_registry()
    empty = sc.load_map().iloc[0:0]
    card = sc.scorecard(reg, empty, {})
    canon = rg.canonical(reg).set_index("key")
    design = card[card["status"] == "study design, not a result"]
    assert len(design) > 0
    assert set(canon.loc[design["key"], "statistic"]) <= sc.DESIGN_STATISTICS
    unmapped = card[card["status"] == "not mapped yet"]
    assert not set(canon.loc[unmapped["key"], "statistic"]) & sc.DESIGN_STATISTICS


def test_every_published_result_is_mapped_or_left_aside_with_a_reason():
    card = sc.scorecard(rg.load_registry(), sc.load_map(), {})
    rest = card[card["section"] != "Table 3"]  # Table 3 is matched cell by cell (test_book)
    assert (rest["status"] != "not mapped yet").all(), \
        sorted(rest.loc[rest["status"] == "not mapped yet", "key"])
    aside = card[card["status"] == "not scored, reason given"]
    assert set(aside["key"]) == {"bca_onset", "hlh_pre_ld_mrd"}
    assert (aside["reason"].str.len() > 20).all()
    shown = sc.display_table(aside)
    assert all(r in s for r, s in zip(aside["reason"], shown["Status"]))


def test_map_rows_need_a_chapter_or_a_reason_but_not_both(tmp_path):
    for row in ("x,,,,", "x,survival,k,1,because"):
        p = tmp_path / "map.csv"
        p.write_text("key,chapter,glue_key,scale,not_scored\n" + row + "\n")
        with pytest.raises(ValueError, match="not_scored"):
            sc.load_map(p)


def test_a_median_not_reached_differs_from_a_published_median():
    r = {"statistic": "median", "value": 43.3, "value_text": "43.3", "unit": "months"}
    assert sc.classify(r, math.inf) == "differs"
    assert sc.classify(r, math.nan) == "not computed"
    assert sc.classify(r, 43.3) == sc.STATUSES[0]
