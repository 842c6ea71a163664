"""Every count and number the kinetics chapter shows goes through the book's formatter and
small-cell suppression (privacy review of the chapter).

The chapter is run on the shipped synthetic cohort with suppression at 5: its small groups
(2 patients not in MRD-negative CR/CRi at day 28, 4 aplasias still ongoing, three Table 3
groups of 2 or 3 patients) must read "<5" wherever they reach the reader, with nothing
beside them that gives them away (a status dot, an interval, a percentage). The small
counts are recomputed here from the data, not read from the code under test.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis_lib.analyses import kinetics as K  # noqa: E402
from analysis_lib.core import formatting, suppression  # noqa: E402
from analysis_lib.core.paths import ROOT  # noqa: E402

SYNTHETIC = ROOT / "data" / "synthetic"
NOTEBOOK = ROOT / "notebooks" / "kinetics.py"


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    from analysis_lib.data.validation import load_dataset

    d = load_dataset(SYNTHETIC)
    return d.tables["patients"], d.tables["kinetics"]


@pytest.fixture(scope="module")
def plain(cohort) -> K.KineticsResults:
    return K.analyse(*cohort)


@pytest.fixture(scope="module")
def hidden(cohort) -> K.KineticsResults:
    """The chapter built with small-cell suppression at 5 (as ``-p min_cell_count=5``)."""
    with suppression.suppressed(5):
        return K.analyse(*cohort)


@pytest.fixture()
def at5():
    with suppression.suppressed(5):
        yield


def _small_groups(cohort) -> dict[str, int]:
    """The cohort's small counts that the chapter shows, from the data."""
    patients, _ = cohort
    cr = patients["d28_response"].isin(["cr", "cri"])
    neg = (patients["d28_mrd"].astype(float) < 1e-4).fillna(False)
    bca = patients["bca"].astype("boolean").fillna(False).astype(bool)
    ongoing = patients["bca_ongoing"].astype("boolean").fillna(False).astype(bool)
    return {"n_other": int((~(cr & neg)).sum()), "n_bca_ongoing": int((bca & ongoing).sum())}


# --------------------------------------------------------------------------------------------
# Glued text
# --------------------------------------------------------------------------------------------

def test_the_shipped_cohort_has_the_small_groups_the_review_found(cohort, plain):
    small = _small_groups(cohort)
    assert small == {"n_other": 2, "n_bca_ongoing": 4}
    for key, k in small.items():
        assert plain.glue[key] == k  # the numeric keys stay (the scorecard reads them)


def test_small_counts_in_the_text_are_suppressed(cohort, hidden, plain):
    for key in _small_groups(cohort):
        assert hidden.glue[f"{key}_text"] == "<5", key
        assert plain.glue[f"{key}_text"] == str(plain.glue[key]), key
        assert isinstance(hidden.glue[key], int)
    # the geometric-mean phrase of the 2 other patients does not give their number away
    other = hidden.glue["gm_cmax_other_text"]
    assert not re.search(r"\b2 patients?\b", other), other
    assert other.endswith("(95% CI not shown for fewer than 5 patients)")
    # without suppression it says why there is no interval, with the count
    assert plain.glue["gm_cmax_other_text"].endswith(
        "(95% CI not estimable with 2 patients)")


def test_every_glued_count_has_a_suppressed_text_form(plain, hidden):
    counts = [k for k, v in plain.glue.items()
              if re.fullmatch(r"n_\w+|hl_\w+_n_estimable", k) and isinstance(v, int)
              and not k.startswith("n_tests")]
    assert {"n_patients", "n_samples", "n_expanded", "n_persistence_ended", "n_mrdcr",
            "n_other", "n_tlast_cmax", "n_bca", "n_bca_tlast", "n_bca_ongoing",
            "hl_all_n_estimable"} <= set(counts)
    for key in counts:
        assert plain.glue[f"{key}_text"] == formatting.count(plain.glue[key]), key
        assert hidden.glue[f"{key}_text"] == suppression.count_text(plain.glue[key], 5), key
    # the number of tests is not a count of patients: never suppressed, formatted
    assert plain.glue["n_tests_text"] == formatting.count(plain.glue["n_tests"])


def test_count_phrases_drop_the_percentage_of_a_suppressed_count(at5):
    assert K._k_of_n(2, 50) == "<5 of 50 patients"
    assert K._k_of_n(0, 50) == "0 of 50 patients (0.0%)"  # zero discloses nothing
    assert K._k_of_n(49, 50) == "49 of 50 patients (98.0%)"
    assert K._k_of_n(1234, 2000) == "1,234 of 2,000 patients (61.7%)"


def test_phrases_for_a_registry_size_cohort_have_separators():
    assert K._k_of_n(1234, 5000) == "1,234 of 5,000 patients (24.7%)"
    assert K.geometric_mean_text(30234.0, 19955.0, 45807.0, 1234) == "30,234 (19,955–45,807)"
    from analysis_lib.book.figures import kinetics as plots

    assert plots._r_text(0.349, 0.016, 1234) == "r = 0.349, p = 0.016, n = 1,234"


def test_text_numbers_read_as_the_tables_show_them(plain):
    g = plain.glue
    # the text's percentages: one decimal, as the cohort's rates
    assert g["expanded_text"] == (f"{g['n_expanded']} of {g['n_patients']} patients "
                                  f"({100 * g['n_expanded'] / g['n_patients']:.1f}%)")
    assert g["bca_text"].endswith(f"({g['pct_bca']:.1f}%)")
    assert g["hl_estimable_text"].endswith(f"({g['hl_pct_estimable']:.1f}%)")
    # medians and ranges: the summary table's cells start with the same text
    table = plain.tables["tbl-kinetics-summary"]
    for label, param in (("Tmax (days)", "tmax"), ("Cmax (copies/µg DNA)", "cmax"),
                         ("Tlast (days)", "tlast")):
        cell = table.loc[table["Parameter"] == f"{K.INDENT}{label}",
                         "Median (range)"].iloc[0]
        shown = cell.reproduced if isinstance(cell, K.Compared) else cell
        assert shown == (f"{g[f'{param}_median_text']} ({g[f'{param}_min_text']}–"
                         f"{g[f'{param}_max_text']})"), (label, shown)
    assert g["tmax_median"] == 10.0 and g["tmax_median_text"] == "10"  # not "10.0"
    gm_cell = table.loc[table["Parameter"] == f"{K.INDENT}Cmax (copies/µg DNA)",
                        "Geometric mean (95% CI)"].iloc[0]
    cv_cell = table.loc[table["Parameter"] == f"{K.INDENT}Cmax (copies/µg DNA)",
                        "Geometric CV%"].iloc[0]
    mean, ci = re.fullmatch(r"(.*) \((.*)\)", gm_cell).groups()
    assert g["cmax_geo_text"] == f"{mean} copies/µg DNA ({ci}; geometric CV {cv_cell}%)"
    # the half-life's points: the table's median, not rounded to a whole number
    hl = plain.tables["tbl-half-life"]
    assert g["hl_points_median_text"] == hl["Points used, median"].iloc[0]
    assert g["hl_adj_r2_median_text"] == formatting.fixed(g["hl_adj_r2_median"], 3)
    for key in ("bca_tlast", "tlast_cmax"):
        assert g[f"r_{key}_text"] == formatting.fixed(g[f"r_{key}"], 3)
    assert g["lloq_text"] == "100"


def test_an_lloq_with_decimals_is_not_rounded_away(cohort):
    patients, samples = cohort
    res = K.analyse(patients, samples.assign(lloq_copies_per_ug_dna=2.5))
    assert res.glue["lloq"] == 2.5 and res.glue["lloq_text"] == "2.5"


def test_a_correlation_that_cannot_be_computed_reads_as_a_dash(cohort):
    patients, samples = cohort
    few = patients.assign(bca=False)  # no aplasia: no duration to correlate
    res = K.analyse(few, samples)
    assert res.glue["r_bca_tlast_text"] == "–" and res.glue["n_bca_tlast_text"] == "0"
    assert "nan" not in " ".join(str(v) for v in res.glue.values() if isinstance(v, str))


# --------------------------------------------------------------------------------------------
# Tables and figures
# --------------------------------------------------------------------------------------------

def _small_table3_keys(plain) -> set[str]:
    return {k for k, v in K.table3_cells(plain.t3).items()
            if k.endswith("_n") and 0 < v < 5}


def test_suppressed_group_sizes_lose_their_status(plain, hidden, at5):
    from analysis_lib.book.figures import kinetics as plots

    small = _small_table3_keys(plain)
    assert small == {"t3_cart_history_yes_n", "t3_post_ld_mrd_1e2_ge1e2_n",
                     "t3_mrd_cr_d28_no_n"}
    t = hidden.tables["tbl-table3"]
    n_cells = [v for v in t["N"] if isinstance(v, K.Compared)]
    hid = [v for v in n_cells if v.reproduced == "<5"]
    assert len(hid) == len(small) == 3
    assert all(v.published and not v.status for v in hid)  # the paper's count is public
    # the same cells without suppression are scored as usual
    assert all(v.status for v in plain.tables["tbl-table3"]["N"] if isinstance(v, K.Compared))
    # on the page: the paper's value, no status dot, beside "<5"
    shown = plots.table3_table(t)
    html = [c for c in shown.iloc[:, 1] if str(c).startswith("&lt;5")]
    assert len(html) == 3 and all("paper" in c and "sc-dot" not in c for c in html)
    # the legend counts only the dots shown: 187 cells less the 3 hidden
    legend = plots.status_legend(t)
    counted = sum(int(n) for n in re.findall(r"\((\d+)\)", legend))
    assert counted == 187 - 3
    # the day-28 response table: n "<5", no status, no interval or spread
    gm = hidden.tables["tbl-gm-response"]
    n = gm["n"].iloc[1]
    assert (n.reproduced, n.status) == ("<5", "") and n.published
    assert gm["Geometric mean (95% CI)"].iloc[1].reproduced == \
        "445.7 (CI not shown for fewer than 5 patients)"
    assert gm["Geometric CV%"].iloc[1] == "–"
    assert "2 patient" not in plots.beside_table(gm).to_string()


def test_a_status_built_beside_a_suppressed_count_is_not_shown(at5):
    from analysis_lib.book.figures import kinetics as plots
    from analysis_lib.paper.scorecard import MATCH

    frame = pd.DataFrame({"N": [K.Compared("<5", "2", MATCH), K.Compared("48", "48", MATCH)]})
    cells = plots.beside_table(frame)["N"].tolist()
    assert "sc-dot" not in cells[0] and "sc-dot" in cells[1]
    assert "(1)" in plots.status_legend(frame)


def test_downloads_suppress_the_small_counts_and_what_gives_them_away(plain, hidden):
    small = _small_table3_keys(plain)
    comp = hidden.downloads["table3_published_vs_reproduced"].set_index("key")
    for key in small:
        assert comp.at[key, "reproduced"] == "<5" and comp.at[key, "status"] == "", key
        assert comp.at[key, "published_text"]  # public
    plain_comp = plain.downloads["table3_published_vs_reproduced"].set_index("key")
    assert all(plain_comp.at[k, "status"] for k in small)
    t3 = hidden.downloads["table3_kinetics_by_factor"]
    no = t3[(t3["factor"] == "mrd_cr_d28") & (t3["level_id"] == "no")].iloc[0]
    assert [no[c] for c in ("n", "cmax_n", "auc_n", "tlast_n")] == ["<5"] * 4
    gm = hidden.downloads["cmax_by_response"]
    other = gm[gm["level"] == False].iloc[0]  # noqa: E712
    assert other["n"] == "<5" and other["n_positive"] == "<5"
    assert [other[c] for c in ("geo_ci_low", "geo_ci_high", "geo_cv_pct")] == ["–"] * 3
    # without suppression the downloads are the numbers
    assert plain.downloads["cmax_by_response"]["n"].tolist() == [48, 2]


def test_correlation_titles_suppress_a_small_n(at5):
    from analysis_lib.book.figures import kinetics as plots

    assert plots._r_text(0.5, 0.2, 3).endswith("n = <5")
    assert plots._r_text(0.5, 0.2, 48).endswith("n = 48")


# --------------------------------------------------------------------------------------------
# The notebook
# --------------------------------------------------------------------------------------------

def _markdown(path: Path) -> str:
    return "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                     if line.startswith("#"))


def test_the_notebook_shows_no_raw_formatted_numbers(plain):
    text = NOTEBOOK.read_text(encoding="utf-8")
    # no {glue:text} role with a format: counts as ints (no separator, no "<5"), floats
    # rounded unlike the tables ("10.0", "4" for 3.5, "2" for an LLOQ of 2.5)
    assert not re.findall(r"\{glue:text\}`[^`]*`", text)
    # every phrase the text shows is glued by the chapter
    md = set(re.findall(r"\{glue:md\}`([^`]+)`", _markdown(NOTEBOOK)))
    glued_here = set(re.findall(r'glue_text\("(\w+)"', text))
    assert md - glued_here <= set(plain.glue), sorted(md - glued_here - set(plain.glue))
    # the minimum for a geometric interval is the library's, not typed
    assert "fewer than three patients" not in text
    assert "MIN_N_GEOMETRIC_CI" in text
