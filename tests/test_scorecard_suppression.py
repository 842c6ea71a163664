"""Small-cell suppression on the scorecard and the landing page.

A count of 1 to k-1 patients or events (and a percentage of patients resting on one) must
read "<k" on the scorecard, its status must not compare it with the paper's printed number
(a "matches" beside the paper's "1" gives the 1 away), it must stay out of the downloaded
scorecard and out of the score; the same ``min_cell_count`` must reach the scorecard and the
landing page as the chapters.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from analysis_lib.core import suppression
from analysis_lib.core.paths import ROOT
from analysis_lib.paper import registry as rg
from analysis_lib.paper import scorecard as sc
from analysis_lib.stats import cox

#: The small counts of the shipped cohort that the review found shown raw with a "matches"
#: badge (registry key -> the count in the shipped cohort).
SMALL = {"n_hlh": 1, "n_infection_ebv": 1, "n_infection_cmv": 2, "n_infection_fungal": 2,
         "n_mrd_persistent": 2, "t3_mrd_cr_d28_no_n": 2, "t3_cart_history_yes_n": 2,
         "t3_post_ld_mrd_1e2_ge1e2_n": 3, "n_relapse_cd19_neg": 4,
         "n_infection_bacterial_bsi": 4}
#: Percentages of patients resting on one of those counts (1/50 and 2/50).
SMALL_PERCENT = ("hlh_pct", "pct_mrd_persistent")


@pytest.fixture
def suppress5():
    with suppression.suppressed(5):
        yield


def _chapter_values() -> dict[str, dict]:
    """The values the four result chapters glue, from their analyses of the shipped cohort
    (run with suppression on, as a build with ``min_cell_count=5`` runs them)."""
    from analysis_lib.analyses import cohort, kinetics, survival, toxicity
    from analysis_lib.data.validation import load_dataset

    data = load_dataset(ROOT / "data" / "synthetic")
    p, k = data.tables["patients"], data.tables["kinetics"]
    return {"cohort": cohort.analyse(p).glue, "kinetics": kinetics.analyse(p, k).glue,
            "survival": survival.analyse(p, k).glue, "toxicity": toxicity.analyse(p).glue}


@pytest.fixture(scope="module")
def shipped():
    """The shipped cohort's chapter values and its scorecard with suppression off and on."""
    with suppression.suppressed(5):
        glued = _chapter_values()
        reg, mapping, claims = rg.load_registry(), sc.load_map(), sc.load_claims()
        on = sc.scorecard(reg, mapping, glued, claims)
    off = sc.scorecard(reg, mapping, glued, claims)
    return glued, off, on


# --------------------------------------------------------------------------------------------
# The shipped cohort
# --------------------------------------------------------------------------------------------

def test_the_small_counts_of_the_shipped_cohort_read_less_than_k(shipped):
    _, off, on = shipped
    off, on = off.set_index("key"), on.set_index("key")
    for key, k in SMALL.items():
        assert off.loc[key, "reproduced"] == k and off.loc[key, "status"] == sc.MATCH, key
        assert on.loc[key, "reproduced_text"] == "<5", key
        assert on.loc[key, "status"] == sc.SUPPRESSED, key
        assert math.isnan(on.loc[key, "reproduced"]), key  # not in the frame (nor download)
        assert "<5" in on.loc[key, "reason"]
    for key in SMALL_PERCENT:
        assert on.loc[key, "reproduced_text"] == "<5 patients", key
        assert on.loc[key, "status"] == sc.SUPPRESSED and math.isnan(on.loc[key, "reproduced"])
    # zero is never suppressed (it discloses nothing), nor a count of 5 or more
    assert on.loc["n_gvhd_prior_hsct", "reproduced_text"] == "0"
    assert on.loc["n_gvhd_prior_hsct", "status"] == sc.MATCH
    assert on.loc["t3_icans_yes_n", "reproduced_text"] == "5"
    assert on.loc["n_patients", "reproduced_text"] == "50"
    # nothing else changes status
    same = ~on.index.isin(list(SMALL) + list(SMALL_PERCENT))
    assert (on.loc[same, "status"] == off.loc[same, "status"]).all()


def test_no_small_count_is_shown_anywhere_on_the_scorecard_page(shipped):
    _, _, on = shipped
    reg = rg.canonical(rg.load_registry()).set_index("key")
    counts = on[on["key"].map(lambda k: k in reg.index and reg.loc[k, "statistic"] == "count")]
    assert not counts["reproduced_text"].str.fullmatch(r"[1-4]").any()
    shown = sc.display_table(on[on["key"].isin(list(SMALL) + list(SMALL_PERCENT))])
    for cell in shown["Status"]:
        assert f"sc-{sc.BADGES[sc.SUPPRESSED]}" in cell
        assert not re.search(r"sc-(match|within|direction|differs)\b", cell), cell
    assert not shown["Reproduced"].str.fullmatch(r"[1-4]|\d(\.\d+)?").any()
    down = sc.download_frame(on).set_index("key")
    assert down.loc[list(SMALL), "reproduced"].isna().all()
    assert (down.loc[list(SMALL), "status_rules_version"] == sc.STATUS_RULES_VERSION).all()
    # the definitions (the page's legend) explain the status
    legend = sc.definitions_table()
    assert any("suppressed" in s for s in legend["Status"])
    assert "give the count away" in sc.DEFINITIONS[sc.SUPPRESSED]


def test_suppressed_numbers_are_left_out_of_the_score_and_said_so(shipped):
    _, off, on = shipped
    s0, s5 = sc.score(off), sc.score(on)
    n = len(SMALL) + len(SMALL_PERCENT)
    assert s5["n_suppressed"] == n and s0["n_suppressed"] == 0
    # they were matches; now neither reproduced nor eligible
    assert s5["n_match"] == s0["n_match"] - n
    assert s5["numbers_score"] == s0["numbers_score"] - n
    assert s5["numbers_eligible"] == s0["numbers_eligible"] - n
    assert s5["numbers_total"] == s0["numbers_total"]
    assert f"({n} published numbers withheld by small-cell suppression are not scored)" in \
        sc.score_sentence(s5)
    assert "suppressed" not in sc.score_sentence(s0)
    assert f"{n} are withheld by small-cell suppression" in sc.status_counts_text(on)
    assert "suppressed" not in sc.status_counts_text(off)
    table = sc.breakdown_table(s5).set_index("Status")
    assert table.loc[sc.badge(sc.SUPPRESSED), "Published numbers"] == n
    # counts of the paper's numbers by status are not counts of patients: the page's table
    # keeps the "2 not estimable" its text says in words
    shown = suppression.suppress_table(sc.breakdown_table(s5), threshold=5)
    assert shown.set_index("Status").loc[sc.badge(sc.NOT_ESTIMABLE),
                                         "Published numbers"] == s5["n_not_estimable"] == 2


def test_the_landing_pages_key_results_follow_the_scorecard(shipped):
    glued, _, on = shipped
    card = on.copy()
    # a headline percentage resting on a small count: no value, no interval, no match badge
    card.loc[card["key"] == "icans_pct", ["reproduced", "reproduced_text", "status"]] = \
        [float("nan"), "<5 patients", sc.SUPPRESSED]
    rows = sc.key_results(card, glued).set_index("Result")
    icans = rows.loc["ICANS, %"]
    assert icans["This build"] == "&lt;5 patients"
    assert "sc-suppressed" in icans["Status"] and "sc-match" not in icans["Status"]


def test_every_percentage_of_patients_finds_its_count(shipped):
    """The safe fallback (suppress a percentage whose count cannot be found) is never what
    decides on the shipped map: every percentage of patients has its count glued beside it."""
    glued, _, _ = shipped
    reg = rg.canonical(rg.load_registry()).set_index("key")
    mapping = sc.load_map()
    rows = mapping[mapping["chapter"] != ""]
    found = 0
    for r in rows.itertuples():
        if r.key in reg.index and reg.loc[r.key, "statistic"] in sc.PERCENT_OF_PATIENTS:
            ck = sc.count_key(r.glue_key, glued[r.chapter])
            assert ck is not None, r.key
            k, pct = glued[r.chapter][ck], glued[r.chapter][r.glue_key]
            assert math.isclose(100 * k / glued[r.chapter]["n_patients"], pct), r.key
            found += 1
    assert found >= 15


# --------------------------------------------------------------------------------------------
# The rules on small constructed inputs
# --------------------------------------------------------------------------------------------

def _registry_row(key: str, statistic: str, value: float, text: str, unit: str = "count"):
    return {"key": key, "statistic": statistic, "value": value, "value_text": text,
            "unit": unit}


def test_small_count_rules(suppress5):
    count = _registry_row("n_x", "count", 1, "1")
    assert sc.small_count(count, 1.0, "x_k", {}) == (True, 1.0)
    assert sc.small_count(count, 0.0, "x_k", {}) == (False, 0.0)
    assert sc.small_count(count, 5.0, "x_k", {}) == (False, 5.0)
    pct = _registry_row("x_pct", "percent", 2, "2", "%")
    assert sc.small_count(pct, 2.0, "ae_x_pct", {"ae_x_k": 1, "ae_x_n": 50}) == (True, 1)
    assert sc.small_count(pct, 60.0, "ae_x_pct", {"ae_x_k": 30}) == (False, 30)
    assert sc.small_count(pct, 0.0, "ae_x_pct", {"ae_x_k": 0}) == (False, 0)
    # no count to be found: the safe side
    small, k = sc.small_count(pct, 60.0, "x_share", {})
    assert small and math.isnan(k)
    assert sc.suppressed_text(pct, k) == "<5 patients"
    # other statistics are not counts
    med = _registry_row("m", "median", 3, "3", "days")
    assert sc.small_count(med, 3.0, "m", {})[0] is False
    suppression.set_min_cell_count(0)
    assert sc.small_count(count, 1.0, "x_k", {})[0] is False


def test_a_count_of_a_registry_sized_cohort_has_a_separator():
    row = _registry_row("n_patients", "count", 50, "50")
    assert sc.reproduced_text(row, 1234.0, sc.DIFFERS) == "1,234"


@pytest.mark.parametrize("statistic, text, value, shown", [
    ("p_value", "<0.001", 2e-6, "<0.001"),          # never "0.0000"
    ("p_value", "0.021", 0.04383, "0.044"),
    ("p_value", "0.0001", 0.00004, "<0.0001"),
    ("median", "247033", 457863.9, "457,864"),      # as the chapter shows it
    ("median", "30,860", 30860.0, "30,860"),
    ("percent", "2", 2.0, "2.0"),
    ("survival_rate", "74.9", 75.95, "75.95"),
    ("correlation", "0.349", 0.000012, "1.2×10⁻⁵"),  # never "0.0000"
    ("correlation", "0.349", -0.00001, "-10⁻⁵"),     # nor "-0.0000"
    ("correlation", "0.349", 0.0, "0"),
    ("cumulative_incidence", "0", 0.0, "0"),
])
def test_reproduced_values_go_through_the_formatter(statistic, text, value, shown):
    row = _registry_row("x", statistic, float("nan"), text, "")
    assert sc.reproduced_text(row, value, sc.DIFFERS) == shown


def test_a_not_estimable_reason_suppresses_the_group_size(suppress5):
    x = np.array([1, 1, 1] + [0] * 17, dtype=float)
    t = np.arange(1.0, 21.0)
    e = (x == 0) & (t % 2 == 0)  # no events among the three with x = 1
    fit = cox.coxph(pd.DataFrame({"Prior CAR-T": x}), t, e)
    why = cox.not_estimable(fit)["Prior CAR-T"]
    assert "no events among the <5 patients with 'Prior CAR-T' = 1" in why
    assert " 3 " not in why
    suppression.set_min_cell_count(0)
    assert "no events among the 3 patients" in cox.not_estimable(fit)["Prior CAR-T"]


# --------------------------------------------------------------------------------------------
# The same min_cell_count reaches the scorecard and the landing page
# --------------------------------------------------------------------------------------------

def test_min_cell_count_reaches_the_scorecard_and_the_landing_page():
    from analysis_lib.analyses import options
    from analysis_lib.book.pipeline import checked_overrides, notebook_parameters

    given = checked_overrides({"min_cell_count": 5})
    for ch in ("cohort", "kinetics", "survival", "toxicity", "scorecard", "index"):
        assert given[f"{ch}.min_cell_count"] == 5, ch
    for ch in ("scorecard", "index"):
        params = notebook_parameters(ch, ROOT / "notebooks" / f"{ch}.py",
                                     ROOT / "data" / "synthetic", given)
        assert params["min_cell_count"] == 5, ch
    assert "scorecard" in options.OPTIONS["min_cell_count"].chapters
    # and the scorecard notebook sets it before it reads anything
    text = (ROOT / "notebooks" / "scorecard.py").read_text(encoding="utf-8")
    assert "report.open_chapter(" in text and "min_cell_count" in text


def test_classify_never_compares_a_small_count(suppress5):
    """The one rule that decides every status withholds a small count, so a chapter that
    scores a count of another chapter beside its own table (the cohort chapter's fallback to
    :func:`classify`) shows no "matches" beside "<5" either."""
    row = _registry_row("t3_cart_history_yes_n", "count", 2, "2")
    assert sc.classify(row, 2.0) == sc.SUPPRESSED
    assert sc.classify(row, 3.0) == sc.SUPPRESSED  # not "differs" either
    assert sc.classify(row, 0.0) == sc.DIFFERS
    assert sc.classify(_registry_row("n", "count", 7, "7"), 7.0) == sc.MATCH
    suppression.set_min_cell_count(0)
    assert sc.classify(row, 2.0) == sc.MATCH
