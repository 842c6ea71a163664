"""Disclosure control: pseudonymised patient codes and small-cell suppression
(analysis_lib.privacy), and the end-to-end guarantee that a book built from a non-synthetic
cohort carries none of its patient codes anywhere under the build directory."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analysis_lib import cohort, privacy, report
from analysis_lib.pipeline import ROOT, build_book
from analysis_lib.validation import load_dataset

SHIPPED = ROOT / "data" / "synthetic"
CANARY = "QZXWLEAK"


@pytest.fixture(autouse=True)
def _suppression_off():
    privacy.set_min_cell_count(0)
    yield
    privacy.set_min_cell_count(0)


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
    assert privacy.suppress_table(t) is t  # off by default
    privacy.set_min_cell_count(5)
    s = privacy.suppress_table(t)
    assert list(s["n (%)"]) == ["<5", "47 (94%)"]
    assert list(s["Events"]) == ["<5", 0]  # a zero discloses nothing
    assert list(s["n/N"]) == ["<5/50", "12/50"]
    assert list(s["Median"]) == [3, 4]  # not a count column
    # a suppressed count's percentage and CI would give it away: blanked in that row only
    assert list(s["%"]) == ["–", 24.0] and list(s["95% CI"]) == ["–", "13–38"]
    assert list(s["Published"]) == ["3 (6%)", "2"]  # the paper's numbers are public
    assert cohort.count_percent(3, 50) == "<5"
    assert cohort.count_percent(5, 50) == "5 (10%)"
    assert privacy.count_text(0) == "0" and privacy.count_text(4) == "<5"
    with pytest.raises(ValueError):
        privacy.set_min_cell_count(-1)


def _files_containing(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            hits += [f"{p.relative_to(root)}: {n.decode()}" for n in needles if n in data]
    return hits


@pytest.mark.slow
def test_no_patient_code_reaches_the_built_book(tmp_path: Path):
    """Build the whole book from a non-synthetic cohort whose codes are distinctive strings,
    with small-cell suppression on; no code (nor its distinctive part) may appear in any file
    under the build directory: pages, downloads, executed notebooks, cache, search index."""
    rename = _real_copy(SHIPPED, tmp_path / "data")
    build = tmp_path / "_build"
    result = build_book(tmp_path / "data", build, force=True, overrides={"min_cell_count": 5})
    assert result.book_built
    needles = [CANARY.encode()] + [c.encode() for c in rename.values()]
    assert _files_containing(build, needles) == []
    # the pages say what was done, and suppression is visible where counts are small
    html = (build / "html" / "book" / "_generated" / "cohort.html").read_text(encoding="utf-8")
    assert "replaced by pseudonyms" in html and "shown as &lt;5" in html
    assert "Synthetic data" not in html
    tox = (build / "html" / "book" / "_generated" / "toxicity.html").read_text(encoding="utf-8")
    assert "&lt;5/50" in tox
    # the per-patient download carries pseudonyms only
    nca = next(build.rglob("kinetic_parameters.csv"))
    ids = pd.read_csv(nca, comment="#")["patient_id"]
    assert ids.str.fullmatch(r"P\d{3}").all() and ids.nunique() == len(rename)


def test_open_chapter_loads_pseudonymises_sets_suppression_and_shows_the_header(
        tmp_path: Path, monkeypatch):
    _real_copy(SHIPPED, tmp_path / "real")
    displayed: list[str] = []
    monkeypatch.setattr(report, "display", lambda obj: displayed.append(obj.data))
    data = report.open_chapter("cohort", tmp_path / "real", 5, {"conf_level": 0.95})
    assert data.tables["patients"]["patient_id"].str.fullmatch(r"P\d{3}").all()
    assert privacy.min_cell_count() == 5
    shown = "\n".join(displayed)
    for part in ("Data of this build", "replaced by pseudonyms", "shown as <5",
                 "min_cell_count", "conf_level", "notebooks/cohort.py"):
        assert part in shown, part
