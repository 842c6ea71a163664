"""Empty input files for a user's own cohort, generated from :mod:`analysis_lib.data.schema`.

Nothing here is written by hand: the columns, their order, the dropdown lists and the
dictionary sheet all come from the schemas, so the templates can never drift from what the
validator (:mod:`analysis_lib.data.validation`) accepts.

Files written by :func:`write_templates`
----------------------------------------
* ``patients.csv`` and ``kinetics.csv``: the header row only, columns in schema order. No
  metadata comment lines: a spreadsheet program that opens and re-saves the file would turn
  them into ragged rows. An empty template is reported by ``cartbook validate`` as
  ``empty_table`` (header but no rows) and nothing else.
* ``cartbook_template.xlsx``: one sheet per table (``patients``, ``kinetics``) with the header
  row, dropdown lists for the categorical and true/false columns, text format for patient
  codes (so ``007`` stays ``007``) and true/false columns, and a ``dictionary`` sheet describing every column. The
  project's Excel reader takes the sheet named after the table and ignores the others, so
  the filled workbook can be saved into the data directory as ``patients.xlsx`` and
  ``kinetics.xlsx`` (two copies of the same workbook) or each sheet exported as CSV.

Every file is written atomically (:func:`analysis_lib.data.io.atomic_write_bytes`) and is
byte-identical from run to run (fixed workbook properties and zip timestamps).
"""

from __future__ import annotations

import datetime as _dt
import io as _io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from .datadict import KIND_NAMES
from .io import _zip_fixed_times, atomic_write_bytes
from .schema import TABLES, Field, TableSchema

#: Formats :func:`write_templates` can produce.
FORMATS: tuple[str, ...] = ("csv", "xlsx")
#: File name of the Excel template.
XLSX_NAME = "cartbook_template.xlsx"
#: Name of the sheet describing every column.
DICTIONARY_SHEET = "dictionary"
#: Columns of the dictionary sheet.
DICTIONARY_COLUMNS: tuple[str, ...] = ("table", "column", "type", "unit", "required",
                                       "may_be_empty", "allowed_values", "description")
#: Fixed workbook timestamps (openpyxl would stamp the current time).
_FIXED_TIME = _dt.datetime(2000, 1, 1)
#: Last sheet row covered by the dropdown lists and text formats.
_LAST_ROW = 5000

def _plain_allowed(f: Field) -> str:
    """The allowed values without Markdown backticks (for a spreadsheet cell)."""
    return f.allowed().replace("`", "")


def dictionary_frame(tables: Sequence[TableSchema] = TABLES) -> pd.DataFrame:
    """One row per column of every table: the content of the ``dictionary`` sheet."""
    rows = []
    for t in tables:
        for f in t.fields:
            rows.append({
                "table": t.name, "column": f.name, "type": KIND_NAMES[f.kind], "unit": f.unit,
                "required": "yes" if f.required else "no",
                "may_be_empty": "yes" if f.nullable else "no",
                "allowed_values": _plain_allowed(f), "description": f.description,
            })
    return pd.DataFrame(rows, columns=list(DICTIONARY_COLUMNS))


def csv_template_bytes(table: TableSchema) -> bytes:
    """The CSV template of ``table``: its header row, columns in schema order."""
    return (",".join(table.names) + "\n").encode("utf-8")


def _dropdown(f: Field) -> list[str] | None:
    if f.kind == "category":
        return list(f.categories)
    if f.kind == "boolean":
        return ["true", "false"]
    return None


def xlsx_template_bytes(tables: Sequence[TableSchema] = TABLES) -> bytes:
    """The Excel template: a sheet per table, then the ``dictionary`` sheet."""
    from zipfile import ZIP_DEFLATED, ZipFile

    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for t in tables:
        ws = wb.create_sheet(t.name[:31])
        ws.append(t.names)
        for j, f in enumerate(t.fields, start=1):
            letter = get_column_letter(j)
            ws.cell(row=1, column=j).font = bold
            ws.column_dimensions[letter].width = max(12, len(f.name) + 2)
            cells = f"{letter}2:{letter}{_LAST_ROW}"
            choices = _dropdown(f)
            if choices is not None:
                dv = DataValidation(type="list", formula1='"' + ",".join(choices) + '"',
                                    allow_blank=True, showErrorMessage=True,
                                    errorTitle=f.name, error="Allowed: " + ", ".join(choices))
                dv.add(cells)
                ws.add_data_validation(dv)
            if f.kind in ("id", "boolean"):
                # text: codes such as 007 keep their zeros, and true/false stay the words
                # of the dropdown instead of becoming spreadsheet booleans
                ws.column_dimensions[letter].number_format = "@"
        ws.freeze_panes = "A2"
    dic = dictionary_frame(tables)
    ws = wb.create_sheet(DICTIONARY_SHEET)
    ws.append(list(dic.columns))
    for row in dic.itertuples(index=False):
        ws.append(list(row))
    for j, c in enumerate(dic.columns, start=1):
        ws.cell(row=1, column=j).font = bold
        width = int(dic[c].map(len).max()) if len(dic) else 10
        ws.column_dimensions[get_column_letter(j)].width = min(80, max(len(c), width) + 2)
    ws.freeze_panes = "A2"
    props = wb.properties
    props.creator = "cartbook (analysis_lib.data.templates)"
    props.title = "cartbook input template"
    props.description = ("Template generated from analysis_lib.data.schema: fill the patients and "
                         "kinetics sheets; see the dictionary sheet for every column.")
    props.created = _FIXED_TIME
    props.modified = _FIXED_TIME
    props.lastModifiedBy = None
    buf = _io.BytesIO()
    # ExcelWriter directly: openpyxl's save_workbook would stamp 'modified' with the clock
    ExcelWriter(wb, ZipFile(buf, "w", ZIP_DEFLATED, allowZip64=True)).save()
    return _zip_fixed_times(buf.getvalue())


def write_templates(out_dir: Path | str, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Write the template files to ``out_dir`` (created if needed); returns their paths.

    ``formats``: any of ``"csv"`` (``patients.csv``, ``kinetics.csv``) and ``"xlsx"``
    (``cartbook_template.xlsx``). Raises :class:`ValueError` for an unknown format before
    anything is written.
    """
    fmts = list(dict.fromkeys(formats))
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise ValueError(f"unknown template format(s) {bad or fmts!r}; use "
                         f"{' and/or '.join(FORMATS)}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a directory")
    # build every file in memory first, so a failure writes nothing
    files: list[tuple[Path, bytes]] = []
    if "csv" in fmts:
        files += [(out_dir / f"{t.name}.csv", csv_template_bytes(t)) for t in TABLES]
    if "xlsx" in fmts:
        files.append((out_dir / XLSX_NAME, xlsx_template_bytes()))
    for path, data in files:
        atomic_write_bytes(path, data)
    return [p for p, _ in files]


# --------------------------------------------------------------------------------------------
# A deliberately broken example, for the how-to chapter
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mistake:
    """One error planted in the broken example: where, what was written, which rule it breaks."""
    table: str
    record: int  # 0-based data record
    column: str
    value: str
    rule: str
    why: str


#: Metadata of the broken example's files (it is always derived from synthetic rows).
BROKEN_METADATA: dict[str, str] = {
    "synthetic": "true",
    "description": "SYNTHETIC rows with deliberate errors, to show the validator's report",
}


@dataclass(frozen=True)
class BrokenExample:
    """What :func:`broken_example` wrote: its files, the rows they hold and the mistakes."""
    paths: list[Path]
    n_patients: int
    n_samples: int
    mistakes: list[Mistake]


def broken_example(patients: pd.DataFrame, kinetics: pd.DataFrame, out_dir: Path | str,
                   n_patients: int = 3) -> BrokenExample:
    """Write a small data directory with deliberate errors; returns what it wrote.

    The first ``n_patients`` patients of ``patients`` (typed, as validated) and their kinetics
    samples are written as CSV to ``out_dir``, with four mistakes planted: a day-28 response
    that is not one of the allowed codes, an empty required age, a calendar date instead of
    a day count, and a kinetics sample of a patient who is not in the patients table. Pass
    synthetic rows only: the files are marked synthetic.
    """
    from .io import to_text_frame, write_table
    from .schema import KINETICS, PATIENTS

    if n_patients < 3 or len(patients) < n_patients:
        raise ValueError(f"the broken example needs at least 3 patients (got "
                         f"{min(n_patients, len(patients))})")
    pats = to_text_frame(patients[PATIENTS.names].head(n_patients).reset_index(drop=True))
    ids = list(pats["patient_id"])
    kin = kinetics[kinetics["patient_id"].isin(ids)][KINETICS.names]
    kin = to_text_frame(kin.reset_index(drop=True))
    if kin.empty:
        raise ValueError("the selected patients have no kinetics samples")
    known = set(patients["patient_id"])
    stranger = next(c for c in (f"NEW-{i:03d}" for i in range(1, 1000)) if c not in known)
    k_rec = int(kin.index[kin["patient_id"] == ids[0]][-1])
    mistakes = [
        Mistake("patients", 0, "last_followup_day", "2023-05-17", "calendar_date",
                "a calendar date instead of days from infusion"),
        Mistake("patients", 1, "d28_response", "complete", "category",
                "a free-text response instead of one of the codes cr, cri, nr"),
        Mistake("patients", 2, "age_years", "", "required_value", "the age was left empty"),
        Mistake("kinetics", k_rec, "patient_id", stranger, "unknown_patient",
                "a sample of a patient missing from the patients table"),
    ]
    frames = {"patients": pats, "kinetics": kin}
    for m in mistakes:
        frames[m.table].at[m.record, m.column] = m.value
    out_dir = Path(out_dir)
    paths = [write_table(frames[t], out_dir / f"{t}.csv", {**BROKEN_METADATA, "table": t})
             for t in ("patients", "kinetics")]
    return BrokenExample(paths, len(pats), len(kin), mistakes)
