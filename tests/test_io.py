"""Readers and writers: CSV, Parquet and Excel round trips, metadata, determinism, atomicity."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_lib import io as aio
from analysis_lib.io import TableReadError, find_table_files, read_raw, write_table
from analysis_lib.schema import PATIENTS

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
