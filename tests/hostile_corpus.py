"""Hostile and messy inputs that git cannot hold or that are built from the valid data at
test time: workbooks (error cells, uncomputed formulas, wrong sheets, a password), files whose
content is not what their name says, symbolic links, a pipe, a folder named like a table, file
names that differ only in case, a 1 MB cell, thousands of columns, and large duplicated
exports.

Each case is a builder that writes a data directory and the problems the validator must
report, as ``(file, row, column, rule)`` worked out by hand from the valid data (``row`` is
the CSV line, the Excel sheet row or the Parquet record; ``""`` for a file or a column), or
``READABLE`` when the directory must give exactly the tables of ``tests/data/valid``.
The committed text cases are in ``tests/data/bad`` and ``tests/data/readable``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zipfile
from pathlib import Path
from typing import Callable

import openpyxl
import pandas as pd

VALID = Path(__file__).parent / "data" / "valid"
READABLE = "readable"
Key = tuple[str, str, str, str]


def frames() -> dict[str, pd.DataFrame]:
    """The valid tables as strings."""
    return {n: pd.read_csv(VALID / f"{n}.csv", dtype=str, keep_default_na=False)
            for n in ("patients", "kinetics")}


def _copy_valid(d: Path, skip: tuple[str, ...] = ()) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name in ("patients.csv", "kinetics.csv"):
        if name not in skip:
            shutil.copy(VALID / name, d / name)


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    """Write a workbook with openpyxl (which stores '#N/A'-like strings as error cells and
    '=…' strings as formulas without a computed value)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    wb.save(path)


def _rows(frame: pd.DataFrame) -> list[list[object]]:
    return [list(frame.columns)] + [list(r) for r in frame.itertuples(index=False)]


def _typed_rows(frame: pd.DataFrame) -> list[list[object]]:
    """Rows with numbers as numbers and booleans as booleans (as a spreadsheet holds them)."""
    def conv(v: str) -> object:
        if v == "":
            return None
        if v in ("true", "false"):
            return v == "true"
        try:
            f = float(v)
            return int(f) if f.is_integer() and "." not in v else f
        except ValueError:
            return v
    return [list(frame.columns)] + [[conv(v) for v in r] for r in frame.itertuples(index=False)]


def _cfb(encrypted: bool) -> bytes:
    """A compound-file (OLE) container: what an Excel 97-2003 workbook is, and what Excel
    wraps a password-protected .xlsx in (with the streams EncryptionInfo and
    EncryptedPackage). Enough of one for the format to be recognised."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff"
    header += b"\x09\x00\x06\x00" + b"\x00" * (512 - len(header) - 4)
    header += b"\x00" * 4
    names = ["Root Entry", "EncryptionInfo", "EncryptedPackage"] if encrypted else \
        ["Root Entry", "Workbook", "\x05SummaryInformation"]
    directory = b"".join(n.encode("utf-16-le").ljust(64, b"\x00") + b"\x00" * 64 for n in names)
    return header + directory.ljust(512, b"\x00") + os.urandom(0) + b"\x00" * 1024


# --------------------------------------------------------------------------------------------
# the cases
# --------------------------------------------------------------------------------------------

def xlsx_error_cells(d: Path) -> set[Key]:
    """Excel error cells: pandas would read them as empty cells."""
    _copy_valid(d, skip=("patients.csv",))
    p = frames()["patients"]
    rows = _typed_rows(p)
    h = rows[0]
    rows[2][h.index("age_years")] = "#N/A"                # P02, sheet row 3
    rows[4][h.index("cart_dose_1e6_per_kg")] = "#DIV/0!"  # P04, row 5
    rows[5][h.index("d28_mrd")] = "#VALUE!"               # P05, row 6 (may be empty)
    _workbook(d / "patients.xlsx", {"patients": rows})
    return {("patients.xlsx", "3", "age_years", "spreadsheet_error"),
            ("patients.xlsx", "5", "cart_dose_1e6_per_kg", "spreadsheet_error"),
            ("patients.xlsx", "6", "d28_mrd", "spreadsheet_error")}


def xlsx_uncomputed_formulas(d: Path) -> set[Key]:
    """Formulas written by a program: no computed value, so they would read as empty."""
    _copy_valid(d, skip=("patients.csv",))
    rows = _typed_rows(frames()["patients"])
    h = rows[0]
    rows[1][h.index("age_years")] = "=7+0.5"            # P01, row 2
    rows[3][h.index("anc_nadir_1e9_per_l")] = "=A1*0"   # P03, row 4 (may be empty)
    _workbook(d / "patients.xlsx", {"patients": rows})
    return {("patients.xlsx", "2", "age_years", "spreadsheet_error"),
            ("patients.xlsx", "4", "anc_nadir_1e9_per_l", "spreadsheet_error")}


def xlsx_wrong_sheet(d: Path) -> set[Key]:
    _copy_valid(d, skip=("patients.csv",))
    _workbook(d / "patients.xlsx", {"Sheet1": _typed_rows(frames()["patients"]),
                                    "Notes": [["exported by the registry"]]})
    return {("patients.xlsx", "", "", "wrong_sheet")}


def xlsx_kinetics_file_with_the_patients_sheet(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    _workbook(d / "kinetics.xlsx", {"patients": _typed_rows(frames()["patients"])})
    return {("kinetics.xlsx", "", "", "wrong_sheet")}


def xlsx_one_sheet_and_empty_default_sheets(d: Path) -> str:
    _copy_valid(d, skip=("patients.csv",))
    _workbook(d / "patients.xlsx", {"Sheet1": _typed_rows(frames()["patients"]),
                                    "Sheet2": [], "Sheet3": []})
    return READABLE


def xlsx_capitalised_sheets_in_one_workbook(d: Path) -> str:
    """The template workbook filled in and saved twice, its sheets renamed 'Patients' and
    'Kinetics'; Excel booleans and numbers as typed cells."""
    f = frames()
    d.mkdir(parents=True)
    sheets = {"Kinetics": _typed_rows(f["kinetics"]), "Patients": _typed_rows(f["patients"])}
    _workbook(d / "patients.xlsx", sheets)
    _workbook(d / "kinetics.xlsx", sheets)
    return READABLE


def xlsx_title_rows_above_header(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    rows = [["Kinetics export, study X"], [None]] + _typed_rows(frames()["kinetics"])
    _workbook(d / "kinetics.xlsx", {"kinetics": rows})
    return {("kinetics.xlsx", "", "", "header_not_found")}


def xlsx_values_outside_the_header(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    rows = _typed_rows(frames()["kinetics"])
    rows[3] = rows[3] + [None, "re-assayed"]  # column G of row 4
    _workbook(d / "kinetics.xlsx", {"kinetics": rows})
    return {("kinetics.xlsx", "", "", "unnamed_column")}


def xlsx_time_of_day_in_day_column(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    rows = _typed_rows(frames()["kinetics"])
    rows[5][1] = dt.time(12, 30)  # row 6, day
    _workbook(d / "kinetics.xlsx", {"kinetics": rows})
    return {("kinetics.xlsx", "6", "day", "type")}


def xlsx_password_protected(d: Path) -> set[Key]:
    _copy_valid(d, skip=("patients.csv",))
    (d / "patients.xlsx").write_bytes(_cfb(encrypted=True))
    return {("patients.xlsx", "", "", "protected_file")}


def xls_workbook_named_xlsx(d: Path) -> set[Key]:
    _copy_valid(d, skip=("patients.csv",))
    (d / "patients.xlsx").write_bytes(_cfb(encrypted=False))
    return {("patients.xlsx", "", "", "wrong_format")}


def workbook_named_csv(d: Path) -> set[Key]:
    _copy_valid(d, skip=("patients.csv",))
    _workbook(d / "patients.csv", {"patients": _typed_rows(frames()["patients"])})
    return {("patients.csv", "", "", "wrong_format")}


def encrypted_workbook_named_csv(d: Path) -> set[Key]:
    _copy_valid(d, skip=("patients.csv",))
    (d / "patients.csv").write_bytes(_cfb(encrypted=True))
    return {("patients.csv", "", "", "protected_file")}


def csv_named_xlsx(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    shutil.copy(VALID / "kinetics.csv", d / "kinetics.xlsx")
    return {("kinetics.xlsx", "", "", "wrong_format")}


def opendocument_named_xlsx(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    with zipfile.ZipFile(d / "kinetics.xlsx", "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    return {("kinetics.xlsx", "", "", "wrong_format")}


def truncated_workbook(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    _workbook(d / "kinetics.xlsx", {"kinetics": _typed_rows(frames()["kinetics"])})
    data = (d / "kinetics.xlsx").read_bytes()
    (d / "kinetics.xlsx").write_bytes(data[: len(data) // 2])
    return {("kinetics.xlsx", "", "", "unreadable_file")}


def empty_workbook(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    _workbook(d / "kinetics.xlsx", {"kinetics": []})
    return {("kinetics.xlsx", "", "", "unreadable_file")}


def csv_named_parquet(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    shutil.copy(VALID / "kinetics.csv", d / "kinetics.parquet")
    return {("kinetics.parquet", "", "", "wrong_format")}


def symlink_outside_the_folder(d: Path) -> set[Key]:
    _copy_valid(d, skip=("patients.csv",))
    outside = d.parent / f"{d.name}-elsewhere"
    outside.mkdir()
    shutil.copy(VALID / "patients.csv", outside / "patients.csv")
    (d / "patients.csv").symlink_to(outside / "patients.csv")
    return {("patients.csv", "", "", "outside_data_folder")}


def symlink_to_a_device(d: Path) -> set[Key]:
    """A link to /dev/zero: reading it would never end."""
    _copy_valid(d, skip=("kinetics.csv",))
    (d / "kinetics.csv").symlink_to("/dev/zero")
    return {("kinetics.csv", "", "", "outside_data_folder")}


def symlink_inside_the_folder(d: Path) -> str:
    _copy_valid(d, skip=("patients.csv",))
    (d / "exports").mkdir()
    shutil.copy(VALID / "patients.csv", d / "exports" / "patients-2024.csv")
    (d / "patients.csv").symlink_to(Path("exports") / "patients-2024.csv")
    return READABLE


def dangling_symlink(d: Path) -> set[Key]:
    _copy_valid(d, skip=("patients.csv",))
    (d / "patients.csv").symlink_to(d / "gone.csv")
    return {("patients.csv", "", "", "unreadable_file")}


def folder_named_like_a_table(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    (d / "kinetics.csv").mkdir()
    return {("kinetics.csv", "", "", "unreadable_file")}


def pipe_named_like_a_table(d: Path) -> set[Key]:
    """A named pipe: opening it for reading would wait for a writer forever."""
    _copy_valid(d, skip=("kinetics.csv",))
    os.mkfifo(d / "kinetics.csv")
    return {("kinetics.csv", "", "", "unreadable_file")}


def names_differing_only_in_case(d: Path) -> set[Key]:
    _copy_valid(d)
    shutil.copy(VALID / "patients.csv", d / "PATIENTS.CSV")
    return {("PATIENTS.CSV", "", "", "ambiguous_file")}


def utf16_without_bom(d: Path) -> set[Key]:
    _copy_valid(d, skip=("patients.csv",))
    (d / "patients.csv").write_bytes((VALID / "patients.csv").read_text().encode("utf-16-le"))
    return {("patients.csv", "", "", "unreadable_file")}


def one_megabyte_cell(d: Path) -> set[Key]:
    _copy_valid(d)
    text = (VALID / "patients.csv").read_text()
    huge = "P02,female" + "e" * 2**20 + ","
    (d / "patients.csv").write_text(text.replace("P02,female,", huge, 1))
    return {("patients.csv", "3", "sex", "category")}


def five_thousand_columns(d: Path) -> set[Key]:
    _copy_valid(d)
    k = frames()["kinetics"]
    extra = pd.DataFrame({f"assay_{i}": [""] * len(k) for i in range(5000)})
    pd.concat([k, extra], axis=1).to_csv(d / "kinetics.csv", index=False)
    return {("kinetics.csv", "", f"assay_{i}", "unknown_column") for i in range(5000)}


def export_appended_fifty_times(d: Path) -> set[Key]:
    """The patients rows (without the header) pasted 50 times: 294 duplicates."""
    _copy_valid(d)
    lines = (VALID / "patients.csv").read_text().splitlines(keepends=True)
    (d / "patients.csv").write_text(lines[0] + "".join(lines[1:]) * 50)
    return {("patients.csv", str(n), "patient_id", "unique_id") for n in range(8, 302)}


def parquet_with_an_infinite_value(d: Path) -> set[Key]:
    _copy_valid(d, skip=("kinetics.csv",))
    k = frames()["kinetics"]
    k["day"] = k["day"].astype(float)
    k.loc[3, "day"] = float("inf")  # record 4
    k.to_parquet(d / "kinetics.parquet", index=False)
    return {("kinetics.parquet", "4", "day", "type")}


CASES: dict[str, Callable[[Path], object]] = {f.__name__: f for f in (
    xlsx_error_cells, xlsx_uncomputed_formulas, xlsx_wrong_sheet,
    xlsx_kinetics_file_with_the_patients_sheet, xlsx_one_sheet_and_empty_default_sheets,
    xlsx_capitalised_sheets_in_one_workbook, xlsx_title_rows_above_header,
    xlsx_values_outside_the_header, xlsx_time_of_day_in_day_column, xlsx_password_protected,
    xls_workbook_named_xlsx, workbook_named_csv, encrypted_workbook_named_csv, csv_named_xlsx,
    opendocument_named_xlsx, truncated_workbook, empty_workbook, csv_named_parquet,
    symlink_outside_the_folder, symlink_to_a_device, symlink_inside_the_folder,
    dangling_symlink, folder_named_like_a_table, pipe_named_like_a_table,
    names_differing_only_in_case, utf16_without_bom, one_megabyte_cell, five_thousand_columns,
    export_appended_fifty_times, parquet_with_an_infinite_value,
)}

def build(name: str, root: Path) -> tuple[Path, object]:
    """Build case ``name`` under ``root``; returns its directory and its expectation."""
    d = root / name
    return d, CASES[name](d)
