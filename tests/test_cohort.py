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


# ---------------------------------------------------------------------------------------
# The chapter's entry point, its results object and the shared display helpers

from pathlib import Path  # noqa: E402

from analysis_lib.data.validation import load_dataset  # noqa: E402

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "synthetic"


@pytest.fixture(scope="module")
def shipped() -> tuple[pd.DataFrame, cohort.CohortResults]:
    p = load_dataset(SHIPPED).tables["patients"]
    return p, cohort.analyse(p)


def test_results_glue_what_the_library_computes_and_the_map_reads(shipped):
    from analysis_lib.paper import scorecard

    p, res = shipped
    g = res.glue
    assert all(type(v) in (int, float, str) for v in g.values())
    m = scorecard.load_map()
    for key in m.loc[m["chapter"] == "cohort", "glue_key"]:
        assert key in g, key
    cr, neg = cohort.response_rates(p)
    assert (g["cr_k"], g["mrd_negative_cr_k"], g["cr_text"]) == (cr.k, neg.k, cr.text())
    fu = cohort.follow_up(p)
    assert g["followup_median_months"] == fu.median.estimate and g["followup_text"] == fu.text()
    assert g["n_alive"] == str(int((~p["death"].astype(bool)).sum()))
    assert g["enrol_chemo_intolerance"] == formatting.count_percent(
        int((p["enrolment_reason"] == "chemo_intolerance").sum()), len(p))
    # the paper's values for captions, from the registry (Patient characteristics)
    assert (g["pub_dose"], g["pub_interval"], g["pub_followup"]) == (
        "3.68 (0.05–6.33) ×10⁶ cells/kg", "15.8 (1.5–132.0) months", "68.7 (5.9–97.5) months")


def test_table_s1_shows_the_papers_counts_beside_with_their_status(shipped):
    from analysis_lib.paper.scorecard import MATCH, chapter_statuses

    _, res = shipped
    t = res.baseline
    assert t.caption.startswith("Reproduces the paper's Supplementary Table S1")
    f = t.frame.copy()
    f["Characteristic"] = f["Characteristic"].replace("", np.nan).ffill()
    cell = f.set_index(["Characteristic", ""])["n (%) or median (range)"]
    # printed in the paper: 27 boys and 23 girls (Table 3), 7 (14%) chemotherapy intolerant
    assert cell[("Sex", "Male")].published == "27 (54%)"
    assert cell[("Sex", "Female")].published == "23 (46%)"
    assert cell[("Reason for CAR-T", "Chemotherapy intolerance")].published == "7 (14%)"
    assert cell[("CAR-T dose, ×10⁶ cells/kg", "Median (range)")].published == "3.68 (0.05–6.33)"
    assert cell[("Patients", "n")].published == "50"
    st = chapter_statuses("cohort", res.glue)
    assert cell[("Reason for CAR-T", "Chemotherapy intolerance")].status == \
        st.loc["pct_chemo_intolerance", "status"]
    assert cell[("Sex", "Male")].status == MATCH  # 27 boys in the shipped cohort too
    # the paper gives MRD group sizes only at its cut-points: no value for the middle strata
    assert cell[("MRD before lymphodepletion", "<10⁻⁴")].published == "14 (28%)"
    assert cell[("MRD before lymphodepletion", "10⁻⁴ to <10⁻³")].published == ""
    assert cell[("Cytogenetic risk (NCCN 2024)", "High")].published == ""


def test_display_table_suppresses_small_counts_and_their_status():
    from analysis_lib.core.suppression import set_min_cell_count

    t = cohort.DisplayTable(
        pd.DataFrame({"Event": ["a", "b"],
                      "n (%)": [cohort.Paired("3 (6%)", "4 (8%)", "differs"),
                                cohort.Paired("27 (54%)", "27 (54%)", "matches")]}),
        "caption", pd.DataFrame(), "file")
    seen = []

    def beside(r, p, s):
        seen.append((r, p, s))
        return f"{r}|{p}|{s}"

    assert t.render(beside)["n (%)"].tolist() == ["3 (6%)|4 (8%)|differs",
                                                   "27 (54%)|27 (54%)|matches"]
    try:
        set_min_cell_count(5)
        out = t.render(beside)["n (%)"].tolist()
    finally:
        set_min_cell_count(0)
    # the suppressed count keeps the paper's value but not its status (it would reveal it)
    assert out == ["<5|4 (8%)|", "27 (54%)|27 (54%)|matches"]
    assert t.render()["n (%)"].tolist() == ["3 (6%) (paper 4 (8%))", "27 (54%) (paper 27 (54%))"]


def test_published_text_reads_the_registry_as_printed():
    assert cohort.published_text("n_hlh") == "1"             # printed "One"
    assert cohort.published_text("crs_pct") == "68.0%"
    assert cohort.published_text("g4_neutropenia_pct") == "48%"
    assert cohort.published_text("il6_peak_median") == "33.3 (7.6–>5000)"
    assert cohort.published_text("hr_bca_lfs") == "0.969 (0.944–0.995)"  # printed "0.944,0.995"
    assert cohort.published_text("il6_or_p") == "<0.001"
    assert cohort.published_count_percent("t3_sex_male_n", None) == "27 (54%)"
    assert cohort.published_count_percent("n_mrd_reemergence", "pct_mrd_reemergence") == "41 (82%)"


def test_statuses_fall_back_to_the_scorecards_rule_for_numbers_another_chapter_maps(shipped):
    from analysis_lib.paper import scorecard

    _, res = shipped
    st = cohort.Statuses.compute("cohort", res.glue)
    assert st("n_patients", 50) == st.chapter.loc["n_patients", "status"]
    # Table 3's group sizes are mapped to the kinetics chapter: the count rule applies
    assert st("t3_sex_male_n", 27) == scorecard.MATCH
    assert st("t3_sex_male_n", 26) == scorecard.DIFFERS
    # a value the audit shows impossible stays "paper inconsistent" whatever is computed
    assert st("il6_or_severe_crs", 5.25) == scorecard.INCONSISTENT


def test_input_cohort_is_offered_only_when_synthetic(tmp_path, shipped):
    from analysis_lib.book.figures import cohort as plots

    p, _ = shipped
    tables = {"patients": p.head(3), "kinetics": p.head(2)[["patient_id"]]}
    real = plots.input_cohort_downloads(tables, tmp_path / "real", synthetic=False).data
    assert "never published" in real and not (tmp_path / "real").exists()
    syn = plots.input_cohort_downloads(tables, tmp_path / "syn", synthetic=True).data
    assert "{download}`input_patients.csv" in syn and "(3 rows)" in syn
    back = pd.read_csv(tmp_path / "syn" / "input_patients.csv")  # plain CSV, no options
    assert back["patient_id"].tolist() == p.head(3)["patient_id"].tolist()
    from analysis_lib.book.report import read_output_metadata
    assert read_output_metadata(tmp_path / "syn" / "input_kinetics.csv")["synthetic"] is True


def test_figures_pass_the_books_checks(shipped):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis_lib.book.figures import cohort as plots
    from analysis_lib.book.figures import style

    _, res = shipped
    figs = [plots.dose_and_interval(res.dose, res.interval_months, res.dose_median),
            plots.follow_up_curve(res.follow_up.curve, res.follow_up.median.estimate)]
    for fig in figs:
        assert style.problems(fig) == []
        assert fig.get_figwidth() == pytest.approx(style.WIDTH)
    # numbers under observation under the time ticks: 50 at time 0 (everyone)
    counts = [t.get_text() for t in figs[1].axes[1].texts if t.get_text().isdigit()]
    assert counts[0] == "50" and counts[-1] == "0"
    for fig in figs:
        plt.close(fig)


def test_each_paper_artefact_of_the_chapter_is_labelled_once_in_the_notebook():
    from analysis_lib.paper.artefacts import load_artefacts

    source = (SHIPPED.parent.parent / "notebooks" / "cohort.py").read_text(encoding="utf-8")
    a = load_artefacts()
    labels = a.loc[a["chapter"] == "cohort", "book_label"].tolist()
    assert labels == ["tbl-baseline"]
    assert source.count('"tbl-baseline")') == 1
