"""Template files for a user's own cohort: generated from the schemas, accepted by the
project's readers and validator once filled, deterministic, and written atomically."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from analysis_lib.book.pipeline import ROOT
from analysis_lib.data import io as cio
from analysis_lib.data import templates
from analysis_lib.data.schema import PATIENTS, TABLES
from analysis_lib.data.validation import load_dataset, validate_dir
from analysis_lib.synthetic import centres

SHIPPED = ROOT / "data" / "synthetic"


@pytest.fixture(scope="module")
def tpl(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    templates.write_templates(out)
    return out


def _typed_cell(text: str) -> object:
    """A cell as a user typing into Excel would leave it: numbers as numbers, true/false as
    Excel booleans, empty as an empty cell, everything else as text."""
    if text == "":
        return None
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _fill_workbook(template: Path, out: Path, rows: dict[str, pd.DataFrame]) -> None:
    wb = openpyxl.load_workbook(template)
    for name, frame in rows.items():
        ws = wb[name]
        header = [c.value for c in ws[1]]
        for rec in frame[header].itertuples(index=False):
            ws.append([_typed_cell(v) for v in rec])
    wb.save(out)


def _shipped_raw() -> dict[str, pd.DataFrame]:
    return {t.name: cio.read_raw(SHIPPED / f"{t.name}.csv", t.name).frame for t in TABLES}


# --------------------------------------------------------------------------------------------
# columns come from the schemas
# --------------------------------------------------------------------------------------------

def test_csv_templates_have_exactly_the_schema_columns(tpl: Path):
    for t in TABLES:
        raw = cio.read_raw(tpl / f"{t.name}.csv", t.name)
        assert list(raw.frame.columns) == t.names
        assert len(raw.frame) == 0


def test_excel_template_has_a_sheet_per_table_and_a_dictionary(tpl: Path):
    wb = openpyxl.load_workbook(tpl / templates.XLSX_NAME)
    assert wb.sheetnames == [t.name for t in TABLES] + [templates.DICTIONARY_SHEET]
    for t in TABLES:
        assert [c.value for c in wb[t.name][1]] == t.names
        assert wb[t.name].max_row == 1
    dic = pd.read_excel(tpl / templates.XLSX_NAME, sheet_name=templates.DICTIONARY_SHEET,
                        dtype=str, keep_default_na=False)
    assert list(dic.columns) == list(templates.DICTIONARY_COLUMNS)
    expected = [(t.name, f.name) for t in TABLES for f in t.fields]
    assert list(zip(dic["table"], dic["column"])) == expected
    row = dic[(dic["table"] == "patients") & (dic["column"] == "d28_response")].iloc[0]
    assert all(c in row["allowed_values"] for c in PATIENTS.field("d28_response").categories)
    assert "`" not in "".join(dic["allowed_values"])


def test_excel_dropdowns_list_the_allowed_values(tpl: Path):
    from openpyxl.utils import get_column_letter

    wb = openpyxl.load_workbook(tpl / templates.XLSX_NAME)
    for t in TABLES:
        ws = wb[t.name]
        lists = {str(dv.sqref).split(":")[0]: dv.formula1.strip('"').split(",")
                 for dv in ws.data_validations.dataValidation}
        for j, f in enumerate(t.fields, start=1):
            cell = f"{get_column_letter(j)}2"
            if f.kind == "category":
                assert lists[cell] == list(f.categories), f.name
            elif f.kind == "boolean":
                assert lists[cell] == ["true", "false"], f.name
            else:
                assert cell not in lists, f.name
        text = [get_column_letter(j) for j, f in enumerate(t.fields, start=1)
                if f.kind in ("id", "boolean")]
        assert text and all(ws.column_dimensions[c].number_format == "@" for c in text)


# --------------------------------------------------------------------------------------------
# empty and filled templates through the validator
# --------------------------------------------------------------------------------------------

def test_empty_csv_templates_report_only_empty_tables(tpl: Path, tmp_path: Path):
    for t in TABLES:
        shutil.copy(tpl / f"{t.name}.csv", tmp_path / f"{t.name}.csv")
    report = validate_dir(tmp_path)
    assert report.rules() == {"empty_table"}
    assert {p.file for p in report.problems} == {f"{t.name}.csv" for t in TABLES}
    proc = subprocess.run([sys.executable, "-m", "analysis_lib.cli", "validate", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 3
    assert "has no rows" in proc.stdout


def test_csv_templates_filled_with_the_shipped_cohort_validate(tpl: Path, tmp_path: Path):
    raw = _shipped_raw()
    for t in TABLES:
        header = (tpl / f"{t.name}.csv").read_text(encoding="utf-8")
        body = raw[t.name][t.names].to_csv(index=False, header=False, lineterminator="\n")
        (tmp_path / f"{t.name}.csv").write_text(header + body, encoding="utf-8")
    report = validate_dir(tmp_path)
    assert report.ok, report.to_text()
    expected = load_dataset(SHIPPED).tables
    for t in TABLES:
        pd.testing.assert_frame_equal(report.tables[t.name], expected[t.name])


def test_filled_excel_template_is_read_by_the_project_reader(tpl: Path, tmp_path: Path):
    raw = _shipped_raw()
    few = {"patients": raw["patients"].head(3),
           "kinetics": raw["kinetics"][raw["kinetics"]["patient_id"].isin(
               raw["patients"]["patient_id"].head(3))]}
    filled = tmp_path / "filled.xlsx"
    _fill_workbook(tpl / templates.XLSX_NAME, filled, few)
    for t in TABLES:
        got = cio.read_raw(filled, t.name)
        assert list(got.frame.columns) == t.names
        assert got.row_number(0) == 2 and got.row_unit == "row"
        pd.testing.assert_frame_equal(got.frame, few[t.name].reset_index(drop=True)[t.names],
                                      check_dtype=False)


def test_filled_excel_template_with_the_shipped_cohort_validates(tpl: Path, tmp_path: Path):
    filled = tmp_path / "filled.xlsx"
    _fill_workbook(tpl / templates.XLSX_NAME, filled, _shipped_raw())
    data = tmp_path / "data"
    data.mkdir()
    for t in TABLES:  # the same workbook twice: each reader takes its own sheet
        shutil.copy(filled, data / f"{t.name}.xlsx")
    report = validate_dir(data)
    assert report.ok, report.to_text()
    expected = load_dataset(SHIPPED).tables
    for t in TABLES:
        pd.testing.assert_frame_equal(report.tables[t.name], expected[t.name])


def test_a_bad_value_in_the_excel_template_is_reported_at_its_sheet_row(tpl: Path,
                                                                        tmp_path: Path):
    raw = _shipped_raw()
    pats = raw["patients"].head(2).copy()
    pats.loc[pats.index[1], "sex"] = "mail"
    kin = raw["kinetics"][raw["kinetics"]["patient_id"].isin(pats["patient_id"])]
    filled = tmp_path / "filled.xlsx"
    _fill_workbook(tpl / templates.XLSX_NAME, filled, {"patients": pats, "kinetics": kin})
    data = tmp_path / "data"
    data.mkdir()
    for t in TABLES:
        shutil.copy(filled, data / f"{t.name}.xlsx")
    report = validate_dir(data)
    assert [(p.file, p.row, p.column, p.value, p.rule) for p in report.problems] == [
        ("patients.xlsx", 3, "sex", "mail", "category")]


# --------------------------------------------------------------------------------------------
# determinism, formats, atomicity, command line
# --------------------------------------------------------------------------------------------

def test_templates_are_byte_identical_on_rerun(tmp_path: Path, monkeypatch):
    first = {p.name: p.read_bytes() for p in templates.write_templates(tmp_path / "a")}
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3 * 86400 + 7)  # zip member times
    second = {p.name: p.read_bytes() for p in templates.write_templates(tmp_path / "b")}
    assert first == second
    assert set(first) == {"patients.csv", "kinetics.csv", templates.XLSX_NAME}


def test_format_selection_and_unknown_format(tmp_path: Path):
    assert [p.name for p in templates.write_templates(tmp_path / "c", ["csv"])] == [
        "patients.csv", "kinetics.csv"]
    assert [p.name for p in templates.write_templates(tmp_path / "x", ["xlsx"])] == [
        templates.XLSX_NAME]
    with pytest.raises(ValueError, match="unknown template format"):
        templates.write_templates(tmp_path / "bad", ["csv", "ods"])
    assert not (tmp_path / "bad").exists()


def test_failed_write_leaves_no_partial_files(tmp_path: Path, monkeypatch):
    def boom(tables=TABLES):
        raise RuntimeError("disk full")

    monkeypatch.setattr(templates, "xlsx_template_bytes", boom)
    with pytest.raises(RuntimeError):
        templates.write_templates(tmp_path / "t")
    assert not (tmp_path / "t").exists() or not any((tmp_path / "t").iterdir())


def test_cli_template_command(tmp_path: Path):
    cmd = [sys.executable, "-m", "analysis_lib.cli", "template"]
    proc = subprocess.run(cmd + ["--out", str(tmp_path / "both")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "both").iterdir()) == sorted(
        ["patients.csv", "kinetics.csv", templates.XLSX_NAME])
    proc = subprocess.run(cmd + ["--out", str(tmp_path / "csv"), "--format", "csv"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["kinetics.csv",
                                                                    "patients.csv"]
    assert (tmp_path / "csv" / "patients.csv").read_bytes() == (
        tmp_path / "both" / "patients.csv").read_bytes()
    proc = subprocess.run(cmd + ["--out", str(tmp_path / "o"), "--format", "ods"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and not (tmp_path / "o").exists()
    (tmp_path / "file").write_text("x")
    proc = subprocess.run(cmd + ["--out", str(tmp_path / "file")], capture_output=True, text=True)
    assert proc.returncode == 2 and "not a directory" in proc.stderr



# --------------------------------------------------------------------------------------------
# the how-to chapter's broken example and the worked example's definition
# --------------------------------------------------------------------------------------------

def test_broken_example_gives_exactly_one_problem_per_planted_mistake(tmp_path: Path):
    tables = load_dataset(SHIPPED).tables
    made = templates.broken_example(tables["patients"], tables["kinetics"], tmp_path)
    report = validate_dir(tmp_path)
    assert report.synthetic
    assert made.n_patients == 3
    ids = set(tables["patients"]["patient_id"].head(3))
    assert made.n_samples == int(tables["kinetics"]["patient_id"].isin(ids).sum())
    raws = {t.name: cio.read_raw(tmp_path / f"{t.name}.csv", t.name) for t in TABLES}
    expected = sorted((f"{m.table}.csv", raws[m.table].row_number(m.record), m.column, m.value,
                       m.rule) for m in made.mistakes)
    got = sorted((p.file, p.row, p.column, p.value, p.rule) for p in report.problems)
    assert got == expected
    assert {m.rule for m in made.mistakes} == {"calendar_date", "category", "required_value",
                                               "unknown_patient"}
    with pytest.raises(ValueError, match="at least 3 patients"):
        templates.broken_example(tables["patients"].head(2), tables["kinetics"], tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_centre_b_is_a_different_cohort_and_the_contrast_counts_it():
    from analysis_lib.synthetic.generator import DEFAULT_SEED, PUBLISHED_N, SyntheticParams

    c = centres.CENTRE_B
    assert c.n != PUBLISHED_N and c.seed != DEFAULT_SEED
    changes = c.changes()
    assert len(changes) == len(c.overrides)
    for row in changes.itertuples(index=False):
        assert row[1] == getattr(SyntheticParams(), row[0]) != row[2]
    patients = c.generate().patients
    table = centres.contrast_table({"b": patients}).set_index("characteristic")["b"]
    assert table["Patients"] == str(len(patients)) == str(c.n)
    k = int((patients["sex"] == "female").sum())
    assert table["Female"].startswith(f"{k} (")
