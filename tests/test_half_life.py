"""Tests of the persistence-phase half-life of the kinetics chapter (beyond the paper):
analysis_lib.analyses.kinetics.persistence_half_life, its displays and figure.

Expected values are computed by hand from profiles built with known half-lives, or by an
independent implementation (scipy's exact Mann–Whitney test); none is copied from the code
under test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis_lib.analyses import kinetics as K
from analysis_lib.book.figures import kinetics as plots
from analysis_lib.stats.nca import LAMBDA_Z_REASONS, LZ_NO_MEASURABLE, LZ_NOT_FALLING, LZ_TOO_FEW

BLQ = None
LN2 = math.log(2)


def kin(*profiles: tuple[str, list[tuple[float, float | None]]],
        lloq: float = 100.0) -> pd.DataFrame:
    rows = [{"patient_id": pid, "day": float(d),
             "copies_per_ug_dna": np.nan if v is BLQ else float(v),
             "below_lloq": v is BLQ, "lloq_copies_per_ug_dna": lloq}
            for pid, pts in profiles for d, v in pts]
    return pd.DataFrame(rows)


def pats(ids: list[str], mrd_cr: list[bool]) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": ids,
                         "d28_response": ["cr" if m else "nr" for m in mrd_cr],
                         "d28_mrd": [0.0 if m else 0.05 for m in mrd_cr],
                         "bca": [False] * len(ids), "bca_duration_days": [np.nan] * len(ids)})


def halving(c0: float, t0: float, half_life: float, days: list[float]) -> list[tuple]:
    """Levels falling from c0 at day t0 with an exact half-life."""
    return [(d, c0 * 2 ** (-(d - t0) / half_life)) for d in days]


@pytest.fixture
def cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    # A, B: MRD-negative CR, exact half-lives of 7 and 14 days after the peak on day 7.
    # C: not MRD-CR, half-life 3.5 days. D: MRD-CR, only two levels after the peak, then two
    # BLQ results (monitoring ended). E: not MRD-CR, rising after the fall. F: MRD-CR, never
    # measurable. G: no kinetics sample at all.
    k = kin(("A", [(0, BLQ), (7, 64_000)] + halving(32_000, 14, 7, [14, 21, 28, 35])),
            ("B", [(0, BLQ), (7, 64_000)] + halving(32_000, 14, 14, [14, 28, 42])),
            ("C", [(0, BLQ), (7, 64_000)] + halving(16_000, 14, 3.5, [14, 21, 28])),
            ("D", [(0, BLQ), (7, 9000), (14, 3000), (21, 1000), (28, BLQ), (35, BLQ)]),
            ("E", [(0, BLQ), (7, 5000), (14, 300), (21, 600), (28, 1200)]),
            ("F", [(0, BLQ), (7, BLQ), (14, BLQ)]))
    p = pats(list("ABCDEFG"), [True, True, False, True, False, True, True])
    return k, p


def test_kinetic_parameters_carry_the_terminal_phase(cohort):
    k, p = cohort
    kp = K.kinetic_parameters(k, p).set_index("patient_id")
    assert kp.loc["A", "half_life"] == pytest.approx(7, rel=1e-12)
    assert kp.loc["A", "lambda_z"] == pytest.approx(LN2 / 7, rel=1e-12)
    assert kp.loc["A", "lambda_z_n_points"] == 4 and kp.loc["A", "lambda_z_time_first"] == 14
    assert kp.loc["B", "half_life"] == pytest.approx(14, rel=1e-12)
    assert kp.loc["C", "half_life"] == pytest.approx(3.5, rel=1e-12)
    # A: 32,000 / 2^3 = 4,000 left at day 35 -> extrapolated area 4000 / (ln 2 / 7); its
    # share of AUCinf = AUClast + that.
    assert kp.loc["A", "auc_pct_extrap_obs"] == pytest.approx(
        100 * (4000 * 7 / LN2) / (kp.loc["A", "auclast"] + 4000 * 7 / LN2), rel=1e-12)
    reasons = kp["lambda_z_reason"]
    assert reasons["D"] == LAMBDA_Z_REASONS[LZ_TOO_FEW]
    assert reasons["E"] == LAMBDA_Z_REASONS[LZ_NOT_FALLING]
    assert reasons["F"] == reasons["G"] == LAMBDA_Z_REASONS[LZ_NO_MEASURABLE]
    assert kp.loc["G", "lambda_z_n_points"] == 0 and math.isnan(kp.loc["G", "half_life"])
    assert "best fit" in kp.attrs["terminal_rule"] and kp.attrs["terminal_min_points"] == 3


def test_persistence_half_life_by_hand(cohort):
    k, p = cohort
    kp = K.kinetic_parameters(k, p)
    res = K.persistence_half_life(kp, kinetics=k)
    s = res.summary.set_index("group")
    # All: half-lives 7, 14, 3.5 (A, B, C) -> median 7 of 7 patients.
    assert (s.loc["all", "n"], s.loc["all", "n_estimable"]) == (7, 3)
    assert (s.loc["all", "median"], s.loc["all", "min"], s.loc["all", "max"]) == pytest.approx(
        (7, 3.5, 14), rel=1e-12)
    # MRD-CR: A, B, D, F, G -> 7 and 14, median 10.5. Others: C, E -> 3.5.
    mrd, other = res.group(True), res.group(False)
    assert (mrd["n"], mrd["n_estimable"], other["n"], other["n_estimable"]) == (5, 2, 2, 1)
    assert mrd["median"] == pytest.approx(10.5, rel=1e-12)
    assert other["median"] == pytest.approx(3.5, rel=1e-12)
    assert s.loc["all", "points_median"] == 3  # 4, 3, 3 points
    # Why the others have none: D too few (two levels after the peak, monitoring ended),
    # E rising, F and G nothing measurable.
    assert res.not_estimable == {LAMBDA_Z_REASONS[LZ_NO_MEASURABLE]: 2,
                                 LAMBDA_Z_REASONS[LZ_TOO_FEW]: 1,
                                 LAMBDA_Z_REASONS[LZ_NOT_FALLING]: 1}
    assert res.too_few_by_points == {2: 1} and res.too_few_monitoring_ended == 1
    pp = res.per_patient.set_index("patient_id")
    assert pp["n_after_peak"].to_dict() == {"A": 4, "B": 3, "C": 3, "D": 2, "E": 3, "F": 0,
                                            "G": 0}
    # The group test is the exact Mann–Whitney test of [7, 14] against [3.5]: W = 2, the
    # largest value, P(W >= 2) = 1/3, two-sided 2/3 (as scipy's exact test).
    assert res.test.method == "exact" and res.test.statistic == 2
    assert res.test.p_value == pytest.approx(2 / 3, rel=1e-12)
    ref = stats.mannwhitneyu([7, 14], [3.5], method="exact").pvalue
    assert res.test.p_value == pytest.approx(ref, rel=1e-12)


def test_phrases_and_displays(cohort):
    k, p = cohort
    kp = K.kinetic_parameters(k, p)
    res = K.persistence_half_life(kp, kinetics=k)
    assert res.group_text() == "7 days (range 3.5–14; 3 of 7 patients)"
    assert res.group_text(True) == "10.5 days (range 7–14; 2 of 5 patients)"
    assert res.test_text() == "p = 0.667, exact Mann–Whitney test"
    assert res.reasons_text() == (
        "2 had no measurable level at all, 1 had fewer than three measurable levels after the "
        "peak (1 had two; in all of them monitoring had stopped after two consecutive results "
        "below the LLOQ) and 1 had no falling log-linear decline after the peak")
    # counts in the sentence go through the book's count format: thousands separators in a
    # registry-size cohort, and small counts suppressed like the tables'
    import dataclasses

    from analysis_lib.core import suppression
    big = dataclasses.replace(res, not_estimable={t: 1000 * n for t, n in
                                                  res.not_estimable.items()},
                              too_few_by_points={2: 1000}, too_few_monitoring_ended=400)
    assert big.reasons_text().startswith("2,000 had no measurable level at all, 1,000 had")
    assert "(1,000 had two; in 400 of them monitoring" in big.reasons_text()
    suppression.set_min_cell_count(5)
    try:
        assert res.reasons_text().startswith("<5 had no measurable level at all")
        assert res.group_text() == "7 days (range 3.5–14; <5 of 7 patients)"
    finally:
        suppression.set_min_cell_count(0)
    shown = K.persistence_display(res)
    assert shown["Patients"].tolist() == ["All", "MRD-negative CR/CRi",
                                          "Not MRD-negative CR/CRi"]
    assert shown["Terminal phase estimable"].tolist() == ["3 of 7", "2 of 5", "1 of 2"]
    assert shown["Half-life (d), median (range)"].tolist() == [
        "7 (3.5–14)", "10.5 (7–14)", "3.5"]  # one half-life: no range
    assert shown["p (Mann–Whitney)"].tolist() == ["", "0.667", ""]
    # Per patient: the estimable ones, numbered as in the NCA table (by decreasing Cmax).
    per = K.half_life_display(kp, res)
    numbers = dict(zip(K.display_order(kp)["patient_id"], K.display_order(kp)["#"]))
    nca_numbers = K.nca_display(kp)["#"].tolist()
    assert sorted(numbers.values()) == nca_numbers
    assert per["#"].tolist() == sorted(numbers[i] for i in "ABC")
    assert per["Half-life (d)"].tolist() == [
        {"A": "7", "B": "14", "C": "3.5"}[i] for i in sorted("ABC", key=numbers.get)]
    assert not any(pid in per.to_string() for pid in "ABCDEFG" if len(pid) > 1)
    assert "patient_id" not in per.columns


def test_no_estimable_half_life_in_a_group(cohort):
    k, p = cohort
    kp = K.kinetic_parameters(k[k["patient_id"] != "C"], p)
    res = K.persistence_half_life(kp)
    assert res.group(False)["n_estimable"] == 0 and math.isnan(res.group(False)["median"])
    assert res.group_text(False) == "not estimable in any of the 2 patients"
    assert math.isnan(res.test.p_value) and res.test_text().startswith("no test")
    assert res.too_few_by_points == {}  # without the kinetics table: no count of levels
    assert K.persistence_display(res).iloc[2]["Half-life (d), median (range)"] == "–"
    fig = plots.half_life_by_response(res.per_patient, res.test.p_value)
    assert len(fig.axes) == 2


def test_figure_draws(cohort):
    k, p = cohort
    res = K.persistence_half_life(K.kinetic_parameters(k, p))
    fig = plots.half_life_by_response(res.per_patient, res.test.p_value)
    ax, bx = fig.axes
    assert ax.get_yscale() == "log" and bx.get_xscale() == "log"
    assert [t.get_text().splitlines()[-1] for t in ax.get_xticklabels()] == ["2 of 5",
                                                                              "1 of 2"]
    assert "p = 0.667" in ax.get_title(loc="left")


def test_missing_columns_are_reported():
    with pytest.raises(ValueError, match="kinetic_parameters"):
        K.persistence_half_life(pd.DataFrame({"patient_id": ["A"], "mrd_cr": [True]}))
