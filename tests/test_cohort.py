"""Unit tests of the cohort summaries on small hand-checked frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis_lib.analyses import cohort
from analysis_lib.core import formatting
from analysis_lib.data.schema import DAYS_PER_MONTH
from analysis_lib.stats import proportions


def test_mrd_strata_are_left_closed_at_the_papers_cut_points():
    mrd = pd.Series([0.0, 9.99e-5, 1e-4, 5e-4, 1e-3, 9.9e-3, 1e-2, 0.5])
    got = cohort.mrd_strata(mrd).astype(str).tolist()
    assert got == ["<10⁻⁴", "<10⁻⁴", "10⁻⁴ to <10⁻³", "10⁻⁴ to <10⁻³", "10⁻³ to <10⁻²",
                   "10⁻³ to <10⁻²", "≥10⁻²", "≥10⁻²"]


def test_clopper_pearson_limits_at_the_extremes_and_known_values():
    assert proportions.clopper_pearson(0, 10) == (0.0, pytest.approx(0.3084971, abs=1e-7))
    assert proportions.clopper_pearson(10, 10) == (pytest.approx(0.6915029, abs=1e-7), 1.0)
    # Clopper & Pearson's construction: the limits are the p at which the tail probabilities
    # of the observed count equal alpha/2. Check that property directly.
    from scipy import stats
    lo, hi = proportions.clopper_pearson(49, 50)
    assert stats.binom.sf(48, 50, lo) == pytest.approx(0.025, abs=1e-12)
    assert stats.binom.cdf(49, 50, hi) == pytest.approx(0.025, abs=1e-12)
    with pytest.raises(ValueError):
        proportions.clopper_pearson(3, 2)


def test_proportion_text():
    p = proportions.proportion("CR", 49, 50)
    assert p.text().startswith("49/50 (98.0%; 95% CI ")
    assert p.estimate == 0.98


def _patients() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": ["A", "B", "C", "D"],
        "sex": ["male", "female", "male", "male"],
        "age_years": [3.0, 10.0, 10.1, 15.0],
        "genetic_risk": ["high", "low_intermediate", "high", "high"],
        "enrolment_reason": ["mrd_reemergence", "chemo_intolerance", "mrd_reemergence",
                             "mrd_persistent"],
        "prior_hsct": pd.array([True, False, False, False], dtype="boolean"),
        "prior_cart": pd.array([False, False, False, True], dtype="boolean"),
        "mrd_pre_ld": [0.0, 2e-4, 3e-3, 0.05],
        "mrd_post_ld": [0.0, 0.0, 1e-3, 0.02],
        "cart_dose_1e6_per_kg": [1.0, 2.0, 3.0, 10.0],
        "diagnosis_to_infusion_days": pd.array([100, 200, 300, 1000], dtype="Int64"),
        "d28_response": ["cr", "cri", "cr", "nr"],
        "d28_mrd": [0.0, 0.0, 2e-3, np.nan],
        "death": pd.array([False, True, False, True], dtype="boolean"),
        "last_followup_day": pd.array([2000, 300, 1500, 100], dtype="Int64"),
    })


def test_baseline_table_counts_and_medians():
    t = cohort.baseline_table(_patients())
    row = t.set_index(["characteristic", "level"])
    assert row.loc[("Sex", "Male"), "n"] == 3
    assert row.loc[("Sex", "Male"), "display"] == "3 (75%)"
    assert row.loc[("Age group, years", "0–10"), "n"] == 2  # 10.0 is in 0–10
    assert row.loc[("Age group, years", ">10"), "n"] == 2
    assert row.loc[("Prior allogeneic HSCT", "Yes"), "n"] == 1
    assert row.loc[("MRD before lymphodepletion", "≥10⁻²"), "n"] == 1
    assert row.loc[("MRD after lymphodepletion", "<10⁻⁴"), "n"] == 2
    dose = row.loc[("CAR-T dose, ×10⁶ cells/kg", "Median (range)")]
    assert (dose["median"], dose["min"], dose["max"]) == (2.5, 1.0, 10.0)
    assert dose["display"] == "2.50 (1.00–10.00)"
    months = row.loc[("Diagnosis to infusion, months", "Median (range)")]
    assert months["median"] == pytest.approx(250 / DAYS_PER_MONTH)


def test_response_rates_count_missing_mrd_as_not_negative():
    cr, neg = cohort.response_rates(_patients())
    assert (cr.k, cr.n) == (3, 4)
    assert (neg.k, neg.n) == (2, 4)  # C is MRD-positive, D is NR with missing MRD
    cr, neg = cohort.response_rates(_patients(), mrd_negative_below=1e-2)
    assert neg.k == 3


def test_follow_up_uses_reverse_km_in_months():
    fu = cohort.follow_up(_patients())
    # alive at 1500 and 2000 days are the events; deaths (100, 300) censor.
    # Reverse KM: S = 1 until 1500 d, then 1/2, then 0 at 2000 d -> median is the midpoint
    # of 1500 and 2000 days by R's convention (the curve equals 0.5 over [1500, 2000)).
    assert fu.median.estimate == pytest.approx(1750 / DAYS_PER_MONTH)
    assert fu.minimum == pytest.approx(100 / DAYS_PER_MONTH)
    assert fu.maximum == pytest.approx(2000 / DAYS_PER_MONTH)
    assert fu.n_censored == 2
    assert "months (95% CI" in fu.text()


def test_enrolment_table_keeps_all_reasons_in_order():
    t = cohort.enrolment_table(_patients())
    assert t["code"].tolist() == ["chemo_intolerance", "mrd_reemergence", "mrd_persistent"]
    assert t["n"].tolist() == [1, 2, 1]
    assert t["percent"].sum() == pytest.approx(100)


def test_median_range_and_count_percent():
    assert formatting.median_range([1, 2, 3, np.nan]) == "2.0 (1.0–3.0)"
    assert formatting.median_range([]) == "–"
    assert formatting.count_percent(7, 50) == "7 (14%)"


def test_format_number():
    from analysis_lib.core.formatting import format_number

    assert format_number(30860.0) == "30,860"
    assert format_number(227218.4) == "227,218"
    assert format_number(0.32605) == "0.3261"
    assert format_number(10.5) == "10.5"
    assert format_number(float("nan")) == "–"
