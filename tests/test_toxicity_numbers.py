"""Counts of the toxicity chapter go through the book's count format and small-cell
suppression (:mod:`analysis_lib.core.suppression`): glued phrases, captions, table cells,
downloads, figure labels and titles, and the notebook's glue roles.

The chapter is run on the shipped cohort with ``set_min_cell_count(5)`` (restored to 0
afterwards). Expected counts are computed here from the patient rows with pandas, never
taken from the object under test; the review's examples ("1/29", "2/23 vs 6/27", "6/2/39/3",
"1/24 (4.2%)") are checked to be gone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from analysis_lib.analyses import toxicity  # noqa: E402
from analysis_lib.core import suppression  # noqa: E402
from analysis_lib.data.validation import load_dataset  # noqa: E402
from analysis_lib.stats.logistic import analyse_logistic  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "toxicity.py"
#: A fraction with a raw small count (1 to 4) as numerator or denominator: "1/29", "7/48 vs 1/2".
RAW_SMALL_FRACTION = re.compile(r"(?<![\d<.,/])[1-4]/\d|(?<![<\d.,])\d+/[1-4](?![\d,.])")


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    return load_dataset(ROOT / "data" / "synthetic").tables["patients"]


def suppressed(threshold: int, fn, *args, **kw):
    """``fn(*args, **kw)`` with small-cell suppression at ``threshold`` (then off again)."""
    with suppression.suppressed(threshold):
        return fn(*args, **kw)


def rendered(results: toxicity.ToxicityResults, threshold: int) -> dict[str, pd.DataFrame]:
    """Each display table as the book renders it (the reproduced values only)."""
    return suppressed(threshold, lambda: {name: t.render(lambda shown, *_: shown)
                                          for name, t in results.tables.items()})


@pytest.fixture(scope="module")
def at0(patients) -> toxicity.ToxicityResults:
    return toxicity.analyse(patients)


@pytest.fixture(scope="module")
def at5(patients) -> tuple[toxicity.ToxicityResults, dict[str, pd.DataFrame]]:
    res = suppressed(5, toxicity.analyse, patients)
    return res, rendered(res, 5)


@pytest.fixture(scope="module")
def at10(patients) -> tuple[toxicity.ToxicityResults, dict[str, pd.DataFrame]]:
    """A threshold above the event counts (8 severe CRS, 5 ICANS) and the GVHD group (5)."""
    res = suppressed(10, toxicity.analyse, patients)
    return res, rendered(res, 10)


def severe(patients: pd.DataFrame) -> pd.Series:
    return patients["crs_grade"].astype(int) >= 3


def frac(events: pd.Series, group: pd.Series) -> tuple[int, int]:
    return int((events & group).sum()), int(group.sum())


def texts(res: toxicity.ToxicityResults,
          tables: dict[str, pd.DataFrame]) -> Iterator[tuple[str, str]]:
    """Every phrase of the chapter's own (the audit's findings, arithmetic on the paper's
    published numbers, left out) and every rendered table cell and caption."""
    for k, v in res.glue.items():
        if isinstance(v, str) and not k.startswith("finding_"):
            yield k, v
    for name, t in tables.items():
        yield f"{name} caption", res.tables[name].caption
        for v in t.to_numpy().ravel():
            yield name, str(v)


# ---------------------------------------------------------------------------------------
# Glued phrases


def test_small_counts_in_the_glued_phrases_read_as_suppressed(patients, at5):
    res, _ = at5
    g = res.glue
    sev = severe(patients)
    pre_high = patients["mrd_pre_ld"].astype(float) >= 1e-3
    post_high = patients["mrd_post_ld"].astype(float) >= 1e-3
    icans = patients["icans_grade"].astype(int) >= 1
    # the review's cases: 1/29, 1/33 and 4/17 are small
    assert frac(sev, ~pre_high) == (1, 29) and frac(sev, ~post_high) == (1, 33)
    assert frac(icans, post_high) == (4, 17)
    a, n = frac(sev, pre_high)
    assert g["burden_pre_ld_mrd_high_crs_severe_text"].startswith(f"{a}/{n} vs <5/29 (")
    assert g["burden_post_ld_mrd_high_icans_any_text"].startswith("<5/17 vs <5/33 (")
    # dose: 1/24 (4.2%) and 2/25 (8.0%) below the cuts lose their count and percentage
    dose = patients["cart_dose_1e6_per_kg"].astype(float)
    for tag, cut in (("text", 3.66), ("table", 3.68)):
        k, n = frac(sev, dose < cut)
        ka, na = frac(sev, dose >= cut)
        assert k < 5 <= ka
        assert g[f"dose_{tag}_risks"] == (f"<5/{n} below vs {ka}/{na} "
                                          f"({100 * ka / na:.1f}%) at or above")
    # patients between the two cuts: one here
    between = int(((dose >= 3.66) & (dose < 3.68)).sum())
    assert between == 1 and g["dose_table_n_between_text"] == "<5"
    assert g["dose_table_n_between"] == between  # the number itself stays for the scorecard
    for k, v in texts(res, {}):
        assert not RAW_SMALL_FRACTION.search(v), (k, v)
        assert not re.search(r"\((4\.2|8\.0)%\)", v), (k, v)


def test_counts_in_the_narrative_have_text_glues_that_suppress(patients, at10):
    """With a threshold above the event counts (8 severe CRS, 5 ICANS), every cohort count
    the narrative shows reads "<10", and the events per variable an upper bound."""
    res, _ = at10
    g = res.glue
    n_sev = int(severe(patients).sum())
    assert n_sev == 8 and g["severe_events"] == 8
    assert g["severe_events_text"] == g["m1_events_text"] == g["m2_events_text"] == "<10"
    assert g["roc_crs_severe_n_pos_text"] == g["roc_icans_any_n_pos_text"] == "<10"
    assert g["roc_crs_severe_n_neg_text"] == str(len(patients) - n_sev)
    # the EPV would give the events away (8 / 4 covariates): at most (10 - 1) / 4
    assert g["m1_epv_text"] == "at most 2.25" and g["m1_epv"] == 2.0
    assert g["m1_k_text"] == "4" and g["m1_events_needed_text"] == "40"  # not cohort counts
    cap = res.tables["model_1"].caption
    assert "n = 50, <10 events, 4 covariates, EPV at most 2.25;" in cap
    assert "8 events" not in cap and "EPV = 2.0" not in cap
    # IL-6: 8/39 with elevated IL-6 vs 0/11 without
    assert g["il6_crs_severe_cells"] == "<10/39 with elevated IL-6 vs 0/11 without"
    # sensitivity and specificity at the Youden threshold are shares of suppressed counts
    assert "sensitivity" not in g["roc_crs_severe_youden"]
    assert g["roc_crs_severe_youden"].startswith("peak IL-6 ≥ ")


def test_reasons_and_separation_sentences_write_counts_by_count_text():
    # the zero-cell reason: "among the 11 patients" is a cohort count
    assert suppressed(5, toxicity.zero_cell_reason, 0, 3, 8, 39, "x", "CRS") == (
        "no CRS among the <5 patients with x")
    assert suppressed(5, toxicity.zero_cell_reason, 4, 0, 8, 3, "x", "CRS") == (
        "CRS in all <5 patients with x")
    assert suppressed(12, toxicity.zero_cell_reason, 8, 31, 0, 11, "x", "CRS") == (
        "no CRS among the <12 patients without x")
    # the not-estimable reason of a separated factor
    screen = pd.DataFrame({
        "term": ["a"], "label": ["A"], "n_exposed": [3], "events_exposed": [0],
        "n_unexposed": [40], "events_unexposed": [8], "infinite": ["-inf"], "or_ml": [0.0],
        "wald_p": [np.nan], "separation": ["quasi-complete"]})
    why = suppressed(5, toxicity.or_estimates, screen)["not_estimable"].iloc[0]
    assert "no events among the <5 patients with it" in why and " 3 " not in why
    # the separation sentence: 3 patients predicted perfectly out of 33
    X = pd.DataFrame({"x": [1] * 3 + [0] * 30})
    y = np.array([1.0] * 3 + [1.0] * 10 + [0.0] * 20)
    a = analyse_logistic(X, y)
    assert a.separation.separated and a.separation.n_separated == 3
    text = suppressed(5, toxicity.describe_separation, a, {"x": "Exposed"})
    assert text.startswith("quasi-complete separation (<5 of 33 patients predicted perfectly)")


# ---------------------------------------------------------------------------------------
# Table cells suppress_table cannot parse


def test_table_cells_with_two_counts_are_suppressed(patients, at5, at10):
    _, tables = at5
    sev = severe(patients)
    s4 = tables["screen"].set_index("Factor")["Severe CRS: with / without factor"]
    female = patients["sex"] == "female"
    assert (frac(sev, female), frac(sev, ~female)) == ((2, 23), (6, 27))
    assert s4["Female"] == "<5/23 vs 6/27"
    prior_cart = patients["prior_cart"].astype(bool)
    assert (frac(sev, ~prior_cart), frac(sev, prior_cart)) == ((7, 48), (1, 2))
    assert s4["No CAR-T history"] == "7/48 vs <5/<5"  # a group of 2 is small too
    burden = tables["burden"].set_index("Burden and outcome")["Events: high vs low burden"]
    assert burden["pre-LD MRD ≥10⁻³: CRS grade ≥3"] == "7/21 vs <5/29"
    il6 = tables["il6_or"]
    assert il6.iloc[0, 1:].tolist() == ["8/39 vs 0/11", "5/39 vs 0/11"]  # nothing small
    il6_10 = at10[1]["il6_or"]
    assert il6_10.iloc[0, 1:].tolist() == ["<10/39 vs 0/11", "<10/39 vs 0/11"]


def test_test_cells_and_the_percentages_computed_from_them(patients, at5):
    _, tables = at5
    t = tables["il6_thresholds"]
    sev = severe(patients).to_numpy()
    peak = patients["il6_peak_pg_per_ml"].astype(float).to_numpy()
    pos = peak >= 500
    cells = [int((pos & sev).sum()), int((~pos & sev).sum()), int((~pos & ~sev).sum()),
             int((pos & ~sev).sum())]
    assert cells == [6, 2, 39, 3]  # the review's "6/2/39/3"
    row = t[(t["IL-6 ≥ (pg/mL)"] == "500")].iloc[0]
    assert row["TP/FN/TN/FP"] == "6/<5/39/<5"
    # sensitivity needs FN, specificity FP, PPV FP, NPV FN: all blanked
    assert (row["Sensitivity % (95% CI)"], row["Specificity % (95% CI)"], row["PPV %"],
            row["NPV %"]) == ("–", "–", "–", "–")
    # a row without small cells keeps them: 8/0/35/7 at 100 pg/mL
    row = t[(t["IL-6 ≥ (pg/mL)"] == "100")].iloc[0]
    assert row["TP/FN/TN/FP"] == "8/0/35/7"
    assert row["Sensitivity % (95% CI)"].startswith("100.0 (") and row["PPV %"] == "53.3"
    assert not [v for v in t["TP/FN/TN/FP"] if re.search(r"(^|/)[1-4](/|$)", v)]


def test_dose_cells_drop_the_percentage_of_a_suppressed_count(at5):
    _, tables = at5
    d = tables["dose"]
    assert d["Below: severe CRS"].tolist() == ["<5/24", "<5/25"]
    assert d["At or above"].tolist() == ["7/26 (26.9%)", "6/25 (24.0%)"]


def test_no_raw_small_count_in_any_phrase_cell_or_caption(at5):
    res, tables = at5
    for where, text in texts(res, tables):
        assert not RAW_SMALL_FRACTION.search(text), (where, text)


def test_a_small_group_in_the_adverse_event_table_hides_its_size_and_status(patients, at10):
    """GVHD is counted among the few patients with a previous HSCT (5 here): at a threshold
    of 10 the group itself is small, so the cell reads "0/<10" without %, interval or
    status."""
    prior = int(patients["prior_hsct"].astype(bool).sum())
    assert prior == 5
    res, tables = at10
    ae = res.tables["adverse_events"].frame.set_index("Event")
    cell = ae.loc["GVHD (patients with prior HSCT)"]
    assert cell["n/N"].reproduced == "0/<10" and cell["n/N"].status == ""
    assert cell["n/N"].published == "0/5"  # the paper's value stays as printed
    assert cell["%"].reproduced == "–" and cell["95% CI (exact)"] == "–"
    shown = tables["adverse_events"].set_index("Event").loc["GVHD (patients with prior HSCT)"]
    assert shown[["n/N", "%", "95% CI (exact)"]].tolist() == ["0/<10", "–", "–"]


def test_downloads_suppress_the_counts_suppress_table_cannot_recognise(at5, at0):
    res, _ = at5
    # as report.write_output writes them: suppress_table over the download frame
    with_threshold = {t.file: suppressed(5, suppression.suppress_table, t.data)
                      for t in res.tables.values()}
    ae = with_threshold["adverse_events"].set_index("key")
    assert ae.loc["icans_severe", ["k", "percent", "ci_low", "ci_high", "display"]].tolist() == [
        "<5", "–", "–", "–", "<5/50"]
    assert ae.loc["crs_severe", "k"] == 8 and ae.loc["crs_severe", "percent"] == 16.0
    thr = with_threshold["il6_thresholds"]
    row = thr[(thr["outcome"] == "crs_severe") & (thr["threshold"] == 500)].iloc[0]
    assert row[["tp", "fn", "tn", "fp", "sensitivity", "specificity", "ppv", "npv"]].tolist() \
        == [6, "<5", 39, "<5", "–", "–", "–", "–"]
    dose = with_threshold["dose_threshold"]
    assert dose["events_below"].tolist() == ["<5", "<5"]
    assert dose["risk_below"].tolist() == ["–", "–"] and dose["a"].tolist() == ["<5", "<5"]
    burden = with_threshold["burden_and_outcomes"]
    assert "<5" in burden["c"].tolist()
    for name, d in with_threshold.items():
        for col in d.columns:
            small = [v for v in d[col] if isinstance(v, (int, np.integer))
                     and not isinstance(v, (bool, np.bool_)) and 0 < v < 5]
            assert not small, (name, col, small)
    # suppression off: the downloads are the full-precision tables themselves
    assert at0.tables["adverse_events"].data.set_index("key").loc["icans_severe", "k"] == 1


# ---------------------------------------------------------------------------------------
# Separators at registry size, and nothing changes with suppression off


@pytest.fixture(scope="module")
def large(patients) -> tuple[pd.DataFrame, toxicity.ToxicityResults]:
    """The shipped cohort 30 times over (1,500 patients): counts above 1,000."""
    big = pd.concat([patients] * 30, ignore_index=True)
    big["patient_id"] = [f"P{i:05d}" for i in range(len(big))]
    return big, toxicity.analyse(big)


def test_counts_of_a_large_cohort_carry_thousands_separators(large):
    big, res = large
    g = res.glue
    sev = severe(big)
    assert g["n_patients_text"] == g["m1_n_text"] == "1,500"
    assert g["roc_crs_severe_n_neg_text"] == f"{int((~sev).sum()):,}" == "1,260"
    peak = big["il6_peak_pg_per_ml"].astype(float)
    pos, sv = peak >= 100, sev
    cells = [int((pos & sv).sum()), int((~pos & sv).sum()), int((~pos & ~sv).sum()),
             int((pos & ~sv).sum())]
    t = res.tables["il6_thresholds"].frame
    row = t[(t["IL-6 ≥ (pg/mL)"] == "100")].iloc[0]
    assert row["TP/FN/TN/FP"] == "/".join(f"{v:,}" for v in cells) == "240/0/1,050/210"
    il6_low = ~big["il6_elevated"].astype(bool)
    assert f"no severe CRS among the {int(il6_low.sum()):,} patients without" in \
        g["il6_crs_severe_sample_or_text"]
    assert "330" in g["il6_crs_severe_sample_or_text"]
    cap = res.tables["model_1"].caption
    assert "n = 1,500, 240 events" in cap


def test_suppression_off_keeps_every_count_as_it_was(patients, at0):
    g = at0.glue
    sev = severe(patients)
    pre_high = patients["mrd_pre_ld"].astype(float) >= 1e-3
    a, n = frac(sev, pre_high)
    c, m = frac(sev, ~pre_high)
    assert g["burden_pre_ld_mrd_high_crs_severe_text"].startswith(f"{a}/{n} vs {c}/{m} (")
    dose = patients["cart_dose_1e6_per_kg"].astype(float)
    k, n = frac(sev, dose < 3.66)
    assert g["dose_text_risks"].startswith(f"{k}/{n} ({100 * k / n:.1f}%) below vs ")
    assert g["dose_table_n_between_text"] == "1" and g["severe_events_text"] == "8"
    assert g["m1_epv_text"] == "2.0"
    assert g["screen_threshold_text"] == "0.2" and g["published_screen_p_text"] == "0.2"


# ---------------------------------------------------------------------------------------
# Figures


def test_figure_labels_and_titles_suppress_small_counts(at5):
    import matplotlib.pyplot as plt

    from analysis_lib.book.figures import style
    from analysis_lib.book.figures import toxicity as plots

    res, _ = at5
    grades = res.grades
    fig = suppressed(5, plots.grade_distributions, grades)
    assert style.problems(fig) == []
    for ax, (title, d) in zip(fig.axes, grades.items()):
        labels = [t.get_text() for t in ax.texts]
        assert labels == [("<5" if 0 < v < 5 else f"{v:,}") for v in d["n"]], title
        # a suppressed bar is an outline at 4, whatever its count
        for patch, v in zip(ax.patches, d["n"]):
            if 0 < v < 5:
                assert patch.get_height() == 4 and patch.get_facecolor()[3] == 0
            else:
                assert patch.get_height() == v
    assert any(0 < v < 5 for d in grades.values() for v in d["n"])  # the case is exercised
    note = suppressed(5, plots.suppressed_bar_note, grades)
    assert "<5" in note and "drawn at 4" in note
    assert plots.suppressed_bar_note(grades) == ""
    plt.close(fig)
    fig = suppressed(10, plots.roc_curves, res.rocs)
    titles = [ax.get_title() for ax in fig.axes]
    assert all("<10 with" in t for t in titles), titles
    assert not any(re.search(r"\b[58] with", t) for t in titles)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# The notebook


def test_the_notebook_shows_no_count_with_a_raw_format(at0):
    source = NOTEBOOK.read_text(encoding="utf-8")
    assert not re.search(r"\{glue:text\}`[^`]*:d`", source)
    for raw in ("screen_threshold:.2g", "published_screen_p:.2g", "m1_epv:.1f"):
        assert raw not in source, raw
    # every glue role names a key the chapter glues
    keys = set(re.findall(r"\{glue:(?:md|text)\}`([^`:]+)", source))
    glued = set(at0.glue) | {"fig_grades_note"}
    assert keys <= glued, sorted(keys - glued)
    assert "report.glue_text(\"fig_grades_note\"" in source
