"""The one number formatter (analysis_lib.core.formatting): each rule on hand-written cases."""

from __future__ import annotations

import math

import numpy as np

from analysis_lib.core import formatting as f


def test_missing_values_are_a_dash_never_nan():
    for x in (None, float("nan"), np.nan, "x"):
        assert f.number(x) == f.count(x) == f.p_value(x) == f.ratio(x) == "–"
    assert f.estimate_ci(float("nan"), 0.1, 1.0) == "–"
    assert f.p_phrase(float("nan")) == "p not available"


def test_counts_are_integers_with_separators():
    assert [f.count(29.0), f.count(1234), f.count(np.int64(7))] == ["29", "1,234", "7"]
    assert f.count_percent(27, 50) == "27 (54%)"


def test_general_numbers():
    assert f.number(30860.4) == "30,860"
    assert f.number(1602) == "1,602"
    assert f.number(10.1749) == "10.17"
    assert f.number(0.32614) == "0.3261"
    assert f.number(0.00844) == "8.44×10⁻³"  # never five decimals
    assert f.number(0.0258333, 6) == "0.0258" and f.number(365.25, 6) == "365.25"
    assert f.number(0.000525) == "5.25×10⁻⁴"
    assert f.number(-0.00002) == "-2×10⁻⁵" and f.number(0.0001) == "10⁻⁴"
    assert f.number(math.inf) == "∞" and f.number(0) == "0"
    assert f.sci(9.96e-5, 2) == "10⁻⁴"  # the mantissa never reads 10.0
    assert f.fixed(1234.567, 1) == "1,234.6"


def test_p_values_by_one_rule():
    assert [f.p_value(0.0172), f.p_value(0.0004), f.p_value(1.0)] == ["0.017", "<0.001", "1.000"]
    assert f.p_phrase(0.0172) == "p = 0.017" and f.p_phrase(0.0004) == "p < 0.001"


def test_ratios_and_intervals():
    assert f.estimate_ci(0.3412, 0.1123, 1.0712) == "0.34 (0.11–1.07)"
    assert f.estimate_ci(0.05, 0.004, 0.61) == "0.050 (0.0040–0.61)"
    assert f.interval(0.0, math.inf) == "0–∞"
    # an estimate of 2.8e10 is not a number to show
    assert f.estimate_ci(2.8e10, 1e-3, math.inf) == "not estimable"
    assert f.estimate_ci(0.0, 0.0, 3.2, reason="no events in one group") == \
        "not estimable (no events in one group)"
    assert f.ratio(445.7) == "445.70" and f.ratio(1.2e6) == "not estimable"


def test_percentages_and_medians():
    assert f.percent(58.0) == "58.0%"
    assert f.percent_ci_text(0.74, 0.616, 0.864) == "74.0% (61.6–86.4%)"
    assert f.median_range([1.0, 2.0, 10.0]) == "2.0 (1.0–10.0)"
    assert f.medians_text(22.2, math.inf) == "22.2 vs not reached months"


def test_generated_explanations_read_as_the_book_writes_numbers():
    assert f.prose("MRD < 10^-4 and 10^{-3}") == "MRD < 10⁻⁴ and 10⁻³"
    assert f.prose("p = 1.6e-04 (1.5e-04–1.7e-04)") == "p = 1.6×10⁻⁴ (1.5×10⁻⁴–1.7×10⁻⁴)"
    assert f.prose("SE 0.02583333 and 2951 days; 3.68e6") == "SE 0.0258 and 2951 days; 3.68×10⁶"
    assert f.prose("version 1.0e2x stays") == "version 1.0e2x stays"
    assert f.prose("write `1e-4` or 1e-4") == "write `1e-4` or 10⁻⁴"  # code spans stay
    assert f.prose("HR 1.122 (0.203, 6.289); counts (11, 4)") == \
        "HR 1.122 (0.203–6.289); counts (11, 4)"
    assert f.prose("p in [0.0035, 0.0038] and [1.5e-04, 1.7e-04]") == \
        "p in 0.0035–0.0038 and 1.5×10⁻⁴–1.7×10⁻⁴"


def test_summary_texts_carry_separators_like_every_other_number():
    assert f.median_range([1500.0, 1000.25, 2000.0]) == "1,500.0 (1,000.2–2,000.0)"
    assert f.months_text(1234.5) == "1,234.5"
    assert f.percent_ci_text(0.74, 0.616, 0.864) == "74.0% (61.6–86.4%)"


def test_signed_differences_never_read_minus_zero():
    assert f.signed(0.123) == "+0.12" and f.signed(-0.05) == "-0.05"
    assert f.signed(-0.001) == "0.00" and f.signed(1234.5, 1) == "+1,234.5"
    assert f.signed(float("nan")) == f.DASH and f.signed(-0.00004, 4) == "0.0000"
