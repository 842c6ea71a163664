"""The worked example of the "Use your own cohort" chapter: a second synthetic centre of
another size ("centre B", ``analysis_lib.synthetic.centres.CENTRE_B``) is generated, validated and
built into a whole book, whose pages must show centre B's numbers."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from analysis_lib.analyses import cohort
from analysis_lib.analyses.options import OPTIONS
from analysis_lib.book.pipeline import NOTEBOOKS, ROOT, build_book
from analysis_lib.book.report import glued_values
from analysis_lib.core import formatting
from analysis_lib.data.schema import ENROLMENT_REASONS
from analysis_lib.data.validation import load_dataset, validate_dir
from analysis_lib.synthetic.centres import CENTRE_B
from analysis_lib.synthetic.generator import scale_counts, write_cohort

pytestmark = pytest.mark.slow
SHIPPED = ROOT / "data" / "synthetic"
#: The parameters file of the example (make example passes it with --params).
PARAMS = ROOT / "examples" / "centre_b.yml"


def _text(path: Path) -> str:
    html = path.read_text(encoding="utf-8")
    html = html[html.find("<main"):html.find("</main>")]
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _toc_pages() -> list[str]:
    """Every page of the book, from _toc.yml (root and chapters)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f"{f}.html" for f in files]


@pytest.fixture(scope="module")
def centre_b(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("centre_b")
    data = root / "data"
    write_cohort(CENTRE_B.generate(), data)
    build = root / "_build"
    from analysis_lib.analyses.options import load_params_file

    result = build_book(data, build, force=True, overrides=load_params_file(PARAMS))
    assert result.book_built
    assert {r.status for r in result.notebooks} == {"executed"}
    return data, build


def test_make_example_runs_the_library_definition_of_centre_b():
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^\.PHONY:.*\bexample\b", make, flags=re.M)
    recipe = make[make.index("\nexample:"):].split("\n\n")[0].splitlines()[1:]
    generate = next(shlex.split(line) for line in recipe if " generate " in line)
    build = next(shlex.split(line) for line in recipe if " build " in line)
    out = generate[generate.index("--out") + 1]
    assert generate[0].endswith("cartbook")
    assert generate[1:] == CENTRE_B.generate_argv(out)
    assert build[build.index("--data") + 1] == out
    assert "--build-dir" in build
    assert ROOT / build[build.index("--params") + 1] == PARAMS


def test_centre_b_ran_with_its_parameters_file(centre_b):
    """The dose cut at centre B's own median, resolved and shown; the survival screen at 0.1
    in that chapter only; the scorecard marks the numbers under the changed dose cut."""
    data, build = centre_b
    patients = load_dataset(data).tables["patients"]
    median = float(patients["cart_dose_1e6_per_kg"].dropna().median())
    # a centre with lower doses: its own median is not the paper's cut
    assert abs(median - OPTIONS["dose_cut"].default) > 1.0
    cache = build / "cache"
    for name in ("kinetics", "survival", "toxicity"):
        nb = json.loads((cache / name / f"{name}.ipynb").read_text(encoding="utf-8"))
        params = nb["metadata"]["papermill"]["parameters"]
        assert params["dose_cut"] == "median", name
        if name != "kinetics":
            assert params["screen_p"] == (0.1 if name == "survival"
                                          else OPTIONS["screen_p"].default), name
        text = _text(build / "html" / f"book/_generated/{name}.html")
        assert f"median (= {formatting.number(median)})" in text, name
        assert "changed" in text
    card = _text(build / "html" / "book/_generated/scorecard.html")
    assert "computed under another parameter" in card and "dose_cut = median" in card
    page = _text(build / "html" / "book/_generated/parameters.html")
    assert "median (changed)" in page


def test_centre_b_data_are_valid_synthetic_and_differ_from_the_shipped_cohort(centre_b):
    data, _ = centre_b
    report = validate_dir(data)
    assert report.ok, report.to_text()
    assert report.synthetic
    patients = report.tables["patients"]
    shipped = load_dataset(SHIPPED).tables["patients"]
    assert len(patients) == CENTRE_B.n != len(shipped)
    params = CENTRE_B.params()
    reasons = patients["enrolment_reason"].value_counts()
    expected = scale_counts(params.enrolment_reason_counts, CENTRE_B.n)
    assert [int(reasons.get(r, 0)) for r in ENROLMENT_REASONS] == [int(k) for k in expected]
    female = (patients["sex"] == "female").mean()
    assert female > (shipped["sex"] == "female").mean()


def test_every_page_of_centre_b_is_built(centre_b):
    _, build = centre_b
    pages = _toc_pages()
    assert "book/_generated/own_data.html" in pages
    for page in pages:
        assert (build / "html" / page).is_file(), page


def test_centre_b_pages_say_they_are_synthetic(centre_b):
    _, build = centre_b
    for page in _toc_pages():
        if "_generated" in page:
            text = _text(build / "html" / page)
            assert "Synthetic data" in text and "not patient data" in text, page


def test_chapters_glue_centre_b_numbers(centre_b):
    data, build = centre_b
    tables = load_dataset(data).tables
    patients, samples = tables["patients"], tables["kinetics"]
    glued = {name: glued_values(build / "cache" / name / f"{name}.ipynb") for name in NOTEBOOKS}
    for name in ("index", "cohort", "kinetics", "survival", "toxicity"):
        assert glued[name]["n_patients"] == len(patients), name
    for name in ("index", "kinetics"):
        assert glued[name]["n_samples"] == len(samples), name
    assert glued["data_dictionary"]["n_rows_patients"] == len(patients)
    assert glued["data_dictionary"]["n_rows_kinetics"] == len(samples)
    n = len(patients)
    c = glued["cohort"]
    for reason in ENROLMENT_REASONS:
        assert c[f"n_{reason}"] == int((patients["enrolment_reason"] == reason).sum())
    female = formatting.count_percent(int((patients["sex"] == "female").sum()), n)
    assert c["n_female"] == female
    cr, _ = cohort.response_rates(patients)
    assert c["cr_k"] == cr.k
    text = _text(build / "html" / "book/_generated/cohort.html")
    assert female in text and cr.text() in text


def test_own_data_chapter_describes_centre_b(centre_b):
    _, build = centre_b
    g = glued_values(build / "cache" / "own_data" / "own_data.ipynb")
    assert g["centre_b_n"] == CENTRE_B.n
    assert shlex.join(["cartbook", *CENTRE_B.generate_argv("_build/example/centre_b/data")]) in (
        g["centre_b_commands"])
    html = build / "html"
    text = _text(html / "book/_generated/own_data.html")
    assert "broken_example" in text and "unknown_patient" in text
    for name in ("cartbook_template.xlsx", "patients.csv", "kinetics.csv"):
        assert list((html / "_downloads").rglob(name)), name
