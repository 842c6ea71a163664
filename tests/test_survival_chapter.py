"""The survival chapter's entry point (:func:`analysis_lib.analyses.survival.analyse`), its
results object, the paper's values beside the reproduced ones, and its figures.

Expected values are computed here independently from the library's methods (Kaplan–Meier,
log-rank, number at risk) or read from the registry and the scorecard, never taken from the
object under test.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from analysis_lib.analyses import survival as S  # noqa: E402
from analysis_lib.book.figures import style  # noqa: E402
from analysis_lib.book.figures import survival as plots  # noqa: E402
from analysis_lib.core import formatting as fmt  # noqa: E402
from analysis_lib.paper import scorecard as sc  # noqa: E402
from analysis_lib.paper.registry import load_registry  # noqa: E402
from analysis_lib.stats import survival as sv  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    from analysis_lib.data.validation import load_dataset

    data = load_dataset(ROOT / "data" / "synthetic")
    return data.tables["patients"], data.tables["kinetics"]


@pytest.fixture(scope="module")
def res(cohort) -> S.SurvivalResults:
    return S.analyse(*cohort)


# ------------------------------------------------------------------------------------------
# The results object

def test_results_hold_every_table_with_its_label_and_download(res):
    assert list(res.tables) == ["tbl-km-times", "tbl-univariate", "tbl-multivariable",
                                "tbl-paper-sets", "tbl-zph", "tbl-figure1", "tbl-immortal",
                                "tbl-gray"]
    names = [t.name for t in res.tables.values()]
    assert len(set(names)) == len(names)
    for label, t in res.tables.items():
        assert t.label == label and t.caption and not t.frame.empty and not t.data.empty
    # the paper's tables say what they reproduce; the book's own do not claim to
    assert res.tables["tbl-paper-sets"].caption.startswith("Reproduces the paper's Table 1:")
    assert res.tables["tbl-univariate"].caption.startswith(
        "Reproduces the paper's Supplementary Table S2:")
    assert "Reproduces" not in res.tables["tbl-gray"].caption


def test_glue_values_are_plain_and_keep_the_keys_other_pages_read(res):
    for k, v in res.glue.items():
        assert type(v) in (int, float, str), (k, type(v))
    mapping = sc.load_map()
    mine = mapping[mapping["chapter"] == "survival"]
    assert set(mine["glue_key"]) <= set(res.glue), set(mine["glue_key"]) - set(res.glue)
    claims = sc.load_claims()
    for c in claims[claims["chapter"] == "survival"].itertuples():
        for k in [*c.p_keys.split(";"), *str(c.effect_keys or "").split(";")]:
            assert not k.strip() or k.strip() in res.glue, (c.key, k)


def test_glued_survival_values_are_the_library_estimates(res, cohort):
    patients, _ = cohort
    ep = S.endpoints(patients)
    for name in ("os", "lfs"):
        km = sv.kaplan_meier(ep[f"{name}_time"], ep[f"{name}_event"], 0.95)
        s, lo, hi = km.survival_at(60.0, "plain")
        assert res.glue[f"{name}_5y"] == pytest.approx(100 * s)
        assert res.glue[f"{name}_5y_plain_lower"] == pytest.approx(100 * lo)
        assert res.glue[f"{name}_events"] == int(ep[f"{name}_event"].sum())
    low = patients["mrd_pre_ld"].astype(float).to_numpy() < 1e-4
    lr = sv.survdiff(ep["os_time"][low], ep["os_event"][low], ep["hsct"][low])
    assert res.glue["fig1_pre_low_os_p"] == pytest.approx(lr.p_value)
    assert res.glue["fig1_pre_low_os_ptext"] == fmt.p_phrase(lr.p_value)
    assert res.glue["n_patients"] == len(patients)


def test_options_are_checked_and_shown_as_given():
    with pytest.raises(ValueError, match="conf_level"):
        S.SurvivalOptions(conf_level=95)
    with pytest.raises(ValueError, match="mrd_cuts"):
        S.SurvivalOptions(mrd_cuts=(1e-2, 1e-4))
    with pytest.raises(ValueError, match="risk_table_step"):
        S.SurvivalOptions(risk_table_step_months=0)
    o = S.SurvivalOptions(mrd_cuts=[1e-4, 1e-2], horizons_years=[1, 5])
    assert o.mrd_cuts == (1e-4, 1e-2) and o.horizons_years == (1, 5)


def test_a_wider_interval_level_and_other_horizons_reach_the_tables(cohort):
    res90 = S.analyse(*cohort, S.SurvivalOptions(conf_level=0.9, horizons_years=(2, 5)))
    assert res90.glue["conf_lvl"] == "90%"
    km = res90.tables["tbl-km-times"]
    assert "90% CI, plain" in km.frame.columns
    assert sorted(set(km.data["years"])) == [2, 5]
    assert "Wald 90% CI" in res90.tables["tbl-paper-sets"].caption


def test_display_renders_beside_cells_only():
    t = S.ChapterTable("tbl-x", "c", pd.DataFrame({"a": [S.Beside("1.0", "2.0", "differs"),
                                                         "plain"]}),
                       pd.DataFrame({"a": [1.0]}), "x")
    shown = t.display(lambda r, p="", s="": f"{r}|{p}|{s}")
    assert shown["a"].tolist() == ["1.0|2.0|differs", "plain"]
    assert t.display()["a"].tolist() == ["1.0 (paper 2.0)", "plain"]


def test_downloads_read_back_with_no_options(res, tmp_path):
    from analysis_lib.book.report import read_output_metadata, write_output

    for t in res.tables.values():
        path = write_output(t.data, tmp_path, t.name, synthetic=True)
        back = pd.read_csv(path)
        assert list(back.columns) == [str(c) for c in t.data.columns]
        assert len(back) == len(t.data)
        assert read_output_metadata(path)["synthetic"] is True


# ------------------------------------------------------------------------------------------
# The paper's values beside the reproduced ones

def _cell(frame: pd.DataFrame, column: str, key: str, contains: str) -> object:
    """The one cell of ``column`` in the row whose ``key`` column contains ``contains``."""
    sel = frame[key].astype(str).str.contains(contains, regex=False).to_numpy()
    assert sel.sum() == 1, (key, contains)
    return frame.loc[sel, column].iloc[0]


def test_table1_shows_the_registry_values_with_the_scorecard_status(res):
    reg = load_registry().set_index("key")
    statuses = sc.chapter_statuses("survival", res.glue)
    t = res.tables["tbl-paper-sets"].frame
    for key, covariate in (("hr_female_lfs", "Female"), ("hr_bca_lfs", "BCA duration"),
                           ("hr_severe_crs_os", "Severe CRS"),
                           ("hr_g4_neutropenia_os", "Grade 4 neutropenia")):
        r = reg.loc[key]
        hr = _cell(t, "HR (95% CI)", "Covariate", covariate)
        assert isinstance(hr, S.Beside)
        assert hr.published == fmt.estimate_ci(r["value"], r["lower"], r["upper"], 3)
        assert hr.status == statuses.loc[key, "status"]
        p = _cell(t, "p", "Covariate", covariate)
        assert p.published == reg.loc[f"{key}_p", "value_text"]
        assert p.status == statuses.loc[f"{key}_p", "status"]
    # the rows of Table 1B lost in the extraction: the Results' claim, split over the cells
    claims = sc.scorecard(load_registry(), sc.load_map(), {"survival": res.glue},
                          sc.load_claims()).set_index("key")
    hr = _cell(t, "HR (95% CI)", "Covariate", "No ICANS")
    p = _cell(t, "p", "Covariate", "No ICANS")
    assert (hr.published, p.published) == ("HR < 1", "n.s.")
    assert hr.status == p.status == claims.loc["claim_os_no_icans", "status"]


def test_a_non_estimable_hazard_ratio_says_why_and_keeps_the_papers_value(res):
    t = res.tables["tbl-paper-sets"].frame
    cell = _cell(t, "HR (95% CI)", "Covariate", "MRD-CR on day 28")
    assert cell.reproduced.startswith("not estimable (")
    assert cell.status == sc.NOT_ESTIMABLE
    assert res.glue["paper_lfs_hr__mrd_cr_on_day_28__not_estimable"]


def test_survival_table_carries_the_published_5_year_values(res):
    reg = load_registry().set_index("key")
    t = res.tables["tbl-km-times"].frame
    five = t[t["Years"] == "5"]
    assert len(five) == 2
    for cell, key in zip(five["S(t), %"], ("os_5y", "lfs_5y")):
        assert cell.published == reg.loc[key, "value_text"]
        assert cell.reproduced == fmt.fixed(res.glue[key], 1)
    assert all(isinstance(c, str) for c in t.loc[t["Years"] != "5", "S(t), %"])


def test_figure1_table_pairs_published_medians_even_where_the_map_leaves_them_out(res):
    t = res.tables["tbl-figure1"].frame
    pre = t.iloc[0]  # pre-LD below the first cut, OS
    assert pre["End point"] == "OS" and pre["MRD"].startswith("Pre-LD <")
    reg = load_registry().set_index("key")
    med = pre["Median, months, HSCT vs none"]
    assert med.published == (f"{reg.loc['os_median_pre_ld_low_hsct', 'value_text']} vs "
                             f"{reg.loc['os_median_pre_ld_low_no_hsct', 'value_text']}")
    assert med.status == sc.INCONSISTENT  # the audit's finding median_os_low_burden
    lfs_p = t.iloc[1]["Log-rank p"]
    assert lfs_p.published == "n.s."


def test_univariate_table_shows_each_claim_under_the_p_it_concerns(res):
    t = res.tables["tbl-univariate"].frame
    age = _cell(t, "OS p", "Covariate (comparison)", "Age group")
    assert isinstance(age, S.Beside) and age.published == "n.s."
    assert age.reproduced == fmt.p_value(res.glue["uni_os_p__age_group"])
    female = _cell(t, "OS p", "Covariate (comparison)", "Female")
    assert isinstance(female, str)  # the paper says nothing about sex and OS alone
    joint = _cell(t, "LFS p", "Covariate (comparison)", "joint test")
    assert joint.reproduced == fmt.p_value(res.glue["uni_lfs_p__pre_ld_mrd"])


def test_published_phrases_come_from_the_registry(res):
    reg = load_registry().set_index("key")
    r = reg.loc["os_5y"]
    assert res.glue["pub_os_5y_text"] == f"{r['value_text']}% ({r['interval_text']}%)"
    assert reg.loc["os_pre_ld_low_p", "value_text"] in res.glue["pub_fig1_pre_low_os"]


# ------------------------------------------------------------------------------------------
# Figures

FIGURES = ("os_lfs", "cumulative_incidence", "figure1", "figure_s1", "figure_s2",
           "simon_makuch")


@pytest.mark.parametrize("name", FIGURES)
def test_figures_pass_the_books_checks(res, name):
    fig = getattr(plots, name)(res)
    assert style.problems(fig) == []
    assert fig.get_size_inches()[0] == pytest.approx(style.WIDTH)


def _step_value(t: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    i = np.searchsorted(t, x, side="right") - 1
    return np.where((i >= 0) & (x <= t[-1]), y[np.clip(i, 0, None)], np.nan)


@pytest.mark.parametrize("name", ["figure1", "figure_s1", "figure_s2"])
def test_the_test_never_covers_a_curve_or_a_censor_mark(res, name):
    fig = getattr(plots, name)(res)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = 0
    for ax in fig.axes:
        tests = [t for t in ax.texts if t.get_gid() == "km-test"]
        if not tests:
            continue
        found += 1
        bb = tests[0].get_window_extent(renderer)
        for line in ax.get_lines():
            xy = ax.transData.transform(np.column_stack(line.get_data()).astype(float))
            if line.get_drawstyle() == "steps-post":  # sample the drawn step function
                t, y = xy[:, 0], xy[:, 1]
                xs = np.linspace(bb.x0, bb.x1, 400)
                ys = _step_value(t, y, xs)
                inside = (ys >= bb.y0) & (ys <= bb.y1)
                # and the vertical drops inside the box's x-range
                for j in np.flatnonzero((t[1:] >= bb.x0) & (t[1:] <= bb.x1)):
                    lo, hi = sorted((y[j], y[j + 1]))
                    assert hi < bb.y0 or lo > bb.y1, (name, ax.get_title(loc="left"))
                assert not inside.any(), (name, ax.get_title(loc="left"))
            else:  # censor marks: half their size around each point
                half = line.get_markersize() / 2 * fig.dpi / 72
                for x, y in xy:
                    assert not (bb.x0 <= x <= bb.x1 and bb.y0 - half <= y <= bb.y1 + half), name
    assert found == (8 if name == "figure1" else 4 if name == "figure_s1" else 2)


def test_figure1_is_one_figure_of_eight_lettered_panels_with_a_shared_legend(res):
    fig = plots.figure1(res)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")
              and ax.get_title(loc="left") != "Number at risk"]
    assert [t[0] for t in titles] == list("ABCDEFGH")
    assert titles[0].endswith("OS, pre-LD MRD <10⁻⁴") and titles[1].startswith("B  LFS")
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(S.HSCT_GROUPS)


def test_numbers_at_risk_stand_under_the_time_ticks(res, cohort):
    patients, _ = cohort
    ep = S.endpoints(patients)
    fig = plots.figure1(res)
    ax, rax = fig.axes[0], fig.axes[1]  # panel A and its table
    assert rax.get_title(loc="left") == "Number at risk"
    ticks = ax.get_xticks()
    np.testing.assert_allclose(ticks, res.risk_times)
    low = patients["mrd_pre_ld"].astype(float).to_numpy() < 1e-4
    hsct = low & ep["hsct"].to_numpy()
    expected = sv.number_at_risk(ep["os_time"][hsct], res.risk_times)
    row = [t for t in rax.texts if t.get_position()[1] == 1]  # first group: top row
    assert [float(t.get_position()[0]) for t in row] == list(res.risk_times)
    assert [int(t.get_text()) for t in row] == expected.tolist()
    assert all(t.get_horizontalalignment() == "center" for t in row)


def test_place_annotation_falls_back_to_the_title_when_the_curves_fill_the_panel():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    t = np.array([0.0, 100.0])
    lines = [(t, np.array([y, y])) for y in range(0, 101, 4)]
    for x, y in lines:
        ax.step(x, y, where="post")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_title("A", loc="left")
    fig.canvas.draw()
    assert plots.place_annotation(ax, "Log-rank p = 0.5", lines) is False
    assert ax.get_title(loc="left") == "A\nLog-rank p = 0.5"
    plt.close(fig)


def test_collides_by_hand():
    t, y = np.array([0.0, 10.0, 20.0]), np.array([100.0, 60.0, 30.0])
    # the curve is 60 over [10, 20): a box from 12 to 18 at heights 55-65 meets it
    assert plots.collides((12, 55, 18, 65), [(t, y)])
    assert not plots.collides((12, 0, 18, 50), [(t, y)])
    # the drop from 100 to 60 at t = 10 crosses heights 70-80
    assert plots.collides((9, 70, 11, 80), [(t, y)])
    # beyond the curve's last time nothing is drawn
    assert not plots.collides((25, 0, 30, 100), [(t, y)])
    # padding for censor marks
    assert plots.collides((12, 61, 18, 70), [(t, y)], pad_y=2)
    assert not plots.collides((12, 61, 18, 70), [(t, y)], pad_y=0.5)


def test_simon_makuch_curves_begin_at_the_first_transplant(res, cohort):
    patients, _ = cohort
    ep = S.endpoints(patients)
    panel = res.simon_makuch[0]
    assert panel.entry["HSCT (from transplant)"] == pytest.approx(
        float(ep.loc[ep["hsct"], "hsct_time"].min()))
    assert panel.entry["No HSCT yet"] == 0
    # at time 0 every patient is at risk without a transplant, none with one
    assert panel.at_risk["No HSCT yet"][0] == len(patients)
    assert panel.at_risk["HSCT (from transplant)"][0] == 0
    assert not math.isnan(res.glue["it_immortal_share"])


def test_group_sizes_in_the_text_are_suppressed_like_the_tables(cohort):
    """The genetic-risk group sizes glued into the text (``s2_*_n``) go through the count
    format: with small-cell suppression on, a group below the threshold reads ``<k``."""
    from analysis_lib.core import suppression

    patients, kinetics = cohort
    high = int((patients["genetic_risk"] == "high").sum())
    other = len(patients) - high
    assert S.analyse(patients, kinetics).glue["s2_os_n"] == f"{high} vs {other}"
    suppression.set_min_cell_count(high + 1)
    try:
        glued = S.analyse(patients, kinetics).glue["s2_os_n"]
    finally:
        suppression.set_min_cell_count(0)
    assert glued == f"<{high + 1} vs {other}"


def test_a_cohort_without_transplants_runs_and_says_so(cohort):
    """A centre that transplants nobody after CAR-T: the chapter runs (the log-rank test of
    one group and the Simon–Makuch curve from transplant used to stop it), the immortal-time
    analyses say there is nothing to estimate, and no text reads 'nan' or an HR of 1.00 from
    a constant covariate."""
    import warnings

    patients, kinetics = cohort
    p = patients.assign(hsct_after=False, hsct_day=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = S.analyse(p, kinetics)
    g = res.glue
    assert g["it_os_verdict"].startswith("No patient was transplanted")
    assert math.isnan(g["it_os_fixed_hr"]) and math.isnan(g["it_lfs_td_hr"])
    texts = [v for v in g.values() if isinstance(v, str)]
    assert not any("nan" in t.split() or "HR 1.00 (95% CI 1.00–1.00" in t for t in texts)
    table = next(t for k, t in res.tables.items() if "immortal" in k)
    frame = getattr(table, "frame", table)
    hr_col = next(c for c in frame.columns if str(c).startswith("HR"))
    assert set(frame[hr_col].astype(str)) == {"not estimable (no patient transplanted)"}
    # one group: no log-rank test rather than an error
    one = sv.survdiff([1.0, 2.0, 3.0], [1, 0, 1], ["a", "a", "a"])
    assert one.df == 0 and math.isnan(one.chi2) and math.isnan(one.p_value)
