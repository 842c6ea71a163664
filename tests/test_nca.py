"""Tests of analysis_lib.nca: validation against Phoenix WinNonlin on the theophylline data,
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

from analysis_lib.nca import (BLQ_OPTIONS, COLUMNS, PK_PARAMETERS, UNITS, BLQRules,
                              NCAResult, nca, nca_loop)

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


def one(points: list[tuple[float, float | None]], **kw) -> pd.Series:
    """NCA of a single profile with both implementations; checks they agree; returns the row."""
    df = kinetics(("A", points))
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
    assert len(long) == 2 * (len(COLUMNS) - 1)
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
