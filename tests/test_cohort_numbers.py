"""Every count the cohort chapter shows goes through small-cell suppression, with nothing
beside a suppressed count that gives it away (privacy review of the chapter).

The chapter is run on the shipped synthetic cohort with suppression at 5: its small groups
of Supplementary Table S1 (2 with persistent MRD, 2 with a prior CAR-T, 3 with post-LD MRD
≥10⁻²) keep the paper's value but lose their scorecard status, in the table and its
download. Small counts are recomputed here from the data.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis_lib.analyses import cohort  # noqa: E402
from analysis_lib.core import formatting, suppression  # noqa: E402
from analysis_lib.core.paths import ROOT  # noqa: E402
from analysis_lib.data.validation import load_dataset  # noqa: E402
from analysis_lib.stats.proportions import proportion  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "cohort.py"


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    return load_dataset(ROOT / "data" / "synthetic").tables["patients"]


def _at5(fn, *args, **kwargs):
    with suppression.suppressed(5):
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def hidden(patients) -> cohort.CohortResults:
    return _at5(cohort.analyse, patients)


def _cells(res: cohort.CohortResults) -> pd.Series:
    f = res.baseline.frame.copy()
    f["Characteristic"] = f["Characteristic"].replace("", np.nan).ffill()
    return f.set_index(["Characteristic", ""])["n (%) or median (range)"]


def test_suppressed_rows_of_table_s1_keep_the_papers_value_but_not_the_status(patients,
                                                                                hidden):
    small = {("Reason for CAR-T", "Persistent MRD"):
             int((patients["enrolment_reason"] == "mrd_persistent").sum()),
             ("Prior CD19 CAR-T", "Yes"): int(patients["prior_cart"].astype(bool).sum()),
             ("MRD after lymphodepletion", "≥10⁻²"):
             int((patients["mrd_post_ld"].astype(float) >= 1e-2).sum())}
    assert sorted(small.values()) == [2, 2, 3]
    cell = _cells(hidden)
    for row in small:
        c = cell[row]
        assert c.reproduced == "<5" and c.published and c.status == "", (row, c)
    # a count that is not small keeps its status
    assert cell[("Sex", "Male")].status
    # rendered: no status dot beside "<5"
    seen = []
    _at5(hidden.baseline.render, lambda r, p, s, *why: seen.append((r, p, s)) or r)
    assert [s for r, _, s in seen if r == "<5"] == ["", "", ""]
    # the download has no status for those rows either (nor their percentage)
    data = hidden.baseline.data
    for (char, level) in small:
        row = data[(data["characteristic"] == char) & (data["level"] == level)].iloc[0]
        assert row["status"] == "" and row["display"] == "<5"
    # as report.write_output writes it (it applies suppress_table)
    written = _at5(suppression.suppress_table, data)
    rows = written[written["display"] == "<5"]
    assert set(rows["n"]) == {"<5"} and set(rows["percent"]) == {"–"}


def test_a_status_built_beside_a_suppressed_count_is_not_rendered():
    from analysis_lib.paper.scorecard import MATCH

    t = cohort.DisplayTable(pd.DataFrame({"n/N": [cohort.Paired("<5/50", "2", MATCH),
                                                  cohort.Paired("48/50", "48", MATCH)]}),
                            "caption", pd.DataFrame(), "file")
    out = _at5(t.render, lambda r, p, s, *why: f"{r}|{p}|{s}")["n/N"].tolist()
    assert out == ["<5/50|2|", f"48/50|48|{MATCH}"]
    assert cohort.suppressed("<5") is False  # suppression off: "<5" is just text
    assert _at5(cohort.suppressed, "<5/1,234") and not _at5(cohort.suppressed, "<50")


def test_rate_cells_are_built_from_count_text():
    small, big = proportion("a", 3, 50), proportion("b", 1234, 2000)
    f = _at5(cohort.rates_frame, [small, big])
    assert f["n/N"].tolist() == ["<5/50", "1,234/2,000"]
    assert f["%"].tolist() == ["–", "61.7"]
    assert f.iloc[0, 3] == "–" and f.iloc[1, 3] != "–"
    # without suppression: the numbers, with separators
    f = cohort.rates_frame([small, big])
    assert f["n/N"].tolist() == ["3/50", "1,234/2,000"] and f["%"].tolist() == ["6.0", "61.7"]


def test_a_small_response_count_loses_its_percentage_interval_and_status(patients):
    # every patient in CR/CRi, 3 of them MRD-negative: the second rate is small
    n = len(patients)
    few = patients.assign(d28_response="cr", d28_mrd=[0.0] * 3 + [1e-2] * (n - 3))
    res = _at5(cohort.analyse, few)
    assert (res.glue["cr_k"], res.glue["mrd_negative_cr_k"]) == (n, 3)  # numbers stay
    assert res.glue["mrd_negative_cr_text"] == f"<5/{n}"
    r = res.response.frame
    assert (r["n/N"].iloc[1].reproduced, r["n/N"].iloc[1].status) == (f"<5/{n}", "")
    assert (r["%"].iloc[1].reproduced, r["%"].iloc[1].status) == ("–", "")
    assert r.iloc[1, 3] == "–"
    assert r["n/N"].iloc[0].reproduced == f"{n}/{n}" and r["n/N"].iloc[0].status
    rendered = _at5(res.response.render, lambda v, p, s, *why: f"{v}|{p}|{s}")
    assert rendered["n/N"].iloc[1].endswith("|") and rendered["%"].iloc[1].startswith("–|")
    d = res.response.data
    assert d["k"].tolist() == [n, "<5"]
    assert [d[c].iloc[1] for c in ("estimate", "se", "lower", "upper")] == ["–"] * 4
    assert d["estimate"].iloc[0] == 1.0


def test_alive_and_patients_counts_are_count_text(patients):
    alive = int((~patients["death"].astype(bool)).sum())
    res = cohort.analyse(patients)
    assert res.glue["n_alive"] == formatting.count(alive)
    assert res.glue["n_patients_text"] == formatting.count(len(patients))
    assert res.glue["n_patients"] == len(patients)  # the number stays
    # small: suppressed
    few = patients.assign(death=[False] * 2 + [True] * (len(patients) - 2))
    assert _at5(cohort.analyse, few).glue["n_alive"] == "<5"
    # registry size: thousands separators
    big = pd.concat([patients] * 30, ignore_index=True)
    big_res = cohort.analyse(big)
    assert big_res.glue["n_alive"] == f"{30 * alive:,}" and "," in big_res.glue["n_alive"]
    assert big_res.glue["n_patients_text"] == f"{30 * len(patients):,}"
    head = big_res.baseline.frame.iloc[0, 2]
    assert head.reproduced == f"{30 * len(patients):,}"


def test_numbers_under_observation_are_suppressed(patients):
    from analysis_lib.book.figures import cohort as plots

    fu = cohort.follow_up(patients.head(9))  # a small cohort: few under observation late
    fig = _at5(plots.follow_up_curve, fu.curve, fu.median.estimate)
    risk = fig.axes[1]
    shown = [t.get_text() for t in risk.texts if t.get_text() != "Under\nobservation"]
    ticks = np.arange(0, fu.curve.time.max() * 1.02 + 1e-9, 12.0)
    at_risk = [plots._at_risk(fu.curve, x) for x in ticks]
    assert any(0 < k < 5 for k in at_risk)
    assert shown == [suppression.count_text(k, 5) for k in at_risk]
    assert "<5" in shown


def test_the_notebook_shows_no_count_as_an_int():
    text = NOTEBOOK.read_text(encoding="utf-8")
    assert not re.findall(r"\{glue:text\}`[^`]*:d`", text)
    assert "{glue:md}`n_patients_text`" in text and "{glue:md}`conf_pct_text`" in text
