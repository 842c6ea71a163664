"""End-to-end: the book builds from the shipped data with zero warnings, shows computed
numbers, hides the parameters cell, rebuilds as a no-op, and survives bad input; the cohort
notebook reruns unchanged on a different, larger cohort."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from analysis_lib.analyses import cohort
from analysis_lib.book import report
from analysis_lib.book.pipeline import (
    ROOT,
    InvalidDataError,
    build_book,
    execute_notebook,
    notebook_parameters,
)
from analysis_lib.book.report import glued_values
from analysis_lib.data.validation import load_dataset
from analysis_lib.synthetic.generator import generate_cohort, write_cohort

pytestmark = pytest.mark.slow
SHIPPED = ROOT / "data" / "synthetic"
PAGES = ["book/_generated/index.html", "book/_generated/cohort.html",
         "book/_generated/data_dictionary.html", "book/_generated/synthetic_data.html",
         "book/_generated/kinetics.html", "book/_generated/survival.html",
         "book/_generated/toxicity.html", "book/_generated/scorecard.html",
         "book/_generated/own_data.html", "book/methods.html"]


def _text(path: Path) -> str:
    html = path.read_text(encoding="utf-8")
    html = html[html.find("<main"):html.find("</main>")]
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return unescape(text).replace("\u2019", "'").replace("\u00a0", " ")  # smart quotes


@pytest.fixture(scope="module")
def built(built_book: Path) -> Path:
    """The session's build (tests/conftest.py): the book is built once per test session."""
    return built_book


def test_every_page_is_built(built: Path):
    html = built / "html"
    assert (html / "index.html").is_file()
    for page in PAGES:
        assert (html / page).is_file(), page


def test_pages_showing_data_say_they_are_synthetic(built: Path):
    for page in PAGES[:-1]:
        text = _text(built / "html" / page)
        assert "Synthetic data" in text and "not patient data" in text, page


def test_cohort_page_shows_the_numbers_the_library_computes(built: Path):
    patients = load_dataset(SHIPPED).tables["patients"]
    text = _text(built / "html" / "book/_generated/cohort.html")
    cr, neg = cohort.response_rates(patients)
    assert cr.text() in text and neg.text() in text
    assert cohort.follow_up(patients).text() in text
    base = cohort.baseline_table(patients)
    dose = base[base["characteristic"].str.startswith("CAR-T dose")].iloc[0]["display"]
    assert f"The median CAR-T dose was {dose}" in text
    # the published counts, as they appear in the paper's Patient characteristics paragraph
    assert "7 (14%) could not continue chemotherapy" in text
    assert "41 (82%) had MRD re-emerging" in text


def test_tables_and_figures_are_numbered_and_captioned(built: Path):
    text = _text(built / "html" / "book/_generated/cohort.html")
    # the paper's table under the paper's label, the book's own by chapter (3 = the cohort)
    for label in (r"Table S1\s+Reproduces the paper's Supplementary Table S1: baseline",
                  r"Table 3\.\d+ Day-28 response",
                  r"Figure 3\.\d+ CAR-T cell dose", r"Figure 3\.\d+ Reverse Kaplan–Meier"):
        assert re.search(label, text), label
    assert "Parameters of this run" in text


def test_parameters_cell_is_hidden_and_no_error_cell_is_published(built: Path):
    for page in PAGES[:-1]:
        raw = (built / "html" / page).read_text(encoding="utf-8")
        assert "injected-parameters" not in raw and "Injected parameters" not in raw
        assert "papermill-error-cell-tag" not in raw
        assert 'data_dir = "' not in raw, page  # neither the defaults nor the injected values
        assert str(SHIPPED.resolve()) not in raw, page  # no build-machine paths


def test_downloadable_outputs_are_marked_synthetic(built: Path):
    csvs = sorted((built / "html" / "_downloads").rglob("baseline_characteristics.csv"))
    assert csvs, "the baseline table is downloadable"
    # plain CSV (pandas reads it with no options); the metadata in the sidecar beside it
    frame = pd.read_csv(csvs[0])
    assert "characteristic" in frame.columns and len(frame) > 5
    results = 0
    for csv in sorted((built / "html" / "_downloads").rglob("*.csv")):
        sidecar = csv.with_name(csv.name + ".json")
        lines = csv.read_text(encoding="utf-8").splitlines()
        if sidecar.exists():  # a result table (report.write_output)
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            assert meta["synthetic"] is True and "SYNTHETIC" in meta["description"], csv.name
            results += 1
        else:  # the own-data page's files in the input format: marked in their header lines,
            # or a template (the header row only, no data)
            assert lines[0] == "# synthetic: true" or len(lines) == 1, csv.name
    assert results >= 20


def test_noop_rebuild_executes_nothing(built: Path):
    before = (built / "html" / "index.html").stat().st_mtime_ns
    again = build_book(SHIPPED, built)
    assert not again.book_built
    assert {r.status for r in again.notebooks} == {"cached"}
    assert (built / "html" / "index.html").stat().st_mtime_ns == before


def test_invalid_data_leaves_the_previous_book_in_place(built: Path, tmp_path: Path):
    bad = tmp_path / "bad"
    shutil.copytree(SHIPPED, bad)
    text = (bad / "kinetics.csv").read_text().splitlines()
    text.append("NOT-A-PATIENT,7,5000,false,100")
    (bad / "kinetics.csv").write_text("\n".join(text) + "\n")
    snapshot = {p: p.stat().st_mtime_ns for p in (built / "html").rglob("*")}
    with pytest.raises(InvalidDataError) as exc:
        build_book(bad, built)
    assert "unknown_patient" in str(exc.value) and "NOT-A-PATIENT" in str(exc.value)
    assert {p: p.stat().st_mtime_ns for p in (built / "html").rglob("*")} == snapshot


def test_cli_build_exit_code_on_invalid_data(tmp_path: Path):
    bad = tmp_path / "bad"
    shutil.copytree(SHIPPED, bad)
    (bad / "patients.csv").unlink()
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "analysis_lib.cli", "build", "--data", str(bad),
                           "--build-dir", str(out)], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert "missing_file" in proc.stderr
    assert not out.exists()


def test_cohort_notebook_reruns_on_a_different_cohort(tmp_path: Path):
    data = tmp_path / "centre2"
    write_cohort(generate_cohort(n=400, seed=7), data)
    source = ROOT / "notebooks" / "cohort.py"
    params = notebook_parameters("cohort", source, data, {"conf_level": 0.9})
    work = tmp_path / "work"
    res = execute_notebook("cohort", source, params, work)
    assert res.status == "executed", res.error
    glued = glued_values(work / "cohort.ipynb")
    patients = load_dataset(data).tables["patients"]
    assert glued["n_patients"] == 400
    cr, neg = cohort.response_rates(patients, conf_level=0.9)
    assert glued["cr_k"] == cr.k and glued["mrd_negative_cr_k"] == neg.k
    assert glued["cr_ci_low"] == pytest.approx(100 * cr.ci_low)
    fu = cohort.follow_up(patients, conf_level=0.9)
    assert glued["followup_median_months"] == pytest.approx(fu.median.estimate)
    assert "90% CI" in glued["followup_text"]
    written = pd.read_csv(work / "outputs" / "cohort" / "baseline_characteristics.csv",
                          comment="#")
    expected = cohort.baseline_table(patients)
    assert written["display"].tolist() == expected["display"].tolist()


def _built_card(built: Path) -> pd.DataFrame:
    from analysis_lib.paper import registry, scorecard

    glued = report.collect_glued(built / "cache", ["cohort", "kinetics", "survival",
                                                      "toxicity"])
    return scorecard.scorecard(registry.load_registry(), scorecard.load_map(), glued,
                               scorecard.load_claims())


def test_scorecard_reads_every_mapped_value_from_the_chapters(built: Path):
    from analysis_lib.paper import scorecard

    glued = report.collect_glued(built / "cache", ["cohort", "kinetics", "survival",
                                                      "toxicity"])
    m = scorecard.load_map()
    missing = [(r.chapter, r.glue_key) for r in m.itertuples()
               if not r.not_scored and r.glue_key not in glued[r.chapter]]
    assert not missing, missing
    claims = scorecard.load_claims()
    keys = [(c.chapter, k.strip()) for c in claims.itertuples()
            for k in re.split(r";| vs ", f"{c.p_keys};{c.effect_keys}") if k.strip()]
    missing = [(ch, k) for ch, k in keys if k not in glued[ch]]
    assert not missing, missing
    card = _built_card(built)
    assert (card["status"] != scorecard.UNMAPPED).all()
    # a Kaplan–Meier median that is not reached is glued as inf and read back as a number
    medians = card.set_index("key").loc[["os_median_post_ld_low_hsct",
                                         "os_median_post_ld_low_no_hsct"], "status"]
    assert (medians != scorecard.NOT_COMPUTED).all(), medians


def test_scorecard_pairs_table3_with_the_row_the_chapter_shows(built: Path):
    """The invariant: every Table 3 number on the scorecard is the value of the row of the
    kinetics chapter's downloadable Table 3 that the paper's printed label names, and every
    Table 3 count (all exact by construction) is shown as matching."""
    from test_scorecard import pairing_mismatches

    from analysis_lib.paper import scorecard

    card = _built_card(built)
    t3 = pd.read_csv(built / "cache" / "kinetics" / "outputs" / "kinetics" /
                     "table3_kinetics_by_factor.csv", comment="#", float_precision="round_trip")
    assert pairing_mismatches(card, t3) == []
    n_rows = card[(card["section"] == "Table 3") & card["key"].str.endswith("_n")]
    assert len(n_rows) == 34 and (n_rows["status"] == scorecard.MATCH).all(), \
        n_rows.loc[n_rows["status"] != scorecard.MATCH, ["key", "reproduced"]]
    # the examples: MRD-CR yes is 48 and steroids yes is 7, as in the chapter
    by_key = card.set_index("key")["reproduced"]
    assert by_key["t3_mrd_cr_d28_yes_n"] == 48 and by_key["t3_steroids_yes_n"] == 7


def test_no_non_estimable_value_is_counted_as_reproduced(built: Path):
    from analysis_lib.paper import scorecard

    card = _built_card(built)
    ne = card[card["reason"].ne("") & card["status"].isin(scorecard.REPRODUCED)]
    assert ne.empty, ne[["key", "status", "reason"]]
    ratios = card[card["key"].str.match(r"^(hr_|or_|mv[12]_or_)") &
                  ~card["key"].str.endswith("_p")]
    huge = ratios[(ratios["reproduced"] > 1e6) | (ratios["reproduced"] < 1e-6)]
    assert (huge["status"] == scorecard.NOT_ESTIMABLE).all(), huge[["key", "reproduced",
                                                                    "status"]]


def test_every_page_reports_the_same_score(built: Path):
    """Landing page, scorecard and synthetic-data chapter give the same final score and
    breakdown, and the calibration record is what this build computes (if this fails after
    a change to a chapter: cartbook calibrate --stage scorecard)."""
    from analysis_lib.paper import scorecard
    from analysis_lib.synthetic import calibration

    card = _built_card(built)
    live = scorecard.score(card)
    recorded = calibration.load_scorecard_search().iloc[0]
    # the default build runs the paper's parameters: nothing computed under another one
    changed = {k for k in live if k.endswith("n_changed")}
    assert changed and all(live[k] == 0 for k in changed), live
    assert {k: int(recorded[k]) for k in live if k not in changed} == \
        {k: v for k, v in live.items() if k not in changed}
    shipped = calibration.load_shipped_scorecard()
    assert shipped["key"].tolist() == card["key"].tolist()
    assert shipped["status"].tolist() == card["status"].tolist()
    sentence = scorecard.score_sentence(live)
    counts = scorecard.status_counts_text(card, "number")
    for page in ("index.html", "scorecard.html", "synthetic_data.html"):
        text = _text(built / "html" / "book/_generated" / page)
        assert sentence in text, page
    for page in ("index.html", "scorecard.html"):
        text = _text(built / "html" / "book/_generated" / page)
        assert counts in text, page
    # the summary tables carry every status (no count left unsaid)
    glued = glued_values(built / "cache" / "scorecard" / "scorecard.ipynb")
    assert glued["score_score"] == live["score"]
    text = _text(built / "html" / "book/_generated/scorecard.html")
    for status in scorecard.STATUSES:
        assert status in text


def test_scorecard_page_links_badges_and_download(built: Path):
    from analysis_lib.paper import scorecard

    html = (built / "html" / "book/_generated/scorecard.html").read_text(encoding="utf-8")
    assert html.count('class="sc-badge sc-') > 400
    assert 'title="The reproduced value, rounded' in html
    # each row links to the exact table, figure or section anchor of its chapter
    links = re.findall(r'href="(kinetics|survival|toxicity|cohort)\.html#([\w-]+)"', html)
    anchors = {a for _, a in links}
    assert {"tbl-table3", "tbl-paper-sets", "tbl-figure1", "sec-survival-relapse"} <= anchors
    for page, anchor in set(links):
        target = (built / "html" / "book/_generated" / f"{page}.html").read_text(encoding="utf-8")
        assert f'id="{anchor}"' in target, (page, anchor)
    assert "scorecard.js" in html
    down = next((built / "html" / "_downloads").glob("*/scorecard.csv"))
    frame = pd.read_csv(down, comment="#")
    assert set(frame["status_rules_version"].astype(str)) == {scorecard.STATUS_RULES_VERSION}
    assert (frame["status_definition"] == frame["status"].map(scorecard.DEFINITIONS)).all()


@pytest.mark.parametrize("page", PAGES + ["book/paper_index.html"])
def test_no_number_escapes_the_formatter(built: Path, page: str):
    """No raw float (5+ decimals), e-notation, nan, inf, caret or Python repr in what a
    reader reads (tests/htmlscan.py; code, scripts and mathematics are left out)."""
    from htmlscan import raw_numbers

    found = raw_numbers(built / "html" / page)
    assert not found, f"{len(found)} unformatted number(s) on {page}:\n" + "\n".join(found[:25])


def test_paper_tables_and_figures_carry_the_papers_labels(built: Path):
    """Each of the paper's tables and figures appears once, under the paper's own label, and
    the index page links to each."""
    from analysis_lib.paper.artefacts import load_artefacts

    index = (built / "html" / "book" / "paper_index.html").read_text(encoding="utf-8")
    for r in load_artefacts().itertuples():
        page = (built / "html" / "book" / "_generated" / f"{r.chapter}.html").read_text(
            encoding="utf-8")
        assert f'id="{r.book_label}"' in page, (r.paper_label, r.book_label)
        m = re.search(rf'id="{re.escape(r.book_label)}".*?caption-number">([^<]*)<', page, re.S)
        assert m and m.group(1).strip() == r.paper_label, (r.paper_label, m and m.group(1))
        assert f'{r.chapter}.html#{r.book_label}"' in index, r.paper_label
