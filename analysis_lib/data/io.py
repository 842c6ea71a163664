"""Reading and writing the input tables (CSV, Parquet, Excel).

Readers return every cell as a *string* so that the validator can name the exact value that
is wrong; :func:`analysis_lib.data.validation.load_dataset` turns validated strings into typed
columns. Writers are deterministic: the same frame and metadata give the same bytes.

File metadata
-------------
Each file can carry ``key: value`` metadata (``synthetic: true`` marks synthetic data):

* CSV: leading comment lines ``# key: value`` before the header;
* Parquet: the schema metadata entry ``cartbook`` (a JSON object);
* Excel: a sheet named ``metadata`` with columns ``key`` and ``value``; the data are on the
  sheet named after the table (or the workbook's only sheet with data).

What the readers do with real exports
-------------------------------------
Hospital systems and spreadsheet programs write files that look like tables but are not
quite. The readers read what is unambiguous and explain the rest in words
(:class:`TableReadError` for the whole file, :class:`ReadIssue` for one record or column):

* **Format by content, not by name.** A workbook named ``.csv``, CSV text named ``.xlsx``, an
  HTML page, an Excel 97-2003 file or a password-protected (encrypted) workbook is named as
  such (:func:`sniff_format`).
* **Text encoding.** UTF-8 with or without a byte-order mark, and UTF-16 with one (Excel's
  "Unicode text"), are read; anything else is refused with the line of the first bad byte.
* **CSV dialect.** The separator (``,`` ``;`` tab ``|``) is taken from the header line (the
  one whose fields name the table's columns), or from a ``sep=;`` first line, or fixed with
  ``csv_dialect`` (:data:`CSV_DIALECTS`; ``cartbook --csv-dialect``). Decimal commas are read
  only with the ``semicolon-decimal-comma`` dialect (the validator explains when it sees
  them). Line numbers are physical lines of the file, counting metadata, comment and blank
  lines and line breaks inside quoted values; blank records (also ``,,,,`` rows) and comment
  lines (``# ...``) anywhere are skipped; a record with the wrong number of fields is reported
  with its line and its cells are not used.
* **Excel.** Error values (``#N/A``, ``#DIV/0!``, …) stay as written, so the validator
  reports them (pandas would read them as empty cells); a formula whose value was never
  computed is reported instead of being read as empty; a wrong sheet name lists the sheets.
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io as _io
import json
import math
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .schema import SUFFIXES, TableSchema

MISSING_TOKENS: frozenset[str] = frozenset({"", "na", "nan", "null", "none"})

#: CSV dialects: name -> (separator or ``None`` to detect it from the header, decimal mark).
CSV_DIALECTS: dict[str, tuple[str | None, str]] = {
    "auto": (None, "."),
    "comma": (",", "."),
    "semicolon": (";", "."),
    "tab": ("\t", "."),
    "semicolon-decimal-comma": (";", ","),
}
#: Separators the ``auto`` dialect considers, and their names in messages.
SEPARATORS: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}

#: Spreadsheet error values (Excel and LibreOffice), lower case; LibreOffice also writes
#: ``Err:502`` and the like (:data:`SPREADSHEET_ERROR_RE`).
SPREADSHEET_ERRORS: frozenset[str] = frozenset({
    "#n/a", "#div/0!", "#value!", "#ref!", "#name?", "#num!", "#null!", "#spill!", "#calc!",
    "#getting_data", "#field!", "#blocked!", "#connect!", "#busy!", "#unknown!", "#external!",
    "#python!", "#n/a n/a", "#nv", "#wert!", "#bezug!", "#zahl!", "#name?", "#null!",
    "#div/0!", "#valeur!", "#ref!", "#nombre!", "#nom?", "#nul!",
})
SPREADSHEET_ERROR_RE = re.compile(r"^err:\d{3}$", re.IGNORECASE)

#: Characters that never belong in a value: C0/C1 control characters other than tab and line
#: breaks, DEL, and invisible format characters (zero-width spaces and joiners, direction
#: overrides, byte-order marks, interlinear annotations).
CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]")
#: Invisible characters stripped from the ends of column names (with whitespace).
_NAME_STRIP = " \t\r\n\u00a0\ufeff\u200b\u200c\u200d\u2060"

_MAGIC = {
    b"PK\x03\x04": "zip",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "cfb",
    b"PAR1": "parquet",
    b"%PDF": "pdf",
}
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")


@dataclass(frozen=True)
class ReadIssue:
    """A problem found while reading: ``index`` is the 0-based record (``None`` for the whole
    file or a column), ``rule`` a rule of :data:`analysis_lib.data.validation.RULES`."""
    index: int | None
    column: str
    value: str
    rule: str
    message: str


@dataclass
class RawTable:
    """A table as read from disk, every cell a string ("" when empty).

    ``first_row`` is the position, as the user sees it, of the first data record: the line
    number in a CSV file (after metadata and header lines), the sheet row in Excel and the
    1-based record number in Parquet. ``row_unit`` names that position.
    """
    name: str
    path: Path
    frame: pd.DataFrame
    metadata: dict[str, str] = field(default_factory=dict)
    first_row: int = 2
    row_unit: str = "line"
    #: Explicit user-visible position of every record, when records are not consecutive
    #: (blank or comment lines, quoted line breaks, empty sheet rows); ``None``: consecutive.
    row_numbers: list[int] | None = None
    #: Position of the header row (CSV line, sheet row; 0 for Parquet).
    header_row: int = 1
    #: Problems found while reading (wrong field counts, unnamed columns, formulas...).
    issues: list[ReadIssue] = field(default_factory=list)
    #: Records whose cells cannot be trusted (a wrong number of fields): not checked further.
    bad_rows: frozenset[int] = frozenset()
    #: CSV separator and decimal mark ("" for other formats).
    separator: str = ""
    decimal: str = "."
    #: Whether the separator was detected (``auto``) or given by the user.
    separator_detected: bool = False
    #: Excel: the sheet the table was read from.
    sheet: str = ""
    #: The first records after the header, every field as read (position, fields): lets the
    #: validator find a header that is further down.
    preview: list[tuple[int, list[str]]] = field(default_factory=list)

    def row_number(self, index: int) -> int:
        """User-visible position of the record at 0-based ``index``."""
        if self.row_numbers is not None:
            return self.row_numbers[int(index)]
        return self.first_row + int(index)


class TableReadError(Exception):
    """A file could not be read as a table. ``rule`` names the validator rule it breaks;
    ``row`` (user-visible position) and ``column`` locate it when that is known."""
    def __init__(self, message: str, rule: str = "unreadable_file", row: int | None = None,
                 column: str = "", value: str = ""):
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.row = row
        self.column = column
        self.value = value


# --------------------------------------------------------------------------------------------
# Showing user strings
# --------------------------------------------------------------------------------------------

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(value: object, limit: int | None = 60, length: int | None = None) -> str:
    """``value`` as safe, readable text for messages and terminals: at most ``limit``
    characters of it (then ``…`` and its full length, ``length`` when ``value`` was already
    cut), with line breaks, control and invisible characters and terminal escape sequences
    shown as ``\\n``, ``\\x1b``, ``\\u200b`` …"""
    s = "" if value is None else str(value)
    n = max(len(s), length or 0)
    cut = (limit is not None and n > limit) or n > len(s)
    if limit is not None and len(s) > limit:
        s = s[:limit]
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() and not CONTROL_RE.match(ch):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    text = "".join(out)
    return f"{text}… ({n:,} characters)" if cut else text


def clean_name(name: object) -> str:
    """A column name without surrounding whitespace or invisible characters (a byte-order
    mark, zero-width spaces, non-breaking spaces)."""
    return str(name).strip(_NAME_STRIP)


# --------------------------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------------------------

def find_table_files(data_dir: Path, schema: TableSchema) -> list[Path]:
    """Files in ``data_dir`` that hold ``schema``'s table: ``<name><suffix>`` for each suffix
    of :data:`analysis_lib.data.schema.SUFFIXES`, in that order, the name matched without regard to
    case (``Patients.CSV``). Entries that are not regular files are included (the validator
    says what they are)."""
    data_dir = Path(data_dir)
    try:
        entries = sorted(os.listdir(data_dir))
    except OSError:
        return []
    wanted = {f"{schema.name}{s}": i for i, s in enumerate(SUFFIXES)}
    found = [(wanted[e.lower()], e) for e in entries if e.lower() in wanted]
    return [data_dir / e for _, e in sorted(found)]


#: Suffixes of files a user may have meant as a table, with what to do instead.
_OTHER_SUFFIXES = {
    ".xls": "an Excel 97-2003 workbook: save it as .xlsx (Excel Workbook) or as CSV UTF-8",
    ".xlsm": "a macro-enabled workbook: save it as .xlsx (Excel Workbook)",
    ".xlsb": "a binary workbook: save it as .xlsx (Excel Workbook)",
    ".ods": "an OpenDocument spreadsheet: save it as .xlsx or as CSV",
    ".tsv": "tab-separated text: name it .csv (the separator is detected)",
    ".txt": "text: if it is a table, name it .csv (the separator is detected)",
    ".tab": "tab-separated text: name it .csv (the separator is detected)",
    ".json": "JSON is not read: export a CSV, Parquet or Excel file",
    ".sav": "an SPSS file: export a CSV, Parquet or Excel file",
    ".dta": "a Stata file: export a CSV, Parquet or Excel file",
    ".sas7bdat": "a SAS file: export a CSV, Parquet or Excel file",
    ".rds": "an R data file: write it with write.csv(..., row.names = FALSE)",
}


def near_miss_files(data_dir: Path, schema: TableSchema) -> list[tuple[str, str]]:
    """Files that look like ``schema``'s table under another name or format, with advice:
    ``patients.xls``, ``patients.csv.txt``, ``Patients_export.csv``, ``patient.csv``."""
    try:
        entries = sorted(os.listdir(data_dir))
    except OSError:
        return []
    stem = schema.name.lower()
    out = []
    for e in entries:
        low = e.lower()
        if low.startswith((".", "~$")) or low in {f"{stem}{s}" for s in SUFFIXES}:
            continue
        base, suffix = os.path.splitext(low)
        if base == stem and suffix in _OTHER_SUFFIXES:
            out.append((e, _OTHER_SUFFIXES[suffix]))
        elif base.startswith(stem) and low.endswith(tuple(SUFFIXES)) and base != stem:
            out.append((e, f"rename it {schema.name}{suffix}" if base.strip(" _-.()0123456789")
                        == stem or base.rstrip().startswith(stem + ".") else
                        f"if it holds the {schema.name} table, rename it {schema.name}{suffix}"))
        elif base.split(".")[0] == stem and suffix:
            out.append((e, f"the name has a second extension; rename it {schema.name}"
                           f"{os.path.splitext(base)[1] or '.csv'}"))
        elif base in (stem.rstrip("s"), stem + "s") and suffix in SUFFIXES:
            out.append((e, f"rename it {schema.name}{suffix}"))
    return out


# --------------------------------------------------------------------------------------------
# Telling formats apart
# --------------------------------------------------------------------------------------------

def sniff_format(head: bytes) -> str:
    """What the first bytes of a file say it is: ``zip`` (an .xlsx workbook or another zip
    archive), ``cfb`` (an Excel 97-2003 workbook, or an encrypted .xlsx), ``parquet``, ``pdf``,
    ``html``, ``utf16`` (text with a UTF-16 byte-order mark), ``utf16-nobom``, ``binary`` or
    ``text``."""
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf16"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml", b"<head", b"<body",
                         b"<meta")):
        return "html"
    sample = head[:4096]
    if sample and (sample.count(b"\x00") > len(sample) // 10):
        odd, even = sample[1::2], sample[0::2]
        if len(sample) >= 8 and (odd.count(0) > 0.9 * len(odd) or even.count(0) > 0.9 * len(even)):
            return "utf16-nobom"
        return "binary"
    return "text"


def _format_error(kind: str, path: Path, data: bytes, expected: str) -> TableReadError:
    """The error for a file whose content is not what its suffix says."""
    name = path.stem
    if kind == "cfb":
        if _ENCRYPTED_STREAM in data:
            return TableReadError(
                "the workbook is password-protected (encrypted), so it cannot be read; save an "
                "unprotected copy (File > Info > Protect Workbook > Encrypt with Password: "
                "clear the password) or export the sheet as CSV UTF-8", rule="protected_file")
        return TableReadError(
            "this is an Excel 97-2003 workbook (.xls format), not a "
            f"{expected}; open it in Excel and save it as {name}.xlsx (Excel Workbook) or as "
            f"{name}.csv (CSV UTF-8)", rule="wrong_format")
    if kind == "zip":
        return TableReadError(
            f"this is an Excel workbook or another zip archive, not {expected}; if it is a "
            f"workbook, name it {name}.xlsx", rule="wrong_format")
    if kind == "parquet":
        return TableReadError(f"this is a Parquet file, not {expected}; name it {name}.parquet",
                              rule="wrong_format")
    if kind == "pdf":
        return TableReadError(f"this is a PDF document, not {expected}", rule="wrong_format")
    if kind == "html":
        return TableReadError(
            f"this is an HTML (web) page, not {expected}: some hospital systems save a web "
            f"page with a spreadsheet name; open it in Excel and save it as {name}.xlsx or "
            f"{name}.csv (CSV UTF-8)", rule="wrong_format")
    if kind == "binary":
        return TableReadError(f"this is binary data, not {expected}", rule="wrong_format")
    if kind == "utf16-nobom":
        return TableReadError("this looks like UTF-16 text without a byte-order mark (Excel's "
                              "'Unicode Text'?); save it as 'CSV UTF-8'", rule="unreadable_file")
    if kind in ("text", "utf16"):
        return TableReadError(f"this is text (CSV?), not {expected}; if it is a CSV file, "
                              f"name it {name}.csv", rule="wrong_format")
    return TableReadError(f"this is not {expected}", rule="wrong_format")


def _cell_to_str(v: object) -> str:
    """Render a cell read by a typed reader (Excel, Parquet) as the string a CSV would hold."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(v) if not v.is_integer() else str(int(v)) if abs(v) < 1e15 else repr(v)
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time, pd.Timestamp)):
        return v.isoformat()
    try:
        if pd.isna(v):  # type: ignore[arg-type]
            return ""
    except (TypeError, ValueError):
        pass
    return str(v)


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------

def _line_of(data: bytes, pos: int) -> int:
    """1-based line of byte ``pos`` (line breaks: \\n, \\r\\n or \\r)."""
    head = data[:pos]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def _decode(data: bytes) -> str:
    """The text of a CSV file: UTF-8 (optional byte-order mark) or UTF-16 with one."""
    if data.startswith(codecs.BOM_UTF32_LE) or data.startswith(codecs.BOM_UTF32_BE):
        raise TableReadError("the file is UTF-32 text; save it as 'CSV UTF-8'",
                             rule="unreadable_file")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise TableReadError(f"the file starts like UTF-16 text but is not ({exc.reason}); "
                                 "save it as 'CSV UTF-8'") from exc
    body = data[3:] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        pos = exc.start + (len(data) - len(body))
        bad = data[pos]
        hint = ("probably a Windows (Windows-1252) or Latin-1 export, as Excel's "
                "'CSV (Comma delimited)' writes" if 0x80 <= bad <= 0xff else "")
        raise TableReadError(
            f"the file is not UTF-8 text: byte 0x{bad:02X} on line {_line_of(data, pos)} "
            f"({exc.reason}){'; ' + hint if hint else ''}; save it as 'CSV UTF-8'",
            row=_line_of(data, pos)) from exc


def _split_fields(line: str, sep: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=sep, strict=False), [])
    except csv.Error:
        return line.split(sep)


def _choose_separator(line: str, expected: Sequence[str]) -> str:
    """The separator that splits the header ``line`` into the most expected column names
    (then into the most fields); a comma when nothing splits it."""
    known = set(expected)
    best, best_key = ",", (-1, -1)
    for sep in SEPARATORS:
        fields = [clean_name(f) for f in _split_fields(line, sep)]
        key = (sum(f in known for f in fields), len(fields))
        if key > best_key:
            best, best_key = sep, key
    return best


def _is_comment(rec: list[str], n_header: int) -> bool:
    """A comment line anywhere in the body: its first field starts with ``#`` (and is not a
    spreadsheet error value) and it does not have the header's number of fields."""
    if not rec:
        return False
    first = rec[0].lstrip()
    return (first.startswith("#") and first.lower() not in SPREADSHEET_ERRORS
            and (len(rec) == 1 or len(rec) != n_header))


def _read_csv(path: Path, name: str, dialect: str = "auto",
              expected: Sequence[str] = ()) -> RawTable:
    if dialect not in CSV_DIALECTS:
        raise ValueError(f"unknown CSV dialect {dialect!r}; use one of {', '.join(CSV_DIALECTS)}")
    data = path.read_bytes()
    kind = sniff_format(data[:8192])
    if kind not in ("text", "utf16"):
        raise _format_error(kind, path, data, "CSV text")
    text = _decode(data)
    if not text.strip(" \t\r\n\ufeff"):
        raise TableReadError("the file is empty: it has no header row")
    fixed_sep, decimal = CSV_DIALECTS[dialect]

    # metadata lines (# key: value), blank lines and an Excel "sep=;" line before the header
    buf = _io.StringIO(text, newline="")
    meta: dict[str, str] = {}
    n_pre = 0
    sep_line: str | None = None
    header_line = ""
    offset = 0
    while True:
        offset = buf.tell()
        line = buf.readline()
        if not line:
            raise TableReadError("the file has no header row (only comment or blank lines)")
        body = line.strip(" \t\r\n\ufeff")
        if body.startswith("#"):
            n_pre += 1
            if ":" in body:
                k, v = body[1:].split(":", 1)
                meta[k.strip()] = v.strip()
            continue
        if not body:
            n_pre += 1
            continue
        m = re.fullmatch(r'"?sep=(.)"?,*', body, flags=re.IGNORECASE)
        if m and sep_line is None and n_pre < 50:
            sep_line = m.group(1)
            n_pre += 1
            continue
        header_line = line.rstrip("\r\n")
        break
    detected = fixed_sep is None and sep_line is None
    sep = fixed_sep or sep_line or _choose_separator(header_line, expected)
    if detected and expected:  # title lines above the header: take the separator of the
        lines = text[offset:offset + 200_000].splitlines()[:30]  # line that names the columns
        known = set(expected)
        best = max(((sum(clean_name(f) in known for f in _split_fields(line, c)), c)
                    for line in lines for c in SEPARATORS), default=(0, sep))
        if best[0] >= 2 and sum(clean_name(f) in known
                                for f in _split_fields(header_line, sep)) < best[0]:
            sep = best[1]
    if fixed_sep is not None and expected:
        best = _choose_separator(header_line, expected)
        n_fixed = len(_split_fields(header_line, fixed_sep))
        if best != fixed_sep and n_fixed == 1:
            raise TableReadError(
                f"with --csv-dialect {dialect} the separator is the {SEPARATORS[fixed_sep]}, "
                f"but the header has no {SEPARATORS[fixed_sep]}: the file looks "
                f"{SEPARATORS[best]}-separated; use --csv-dialect auto (or "
                f"{'tab' if best == chr(9) else 'semicolon' if best == ';' else 'comma'})",
                rule="wrong_separator", row=n_pre + 1)
    body_text = text[offset:]
    frame, starts, issues, bad, header_start = _parse_body(body_text, sep, n_pre)
    raw = RawTable(name, path, frame, meta, first_row=starts[0] if starts else header_start + 1,
                   row_unit="line", header_row=header_start, issues=issues,
                   bad_rows=frozenset(bad), separator=sep, decimal=decimal,
                   separator_detected=detected, preview=_preview(body_text, sep, n_pre))
    if starts and starts != list(range(starts[0], starts[0] + len(starts))):
        raw.row_numbers = starts
    return raw


def _preview(body: str, sep: str, n_pre: int, n: int = 30) -> list[tuple[int, list[str]]]:
    """The first ``n`` non-blank records after the header, with their start lines."""
    out: list[tuple[int, list[str]]] = []
    reader = csv.reader(_io.StringIO(body[:2_000_000], newline=""), delimiter=sep, strict=False)
    prev = 0
    try:
        for k, rec in enumerate(reader):
            start, prev = n_pre + prev + 1, reader.line_num
            if k and rec and "".join(rec).strip():
                out.append((start, rec))
                if len(out) >= n:
                    break
    except csv.Error:
        pass
    return out


def _parse_body(body: str, sep: str, n_pre: int
                ) -> tuple[pd.DataFrame, list[int], list[ReadIssue], list[int], int]:
    """Parse the CSV text from the header on: the frame of data records, the line on which
    each starts, the issues, the records with a wrong number of fields and the header line.

    The structure (records, their lines and field counts, blank and comment records) comes
    from Python's :mod:`csv` (or, in text without any quote, from the lines themselves); the
    cells, for speed, from pandas' C parser, used only when it splits the text into exactly
    the same records with the same field counts (and first fields), and the text has no
    control characters (which it would drop). Otherwise the cells come from :mod:`csv`."""
    if '"' not in body:
        header, keep, starts, counts, firsts, issues, bad = _structure_unquoted(body, sep, n_pre)
    else:
        header, keep, starts, counts, firsts, issues, bad = _structure_csv(body, sep, n_pre)
    header_start = n_pre + 1
    names = [clean_name(h) for h in header]
    width = len(names)
    frame = None
    if keep and not CONTROL_RE.search(body):
        frame = _cells_with_pandas(body, sep, counts, firsts, keep, bad, width)
    if frame is None:
        frame = _cells_with_csv(body, sep, keep, width)
    frame.columns = names  # records with a wrong field count keep their cells: the validator
    bad = sorted(set(bad) | set(_repeated_headers(frame, names, issues, "line", starts)))
    return frame, starts, issues, bad, header_start  # does not check them (bad_rows)


def _repeated_headers(frame: pd.DataFrame, names: list[str], issues: list[ReadIssue],
                      unit: str, positions: list[int]) -> list[int]:
    """Records that repeat the header row (an export appended to another, header and all):
    reported (rule ``repeated_header``) and returned, so that their cells are not checked."""
    if not len(frame) or len(names) < 2:
        return []
    first = frame.iloc[:, 0].astype(str).str.strip()
    cand = np.flatnonzero((first == names[0]).to_numpy())
    out = []
    for i in cand:
        if [clean_name(v) for v in frame.iloc[i]] == names:
            out.append(int(i))
            issues.append(ReadIssue(int(i), "", "", "repeated_header",
                                    f"this {unit} repeats the header row (the header is on "
                                    f"{unit} {positions[0] - 1 if positions else 1} too): two "
                                    "exports appended to each other? Remove the repeated part"))
    return out


def _accept(rec: list[str], n_header: int) -> str:
    """What to do with a record after the header: ``data``, ``skip`` (blank or comment) or
    ``bad`` (a wrong number of fields)."""
    n = len(rec)
    if not n or not "".join(rec).strip():
        return "skip"  # a blank record, also ",,,," rows
    if _is_comment(rec, n_header):
        return "skip"
    return "data" if n == n_header else "bad"


def _structure_csv(body: str, sep: str, n_pre: int):
    """Records of ``body`` by :mod:`csv` (quoted values may hold separators and line breaks)."""
    keep: list[int] = []        # record number (0 = header) of each data record
    starts: list[int] = []
    counts: list[int] = []
    firsts: list[str] = []
    issues: list[ReadIssue] = []
    bad: list[int] = []
    reader = csv.reader(_io.StringIO(body, newline=""), delimiter=sep, strict=False)
    header = next(reader)
    n_header = len(header)
    counts.append(n_header)
    firsts.append(header[0] if header else "")
    prev = reader.line_num
    k = 0
    for rec in reader:
        k += 1
        start = n_pre + prev + 1
        prev = reader.line_num
        n = len(rec)
        counts.append(n)
        firsts.append(rec[0] if n else "")
        what = ("data" if n == n_header and not rec[0].startswith("#")
                and "".join(rec).strip() else _accept(rec, n_header))
        if what == "skip":
            continue
        if what == "bad":
            bad.append(len(keep))
            issues.append(ReadIssue(len(keep), "", "", "field_count", _field_count_message(
                rec, n_header, sep, start, n_pre + prev)))
        keep.append(k)
        starts.append(start)
    return header, keep, starts, counts, firsts, issues, bad


def _structure_unquoted(body: str, sep: str, n_pre: int):
    """Records of ``body`` when it has no quote character: one record per physical line, so
    the structure is found without a CSV parser."""
    lines = re.split(r"\r\n|\r|\n", body)
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split(sep)
    n_header = len(header)
    counts = [line.count(sep) + 1 if line else 0 for line in lines]
    keep: list[int] = []
    starts: list[int] = []
    issues: list[ReadIssue] = []
    bad: list[int] = []
    strip = sep + " \t"
    for k in range(1, len(lines)):
        line = lines[k]
        if counts[k] == n_header and not line.startswith("#") and line.strip(strip):
            keep.append(k)
            starts.append(n_pre + k + 1)
            continue
        if not line.strip(strip):
            continue
        rec = line.split(sep)
        what = _accept(rec, n_header)
        if what == "skip":
            continue
        if what == "bad":
            bad.append(len(keep))
            issues.append(ReadIssue(len(keep), "", "", "field_count", _field_count_message(
                rec, n_header, sep, n_pre + k + 1, n_pre + k + 1)))
        keep.append(k)
        starts.append(n_pre + k + 1)
    return header, keep, starts, counts, [], issues, bad


def _cells_with_csv(body: str, sep: str, keep: list[int], width: int) -> pd.DataFrame:
    """The data records' cells read by :mod:`csv` (short records padded with "")."""
    wanted = set(keep)
    rows = [(rec + [""] * width)[:width] for k, rec in
            enumerate(csv.reader(_io.StringIO(body, newline=""), delimiter=sep, strict=False))
            if k in wanted]
    if not rows:
        return pd.DataFrame({j: np.array([], dtype=object) for j in range(width)})
    return pd.DataFrame({j: np.array(c, dtype=object) for j, c in enumerate(zip(*rows))})


def _cells_with_pandas(body: str, sep: str, counts: list[int], firsts: list[str],
                       keep: list[int], bad: list[int], width: int) -> pd.DataFrame | None:
    """The data records' cells read by pandas' C parser, or ``None`` when its records differ
    from those of the structure pass: a different number of records, a data record with
    another number of fields, or (quoted text) another first field."""
    n_max = max(max(counts), width, 1)
    try:
        df = pd.read_csv(_io.StringIO(body), sep=sep, header=None, names=range(n_max),
                         dtype=str, keep_default_na=False, na_filter=False,
                         skip_blank_lines=False, engine="c", quotechar='"', doublequote=True,
                         low_memory=False)
    except (pd.errors.ParserError, ValueError, UnicodeError):
        return None
    if len(df) != len(counts):
        return None
    rows = np.asarray(keep)
    if bad:
        good = np.ones(len(rows), bool)
        good[np.asarray(bad)] = False
        check = rows[good]
    else:
        check = rows
    if width and df[width - 1].iloc[check].isna().any():
        return None
    if n_max > width and df[width].iloc[check].notna().any():
        return None
    if firsts and width and df[0].iloc[check].tolist() != [firsts[k] for k in check]:
        return None
    out = df.iloc[rows, :width].reset_index(drop=True) if len(rows) != len(df) - 1 \
        else df.iloc[1:, :width].reset_index(drop=True)
    if bad:
        out = out.where(pd.notna(out), "")
    out.columns = range(width)
    return out


def _field_count_message(rec: list[str], n: int, sep: str, start: int, end: int) -> str:
    name = SEPARATORS.get(sep, repr(sep))
    msg = f"this record has {len(rec)} field(s) but the header has {n}"
    if end > start:
        msg += (f"; it runs from line {start} to line {end}: a quote (\") opened in it is "
                "closed only there, or never")
    elif len(rec) > n and sep == "," and re.search(r"\d,\d{3}(\D|$)", ",".join(rec)):
        msg += ("; an unquoted number with a thousands separator or a decimal comma "
                "(write 25000 or 7.5)?")
    elif len(rec) > n and not any(f.strip() for f in rec[n:]):
        msg += f"; it ends with {len(rec) - n} extra {name}(s)"
    elif len(rec) > n:
        msg += f"; an unquoted {name} inside a value?"
    elif len(rec) == 1:
        msg += "; a title, footer or note line? remove it"
    else:
        msg += f"; a missing {name}, or a line break inside a value?"
    return msg


# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------

def _read_parquet(path: Path, name: str) -> RawTable:
    import pyarrow.parquet as pq

    with open(path, "rb") as fh:
        head = fh.read(8192)
    kind = sniff_format(head)
    if kind != "parquet":
        raise _format_error(kind, path, head if kind != "cfb" else path.read_bytes(),
                            "a Parquet file")
    try:
        table = pq.read_table(path)
        df = table.to_pandas()
    except Exception as exc:  # pyarrow raises several types
        raise TableReadError(f"the Parquet file cannot be read: {printable(exc, 300)}") from exc
    meta: dict[str, str] = {}
    raw_meta = (table.schema.metadata or {}).get(b"cartbook")
    if raw_meta:
        try:
            meta = {str(k): str(v) for k, v in json.loads(raw_meta).items()}
        except (ValueError, AttributeError) as exc:
            raise TableReadError("the Parquet file's 'cartbook' metadata is not a JSON "
                                 "object") from exc
    names = [clean_name(c) for c in df.columns]
    df = df.reset_index(drop=True)
    cols = {i: df.iloc[:, i].astype(object).map(_cell_to_str) for i in range(len(names))}
    frame = pd.DataFrame(cols, index=range(len(df)))
    frame.columns = names
    keep = (frame != "").any(axis=1).to_numpy() if len(names) else np.zeros(len(df), bool)
    positions = [i + 1 for i in np.flatnonzero(keep)]
    raw = RawTable(name, path, frame[keep].reset_index(drop=True), meta, first_row=1,
                   row_unit="record", header_row=0)
    if len(positions) != len(df):
        raw.row_numbers = positions
    return raw


# --------------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------------

_IGNORED_SHEETS = ("metadata", "dictionary")


def _sheet_has_data(ws, rows: int = 50) -> bool:
    for i, row in enumerate(ws.iter_rows(values_only=True)):
        if any(v is not None and str(v).strip() for v in row):
            return True
        if i >= rows:
            return False
    return False


def _formula_cells(path: Path, sheet: str) -> set[tuple[int, int]]:
    """(row, column) of the cells of ``sheet`` that hold a formula (1-based)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        out = set()
        for r, row in enumerate(wb[sheet].iter_rows(values_only=True), start=1):
            for c, v in enumerate(row, start=1):
                if isinstance(v, str) and v.startswith("="):
                    out.add((r, c))
                elif v is not None and type(v).__name__ in ("ArrayFormula", "DataTableFormula"):
                    out.add((r, c))
        return out
    finally:
        wb.close()


def _read_excel(path: Path, name: str) -> RawTable:
    data = path.read_bytes()
    kind = sniff_format(data[:8192])
    if kind != "zip":
        raise _format_error(kind, path, data, "an Excel .xlsx workbook")
    try:
        with zipfile.ZipFile(_io.BytesIO(data)) as z:
            members = set(z.namelist())
            sheets_xml = [m for m in members if m.startswith("xl/worksheets/") and
                          m.endswith(".xml")]
            has_formulas = any(re.search(rb"<(\w+:)?f[ >/]", z.read(m)) for m in sheets_xml)
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
        raise TableReadError(f"the workbook is damaged (not a readable zip archive: "
                             f"{printable(exc, 200)})") from exc
    if "xl/workbook.xml" not in members:
        what = ("an OpenDocument spreadsheet (.ods)" if "content.xml" in members else
                "a Word document" if "word/document.xml" in members else
                "a zip archive that is not an Excel workbook")
        raise TableReadError(f"this is {what}; save the table as an Excel workbook (.xlsx) or "
                             "as CSV UTF-8", rule="wrong_format")
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types
        raise TableReadError(f"the workbook cannot be read: {printable(exc, 200)}") from exc
    try:
        names = list(wb.sheetnames)
        by_lower = {clean_name(n).lower(): n for n in names}
        meta: dict[str, str] = {}
        if "metadata" in by_lower:
            rows = list(wb[by_lower["metadata"]].iter_rows(values_only=True))
            if rows:
                head = [clean_name(_cell_to_str(v)).lower() for v in rows[0]]
                if "key" in head and "value" in head:
                    k, v = head.index("key"), head.index("value")
                    meta = {_cell_to_str(r[k]): _cell_to_str(r[v]) for r in rows[1:]
                            if len(r) > max(k, v) and r[k] is not None}
        listing = ", ".join(f"'{printable(n, 40)}'" for n in names)
        if name.lower() in by_lower:
            sheet = by_lower[name.lower()]
        else:
            candidates = [n for n in names if clean_name(n).lower() not in _IGNORED_SHEETS
                          and _sheet_has_data(wb[n])]
            other_tables = [n for n in candidates if clean_name(n).lower() in
                            ("patients", "kinetics")]
            if len(candidates) == 1 and not other_tables:
                sheet = candidates[0]
            elif not candidates:
                raise TableReadError(f"the workbook has no sheet with data (sheets found: "
                                     f"{listing})", rule="empty_table")
            else:
                raise TableReadError(
                    f"no sheet is named '{name}' (sheets found: {listing}); name the sheet "
                    f"that holds the {name} table '{name}'", rule="wrong_sheet")
        ws = wb[sheet]
        grid = [tuple(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    formulas = _formula_cells(path, sheet) if has_formulas else set()
    header_at = next((i for i, r in enumerate(grid)
                      if any(v is not None and _cell_to_str(v).strip() for v in r)), None)
    if header_at is None:
        raise TableReadError(f"the sheet '{printable(sheet, 40)}' is empty: it has no header "
                             "row", rule="empty_table" if len(names) > 1 else "unreadable_file")
    header = [_cell_to_str(v) for v in grid[header_at]]
    while header and not header[-1].strip():
        header.pop()
    width = len(header)
    issues: list[ReadIssue] = []
    rows: list[list[str]] = []
    positions: list[int] = []
    extra_cols: dict[int, int] = {}
    for i in range(header_at + 1, len(grid)):
        r = grid[i]
        cells = [_cell_to_str(v) for v in r]
        if not any(c.strip() for c in cells):
            continue
        for j in range(width, len(cells)):
            if cells[j].strip() and j not in extra_cols:
                extra_cols[j] = len(rows)
        rows.append((cells + [""] * width)[:width])
        positions.append(i + 1)
    for j, first in sorted(extra_cols.items()):
        issues.append(ReadIssue(None, "", "", "unnamed_column",
                                f"column {_column_letter(j)} has no name in the header row but "
                                f"holds values (first on row {positions[first]}); name it or "
                                "delete it"))
    names_clean = [clean_name(h) for h in header]
    frame = pd.DataFrame(rows if rows else np.empty((0, width), dtype=object),
                         columns=range(width), dtype=object)
    frame.columns = names_clean
    repeated = _repeated_headers(frame, names_clean, issues, "row", [header_at + 2])
    if formulas:
        row_index = {p: k for k, p in enumerate(positions)}
        for (r, c) in sorted(formulas):
            k = row_index.get(r)
            if k is None or c > width or frame.iat[k, c - 1] != "":
                continue
            frame.iat[k, c - 1] = "="  # not empty: the value is unknown
            issues.append(ReadIssue(k, names_clean[c - 1], "=", "spreadsheet_error",
                                    "the cell holds a formula whose value was never computed "
                                    "(the file was written by a program, not saved by a "
                                    "spreadsheet); open and save it in Excel, or paste the "
                                    "values"))
    preview = [(i + 1, [_cell_to_str(v) for v in grid[i]])
               for i in range(header_at + 1, min(len(grid), header_at + 31))
               if any(v is not None and _cell_to_str(v).strip() for v in grid[i])]
    raw = RawTable(name, path, frame, meta, first_row=positions[0] if positions else
                   header_at + 2, row_unit="row", header_row=header_at + 1, issues=issues,
                   sheet=sheet, bad_rows=frozenset(repeated), preview=preview)
    if positions and positions != list(range(positions[0], positions[0] + len(positions))):
        raw.row_numbers = positions
    return raw


def _column_letter(j: int) -> str:
    """Spreadsheet column letter of the 0-based column ``j`` (0 -> A, 26 -> AA)."""
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


def read_raw(path: Path, name: str, csv_dialect: str = "auto",
             expected: Sequence[str] = ()) -> RawTable:
    """Read ``path`` (CSV, Parquet or Excel, by its suffix in any case) as strings.

    ``csv_dialect`` (:data:`CSV_DIALECTS`) fixes the CSV separator and decimal mark;
    ``expected`` (the table's column names) lets ``auto`` find the separator of the header.
    Raises :class:`TableReadError`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import gc

        enabled = gc.isenabled()
        gc.disable()  # millions of small strings: the collector would rescan them repeatedly
        limit = csv.field_size_limit()
        csv.field_size_limit(2**31 - 1)  # a cell may be large; the validator cuts what it shows
        try:
            return _read_csv(path, name, csv_dialect, expected)
        finally:
            csv.field_size_limit(limit)
            if enabled:
                gc.enable()
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
