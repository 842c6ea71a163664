"""End-to-end: the book builds from the shipped data with zero warnings, shows computed
numbers, hides the parameters cell, rebuilds as a no-op, and survives bad input; the cohort
notebook reruns unchanged on a different, larger cohort."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis_lib import cohort
from analysis_lib.pipeline import (ROOT, InvalidDataError, build_book, execute_notebook,
                                   notebook_parameters)
from analysis_lib.report import glued_values
from analysis_lib.synthetic import generate_cohort, write_cohort
from analysis_lib.validation import load_dataset

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
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&gt;", ">").replace("&lt;", "<")


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
    for label in (r"Table \d+ Baseline characteristics", r"Table \d+ Day-28 response",
                  r"Figure \d+ CAR-T cell dose", r"Figure \d+ Reverse Kaplan–Meier"):
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
    assert csvs[0].read_text().startswith("# synthetic: true\n")


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


def test_scorecard_reads_every_mapped_value_from_the_chapters(built: Path):
    from analysis_lib import registry, scorecard

    glued = scorecard.collect_glued(built / "cache", ["cohort", "kinetics", "survival",
                                                      "toxicity"])
    m = scorecard.load_map()
    missing = [(r.chapter, r.glue_key) for r in m.itertuples()
               if not r.not_scored and r.glue_key not in glued[r.chapter]]
    assert not missing, missing
    card = scorecard.scorecard(registry.load_registry(), m, glued)
    t3 = card[card["section"] == "Table 3"]
    assert (t3["status"] != "not mapped yet").all()  # every Table 3 cell is matched
    # a Kaplan–Meier median that is not reached is glued as inf and read back as a number
    medians = card.set_index("key").loc[["os_median_post_ld_low_hsct",
                                         "os_median_post_ld_low_no_hsct"], "status"]
    assert (medians != "not computed").all(), medians
    # the calibration record's score of the shipped cohort is what the book computes now
    # (if this fails after a change to a chapter: cartbook calibrate --stage scorecard)
    from analysis_lib import calibration

    recorded = calibration.load_scorecard_search().iloc[0]
    live = calibration.scorecard_score(card)
    assert {k: int(recorded[k]) for k in live} == live
    text = _text(built / "html" / "book/_generated/scorecard.html")
    assert "Reproduction status of the paper" in text
    counts = scorecard.summary(card).set_index("Status")["Numbers"]
    assert f"{int(counts['matches at the paper' + chr(39) + 's precision'])} match at the paper" in text
