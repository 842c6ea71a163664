"""Reading and writing the input tables (CSV, Parquet, Excel).

Readers return every cell as a *string* so that the validator can name the exact value that
is wrong; :func:`analysis_lib.validation.load_dataset` turns validated strings into typed
columns. Writers are deterministic: the same frame and metadata give the same bytes.

File metadata
-------------
Each file can carry ``key: value`` metadata (``synthetic: true`` marks synthetic data):

* CSV: leading comment lines ``# key: value`` before the header;
* Parquet: the schema metadata entry ``cartbook`` (a JSON object);
* Excel: a sheet named ``metadata`` with columns ``key`` and ``value``; the data are on the
  sheet named after the table (or the first sheet).
"""

from __future__ import annotations

import datetime as _dt
import io as _io
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd

from .schema import SUFFIXES, TableSchema

MISSING_TOKENS: frozenset[str] = frozenset({"", "na", "nan", "null", "none"})


@dataclass
class RawTable:
    """A table as read from disk, every cell a string ("" when empty).

    ``first_row`` is the position, as the user sees it, of the first data record: the line
    number in a CSV file (after metadata and header lines), the sheet row in Excel (header on
    row 1) and the 1-based record number in Parquet. ``row_unit`` names that position.
    """

    name: str
    path: Path
    frame: pd.DataFrame
    metadata: dict[str, str] = field(default_factory=dict)
    first_row: int = 2
    row_unit: str = "line"
    #: Explicit user-visible position of every record, when records are not consecutive
    #: (a CSV file with blank lines or quoted line breaks); ``None`` means consecutive.
    row_numbers: list[int] | None = None

    def row_number(self, index: int) -> int:
        """User-visible position of the record at 0-based ``index``."""
        if self.row_numbers is not None:
            return self.row_numbers[int(index)]
        return self.first_row + int(index)


class TableReadError(Exception):
    """A file could not be parsed as a table."""


def find_table_files(data_dir: Path, schema: TableSchema) -> list[Path]:
    """Files in ``data_dir`` that hold ``schema``'s table (``<name>.csv`` etc.)."""
    return [data_dir / f"{schema.name}{s}" for s in SUFFIXES if (data_dir / f"{schema.name}{s}").is_file()]


def _cell_to_str(v: object) -> str:
    """Render a cell read by a typed reader (Excel, Parquet) as the string a CSV would hold."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(v) if not v.is_integer() else str(int(v)) if abs(v) < 1e15 else repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (_dt.datetime, _dt.date, pd.Timestamp)):
        return v.isoformat()
    try:
        if pd.isna(v):  # type: ignore[arg-type]
            return ""
    except (TypeError, ValueError):
        pass
    return str(v)


def _csv_record_lines(body_text: str, offset: int) -> list[int] | None:
    """File line number at which each data record of ``body_text`` starts, skipping blank
    lines as pandas does; ``offset`` is the number of lines before ``body_text``."""
    import csv

    starts: list[int] = []
    reader = csv.reader(_io.StringIO(body_text, newline=""))
    prev = 0
    try:
        for rec in reader:
            if any(cell.strip() for cell in rec) or len(rec) > 1:
                starts.append(offset + prev + 1)
            prev = reader.line_num
    except csv.Error:
        return None
    return starts[1:]  # the first record is the header


def _read_csv(path: Path, name: str) -> RawTable:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TableReadError(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                             "save it as 'CSV UTF-8'") from exc
    lines = text.splitlines()
    meta: dict[str, str] = {}
    n_meta = 0
    for line in lines:
        if not line.startswith("#"):
            break
        n_meta += 1
        body = line[1:].strip()
        if ":" in body:
            k, v = body.split(":", 1)
            meta[k.strip()] = v.strip()
    body_text = "\n".join(lines[n_meta:])
    if not body_text.strip():
        raise TableReadError("the file has no header row")
    try:
        frame = pd.read_csv(_io.StringIO(body_text), dtype=str, keep_default_na=False,
                            na_filter=False, skipinitialspace=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TableReadError(str(exc).strip()) from exc
    raw = RawTable(name, path, frame, meta, first_row=n_meta + 2, row_unit="line")
    lines_at = _csv_record_lines(body_text, n_meta)
    if lines_at is not None and len(lines_at) == len(frame) and len(frame):
        if lines_at != list(range(n_meta + 2, n_meta + 2 + len(frame))):
            raw.row_numbers = lines_at
        raw.first_row = lines_at[0]
    return raw


def _read_parquet(path: Path, name: str) -> RawTable:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types
        raise TableReadError(str(exc).strip()) from exc
    meta: dict[str, str] = {}
    raw_meta = (table.schema.metadata or {}).get(b"cartbook")
    if raw_meta:
        meta = {str(k): str(v) for k, v in json.loads(raw_meta).items()}
    df = table.to_pandas()
    frame = df.astype(object).map(_cell_to_str) if len(df.columns) else df
    return RawTable(name, path, frame.reset_index(drop=True), meta, first_row=1, row_unit="record")


def _read_excel(path: Path, name: str) -> RawTable:
    try:
        # keep_default_na=False: cells such as "NA" or "n/a" stay as written, as in CSV files
        sheets = pd.read_excel(path, sheet_name=None, dtype=object, header=0,
                               keep_default_na=False, na_values=[])
    except Exception as exc:  # openpyxl raises several types
        raise TableReadError(str(exc).strip()) from exc
    meta: dict[str, str] = {}
    if "metadata" in sheets:
        m = sheets.pop("metadata")
        if {"key", "value"} <= set(m.columns):
            meta = {_cell_to_str(k): _cell_to_str(v) for k, v in zip(m["key"], m["value"])}
    if not sheets:
        raise TableReadError("the workbook has no data sheet")
    df = sheets.get(name, next(iter(sheets.values())))
    frame = df.map(_cell_to_str) if len(df.columns) else df
    frame.columns = [str(c) for c in frame.columns]
    return RawTable(name, path, frame.reset_index(drop=True), meta, first_row=2, row_unit="row")


def read_raw(path: Path, name: str) -> RawTable:
    """Read ``path`` (CSV, Parquet or Excel) as strings. Raises :class:`TableReadError`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, name)
    if suffix == ".parquet":
        return _read_parquet(path, name)
    if suffix == ".xlsx":
        return _read_excel(path, name)
    raise TableReadError(f"unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}")


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def to_text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Render a typed frame with the file conventions: ``true``/``false``, empty for missing,
    integers without a decimal point, floats in shortest round-trip form."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s):
            out[col] = s.map(lambda v: "" if pd.isna(v) else ("true" if v else "false"))
        elif s.dtype == object and s.dropna().map(lambda v: isinstance(v, bool)).all() and s.notna().any():
            out[col] = s.map(lambda v: "" if pd.isna(v) else ("true" if v else "false"))
        else:
            out[col] = s.map(_cell_to_str)
    return pd.DataFrame(out, columns=list(frame.columns))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_bytes(frame: pd.DataFrame, metadata: Mapping[str, str] | None = None) -> bytes:
    """CSV bytes with ``# key: value`` metadata lines, ``\\n`` line ends, UTF-8."""
    head = "".join(f"# {k}: {v}\n" for k, v in (metadata or {}).items())
    body = to_text_frame(frame).to_csv(index=False, lineterminator="\n")
    return (head + body).encode("utf-8")


def _zip_fixed_times(data: bytes) -> bytes:
    """The zip archive ``data`` with every member's timestamp set to 1980-01-01 (openpyxl
    stamps members with the current time, which made .xlsx output differ run to run)."""
    import zipfile

    out = _io.BytesIO()
    with zipfile.ZipFile(_io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def write_table(frame: pd.DataFrame, path: Path, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``frame`` to ``path`` (format from the suffix) with ``metadata``, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    if suffix == ".csv":
        atomic_write_bytes(path, csv_bytes(frame, meta))
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               b"cartbook": json.dumps(meta, sort_keys=True).encode()})
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf)
        atomic_write_bytes(path, buf.getvalue().to_pybytes())
    elif suffix == ".xlsx":
        buf = _io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as xw:
            frame.to_excel(xw, sheet_name=path.stem[:31], index=False)
            pd.DataFrame({"key": list(meta), "value": list(meta.values())}).to_excel(
                xw, sheet_name="metadata", index=False)
            fixed = _dt.datetime(2000, 1, 1)
            xw.book.properties.created = fixed
            xw.book.properties.modified = fixed
            xw.book.properties.description = meta.get("description", "")
        atomic_write_bytes(path, _zip_fixed_times(buf.getvalue()))
    else:
        raise ValueError(f"unsupported file type {suffix!r}")
    return path
