"""Disclosure control: pseudonymised patient codes and small-cell suppression
(analysis_lib.data.privacy), and the end-to-end guarantee that a book built from a non-synthetic
cohort carries none of its patient codes anywhere under the build directory."""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from analysis_lib.book import report
from analysis_lib.book.pipeline import ROOT, build_book
from analysis_lib.core import formatting, suppression
from analysis_lib.data import privacy
from analysis_lib.data.validation import load_dataset

SHIPPED = ROOT / "data" / "synthetic"
CANARY = "QZXWLEAK"


@pytest.fixture(autouse=True)
def _suppression_off():
    suppression.set_min_cell_count(0)
    yield
    suppression.set_min_cell_count(0)


def test_pseudonyms_are_a_keyed_permutation():
    codes = [f"HOSP-{i:03d}" for i in range(1, 121)]
    a = privacy.pseudonym_map(codes, b"key one")
    assert sorted(a.values()) == [f"P{i:03d}" for i in range(1, 121)]  # a bijection
    assert privacy.pseudonym_map(reversed(codes), b"key one") == a  # same input, same output
    b = privacy.pseudonym_map(codes, b"key two")
    assert a != b  # the numbering depends on the key
    in_order = [a[c] for c in codes]
    assert in_order != sorted(in_order)  # neither the codes' nor the rows' order survives
    assert all(c not in v for c in codes for v in a.values())


def test_pseudonym_width_grows_with_the_cohort():
    m = privacy.pseudonym_map([f"X{i}" for i in range(1500)], b"k")
    assert set(map(len, m.values())) == {5} and "P1500" in m.values()


def test_pseudonymise_is_consistent_across_tables():
    pts = pd.DataFrame({"patient_id": ["A-1", "B-2", "C-3"], "x": [1, 2, 3]})
    kin = pd.DataFrame({"patient_id": ["C-3", "A-1", "A-1"], "day": [0, 1, 2]})
    out = privacy.pseudonymise({"patients": pts, "kinetics": kin}, b"k")
    m = dict(zip(pts["patient_id"], out["patients"]["patient_id"]))
    assert list(out["kinetics"]["patient_id"]) == [m["C-3"], m["A-1"], m["A-1"]]
    assert list(pts["patient_id"]) == ["A-1", "B-2", "C-3"]  # the input is not modified


def test_the_key_differs_from_the_published_fingerprint(tmp_path: Path):
    f = tmp_path / "patients.csv"
    f.write_bytes(b"patient_id\nA\n")
    key = privacy.pseudonym_key([f.read_bytes()]).hex()
    assert report.dataset_fingerprint({"patients": f}) not in key


def _real_copy(src: Path, dst: Path, rename: dict[str, str] | None = None) -> dict[str, str]:
    """Copy a synthetic cohort as a real export would look: no metadata header lines, and
    patient codes replaced by distinctive strings. Returns old -> new codes."""
    dst.mkdir(parents=True, exist_ok=True)
    pts = pd.read_csv(src / "patients.csv", comment="#", dtype=str, keep_default_na=False)
    rename = rename or {c: f"{CANARY}-{c.split('-')[-1]}" for c in pts["patient_id"]}
    for name in ("patients", "kinetics"):
        t = pd.read_csv(src / f"{name}.csv", comment="#", dtype=str, keep_default_na=False)
        t["patient_id"] = t["patient_id"].map(rename)
        t.to_csv(dst / f"{name}.csv", index=False)
    return rename


def test_load_dataset_pseudonymises_unless_synthetic(tmp_path: Path):
    rename = _real_copy(SHIPPED, tmp_path / "real")
    real = load_dataset(tmp_path / "real")
    assert not real.synthetic
    for t in real.tables.values():
        assert t["patient_id"].str.fullmatch(r"P\d{3}").all()
    kept = load_dataset(tmp_path / "real", pseudonymise=False)
    assert set(kept.tables["patients"]["patient_id"]) == set(rename.values())
    # the synthetic cohort keeps its (made-up) codes, so downloads match data/synthetic/
    assert load_dataset(SHIPPED).tables["patients"]["patient_id"].str.startswith("SYN-").all()
    # the same patient keeps the same pseudonym in both tables
    pk = kept.tables["kinetics"]["patient_id"].map(
        dict(zip(kept.tables["patients"]["patient_id"], real.tables["patients"]["patient_id"])))
    assert list(pk) == list(real.tables["kinetics"]["patient_id"])


def test_small_counts_are_suppressed_in_tables_and_phrases():
    t = pd.DataFrame({"Characteristic": ["Sex", "Age"], "n (%)": ["3 (6%)", "47 (94%)"],
                      "Events": [2, 0], "n/N": ["4/50", "12/50"], "Median": [3, 4],
                      "%": [8.0, 24.0], "95% CI": ["2–19", "13–38"],
                      "Published": ["3 (6%)", "2"]})
    assert suppression.suppress_table(t) is t  # off by default
    suppression.set_min_cell_count(5)
    s = suppression.suppress_table(t)
    assert list(s["n (%)"]) == ["<5", "47 (94%)"]
    assert list(s["Events"]) == ["<5", 0]  # a zero discloses nothing
    assert list(s["n/N"]) == ["<5/50", "12/50"]
    assert list(s["Median"]) == [3, 4]  # not a count column
    # a suppressed count's percentage and CI would give it away: blanked in that row only
    assert list(s["%"]) == ["–", 24.0] and list(s["95% CI"]) == ["–", "13–38"]
    assert list(s["Published"]) == ["3 (6%)", "2"]  # the paper's numbers are public
    assert formatting.count_percent(3, 50) == "<5"
    assert formatting.count_percent(5, 50) == "5 (10%)"
    assert suppression.count_text(0) == "0" and suppression.count_text(4) == "<5"
    # large counts carry the book's thousands separator, like formatting.count
    assert suppression.count_text(5000) == formatting.count(5000) == "5,000"
    assert suppression.count_text(50000, 0) == "50,000"
    with pytest.raises(ValueError):
        suppression.set_min_cell_count(-1)


def _files_containing(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            hits += [f"{p.relative_to(root)}: {n.decode()}" for n in needles if n in data]
    return hits


#: A data folder name made of markup: HTML, Markdown emphasis and code, a MyST role, math,
#: a table separator, an entity, a directive fence and a javascript link.
HOSTILE_NAME = ('`rm -rf` *x* <b id="cartbook-hostile">{ref}`y` $x$ | &amp; ::: '
                "[l](javascript:alert(1)) \\")
PARENT = "HOSPITAL-SECRET-PARENT"


class _Elements(HTMLParser):
    """Collects the id attributes and tag names of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k == "id" and v:
                self.ids.add(v)
            if k == "href" and v:
                self.hrefs.add(v)


def _private_needles(data: Path) -> list[bytes]:
    """The paths that must not appear anywhere under the build: the data folder (as given
    and resolved), its parent, the repository, the Python environment."""
    paths = {str(data.absolute()), str(data.resolve()), str(data.parent.resolve()),
             str(ROOT), str(Path(sys.prefix))}
    return sorted(s.encode() for s in paths)


def _scan_for_markup(build: Path, marker: str = "cartbook-hostile") -> list[str]:
    """Files under ``build`` in which the hostile name became live markup: the raw tag in any
    file, or an element with its id or a javascript: link in any HTML page."""
    raw = ['<b id="cartbook-hostile">', '<b id=\\"cartbook-hostile\\">',
           "<b id=”cartbook-hostile”>"]
    bad = []
    for p in sorted(build.rglob("*")):
        if not p.is_file() or p.suffix in (".woff", ".woff2", ".png", ".ttf", ".pickle"):
            continue
        text = p.read_bytes().decode("utf-8", errors="replace")
        bad += [f"{p.relative_to(build)}: {r}" for r in raw if r in text]
        if p.suffix == ".html":
            el = _Elements()
            el.feed(text)
            if marker in el.ids:
                bad.append(f"{p.relative_to(build)}: element with id {marker}")
            bad += [f"{p.relative_to(build)}: href {h}" for h in el.hrefs if "javascript" in h]
    return bad


@pytest.mark.slow
def test_no_patient_code_nor_path_nor_markup_reaches_the_built_book(tmp_path: Path):
    """Build the whole book from a non-synthetic cohort whose codes are distinctive strings,
    in a folder named with markup under a distinctive parent, with small-cell suppression on.
    Nothing under the build directory (pages, downloads, executed notebooks, cache, search
    index) holds a code, the folder's path or its parent's, the repository's or the Python
    environment's path; the folder's name is shown as text, never as markup."""
    data = tmp_path / PARENT / HOSTILE_NAME
    rename = _real_copy(SHIPPED, data)
    build = tmp_path / "_build"
    result = build_book(data, build, force=True, overrides={"min_cell_count": 5})
    assert result.book_built
    needles = [CANARY.encode(), PARENT.encode()] + [c.encode() for c in rename.values()]
    assert _files_containing(build, needles + _private_needles(data)) == []
    assert _scan_for_markup(build) == []
    # the label is there, as text
    cohort_page = (build / "html" / "book" / "_generated" / "cohort.html").read_text(
        encoding="utf-8")
    assert "&lt;b id=" in cohort_page and "cartbook-hostile" in cohort_page
    assert "*x*" in cohort_page and "{ref}" in cohort_page
    # the pages say what was done, and suppression is visible where counts are small
    html = (build / "html" / "book" / "_generated" / "cohort.html").read_text(encoding="utf-8")
    assert "replaced by pseudonyms" in html and "shown as &lt;5" in html
    assert "Synthetic data" not in html
    tox = (build / "html" / "book" / "_generated" / "toxicity.html").read_text(encoding="utf-8")
    assert "&lt;5/50" in tox
    # the executed notebooks hold the numbers behind the suppressed text: not published
    site = build / "html"
    assert not list(site.rglob("*.ipynb")) and not (site / "_sources").exists()
    assert "download-source-button" not in html and "_sources/" not in html
    assert ".ipynb\"" not in html and "not published: small-cell suppression is on" in html
    # the per-patient download carries pseudonyms only
    nca = next(build.rglob("kinetic_parameters.csv"))
    ids = pd.read_csv(nca, comment="#")["patient_id"]
    assert ids.str.fullmatch(r"P\d{3}").all() and ids.nunique() == len(rename)


@pytest.mark.slow
def test_a_normal_build_publishes_no_path_of_the_build_machine(built_book: Path):
    """The book built from the shipped data (which live inside the repository): no path of
    the repository or of the Python environment anywhere under the build (warnings printed
    by libraries name their files: those paths are replaced by placeholders)."""
    assert _files_containing(built_book, [str(ROOT).encode(), sys.prefix.encode()]) == []
    assert _scan_for_markup(built_book) == []
    page = (built_book / "html" / "book" / "_generated" / "cohort.html").read_text(
        encoding="utf-8")
    assert "<td><p>synthetic</p></td>" in page  # the data folder's own name is the label
    # without suppression the executed notebook is offered for download
    assert "download-source-button" in page
    assert (built_book / "html" / "_sources" / "book" / "_generated" / "cohort.ipynb").is_file()
    assert list((built_book / "html" / "_downloads").rglob("cohort.ipynb"))


@pytest.mark.slow
def test_a_label_chosen_by_the_user_replaces_the_folder_name(tmp_path: Path):
    """``cartbook build --label``: the chapters name the data by the label; the folder's own
    name appears nowhere under the build (one chapter suffices)."""
    from analysis_lib.book.pipeline import run_notebooks

    data = tmp_path / "ST-ELSEWHERE-HOSPITAL-2024"
    _real_copy(SHIPPED, data)
    build = tmp_path / "_build"
    res, _ = run_notebooks(["data_dictionary"], data, build, label="Centre <A>")
    assert [r.status for r in res] == ["executed"], res[0].error
    assert _files_containing(build, [b"ST-ELSEWHERE-HOSPITAL"]) == []
    text = (build / "cache" / "data_dictionary" / "data_dictionary.ipynb").read_text()
    assert "Centre \\\\<A\\\\>" in text  # escaped Markdown, inside the notebook's JSON


def test_open_chapter_loads_pseudonymises_sets_suppression_and_shows_the_header(
        tmp_path: Path, monkeypatch):
    _real_copy(SHIPPED, tmp_path / "real")
    displayed: list[str] = []
    monkeypatch.setattr(report, "display", lambda obj: displayed.append(obj.data))
    data = report.open_chapter("cohort", tmp_path / "real", 5, {"conf_level": 0.95})
    assert data.tables["patients"]["patient_id"].str.fullmatch(r"P\d{3}").all()
    assert suppression.min_cell_count() == 5
    shown = "\n".join(displayed)
    for part in ("Data of this build", "replaced by pseudonyms", "shown as <5",
                 "min_cell_count", "conf_level", "notebooks/cohort.py"):
        assert part in shown, part


def test_counts_written_with_separators_are_still_recognised():
    """A count the book writes as 1,234 is read as one: ``k/N`` with a denominator of 1,000 or
    more is still suppressed, and large counts are left alone."""
    t = pd.DataFrame({"n/N": ["3/1,234", "1,200/1,234"], "n (%)": ["2 (0.2%)", "1,234 (99%)"],
                      "Events": ["1,500", "4"]})
    s = suppression.suppress_table(t, 5)
    assert list(s["n/N"]) == ["<5/1,234", "1,200/1,234"]
    assert list(s["n (%)"]) == ["<5", "1,234 (99%)"]
    assert list(s["Events"]) == ["1,500", "<5"]


def test_a_proportion_text_is_suppressed_with_its_percentage_and_interval():
    from analysis_lib.stats.proportions import proportion

    assert proportion("x", 1, 50).text().startswith("1/50 (2.0%; 95% CI ")
    assert proportion("x", 1234, 2000).text().startswith("1,234/2,000 (61.7%; 95% CI ")
    suppression.set_min_cell_count(5)
    try:
        assert proportion("x", 1, 50).text() == "<5/50"  # no 2.0% that gives the 1 away
        assert proportion("x", 0, 50).text().startswith("0/50 (0.0%")  # a zero discloses nothing
        assert proportion("x", 12, 50).text().startswith("12/50 (24.0%")
    finally:
        suppression.set_min_cell_count(0)


def test_the_data_notice_says_what_suppression_hides_and_what_it_does_not():
    assert "shown as" not in report.data_notice(True).data
    suppression.set_min_cell_count(5)
    try:
        for synthetic in (True, False):
            text = report.data_notice(synthetic).data
            assert "Counts from 1 to 4 are shown as <5" in text
            assert "can still follow from a total" in text
    finally:
        suppression.set_min_cell_count(0)


def test_suppressed_restores_the_threshold_before_it():
    suppression.set_min_cell_count(3)
    try:
        with pytest.raises(RuntimeError), suppression.suppressed(5):
            assert suppression.min_cell_count() == 5
            raise RuntimeError
        assert suppression.min_cell_count() == 3
    finally:
        suppression.set_min_cell_count(0)


def test_suppress_columns_hides_named_counts_and_what_is_computed_from_them():
    t = pd.DataFrame({"k": [3, 12, None], "n": [50, 50, 50], "pct": [6.0, 24.0, None],
                      "a": [7, 2, 9], "or": [1.5, 2.0, 0.5]})
    assert suppression.suppress_columns(t, {"k": ("pct",)}) is t  # suppression off
    with suppression.suppressed(5):
        s = suppression.suppress_columns(t, {"k": ("pct",), "a": ("or",)})
        assert suppression.suppress_columns(t[["n"]], {"n": ()}) is not None
    assert list(s["k"])[:2] == ["<5", 12] and list(s["pct"])[:2] == ["–", 24.0]
    assert list(s["a"]) == [7, "<5", 9] and list(s["or"]) == [1.5, "–", 0.5]
    assert list(s["n"]) == [50, 50, 50]  # a column not named is left alone
