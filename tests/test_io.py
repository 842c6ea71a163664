"""Readers and writers: CSV, Parquet and Excel round trips, metadata, determinism, atomicity."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_lib.data import io as aio
from analysis_lib.data.io import TableReadError, find_table_files, read_raw, write_table
from analysis_lib.data.schema import PATIENTS

VALID = Path(__file__).parent / "data" / "valid"
SUFFIXES = [".csv", ".parquet", ".xlsx"]
META = {"synthetic": "true", "source": "unit test: round trip", "seed": "42"}


def _valid(name: str) -> pd.DataFrame:
    return pd.read_csv(VALID / f"{name}.csv", dtype=str, keep_default_na=False)


def _tricky_text_frame() -> pd.DataFrame:
    """Strings a reader could easily mangle."""
    vals = [" lead", "trail ", "007", "1.50", "1e5", "-0", "µg/DNA", "a,b", 'quo"te',
            "two\nlines", "NA", "n/a", "null", "true", "", "2021-03-04", "#x"]
    return pd.DataFrame({"v": vals, "n": [str(i) for i in range(len(vals))]})


def _typed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "i": np.array([1, -2, 3, 40000], dtype="int64"),
        "ni": pd.array([1, None, 3, 0], dtype="Int64"),
        "f": [0.1, 2.0, np.nan, 1e-4],
        "b": [True, False, True, False],
        "nb": pd.array([True, None, False, None], dtype="boolean"),
        "s": ["P01", "", None, "x y"],
    })


# --------------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("name", ["patients", "kinetics"])
def test_valid_tables_round_trip_as_strings(tmp_path, suffix, name):
    frame = _valid(name)
    path = write_table(frame, tmp_path / f"{name}{suffix}", META)
    raw = read_raw(path, name)
    pd.testing.assert_frame_equal(raw.frame, frame, check_dtype=False)
    assert list(raw.frame.columns) == list(frame.columns)
    assert raw.metadata == META
    assert all(isinstance(v, str) for v in raw.frame.to_numpy().ravel())


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_tricky_strings_round_trip(tmp_path, suffix):
    frame = _tricky_text_frame()
    raw = read_raw(write_table(frame, tmp_path / f"t{suffix}", META), "t")
    assert raw.frame["v"].tolist() == frame["v"].tolist()
    assert raw.metadata == META


def test_typed_frame_reads_back_as_the_same_strings_in_every_format(tmp_path):
    frame = _typed_frame()
    frames = {s: read_raw(write_table(frame, tmp_path / f"t{s}", META), "t").frame
              for s in SUFFIXES}
    expected = pd.DataFrame({
        "i": ["1", "-2", "3", "40000"],
        "ni": ["1", "", "3", "0"],
        "f": ["0.1", "2", "", "0.0001"],
        "b": ["true", "false", "true", "false"],
        "nb": ["true", "", "false", ""],
        "s": ["P01", "", "", "x y"],
    })
    for s, got in frames.items():
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, obj=s)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_metadata_preserved_and_empty_metadata(tmp_path, suffix):
    frame = _valid("kinetics")
    assert read_raw(write_table(frame, tmp_path / f"a{suffix}", META), "a").metadata == META
    assert read_raw(write_table(frame, tmp_path / f"b{suffix}"), "b").metadata == {}


@pytest.mark.parametrize("suffix,first,unit", [(".csv", 2, "line"), (".parquet", 1, "record"),
                                               (".xlsx", 2, "row")])
def test_row_numbers_by_format(tmp_path, suffix, first, unit):
    frame = _valid("kinetics")
    raw = read_raw(write_table(frame, tmp_path / f"k{suffix}"), "kinetics")
    assert (raw.first_row, raw.row_unit) == (first, unit)
    assert raw.row_number(0) == first and raw.row_number(9) == first + 9


def test_excel_reads_the_sheet_named_after_the_table(tmp_path):
    path = tmp_path / "kinetics.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        pd.DataFrame({"other": ["1"]}).to_excel(xw, sheet_name="notes", index=False)
        _valid("kinetics").to_excel(xw, sheet_name="kinetics", index=False)
    raw = read_raw(path, "kinetics")
    assert list(raw.frame.columns) == list(_valid("kinetics").columns)


# --------------------------------------------------------------------------------------------
# CSV metadata lines
# --------------------------------------------------------------------------------------------

def test_csv_metadata_lines_are_parsed(tmp_path):
    path = tmp_path / "kinetics.csv"
    body = (VALID / "kinetics.csv").read_text()
    path.write_text("# synthetic: true\n#source: generator: v1 \n# a comment without a key\n"
                    + body)
    raw = read_raw(path, "kinetics")
    assert raw.metadata == {"synthetic": "true", "source": "generator: v1"}
    assert raw.first_row == 5 and raw.row_number(0) == 5 and raw.row_number(27) == 32
    pd.testing.assert_frame_equal(raw.frame, _valid("kinetics"))


def test_csv_with_byte_order_mark(tmp_path):
    path = tmp_path / "kinetics.csv"
    path.write_bytes(b"\xef\xbb\xbf# synthetic: false\n" + (VALID / "kinetics.csv").read_bytes())
    raw = read_raw(path, "kinetics")
    assert raw.metadata == {"synthetic": "false"}
    assert list(raw.frame.columns)[0] == "patient_id"


def test_csv_writer_emits_metadata_lines_first(tmp_path):
    path = write_table(_valid("kinetics"), tmp_path / "k.csv", {"synthetic": "true"})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# synthetic: true"
    assert lines[1].startswith("patient_id,day,")
    assert b"\r\n" not in path.read_bytes()


def test_csv_without_header_is_unreadable(tmp_path):
    path = tmp_path / "k.csv"
    path.write_text("# synthetic: true\n")
    with pytest.raises(TableReadError):
        read_raw(path, "kinetics")


def test_csv_not_utf8_is_unreadable(tmp_path):
    path = tmp_path / "k.csv"
    path.write_bytes("patient_id\nP\u00e91\n".encode("latin-1"))
    with pytest.raises(TableReadError, match="UTF-8"):
        read_raw(path, "kinetics")


# --------------------------------------------------------------------------------------------
# determinism and atomic writes
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", SUFFIXES)
def test_write_table_is_deterministic(tmp_path, suffix, monkeypatch):
    # same file name in three directories (an Excel sheet is named after the file)
    frame = _valid("patients")
    first = write_table(frame, tmp_path / "a" / f"patients{suffix}", META).read_bytes()
    second = write_table(frame, tmp_path / "b" / f"patients{suffix}", META).read_bytes()
    assert first == second
    # a later run (zip members in .xlsx carry timestamps) still gives the same bytes
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3 * 86400 + 7)
    third = write_table(frame, tmp_path / "c" / f"patients{suffix}", META).read_bytes()
    assert first == third


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_write_table_depends_on_metadata(tmp_path, suffix):
    frame = _valid("kinetics")
    a = write_table(frame, tmp_path / "a" / f"k{suffix}", {"synthetic": "true"}).read_bytes()
    b = write_table(frame, tmp_path / "b" / f"k{suffix}", {"synthetic": "false"}).read_bytes()
    assert a != b


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_atomic_write_leaves_no_temp_files(tmp_path, suffix):
    path = tmp_path / f"patients{suffix}"
    write_table(_valid("patients"), path, META)
    write_table(_valid("patients").head(2), path, META)  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert len(read_raw(path, "patients").frame) == 2


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "patients.csv"
    write_table(_valid("patients"), path)
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(aio.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_table(_valid("patients").head(1), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patients.csv"]


def test_write_table_creates_parent_directories(tmp_path):
    path = write_table(_valid("kinetics"), tmp_path / "a" / "b" / "kinetics.csv")
    assert path.is_file()


# --------------------------------------------------------------------------------------------
# file discovery and unsupported types
# --------------------------------------------------------------------------------------------

def test_find_table_files_in_preference_order(tmp_path):
    for suffix in (".xlsx", ".csv", ".parquet"):
        write_table(_valid("patients"), tmp_path / f"patients{suffix}")
    (tmp_path / "patients.txt").write_text("x")
    assert [p.name for p in find_table_files(tmp_path, PATIENTS)] == [
        "patients.csv", "patients.parquet", "patients.xlsx"]


def test_unsupported_suffixes(tmp_path):
    with pytest.raises(ValueError):
        write_table(_valid("patients"), tmp_path / "patients.txt")
    (tmp_path / "patients.txt").write_text("patient_id\nP01\n")
    with pytest.raises(TableReadError):
        read_raw(tmp_path / "patients.txt", "patients")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    assert os.listdir(tmp_path) == ["patients.txt"]


# --------------------------------------------------------------------------------------------
# real exports: formats, encodings, dialects, structure (issue 13)
# --------------------------------------------------------------------------------------------

from analysis_lib.data.io import clean_name, near_miss_files, printable, sniff_format
from analysis_lib.data.schema import KINETICS


def test_printable_escapes_and_cuts():
    assert printable("a\nb\tc") == "a\\nb\\tc"
    assert printable("\x1b[31mred\x00") == "\\x1b[31mred\\x00"
    assert printable("zero\u200bwidth\u202e") == "zero\\u200bwidth\\u202e"
    assert printable("x" * 100, 10) == "x" * 10 + "… (100 characters)"
    assert printable("short", 60, length=5000) == "short… (5,000 characters)"
    assert printable("µg/DNA é") == "µg/DNA é"  # printable non-ASCII stays as it is
    assert printable(None) == ""


def test_clean_name_strips_invisible_padding_only():
    assert clean_name("\ufeff sex\u00a0\u200b") == "sex"
    assert clean_name("a b") == "a b"


def test_table_files_are_found_whatever_the_case(tmp_path):
    (tmp_path / "Patients.CSV").write_text("x")
    (tmp_path / "PATIENTS.xlsx").write_text("x")
    (tmp_path / "patients.csv.bak").write_text("x")
    assert [p.name for p in find_table_files(tmp_path, PATIENTS)] == ["Patients.CSV",
                                                                      "PATIENTS.xlsx"]


def test_near_miss_file_names_come_with_advice(tmp_path):
    for name in ("patients.xls", "patients.txt", "Patients_export.csv", "patient.csv",
                 "patients.csv.txt", "~$patients.xlsx", "kinetics.csv"):
        (tmp_path / name).write_text("x")
    advice = dict(near_miss_files(tmp_path, PATIENTS))
    assert "Excel 97-2003" in advice["patients.xls"]
    assert "name it .csv" in advice["patients.txt"]
    assert "rename it patients.csv" in advice["Patients_export.csv"]
    assert "rename it patients.csv" in advice["patient.csv"]
    assert "second extension" in advice["patients.csv.txt"]
    assert "~$patients.xlsx" not in advice and "kinetics.csv" not in advice


@pytest.mark.parametrize("head,kind", [
    (b"PK\x03\x04rest", "zip"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "cfb"),
    (b"PAR1....", "parquet"), (b"%PDF-1.7", "pdf"), (b"\xef\xbb\xbf<!DOCTYPE html>", "html"),
    (b"  <table><tr>", "html"), (b"\xff\xfep\x00a\x00", "utf16"),
    ("patient_id,sex\n".encode("utf-16-le"), "utf16-nobom"), (b"\x00\x01\x02\x03" * 50, "binary"),
    (b"patient_id,sex\nP01,male\n", "text"), (b"", "text")])
def test_sniff_format(head, kind):
    assert sniff_format(head) == kind


def _write(tmp_path, text: str, name: str = "kinetics.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _read(path, **kw):
    return read_raw(path, "kinetics", expected=KINETICS.names, **kw)


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_the_separator_comes_from_the_header(tmp_path, sep):
    body = (VALID / "kinetics.csv").read_text().replace(",", sep)
    raw = _read(_write(tmp_path, body))
    assert raw.separator == sep and raw.separator_detected
    pd.testing.assert_frame_equal(raw.frame, _valid("kinetics"))


def test_excel_sep_line_and_fixed_dialects(tmp_path):
    body = (VALID / "kinetics.csv").read_text().replace(",", ";")
    raw = _read(_write(tmp_path, "sep=;\n" + body))
    assert raw.separator == ";" and not raw.separator_detected and raw.first_row == 3
    raw = _read(_write(tmp_path, body), csv_dialect="semicolon-decimal-comma")
    assert (raw.separator, raw.decimal) == (";", ",")
    with pytest.raises(TableReadError) as err:
        _read(_write(tmp_path, body), csv_dialect="comma")
    assert err.value.rule == "wrong_separator" and "semicolon-separated" in err.value.message
    with pytest.raises(ValueError):
        _read(_write(tmp_path, body), csv_dialect="excel")


def test_utf16_with_a_byte_order_mark_is_read(tmp_path):
    body = (VALID / "kinetics.csv").read_text().replace(",", "\t")
    raw = _read(_write(tmp_path, body, encoding="utf-16"))
    pd.testing.assert_frame_equal(raw.frame, _valid("kinetics"))


def test_not_utf8_names_the_line_of_the_first_bad_byte(tmp_path):
    text = "patient_id,day\r\nP01,1\r\nP\u00e92,2\r\n"
    with pytest.raises(TableReadError) as err:
        _read(_write(tmp_path, text, encoding="latin-1"))
    assert err.value.row == 3 and "line 3" in err.value.message
    assert "0xE9" in err.value.message and "CSV UTF-8" in err.value.message


def test_line_numbers_count_every_physical_line(tmp_path):
    """Metadata, blank, ',,,,' and comment lines, CR line ends and a quoted line break."""
    text = ("# synthetic: false\r\r"
            "patient_id,day,copies_per_ug_dna,below_lloq,lloq_copies_per_ug_dna\r"
            "P01,1,10,false,5\r"
            ",,,,\r"
            "# a note, in the middle\r"
            'P01,"2\n",20,false,5\r'
            "P01,3,30,false,5\r")
    raw = _read(_write(tmp_path, text))
    assert raw.metadata == {"synthetic": "false"} and raw.header_row == 3
    assert [raw.row_number(i) for i in range(3)] == [4, 7, 9]
    assert raw.frame["day"].tolist() == ["1", "2\n", "3"]


def test_records_with_a_wrong_field_count_are_kept_but_flagged(tmp_path):
    text = ("patient_id,day,copies_per_ug_dna,below_lloq,lloq_copies_per_ug_dna\n"
            "P01,1,25,000,false,100\n"
            "P01,2\n"
            "(2 rows affected)\n"
            "P01,3,30,false,5\n")
    raw = _read(_write(tmp_path, text))
    assert sorted(raw.bad_rows) == [0, 1, 2]
    msgs = {i.index: i.message for i in raw.issues if i.rule == "field_count"}
    assert "thousands separator" in msgs[0] and "6 field(s)" in msgs[0]
    assert "2 field(s)" in msgs[1]
    assert "footer" in msgs[2]
    assert raw.frame.loc[0, "patient_id"] == "P01"  # cells kept (the code helps other checks)
    assert raw.frame.loc[3, "day"] == "3"


def test_a_repeated_header_is_flagged(tmp_path):
    body = (VALID / "kinetics.csv").read_text()
    raw = _read(_write(tmp_path, body + body))
    assert [(i.index, i.rule) for i in raw.issues] == [(28, "repeated_header")]
    assert raw.row_number(28) == 30 and 28 in raw.bad_rows


def test_preview_reaches_a_header_below_title_lines(tmp_path):
    body = "Lab export;;;\nprinted today;;;\n" + (VALID / "kinetics.csv").read_text().replace(
        ",", ";")
    raw = _read(_write(tmp_path, body))
    assert raw.separator == ";"  # taken from the line that names the columns
    assert raw.preview[1][0] == 3 and raw.preview[1][1][:2] == ["patient_id", "day"]


def test_fast_and_careful_parsers_agree(tmp_path):
    """Unquoted text (lines), quoted text (csv module) and text with a control character
    (csv module for the cells too) give the same frames."""
    import csv
    import io as _stdio

    body = (VALID / "kinetics.csv").read_text()
    plain = _read(_write(tmp_path, body, "a.csv")).frame
    buf = _stdio.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(
        csv.reader(_stdio.StringIO(body)))
    quoted = _read(_write(tmp_path, buf.getvalue(), "b.csv")).frame
    pd.testing.assert_frame_equal(plain, _valid("kinetics"))
    pd.testing.assert_frame_equal(quoted, plain)
    nul = _read(_write(tmp_path, body.replace("25000", "25\x00000"), "c.csv")).frame
    assert nul.loc[1, "copies_per_ug_dna"] == "25\x00000"
    assert nul.drop(index=1).equals(plain.drop(index=1))


def test_huge_cells_are_read_and_the_csv_limit_restored(tmp_path):
    import csv

    limit = csv.field_size_limit()
    body = 'patient_id,day,copies_per_ug_dna,below_lloq,lloq_copies_per_ug_dna\n"P01",1,"' \
        + "9" * 300_000 + '",false,5\n'
    raw = _read(_write(tmp_path, body))
    assert len(raw.frame.loc[0, "copies_per_ug_dna"]) == 300_000
    assert csv.field_size_limit() == limit


def test_excel_error_cells_formulas_and_sheets(tmp_path):
    import datetime as dt

    import openpyxl

    path = tmp_path / "kinetics.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append([])  # an empty first row: the header is on row 2
    ws.append(KINETICS.names)
    ws.append(["P01", 1, "#N/A", False, 100])
    ws.append(["P01", "=1+1", None, True, 100])
    ws.append([None] * 5)
    ws.append(["P01", dt.time(8, 30), 5, False, 1.5])
    wb.create_sheet("Sheet2")
    wb.save(path)
    raw = read_raw(path, "kinetics")
    assert raw.sheet == "Sheet1" and raw.header_row == 2
    assert [raw.row_number(i) for i in range(3)] == [3, 4, 6]
    assert raw.frame["copies_per_ug_dna"].tolist() == ["#N/A", "", "5"]
    assert raw.frame["below_lloq"].tolist() == ["false", "true", "false"]
    assert raw.frame["day"].tolist() == ["1", "=", "08:30:00"]
    assert [(i.index, i.column, i.rule) for i in raw.issues] == [(1, "day", "spreadsheet_error")]
    wb.create_sheet("Notes").append(["a note"])
    wb.save(path)
    with pytest.raises(TableReadError) as err:
        read_raw(path, "kinetics")
    assert err.value.rule == "wrong_sheet"
    assert all(f"'{s}'" in err.value.message for s in ("Sheet1", "Sheet2", "Notes"))


def test_parquet_rows_with_no_value_are_skipped_but_counted(tmp_path):
    frame = _valid("kinetics").head(3)
    frame.loc[1, :] = ""
    raw = read_raw(write_table(frame, tmp_path / "k.parquet"), "kinetics")
    assert len(raw.frame) == 2 and [raw.row_number(i) for i in range(2)] == [1, 3]
