"""Tests of the registry of published numbers (``data/published/registry.csv``,
:mod:`analysis_lib.paper.registry`).

The registry must hold every number the paper prints in Tables 1–3 and in its text. The
paper itself is not read here: the table cells are copied into ``tests/data/paper_tables.md``
(CC BY 4.0, attributed in its header), and the numbers each text section prints are in
``tests/data/paper_numbers.json`` (extracted once with :func:`printed_numbers`; the paper's
sentences are not copied into the project). These tests check the registry against them:

* Tables: every row × column cell of Tables 1A, 1B (the legible part), 2 and 3 that holds a
  number has exactly one registry row, with the printed value and interval; the registry has
  no table cell the paper lacks; :data:`analysis_lib.paper.registry.PUBLISHED_TABLES` describes the
  same shape.
* Text: per section, the multiset of numbers printed in the copied paragraphs equals the
  multiset of numbers in the registry rows of that section (``value_text`` and
  ``interval_text``), after dropping digits that are not reported numbers (see
  :data:`NOT_NUMBERS`: reference citations, list enumerators, figure and table numbers,
  names such as CD19 or IL-6, units such as ``× 10^6``, guideline and software versions,
  the horizon in "5-year OS", CRS/ICANS grade labels, MRD cut-points written as powers of ten
  and the "95%" of "95% CI"). Numbers written as words ("Forty-nine") are registered but
  not seen by the regular expression, so they are covered by the spot checks.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_lib.paper import registry as rg

DATA = Path(__file__).resolve().parent / "data"
TABLES_MD = DATA / "paper_tables.md"
NUMBERS_JSON = DATA / "paper_numbers.json"


@pytest.fixture(scope="module")
def reg() -> pd.DataFrame:
    return rg.load_registry()


def row(reg: pd.DataFrame, key: str) -> pd.Series:
    sub = reg.loc[reg["key"] == key]
    assert len(sub) == 1, key
    return sub.iloc[0]


def _blocks(path: Path) -> dict[str, list[str]]:
    """Split a fixture at its ``=== name`` markers (the comment header is dropped)."""
    out: dict[str, list[str]] = {}
    name = None
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("=== "):
            name = line[4:].strip()
            out[name] = []
        elif name is not None:
            out[name].append(line)
    return out


# ============================================================================================
# Parsing the copied tables
# ============================================================================================

def norm_label(s: str) -> str:
    """Printed row label -> registry label: superscripts as ``^``, white space collapsed."""
    s = re.sub(r"\s*<sup>(.*?)</sup>", r"^\1", s)
    return re.sub(r"\s+", " ", s).strip()


#: Printed Table 3 factor lines that differ from the registry's factor label.
T3_FACTOR_FIXES = {"CRS CERS/RG": "CRS",          # garbled by the extraction
                   "CAR-T history#": "CAR-T history"}  # footnote marker
#: Numbers the extraction put in the p columns of a Table 3 *level* row (the paper prints
#: p-values once per factor, on the factor line). Only the CRS "0-2" row has them.
T3_KNOWN_STRAYS = {("CRS | 0-2", "p Cmax"): "0.554", ("CRS | 0-2", "p AUC0-28d"): "0.234",
                   ("CRS | 0-2", "p Tlast"): "0.03/"}

Cell = tuple[str, str]
Printed = dict  # {"value_text": str, "lower": float|None, "upper": float|None, "ci": str}


def _est(value: str, ci: str | None = None, lo: str | None = None,
         hi: str | None = None) -> Printed:
    return {"value_text": value, "ci": ci, "lower": None if lo is None else float(lo),
            "upper": None if hi is None else float(hi)}


def parse_table1(lines: list[str]) -> tuple[dict[Cell, Printed], dict[Cell, Printed]]:
    """Tables 1A and 1B. 1A is a plain grid. 1B's rows are stacked: each extracted line
    repeats the earlier rows' values, so the last line holds all legible rows in order."""
    ia = next(i for i, l in enumerate(lines) if l.startswith("(A)"))
    ib = next(i for i, l in enumerate(lines) if l.startswith("(B)"))
    a: dict[Cell, Printed] = {}
    for line in lines[ia + 1:ib]:
        c = line.split("\t")
        if c[0].startswith("Covariate") or not c[0]:
            continue
        lo, hi = c[2].split(",")
        a[(c[0], "HR (95%CI)")] = _est(c[1], c[2], lo, hi)
        a[(c[0], "p")] = _est(c[3])
    labels: list[str] = []
    stacks: list[tuple[list[str], list[tuple[str, str, str]], list[str]]] = []
    for line in lines[ib + 1:]:
        if not line.strip():
            break
        c = line.split("\t")
        for part in re.split(r"\s{2,}", c[0]):
            if part not in ("", ",", "Covariate") and part not in labels:
                labels.append(part)
        hrs = re.findall(r"\d+\.\d+", c[1] if len(c) > 1 else "")
        cis = re.findall(r"((\d+\.\d+),\s*(\d+\.\d+))", c[2] if len(c) > 2 else "")
        ps = re.findall(r"\d+\.\d+", c[3] if len(c) > 3 else "")
        if hrs:
            stacks.append((hrs, cis, ps))
    hrs, cis, ps = max(stacks, key=lambda s: len(s[0]))
    for h, ci, p in stacks:  # every stacked line is a prefix of the longest one
        assert h == hrs[:len(h)] and ci == cis[:len(ci)] and p == ps[:len(p)]
    assert len(hrs) == len(cis) == len(ps) == len(labels)
    b: dict[Cell, Printed] = {}
    for lab, h, (ci, lo, hi), p in zip(labels, hrs, cis, ps):
        b[(lab, "HR (95%CI)")] = _est(h, ci, lo, hi)
        b[(lab, "p")] = _est(p)
    return a, b


def parse_table2(lines: list[str]) -> dict[Cell, Printed]:
    ih = next(i for i, l in enumerate(lines) if l.split("\t")[1:2] == ["OR (95%CI)"])
    out: dict[Cell, Printed] = {}
    for line in lines[ih + 1:]:
        if not line.strip():
            break
        c = line.split("\t")
        for j, model in ((1, "univariate"), (3, "model 1"), (5, "model 2")):
            if not c[j]:
                assert not c[j + 1]
                continue
            m = re.fullmatch(r"(\d+\.\d+)\(((\d+\.\d+)-(\d+\.\d+))\)", c[j])
            assert m, c[j]
            out[(norm_label(c[0]), f"OR (95%CI) {model}")] = _est(m[1], m[2], m[3], m[4])
            out[(norm_label(c[0]), f"p {model}")] = _est(c[j + 1])
    return out


def parse_table3(lines: list[str]) -> tuple[dict[Cell, Printed], dict[Cell, str]]:
    """Table 3 cells, and the numbers found in p columns of level rows (strays)."""
    out: dict[Cell, Printed] = {}
    strays: dict[Cell, str] = {}
    factors: list[tuple[str, tuple[str, str, str], list[list[str]]]] = []
    for line in lines:
        c = line.split("\t")
        if len(c) < 8 or c[0].startswith(("Characteristics", "TABLE")):
            continue
        if c[1] == "" and c[2] == "":
            factors.append((T3_FACTOR_FIXES.get(c[0], c[0]), (c[3], c[5], c[7]), []))
        else:
            factors[-1][2].append(c)
    for factor, ps, levels in factors:
        assert len(levels) == 2, factor
        la, lb = (norm_label(lv[0]) for lv in levels)
        for col, p in zip(("p Cmax", "p AUC0-28d", "p Tlast"), ps):
            out[(f"{factor} | {la} vs {lb}", col)] = _est(p)
        for lv in levels:
            r = f"{factor} | {norm_label(lv[0])}"
            for j, col in ((1, "N"), (2, "Median Cmax"), (4, "Median AUC0-28d"),
                           (6, "Median Tlast")):
                out[(r, col)] = _est(lv[j])
            for j, col in ((3, "p Cmax"), (5, "p AUC0-28d"), (7, "p Tlast")):
                if lv[j].strip():
                    strays[(r, col)] = lv[j]
    return out, strays


@pytest.fixture(scope="module")
def paper_tables() -> dict[str, dict[Cell, Printed]]:
    blocks = _blocks(TABLES_MD)
    a, b = parse_table1(blocks["Table 1"])
    t3, _ = parse_table3(blocks["Table 3"])
    return {"Table 1A": a, "Table 1B": b, "Table 2": parse_table2(blocks["Table 2"]),
            "Table 3": t3}


# ============================================================================================
# Numbers in the copied text
# ============================================================================================

#: Digits that are not reported numbers, removed before numbers are extracted, in this
#: order: (pattern, why it is not a number the paper reports).
NOT_NUMBERS: tuple[tuple[str, str], ...] = (
    (r"\$", "LaTeX delimiter"),
    (r"<sub>.*?</sub>|_\{[^}]*\}", "subscript of a name: C_max, AUC_0-28d, T_last"),
    (r"\bAUC\s*0-28d", "the name AUC0-28d written without markup"),
    (r"(?:×|\\times)?\s*10\s*(?:\^\{?-?\d+\}?|<sup>-?\d+</sup>)",
     "a power of ten: a unit multiplier (× 10^6 cells/kg, × 10^9/L) or an MRD cut-point "
     "naming a subgroup (MRD < 10^-4); Methods' FCM sensitivity 10^-4 is registered anyway"),
    (r"\\text\{mg/m\}\^2|\\chi\^2", "exponent in a unit or a symbol (mg/m², χ²)"),
    (r"\bCD\d+|\bIL-\d+|\binterleukin-\d+|\bCO2\b|\b4-1BB\b|\bZUMA-\d+|\bCAR-T-19\b",
     "digits inside a name (CD19, CD3ζ, IL-6, interleukin-6, CO2, 4-1BB, ZUMA-3, CAR-T-19)"),
    (r"\bv5\.0\b|\(NCCN\) 2024|\b2018 American Society|SPSS 26\.0|Prism 9\.5\.1",
     "version or edition of a guideline or of software"),
    (r"\(\d{1,2}(?:\s*[,–-]\s*\d{1,2})*\)",
     "reference citation '(12)', '(5–7)', '(15, 29, 30)' or criterion enumerator '(1)'"),
    (r"(?m)^- \d\. ", "list enumerator in Methods"),
    (r"\b3 (?=An MD Anderson)", "garbled list enumerator in the Discussion (a circled 2)"),
    (r"(?:Supplementary\s+)?(?:Figure|Table)\s+S?\d+[AB]?", "figure or table number"),
    (r"\b\d+-year\b", "horizon that names an estimate ('5-year OS'), part of its quantity"),
    (r"[Gg]rade\s*(?:≥|p)?\s*\d", "CRS/ICANS/neutropenia grade naming a category"),
    (r"95%\s*(?:CI|Confidence)", "confidence level naming an interval (interval_type ci95)"),
)
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def strip_not_numbers(text: str) -> str:
    for pattern, _why in NOT_NUMBERS:
        text = re.sub(pattern, " ", text)
    return text


def printed_numbers(text: str) -> tuple[Counter, list[str]]:
    """Numbers printed in ``text`` (as strings without thousands separators, unsigned), and
    separately the denominators of ``k/n`` fractions ("(24/50)")."""
    text = strip_not_numbers(text)
    numbers: Counter = Counter()
    denominators: list[str] = []
    for m in _NUMBER.finditer(text):
        tok = m.group().replace(",", "")
        s = m.start()
        if s >= 2 and text[s - 1] == "/" and text[s - 2].isdigit():
            denominators.append(tok)
        else:
            numbers[tok] += 1
    return numbers, denominators


def registry_numbers(rows: pd.DataFrame) -> Counter:
    """Numbers printed in the registry rows' ``value_text`` and ``interval_text``."""
    out: Counter = Counter()
    for vt, it in zip(rows["value_text"], rows["interval_text"]):
        for s in (vt, it):
            out += printed_numbers(s)[0]
    return out


#: Text sections of the fixture -> registry sections that hold their numbers.
TEXT_TO_REGISTRY = {
    "Abstract": ("Abstract",), "Methods": ("Methods",),
    "Patient characteristics": ("Patient characteristics",),
    "Treatment outcomes": ("Treatment outcomes",), "Toxicity": ("Toxicity",),
    "PK of CAR-T cells": ("PK of CAR-T cells",),
    "Discussion": ("Discussion", "Discussion (external)"),
}


@pytest.fixture(scope="module")
def paper_text() -> dict[str, dict[str, list[str]]]:
    """Per text section, the numbers and k/n denominators the paper prints (derived once with
    :func:`printed_numbers` from the paper; only numbers are kept, not its sentences)."""
    import json

    return json.loads(NUMBERS_JSON.read_text(encoding="utf-8"))["sections"]


# ============================================================================================
# Loading and validation
# ============================================================================================

def test_registry_loads_typed_and_valid(reg):
    assert tuple(reg.columns) == rg.COLUMNS
    assert rg.validate_registry(reg) == []
    for col in ("value", "lower", "upper", "se"):
        assert reg[col].dtype == np.float64
    assert str(reg["n"].dtype) == "Int64"
    assert reg["key"].is_unique
    assert reg["key"].str.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*").all()
    assert set(reg["section"]) == set(rg.SECTIONS)  # every section is used


def test_registry_file_is_plain_utf8_csv():
    raw = rg.REGISTRY_PATH.read_bytes()
    raw.decode("utf-8")
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    assert raw.split(b"\n", 1)[0].decode() == ",".join(rg.COLUMNS)


def _broken(reg: pd.DataFrame, key: str, changes: dict) -> list[str]:
    df = reg.copy()
    i = df.index[df["key"] == key][0]
    for col, v in changes.items():
        df.at[i, col] = v
    return rg.validate_registry(df)


@pytest.mark.parametrize("key,changes,expect", [
    ("os_5y", {"key": "lfs_5y"}, "duplicate key"),
    ("os_5y", {"key": "OS5y"}, "snake_case"),
    ("os_5y", {"section": "Results"}, "section 'Results' not allowed"),
    ("os_5y", {"unit": "percent"}, "unit 'percent' not allowed"),
    ("os_5y", {"interval_type": "ci90"}, "interval_type 'ci90' not allowed"),
    ("os_5y", {"lower": 80.0}, "outside"),
    ("os_5y", {"lower": 90.0, "upper": 85.0}, "lower 90.0 > upper"),
    ("os_5y", {"upper": np.nan}, "needs lower and upper"),
    ("os_5y", {"value": 74.8}, "does not match value_text"),
    ("os_5y", {"se": 1.0}, "se given"),
    ("nrm_pre_ld_low_hsct", {"se": np.nan}, "pm_se needs se"),
    ("cr_d28_pct", {"lower": 1.0}, "interval_type none but an interval"),
    ("abstract_os_5y", {"duplicate_of": "os_5y_typo"}, "is not a key"),
    ("abstract_os_5y", {"duplicate_of": "disc_os_5y"}, "itself a duplicate"),
    ("abstract_os_5y", {"duplicate_of": "lfs_5y"}, "differs from"),
    ("abstract_os_5y", {"duplicate_of": "abstract_os_5y"}, "duplicate_of itself"),
    ("t3_sex_male_n", {"table_row": "Sex | Female"}, "already registered"),
    ("t3_sex_male_n", {"table_column": ""}, "table column missing"),
    ("os_5y", {"table_row": "x"}, "outside a table"),
    ("methods_cutoff_date", {"value": 2025.0}, "a date needs"),
])
def test_validator_catches_broken_rows(reg, key, changes, expect):
    problems = _broken(reg, key, changes)
    assert any(expect in p for p in problems), problems


def test_load_registry_raises_on_a_broken_file(reg, tmp_path):
    bad = reg.copy()
    bad.loc[bad["key"] == "os_5y", "lower"] = 80.0
    path = tmp_path / "registry.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(rg.RegistryError, match="outside"):
        rg.load_registry(path)
    assert len(rg.load_registry(path, validate=False)) == len(reg)
    pd.read_csv(rg.REGISTRY_PATH, dtype=str).drop(columns="note").to_csv(path, index=False)
    with pytest.raises(rg.RegistryError, match="missing column"):
        rg.load_registry(path)


# ============================================================================================
# Completeness against the tables
# ============================================================================================

def test_published_tables_describes_the_printed_shape(paper_tables):
    for section, cells in paper_tables.items():
        shape = rg.PUBLISHED_TABLES[section]
        assert list(shape.cells) == list(cells), section  # same cells, in printed order
        assert {c for _, c in cells} == set(shape.columns)


def test_table_shapes(paper_tables):
    # Table 1A: 3 rows × (HR with CI, p); 1B: the 3 legible rows; Table 2: 5 rows, 13 of the
    # 15 estimate cells printed; Table 3: 17 factors × (2 levels × 4 + 3 p-values).
    assert len(rg.PUBLISHED_TABLES["Table 1A"].rows) == 3
    assert rg.PUBLISHED_TABLES["Table 1B"].rows == ("No CAR-T history", "Grade 4 neutropenia",
                                                    "CRS(≥3)")
    assert len(rg.PUBLISHED_TABLES["Table 2"].rows) == 5
    assert len(paper_tables["Table 2"]) == 2 * 13
    assert len(paper_tables["Table 3"]) == 17 * (2 * 4 + 3)


@pytest.mark.parametrize("section", rg.TABLE_SECTIONS)
def test_every_table_cell_has_exactly_one_row(reg, paper_tables, section):
    sub = reg.loc[reg["section"].eq(section) & reg["table_column"].ne("")]
    registered = Counter(zip(sub["table_row"], sub["table_column"]))
    assert max(registered.values()) == 1
    printed = set(paper_tables[section])
    assert set(registered) - printed == set(), "registered cells the paper lacks"
    assert printed - set(registered) == set(), "printed cells missing from the registry"


@pytest.mark.parametrize("section", rg.TABLE_SECTIONS)
def test_table_values_are_as_printed(reg, paper_tables, section):
    sub = reg.loc[reg["section"].eq(section) & reg["table_column"].ne("")]
    by_cell = {(r.table_row, r.table_column): r for r in sub.itertuples()}
    for cell, p in paper_tables[section].items():
        r = by_cell[cell]
        assert r.value_text == p["value_text"], cell
        assert r.value == pytest.approx(float(p["value_text"])), cell
        if p["ci"] is None:
            assert r.interval_type == "none" and math.isnan(r.lower), cell
        else:
            assert r.interval_type == "ci95" and r.interval_text == p["ci"], cell
            assert (r.lower, r.upper) == pytest.approx((p["lower"], p["upper"])), cell


def test_table_units_and_statistics(reg):
    t = reg.loc[reg["section"].isin(rg.TABLE_SECTIONS) & reg["table_column"].ne("")]
    expect = {"HR (95%CI)": ("hazard_ratio", "ratio"), "N": ("count", "count"),
              "Median Cmax": ("median", "copies/µg DNA"),
              "Median AUC0-28d": ("median", "copies/µg DNA×day"),
              "Median Tlast": ("median", "days")}
    for r in t.itertuples():
        if r.table_column.startswith("p"):
            want = ("p_value", "none")
        elif r.table_column.startswith("OR"):
            want = ("odds_ratio", "ratio")
        else:
            want = expect[r.table_column]
        assert (r.statistic, r.unit) == want, r.key
    # Table 3 medians carry their group size.
    med = t.loc[t["section"].eq("Table 3") & t["statistic"].eq("median")]
    n_by_row = dict(zip(t.loc[t["table_column"] == "N", "table_row"],
                        t.loc[t["table_column"] == "N", "value"]))
    assert all(m.n == n_by_row[m.table_row] for m in med.itertuples())


def test_table3_p_values_once_per_factor_and_the_known_garbling():
    _, strays = parse_table3(_blocks(TABLES_MD)["Table 3"])
    # The only numbers in the p columns of level rows are the CRS "0-2" strays.
    assert strays == T3_KNOWN_STRAYS


def test_table3_crs_row_reading(reg):
    assert [row(reg, f"t3_crs_p_{c}").value_text for c in ("cmax", "auc28", "tlast")] == \
        ["0.354", "0.234", "0.857"]
    assert row(reg, "t3_crs_p_cmax").table_row == "CRS | 0-2 vs 3-4"
    for key in ("t3_crs_p_cmax", "t3_crs_grade0_2_n"):
        assert "CRS CERS/RG" in row(reg, key).note and "0.554" in row(reg, key).note


def test_table1b_missing_rows_are_noted(reg):
    r = row(reg, "table1b_missing_rows")
    assert r.section == "Table 1B" and r.statistic == "note" and math.isnan(r.value)
    assert "No HSCT history" in r.note and "ICANS" in r.note
    b = reg.loc[reg["section"].eq("Table 1B") & reg["table_column"].ne("")]
    assert b["note"].str.contains("extraction garbled").all()


# ============================================================================================
# Completeness against the text
# ============================================================================================

def test_text_fixture_has_every_results_section(paper_text):
    assert set(paper_text) == set(TEXT_TO_REGISTRY)


@pytest.mark.parametrize("section", list(TEXT_TO_REGISTRY))
def test_every_number_in_the_text_is_registered(reg, paper_text, section):
    printed = Counter(paper_text[section]["numbers"])
    rows = reg.loc[reg["section"].isin(TEXT_TO_REGISTRY[section])]
    registered = registry_numbers(rows)
    missing = printed - registered
    extra = registered - printed
    assert not missing, f"printed in {section} but not registered: {dict(missing)}"
    assert not extra, f"registered for {section} but not printed there: {dict(extra)}"


@pytest.mark.parametrize("section", list(TEXT_TO_REGISTRY))
def test_fraction_denominators_are_registered_as_n(reg, paper_text, section):
    denominators = paper_text[section]["denominators"]
    rows = reg.loc[reg["section"].isin(TEXT_TO_REGISTRY[section])]
    ns = {str(int(v)) for v in rows["n"].dropna()}
    assert set(denominators) <= ns


def test_number_extraction_hand_cases():
    t = ("median of 30,860 copies/µg (range 1,602-1,890,000) in 98% (49/50); CD19 and IL-6 "
         "(12, 13); 5-year OS 74.9% (95% CI, 64.8–85.1%); MRD < $10^{-4}$; "
         "3.68 × $10^6$ cells/kg; grade p 3 CRS; Supplementary Figure S3; June 30, 2025")
    nums, den = printed_numbers(t)
    assert nums == Counter(["30860", "1602", "1890000", "98", "49", "74.9", "64.8", "85.1",
                            "3.68", "30", "2025"])
    assert den == ["50"]


def test_word_numbers_are_registered(reg):
    # The regular expression sees digits only; the numbers the paper writes as words:
    words = {"n_cr_d28": 49, "n_relapse": 15, "n_tocilizumab": 14, "n_hlh": 1,
             "n_gvhd_prior_hsct": 0, "n_bm_timepoints": 2, "methods_lloq_consecutive": 2,
             "ext_zuma3_one_prior_line": 1, "ext_expansion_peak_weeks": 2}
    for key, v in words.items():
        assert row(reg, key).value == v, key


# ============================================================================================
# Spot checks (read from the paper by hand)
# ============================================================================================

def test_spot_checks(reg):
    r = row(reg, "os_5y")  # Treatment outcomes: 74.9% [95% CI, 64.8–85.1%]
    assert (r.value, r.lower, r.upper, r.interval_type, r.unit, r.section) == \
        (74.9, 64.8, 85.1, "ci95", "%", "Treatment outcomes")
    r = row(reg, "lfs_5y")
    assert (r.value, r.lower, r.upper) == (67.8, 57.5, 78.0)
    r = row(reg, "hr_female_lfs")  # Table 1A Female 0.235 0.062,0.884 0.032
    assert (r.section, r.table_row, r.table_column, r.value, r.lower, r.upper) == \
        ("Table 1A", "Female", "HR (95%CI)", 0.235, 0.062, 0.884)
    assert row(reg, "hr_female_lfs_p").value == 0.032
    r = row(reg, "cmax_median")  # PK: 30,860 (range 1,602-1,890,000)
    assert (r.value_text, r.value, r.lower, r.upper, r.interval_type, r.unit) == \
        ("30,860", 30860.0, 1602.0, 1890000.0, "range", "copies/µg DNA")
    r = row(reg, "t3_steroids_yes_cmax_median")  # Table 3 Steroids Yes 7 135522
    assert (r.table_row, r.table_column, r.value, r.n) == \
        ("Steroids | Yes", "Median Cmax", 135522.0, 7)
    r = row(reg, "or_severe_crs_female")  # Table 2 female 0.544(0.361-0.821) 0.055
    assert (r.value, r.lower, r.upper, r.table_column) == \
        (0.544, 0.361, 0.821, "OR (95%CI) univariate")
    assert row(reg, "or_severe_crs_female_p").value_text == "0.055"
    r = row(reg, "mv2_or_female")
    assert (r.lower, r.upper) == (0.017, 62.07) and "typo" in r.note
    r = row(reg, "t3_pre_ld_mrd_1e3_lt1e3_n")  # Pre-LD MRD <10^-3: 29
    assert (r.table_row, r.value) == ("Pre-LD MRD | <10^-3", 29.0)
    r = row(reg, "il6_peak_median")  # 33.3 pg/mL (range 7.6 to >5000)
    assert (r.value, r.lower, r.upper, r.interval_text, r.unit) == \
        (33.3, 7.6, 5000.0, "7.6 to >5000", "pg/mL")
    r = row(reg, "nrm_pre_ld_low_hsct")  # 15.4% ± 1.1%
    assert (r.value, r.se, r.interval_type) == (15.4, 1.1, "pm_se")
    r = row(reg, "r_bca_tlast_p")
    assert (r.value_text, r.value) == ("<0.001", 0.001)
    r = row(reg, "followup_median_months")  # 68.7 months (range: 5.9-97.5)
    assert (r.value, r.lower, r.upper, r.unit) == (68.7, 5.9, 97.5, "months")
    r = row(reg, "methods_lloq")
    assert (r.value, r.unit) == (100.0, "copies/µg DNA")
    assert (row(reg, "methods_ld_fludarabine").value,
            row(reg, "methods_ld_cyclophosphamide").value) == (30.0, 300.0)
    r = row(reg, "methods_cutoff_date")
    assert (r.value_text, r.unit) == ("June 30, 2025", "date") and math.isnan(r.value)
    assert row(reg, "hsct_after_cart_pct").value == 64.0
    r = row(reg, "dose_threshold_text")
    assert r.value == 3.66 and "dose_cut" in r.audit


def test_duplicates_point_to_the_canonical_row(reg):
    dup = dict(zip(reg["key"], reg["duplicate_of"]))
    assert dup["abstract_os_5y"] == dup["disc_os_5y"] == dup["disc_os_5y_again"] == "os_5y"
    assert dup["abstract_mrd_cr_p_cmax"] == dup["pk_mrd_cr_p_cmax"] == "t3_mrd_cr_d28_p_cmax"
    assert dup["pk_steroids_p_auc28"] == "t3_steroids_p_auc28"
    assert dup["outcomes_hr_female_lfs"] == "hr_female_lfs"
    assert dup["disc_nrm_pre_ld_low_hsct"] == "nrm_pre_ld_low_hsct"
    assert dup["abstract_r_bca_tlast"] == "r_bca_tlast"
    assert dup["n_steroids"] == "t3_steroids_yes_n"
    # Every Abstract and Discussion number about this cohort repeats one given elsewhere,
    # except the share bridged to HSCT, first printed as a percentage in the Discussion.
    ab = reg.loc[reg["section"].isin(["Abstract", "Discussion"]) & reg["duplicate_of"].eq("")]
    assert list(ab["key"]) == ["hsct_after_cart_pct"]


def test_canonical_rows(reg):
    c = rg.canonical(reg)
    assert c["duplicate_of"].eq("").all() and not c["section"].isin(rg.EXTERNAL_SECTIONS).any()
    assert "table1b_missing_rows" not in set(c["key"])
    assert c["key"].is_unique and len(c) < len(reg)
    assert len(rg.canonical(reg, include_external=True)) == \
        len(c) + reg["section"].eq("Discussion (external)").sum()


def test_external_numbers_are_marked(reg):
    ext = reg.loc[reg["section"].eq("Discussion (external)")]
    assert ext["quantity"].str.startswith("not this study").all()
    assert ext["duplicate_of"].eq("").all()
    for key, v in (("ext_institutional_os_5y", 49.8), ("ext_institutional_cir", 60.2),
                   ("ext_eliana_orr", 81.0)):
        r = row(reg, key)
        assert r.section == "Discussion (external)" and r.value == v
    assert row(reg, "ext_institutional_os_5y").se == 4.3
    # This cohort's numbers in the Discussion are not external.
    assert row(reg, "disc_nrm_pre_ld_low_hsct").section == "Discussion"


def test_audit_and_calibration_keys_exist(reg):
    from analysis_lib.paper import feasibility
    from analysis_lib.synthetic import calibration
    findings = {f.key for f in feasibility.FINDINGS}
    targets = {t.key for t in calibration.TARGETS}
    for col, known in (("audit", findings), ("calibration", targets)):
        used = {k for v in reg[col] if v for k in v.split(";")}
        assert used <= known, f"unknown {col} keys: {used - known}"
    # Every finding and every target refers to at least one registered number.
    assert findings <= {k for v in reg["audit"] if v for k in v.split(";")}
    assert targets <= {k for v in reg["calibration"] if v for k in v.split(";")}
