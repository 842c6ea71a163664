"""Every count the survival chapter shows goes through the count format and small-cell
suppression, and every number it shows through the book's formatter.

The chapter is run on the shipped synthetic cohort with ``min_cell_count`` 5 (as the book
does for a hospital's own cohort) and the small counts the review found are checked to read
"<5", with what would give them away (an NRM estimate, events per variable, a hazard ratio)
gone too. Expected counts are computed here from the patients table, not taken from the
results. The notebook is checked statically: no count shown by a ``:d`` glue (it cannot carry
"<5" or a separator), no float that can print "nan", no cohort number typed into the prose.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_lib.analyses import survival as S
from analysis_lib.core import formatting as fmt
from analysis_lib.core import suppression

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "survival.py"
THRESHOLD = 5


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    from analysis_lib.data.validation import load_dataset

    data = load_dataset(ROOT / "data" / "synthetic")
    return data.tables["patients"], data.tables["kinetics"]


def _analyse(patients, kinetics, threshold: int = THRESHOLD, **options) -> S.SurvivalResults:
    with suppression.suppressed(threshold):
        return S.analyse(patients, kinetics, S.SurvivalOptions(**options) if options else None)


@pytest.fixture(scope="module")
def suppressed(cohort) -> S.SurvivalResults:
    return _analyse(*cohort)


@pytest.fixture(scope="module")
def plain(cohort) -> S.SurvivalResults:
    return S.analyse(*cohort)


def _shown(res: S.SurvivalResults, label: str, threshold: int = THRESHOLD) -> pd.DataFrame:
    """A table as the book shows it: rendered, then through suppress_table."""
    return suppression.suppress_table(res.tables[label].display(), threshold)


def _small_integers(text: str, threshold: int = THRESHOLD) -> list[int]:
    """Integers 1..threshold-1 standing alone in ``text`` (not part of a decimal, a power
    or "<5")."""
    out = []
    for m in re.finditer(r"(?<![\d.,<⁻×])(\d+)(?![\d.,⁰¹²³⁴⁵⁶⁷⁸⁹%])", text):
        if 0 < int(m.group(1)) < threshold:
            out.append(int(m.group(1)))
    return out


# ------------------------------------------------------------------------------------------
# Group sizes and counts glued into the text

def test_high_burden_group_sizes_read_as_suppressed(cohort, suppressed):
    """Supplementary Figure S1's groups (MRD at or above the last cut, by HSCT) are tiny:
    their sizes glued into the text (``s1_*_n``) read "<5", as in the tables."""
    patients, _ = cohort
    high = max(S.SurvivalOptions().mrd_cuts)
    hsct = patients["hsct_after"].astype(bool)
    for col, when in (("mrd_pre_ld", "pre"), ("mrd_post_ld", "pos")):
        m = patients[col].astype(float) >= high
        sizes = [int((m & hsct).sum()), int((m & ~hsct).sum())]
        assert all(0 < k < THRESHOLD for k in sizes), sizes  # the review's 2 vs 1, 3 vs 2
        for end in ("os", "lfs"):
            assert suppressed.glue[f"s1_{when}_{end}_n"] == "<5 vs <5"


def test_figure1_group_sizes_go_through_the_count_format(cohort, suppressed):
    """``fig1_*_n`` is written with count_text: a group below the threshold reads "<k"."""
    patients, kinetics = cohort
    low = S.SurvivalOptions().mrd_cuts[0]
    m = patients["mrd_pre_ld"].astype(float) < low
    hsct = patients["hsct_after"].astype(bool)
    n_h, n_nh = int((m & hsct).sum()), int((m & ~hsct).sum())
    assert suppressed.glue["fig1_pre_low_os_n"] == f"{n_h} vs {n_nh}"
    threshold = max(n_h, n_nh) + 1
    res = _analyse(patients, kinetics, threshold)
    assert res.glue["fig1_pre_low_os_n"] == f"<{threshold} vs <{threshold}"


def test_counts_in_the_text_have_suppressed_text_glues(cohort, suppressed, plain):
    """The counts the review found shown by ``:d`` (CD19-negative relapses and late
    transplants, 4 each here) have text glues that read "<5"; the numeric keys stay (the
    scorecard reads them)."""
    patients, _ = cohort
    rel = patients["relapse"].astype(bool)
    negative = int((rel & (patients["relapse_cd19"] == "negative")).sum())
    positive = int((rel & (patients["relapse_cd19"] == "positive")).sum())
    assert 0 < negative < THRESHOLD <= positive
    assert suppressed.glue["relapse_negative_n"] == negative
    assert suppressed.glue["relapse_negative_n_text"] == "<5"
    assert suppressed.glue["relapse_positive_n_text"] == str(positive)
    assert plain.glue["relapse_negative_n_text"] == str(negative)

    ep = S.endpoints(patients)
    lm = S.SurvivalOptions().main_landmark_months
    late = int(((ep["hsct_time"] > lm) & (ep["os_time"] > lm)).sum())
    assert 0 < late < THRESHOLD
    assert suppressed.glue["it_late_hsct"] == late
    assert suppressed.glue["it_late_hsct_text"] == "<5"
    assert plain.glue["it_late_hsct_text"] == str(late)

    for key, k in (("n_patients", len(patients)), ("os_events", int(ep["os_event"].sum())),
                   ("lfs_events", int(ep["lfs_event"].sum())),
                   ("it_main_landmark_n", int((ep["os_time"] > lm).sum()))):
        assert suppressed.glue[f"{key}_text"] == suppression.count_text(k, THRESHOLD), key


def test_the_cd19_relapse_sentence_drops_the_times_of_a_suppressed_group(suppressed, plain):
    """With fewer than the threshold, the median and range of relapse times are single
    patients' times: the phrase keeps "<5" and drops them."""
    neg = plain.glue["relapse_negative_text"]
    assert neg in plain.glue["relapse_cd19_text"]
    text = suppressed.glue["relapse_cd19_text"]
    assert text.startswith("<5 CD19-negative relapses (times not shown")
    assert neg not in text and neg not in suppressed.glue["relapse_negative_text"]
    assert plain.glue["relapse_positive_text"] in text
    assert not _small_integers(text.replace("<5", ""))


# ------------------------------------------------------------------------------------------
# Tables and captions

def test_the_immortal_time_tables_hsct_column_is_suppressed_whatever_its_header(cohort):
    """The "HSCT" column (patients transplanted by the landmark) is a count: it is written
    with count_text, so a small value reads "<k" although the header is not one that
    suppress_table recognises; the row's hazard ratio goes with it, as suppress_table does
    for a derived column."""
    patients, kinetics = cohort
    plain = S.analyse(patients, kinetics).tables["tbl-immortal"].data
    smallest = int(plain["n_hsct"].min())
    threshold = smallest + 1
    res = _analyse(patients, kinetics, threshold)
    shown = _shown(res, "tbl-immortal", threshold)
    hr = [c for c in shown.columns if c.startswith("HR")][0]
    rows = np.flatnonzero(plain["n_hsct"].to_numpy() == smallest)
    assert rows.size
    for i in rows:
        assert shown["HSCT"].iloc[i] == f"<{threshold}"
        assert shown[hr].iloc[i] == "–"
    for col in ("n", "HSCT", "Events"):
        for v in shown[col]:
            assert not (str(v).isdigit() and 0 < int(v) < threshold), (col, v)


def test_the_immortal_time_verdicts_hide_what_the_table_hides(suppressed, plain):
    """In the low-burden subgroup every analysis has fewer than 5 events: the table blanks
    its hazard ratios, and so does the sentence."""
    data = suppressed.tables["tbl-immortal"].data
    low = data[data["analysis_set"] == "os_low"]
    assert (low["events"] < THRESHOLD).all()
    assert "HR " in plain.glue["it_os_low_verdict"]
    for key in ("it_os_low_verdict", "it_lfs_low_verdict"):
        text = suppressed.glue[key]
        assert "HR " not in text and "not shown (fewer than 5" in text, text
    assert "HR " in suppressed.glue["it_os_verdict"]  # the whole cohort: nothing small
    # the download drops the same estimates; nothing changes without suppression
    assert low[["coef", "se", "hr", "lower", "upper"]].isna().all().all()
    full = plain.tables["tbl-immortal"].data
    assert full.loc[low.index, "hr"].notna().all()
    kept = data["analysis_set"].isin(["os_all", "lfs_all"])
    pd.testing.assert_frame_equal(data[kept], full[kept])


def test_the_multivariable_caption_suppresses_its_counts_and_the_epv(cohort):
    """n and events in the caption are cohort counts (count_text); EPV times the number of
    coefficients would give a suppressed number of events away, so only its bound shows."""
    patients, kinetics = cohort
    ep = S.endpoints(patients)
    deaths = int(ep["os_event"].sum())
    threshold = deaths + 1
    res = _analyse(patients, kinetics, threshold)
    caption = res.tables["tbl-multivariable"].caption
    assert f"<{threshold} events" in caption
    assert f"{deaths} events" not in caption
    params = res.glue["os_mv_params"]
    exact = f"EPV {deaths / params:.1f}"
    assert exact not in caption
    assert f"EPV < {fmt.number(threshold / params)}" in caption
    assert exact not in res.glue["os_mv_text"] and f"<{threshold} events" in res.glue["os_mv_text"]
    # Table 1's model labels show EPV too
    models = " ".join(res.tables["tbl-paper-sets"].frame["Model"])
    paper_params = len(S.PAPER_COVARIATE_SETS["os"])
    assert f"EPV {deaths / paper_params:.1f}" not in models
    assert f"EPV < {fmt.number(threshold / paper_params)}" in models
    # ... and the downloads
    for label in ("tbl-multivariable", "tbl-paper-sets"):
        d = res.tables[label].data
        assert d.loc[d["end_point"] == "os", "epv"].isna().all(), label


def test_figure1_nrm_is_blanked_where_a_count_of_its_group_is_suppressed(suppressed, plain):
    """The review's "12.5 (12.5)" beside "8 (<5)": the NRM of a group whose patients or
    events are suppressed would say 1 of 8; it is blanked in the table, its status dot goes
    (the paper's value stays), the download drops it and the narrative does not quote it."""
    from analysis_lib.book import report

    fig1 = suppressed.tables["tbl-figure1"]
    row = fig1.data.index[(fig1.data["timing"] == "Pre-LD") & (fig1.data["end_point"] == "OS")
                          & fig1.data["stratum"].str.startswith("<")][0]
    assert fig1.data.loc[row, "events_HSCT"] < THRESHOLD
    assert plain.tables["tbl-figure1"].data.loc[row, "nrm5_HSCT"] == pytest.approx(1 / 8)
    cell = fig1.frame.loc[row, "5-year NRM, % (SE), HSCT vs none"]
    assert isinstance(cell, S.Beside) and cell.reproduced.startswith("– vs")
    assert cell.published and not cell.status
    assert "12.5" not in fig1.display().loc[row, "5-year NRM, % (SE), HSCT vs none"]
    assert "sc-dot" not in fig1.display(report.beside).loc[row,
                                                            "5-year NRM, % (SE), HSCT vs none"]
    assert np.isnan(fig1.data.loc[row, "nrm5_HSCT"])
    assert np.isnan(fig1.data.loc[row, "nrm5_var_HSCT"])
    for key in ("fig1_pre_low_nrm_text", "fig1_pre_low_nrm_hsct_var_text"):
        assert "12.5" not in suppressed.glue[key] and "not shown" in suppressed.glue[key]
        assert "12.5%" in plain.glue[key]
    # every OS row: a group with a suppressed count shows no NRM
    shown = _shown(suppressed, "tbl-figure1")
    column = fig1.frame["5-year NRM, % (SE), HSCT vs none"]
    for i, r in fig1.data.iterrows():
        if r["end_point"] != "OS":
            continue
        cell = column[i].reproduced if isinstance(column[i], S.Beside) else column[i]
        for g, part in zip(S.HSCT_GROUPS, cell.split(" vs ")):
            small = any(0 < r[c] < THRESHOLD for c in (f"n_{g}", f"events_{g}",
                                                       f"events_nrm_{g}"))
            assert (part == "–") == small, (i, g, part)
    assert "<5" in " ".join(shown["Patients (events), HSCT vs none"])


def test_counts_of_a_large_cohort_have_separators(cohort):
    """A cohort of 1,250 (the synthetic one 25 times): counts read "1,250", never "1250"."""
    patients, kinetics = cohort
    reps = 25
    big_p = pd.concat([patients.assign(patient_id=patients["patient_id"].astype(str) + f"-{i}")
                       for i in range(reps)], ignore_index=True)
    big_k = pd.concat([kinetics.assign(patient_id=kinetics["patient_id"].astype(str) + f"-{i}")
                       for i in range(reps)], ignore_index=True)
    res = S.analyse(big_p, big_k)
    n = len(big_p)
    assert res.glue["n_patients_text"] == f"{n:,}"
    assert res.glue["lfs_mv_text"].startswith(f"{n:,} patients with ")
    assert f"n = {n:,}" in res.tables["tbl-multivariable"].caption
    immortal = res.tables["tbl-immortal"].frame
    assert immortal["n"].iloc[0] == f"{n:,}"
    km = res.tables["tbl-km-times"].frame
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*", v) for v in km["At risk"])
    assert any("," in v for v in km["At risk"])
    hsct_low = res.glue["fig1_pre_high_os_n"].split(" vs ")
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*", v) for v in hsct_low)
    assert res.glue["mv_epv_verdict"] == "both models meet it"


# ------------------------------------------------------------------------------------------
# Numbers that could print as "nan" or mislead

def test_no_model_and_an_empty_group_read_as_phrases(cohort):
    """When no covariate passes the screen, the sentence on the models reads as words (was
    "0 patients with 0 events for 0 coefficients, nan events per variable"); an MRD stratum
    without transplanted patients has an NRM "not estimable", not "nan"."""
    patients, kinetics = cohort
    res = S.analyse(patients, kinetics, S.SurvivalOptions(screen_p=1e-12))
    assert res.glue["lfs_n_selected"] == 0 and res.glue["os_n_selected"] == 0
    assert np.isnan(res.glue["lfs_mv_epv"])  # the numeric key stays
    for name in ("lfs", "os"):
        assert res.glue[f"{name}_mv_text"] == "no model (no covariate passed the screen)"
    assert "no multivariable model" in res.glue["mv_epv_verdict"]
    assert "nan" not in res.tables["tbl-multivariable"].caption.lower()

    low = S.SurvivalOptions().mrd_cuts[0]
    post_high = patients["mrd_post_ld"].astype(float) >= low
    pre_low = patients["mrd_pre_ld"].astype(float) < low
    moved = post_high & ~pre_low  # keeps the transplants of the pre-LD low-burden subgroup
    edited = patients.copy()
    edited.loc[moved, "hsct_after"] = False
    edited.loc[moved, "hsct_day"] = np.nan
    assert not (post_high & edited["hsct_after"].astype(bool)).any()
    res = S.analyse(edited, kinetics)
    assert np.isnan(res.glue["fig1_pos_high_nrm_hsct"])  # the numeric key stays
    assert res.glue["fig1_pos_high_nrm_text"].startswith(
        "not estimable (no patients in the group) with HSCT vs ")
    assert res.glue["fig1_pos_high_nrm_hsct_var_text"] == \
        "not estimable (no patients in the group)"
    for k, v in res.glue.items():
        if isinstance(v, str):
            assert not re.search(r"\bnan\b", v, re.IGNORECASE), (k, v)
    assert not math.isnan(res.glue["it_immortal_share"])
    assert res.glue["it_immortal_text"].endswith("of the transplanted patients' follow-up")


def test_the_landmark_is_glued_through_the_formatter(cohort):
    """A landmark of 4.5 months reads "4.5" in the text, as in the table (":.0f" showed
    "4")."""
    patients, kinetics = cohort
    res = S.analyse(patients, kinetics,
                    S.SurvivalOptions(landmarks_months=(3.0, 4.5, 9.0), main_landmark_months=4.5))
    assert res.glue["it_main_landmark_text"] == "4.5"
    assert "Landmark at 4.5 months" in set(res.tables["tbl-immortal"].frame["Analysis"])
    assert "At the 4.5-month landmark" in res.glue["it_os_verdict"]


def test_the_audit_numbers_come_from_the_audit(plain):
    """The numbers the audit notes quote about the paper are computed by the audit module
    (the 2/13 of the NRM, the 13 vs 1 it implies, the paper's 50 patients), not typed."""
    from analysis_lib.paper import feasibility as F

    k, n_h = F.fractions_rounding_to(100 * F.NRM_LOW, F.N_PRE_LD_LOW)[0]
    assert plain.glue["audit_nrm_fraction"] == f"{k}/{n_h}"
    assert plain.glue["audit_low_burden_groups"] == f"{n_h} vs {F.N_PRE_LD_LOW - n_h}"
    assert plain.glue["audit_n_patients"] == str(F.N_PATIENTS)
    var = float(plain.glue["audit_nrm_fraction_var"])
    assert var == pytest.approx(k / n_h * (1 - k / n_h) / n_h, abs=0.005)
    assert f"at least {F.N_RELAPSE + k} LFS events" in plain.glue["audit_paper_events_text"]


# ------------------------------------------------------------------------------------------
# The notebook

def _markdown() -> str:
    """The notebook's markdown cells (jupytext percent format), comment marks removed."""
    cells = re.split(r"^# %%", NOTEBOOK.read_text(encoding="utf-8"), flags=re.M)
    md = [c for c in cells if c.startswith(" [markdown]")]
    return "\n".join(re.sub(r"^# ?", "", line) for c in md for line in c.splitlines()[1:])


def test_the_notebook_shows_no_count_with_an_integer_glue_format():
    text = _markdown()
    assert not re.findall(r"\{glue:text\}`[^`]*:d`", text)
    # floats that can be NaN or mislead are glued as text through the formatter
    assert not re.findall(r"\{glue:text\}`[^`]*:\.0f`", text)
    for key in ("mv_epv", "mv_n", "mv_events", "mv_params", "_nrm_hsct", "_nrm_nohsct",
                "it_immortal", "screen_p:"):
        assert not re.findall(rf"\{{glue:text\}}`[^`]*{re.escape(key)}[^`]*`", text), key


def test_the_notebook_types_no_number_of_the_cohort_or_the_audit():
    """The numbers the review found typed into the prose are glued."""
    text = _markdown()
    for typed in ("With 50 patients", "13 vs 1", "17 LFS", "12 OS events", "2/13",
                  "near 75%", "near 68%", "near\n0.01", "near 0.01", "± 1.1%",
                  "rule of thumb of 10"):
        assert typed not in text, typed


def test_every_glue_key_of_the_notebook_exists(plain):
    text = _markdown()
    keys = set(re.findall(r"\{glue:(?:md|text)\}`([^`:]+)", text))
    assert keys and keys <= set(plain.glue), sorted(keys - set(plain.glue))
