"""Tests of analysis_lib.stats.nca: validation against Phoenix WinNonlin on the theophylline data,
hand-computed edge cases, and the vectorised implementation against the per-profile loop.

Expected values come from WinNonlin (tests/data/nca) or are computed by hand: each is written
as the arithmetic that produces it, never taken from the code under test.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nca_reference import nca_loop  # the test oracle (tests/nca_reference.py)
from rparity import record_difference  # tests/ is on sys.path (conftest)

from analysis_lib.stats.nca import (
    BLQ_OPTIONS,
    COLUMNS,
    LAMBDA_Z_REASONS,
    LZ_NO_MEASURABLE,
    LZ_NOT_FALLING,
    LZ_TOO_FEW,
    PK_PARAMETERS,
    TEXT_COLUMNS,
    UNITS,
    BLQRules,
    NCAResult,
    TerminalRules,
    nca,
)

DATA = Path(__file__).parent / "data" / "nca"
LIN, LOG = "linear", "linear-up/log-down"
METHODS = (LIN, LOG)
BLQ = None  # a below-LLOQ result in the helpers below
LN2 = math.log(2)


def kinetics(*profiles: tuple[str, list[tuple[float, float | None]]],
             lloq: float = 100.0) -> pd.DataFrame:
    """Kinetics table from ``(id, [(day, value or BLQ), ...])`` pairs."""
    rows = [{"patient_id": pid, "day": float(d),
             "copies_per_ug_dna": np.nan if v is BLQ else float(v),
             "below_lloq": v is BLQ, "lloq_copies_per_ug_dna": lloq}
            for pid, pts in profiles for d, v in pts]
    return pd.DataFrame(rows, columns=["patient_id", "day", "copies_per_ug_dna", "below_lloq",
                                       "lloq_copies_per_ug_dna"])


def one(points: list[tuple[float, float | None]], lloq: float = 100.0, **kw) -> pd.Series:
    """NCA of a single profile with both implementations; checks they agree; returns the row."""
    df = kinetics(("A", points), lloq=lloq)
    vec, loop = nca(df, **kw), nca_loop(df, **kw)
    assert_same(vec, loop)
    return vec.wide.iloc[0]


def assert_same(a: NCAResult, b: NCAResult) -> None:
    wa, wb = a.wide, b.wide
    assert list(wa.columns) == list(wb.columns)
    np.testing.assert_array_equal(wa.iloc[:, 0].to_numpy(), wb.iloc[:, 0].to_numpy())
    for col in COLUMNS:
        if col in PK_PARAMETERS:
            np.testing.assert_allclose(wa[col].to_numpy(float), wb[col].to_numpy(float),
                                       rtol=1e-12, atol=0, equal_nan=True, err_msg=col)
        else:
            np.testing.assert_array_equal(wa[col].to_numpy(), wb[col].to_numpy(), err_msg=col)


# --------------------------------------------------------------------------------------------
# Validation against Phoenix WinNonlin (R datasets::Theoph; NonCompart-tests)
# --------------------------------------------------------------------------------------------

WNL_FILES = {LIN: "theoph_winnonlin_linear.csv", LOG: "theoph_winnonlin_linuplogdown.csv"}
WNL_PARAMS = {"cmax": "Cmax", "tmax": "Tmax", "tlast": "Tlast", "clast": "Clast",
              "auclast": "AUClast", "aucall": "AUCall"}


def theoph_nca(method: str, impl=nca) -> pd.DataFrame:
    conc = pd.read_csv(DATA / "theoph_concentrations.csv")
    conc["below_lloq"] = False  # no BLQ in Theoph
    conc["lloq"] = 0.0          # an LLOQ below every value
    res = impl(conc, id_col="subject", time_col="time_h", conc_col="conc_mg_per_l",
               blq_col="below_lloq", lloq_col="lloq", auc_method=method, interval_end=24.0,
               time_unit="h", conc_unit="mg/L")
    return res.wide


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("impl", [nca, nca_loop], ids=["vectorised", "loop"])
def test_theophylline_matches_winnonlin(method, impl):
    ours = theoph_nca(method, impl)
    wnl = pd.read_csv(DATA / WNL_FILES[method]).sort_values("Subject")
    assert ours["subject"].tolist() == wnl["Subject"].tolist() == list(range(1, 13))
    for ours_name, wnl_name in WNL_PARAMS.items():
        np.testing.assert_allclose(ours[ours_name].to_numpy(), wnl[wnl_name].to_numpy(),
                                   rtol=1e-6, err_msg=f"{method} {ours_name}")
    # Pre-dose (time 0) concentrations are used as measured: subject 1 starts at 0.74 mg/L, so
    # its linear AUClast includes 0.25 * (0.74 + 2.84) / 2 for the first interval.
    assert (ours["n_samples"] == 11).all()


def test_theophylline_time0_used_as_measured():
    # Subject 1, first two samples: (0 h, 0.74) and (0.25 h, 2.84). Restricting the interval
    # to [0, 0.25] gives the first trapezoid only: 0.25 * (0.74 + 2.84) / 2 = 0.4475.
    conc = pd.read_csv(DATA / "theoph_concentrations.csv")
    conc = conc[conc["subject"] == 1]
    res = nca(conc, id_col="subject", time_col="time_h", conc_col="conc_mg_per_l",
              blq_col=None, lloq_col=None, auc_method=LIN, interval_end=0.25)
    assert res.wide["auc_interval"].iloc[0] == pytest.approx(0.25 * (0.74 + 2.84) / 2)


# --------------------------------------------------------------------------------------------
# Hand-computed edge cases (LLOQ 100 unless stated)
# --------------------------------------------------------------------------------------------

# Day 0 BLQ (pre-infusion), 7: 1000, 14: BLQ, 21: 400, 28: 200, 35: BLQ, 42: BLQ.
MIDDLE = [(0, BLQ), (7, 1000), (14, BLQ), (21, 400), (28, 200), (35, BLQ), (42, BLQ)]
# Expected (AUClast, AUCall) for each `between` rule and AUC rule. The first segment is
# 0 -> 1000 over 7 days (linear up: 7*1000/2 = 3500); the last measurable segment 400 -> 200
# over 7 days (linear 7*600/2 = 2100; log 7*200/ln 2); AUCall adds 200 -> 0 (7*200/2 = 700).
MIDDLE_EXPECTED = {
    # drop: 1000 -> 400 over 14 days
    ("drop", LIN): 3500 + 14 * (1000 + 400) / 2 + 2100,                    # 15400
    ("drop", LOG): 3500 + 14 * (1000 - 400) / math.log(1000 / 400) + 7 * 200 / LN2,
    # zero: 1000 -> 0 (linear, a zero end), 0 -> 400 (up)
    ("zero", LIN): 3500 + 7 * 1000 / 2 + 7 * 400 / 2 + 2100,               # 10500
    ("zero", LOG): 3500 + 7 * 1000 / 2 + 7 * 400 / 2 + 7 * 200 / LN2,
    # lloq_half: 1000 -> 50 (log down), 50 -> 400 (up)
    ("lloq_half", LIN): 3500 + 7 * 1050 / 2 + 7 * 450 / 2 + 2100,          # 10850
    ("lloq_half", LOG): 3500 + 7 * 950 / math.log(1000 / 50) + 7 * 450 / 2 + 7 * 200 / LN2,
    # lloq: 1000 -> 100 (log down), 100 -> 400 (up)
    ("lloq", LIN): 3500 + 7 * 1100 / 2 + 7 * 500 / 2 + 2100,               # 11200
    ("lloq", LOG): 3500 + 7 * 900 / math.log(10) + 7 * 500 / 2 + 7 * 200 / LN2,
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("between", BLQ_OPTIONS)
def test_blq_between_measurable_values(between, method):
    r = one(MIDDLE, auc_method=method, rules=BLQRules(between=between))
    auclast = MIDDLE_EXPECTED[(between, method)]
    assert r["auclast"] == pytest.approx(auclast, rel=1e-12)
    assert r["aucall"] == pytest.approx(auclast + 7 * 200 / 2, rel=1e-12)
    # The interval [0, 28] ends on the last measurable sample.
    assert r["auc_interval"] == pytest.approx(auclast, rel=1e-12)
    assert (r["cmax"], r["tmax"], r["clast"], r["tlast"]) == (1000, 7, 200, 28)
    assert (r["n_samples"], r["n_measurable"]) == (7, 3)
    assert r["persistence_ended"] and r["expanded"] and r["auc_interval_complete"]
    assert r["reason"] == ""


# Day 0 BLQ, 7: 1000, 14: BLQ, 21: BLQ. AUClast = 7 * 1000 / 2 = 3500.
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("after_last, aucall", [
    ("zero", 3500 + 7 * 1000 / 2),            # triangle to 0: 7000
    ("lloq_half", 3500 + 7 * (1000 + 50) / 2),  # linear even under log-down: 7175
    ("lloq", 3500 + 7 * (1000 + 100) / 2),      # 7350
    ("drop", 3500),                             # AUCall = AUClast
])
def test_blq_after_last_rule(after_last, aucall, method):
    r = one([(0, BLQ), (7, 1000), (14, BLQ), (21, BLQ)], auc_method=method,
            rules=BLQRules(after_last=after_last), interval_end=21)
    assert r["auclast"] == pytest.approx(3500)
    assert r["aucall"] == pytest.approx(aucall)
    # [0, 21] integrates the AUCall curve; from day 14 (last retained point) to 21 it is 0.
    assert r["auc_interval"] == pytest.approx(aucall)
    assert r["persistence_ended"]


@pytest.mark.parametrize("before_first, auclast", [
    ("zero", 7 * 1000 / 2),             # 3500
    ("lloq_half", 7 * (50 + 1000) / 2),  # 3675
    ("lloq", 7 * (100 + 1000) / 2),      # 3850
])
def test_blq_before_first_rule(before_first, auclast):
    r = one([(0, BLQ), (7, 1000), (14, 500)], auc_method=LIN,
            rules=BLQRules(before_first=before_first), interval_end=14)
    assert r["auclast"] == pytest.approx(auclast + 7 * 1500 / 2)
    assert r["auc_interval"] == pytest.approx(auclast + 7 * 1500 / 2)


def test_blq_before_first_drop_leaves_no_time0():
    # Dropping the day-0 BLQ result leaves no concentration at time 0 (PKNCA: NA).
    r = one([(0, BLQ), (7, 1000), (14, 500)], rules=BLQRules(before_first="drop"),
            interval_end=14)
    assert np.isnan(r["auclast"]) and np.isnan(r["aucall"]) and np.isnan(r["auc_interval"])
    assert "no concentration at time 0" in r["reason"]
    assert r["cmax"] == 1000


def test_default_rules_are_pkncas():
    assert BLQRules() == BLQRules(before_first="zero", between="drop", after_last="zero")
    with pytest.raises(ValueError, match="between"):
        BLQRules(between="keep")


def test_all_below_lloq():
    pts = [(0, BLQ), (7, BLQ), (14, BLQ), (28, BLQ)]
    r = one(pts)
    for p in ("cmax", "tmax", "clast", "tlast"):
        assert np.isnan(r[p])
    # All zeros: AUCs are 0 (PKNCA: the AUC of an all-BLQ profile is 0).
    assert (r["auclast"], r["aucall"], r["auc_interval"]) == (0, 0, 0)
    assert (r["n_samples"], r["n_measurable"]) == (4, 0)
    assert not r["expanded"] and not r["persistence_ended"]
    assert "no measurable concentration" in r["reason"]
    # before_first applies to every result: LLOQ/2 = 50 over 28 days -> 50 * 28 = 1400.
    r = one(pts, rules=BLQRules(before_first="lloq_half"))
    assert r["aucall"] == pytest.approx(1400) and r["auc_interval"] == pytest.approx(1400)
    assert r["auclast"] == 0


def test_single_measurable_value():
    r = one([(0, BLQ), (14, 2000), (21, BLQ), (28, BLQ)])
    assert (r["cmax"], r["tmax"], r["clast"], r["tlast"]) == (2000, 14, 2000, 14)
    assert r["auclast"] == pytest.approx(14 * 2000 / 2)                  # 14000
    assert r["aucall"] == pytest.approx(14 * 2000 / 2 + 7 * 2000 / 2)    # 21000
    assert r["auc_interval"] == pytest.approx(21000)                      # 21 -> 28 is 0
    assert r["persistence_ended"] and r["expanded"]


def test_empty_profile_and_single_sample():
    df = pd.concat([
        kinetics(("E1", [(-3, 500), (-1, BLQ)])),                       # pre-infusion only
        kinetics(("E2", [(0, 700)])),                                    # one sample
        kinetics(("E3", [(7, 900)])),                                    # one sample, day 7
    ], ignore_index=True)
    df = pd.concat([df, pd.DataFrame({"patient_id": ["E4"], "day": [7.0],  # missing result
                                      "copies_per_ug_dna": [np.nan], "below_lloq": [False],
                                      "lloq_copies_per_ug_dna": [100.0]})], ignore_index=True)
    res = nca(df)
    assert_same(res, nca_loop(df))
    w = res.wide.set_index("patient_id")
    assert w.index.tolist() == ["E1", "E2", "E3", "E4"]
    for pid in ("E1", "E4"):
        assert w.loc[pid, "n_samples"] == 0
        assert all(np.isnan(w.loc[pid, p]) for p in PK_PARAMETERS)
        assert w.loc[pid, "reason"].startswith("no post-infusion result")
        assert not w.loc[pid, "expanded"] and not w.loc[pid, "auc_interval_complete"]
    for pid, (c, t) in {"E2": (700, 0), "E3": (900, 7)}.items():
        assert (w.loc[pid, "cmax"], w.loc[pid, "tmax"]) == (c, t)
        assert all(np.isnan(w.loc[pid, p]) for p in ("auclast", "aucall", "auc_interval"))
        assert "fewer than two concentrations" in w.loc[pid, "reason"]


def test_unsorted_input_gives_the_same_result():
    df = kinetics(("B", MIDDLE), ("A", [(0, BLQ), (4, 300), (10, 5000), (28, 150)]),
                  ("C", [(0, BLQ), (7, BLQ), (14, 800)]))
    shuffled = df.sample(frac=1, random_state=7)
    assert not shuffled.index.equals(df.index)
    for impl in (nca, nca_loop):
        a, b = impl(df).wide, impl(shuffled).wide
        pd.testing.assert_frame_equal(a, b)
        assert a["patient_id"].tolist() == ["A", "B", "C"]


def test_duplicate_days_raise_a_clear_error():
    # P1: day 7 three times (sorted input); P3: day 14 twice, rows out of order.
    df = kinetics(("P1", [(0, BLQ), (7, 100), (7, 200), (7, 300)]), ("P2", [(0, BLQ), (14, 5)]),
                  ("P3", [(14, 10), (0, BLQ), (14, 20)]))
    for impl in (nca, nca_loop):
        with pytest.raises(ValueError, match=r"duplicate \(patient_id, day\) rows") as e:
            impl(df)
        msg = str(e.value)
        assert msg.count("'P1' at day=7") == 1 and msg.count("'P3' at day=14") == 1
        assert "P2" not in msg
    missing_id = kinetics(("P1", [(0, BLQ), (7, 100)]))
    missing_id.loc[1, "patient_id"] = None
    for impl in (nca, nca_loop):
        with pytest.raises(ValueError, match="patient_id has missing values"):
            impl(missing_id)


@pytest.mark.parametrize("method, c21", [
    (LIN, 3000 + (750 - 3000) * 7 / 14),        # 1875
    (LOG, 3000 * (750 / 3000) ** (7 / 14)),     # 1500
])
def test_interval_end_interpolated_between_samples(method, c21):
    pts = [(0, BLQ), (7, 1000), (14, 3000), (28, 750), (35, BLQ)]
    r = one(pts, auc_method=method, interval_end=21)
    up = 7 * 1000 / 2 + 7 * (1000 + 3000) / 2       # 3500 + 14000 (linear up)
    if method == LIN:
        last = 7 * (3000 + c21) / 2                  # 7 * 4875 / 2 = 17062.5
    else:
        last = 7 * (3000 - c21) / math.log(3000 / c21)  # 10500 / ln 2
    assert r["auc_interval"] == pytest.approx(up + last, rel=1e-12)
    assert r["auc_interval_complete"]
    # A start inside a rising segment: [10.5, 21]; C(10.5) = 2000 (linear up in both rules).
    r = one(pts, auc_method=method, interval_start=10.5, interval_end=21)
    assert r["auc_interval"] == pytest.approx(3.5 * (2000 + 3000) / 2 + last, rel=1e-12)


def test_interval_end_after_last_sample():
    pts = [(0, BLQ), (7, 1000), (14, 3000), (21, 1500)]
    expected = 3500 + 14000 + 7 * 1500 / LN2          # AUC to day 21 (log down 3000 -> 1500)
    r = one(pts)                                       # interval [0, 28]; last sample day 21
    assert np.isnan(r["auc_interval"]) and not r["auc_interval_complete"]
    assert "interval end after the last sample" in r["reason"]
    assert r["auclast"] == pytest.approx(expected)
    r = one(pts, incomplete_interval="truncate")
    assert r["auc_interval"] == pytest.approx(expected) and not r["auc_interval_complete"]
    assert "truncated" in r["reason"]
    # Ending exactly on the last sample is complete.
    r = one(pts, interval_end=21)
    assert r["auc_interval"] == pytest.approx(expected) and r["auc_interval_complete"]


@pytest.mark.parametrize("incomplete", ["nan", "truncate"])
def test_interval_end_after_a_blq_last_sample(incomplete):
    # Monitoring stopped after two BLQ results (days 14, 21): no day-28 sample, but the level
    # is below the LLOQ from day 14 on, so it is 0 from the last sample (day 21) to day 28.
    # AUC0-28 = 7 * 1000 / 2 (up) + 7 * 1000 / 2 (triangle to the day-14 zero) = 7000.
    r = one([(0, BLQ), (7, 1000), (14, BLQ), (21, BLQ)], incomplete_interval=incomplete)
    assert r["auc_interval"] == pytest.approx(7000) and r["auc_interval_complete"]
    assert "which is below LLOQ: level taken as 0" in r["reason"]
    # Never measurable, sampled to day 14: all zeros, AUC0-28 = 0.
    r = one([(0, BLQ), (7, BLQ), (14, BLQ)], incomplete_interval=incomplete)
    assert r["auc_interval"] == 0 and r["auc_interval_complete"]


def test_no_sample_at_time0():
    r = one([(7, 1000), (14, 500)], interval_start=7, interval_end=14)
    assert np.isnan(r["auclast"]) and np.isnan(r["aucall"])
    assert r["auc_interval"] == pytest.approx(7 * 500 / LN2)  # log down 1000 -> 500
    assert "no concentration at time 0" in r["reason"]
    r = one([(7, 1000), (14, 500)], interval_end=14)
    assert np.isnan(r["auc_interval"]) and "interval start" in r["reason"]


@pytest.mark.parametrize("points, ended", [
    ([(0, BLQ), (7, 1000), (14, BLQ), (28, BLQ)], True),          # two BLQ after Tlast
    ([(0, BLQ), (7, 1000), (14, 500), (28, BLQ)], False),         # only one
    ([(0, BLQ), (7, 1000), (14, BLQ), (21, 300), (28, BLQ)], False),  # middle BLQ not counted
    ([(0, BLQ), (7, 1000), (14, 500)], False),                    # still measurable
    ([(0, BLQ), (7, BLQ), (14, BLQ)], False),                     # never measurable
    ([(0, BLQ), (7, 1000), (14, BLQ), (28, BLQ), (56, BLQ)], True),
], ids=["two-after", "one-after", "middle-not-counted", "still-measurable", "never-measurable",
        "three-after"])
def test_persistence_ended(points, ended):
    assert one(points)["persistence_ended"] == ended


def test_tmax_is_first_time_of_the_maximum():
    r = one([(0, BLQ), (7, 500), (14, 500), (21, 100)])
    assert (r["cmax"], r["tmax"]) == (500, 7)


def test_pre_infusion_samples_ignored():
    base = [(0, BLQ), (7, 1000), (14, 400), (28, 150)]
    with_pre = [(-14, 50_000), (-7, BLQ), (-1, 20_000)] + base
    a, b = one(base), one(with_pre)
    for col in COLUMNS:
        assert a[col] == b[col] or (np.isnan(a[col]) and np.isnan(b[col])), col
    assert b["cmax"] == 1000 and b["n_samples"] == 4


def test_value_below_lloq_without_flag_is_blq():
    # 60 < LLOQ 100, not flagged: treated as BLQ (dropped between measurable values).
    r = one([(0, 0.0), (7, 1000), (14, 60), (21, 500)], auc_method=LIN, interval_end=21)
    assert r["n_measurable"] == 2 and r["auclast"] == pytest.approx(3500 + 14 * 1500 / 2)


def test_expanded_threshold():
    df = kinetics(("A", [(0, BLQ), (7, 1500)]), ("B", [(0, BLQ), (7, 3000)]),
                  ("C", [(0, BLQ), (7, BLQ)]))
    assert nca(df).wide["expanded"].tolist() == [True, True, False]
    assert nca(df, expansion_threshold=2000).wide["expanded"].tolist() == [False, True, False]


def test_settings_are_validated():
    df = kinetics(("A", MIDDLE))
    with pytest.raises(ValueError, match="auc_method"):
        nca(df, auc_method="log")
    with pytest.raises(ValueError, match="interval_start"):
        nca(df, interval_start=28, interval_end=7)
    with pytest.raises(ValueError, match="lacks column"):
        nca(df.drop(columns="below_lloq"))


# --------------------------------------------------------------------------------------------
# Result object: long table and summary
# --------------------------------------------------------------------------------------------

def test_result_object_long_and_units():
    df = kinetics(("A", MIDDLE), ("B", [(0, BLQ), (7, 100_000), (14, 1000), (28, 300)]))
    res = nca(df)
    assert list(res.wide.columns) == ["patient_id", *COLUMNS]
    assert res.auc_method == LOG and res.rules == BLQRules() and res.interval == (0.0, 28.0)
    assert res.units == UNITS and UNITS["auc_interval"] == "day·copies/µg DNA"
    long = res.long()
    assert list(long.columns) == ["patient_id", "parameter", "value", "unit"]
    # One row per profile and non-text column (the text columns: lambda_z_reason, reason).
    assert len(long) == 2 * (len(COLUMNS) - len(TEXT_COLUMNS)) and len(TEXT_COLUMNS) == 2
    cmax_b = long[(long.patient_id == "B") & (long.parameter == "cmax")]
    assert cmax_b["value"].item() == 100_000 and cmax_b["unit"].item() == "copies/µg DNA"
    assert "linear-up/log-down" in res.method and "drop" in repr(res)


def test_summary_geometric_statistics():
    df = kinetics(("A", [(0, BLQ), (7, 100)]), ("B", [(0, BLQ), (7, 1000)]),
                  ("C", [(0, BLQ), (7, 10_000)]), ("D", [(0, BLQ), (7, BLQ)]))
    row = nca(df).summary().set_index("parameter").loc["cmax"]
    # Cmax of A, B, C: 100, 1000, 10000 (D has none). log10 values 2, 3, 4: mean 3, SD 1,
    # so on the natural-log scale m = 3 ln 10 and s = ln 10.
    assert (row["n"], row["n_positive"]) == (3, 3)
    assert (row["median"], row["min"], row["max"]) == (1000, 100, 10_000)
    assert row["geo_mean"] == pytest.approx(1000, rel=1e-12)
    t975_df2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom
    half = t975_df2 * math.log(10) / math.sqrt(3)
    assert row["geo_ci_low"] == pytest.approx(1000 * math.exp(-half), rel=1e-9)
    assert row["geo_ci_high"] == pytest.approx(1000 * math.exp(half), rel=1e-9)
    assert row["geo_cv_pct"] == pytest.approx(100 * math.sqrt(math.exp(math.log(10) ** 2) - 1))


# --------------------------------------------------------------------------------------------
# Vectorised == loop on random data
# --------------------------------------------------------------------------------------------

def random_kinetics(n_profiles: int, seed: int) -> pd.DataFrame:
    """Random profiles: 0-12 samples on random days (some pre-infusion, some at day 0), random
    BLQ patterns, values near and below the LLOQ, missing results, varying LLOQs, ties at the
    maximum, shuffled rows."""
    rng = np.random.default_rng(seed)
    grid = np.array([-7, -1, 0, 1, 2, 4, 7, 10, 14, 21, 28, 30, 35, 42, 56, 84])
    rows = []
    for i in range(n_profiles):
        k = int(rng.integers(0, 13))
        days = np.sort(rng.choice(grid, size=min(k, grid.size), replace=False))
        lloq = float(rng.choice([50.0, 100.0]))
        vals = np.exp(rng.normal(6, 2.5, days.size)).round(0)
        if rng.random() < 0.2 and vals.size > 2:          # a tie at the maximum
            vals[rng.integers(0, vals.size)] = vals.max()
        p_blq = rng.choice([0.0, 0.3, 0.7, 1.0])
        blq = (rng.random(days.size) < p_blq) | (vals < lloq)
        missing = rng.random(days.size) < 0.05
        for d, v, b, m in zip(days, vals, blq, missing):
            rows.append({"patient_id": f"R{i:04d}", "day": float(d),
                         "copies_per_ug_dna": np.nan if (b or m) else v,
                         "below_lloq": bool(b and not m), "lloq_copies_per_ug_dna": lloq})
        if k == 0:
            rows.append({"patient_id": f"R{i:04d}", "day": -2.0, "copies_per_ug_dna": 5.0,
                         "below_lloq": False, "lloq_copies_per_ug_dna": lloq})
    df = pd.DataFrame(rows)
    return df.sample(frac=1, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rules, start, end, incomplete", [
    (BLQRules(), 0.0, 28.0, "nan"),
    (BLQRules(between="zero"), 0.0, 28.0, "truncate"),
    (BLQRules(before_first="lloq_half", between="lloq_half", after_last="lloq_half"),
     3.0, 24.5, "nan"),
    (BLQRules(before_first="drop", between="lloq", after_last="drop"), 0.0, 40.0, "truncate"),
    (BLQRules(before_first="lloq", between="drop", after_last="lloq"), 1.5, 12.0, "nan"),
])
def test_vectorised_equals_loop_on_random_profiles(method, rules, start, end, incomplete):
    df = random_kinetics(500, seed=20251006)
    kw = dict(auc_method=method, rules=rules, interval_start=start, interval_end=end,
              incomplete_interval=incomplete, expansion_threshold=500.0)
    vec, loop = nca(df, **kw), nca_loop(df, **kw)
    assert len(vec.wide) == 500
    assert_same(vec, loop)
    # The random data reach every kind of profile.
    w = vec.wide
    assert (w["n_samples"] == 0).any() and (w["n_measurable"] == 0).any()
    assert w["auc_interval"].notna().sum() > 30 and w["persistence_ended"].any()


# --------------------------------------------------------------------------------------------
# Terminal phase: parity with Phoenix WinNonlin on every column of the Theoph files
# --------------------------------------------------------------------------------------------

#: Every column of the WinNonlin files (except Subject) and the column of ours it is.
WNL_ALL = {
    "Rsq": "r_squared", "Rsq_adjusted": "adj_r_squared", "Corr_XY": "corr_xy",
    "No_points_lambda_z": "lambda_z_n_points", "Lambda_z": "lambda_z",
    "Lambda_z_lower": "lambda_z_time_first", "Lambda_z_upper": "lambda_z_time_last",
    "HL_Lambda_z": "half_life", "Tlag": "tlag", "Tmax": "tmax", "Cmax": "cmax",
    "Cmax_D": "cmax_d", "Tlast": "tlast", "Clast": "clast", "AUClast": "auclast",
    "AUCall": "aucall", "AUCINF_obs": "aucinf_obs", "AUCINF_D_obs": "aucinf_d_obs",
    "AUC_%Extrap_obs": "auc_pct_extrap_obs", "Vz_F_obs": "vz_obs", "Cl_F_obs": "cl_obs",
    "AUCINF_pred": "aucinf_pred", "AUCINF_D_pred": "aucinf_d_pred",
    "AUC_%Extrap_pred": "auc_pct_extrap_pred", "Vz_F_pred": "vz_pred", "Cl_F_pred": "cl_pred",
    "AUMClast": "aumclast", "AUMCINF_obs": "aumcinf_obs", "AUMC_%Extrap_obs":
    "aumc_pct_extrap_obs", "AUMCINF_pred": "aumcinf_pred", "AUMC_%Extrap_pred":
    "aumc_pct_extrap_pred", "MRTlast": "mrtlast", "MRTINF_obs": "mrtinf_obs",
    "MRTINF_pred": "mrtinf_pred",
}
THEOPH_DOSE_MG = 320.0  # the dose of the WinNonlin run (Cmax_D = Cmax / 320 in the files)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("impl", [nca, nca_loop], ids=["vectorised", "loop"])
def test_theophylline_terminal_phase_matches_winnonlin(method, impl):
    """Every column of the WinNonlin results, including the terminal phase (λz by best fit,
    the points used, R², AUCinf, AUMC, MRT, CL/F, Vz/F), for all 12 subjects.

    WinNonlin printed its results to about 10 significant digits (trailing zeros dropped), so
    two checks: (1) relative difference at most 1e-6; (2) the printed value is our value
    rounded: |ours − printed| <= half a unit of the last printed decimal, plus 1e-12 relative
    for double-precision rounding (the linear-trapezoid AUMClast of these two-decimal data is
    an exact decimal ending in 5, i.e. exactly on a rounding boundary)."""
    conc = pd.read_csv(DATA / "theoph_concentrations.csv")
    ours = impl(conc, id_col="subject", time_col="time_h", conc_col="conc_mg_per_l",
                blq_col=None, lloq_col=None, auc_method=method, interval_end=24.0,
                time_unit="h", conc_unit="mg/L", dose=THEOPH_DOSE_MG, dose_unit="mg").wide
    raw = pd.read_csv(DATA / WNL_FILES[method], dtype=str)
    raw = raw.assign(Subject=raw["Subject"].astype(int)).sort_values("Subject")
    assert set(raw.columns) - {"Subject"} == set(WNL_ALL)  # nothing in the files left out
    assert ours["subject"].tolist() == raw["Subject"].tolist()
    for wnl_name, ours_name in WNL_ALL.items():
        printed = raw[wnl_name].to_numpy()
        expected = printed.astype(float)
        got = ours[ours_name].to_numpy(dtype=float)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0,
                                   err_msg=f"{method} {wnl_name}")
        decimals = np.array([len(v.split(".")[1]) if "." in v else 0 for v in printed])
        bound = 0.5 * 10.0 ** -decimals + 1e-12 * np.abs(expected)
        assert (np.abs(got - expected) <= bound).all(), (method, wnl_name, got, printed)
        record_difference(f"nca vs WinNonlin {wnl_name} ({method})", got, expected)
    # The points used: subject 8 is where leaving Cmax out matters (with it, 7 points).
    assert ours.loc[ours["subject"] == 8, "lambda_z_n_points"].item() == 6
    assert (ours["lambda_z_reason"] == "").all()


def test_theophylline_cmax_point_is_what_decides_subject_8():
    # Allowing the Cmax point (WinNonlin does so only for IV bolus) changes subject 8's window,
    # which WinNonlin's 6 points rule out: the extravascular default leaves Cmax out.
    conc = pd.read_csv(DATA / "theoph_concentrations.csv")
    kw = dict(id_col="subject", time_col="time_h", conc_col="conc_mg_per_l", blq_col=None,
              lloq_col=None, auc_method=LIN, interval_end=24.0)
    with_cmax = nca(conc, terminal_rules=TerminalRules(include_cmax=True), **kw).wide
    assert with_cmax.loc[with_cmax["subject"] == 8, "lambda_z_n_points"].item() == 7


# --------------------------------------------------------------------------------------------
# Terminal phase: hand-checked cases
# --------------------------------------------------------------------------------------------

def exp_curve(c1: float, k: float, t1: float):
    """C(t) = c1 exp(-k (t - t1)): the exact curve the log-down segments follow."""
    return lambda t: c1 * math.exp(-k * (t - t1))


def test_exact_exponential_decline_gives_the_analytic_terminal_phase():
    # Day 0 BLQ; Cmax 64,000 on day 7; then a half-life of exactly 7 days from day 14:
    # 16,000, 8,000, 4,000, 2,000 on days 14, 21, 28, 35. Every window is a perfect fit
    # (adjusted R² 1), so the longest one (4 points after Cmax) is chosen.
    pts = [(0, BLQ), (7, 64_000), (14, 16_000), (21, 8_000), (28, 4_000), (35, 2_000)]
    lz = LN2 / 7
    r = one(pts, dose=5e6, dose_unit="cells", interval_end=35)
    assert r["lambda_z"] == pytest.approx(lz, rel=1e-12)
    assert r["half_life"] == pytest.approx(7.0, rel=1e-12)
    assert r["lambda_z_n_points"] == 4 and r["lambda_z_reason"] == ""
    assert (r["lambda_z_time_first"], r["lambda_z_time_last"]) == (14, 35)
    assert r["r_squared"] == pytest.approx(1, abs=1e-12)
    assert r["adj_r_squared"] == pytest.approx(1, abs=1e-12)
    assert r["corr_xy"] == pytest.approx(-1, abs=1e-12)
    assert r["clast_pred"] == pytest.approx(2000, rel=1e-12)
    # ln C = ln 16000 - lz (t - 14), so at t = 0: ln(16000 * 2^2) = ln 64000.
    assert r["lambda_z_intercept"] == pytest.approx(math.log(64_000), rel=1e-12)
    # AUClast: linear up 0 -> 64,000 (7 * 64000 / 2), log down 64,000 -> 16,000 over 7 days,
    # then the exact exponential from day 14 to 35: (16000 - 2000) / lz.
    auclast = 7 * 64_000 / 2 + 7 * 48_000 / math.log(4) + 14_000 / lz
    assert r["auclast"] == pytest.approx(auclast, rel=1e-12)
    extrap = 2000 / lz
    assert r["aucinf_obs"] == pytest.approx(auclast + extrap, rel=1e-12)
    assert r["aucinf_pred"] == pytest.approx(auclast + extrap, rel=1e-12)
    assert r["auc_pct_extrap_obs"] == pytest.approx(100 * extrap / (auclast + extrap))
    # AUMC: the rising segment by the linear trapezoid rule applied to t C(t) (WinNonlin's and
    # PKNCA's linear AUMC: 7 (0 * 0 + 7 * 64000) / 2), the falling ones by numerical
    # integration of t C(t) along the exponential through their ends (independent of the
    # closed forms in the code).
    from scipy.integrate import quad
    pieces = [(7, 14, exp_curve(64_000, math.log(4) / 7, 7)),
              (14, 35, exp_curve(16_000, lz, 14))]
    aumclast = 7 * (7 * 64_000) / 2 + sum(
        quad(lambda t, f=f: t * f(t), a, b, epsabs=0, epsrel=1e-13)[0] for a, b, f in pieces)
    tail = quad(lambda t: t * 2000 * math.exp(-lz * (t - 35)), 35, np.inf, epsabs=0,
                epsrel=1e-13)[0]
    assert r["aumclast"] == pytest.approx(aumclast, rel=1e-10)
    assert r["aumcinf_obs"] == pytest.approx(aumclast + tail, rel=1e-10)
    assert r["aumc_pct_extrap_obs"] == pytest.approx(100 * tail / (aumclast + tail), rel=1e-9)
    assert r["mrtlast"] == pytest.approx(aumclast / auclast, rel=1e-10)
    assert r["mrtinf_obs"] == pytest.approx((aumclast + tail) / (auclast + extrap), rel=1e-10)
    # Dose 5e6: CL/F = Dose / AUCinf, Vz/F = Dose / (lz AUCinf); dose-normalised values.
    aucinf = auclast + extrap
    assert r["dose"] == 5e6 and r["cmax_d"] == pytest.approx(64_000 / 5e6)
    assert r["cl_obs"] == pytest.approx(5e6 / aucinf, rel=1e-12)
    assert r["vz_obs"] == pytest.approx(5e6 / (lz * aucinf), rel=1e-12)
    assert r["aucinf_d_obs"] == pytest.approx(aucinf / 5e6, rel=1e-12)
    # Tlag: the time of the sample just before the first measurable one (the day-0 BLQ one).
    assert r["tlag"] == 0


@pytest.mark.parametrize("eps, tolerance, n_points", [
    (0.01, 1e-4, 4),   # 1 - adj R² of the 4-point window is 1.9e-5: within 1e-4, most points
    (0.05, 1e-4, 3),   # 4.5e-4: outside, the exact 3-point window wins
    (0.05, 1e-3, 4),   # a wider tolerance takes the 4 points again
])
def test_best_fit_tolerance_picks_the_most_points_within_it(eps, tolerance, n_points):
    # After Cmax (20,000 on day 7): days 10-13 at 8000 e^eps, 4000, 2000, 1000. The last three
    # halve every day (adjusted R² 1). With the first point raised by eps on the log scale, the
    # 4-point least-squares fit on t' = 0..3 (mean 1.5, Sxx = 5) has, with b = ln 2:
    #   slope = -b - 1.5 eps / 5          (OLS is linear in y; only the first residual moves)
    #   SSres = eps² (1 - h11), h11 = 1/4 + 1.5² / 5 = 0.7
    #   Syy = 5 b² + 3 b eps + 0.75 eps²
    # adjusted R² = 1 - (SSres / Syy) (n - 1) / (n - 2).
    b = LN2
    pts = [(0, BLQ), (7, 20_000), (10, 8000 * math.exp(eps)), (11, 4000), (12, 2000),
           (13, 1000)]
    r = one(pts, terminal_rules=TerminalRules(adj_r_squared_tolerance=tolerance),
            interval_end=13)
    ssres, syy = 0.3 * eps ** 2, 5 * b * b + 3 * b * eps + 0.75 * eps ** 2
    adj4 = 1 - ssres / syy * 3 / 2
    assert (1 - adj4 < 1e-4) == (eps == 0.01)
    assert r["lambda_z_n_points"] == n_points
    if n_points == 4:
        assert r["lambda_z"] == pytest.approx(b + 0.3 * eps, rel=1e-12)
        assert r["r_squared"] == pytest.approx(1 - ssres / syy, rel=1e-12)
        assert r["adj_r_squared"] == pytest.approx(adj4, rel=1e-12)
        assert r["lambda_z_time_first"] == 10
    else:
        assert r["lambda_z"] == pytest.approx(b, rel=1e-12)
        assert r["adj_r_squared"] == pytest.approx(1, abs=1e-12)
        assert r["lambda_z_time_first"] == 11


@pytest.mark.parametrize("between", BLQ_OPTIONS)
@pytest.mark.parametrize("after_last", BLQ_OPTIONS)
def test_blq_results_never_enter_the_regression(between, after_last):
    # Measurable after Cmax (16,000 on day 7): 8000 (day 14), 2000 (28), 1000 (35), with BLQ
    # results on days 21, 42 and 49. Whatever value the BLQ rules give those results for the
    # AUC, the regression uses the three measurable points: a half-life of exactly 7 days.
    pts = [(0, BLQ), (7, 16_000), (14, 8000), (21, BLQ), (28, 2000), (35, 1000), (42, BLQ),
           (49, BLQ)]
    r = one(pts, rules=BLQRules(between=between, after_last=after_last))
    assert r["lambda_z"] == pytest.approx(LN2 / 7, rel=1e-12)
    assert r["lambda_z_n_points"] == 3 and r["lambda_z_time_first"] == 14
    assert r["aucinf_obs"] - r["auclast"] == pytest.approx(1000 * 7 / LN2, rel=1e-9)


def test_terminal_phase_not_estimable_reasons():
    # Two measurable points after Cmax: too few (the paper's kinetics table often has that).
    r = one(MIDDLE)
    assert r["lambda_z_reason"] == LAMBDA_Z_REASONS[LZ_TOO_FEW]
    assert r["lambda_z_n_points"] == 0 and r["reason"] == ""  # the AUC notes are unchanged
    # Rising after the fall: 100, 200, 400 after Cmax 1000: the only window climbs.
    rising = one([(0, BLQ), (7, 1000), (14, 100), (21, 200), (28, 400), (35, BLQ), (42, BLQ)])
    assert rising["lambda_z_reason"] == LAMBDA_Z_REASONS[LZ_NOT_FALLING]
    nothing = one([(0, BLQ), (7, BLQ), (14, BLQ)])
    assert nothing["lambda_z_reason"] == LAMBDA_Z_REASONS[LZ_NO_MEASURABLE]
    for row in (r, rising, nothing):
        for p in ("lambda_z", "half_life", "r_squared", "adj_r_squared", "clast_pred",
                  "aucinf_obs", "aucinf_pred", "auc_pct_extrap_obs", "aumcinf_obs",
                  "mrtinf_obs", "cl_obs", "vz_obs"):
            assert np.isnan(row[p]), p
    # AUMClast and MRTlast need no terminal phase.
    assert r["aumclast"] > 0 and r["mrtlast"] == pytest.approx(r["aumclast"] / r["auclast"])
    assert nothing["aumclast"] == 0 and np.isnan(nothing["mrtlast"])  # 0 / 0


def test_only_falling_windows_compete():
    # After Cmax 1000 (day 7): 500, 250, 260, 270 on days 8-11. The last three climb (their
    # adjusted R² is high, but lambda_z would be negative), so they are no candidate; the
    # 4-point window falls and is chosen. (PKNCA takes the largest adjusted R² over every
    # window, rising ones included, and would report no half-life here.)
    r = one([(0, BLQ), (7, 1000), (8, 500), (9, 250), (10, 260), (11, 270)], interval_end=11)
    # Least squares on t = 8..11 (mean 9.5, Sxx = 5): slope = sum((t - 9.5) ln C) / 5.
    slope = (-1.5 * math.log(500) - 0.5 * math.log(250) + 0.5 * math.log(260)
             + 1.5 * math.log(270)) / 5
    assert slope < 0
    assert r["lambda_z"] == pytest.approx(-slope, rel=1e-12)
    assert r["lambda_z_n_points"] == 4 and r["lambda_z_time_first"] == 8


@pytest.mark.parametrize("points, tlag", [
    ([(0, BLQ), (4, BLQ), (7, 1000), (14, 500)], 4),    # the BLQ sample before the first level
    ([(0, BLQ), (7, 1000), (14, 500)], 0),              # the pre-infusion sample
    ([(0, 800), (7, 1000), (14, 500)], 0),              # measurable at time 0
    ([(7, 1000), (14, 500)], 0),                        # nothing before: the dose time
    ([(0, BLQ), (7, BLQ)], None),                       # nothing measurable
])
def test_tlag(points, tlag):
    r = one(points, interval_end=7)
    assert (np.isnan(r["tlag"]) if tlag is None else r["tlag"] == tlag)


def test_aumc_by_hand_both_rules():
    # (0, 0), (1, 10), (2, 5), (4, 1.25) with no LLOQ. Linear: sum of dt (t1 C1 + t2 C2) / 2:
    # 1 (0 + 10) / 2 + 1 (10 + 10) / 2 + 2 (10 + 5) / 2 = 5 + 10 + 15 = 30.
    pts = [(0, 0.0), (1, 10.0), (2, 5.0), (4, 1.25)]
    r = one(pts, auc_method=LIN, interval_end=4, lloq=0.0)
    assert r["aumclast"] == pytest.approx(30, rel=1e-12)
    assert r["mrtlast"] == pytest.approx(30 / (5 + 7.5 + 6.25), rel=1e-12)
    # Log down on the two falling segments, each the exact moment of an exponential:
    # dt (t1 C1 - t2 C2) / L + dt² (C1 - C2) / L², L = ln(C1 / C2).
    r = one(pts, auc_method=LOG, interval_end=4, lloq=0.0)
    seg2 = 1 * (10 - 10) / LN2 + 1 * 5 / LN2 ** 2
    seg3 = 2 * (10 - 5) / math.log(4) + 4 * 3.75 / math.log(4) ** 2
    assert r["aumclast"] == pytest.approx(5 + seg2 + seg3, rel=1e-12)
    from scipy.integrate import quad
    num = (1 * (0 * 0 + 1 * 10) / 2  # rising: the trapezoid on t C(t)
           + quad(lambda t: t * 10 * 2 ** -(t - 1), 1, 2, epsrel=1e-13)[0]
           + quad(lambda t: t * 5 * 4 ** -((t - 2) / 2), 2, 4, epsrel=1e-13)[0])
    assert r["aumclast"] == pytest.approx(num, rel=1e-10)


# --------------------------------------------------------------------------------------------
# IV bolus: C0 back-extrapolation
# --------------------------------------------------------------------------------------------

BOLUS = [(0.5, 100.0), (1, 50.0), (2, 12.5), (4, 0.78125)]  # C = 200 * 2^(-2t), k = 2 ln 2


def bolus(points, **kw) -> pd.Series:
    return one(points, route="iv-bolus", interval_end=points[-1][0], lloq=0.0, **kw)


def test_iv_bolus_exact_exponential():
    k = 2 * LN2
    r = bolus(BOLUS, auc_method=LOG, dose=1000.0, dose_unit="mg")
    # C0 from the first two points: exp(ln 100 - 0.5 (ln 50 - ln 100) / 0.5) = 200.
    assert r["c0"] == pytest.approx(200, rel=1e-12)
    # The Cmax point (day 0.5) may enter for a bolus: all 4 points fit exactly.
    assert r["lambda_z_n_points"] == 4 and r["lambda_z_time_first"] == 0.5
    assert r["lambda_z"] == pytest.approx(k, rel=1e-12)
    # The log-trapezoid and log-moment rules are exact for an exponential:
    # AUC(0, 4) = 200/k (1 - e^-4k), AUCinf = 200/k, AUMCinf = 200/k², MRT = 1/k.
    assert r["auclast"] == pytest.approx(200 / k * (1 - 2 ** -8), rel=1e-12)
    assert r["aucinf_obs"] == pytest.approx(200 / k, rel=1e-12)
    assert r["auc_pct_extrap_obs"] == pytest.approx(100 * 2 ** -8, rel=1e-9)
    assert r["aumclast"] == pytest.approx(200 / k ** 2 * (1 - 2 ** -8 * (1 + 8 * LN2)),
                                          rel=1e-12)
    assert r["aumcinf_obs"] == pytest.approx(200 / k ** 2, rel=1e-12)
    assert r["mrtinf_obs"] == pytest.approx(1 / k, rel=1e-12)
    # The back-extrapolated area (0 to 0.5) is half of AUCinf: 200/k (1 - e^-0.5k) = 100/k.
    assert r["auc_pct_back_ext_obs"] == pytest.approx(50, rel=1e-12)
    # CL = Dose / AUCinf = 1000 k / 200; Vz = Dose / (k AUCinf) = 1000 / 200.
    assert r["cl_obs"] == pytest.approx(5 * k, rel=1e-12)
    assert r["vz_obs"] == pytest.approx(5, rel=1e-12)
    assert np.isnan(r["tlag"]) and r["reason"] == ""  # no "no concentration at time 0"
    # Linear trapezoids from the same C0: 0.5 (200 + 100)/2 + 0.5 (100 + 50)/2
    # + 1 (50 + 12.5)/2 + 2 (12.5 + 0.78125)/2 = 75 + 37.5 + 31.25 + 13.28125.
    lin = bolus(BOLUS, auc_method=LIN)
    assert lin["auclast"] == pytest.approx(157.03125, rel=1e-12)
    assert lin["auc_pct_back_ext_obs"] == pytest.approx(
        100 * 75 / (157.03125 + 0.78125 / k), rel=1e-12)
    # Extravascular on the same data: no C0, Cmax point left out (3 points from day 1), and
    # no concentration at time 0 for AUClast.
    ev = one(BOLUS, interval_end=4, lloq=0.0)
    assert ev["lambda_z_n_points"] == 3 and ev["lambda_z_time_first"] == 1
    assert np.isnan(ev["c0"]) and np.isnan(ev["auclast"])


@pytest.mark.parametrize("points, rules, c0", [
    # Rising first two points: slope >= 0, C0 is the first value.
    ([(1, 50.0), (2, 80.0), (4, 20.0)], BLQRules(), 50.0),
    # A BLQ second sample is dropped between measurable values (default rules): C0 from
    # (1, 60) and (4, 20): exp(ln 60 + 1 (ln 60 - ln 20) / 3) = 60 * 3^(1/3).
    ([(1, 60.0), (2, BLQ), (4, 20.0)], BLQRules(), 60 * 3 ** (1 / 3)),
    # ... kept as 0 with between="zero": a zero among the first two, C0 = first value.
    ([(1, 60.0), (2, BLQ), (4, 20.0)], BLQRules(between="zero"), 60.0),
    # One point only: C0 is that value.
    ([(1, 60.0)], BLQRules(), 60.0),
])
def test_iv_bolus_c0_rules(points, rules, c0):
    r = one(points, route="iv-bolus", rules=rules, lloq=10.0, interval_end=points[-1][0])
    assert r["c0"] == pytest.approx(c0, rel=1e-12)
    if len(points) > 1:
        # The AUC starts from (0, C0): linear first segment when it does not fall.
        assert r["auclast"] > 0 and "time 0" not in r["reason"]


def test_iv_bolus_observation_at_time_zero_is_used_as_measured():
    r = bolus([(0, 300.0), (1, 100.0), (2, 50.0)], auc_method=LIN)
    assert r["c0"] == 300 and r["auc_pct_back_ext_obs"] == 0
    assert r["auclast"] == pytest.approx(1 * 400 / 2 + 1 * 150 / 2, rel=1e-12)
    # With the Cmax point allowed (bolus), 3 points from time 0.
    assert r["lambda_z_n_points"] == 3 and r["lambda_z_time_first"] == 0


# --------------------------------------------------------------------------------------------
# Settings, doses and units
# --------------------------------------------------------------------------------------------

def test_doses_by_profile_and_validation():
    df = kinetics(("A", [(0, BLQ), (7, 1000)]), ("B", [(0, BLQ), (7, 3000)]))
    w = nca(df, dose={"A": 2.0}).wide.set_index("patient_id")
    assert w.loc["A", "cmax_d"] == 500 and np.isnan(w.loc["B", "cmax_d"])
    assert np.isnan(w.loc["B", "dose"])
    w = nca(df, dose=pd.Series({"A": 4.0, "B": 3.0})).wide.set_index("patient_id")
    assert w["cmax_d"].tolist() == [250, 1000]
    for bad in (0, -1, float("nan"), {"A": 0}):
        with pytest.raises(ValueError, match="dose must be a finite number > 0"):
            nca(df, dose=bad)
    with pytest.raises(TypeError, match="dose must be"):
        nca(df, dose="1 mg")


def test_terminal_rules_and_route_are_validated():
    assert TerminalRules() == TerminalRules(min_points=3, adj_r_squared_tolerance=1e-4,
                                            include_cmax=None)
    assert not TerminalRules().cmax_included("extravascular")
    assert TerminalRules().cmax_included("iv-bolus")
    with pytest.raises(ValueError, match="min_points"):
        TerminalRules(min_points=2)
    with pytest.raises(ValueError, match="tolerance"):
        TerminalRules(adj_r_squared_tolerance=-1e-4)
    df = kinetics(("A", MIDDLE))
    with pytest.raises(ValueError, match="route"):
        nca(df, route="oral")
    with pytest.raises(TypeError, match="terminal_rules"):
        nca(df, terminal_rules={"min_points": 3})
    res = nca(df, route="iv-bolus")
    assert res.route == "iv-bolus" and "from Cmax" in res.method
    assert "after Cmax" in nca(df).method and "CL/F" in nca(df).method


def test_terminal_units():
    assert (UNITS["lambda_z"], UNITS["half_life"], UNITS["aumclast"], UNITS["mrtinf_obs"]) == (
        "1/day", "day", "day²·copies/µg DNA", "day")
    res = nca(kinetics(("A", MIDDLE)), time_unit="h", conc_unit="mg/L", dose=1, dose_unit="mg")
    assert res.units["cl_obs"] == "mg/(h·mg/L)" and res.units["vz_obs"] == "mg/(mg/L)"
    assert res.units["auc_pct_extrap_obs"] == "%" and res.units["lambda_z_n_points"] == ""


@pytest.mark.parametrize("route", ["extravascular", "iv-bolus"])
@pytest.mark.parametrize("terminal", [
    TerminalRules(), TerminalRules(include_cmax=True),
    TerminalRules(min_points=4, adj_r_squared_tolerance=1e-2),
    TerminalRules(include_cmax=False, adj_r_squared_tolerance=0.0),
])
def test_vectorised_equals_loop_terminal_phase(route, terminal):
    df = random_kinetics(500, seed=20251007)
    ids = sorted(df["patient_id"].unique())
    doses = pd.Series(np.linspace(1.0, 5.0, len(ids) // 2), index=ids[: len(ids) // 2])
    for method in METHODS:
        kw = dict(route=route, terminal_rules=terminal, dose=doses, auc_method=method,
                  rules=BLQRules(before_first="lloq_half", between="lloq"))
        vec, loop = nca(df, **kw), nca_loop(df, **kw)
        assert_same(vec, loop)
    # The random data reach every outcome of the terminal phase.
    reasons = set(vec.wide["lambda_z_reason"])
    assert reasons == set(LAMBDA_Z_REASONS.values())
    assert (vec.wide["lambda_z_n_points"] >= terminal.min_points + 1).any()
