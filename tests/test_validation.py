"""Validator tests: a valid hand-written dataset and a corpus of bad inputs.

``tests/data/valid/`` holds a small valid dataset (real-data style: no metadata lines).
``tests/data/bad/<case>/`` each hold a copy of it with one deliberate defect (several in
``many_errors``) and ``expected.csv`` listing exactly the problems (file, row, column, rule) the
validator must report. ``tests/data/bad/README.md`` describes every case. Parquet and Excel
inputs are written at test time from the valid CSV files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis_lib.data.io import write_table
from analysis_lib.data.validation import (
    RULES,
    DataValidationError,
    Problem,
    load_dataset,
    problems_for,
    validate_dir,
)

DATA = Path(__file__).parent / "data"
VALID = DATA / "valid"
BAD = DATA / "bad"
READ = DATA / "readable"
CASES = sorted(p.name for p in BAD.iterdir() if (p / "expected.csv").is_file())
READABLE = sorted(p.name for p in READ.iterdir() if p.is_dir())
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _key(p: Problem) -> tuple[str, str, str, str]:
    return (p.file, "" if p.row is None else str(p.row), p.column, p.rule)


def _expected(case: str) -> set[tuple[str, str, str, str]]:
    with open(BAD / case / "expected.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, f"{case}/expected.csv lists no problem"
    return {(r["file"], r["row"], r["column"], r["rule"]) for r in rows}


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def _cells_by_line(path: Path) -> dict[int, dict[str, str]]:
    """Independent reading of a CSV file: line number on which each record starts -> cells
    by column name (first occurrence of a duplicated name; names stripped of spaces),
    skipping ``#`` metadata lines, a ``sep=`` line and blank lines. The separator is the one
    of , ; tab that splits the header into the most fields."""
    text = _decode(path)
    lines = [ln for ln in io.StringIO(text, newline="").read().splitlines()
             if ln.strip() and not ln.startswith("#") and not ln.startswith("sep=")]
    sep = max(",;\t", key=lambda c: len(next(csv.reader([lines[0]], delimiter=c)))) \
        if lines else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header: list[str] | None = None
    out: dict[int, dict[str, str]] = {}
    prev = 0
    for rec in reader:
        start, prev = prev + 1, reader.line_num
        if not any(c.strip() for c in rec):
            continue
        if header is None:
            if rec[0].startswith(("#", "sep=")):
                continue
            header = [h.strip(" \u00a0\ufeff") for h in rec]
            continue
        cells: dict[str, str] = {}
        for name, value in zip(header, rec):
            cells.setdefault(name, value)
        out[start] = cells
    return out


def _valid_frames() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(VALID / f"{name}.csv", dtype=str, keep_default_na=False)
            for name in ("patients", "kinetics")}


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "analysis_lib.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=300)


# --------------------------------------------------------------------------------------------
# the valid dataset
# --------------------------------------------------------------------------------------------

def test_valid_dataset_has_no_problems():
    report = validate_dir(VALID)
    assert report.problems == [], report.to_text()
    assert report.ok
    assert not report.synthetic
    assert set(report.tables) == {"patients", "kinetics"}
    assert len(report.tables["patients"]) == 6
    assert len(report.tables["kinetics"]) == 28


def test_valid_dataset_typed_values():
    pts = load_dataset(VALID, pseudonymise=False).tables["patients"].set_index("patient_id")
    kin = validate_dir(VALID).tables["kinetics"]
    # relapsed CD19-negative, died of leukaemia on the last follow-up day
    assert pts.loc["P01", "relapse_cd19"] == "negative"
    assert pts.loc["P01", "death_cause"] == "leukemia"
    assert pts.loc["P01", "death_day"] == pts.loc["P01", "last_followup_day"] == 300
    # transplanted after infusion, transplant-related death
    assert bool(pts.loc["P02", "hsct_after"]) and pts.loc["P02", "hsct_day"] == 60
    assert pts.loc["P02", "death_cause"] == "transplant_related"
    # prior HSCT, no GVHD; others have GVHD empty
    assert bool(pts.loc["P03", "prior_hsct"]) and pts.loc["P03", "gvhd"] == False  # noqa: E712
    assert pts["gvhd"].isna().sum() == 5
    # non-responder without B-cell aplasia
    assert pts.loc["P04", "d28_response"] == "nr"
    assert not bool(pts.loc["P04", "bca"]) and pd.isna(pts.loc["P04", "bca_onset_day"])
    # IL-6 above the upper limit of quantification
    assert bool(pts.loc["P06", "il6_peak_above_uloq"]) and pts.loc["P06", "il6_peak_pg_per_ml"] == 5000
    # below-LLOQ samples: flag true and level missing
    blq = kin[kin["below_lloq"] == True]  # noqa: E712
    assert len(blq) == 9 and blq["copies_per_ug_dna"].isna().all()
    assert kin.loc[kin["patient_id"] == "P06", "lloq_copies_per_ug_dna"].eq(50).all()


# --------------------------------------------------------------------------------------------
# the corpus of bad inputs
# --------------------------------------------------------------------------------------------

def test_corpus_is_present():
    assert len(CASES) >= 90
    assert len(READABLE) >= 10


def test_every_case_is_described_in_the_readme():
    readme = (BAD / "README.md").read_text(encoding="utf-8")
    for case in CASES:
        assert f"| `{case}` |" in readme, case
    readme = (READ / "README.md").read_text(encoding="utf-8")
    for case in READABLE:
        assert f"| `{case}` |" in readme, case


@pytest.mark.parametrize("case", READABLE)
def test_readable_exports_give_the_valid_tables(case):
    """Exports that differ from the valid files only in their form (separator, line ends,
    encoding, blank and comment lines, padding, file-name case) are read to the same tables."""
    report = validate_dir(READ / case)
    assert report.ok, report.to_text(per_rule=None)
    for name, frame in validate_dir(VALID).tables.items():
        pd.testing.assert_frame_equal(report.tables[name], frame)


def test_decimal_commas_are_read_with_the_european_dialect():
    report = validate_dir(BAD / "decimal_comma_semicolon_bom",
                          csv_dialect="semicolon-decimal-comma")
    assert report.ok, report.to_text()
    for name, frame in validate_dir(VALID).tables.items():
        pd.testing.assert_frame_equal(report.tables[name], frame)
    msg = validate_dir(BAD / "decimal_comma_semicolon_bom").problems[0].message
    assert "semicolon-separated export with decimal commas" in msg
    assert "--csv-dialect semicolon-decimal-comma" in msg and "'7,5'" in msg and "line 2" in msg


def test_decimal_comma_dialect_refuses_points_as_ambiguous(tmp_path):
    d = tmp_path / "d"
    shutil.copytree(BAD / "decimal_comma_semicolon_bom", d)
    path = d / "patients.csv"
    path.write_text(path.read_text(encoding="utf-8-sig").replace("7,5", "7.5"), encoding="utf-8")
    problems = validate_dir(d, csv_dialect="semicolon-decimal-comma").problems
    assert [(p.row, p.column, p.rule) for p in problems] == [(2, "age_years", "type")]
    assert "comma" in problems[0].message


def test_messages_guess_the_cause_of_common_export_mistakes():
    def messages(case: str) -> str:
        return "\n".join(p.message for p in validate_dir(BAD / case).problems)

    assert "there is '0004'" in messages("leading_zeros_lost")
    assert "below_lloq = true" in messages("blq_written_as_text")
    assert "limit such as <0.01" in messages("blq_written_as_text")
    assert "there is 'P02'" in messages("patient_code_case")
    assert "did you mean 'male'?" in messages("category")
    assert "2021-04-01" in messages("spreadsheet_date_serials")
    assert "decimal comma" in messages("decimal_comma_quoted")
    assert "lower case" in messages("column_name_case")
    assert "R's row names" in messages("r_row_names") and "pandas index" in messages(
        "pandas_index")
    assert "line 3, not on line 1" in messages("header_below_title_lines")
    assert "holds the kinetics table" in messages("files_swapped")
    assert "repeats the header row" in messages("export_appended_twice")
    assert "never closed" not in messages("unclosed_quote")  # it says where it is closed
    assert "runs from line 10 to line 29" in messages("unclosed_quote")
    assert "Excel 97-2003" in messages("near_miss_file_names")
    assert "HTML" in messages("html_page_named_csv")


def test_a_wrong_dialect_option_is_named(tmp_path):
    problems = validate_dir(READ / "tab_separated", csv_dialect="comma").problems
    assert {(p.file, p.rule) for p in problems} == {("patients.csv", "wrong_separator"),
                                                   ("kinetics.csv", "wrong_separator")}
    assert "tab-separated" in problems[0].message
    with pytest.raises(ValueError):
        validate_dir(VALID, csv_dialect="excel")


@pytest.mark.parametrize("case", CASES)
def test_corpus_case_reports_exactly_the_expected_problems(case):
    report = validate_dir(BAD / case)
    got = [_key(p) for p in report.problems]
    assert len(got) == len(set(got)), f"a problem is reported twice: {got}"
    expected = _expected(case)
    assert set(got) == expected, (
        f"\nmissing: {sorted(expected - set(got))}\nspurious: {sorted(set(got) - expected)}"
        f"\n{report.to_text(per_rule=None)}")
    assert not report.ok
    assert report.tables == {}


@pytest.mark.parametrize("case", CASES)
def test_corpus_problems_have_messages(case):
    for p in validate_dir(BAD / case).problems:
        assert isinstance(p.message, str) and p.message.strip(), p
        assert p.rule in RULES, p


@pytest.mark.parametrize("case", CASES)
def test_corpus_values_echo_the_cell_as_written(case):
    d = BAD / case
    for p in validate_dir(d).problems:
        if p.row is None or p.column == "":  # a file, a column or a whole record
            if p.rule == "ambiguous_file":
                assert p.value == "patients.csv, patients.xlsx"
            else:
                assert p.value == "", p
            continue
        cells = _cells_by_line(d / p.file)
        assert p.row in cells, f"{p.file} line {p.row} does not start a record: {p}"
        assert p.value == cells[p.row][p.column], p


def test_every_rule_is_exercised_by_the_corpus(tmp_path):
    """Every rule is expected by a committed case, a generated case (tests/hostile_corpus.py)
    or, for wrong_separator (an option, not a file), test_a_wrong_dialect_option_is_named."""
    import hostile_corpus

    used: set[str] = {"wrong_separator"}
    for case in CASES:
        used |= {rule for *_, rule in _expected(case)}
    for name in hostile_corpus.CASES:
        if name in ("pipe_named_like_a_table", "names_differing_only_in_case"):
            continue  # platform-dependent; their rules are exercised elsewhere too
        expected = hostile_corpus.build(name, tmp_path)[1]
        if expected != hostile_corpus.READABLE:
            used |= {rule for *_, rule in expected}
    assert used <= set(RULES), f"unknown rule names in expected.csv: {used - set(RULES)}"
    assert set(RULES) - used == set(), f"rules never exercised: {sorted(set(RULES) - used)}"


def test_many_errors_reports_every_problem_in_both_files():
    report = validate_dir(BAD / "many_errors")
    assert {p.file for p in report.problems} == {"patients.csv", "kinetics.csv"}
    assert len(report.problems) == len(_expected("many_errors")) >= 8
    levels = {p.row is None for p in report.problems}
    assert levels == {True, False}  # column-level and cell-level problems together


def test_problems_are_sorted_by_severity_then_table_then_row():
    """Columns before cells before row checks before links between tables; within a level,
    patients before kinetics, rows in order."""
    problems = validate_dir(BAD / "many_errors").problems
    levels = [p.severity for p in problems]
    assert levels == sorted(levels)
    assert problems[0].row is None  # column problems first
    assert [p.rule for p in problems][-2:] == ["unknown_patient", "sample_after_last_followup"]
    for level in set(levels):
        group = [p for p in problems if p.severity == level]
        keys = [(p.file != "patients.csv", p.row or 0) for p in group]
        assert keys == sorted(keys), level
    structural = validate_dir(BAD / "near_miss_file_names").problems
    assert [p.file for p in structural] == ["patients.csv", "kinetics.csv"]


# --------------------------------------------------------------------------------------------
# read-only, errors, text report and CLI
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["valid", "many_errors", "ambiguous_file", "field_count_thousands",
                                  "missing_file", "synthetic_flag_mixed", "no_header",
                                  "latin1_export"])
def test_validation_never_writes_into_the_data_directory(tmp_path, case):
    src = VALID if case == "valid" else BAD / case
    data = tmp_path / "data"
    shutil.copytree(src, data)
    before = _snapshot(tmp_path)
    validate_dir(data)
    try:
        load_dataset(data)
    except DataValidationError:
        pass
    assert _cli("validate", str(data)).returncode in (0, 3)
    assert _snapshot(tmp_path) == before


def test_validation_never_writes_into_the_committed_corpus():
    before = _snapshot(DATA)
    for case in CASES:
        validate_dir(BAD / case)
    validate_dir(VALID)
    assert _snapshot(DATA) == before


def test_load_dataset_returns_tables_for_valid_data():
    report = load_dataset(VALID)
    assert report.ok and set(report.tables) == {"patients", "kinetics"}


def test_load_dataset_raises_naming_file_row_column_and_rule():
    with pytest.raises(DataValidationError) as err:
        load_dataset(BAD / "category")
    msg = str(err.value)
    assert "patients.csv:2" in msg
    assert "[sex]" in msg
    assert "category" in msg
    assert "'M'" in msg
    assert [_key(p) for p in err.value.report.problems] == [("patients.csv", "2", "sex", "category")]


def test_load_dataset_error_lists_every_problem():
    with pytest.raises(DataValidationError) as err:
        load_dataset(BAD / "many_errors")
    msg = str(err.value)
    for p in err.value.report.problems:
        where = p.file if p.row is None else f"{p.file}:{p.row}"
        assert where in msg and p.rule in msg


def test_to_text_lists_every_problem():
    report = validate_dir(BAD / "many_errors")
    text = report.to_text(per_rule=None)
    lines = text.splitlines()
    assert f"{len(report.problems)} problem(s)" in lines[0]
    assert "many_errors" in lines[0] and str(BAD) not in text  # the folder's name, no path
    problem_lines = [ln for ln in lines[1:] if ln.startswith("  ")]
    assert len(problem_lines) == len(report.problems)
    for p, line in zip(report.problems, problem_lines):
        where = p.file if p.row is None else f"{p.file}:{p.row}"
        assert line.strip().startswith(where), line
        assert f"[{p.column}]" in line and f": {p.rule}: " in line and p.message in line
    headings = [ln for ln in lines[1:] if not ln.startswith("  ")]
    assert headings == ["Columns:", "Cells:", "Rows:", "Across tables:"]
    assert report.to_text() == text  # the default cap (10 per rule) is not reached here
    short = report.to_text(per_rule=1)  # two type errors, one of every other rule
    assert [ln for ln in short.splitlines() if "… and" in ln] == [
        "  … and 1 more like this (type)"]
    assert len(short.splitlines()) == len(lines)


def test_to_text_caps_each_rule_so_no_rule_hides_another(tmp_path):
    """A flood of one rule (2,000 duplicated patients) is cut to 10 lines plus a count, and the
    single problem of another rule is still shown."""
    d = tmp_path / "d"
    shutil.copytree(VALID, d)
    lines = (VALID / "patients.csv").read_text().splitlines()
    body = [lines[1]] * 2000
    body.append(lines[2].replace("female", "F"))
    (d / "patients.csv").write_text("\n".join([lines[0], *body, *lines[3:]]) + "\n")
    report = validate_dir(d)
    assert len(problems_for(report.problems, "unique_id")) == 1999
    text = report.to_text()
    assert "  … and 1,989 more like this (unique_id)" in text
    assert "patients.csv:2002 [sex] value 'F': category" in text
    assert len(text.splitlines()) < 40
    assert len(report.to_text(per_rule=None).splitlines()) > 2000


def test_values_are_cut_and_escaped_in_reports(tmp_path):
    """A 1 MB cell with a terminal escape sequence and a column named with one: reported,
    shown escaped and cut, never echoed raw."""
    frames = _valid_frames()
    pts = frames["patients"]
    pts.loc[1, "sex"] = "female" + "\x1b[2J" + "x" * 1_000_000
    pts["\x1b]0;pwned\x07col"] = ""
    d = tmp_path / "d"
    d.mkdir()
    pts.to_csv(d / "patients.csv", index=False)
    frames["kinetics"].to_csv(d / "kinetics.csv", index=False)
    report = validate_dir(d)
    assert {(p.row, p.column, p.rule) for p in report.problems} == {
        (3, "sex", "control_character"), (None, "\x1b]0;pwned\x07col", "unknown_column")}
    text = report.to_text()
    assert "\x1b" not in text and "\x07" not in text  # no live escape sequence
    assert "\\x1b[2J" in text and "\\x1b]0;pwned\\x07col" in text  # shown escaped
    assert "(1,000,010 characters)" in text and max(map(len, text.splitlines())) < 800
    assert all(len(p.value) <= 200 for p in report.problems)


def test_to_text_for_valid_data():
    assert "no problems found" in validate_dir(VALID).to_text()


def test_cli_validate_bad_directory_exits_3_and_prints_problems():
    d = BAD / "many_errors"
    res = _cli("validate", str(d))
    assert res.returncode == 3, res.stderr
    for p in validate_dir(d).problems:
        where = p.file if p.row is None else f"{p.file}:{p.row}"
        assert where in res.stdout and p.rule in res.stdout, p


def test_cli_validate_valid_directory_exits_0():
    res = _cli("validate", str(VALID))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no problems found" in res.stdout
    assert "6 patients, 28 CAR-T samples" in res.stdout
    assert "synthetic" not in res.stdout


def test_cli_validate_missing_directory_exits_3(tmp_path):
    res = _cli("validate", str(tmp_path / "nowhere"))
    assert res.returncode == 3
    assert "missing_file" in res.stdout


# --------------------------------------------------------------------------------------------
# file-level cases built at test time
# --------------------------------------------------------------------------------------------

def test_missing_directory(tmp_path):
    report = validate_dir(tmp_path / "nowhere")
    assert [p.rule for p in report.problems] == ["missing_file"]
    assert report.problems[0].message


def test_empty_directory_reports_both_tables_missing(tmp_path):
    report = validate_dir(tmp_path)
    assert {_key(p) for p in report.problems} == {("patients.csv", "", "", "missing_file"),
                                                  ("kinetics.csv", "", "", "missing_file")}


def test_ambiguous_file_with_a_real_workbook(tmp_path):
    shutil.copytree(VALID, tmp_path / "d")
    write_table(_valid_frames()["kinetics"], tmp_path / "d" / "kinetics.xlsx")
    report = validate_dir(tmp_path / "d")
    assert [_key(p) for p in report.problems] == [("kinetics.csv", "", "", "ambiguous_file")]
    assert report.problems[0].value == "kinetics.csv, kinetics.xlsx"


def test_non_utf8_csv_is_unreadable_not_a_crash(tmp_path):
    shutil.copytree(VALID, tmp_path / "d")
    path = tmp_path / "d" / "patients.csv"
    path.write_bytes(path.read_text().replace("P06", "P\u00e96").encode("latin-1"))
    report = validate_dir(tmp_path / "d")
    assert [_key(p) for p in report.problems] == [("patients.csv", "7", "", "unreadable_file")]
    assert "UTF-8" in report.problems[0].message and "line 7" in report.problems[0].message


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx"])
def test_text_with_a_binary_name_is_the_wrong_format(tmp_path, suffix):
    shutil.copytree(VALID, tmp_path / "d")
    (tmp_path / "d" / "kinetics.csv").unlink()
    (tmp_path / "d" / f"kinetics{suffix}").write_bytes(b"this is not a table\n" * 10)
    report = validate_dir(tmp_path / "d")
    assert [_key(p) for p in report.problems] == [(f"kinetics{suffix}", "", "", "wrong_format")]
    assert "CSV" in report.problems[0].message


@pytest.mark.parametrize("suffix,magic", [(".parquet", b"PAR1"), (".xlsx", b"PK\x03\x04")])
def test_damaged_binary_file_is_unreadable(tmp_path, suffix, magic):
    shutil.copytree(VALID, tmp_path / "d")
    (tmp_path / "d" / "kinetics.csv").unlink()
    (tmp_path / "d" / f"kinetics{suffix}").write_bytes(magic + b"\x00\x01garbage" * 50)
    report = validate_dir(tmp_path / "d")
    assert [_key(p) for p in report.problems] == [(f"kinetics{suffix}", "", "", "unreadable_file")]


def test_synthetic_flag_on_every_file_is_not_a_problem(tmp_path):
    d = tmp_path / "d"
    for name, frame in _valid_frames().items():
        write_table(frame, d / f"{name}.csv", {"synthetic": "true"})
    report = validate_dir(d)
    assert report.ok and report.synthetic
    res = _cli("validate", str(d))
    assert res.returncode == 0 and "files marked synthetic" in res.stdout


def test_synthetic_flag_mixed_across_formats(tmp_path):
    d = tmp_path / "d"
    frames = _valid_frames()
    write_table(frames["patients"], d / "patients.parquet", {"synthetic": "true"})
    write_table(frames["kinetics"], d / "kinetics.xlsx", {"synthetic": "false"})
    report = validate_dir(d)
    assert [_key(p) for p in report.problems] == [
        ("patients.parquet, kinetics.xlsx", "", "", "synthetic_flag_mixed")]


# --------------------------------------------------------------------------------------------
# Parquet and Excel inputs (written at test time from the valid CSV files)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffixes", [(".parquet", ".parquet"), (".xlsx", ".xlsx"),
                                      (".parquet", ".xlsx"), (".xlsx", ".csv")])
def test_valid_data_in_other_formats(tmp_path, suffixes):
    d = tmp_path / "d"
    for (name, frame), suffix in zip(_valid_frames().items(), suffixes):
        write_table(frame, d / f"{name}{suffix}")
    report = validate_dir(d)
    assert report.ok, report.to_text()
    expected = validate_dir(VALID).tables
    for name in ("patients", "kinetics"):
        pd.testing.assert_frame_equal(report.tables[name], expected[name])


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx", ".csv"])
def test_typed_tables_round_trip_through_each_format(tmp_path, suffix):
    """Typed frames (Int64, boolean with missing, floats) written natively validate and load
    back identical."""
    typed = validate_dir(VALID).tables
    for name, frame in typed.items():
        write_table(frame, tmp_path / f"{name}{suffix}")
    report = validate_dir(tmp_path)
    assert report.ok, report.to_text()
    for name in typed:
        pd.testing.assert_frame_equal(report.tables[name], typed[name])


def _defective_frames() -> dict[str, pd.DataFrame]:
    """Valid frames with a category error on the 3rd patient and a type error on the 1st
    kinetics record."""
    frames = _valid_frames()
    frames["patients"].loc[2, "sex"] = "x"
    frames["kinetics"].loc[0, "lloq_copies_per_ug_dna"] = "hundred"
    return frames


def test_excel_rows_are_sheet_rows(tmp_path):
    # metadata lives on its own sheet, so it never shifts the data rows
    for name, frame in _defective_frames().items():
        write_table(frame, tmp_path / f"{name}.xlsx", {"synthetic": "false", "source": "test"})
    report = validate_dir(tmp_path)
    assert {_key(p) for p in report.problems} == {
        ("patients.xlsx", "4", "sex", "category"),
        ("kinetics.xlsx", "2", "lloq_copies_per_ug_dna", "type"),
    }
    assert {p.value for p in report.problems} == {"x", "hundred"}


def test_parquet_rows_are_record_numbers(tmp_path):
    for name, frame in _defective_frames().items():
        write_table(frame, tmp_path / f"{name}.parquet", {"synthetic": "false"})
    report = validate_dir(tmp_path)
    assert {_key(p) for p in report.problems} == {
        ("patients.parquet", "3", "sex", "category"),
        ("kinetics.parquet", "1", "lloq_copies_per_ug_dna", "type"),
    }


def test_csv_rows_count_metadata_lines(tmp_path):
    for name, frame in _defective_frames().items():
        write_table(frame, tmp_path / f"{name}.csv", {"synthetic": "false", "source": "test"})
    report = validate_dir(tmp_path)
    assert {_key(p) for p in report.problems} == {
        ("patients.csv", "6", "sex", "category"),
        ("kinetics.csv", "4", "lloq_copies_per_ug_dna", "type"),
    }


def test_csv_rows_count_quoted_line_breaks(tmp_path):
    shutil.copytree(VALID, tmp_path / "d")
    path = tmp_path / "d" / "kinetics.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("P01,7,", 'P01,"7\n",')  # a cell spanning lines 3-4
    lines[9] = lines[9].replace("30000", "lots")           # P02 day 14: now on line 11
    path.write_text("".join(lines))
    report = validate_dir(tmp_path / "d")
    assert [_key(p) for p in report.problems] == [("kinetics.csv", "11", "copies_per_ug_dna", "type")]


def test_excel_datetime_cells_are_calendar_dates(tmp_path):
    frames = _valid_frames()
    pts = frames["patients"].astype(object)
    pts.loc[0, "relapse_day"] = dt.datetime(2021, 6, 15)          # P01, sheet row 2
    kin = frames["kinetics"].astype(object)
    kin.loc[4, "day"] = dt.datetime(2021, 3, 15, 8, 30)            # P01 day 90, sheet row 6
    kin["visit"] = [dt.date(2021, 3, 1) if i == 3 else None for i in range(len(kin))]
    write_table(pts, tmp_path / "patients.xlsx")
    write_table(kin, tmp_path / "kinetics.xlsx")
    report = validate_dir(tmp_path)
    assert {_key(p) for p in report.problems} == {
        ("patients.xlsx", "2", "relapse_day", "calendar_date"),
        ("kinetics.xlsx", "6", "day", "calendar_date"),
        ("kinetics.xlsx", "", "visit", "direct_identifier"),
    }
    values = {p.column: p.value for p in report.problems}
    assert values["relapse_day"].startswith("2021-06-15")
    assert values["day"].startswith("2021-03-15")


def test_parquet_timestamp_column_is_calendar_date(tmp_path):
    frames = _valid_frames()
    kin = frames["kinetics"]
    kin["day"] = pd.Timestamp("2021-03-01") + pd.to_timedelta(kin["day"].astype(float), unit="D")
    write_table(frames["patients"], tmp_path / "patients.parquet")
    write_table(kin, tmp_path / "kinetics.parquet")
    report = validate_dir(tmp_path)
    assert {p.rule for p in report.problems} == {"calendar_date"}
    assert sorted(p.row for p in report.problems) == list(range(1, len(kin) + 1))


def test_excel_keeps_missing_like_text_as_written(tmp_path):
    """'n/a' is not a missing-value token: it is a type error in Excel exactly as in CSV."""
    frames = _valid_frames()
    frames["patients"].loc[4, "d28_mrd"] = "n/a"  # P05, nullable number
    for suffix in (".csv", ".xlsx"):
        d = tmp_path / suffix[1:]
        for name, frame in frames.items():
            write_table(frame, d / f"{name}{suffix}")
        problems = validate_dir(d).problems
        assert [(p.row, p.column, p.value, p.rule) for p in problems] == [
            (6, "d28_mrd", "n/a", "type")], suffix
