"""Tests of the synthetic cohort (analysis_lib.synthetic.generator).

Expected values are the paper's published numbers, written below as constants with their
source, never values taken from the generator's own output:

Wang Y, Jia Y-p, Lu A-d, Zhang L-p, Xue Y-j, Zeng H-m (2025). Effective MRD clearance and
long-term survival with CD19 CAR-T in pediatric B-ALL patients with MRD positivity or
chemotherapy intolerance. Front. Immunol. 16:1672509.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_lib.data.schema import DAYS_PER_MONTH, KINETICS, PATIENTS, TableSchema
from analysis_lib.synthetic import generator as synthetic
from analysis_lib.synthetic import stages
from analysis_lib.synthetic.generator import (
    DEFAULT_SEED,
    PUBLISHED_N,
    SyntheticCohort,
    generate_cohort,
    patient_ids,
    write_cohort,
)

ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------
# Published numbers (Wang et al. 2025)
# --------------------------------------------------------------------------------------------
N = 50                                                    # Results, "Patient characteristics"
SEX = {"male": 27, "female": 23}                          # Table 3
AGE_0_10, AGE_OVER_10 = 29, 21                            # Table 3
ENROLMENT = {"chemo_intolerance": 7, "mrd_reemergence": 41, "mrd_persistent": 2}  # Results
PRIOR_HSCT, PRIOR_CART = 5, 2                             # Table 3
MRD_CUTS = (1e-4, 1e-3, 1e-2)                             # Table 3 strata
MRD_PRE_LD = (14, 15, 16, 5)                              # Table 3: <1e-4 ... >=1e-2
MRD_POST_LD = (23, 10, 14, 3)                             # Table 3
HLH_PRE_LD_MRD = 0.0322                                   # Results, "Toxicity" (3.22 %)
DOSE_MEDIAN, DOSE_MIN, DOSE_MAX = 3.68, 0.05, 6.33        # Results (x 10^6 cells/kg)
DOSE_HIGH, DOSE_LOW = 25, 25                              # Table 3 (>= 3.68 vs < 3.68)
DOSE_THRESHOLD_TEXT = 3.66                                # Results, "Toxicity"
DIAG_MONTHS = (15.8, 1.5, 132.0)                          # Results: median (range)
FOLLOWUP_MEDIAN_MONTHS = 68.7                             # Results
CR_CRI, NR, MRD_NEG_CR = 49, 1, 48                        # Results, "Treatment outcomes"
OS_5Y, LFS_5Y = 0.749, 0.678                              # Results
RELAPSE, RELAPSE_CD19_NEG, RELAPSE_CD19_POS = 15, 4, 11   # Results
RELAPSE_MONTHS = (12.0, 0.5, 38.4)                        # Results: median (range)
RELAPSE_NEG_MEDIAN_MONTHS, RELAPSE_POS_MEDIAN_MONTHS = 5.0, 15.7  # Results
HSCT_AFTER = 32                                           # Results
HSCT_MONTHS = (2.6, 1.3, 9.0)                             # Results: median (range)
NEUTROPENIA_G4 = 24                                       # Results, "Toxicity"
ANC_NADIR = (0.53, 0.05, 1.45)                            # Results: median (range), 10^9/L
INFECTIONS = {"infection_bacterial": 4, "infection_cmv": 2, "infection_ebv": 1,
              "infection_fungal": 2}                       # Results
INFECTED_PATIENTS = 9                                     # Results (18.0 %)
CRS_ANY, CRS_SEVERE = 34, 8                               # Results (68.0 %, 16.0 %)
ICANS = 5                                                 # Results (10.0 %)
TOCILIZUMAB, STEROIDS = 14, 7                             # Results
HLH = 1                                                   # Results
IL6_ELEVATED = 39                                         # Results (78 %)
IL6_PEAK = (33.3, 7.6, 5000.0)                            # Results: median (7.6 to >5000)
IL6_DAY = (8, 1, 22)                                      # Results: median (range)
BCA, BCA_DURATION_MEDIAN = 48, 59                         # Results, "PK of CAR-T cells"
BCA_ONSET_RANGE = (1, 20)                                 # Results
CMAX_MEDIAN = 30860                                       # Results (copies/µg DNA)
TMAX_MEDIAN = 10.5                                        # Results (days, range 4-21)
EXPANDED = 49                                             # Results (98 %)
BCA_TLAST_SPEARMAN = 0.570                                # Results
LLOQ = 100.0                                              # Methods (copies/µg DNA)
SCHEDULE_CORE = (0, 7, 14, 28, 84, 182, 273, 378, 728)    # Methods
ENROLMENT_WINDOW_DAYS = (1552, 2951)  # 2021-03-31 and 2017-06-01 to cut-off 2025-06-30


def scaled(counts: tuple[int, ...] | list[int], n: int, base: int = N) -> list[int]:
    """Largest-remainder (Hamilton) scaling of published counts to ``n`` patients; ties go
    to the category listed first. Independent of the generator's implementation."""
    quotas = [(c * n) // base for c in counts]
    rems = [(c * n) % base for c in counts]
    short = n * sum(counts) // base - sum(quotas)
    for i in sorted(range(len(counts)), key=lambda i: (-rems[i], i))[:short]:
        quotas[i] += 1
    return quotas


def months(days) -> float:
    return round(float(days) / DAYS_PER_MONTH, 1)


def strata(x: pd.Series) -> list[int]:
    codes = np.searchsorted(np.asarray(MRD_CUTS), x.to_numpy(float), side="right")
    return np.bincount(codes, minlength=4).tolist()


def true(s: pd.Series) -> np.ndarray:
    return s.fillna(False).to_numpy(bool)


def km_at(time: np.ndarray, event: np.ndarray, t: float) -> float:
    """Kaplan-Meier survival at ``t``."""
    s = 1.0
    for u in np.unique(time[event & (time <= t)]):
        at_risk = (time >= u).sum()
        s *= 1 - ((time == u) & event).sum() / at_risk
    return s


def km_median(time: np.ndarray, event: np.ndarray) -> float:
    s = 1.0
    for u in np.unique(time[event]):
        s *= 1 - ((time == u) & event).sum() / (time >= u).sum()
        if s <= 0.5:
            return float(u)
    return float("nan")


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cohort() -> SyntheticCohort:
    return generate_cohort()


@pytest.fixture(scope="module")
def pts(cohort: SyntheticCohort) -> pd.DataFrame:
    return cohort.patients


@pytest.fixture(scope="module")
def kin(cohort: SyntheticCohort) -> pd.DataFrame:
    return cohort.kinetics


@pytest.fixture(scope="module")
def big() -> SyntheticCohort:
    return generate_cohort(n=400, seed=7)


def peaks(cohort: SyntheticCohort) -> pd.DataFrame:
    """Observed Cmax, Tmax (first day of the maximum) and Tlast per patient."""
    k = cohort.kinetics
    q = k[~true(k["below_lloq"])].sort_values(["patient_id", "day"])
    g = q.groupby("patient_id")
    out = pd.DataFrame({"cmax": g["copies_per_ug_dna"].max(), "tlast": g["day"].max()})
    first_max = q.loc[q.groupby("patient_id")["copies_per_ug_dna"].idxmax()]
    out["tmax"] = first_max.set_index("patient_id")["day"]
    out = out.reindex(cohort.patients["patient_id"])
    out["tlast"] = out["tlast"].fillna(0.0)
    return out


# --------------------------------------------------------------------------------------------
# API and determinism
# --------------------------------------------------------------------------------------------

def test_constants():
    assert PUBLISHED_N == N
    assert isinstance(DEFAULT_SEED, int)


def test_same_seed_same_frames(cohort):
    again = generate_cohort(N, DEFAULT_SEED)
    pd.testing.assert_frame_equal(cohort.patients, again.patients)
    pd.testing.assert_frame_equal(cohort.kinetics, again.kinetics)
    assert cohort.metadata == again.metadata


def test_different_seed_different_data(cohort):
    other = generate_cohort(N, DEFAULT_SEED + 1)
    assert not cohort.patients.equals(other.patients)
    assert not cohort.kinetics.equals(other.kinetics)


def test_write_twice_byte_identical(cohort, tmp_path):
    a = write_cohort(cohort, tmp_path / "a")
    b = write_cohort(generate_cohort(N, DEFAULT_SEED), tmp_path / "b")
    assert [p.name for p in a] == ["patients.csv", "kinetics.csv", "README.md"]
    assert [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_identical_across_processes(tmp_path):
    """No dependence on hash randomisation or other process state."""
    code = ("import sys; from pathlib import Path; "
            "from analysis_lib.synthetic.generator import generate_cohort, write_cohort; "
            "write_cohort(generate_cohort(60, 11), Path(sys.argv[1]))")
    for i, hashseed in enumerate(("1", "2")):
        env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / str(i))], check=True,
                       env=env, cwd=ROOT)
    for name in ("patients.csv", "kinetics.csv", "README.md"):
        assert (tmp_path / "0" / name).read_bytes() == (tmp_path / "1" / name).read_bytes()


def test_written_files_say_synthetic(cohort, tmp_path):
    paths = write_cohort(cohort, tmp_path)
    keys = ["synthetic", "description", "generator", "seed", "n_patients", "table"]
    for path, table in zip(paths[:2], ("patients", "kinetics")):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "# synthetic: true"
        meta = dict(line[2:].split(": ", 1) for line in lines[:len(keys)])
        assert list(meta) == keys
        assert "SYNTHETIC" in meta["description"] and "Wang et al. 2025" in meta["description"]
        assert "not real patients" in meta["description"]
        assert meta["generator"] == "analysis_lib.synthetic.generator"
        assert meta["seed"] == str(DEFAULT_SEED) and meta["n_patients"] == str(N)
        assert meta["table"] == table
        assert not lines[len(keys)].startswith("#")
    readme = paths[2].read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "not real patients" in readme
    assert "cartbook generate --out data/synthetic" in readme
    assert "Wang" in readme


def test_no_calendar_dates_written(cohort, tmp_path):
    for path in write_cohort(cohort, tmp_path)[:2]:
        body = "\n".join(l for l in path.read_text().splitlines() if not l.startswith("#"))
        assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", body)


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------

DTYPES = {"id": "object", "string": "object", "category": "object", "integer": "Int64",
          "number": "float64", "boolean": "boolean"}


def check_schema(frame: pd.DataFrame, schema: TableSchema) -> None:
    assert list(frame.columns) == schema.names
    for f in schema.fields:
        s = frame[f.name]
        assert str(s.dtype) == DTYPES[f.kind], (f.name, s.dtype)
        if not f.nullable:
            assert s.notna().all(), f.name
        vals = s.dropna()
        if f.kind in ("integer", "number") and len(vals):
            if f.minimum is not None:
                assert vals.min() >= f.minimum, f.name
            if f.maximum is not None:
                assert vals.max() <= f.maximum, f.name
        if f.kind == "category":
            assert set(vals) <= set(f.categories), f.name
        if f.kind in ("id", "string", "category"):
            assert all(isinstance(v, str) for v in vals), f.name
            assert s[s.isna()].map(lambda v: v is None).all(), f.name


@pytest.mark.parametrize("which", ["cohort", "big"])
def test_schema(which, request):
    c = request.getfixturevalue(which)
    check_schema(c.patients, PATIENTS)
    check_schema(c.kinetics, KINETICS)


def test_patient_ids():
    assert patient_ids(50)[0] == "SYN-001" and patient_ids(50)[-1] == "SYN-050"
    assert patient_ids(10_000)[0] == "SYN-00001"
    for n in (99_999, 100_000, 123_456):
        ids = patient_ids(n)
        assert len(set(ids)) == n
        assert not any(re.search(r"\d{6,}", s) for s in ids[-3:])
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,32}", s) for s in ids[-3:])
        assert list(ids[-3:]) == sorted(ids[-3:])


def test_rows_sorted(pts, kin):
    assert pts["patient_id"].tolist() == sorted(pts["patient_id"])
    assert pts["patient_id"].is_unique
    keys = list(zip(kin["patient_id"], kin["day"]))
    assert keys == sorted(keys)
    assert not kin.duplicated(["patient_id", "day"]).any()
    assert set(kin["patient_id"]) <= set(pts["patient_id"])


# --------------------------------------------------------------------------------------------
# Exact published counts (n = 50)
# --------------------------------------------------------------------------------------------

def test_baseline_counts(pts):
    assert pts["sex"].value_counts().to_dict() == SEX
    assert (pts["age_years"] <= 10.0).sum() == AGE_0_10
    assert (pts["age_years"] > 10.0).sum() == AGE_OVER_10
    assert pts["age_years"].between(1.0, 17.9).all()
    assert pts["enrolment_reason"].value_counts().to_dict() == ENROLMENT
    assert true(pts["prior_hsct"]).sum() == PRIOR_HSCT
    assert true(pts["prior_cart"]).sum() == PRIOR_CART
    assert (pts["ld_regimen"] == "flu_cy").all() and (pts["ld_start_day"] == -5).all()


def test_mrd_strata(pts):
    assert strata(pts["mrd_pre_ld"]) == list(MRD_PRE_LD)
    assert strata(pts["mrd_post_ld"]) == list(MRD_POST_LD)
    # flow-cytometry sensitivity 1e-4: below it means "not detected", written 0
    for col in ("mrd_pre_ld", "mrd_post_ld", "d28_mrd"):
        x = pts[col]
        assert ((x == 0) | (x >= 1e-4)).all(), col
    top_post = pts["mrd_post_ld"] >= 1e-2
    assert (pts.loc[top_post, "mrd_pre_ld"] >= 1e-3).all()


def test_hlh_patient(pts):
    hlh = true(pts["hlh"])
    assert hlh.sum() == HLH
    assert pts.loc[hlh, "mrd_pre_ld"].tolist() == [HLH_PRE_LD_MRD]
    # Results: tocilizumab and glucocorticoids were given
    assert true(pts.loc[hlh, "tocilizumab"]).all() and true(pts.loc[hlh, "corticosteroids"]).all()


def test_dose(pts):
    d = np.sort(pts["cart_dose_1e6_per_kg"].to_numpy())
    assert np.median(d) == pytest.approx(DOSE_MEDIAN, abs=1e-9)
    assert d.min() == DOSE_MIN and d.max() == DOSE_MAX
    assert (d >= DOSE_MEDIAN).sum() == DOSE_HIGH and (d < DOSE_MEDIAN).sum() == DOSE_LOW
    assert d[24] == DOSE_THRESHOLD_TEXT and d[25] == 3.70
    assert np.array_equal(d, np.round(d, 2))


def test_diagnosis_to_infusion(pts):
    x = pts["diagnosis_to_infusion_days"].astype(float)
    assert (months(x.median()), months(x.min()), months(x.max())) == DIAG_MONTHS
    assert x.mean() > x.median()  # right-skewed


@pytest.mark.parametrize("n,seed", [(50, None), (500, 1), (500, 2), (2000, 2026)])
def test_diagnosis_is_never_before_birth(n, seed):
    """The interval from diagnosis to infusion fits within the patient's age (the
    validator's rule diagnosis_longer_than_age), without changing the pinned values."""
    c = synthetic.generate_cohort() if seed is None else synthetic.generate_cohort(n=n, seed=seed)
    p = c.patients
    assert (p["diagnosis_to_infusion_days"] <= p["age_years"] * 365.25).all()


def test_fit_within_age_swaps_values_and_keeps_the_multiset():
    days = np.array([4018, 46, 481, 1414, 300])
    age = np.array([7.4, 15.0, 12.0, 1.0, 3.0])
    out = stages._fit_within_age(days, age)
    assert sorted(out) == sorted(days)
    assert (out <= np.floor(age * 365.25)).all()
    assert list(days) == [4018, 46, 481, 1414, 300]  # the input is not modified
    # the 7.4-year-old swaps with the largest interval that fits and whose patient (12 years)
    # can take 4018 days; the 1-year-old then swaps with the 15-year-old's 46 days
    assert list(out) == [481, 1414, 4018, 46, 300]


def test_day28_response(pts):
    r = pts["d28_response"]
    assert r.isin(["cr", "cri"]).sum() == CR_CRI and (r == "nr").sum() == NR
    mrd_neg_cr = r.isin(["cr", "cri"]) & (pts["d28_mrd"] < 1e-4)
    assert mrd_neg_cr.sum() == MRD_NEG_CR
    assert (pts.loc[r == "nr", "d28_mrd"] >= 1e-2).all()
    assert ((pts["d28_mrd"] == 0) | (pts["d28_mrd"] >= 1e-4)).all()


def test_toxicity_counts(pts):
    crs, icans = pts["crs_grade"], pts["icans_grade"]
    assert (crs >= 1).sum() == CRS_ANY and (crs >= 3).sum() == CRS_SEVERE
    assert (icans >= 1).sum() == ICANS
    toci, ster = true(pts["tocilizumab"]), true(pts["corticosteroids"])
    assert toci.sum() == TOCILIZUMAB and ster.sum() == STEROIDS
    assert (crs[toci] >= 2).all()
    # corticosteroids mostly for grade >= 3 CRS or ICANS
    assert ((crs[ster] >= 3) | (icans[ster] >= 1)).sum() > STEROIDS / 2
    # severe CRS goes with pre-LD MRD >= 1e-3 (Table 2)
    severe = (crs >= 3).to_numpy()
    high = (pts["mrd_pre_ld"] >= 1e-3).to_numpy()
    assert high[severe].mean() > high[~severe].mean()
    assert true(pts["hlh"]).sum() == HLH


def test_neutropenia_and_anc(pts):
    g4 = true(pts["neutropenia_grade4"])
    anc = pts["anc_nadir_1e9_per_l"]
    assert g4.sum() == NEUTROPENIA_G4
    assert (anc[g4] < 0.5).all() and (anc[~g4] >= 0.5).all()
    assert (round(anc.median(), 2), anc.min(), anc.max()) == ANC_NADIR


def test_infections(pts):
    for col, k in INFECTIONS.items():
        assert true(pts[col]).sum() == k, col
    any_inf = np.column_stack([true(pts[c]) for c in INFECTIONS]).any(axis=1)
    assert any_inf.sum() == INFECTED_PATIENTS


def test_gvhd(pts):
    prior = true(pts["prior_hsct"])
    assert (pts.loc[prior, "gvhd"] == False).all()  # noqa: E712 (Results: none developed GVHD)
    assert pts.loc[~prior, "gvhd"].isna().all()


def test_il6(pts):
    el = true(pts["il6_elevated"])
    peak = pts["il6_peak_pg_per_ml"]
    assert el.sum() == IL6_ELEVATED
    assert (round(peak[el].median(), 1), peak[el].min(), peak[el].max()) == IL6_PEAK
    assert true(pts["il6_peak_above_uloq"]).sum() == 1
    assert peak[true(pts["il6_peak_above_uloq"])].tolist() == [IL6_PEAK[2]]
    assert (peak[~el] < IL6_PEAK[1]).all()
    day = pts["il6_peak_day"].astype(float)
    assert (day.median(), day.min(), day.max()) == IL6_DAY
    # severe CRS and ICANS come with elevated IL-6
    tox = ((pts["crs_grade"] >= 3) | (pts["icans_grade"] >= 1)).to_numpy()
    assert el[tox].all()
    assert np.array_equal(peak.to_numpy(), np.round(peak.to_numpy(), 1))


def test_bca(pts):
    bca = true(pts["bca"])
    assert bca.sum() == BCA
    assert pts.loc[bca, "bca_duration_days"].median() == BCA_DURATION_MEDIAN
    onset = pts.loc[bca, "bca_onset_day"]
    assert onset.min() >= BCA_ONSET_RANGE[0] and onset.max() <= BCA_ONSET_RANGE[1]
    for c in ("bca_onset_day", "bca_duration_days", "bca_ongoing"):
        assert pts.loc[bca, c].notna().all() and pts.loc[~bca, c].isna().all(), c
    ongoing = true(pts["bca_ongoing"])
    assert 0 < ongoing.sum() < 10


def test_hsct(pts):
    h = true(pts["hsct_after"])
    assert h.sum() == HSCT_AFTER
    d = pts.loc[h, "hsct_day"].astype(float)
    assert (months(d.median()), months(d.min()), months(d.max())) == HSCT_MONTHS
    assert pts.loc[~h, "hsct_day"].isna().all()


def test_relapse(pts):
    rel = true(pts["relapse"])
    assert rel.sum() == RELAPSE
    cd19 = pts["relapse_cd19"]
    assert (cd19 == "negative").sum() == RELAPSE_CD19_NEG
    assert (cd19 == "positive").sum() == RELAPSE_CD19_POS
    d = pts.loc[rel, "relapse_day"].astype(float)
    assert (months(d.median()), months(d.min()), months(d.max())) == RELAPSE_MONTHS
    neg = pts.loc[cd19 == "negative", "relapse_day"].astype(float)
    pos = pts.loc[cd19 == "positive", "relapse_day"].astype(float)
    assert months(neg.median()) == RELAPSE_NEG_MEDIAN_MONTHS
    assert months(pos.median()) == RELAPSE_POS_MEDIAN_MONTHS
    # Table 1A: female sex and longer B-cell aplasia protect
    female = (pts["sex"] == "female").to_numpy()
    assert rel[~female].mean() > rel[female].mean()
    dur = pts["bca_duration_days"].fillna(0).to_numpy()
    assert np.median(dur[rel]) < np.median(dur[~rel])


def test_survival_roughly_calibrated(pts):
    last = pts["last_followup_day"].to_numpy(float)
    death = true(pts["death"])
    lfs_event = death | true(pts["relapse"])
    lfs_time = np.where(true(pts["relapse"]), pts["relapse_day"].fillna(0).to_numpy(float), last)
    five = 5 * 365.25
    assert km_at(last, death, five) == pytest.approx(OS_5Y, abs=0.08)
    assert km_at(lfs_time, lfs_event, five) == pytest.approx(LFS_5Y, abs=0.08)
    # median follow-up by reverse Kaplan-Meier (censoring as the event)
    fu = km_median(last, ~death) / DAYS_PER_MONTH
    assert fu == pytest.approx(FOLLOWUP_MEDIAN_MONTHS, abs=4.0)


def test_kinetics_roughly_calibrated(cohort, pts):
    pk = peaks(cohort)
    assert pk["cmax"].median() == pytest.approx(CMAX_MEDIAN, rel=0.01)
    assert 7 <= pk["tmax"].median() <= 14  # paper: 10.5 days on a discrete grid
    assert 28 <= pk["tlast"].median() <= 56
    assert ((pk["cmax"].fillna(0) >= 2 * LLOQ).sum()) == EXPANDED
    # the two non-MRD-CR patients: median Cmax 863 (Table 3) = (124 + 1,602) / 2, where
    # 1,602 is the smallest Cmax among the 49 expanders (Results) and 124 the non-expander
    mrd_cr = (pts["d28_response"].isin(["cr", "cri"]) & (pts["d28_mrd"] < 1e-4)).to_numpy()
    assert pk.loc[~mrd_cr, "cmax"].median() == 863.0
    expanded = pk["cmax"].fillna(0) >= 2 * LLOQ
    assert pk.loc[expanded, "cmax"].min() == 1602.0
    # Mann-Whitney p = 0.017 for Cmax by MRD-CR needs U = 0 (audit): every MRD-CR patient
    # peaks above both non-MRD-CR patients
    assert pk.loc[mrd_cr, "cmax"].min() > pk.loc[~mrd_cr, "cmax"].max()
    # BCA duration correlates with persistence (Results: rho = 0.570)
    bca = true(pts["bca"])
    rho = pd.Series(pts.loc[bca, "bca_duration_days"].to_numpy()).corr(
        pd.Series(pk.loc[bca, "tlast"].to_numpy()), method="spearman")
    assert rho == pytest.approx(BCA_TLAST_SPEARMAN, abs=0.2)
    # higher Cmax with corticosteroids (Table 3)
    ster = true(pts["corticosteroids"])
    assert pk.loc[ster, "cmax"].median() > pk.loc[~ster, "cmax"].median()


# --------------------------------------------------------------------------------------------
# Scaling to other cohort sizes
# --------------------------------------------------------------------------------------------

def published_count_vectors(p: pd.DataFrame) -> dict[str, tuple[list[int], tuple[int, ...]]]:
    """Observed count vector and the published vector it must scale from."""
    r, crs = p["d28_response"], p["crs_grade"]
    cd19 = p["relapse_cd19"]
    return {
        "sex": ([int((p["sex"] == k).sum()) for k in SEX], tuple(SEX.values())),
        "age": ([int((p["age_years"] <= 10).sum()), int((p["age_years"] > 10).sum())],
                (AGE_0_10, AGE_OVER_10)),
        "enrolment": ([int((p["enrolment_reason"] == k).sum()) for k in ENROLMENT],
                      tuple(ENROLMENT.values())),
        "prior_hsct": ([int(true(p["prior_hsct"]).sum()), int((~true(p["prior_hsct"])).sum())],
                       (PRIOR_HSCT, N - PRIOR_HSCT)),
        "prior_cart": ([int(true(p["prior_cart"]).sum()), int((~true(p["prior_cart"])).sum())],
                       (PRIOR_CART, N - PRIOR_CART)),
        "mrd_pre": (strata(p["mrd_pre_ld"]), MRD_PRE_LD),
        "mrd_post": (strata(p["mrd_post_ld"]), MRD_POST_LD),
        "d28": ([int((r.isin(["cr", "cri"]) & (p["d28_mrd"] < 1e-4)).sum()),
                 int((r.isin(["cr", "cri"]) & (p["d28_mrd"] >= 1e-4)).sum()),
                 int((r == "nr").sum())], (MRD_NEG_CR, CR_CRI - MRD_NEG_CR, NR)),
        "crs": ([int((crs == 0).sum()), int(crs.between(1, 2).sum()), int((crs >= 3).sum())],
                (N - CRS_ANY, CRS_ANY - CRS_SEVERE, CRS_SEVERE)),
        "icans": ([int((p["icans_grade"] >= 1).sum()), int((p["icans_grade"] == 0).sum())],
                  (ICANS, N - ICANS)),
        "tocilizumab": ([int(true(p["tocilizumab"]).sum())], (TOCILIZUMAB,)),
        "steroids": ([int(true(p["corticosteroids"]).sum())], (STEROIDS,)),
        "neutropenia": ([int(true(p["neutropenia_grade4"]).sum())], (NEUTROPENIA_G4,)),
        "infections": ([int(true(p[c]).sum()) for c in INFECTIONS], tuple(INFECTIONS.values())),
        "hlh": ([int(true(p["hlh"]).sum())], (HLH,)),
        "il6": ([int(true(p["il6_elevated"]).sum())], (IL6_ELEVATED,)),
        "bca": ([int(true(p["bca"]).sum())], (BCA,)),
        "hsct": ([int(true(p["hsct_after"]).sum())], (HSCT_AFTER,)),
        "relapse": ([int(true(p["relapse"]).sum()), int((~true(p["relapse"])).sum())],
                    (RELAPSE, N - RELAPSE)),
        "relapse_cd19": ([int((cd19 == "negative").sum()), int((cd19 == "positive").sum())],
                         (RELAPSE_CD19_NEG, RELAPSE_CD19_POS)),
    }


def expected_scaled(name: str, published: tuple[int, ...], n: int,
                    observed: dict[str, tuple[list[int], tuple[int, ...]]]) -> list[int]:
    if name == "relapse_cd19":  # split within the (scaled) relapses
        total = observed["relapse"][0][0]
        return scaled(published, total, base=sum(published))
    if len(published) == 1:  # a yes count: scale (yes, no)
        return scaled((published[0], N - published[0]), n)[:1]
    if name == "infections":  # a yes count per type: scale (yes, no) for each
        return [scaled((k, N - k), n)[0] for k in published]
    return scaled(published, n)


@pytest.mark.parametrize("n,seed", [(400, 7), (123, 3)])
def test_scaled_counts(n, seed, big):
    c = big if (n, seed) == (400, 7) else generate_cohort(n, seed)
    p = c.patients
    assert len(p) == n
    observed = published_count_vectors(p)
    for name, (got, published) in observed.items():
        if name == "infections":
            continue  # checked below: the types are scaled together
        assert got == expected_scaled(name, published, n, observed), name
    types = scaled((*INFECTIONS.values(), N - sum(INFECTIONS.values())), n)[:4]
    assert observed["infections"][0] == types
    check_schema(c.patients, PATIENTS)
    check_schema(c.kinetics, KINETICS)


def test_scaled_dose_and_medians(big):
    p = big.patients
    d = p["cart_dose_1e6_per_kg"]
    assert d.min() == DOSE_MIN and d.max() == DOSE_MAX
    assert d.median() == pytest.approx(DOSE_MEDIAN, abs=0.02)
    x = p["diagnosis_to_infusion_days"].astype(float)
    assert months(x.median()) == pytest.approx(DIAG_MONTHS[0], abs=0.5)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 13])
def test_small_cohorts(n, tmp_path):
    c = generate_cohort(n, 5)
    check_schema(c.patients, PATIENTS)
    check_schema(c.kinetics, KINETICS)
    assert len(c.patients) == n
    write_cohort(c, tmp_path)


# --------------------------------------------------------------------------------------------
# Temporal consistency
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["cohort", "big"])
def test_event_days_consistent(which, request):
    p = request.getfixturevalue(which).patients
    last = p["last_followup_day"].astype(float)
    for col in ("relapse_day", "hsct_day", "death_day"):
        d = p[col].astype(float)
        assert (d.isna() | (d <= last)).all(), col
        flag = {"relapse_day": "relapse", "hsct_day": "hsct_after", "death_day": "death"}[col]
        assert (d.notna() == true(p[flag])).all(), col
    dead = true(p["death"])
    assert (p.loc[dead, "death_day"] == p.loc[dead, "last_followup_day"]).all()
    alive_fu = p.loc[~dead, "last_followup_day"]
    assert alive_fu.between(*ENROLMENT_WINDOW_DAYS).all()
    dd = p["death_day"].astype(float)
    for col in ("relapse_day", "hsct_day"):
        d = p[col].astype(float)
        assert (d.isna() | dd.isna() | (d <= dd)).all(), col
    # transplanted patients are transplanted before any relapse
    h = true(p["hsct_after"]) & true(p["relapse"])
    assert (p.loc[h, "hsct_day"] < p.loc[h, "relapse_day"]).all()
    # causes of death
    cause = p["death_cause"]
    assert (cause.notna() == dead).all()
    leuk = (cause == "leukemia").to_numpy()
    assert (true(p["relapse"])[leuk] | (p["d28_response"] == "nr").to_numpy()[leuk]).all()
    trm = (cause == "transplant_related").to_numpy()
    assert true(p["hsct_after"])[trm].all()
    assert (p.loc[trm, "death_day"] > p.loc[trm, "hsct_day"]).all()
    assert (p["relapse_cd19"].notna() == true(p["relapse"])).all()
    # B-cell aplasia ends by the last follow-up
    end = p["bca_onset_day"].astype(float) + p["bca_duration_days"]
    assert (end.isna() | (end <= last)).all()


@pytest.mark.parametrize("which", ["cohort", "big"])
def test_kinetics_consistent(which, request):
    c = request.getfixturevalue(which)
    k, p = c.kinetics, c.patients
    blq = true(k["below_lloq"])
    assert k.loc[blq, "copies_per_ug_dna"].isna().all()
    assert (k.loc[~blq, "copies_per_ug_dna"] >= k.loc[~blq, "lloq_copies_per_ug_dna"]).all()
    assert (k["lloq_copies_per_ug_dna"] == LLOQ).all()
    last = k["patient_id"].map(p.set_index("patient_id")["last_followup_day"]).astype(float)
    assert (k["day"] <= last).all()
    assert not k.duplicated(["patient_id", "day"]).any()
    # every patient has a pre-infusion sample, below the LLOQ
    first = k.groupby("patient_id").head(1)
    assert len(first) == len(p) and (first["day"] == 0).all() and true(first["below_lloq"]).all()
    # core schedule days only, plus the extra visits
    assert set(SCHEDULE_CORE[:4]) <= set(k["day"])
    # stopping rule: no sample after two consecutive post-infusion results below the LLOQ
    post = k[k["day"] > 0]
    flags = true(post["below_lloq"])
    same = post["patient_id"].to_numpy()
    two_blq = flags[1:] & flags[:-1] & (same[1:] == same[:-1])
    # the second of two consecutive BLQ results must be the patient's last sample
    is_last = np.append(same[1:] != same[:-1], True)
    assert is_last[1:][two_blq].all()
    # levels are rounded to 4 significant digits (the paper prints Cmax to 4 or more)
    v = k["copies_per_ug_dna"].dropna().to_numpy()
    e = np.floor(np.log10(v))
    assert np.allclose(v / 10 ** (e - 3), np.round(v / 10 ** (e - 3)))


def test_value_rounding(pts):
    def decimals_ok(x, d):
        x = x.dropna().to_numpy(float)
        return np.array_equal(x, np.round(x, d))

    assert decimals_ok(pts["age_years"], 1)
    assert decimals_ok(pts["anc_nadir_1e9_per_l"], 2)
    for col in ("mrd_pre_ld", "mrd_post_ld", "d28_mrd"):
        x = pts[col].to_numpy(float)
        x = x[x > 0]
        e = np.floor(np.log10(x))
        assert np.allclose(x / 10 ** (e - 2), np.round(x / 10 ** (e - 2))), col


# --------------------------------------------------------------------------------------------
# The project's validator
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["cohort", "big"])
def test_validates(which, request, tmp_path):
    validation = pytest.importorskip("analysis_lib.data.validation")
    c = request.getfixturevalue(which)
    write_cohort(c, tmp_path)
    report = validation.validate_dir(tmp_path)
    assert report.ok, report.to_text()
    assert report.problems == []
    assert report.synthetic


def test_shipped_cohort_is_exactly_what_the_generator_makes(tmp_path):
    """data/synthetic is generated data: regenerating it gives the committed bytes, so the
    shipped files can never drift from the generator that documents them."""
    shipped = ROOT / "data" / "synthetic"
    fresh = tmp_path / "fresh"
    write_cohort(generate_cohort(), fresh)
    names = sorted(p.name for p in shipped.iterdir())
    assert names == sorted(p.name for p in fresh.iterdir())
    for name in names:
        assert (shipped / name).read_bytes() == (fresh / name).read_bytes(), name


def test_stein_profile_shape():
    """Stein et al. (2019): C(0) = Cmax/F, C(Tmax) = Cmax, exponential rise before Tmax,
    biphasic decline after it with terminal slope -beta."""
    from analysis_lib.synthetic.generator import stein_concentration

    cmax, tmax, foldx, alpha, beta, fb = 30_000.0, 10.0, 1000.0, 0.15, 0.003, 0.01
    t = np.array([0.0, 5.0, 10.0, 20.0, 400.0, 500.0])
    c = stein_concentration(t, cmax, tmax, foldx, alpha, beta, fb)
    assert c[0] == pytest.approx(cmax / foldx)
    assert c[1] == pytest.approx((cmax / foldx) * np.exp(np.log(foldx) / tmax * 5.0))
    assert c[2] == pytest.approx(cmax)
    assert c[3] == pytest.approx(cmax * ((1 - fb) * np.exp(-alpha * 10) + fb * np.exp(-beta * 10)))
    assert np.all(np.diff(c[:3]) > 0) and np.all(np.diff(c[2:]) < 0)
    # far out the slow phase dominates: log-slope -> -beta
    slope = (np.log(c[5]) - np.log(c[4])) / 100.0
    assert slope == pytest.approx(-beta, rel=1e-6)


def test_any_size_and_overrides():
    from dataclasses import replace

    from analysis_lib.synthetic.generator import SyntheticParams, generate_cohort

    big = generate_cohort(n=5000, seed=11)
    assert len(big.patients) == 5000 and big.patients["patient_id"].is_unique
    slow = generate_cohort(n=200, seed=11, params=replace(SyntheticParams(), alpha_typical=0.05))
    fast = generate_cohort(n=200, seed=11, params=replace(SyntheticParams(), alpha_typical=0.4))
    # a slower contraction keeps CAR-T measurable for longer
    n_slow = slow.kinetics["below_lloq"].eq(False).sum()
    n_fast = fast.kinetics["below_lloq"].eq(False).sum()
    assert n_slow > n_fast
