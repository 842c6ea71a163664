"""The chapters' published-beside-reproduced cells under an analysis parameter other than the
paper's (``cartbook build -p dose_cut=5``): each published number the chapter computes under
it shows the status "computed under another parameter" with the parameter as its reason,
exactly as the scorecard page scores it, and with the paper's parameters nothing changes.

The scorecard page's side is computed as its notebook computes it: the parameters read from
executed notebooks (:func:`analysis_lib.book.report.parameter_changes`) and
:func:`analysis_lib.paper.scorecard.scorecard` on the chapter's glued values."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import nbformat
import pandas as pd
import pytest

from analysis_lib.analyses import cohort as C
from analysis_lib.analyses import kinetics as K
from analysis_lib.analyses import options as O
from analysis_lib.analyses import survival as S
from analysis_lib.analyses import toxicity as T
from analysis_lib.book import report
from analysis_lib.book.figures import kinetics as kplots
from analysis_lib.core.paths import ROOT
from analysis_lib.data.validation import load_dataset
from analysis_lib.paper import scorecard as sc
from analysis_lib.paper.registry import load_registry

SHIPPED = ROOT / "data" / "synthetic"
DOSE_5 = "computed with dose_cut = 5.0; the paper's 3.68"


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    d = load_dataset(SHIPPED)
    return d.tables["patients"], d.tables["kinetics"]


def opened(chapter: str, **params: Any) -> tuple[report.ChapterData, list[str]]:
    """:func:`report.open_chapter` of ``chapter`` with its defaults and ``params``, as the
    notebook calls it, and what it displayed (Markdown text)."""
    shown: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "display", lambda obj: shown.append(getattr(obj, "data", str(obj))))
        data = report.open_chapter(chapter, SHIPPED, 0, {
            "data_dir": str(SHIPPED), "output_dir": f"outputs/{chapter}",
            **O.defaults(chapter), **params})
    return data, shown


def page_card(tmp_path: Path, chapter: str, glue: Mapping[str, Any],
              patients: pd.DataFrame, **params: Any) -> tuple[pd.DataFrame, dict[str, str]]:
    """The scorecard page's rows for ``chapter`` (numbers and claims, by key) and its
    ``changed``: the parameters read back from an executed notebook's papermill metadata."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {**O.defaults(chapter), **params}}
    (tmp_path / chapter).mkdir()
    nbformat.write(nb, tmp_path / chapter / f"{chapter}.ipynb")
    _, affected = report.parameter_changes(tmp_path, [chapter], patients)
    card = sc.scorecard(load_registry(), sc.load_map(), {chapter: dict(glue)}, sc.load_claims(),
                        affected).set_index("key")
    return card[card["chapter"] == chapter], affected


def cells(frame: pd.DataFrame, kind: type) -> list[tuple[str, str, Any]]:
    """(row label, column, cell) of every ``kind`` cell of a display frame that shows the
    paper's value."""
    return [(str(frame.iat[i, 0]), str(c), frame.iat[i, j])
            for j, c in enumerate(frame.columns) for i in range(len(frame))
            if isinstance(frame.iat[i, j], kind) and frame.iat[i, j].published]


# ------------------------------------------------------------------------------------------
# The chapter's header: which keys a changed parameter affects


@pytest.mark.parametrize("chapter", ["cohort", "kinetics", "survival", "toxicity"])
def test_with_the_papers_parameters_a_chapter_marks_nothing(chapter):
    data, shown = opened(chapter)
    assert isinstance(data.changed, dict) and data.changed == {} and data.parameters == []
    assert not any("computed under another parameter" in s for s in shown)
    assert data.tables["patients"] is not None and data.synthetic  # still the loaded dataset


def test_open_chapter_gives_the_keys_of_the_scorecard_page_and_says_so(tmp_path, tables):
    data, shown = opened("toxicity", dose_cut=5.0)
    _, affected = page_card(tmp_path, "toxicity", {}, tables[0], dose_cut=5.0)
    # every key the scorecard page marks for this chapter, with the same reason
    assert {k: data.changed[k] for k in affected} == affected
    assert {"mv1_or_dose_low", "mv2_or_dose_low_p", "or_severe_crs_dose_low"} <= set(affected)
    assert affected["mv1_or_dose_low"] == DOSE_5
    # plus the registry's duplicates that depend on it (not rows of the scorecard)
    extra = set(data.changed) - set(affected)
    dup = load_registry().set_index("key")["duplicate_of"]
    assert extra and all(dup[k] for k in extra)
    assert [(c.name, c.resolved) for c in data.parameters] == [("dose_cut", 5.0)]
    note = [s for s in shown if "computed under another parameter" in s]
    assert len(note) == 1
    assert "dose\\_cut \\= 5\\.0" in note[0]  # the parameter, escaped
    assert f"The {len(affected)} published numbers and claims" in note[0]
    assert 'class="sc-dot sc-changed"' in note[0]


def test_a_median_that_resolves_to_the_papers_cut_changes_nothing(tables):
    patients = tables[0].copy()
    paper = O.OPTIONS["dose_cut"].default
    patients["cart_dose_1e6_per_kg"] = paper  # every dose at the paper's median
    changed, affected = report.parameter_effects({"toxicity": {"dose_cut": "median"}}, patients)
    assert changed == [] and affected == {}


# ------------------------------------------------------------------------------------------
# Toxicity: Table 2 and the dose comparison at dose cut 5


@pytest.fixture(scope="module")
def tox5(tables) -> tuple[T.ToxicityResults, T.ToxicityResults, report.ChapterData]:
    data, _ = opened("toxicity", dose_cut=5.0)
    kw = dict(dose_cut=5.0)
    return T.analyse(tables[0], **kw), T.analyse(tables[0], changed=data.changed, **kw), data


def test_table2_cells_at_another_dose_cut_are_computed_under_another_parameter(tox5):
    plain, res, _ = tox5
    t2 = res.tables["table2"]
    cols = list(t2.frame.columns)
    assert cols[3].startswith("Model 1") and cols[5].startswith("Model 2")  # then their p
    i = t2.frame.index[t2.frame["Clinical factor"].str.startswith("CAR-T dose < 5")][0]
    models = [t2.frame.iat[i, j] for j in range(3, 7)]  # the dose row's OR and p, both models
    assert all(c.status == sc.CHANGED and c.reason == DOSE_5 for c in models)
    # the univariate dose OR: the audit's verdict on the printed value stands, as on the page
    assert {t2.frame.iat[i, j].status for j in (1, 2)} == {sc.INCONSISTENT}
    # every model cell of Table 2 (the models contain the dose factor) and the download
    data = t2.data[t2.data["model"] != "univariate"]
    assert set(data["status_or"]) == set(data["status_p"]) == {sc.CHANGED}
    # without changed (a library caller): scored against the paper, as before
    before = plain.tables["table2"].data
    assert sc.CHANGED not in set(before["status_or"]) | set(before["status_p"])
    # rendered: the lilac dot, its definition and the parameter on hover
    cell = t2.render(report.beside).iat[i, 3]
    assert 'class="sc-dot sc-changed"' in cell
    assert "computed under another parameter: Computed with an analysis parameter" in cell
    assert "Here: computed with dose_cut = 5.0; the paper&#x27;s 3.68." in cell


def test_toxicity_statuses_are_the_scorecard_pages(tmp_path, tables, tox5):
    plain, res, data = tox5
    card, affected = page_card(tmp_path, "toxicity", res.glue, tables[0], dose_cut=5.0)
    numbers = card[card["kind"] == "number"]
    assert res.statuses["status"].to_dict() == numbers["status"].to_dict()
    assert res.statuses["reason"].to_dict() == numbers["reason"].to_dict()
    assert (numbers["status"] == sc.CHANGED).sum() == 16
    # the audit's verdict stands on both pages: the univariate dose OR and the dose comparison
    for key in ("or_severe_crs_dose_low", "or_severe_crs_dose_low_p"):
        assert key in affected and res.statuses.loc[key, "status"] == sc.INCONSISTENT
    assert "dose_low_crs_p" in data.changed  # a duplicate of or_severe_crs_dose_low_p
    assert list(res.tables["dose"].data["cut"]) == [3.66, 5.0]
    assert [c.status for _, _, c in cells(res.tables["dose"].frame, C.Paired)] == [
        numbers.loc["or_severe_crs_dose_low_p", "status"]] * 2
    # every shown cell: CHANGED exactly where its key is affected (or its value is the audit's)
    for name, t in res.tables.items():
        before = plain.tables[name]
        for (row, col, c), (_, _, b) in zip(cells(t.frame, C.Paired), cells(before.frame,
                                                                           C.Paired)):
            assert c.reproduced == b.reproduced and c.published == b.published, (name, row)
            if c.status != b.status:
                assert c.status == sc.CHANGED and c.reason == DOSE_5, (name, row, col)


# ------------------------------------------------------------------------------------------
# Kinetics: Table 3's dose comparison at dose cut 5


def test_table3_dose_p_values_at_another_cut_match_the_scorecard_page(tmp_path, tables):
    data, _ = opened("kinetics", dose_cut=5.0)
    patients, samples = tables
    res = K.analyse(patients, samples, dose_threshold=5.0, changed=data.changed)
    plain = K.analyse(patients, samples, dose_threshold=5.0)
    card, affected = page_card(tmp_path, "kinetics", res.glue, patients, dose_cut=5.0)
    numbers = card[card["kind"] == "number"]
    assert res.paper.card["status"].to_dict() == numbers["status"].to_dict()
    t3 = res.tables["tbl-table3"]
    dose = t3[t3["Characteristic"].astype(str) == "**CAR-T dose**"].iloc[0]
    ps = [v for v in dose if isinstance(v, K.Compared) and v.published]
    assert len(ps) == 3 and all(v.status == sc.CHANGED and v.reason == DOSE_5 for v in ps)
    before = plain.tables["tbl-table3"]
    assert not any(v.status == sc.CHANGED for col in before.columns for v in before[col]
                   if isinstance(v, K.Compared))
    assert {"t3_dose_p_cmax", "t3_dose_p_auc28", "t3_dose_p_tlast"} <= set(affected)
    # the Discussion's claim that dose does not affect kinetics is tested by those p-values
    assert "claim_dose_kinetics" in affected
    assert card.loc["claim_dose_kinetics", "status"] == sc.CHANGED
    legend = kplots.status_legend(t3)
    assert 'class="sc-dot sc-changed"' in legend and "computed under another parameter (3)" in legend
    html = kplots.table3_table(t3).to_numpy().ravel()
    assert sum('sc-changed' in str(v) and "dose_cut = 5.0" in str(v) for v in html) == 3


# ------------------------------------------------------------------------------------------
# Survival: the screen and the dose claims


def test_survival_cells_under_a_changed_screen_and_dose_cut_match_the_scorecard_page(
        tmp_path, tables):
    params = dict(screen_p=0.1, dose_cut=5.0)
    data, _ = opened("survival", **params)
    patients, kin = tables
    o = S.SurvivalOptions(screen_p=0.1, dose_cut=5.0)
    res = S.analyse(patients, kin, o, changed=data.changed)
    card, affected = page_card(tmp_path, "survival", res.glue, patients, **params)
    assert {"hr_bca_lfs", "hr_female_lfs_p", "claim_os_dose", "claim_lfs_dose"} <= set(affected)
    chapter = S._Paper.load(res.glue, data.changed).card
    assert chapter.loc[card.index, "status"].to_dict() == card["status"].to_dict()
    assert chapter.loc[card.index, "reason"].to_dict() == card["reason"].to_dict()
    shown = [c for t in res.tables.values() for c in cells(t.frame, S.Beside)]
    changed = [(t, col, c) for t, col, c in shown if c.status == sc.CHANGED]
    # the paper-sets HRs and ps (screen_p) and the dose claims' p cells (dose_cut)
    assert len(changed) == 14
    assert all("screen_p = 0.1" in c.reason or "dose_cut = 5.0" in c.reason
               for _, _, c in changed)
    paper_sets = res.tables["tbl-paper-sets"].data
    assert set(paper_sets.loc[paper_sets["published_key"] != "", "status_hr"]) == {sc.CHANGED}
    html = res.tables["tbl-univariate"].display(report.beside).to_numpy().ravel()
    assert sum("sc-changed" in str(v) and "dose_cut = 5.0" in str(v) for v in html) == 2


# ------------------------------------------------------------------------------------------
# Cohort: a number the chapter shows as a duplicate of another chapter's


def test_cohort_response_row_under_another_mrd_threshold(tables):
    data, _ = opened("cohort", mrd_negative_below=1e-3)
    res = C.analyse(tables[0], mrd_negative_below=1e-3, changed=data.changed)
    plain = C.analyse(tables[0], mrd_negative_below=1e-3)
    row = res.response.frame.iloc[1]
    why = "computed with mrd_negative_below = 0.001; the paper's 0.0001"
    # the percentage (the cohort chapter's own key) and the count (a duplicate of Table 3's
    # group size, which the kinetics chapter computes)
    assert (row["%"].status, row["%"].reason) == (sc.CHANGED, why)
    assert (row["n/N"].status, row["n/N"].reason) == (sc.CHANGED, why)
    assert plain.response.frame.iloc[1]["n/N"].status != sc.CHANGED
    assert res.response.frame.iloc[0]["%"].status == plain.response.frame.iloc[0]["%"].status
    assert res.statuses.loc["mrd_neg_cr_d28_pct", "status"] == sc.CHANGED


# ------------------------------------------------------------------------------------------
# Rendering


def test_beside_adds_the_reason_to_the_hover_text_only_when_given():
    plain = report.beside("0.30", "0.089", sc.MATCH)
    assert "Here:" not in plain and plain == report.beside("0.30", "0.089", sc.MATCH, "")
    cell = report.beside("0.30", "0.089", sc.CHANGED, "computed with a = <1>; the paper's 2")
    title = re.search(r'title="([^"]*)"', cell).group(1)
    assert 'class="sc-dot sc-changed"' in cell
    assert title.endswith("Here: computed with a = &lt;1&gt;; the paper&#x27;s 2.")


def test_a_table_with_changed_cells_says_what_the_lilac_dot_means(monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(report, "display", lambda obj: shown.append(obj.data))
    frame = pd.DataFrame({"a": [report.beside("1", "2", sc.CHANGED, "why")],
                          "b": [report.beside("1", "2", sc.MATCH)]})
    report.show_table(frame, "Caption.", "tbl-x")
    report.show_table(frame[["b"]], "Caption.", "tbl-y")
    assert shown[0].startswith(":::{table} Caption. " + report.CHANGED_CAPTION)
    assert shown[1].startswith(":::{table} Caption.\n")
