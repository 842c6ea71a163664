"""Tests of the kinetics chapter's entry point, analysis_lib.analyses.kinetics.analyse, its
results object (glued values, display tables with the paper's values beside this build's,
downloads, what the figures need), the paper's values (PaperValues) and the book-side
helpers (beside_table, the figures).

Published values are checked against the registry file itself and statuses against the
scorecard computed separately; counts and phrases by hand. Nothing is copied from the code
under test.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis_lib.analyses import kinetics as K  # noqa: E402
from analysis_lib.core.paths import ROOT  # noqa: E402
from analysis_lib.paper import registry as rg  # noqa: E402
from analysis_lib.paper import scorecard as sc  # noqa: E402

SYNTHETIC = ROOT / "data" / "synthetic"


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    from analysis_lib.data.validation import load_dataset

    d = load_dataset(SYNTHETIC)
    return d.tables["patients"], d.tables["kinetics"]


@pytest.fixture(scope="module")
def res(cohort) -> K.KineticsResults:
    patients, samples = cohort
    return K.analyse(patients, samples)


def _number(text: str) -> float:
    return float(re.sub(r"[,%]", "", text))


# --------------------------------------------------------------------------------------------
# The glued values
# --------------------------------------------------------------------------------------------

def test_glue_holds_every_key_the_map_and_the_claims_read(res):
    m = sc.load_map()
    keys = set(m.loc[m["chapter"] == "kinetics", "glue_key"])
    claims = sc.load_claims()
    for r in claims[claims["chapter"] == "kinetics"].itertuples():
        keys |= {k.strip() for k in r.p_keys.split(";")}
        for e in r.effect_keys.split(";") if r.effect_keys else []:
            keys |= {k.strip() for k in e.split(" vs ")}
    assert keys and keys <= set(res.glue), sorted(keys - set(res.glue))


def test_glue_values_by_hand(res, cohort):
    patients, samples = cohort
    g = res.glue
    assert g["n_patients"] == len(patients) and g["n_samples"] == len(samples)
    assert isinstance(g["n_patients"], int) and isinstance(g["t3_steroids_yes_n"], int)
    assert g["pct_expanded"] == pytest.approx(100 * g["n_expanded"] / g["n_patients"])
    assert g["cmax_median"] == pytest.approx(res.params["cmax"].median())
    assert g["n_mrdcr"] + g["n_other"] == len(patients)
    assert g["t3_mrd_cr_d28_yes_n"] == g["n_mrdcr"]
    assert g["pct_bca"] == pytest.approx(100 * patients["bca"].astype(bool).sum()
                                         / len(patients))
    # numbers are numbers, phrases are text (glue_all glues them as Markdown)
    assert all(isinstance(v, (int, float)) for k, v in g.items() if k.startswith("t3_"))
    assert isinstance(g["gm_cmax_mrdcr_text"], str) and isinstance(g["mw_rule"], str)


def test_a_geometric_interval_with_one_degree_of_freedom_is_not_shown(res):
    assert res.glue["n_other"] == 2
    assert res.glue["gm_cmax_other_text"].endswith(
        "copies/µg DNA (95% CI not estimable with 2 patients)")
    assert "e-" not in res.glue["gm_cmax_other_text"]
    # the numbers stay glued (the scorecard reads the geometric mean)
    assert res.glue["gm_cmax_other_geo_ci_high"] > 1e6
    assert K.geometric_mean_text(445.7, 3.9e-5, 5.1e9, 2) == \
        "445.7 (CI not estimable with 2 patients)"
    assert K.geometric_mean_text(445.7, 3.9e-5, 5.1e9, 1) == \
        "445.7 (CI not estimable with 1 patient)"
    assert K.geometric_mean_text(30234.0, 19955.0, 45807.0, 3) == "30,234 (19,955–45,807)"
    assert K.geometric_mean_text(math.nan, 1.0, 2.0, 5) == "–"


def test_paper_phrases_come_from_the_registry(res):
    reg = rg.load_registry().set_index("key")
    n, pct = reg.loc["n_expansion"], reg.loc["expansion_pct"]
    assert res.glue["paper_expansion"] == \
        f"{n['value']:.0f} of {n['n']} patients, {pct['value']:.0f}%"
    r = reg.loc["r_cmax_tlast"]
    assert f"r = {r['value_text']}" in res.glue["paper_tlast_correlations"]
    assert "p = 0.016" in res.glue["paper_tlast_correlations"]  # r_cmax_tlast_p, printed
    assert reg.loc["r_bca_tlast_p", "value_text"] == "<0.001"
    assert "p < 0.001" in res.glue["paper_bca_correlations"]
    assert res.figure_notes["bca_cmax"] == "paper: not significant"  # from the claims
    assert res.glue["paper_burden"].count("p = ") == 4


# --------------------------------------------------------------------------------------------
# The displayed tables
# --------------------------------------------------------------------------------------------

def test_every_displayed_table_is_formatted_and_has_a_download(res):
    assert set(res.tables) == set(K.TABLE_LABELS)
    assert {"kinetics_summary", "kinetic_parameters", "cmax_by_response",
            "table3_kinetics_by_factor", "table3_published_vs_reproduced",
            "persistence_half_life_summary", "persistence_half_life"} <= set(res.downloads)
    raw = re.compile(r"\d+\.\d{5,}|\d[eE][-+]?\d|\bnan\b|\binf\b")
    for label, table in res.tables.items():
        for v in table.to_numpy().ravel():
            # text, or a patient number (an int, which report.show_table writes by count())
            assert isinstance(v, (str, K.Compared)) or (label.endswith(("nca", "patients"))
                                                        and isinstance(v, int)), (label, v)
            if isinstance(v, int):
                continue
            for text in ((v.reproduced, v.published) if isinstance(v, K.Compared) else (v,)):
                assert not raw.search(text), (label, text)


def test_table3_is_the_papers_layout_with_every_published_cell(res):
    t = res.tables["tbl-table3"]
    assert len(t.columns) == 5 and len(t) == 17 * 3
    compared = [v for col in t.columns[1:] for v in t[col] if isinstance(v, K.Compared)]
    assert len(compared) == 187 and all(v.published and v.status for v in compared)
    reg = rg.load_registry().set_index("key")
    card = sc.scorecard(rg.load_registry(), sc.load_map(), {"kinetics": res.glue})
    card = card[card["chapter"] == "kinetics"].set_index("key")
    steroids = t.index[t["Characteristic"] == "**Steroids**"][0]
    p = t.at[steroids, K.TABLE3_HEADERS["cmax"]]
    assert p.published == reg.at["t3_steroids_p_cmax", "value_text"]
    assert p.reproduced == f"p = {res.glue['t3_steroids_p_cmax']:.3f}"
    assert p.status == card.at["t3_steroids_p_cmax", "status"]
    cell = t.at[steroids + 1, K.TABLE3_HEADERS["auc"]]
    assert _number(cell.published) == reg.at["t3_steroids_yes_auc28_median", "value"]
    assert cell.status == card.at["t3_steroids_yes_auc28_median", "status"]
    # the statuses of the whole table are the scorecard page's
    for key in card.index[card.index.str.startswith("t3_")]:
        assert res.paper.status(key) == card.at[key, "status"], key


def test_summary_and_response_tables_show_the_papers_values(res):
    reg = rg.load_registry().set_index("key")
    s = res.tables["tbl-kinetics-summary"]
    assert s["Parameter"].tolist()[0] == "**All patients**"
    cmax = s.loc[s["Parameter"] == "&emsp;Cmax (copies/µg DNA)", "Median (range)"].tolist()
    assert isinstance(cmax[0], K.Compared) and isinstance(cmax[1], str)  # all vs expanded
    r = reg.loc["cmax_median"]
    assert cmax[0].published == \
        f"{r['value']:,.0f} ({r['lower']:,.0f}–{r['upper']:,.0f})"
    tmax = s.loc[s["Parameter"] == "&emsp;Tmax (days)", "Median (range)"].iloc[0]
    assert tmax.published == "10.5 (4–21)"  # printed "10.5", range "4-21"
    gm = res.tables["tbl-gm-response"]
    assert gm["Geometric mean (95% CI)"].iloc[0].published == "319,016"
    assert gm["Geometric mean (95% CI)"].iloc[1].published == "863"
    assert gm["Geometric mean (95% CI)"].iloc[1].reproduced == \
        "445.7 (CI not estimable with 2 patients)"
    assert gm["p (Mann–Whitney)"].iloc[0].published == reg.at["t3_mrd_cr_d28_p_cmax",
                                                                "value_text"]
    assert gm["p (Mann–Whitney)"].iloc[1] == ""


def test_half_life_tables_use_the_formatter(res):
    per = res.tables["tbl-half-life-patients"]
    assert all(re.fullmatch(r"[01]\.\d{3}", v) for v in per["Adjusted R²"])
    small = [v for v in per["λz (1/d)"] if "×10" in v]
    assert small and all(re.fullmatch(r"\d\.\d+×10⁻[¹²³⁴⁵⁶⁷⁸⁹]", v) for v in small)


def test_half_life_summary_shows_a_single_value_without_a_range(res):
    summary = res.half_life.summary.reset_index(drop=True)
    shown = res.tables["tbl-half-life"].reset_index(drop=True)
    assert len(shown) == len(summary) == 3
    col, r2 = "Half-life (d), median (range)", "Adjusted R², median (min)"
    for i, r in summary.iterrows():
        if r["n_estimable"] == 1:  # one half-life: the value alone, no "(x–x)"
            assert "(" not in shown.loc[i, col] and "(" not in shown.loc[i, r2]
            assert float(shown.loc[i, col]) == pytest.approx(r["median"], rel=5e-3)
        elif r["n_estimable"] > 1:
            assert re.fullmatch(r"[\d.,]+ \([\d.,]+–[\d.,]+\)", shown.loc[i, col])
    assert (summary["n_estimable"] == 1).any()  # the synthetic cohort has such a group


def test_published_values_are_formatted_at_the_printed_precision(res):
    paper = res.paper
    assert paper.text("t3_steroids_p_tlast") == "0.502"
    assert paper.text("pk_mrd_cr_p_tlast") == "0.030"  # printed 0.030, value 0.03
    assert paper.text("r_bca_tlast_p") == "<0.001" and paper.p_phrase("r_bca_tlast_p") == \
        "p < 0.001"
    assert paper.text("n_bca") == "48" and paper.text("bca_pct") == "96%"
    assert paper.text("r_bca_tlast") == "0.570"
    assert paper.text("no_such_key") == "" and paper.compared("1", "") == K.Compared("1")
    assert paper.key("gm_cmax_mrdcr_geo_mean") == "gm_cmax_mrd_cr"
    assert paper.key("not_a_glue_key") == ""
    assert str(K.Compared("12", "13", "differs")) == "12"


def test_results_carry_what_the_figures_need(res, cohort):
    patients, _ = cohort
    assert len(res.params) == len(patients) and res.lloq == 100.0
    assert res.response.index.name == "patient_id" and res.response.dtype == bool
    assert set(res.correlations["key"]) == {k for k, *_ in K.CORRELATIONS} == \
        set(res.figure_notes)
    assert res.mrd_cuts == (1e-4, 1e-3, 1e-2)
    assert set(res.profiles["group"]) == {True, False}


def test_options_reach_the_analysis(cohort):
    patients, samples = cohort
    other = K.analyse(patients, samples, dose_threshold=3.0, conf_level=0.9,
                      expansion_threshold=500.0, synthetic=False)
    assert "t3_dose_ge3_n" in other.glue and "t3_dose_ge368_n" not in other.glue
    assert other.glue["expansion_rule"] == "a peak of at least 500 copies/µg DNA"
    assert "90% CI" in other.glue["gm_cmax_mrdcr_text"]
    assert other.glue["comparison_note"].startswith("This build uses a supplied cohort")
    t = other.tables["tbl-table3"]
    dose = t.index[t["Characteristic"] == "**CAR-T dose**"][0]
    # the paper has no cell for a dose cut of 3.0: no published value, no status
    assert t.at[dose + 1, "N"] == K.Compared(other.tables["tbl-table3"].at[dose + 1,
                                                                           "N"].reproduced)


# --------------------------------------------------------------------------------------------
# The book side: beside cells, downloads and figures
# --------------------------------------------------------------------------------------------

def test_beside_table_shows_the_paper_under_this_build(res):
    from analysis_lib.book.figures import kinetics as plots

    t = plots.beside_table(res.tables["tbl-table3"])
    assert list(t.columns) == list(res.tables["tbl-table3"].columns)
    steroids = t.index[t["Characteristic"] == "**Steroids**"][0]
    html = t.at[steroids, K.TABLE3_HEADERS["cmax"]]
    assert html.startswith("p = ") and '<span class="sc-pub">paper 0.017</span>' in html
    assert 'class="sc-dot sc-' in html
    assert t.at[steroids, "Characteristic"] == "**Steroids**"  # plain cells unchanged
    # p < 0.001 is escaped for HTML
    assert plots.beside_table(pd.DataFrame({"a": [K.Compared("p < 0.001", "<0.001",
                                                            sc.MATCH)]}))["a"][0].startswith(
        "p &lt; 0.001")


def test_table3_as_shown_keeps_the_dot_beside_the_papers_count(res):
    from analysis_lib.book.figures import kinetics as plots

    t = plots.table3_table(res.tables["tbl-table3"])
    assert list(t.columns)[1] == plots.TABLE3_N_HEADER and "min-width" in t.columns[1]
    assert re.search(r">N</span>$", t.columns[1])
    assert len(t) == len(res.tables["tbl-table3"])


def test_status_legend_counts_the_tables_statuses(res):
    from analysis_lib.book.figures import kinetics as plots

    legend = plots.status_legend(res.tables["tbl-table3"])
    card = res.paper.card
    t3 = card[card.index.str.startswith("t3_")]["status"].value_counts()
    assert int(t3.sum()) == 187
    for status, n in t3.items():
        assert f"{status} ({n})" in legend, (status, legend)
    assert legend.count('class="sc-dot sc-') == len(t3)
    assert "<script" not in legend


def test_parameters_are_shown_as_a_user_types_them():
    """"Parameters of this run" (report.parameters_table, what the notebook shows) gives each
    value as the literal a user passes with ``cartbook build -p NAME=VALUE``, in code: a
    list as ``[0.0001, 0.001, 0.01]``, no value as ``none``; never a bare Python repr."""
    from analysis_lib.analyses import options
    from analysis_lib.book import report

    vals = {k: options.OPTIONS[k].default for k in options.chapter_options("kinetics")}
    table = report.parameters_table(vals)
    shown = dict(zip(table["Parameter"], table["Value"]))
    assert shown["`mrd_cuts`"] == "`[0.0001, 0.001, 0.01]`"
    assert shown["`expansion_threshold`"] == "`none`"
    assert shown["`mw_correct`"] == "`true`"
    for cell in table.to_numpy().ravel():
        assert cell.startswith("`") and cell.endswith("`"), cell
        assert "None" not in cell and "True" not in cell


def test_downloads_are_plain_csv_with_a_sidecar(res, tmp_path: Path):
    from analysis_lib.book import report

    for name, frame in res.downloads.items():
        path = report.write_output(frame, tmp_path, name, True)
        back = pd.read_csv(path)
        assert len(back) == len(frame) and list(back.columns) == [str(c) for c in frame.columns]
        assert json.loads(path.with_name(path.name + ".json").read_text())["synthetic"]
    t3 = pd.read_csv(tmp_path / "table3_published_vs_reproduced.csv")
    assert {"key", "reproduced", "published", "status"} <= set(t3.columns)
    assert t3["published"].notna().all() and len(t3) == 187


def test_the_chapters_figures_pass_the_checks(res):
    from analysis_lib.book.figures import kinetics as plots
    from analysis_lib.book.figures import style

    figs = [plots.kinetic_profiles(res.samples, res.response, res.lloq),
            plots.median_profiles(res.profiles),
            plots.correlation_panels(res.params, res.correlations,
                                     ["tlast_cmax", "tlast_auc"], res.figure_notes),
            plots.correlation_panels(res.params, res.correlations,
                                     ["bca_tlast", "bca_cmax", "bca_auc"], res.figure_notes),
            plots.kinetics_by_burden(res.params, res.mrd_cuts),
            plots.half_life_by_response(res.half_life.per_patient,
                                        res.half_life.test.p_value)]
    for fig in figs:
        assert style.problems(fig) == []
        assert fig.get_size_inches()[0] == pytest.approx(style.WIDTH)
    fig2 = figs[3]
    titles = [ax.get_title(loc="left") for ax in fig2.axes]
    assert len(titles) == 3 and all("\npaper: " in t for t in titles)
    assert titles[0].startswith(f"r = {res.glue['r_bca_tlast']:.3f}")
    assert titles[0].endswith("paper: r = 0.570, p < 0.001")


def test_figures_are_the_same_on_every_build(res):
    import io

    import matplotlib.pyplot as plt

    from analysis_lib.book.figures import kinetics as plots

    out = []
    for _ in range(2):
        fig = plots.kinetics_by_burden(res.params, res.mrd_cuts)
        with plt.rc_context({"svg.hashsalt": "cartbook"}):
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
        out.append(buf.getvalue())
        plt.close(fig)
    assert out[0] == out[1]  # seeded jitter
