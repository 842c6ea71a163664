"""Validation of a data directory against the schemas in :mod:`analysis_lib.data.schema`.

Every problem is collected (not just the first) and reported with the file, the row as the
user sees it (CSV line, Excel sheet row, Parquet record), the column, the offending value and
the name of the rule it breaks. Nothing is written anywhere: validation only reads.

The root cause first
--------------------
Problems have a severity (:data:`SEVERITIES`): the structure of a file (it is missing, cannot
be read, is the wrong format, has no recognisable header, uses decimal commas), then its
columns, then records with a wrong number of fields, then single cells, then the consistency
of a row, then the links between tables. A structural problem is reported *instead of* what it
would cause downstream: a file whose header cannot be found is not checked cell by cell, a
missing column is not reported again in every row, an invalid cell is not reported again by
the checks that combine columns, and the kinetics table is checked against the patients table
only when the patients table passed its structural checks. Reports are ordered by severity,
and :meth:`ValidationReport.to_text` shows a bounded number of problems per rule
("… and 196 more like this"), so one flood never hides another rule.

Cost
----
Every check is linear or n log n in the number of rows: cells are parsed once per distinct
value (:func:`pandas.factorize`), duplicate keys are found by hashing, not by comparing rows
pairwise (``benchmarks/bench_validate.py``: 200,000 rows, 100,000 of them duplicated ids).

Rules
-----
See :data:`RULES` (also shown in the book's data dictionary).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .io import (
    CONTROL_RE,
    CSV_DIALECTS,
    MISSING_TOKENS,
    SPREADSHEET_ERRORS,
    RawTable,
    ReadIssue,
    TableReadError,
    clean_name,
    find_table_files,
    near_miss_files,
    printable,
    read_raw,
)
from .schema import IDENTIFIER_NAME_WORDS, KINETICS, PATIENTS, TABLES, Field, TableSchema

#: Every rule the validator applies, with what it means (shown in the data dictionary), in
#: order of severity.
RULES: dict[str, str] = {
    # --- files and their structure ---------------------------------------------------------
    "missing_file": "A required table (patients, kinetics) is not in the data directory (file "
                    "names are matched without regard to case; near misses such as "
                    "patients.xls are named).",
    "ambiguous_file": "The same table is supplied in more than one format.",
    "outside_data_folder": "The file is a symbolic link to a place outside the data folder; "
                           "copy the file into the folder instead.",
    "unreadable_file": "The file cannot be read as a table (not UTF-8 text, damaged, empty, "
                       "or not a regular file).",
    "wrong_format": "The file's content is not what its name says: a workbook named .csv, "
                    "CSV text named .xlsx, an Excel 97-2003 (.xls) file, an HTML page.",
    "protected_file": "The workbook is password-protected (encrypted) and cannot be read.",
    "wrong_sheet": "The workbook has several sheets and none is named after the table; the "
                   "sheets found are listed.",
    "wrong_separator": "The CSV separator given with `--csv-dialect` is not the one the file "
                       "uses.",
    "header_not_found": "The first row does not name the table's columns: the header is "
                        "further down (title lines above it), missing, or the file holds "
                        "another table.",
    "decimal_comma": "A CSV file separated by semicolons or tabs writes numbers with decimal "
                     "commas (a European-locale export): re-export it, or read it with "
                     "`--csv-dialect semicolon-decimal-comma`.",
    "empty_table": "The file has a header but no data rows.",
    "synthetic_flag_mixed": "Some files are marked synthetic and others are not.",
    # --- columns ---------------------------------------------------------------------------
    "missing_column": "A required column is absent.",
    "unknown_column": "A column is not part of the data model (a typo, or extra data).",
    "duplicate_column": "A column name appears twice.",
    "unnamed_column": "A column has no name: R's row names (`write.csv` without "
                      "`row.names = FALSE`), a pandas index, or a separator at the end of the "
                      "header.",
    "direct_identifier": "A column holds direct identifiers: names, birth dates, record "
                         "numbers, contact details or calendar dates.",
    # --- records ---------------------------------------------------------------------------
    "repeated_header": "A record repeats the header row (two exports appended to each other); "
                       "its cells are not used.",
    "field_count": "A CSV record has more or fewer fields than the header (an unquoted "
                   "separator or decimal comma, an unclosed quote, a footer line); its cells "
                   "are not used.",
    # --- cells -----------------------------------------------------------------------------
    "required_value": "A cell that must have a value is empty.",
    "spreadsheet_error": "A cell holds a spreadsheet error (#N/A, #DIV/0!, #VALUE!, #REF!, "
                         "Err:502, …) or a formula whose value was never computed.",
    "control_character": "A value contains a control or invisible character (NUL, escape, "
                         "zero-width space, direction override, byte-order mark).",
    "type": "A value is not of the column's type (number, whole number, true/false).",
    "range": "A number is outside the column's allowed range.",
    "category": "A value is not one of the column's allowed categories.",
    "id_format": "A patient code uses characters other than letters, digits, '_' and '-'.",
    "calendar_date": "A cell holds a calendar date; times must be days from infusion.",
    "identifier_like": "A patient code contains six or more consecutive digits, like a "
                       "medical record number.",
    # --- one row ---------------------------------------------------------------------------
    "unique_id": "A patient appears more than once in the patients table.",
    "duplicate_sample_day": "A patient has two kinetics samples on the same day.",
    "event_day_missing": "An event is recorded (relapse, HSCT, death) without its day.",
    "event_day_unexpected": "An event day is given although the event is recorded as absent.",
    "after_last_followup": "A dated event (IL-6 peak, B-cell aplasia onset, HSCT, relapse, "
                           "death) falls after the last follow-up day.",
    "death_not_last_followup": "A patient who died has a last follow-up day after the death.",
    "relapse_after_death": "Relapse is dated after death (and within follow-up).",
    "hsct_after_death": "HSCT is dated after death (and within follow-up).",
    "event_after_death": "The IL-6 peak, the onset or the end (onset + duration) of B-cell "
                         "aplasia is dated after death (and within follow-up).",
    "diagnosis_longer_than_age": "The interval from diagnosis to infusion is longer than the "
                                 "patient's age (ages in whole years count as completed "
                                 "years, so up to one more year is allowed; otherwise one "
                                 "month).",
    "death_cause_missing": "A death has no cause.",
    "death_cause_unexpected": "A cause of death is given for a patient who did not die.",
    "leukemia_death_without_relapse": "A leukaemia death without relapse or day-28 "
                                      "non-response.",
    "relapse_cd19_missing": "A relapse has no CD19 status.",
    "relapse_cd19_unexpected": "A CD19 status is given without a relapse.",
    "bca_fields": "B-cell aplasia onset, duration and ongoing status must be given exactly "
                  "when B-cell aplasia occurred.",
    "bca_after_last_followup": "B-cell aplasia onset plus duration exceeds last follow-up.",
    "gvhd_without_prior_hsct": "GVHD is recorded for a patient without a prior HSCT.",
    "gvhd_missing": "GVHD status is missing for a patient with a prior HSCT.",
    "il6_fields": "IL-6 peak day and above-limit flag must be given exactly when the peak is.",
    "lloq_inconsistent": "A kinetics level contradicts its below-LLOQ flag or its LLOQ.",
    # --- across tables ---------------------------------------------------------------------
    "unknown_patient": "A kinetics sample belongs to a patient missing from the patients table.",
    "sample_after_last_followup": "A kinetics sample is dated after the patient's last "
                                  "follow-up.",
    "sample_after_death": "A kinetics sample is dated after the patient's death (and within "
                          "follow-up).",
}

#: Severity levels, most severe first: (level, heading in reports).
SEVERITIES: tuple[str, ...] = ("files and structure", "columns", "records", "cells",
                               "rows", "across tables")
_STRUCTURE = ("missing_file", "ambiguous_file", "outside_data_folder", "unreadable_file",
              "wrong_format", "protected_file", "wrong_sheet", "wrong_separator",
              "header_not_found", "decimal_comma", "empty_table", "synthetic_flag_mixed")
_COLUMNS = ("missing_column", "unknown_column", "duplicate_column", "unnamed_column",
            "direct_identifier")
_CELLS = ("required_value", "spreadsheet_error", "control_character", "type", "range",
          "category", "id_format", "calendar_date", "identifier_like")
_ACROSS = ("unknown_patient", "sample_after_last_followup", "sample_after_death")
#: Cell rules after which the parsed value is unknown (not empty): checks that combine
#: columns must not read such a cell as "missing" and report it a second time.
_CELL_RULES = frozenset({"required_value", "type", "range", "category", "calendar_date",
                         "spreadsheet_error", "control_character"})
_CONSISTENCY_RULES = frozenset(
    r for r in RULES if r not in _STRUCTURE + _COLUMNS + _CELLS + ("field_count",
                                                                   "repeated_header")
    and r not in ("unique_id", "duplicate_sample_day"))
#: Problems per rule shown by default in text reports.
PER_RULE = 10

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_DIGITS_RE = re.compile(r"\d{6,}")
_MONTHS = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_RES = (
    re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ T].*)?$"),            # 2019-03-04, ISO times
    re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}( .*)?$"),            # 04/03/2019
    re.compile(rf"^\d{{1,2}}[-. ]{_MONTHS}[-. ]\d{{2,4}}$", re.IGNORECASE),  # 4-Mar-2019
    re.compile(rf"^{_MONTHS} \d{{1,2}},? \d{{4}}$", re.IGNORECASE),     # March 4, 2019
)
_DATE_ANY = re.compile("|".join(f"(?:{r.pattern})" for r in _DATE_RES), re.IGNORECASE)
_TRUE = {"true", "yes", "1", "t", "y"}
_FALSE = {"false", "no", "0", "f", "n"}
_LOCAL_BOOLEANS = {"wahr", "falsch", "vrai", "faux", "verdadero", "falso", "vero", "waar",
                   "onwaar", "ja", "nein", "oui", "non", "si", "sí", "sim", "não", "nee", "x"}
_ERR_RE = re.compile(r"^err:\d{3}$")
_DECIMAL_COMMA_RE = re.compile(r"^[+-]?\d*,\d+$")
_GROUPED_RE = re.compile(r"^[+-]?[1-9]\d{0,2}(\.\d{3})+$")
#: Environment variables through which the build passes the data directory, its label and
#: the CSV dialect to the notebooks (so that no path of the build machine is a parameter).
DATA_DIR_ENV = "CARTBOOK_DATA_DIR"
DATA_LABEL_ENV = "CARTBOOK_DATA_LABEL"
CSV_DIALECT_ENV = "CARTBOOK_CSV_DIALECT"
#: The ``data_dir`` parameter the build gives the notebooks: read from :data:`DATA_DIR_ENV`.
DATA_DIR_REF = "$" + DATA_DIR_ENV


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input. ``row`` is ``None`` for file- or column-level problems.
    ``value`` is the cell as written, cut to :data:`VALUE_LIMIT` characters."""
    file: str
    row: int | None
    column: str
    value: str
    rule: str
    message: str
    #: Length of the cell as written, when ``value`` had to be cut.
    length: int | None = field(default=None, compare=False)

    @property
    def severity(self) -> int:
        """Index in :data:`SEVERITIES` (0: the structure of a file)."""
        return severity(self.rule, self.row)

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "row": self.row, "column": self.column, "value": self.value,
                "rule": self.rule, "message": self.message}

    def line(self) -> str:
        """The problem on one line of plain text, user strings shown escaped and cut."""
        where = printable(self.file, 80) if self.row is None else \
            f"{printable(self.file, 80)}:{self.row}"
        col = f" [{printable(self.column, 40)}]" if self.column else ""
        val = f" value '{printable(self.value, 60, self.length)}'" if self.value != "" else ""
        return f"{where}{col}{val}: {self.rule}: {printable(self.message, 400)}"


#: Longest cell value kept in a :class:`Problem` (the rest is cut; messages show less).
VALUE_LIMIT = 200


def severity(rule: str, row: int | None = None) -> int:
    """Severity level of ``rule`` (index in :data:`SEVERITIES`); a ``field_count`` problem of
    a whole file (``row`` ``None``) is structural."""
    if rule in _STRUCTURE or (rule == "field_count" and row is None):
        return 0
    if rule in _COLUMNS:
        return 1
    if rule in ("field_count", "repeated_header"):
        return 2
    if rule in _CELLS:
        return 3
    if rule in _ACROSS:
        return 5
    return 4


@dataclass
class ValidationReport:
    """All problems found in a data directory, plus the typed tables when there were none."""
    data_dir: Path
    problems: list[Problem] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    #: How the data directory is named in reports (never its path).
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            self.label = default_label(self.data_dir)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def synthetic(self) -> bool:
        """True when the files say they are synthetic (``synthetic: true`` metadata)."""
        return any(_is_true(m.get("synthetic", "")) for m in self.metadata.values())

    def frame(self) -> pd.DataFrame:
        """The problems as a table (file, row, column, value, rule, message)."""
        return pd.DataFrame([p.as_dict() for p in self.problems],
                            columns=["file", "row", "column", "value", "rule", "message"])

    def rules(self) -> set[str]:
        return {p.rule for p in self.problems}

    def to_text(self, per_rule: int | None = PER_RULE) -> str:
        """A plain-text report for terminals and logs: a summary line, then the problems by
        severity (structure first), at most ``per_rule`` of each rule (``None``: all) with
        "… and N more like this" for the rest. User strings are shown escaped and cut."""
        name = printable(self.label, 80)
        if self.ok:
            return f"{name}: no problems found."
        n = len(self.problems)
        head = f"{name}: {n:,} problem(s) found; nothing was written."
        if any(p.severity == 0 for p in self.problems):
            head += (" Fix the problems with files and their structure first: they stop the "
                     "checks that depend on them.")
        lines = [head]
        for level, title in enumerate(SEVERITIES):
            group = [p for p in self.problems if p.severity == level]
            if not group:
                continue
            lines.append(f"{title[0].upper()}{title[1:]}:")
            shown: dict[str, int] = {}
            for p in group:
                k = shown.get(p.rule, 0)
                shown[p.rule] = k + 1
                if per_rule is None or k < per_rule:
                    lines.append(f"  {p.line()}")
            for rule, k in shown.items():
                if per_rule is not None and k > per_rule:
                    lines.append(f"  … and {k - per_rule:,} more like this ({rule})")
        return "\n".join(lines)


class DataValidationError(Exception):
    """Raised by :func:`load_dataset` when a data directory has problems."""
    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.to_text())


def default_label(data_dir: Path | str) -> str:
    """The name a data directory is shown by: its own folder name (never its path)."""
    p = Path(data_dir)
    return p.name or p.resolve().name or "data"


def resolve_data_dir(data_dir: Path | str) -> Path:
    """The data directory a notebook parameter names: a path, or :data:`DATA_DIR_REF`
    (``$CARTBOOK_DATA_DIR``), which the build uses so that no path of the build machine is
    written into the executed notebooks."""
    s = str(data_dir)
    if s == DATA_DIR_REF:
        value = os.environ.get(DATA_DIR_ENV)
        if not value:
            raise ValueError(f"data_dir is {DATA_DIR_REF} but the environment variable "
                             f"{DATA_DIR_ENV} is not set; set it to the data directory, or "
                             "give data_dir as a path")
        return Path(value)
    return Path(data_dir)


def data_label(data_dir: Path | str) -> str:
    """The label shown for ``data_dir`` on the book's pages: the build's ``--label`` (through
    :data:`DATA_LABEL_ENV`) for :data:`DATA_DIR_REF`, else the folder's own name."""
    if str(data_dir) == DATA_DIR_REF:
        label = os.environ.get(DATA_LABEL_ENV)
        if label:
            return label
    return default_label(resolve_data_dir(data_dir))


def _is_true(s: str) -> bool:
    return str(s).strip().lower() in _TRUE


def _words(name: str) -> list[str]:
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", name.lower()) if w]


def looks_like_calendar_date(value: str) -> bool:
    """True for strings such as ``2019-03-04``, ``04/03/2019``, ``4-Mar-2019`` or
    ``March 4, 2019``."""
    return bool(_DATE_ANY.match(value.strip()))


def is_identifier_column(name: str) -> bool:
    """True when a column name names a direct identifier (name, birth date, record number,
    contact details or any calendar date)."""
    words = _words(name)
    if any(w in IDENTIFIER_NAME_WORDS for w in words):
        return True
    joined = "".join(words)
    return any(k in joined for k in ("dateofbirth", "birthdate", "recordnumber", "patientname"))


def _unit_phrase(raw: RawTable) -> str:
    return {"line": "line", "row": "row", "record": "record"}.get(raw.row_unit, raw.row_unit)


# --------------------------------------------------------------------------------------------
# Cell parsing
# --------------------------------------------------------------------------------------------

class _Checker:
    """Accumulates problems for one table and parses its columns."""
    def __init__(self, raw: RawTable, schema: TableSchema, problems: list[Problem]):
        self.raw = raw
        self.schema = schema
        self.problems = problems
        self.file = raw.path.name
        self.n = len(raw.frame)
        #: column -> rows whose value is unknown: invalid, or the column is missing.
        self.unknown: dict[str, np.ndarray] = {}
        self._columns: dict[str, np.ndarray | None] = {}
        self.bad = np.zeros(self.n, dtype=bool)
        if raw.bad_rows:
            self.bad[list(raw.bad_rows)] = True
        self.structural = False

    def unknown_mask(self, column: str) -> np.ndarray:
        m = self.unknown.get(column)
        if m is None:
            m = self.bad.copy()
            self.unknown[column] = m
        return m

    def is_unknown(self, idx: int, column: str) -> bool:
        m = self.unknown.get(column)
        return bool(self.bad[idx] if m is None else m[idx])

    def known_empty(self, df: pd.DataFrame, column: str) -> pd.Series:
        """Cells of ``column`` that are really empty (not invalid, column present)."""
        return df[column].isna() & ~self.unknown_mask(column)

    def add(self, idx: int | None, column: str, value: object, rule: str, message: str) -> None:
        """Record a problem. For a row-level problem the reported value is the cell exactly as
        the user wrote it (``value`` is only used when the column is not in the file)."""
        if idx is not None and rule in _CONSISTENCY_RULES and self.is_unknown(int(idx), column):
            return  # the cell is already reported as invalid; it is not "missing"
        if idx is not None and rule in _CELL_RULES:
            self.unknown_mask(column)[int(idx)] = True
        if rule in _STRUCTURE or (rule == "field_count" and idx is None):
            self.structural = True
        row = None if idx is None else self.raw.row_number(idx)
        cells = self._cells(column) if idx is not None and column else None
        if cells is not None:
            value = cells[int(idx)]
        elif value is None or (not isinstance(value, str) and pd.isna(value)):
            value = ""
        text = str(value)
        length = None
        if len(text) > VALUE_LIMIT:
            text, length = text[:VALUE_LIMIT], len(text)
        self.problems.append(Problem(self.file, row, column, text, rule, message, length))

    def _cells(self, column: str) -> np.ndarray | None:
        """The cells of ``column`` as written (first of duplicated names); None if absent."""
        if column not in self._columns:
            frame = self.raw.frame
            if column in frame.columns:
                cell = frame[column]
                if isinstance(cell, pd.DataFrame):
                    cell = cell.iloc[:, 0]
                self._columns[column] = cell.to_numpy(dtype=object)
            else:
                self._columns[column] = None
        return self._columns[column]

    def add_issue(self, issue: ReadIssue) -> None:
        self.add(issue.index, issue.column, issue.value, issue.rule, issue.message)

    def parse(self, f: Field, s: pd.Series) -> pd.Series:
        """Typed series for field ``f``; invalid cells become missing and are reported.

        Each distinct value is examined once (the column is factorised), so the cost is
        linear in the rows plus the work on the distinct values."""
        skip = self.unknown_mask(f.name).copy()  # records already reported (field count,
        codes, uniq = pd.factorize(s.to_numpy(dtype=object))  # a formula the reader saw)
        u = pd.Series(uniq, dtype=object)
        us = u.str.strip()
        ul = us.str.lower()
        m = len(u)
        rule = np.full(m, None, dtype=object)
        msg = np.full(m, None, dtype=object)
        missing = ul.isin(MISSING_TOKENS).to_numpy()
        if not f.nullable:
            rule[missing] = "required_value"
            msg[missing] = "a value is required"
        todo = ~missing
        err = todo & (ul.isin(SPREADSHEET_ERRORS).to_numpy()
                      | ul.str.match(_ERR_RE).fillna(False).to_numpy(dtype=bool))
        rule[err] = "spreadsheet_error"
        msg[err] = ("a spreadsheet error value: the formula that produced it failed; fix it, "
                    "or leave the cell empty if the value is unknown")
        todo &= ~err
        if CONTROL_RE.search("\n".join(uniq)):
            ctrl = todo & u.str.contains(CONTROL_RE).to_numpy(dtype=bool)
            for i in np.flatnonzero(ctrl):
                ch = CONTROL_RE.search(u.iat[i]).group(0)
                rule[i] = "control_character"
                msg[i] = (f"contains the invisible or control character U+{ord(ch):04X} "
                          "(shown escaped); retype the value")
            todo &= ~ctrl
        if f.kind in ("integer", "number"):
            values = self._numeric(f, us, todo, rule, msg)
        else:
            dates = todo & us.str.match(_DATE_ANY).fillna(False).to_numpy(dtype=bool)
            rule[dates] = "calendar_date"
            msg[dates] = "calendar dates identify patients; give days from infusion instead"
            todo &= ~dates
            values = self._other(f, us, ul, todo, rule, msg)
        # report, row by row, in row order (records already reported are skipped)
        flagged = np.flatnonzero(pd.notna(rule))
        if len(flagged):
            hit = np.isin(codes, flagged) & ~skip
            for idx in np.flatnonzero(hit):
                c = codes[idx]
                self.add(idx, f.name, s.iat[idx], rule[c], msg[c])
        out = values.iloc[codes].reset_index(drop=True) if m else values
        if skip.any():
            out = out.copy()
            out[skip] = pd.NA if f.kind in ("integer", "boolean") else (
                np.nan if f.kind == "number" else None)
        out.index = s.index
        return out

    def _other(self, f: Field, us: pd.Series, ul: pd.Series, todo: np.ndarray,
               rule: np.ndarray, msg: np.ndarray) -> pd.Series:
        if f.kind == "boolean":
            ok = ul.isin(_TRUE | _FALSE).to_numpy()
            for i in np.flatnonzero(todo & ~ok):
                rule[i] = "type"
                msg[i] = "expected true or false" + (
                    " (a localised or marked value? write true or false)"
                    if ul.iat[i] in _LOCAL_BOOLEANS else "")
            out = pd.Series(pd.NA, index=us.index, dtype="boolean")
            good = todo & ok
            out[good] = ul[good].isin(_TRUE).to_numpy()
            return out
        if f.kind == "category":
            ok = ul.isin(f.categories).to_numpy()
            for i in np.flatnonzero(todo & ~ok):
                near = difflib.get_close_matches(ul.iat[i], f.categories, n=1) or \
                    [c for c in f.categories if ul.iat[i] and c.startswith(ul.iat[i])][:1]
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                rule[i] = "category"
                msg[i] = f"allowed values: {', '.join(f.categories)}{hint}"
            return ul.where(todo & ok, None).astype(object)
        if f.kind == "id":
            for i in np.flatnonzero(todo):
                v = us.iat[i]
                if not _ID_RE.match(v):
                    rule[i] = "id_format"
                    msg[i] = "use 1-32 letters, digits, '_' or '-'"
                elif _DIGITS_RE.search(v):
                    rule[i] = "identifier_like"
                    msg[i] = ("six or more consecutive digits look like a medical record "
                              "number; use a pseudonymous study code")
            return us.where(todo, None).astype(object)
        return us.where(todo, None).astype(object)

    def _numeric(self, f: Field, us: pd.Series, todo: np.ndarray, rule: np.ndarray,
                 msg: np.ndarray) -> pd.Series:
        text = us.where(todo, None)
        decimal = self.raw.decimal
        if decimal == ",":
            dotted = todo & us.str.contains(".", regex=False).to_numpy(dtype=bool)
            for i in np.flatnonzero(dotted):
                rule[i] = "type"
                msg[i] = ("contains a point: with --csv-dialect semicolon-decimal-comma write "
                          "decimals with a comma and no thousands separator (1234,5)")
            todo = todo & ~dotted
            text = us.str.replace(",", ".", regex=False).where(todo, None)
        values = pd.to_numeric(text, errors="coerce").astype(float)
        finite = np.isfinite(values.to_numpy())
        bad = todo & ~finite
        for i in np.flatnonzero(bad):
            v = us.iat[i]
            if looks_like_calendar_date(v):
                rule[i] = "calendar_date"
                msg[i] = "calendar dates identify patients; give days from infusion instead"
            else:
                rule[i] = "type"
                msg[i] = ("expected an integer" if f.kind == "integer" else
                          "expected a number") + _number_hint(v, decimal)
        ok = todo & finite
        if decimal == "." and self.raw.separator not in ("", ",") and self.raw.separator_detected:
            grouped = ok & us.str.match(_GROUPED_RE).fillna(False).to_numpy(dtype=bool)
            for i in np.flatnonzero(grouped):
                rule[i] = "type"
                msg[i] = (f"ambiguous in a {_sep_name(self.raw.separator)}-separated file: "
                          f"'{us.iat[i]}' may use a point as thousands separator; write it "
                          "without grouping, or confirm decimal points with --csv-dialect "
                          f"{'semicolon' if self.raw.separator == ';' else 'tab'}")
            ok &= ~grouped
        vals = values.to_numpy().copy()
        vals[~ok] = np.nan
        if f.kind == "integer":
            frac = ok & (vals != np.round(vals))
            for i in np.flatnonzero(frac):
                rule[i] = "type"
                msg[i] = "expected a whole number"
            ok &= ~frac
            vals[frac] = np.nan
        lo = -np.inf if f.minimum is None else f.minimum
        hi = np.inf if f.maximum is None else f.maximum
        out = ok & ((vals < lo) | (vals > hi))
        unit = f" {f.unit}" if f.unit and f.unit != "fraction" else ""
        for i in np.flatnonzero(out):
            rule[i] = "range"
            msg[i] = f"must lie between {lo:g} and {hi:g}{unit}" + _range_hint(f, vals[i])
        vals[out] = np.nan
        series = pd.Series(vals, index=us.index)
        if f.kind == "integer":
            return series.round().astype("Int64")
        return series.astype(float)


def _sep_name(sep: str) -> str:
    return {";": "semicolon", "\t": "tab", ",": "comma", "|": "vertical-bar"}.get(sep, repr(sep))


def _number_hint(v: str, decimal: str) -> str:
    """Why a value is not a number, when that can be guessed."""
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+", v):
        return " (a thousands separator or a decimal comma? write 30000, or 30.5)"
    if decimal == "." and _DECIMAL_COMMA_RE.match(v):
        return " (a decimal comma? write it with a point: 7.5)"
    if "%" in v:
        return " (a percentage? write the number alone; fractions such as MRD: 1.2 % is 0.012)"
    if re.fullmatch(r"[<>≤≥]=?\s*[\d.,eE+-]+", v):
        return " (a limit such as <0.01 or >5000 is not a value; see the column's description)"
    if re.fullmatch(r"[+-]?\d[\d.,]*\s+\d[\d.,\s]*", v):
        return " (spaces inside the number?)"
    if re.fullmatch(r"[+-]?[\d.,]+\s*[^\d\s].*", v):
        return " (write the number alone, without a unit)"
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", v):
        return " (a time of day? give days from infusion)"
    if v.lower().replace(" ", "") in ("blq", "bql", "<lloq", "<loq", "<lod", "nd", "n.d.",
                                      "notdetected", "belowlloq", "undetectable"):
        return (" (below the limit of quantification? leave the level empty and write "
                "below_lloq = true)")
    return ""


def _range_hint(f: Field, v: float) -> str:
    if f.unit == "days" and 18000 <= v <= 80000 and float(v).is_integer():
        import datetime as dt

        when = dt.date(1899, 12, 30) + dt.timedelta(days=int(v))
        return (f" (this looks like a spreadsheet date serial number, {when.isoformat()}; "
                "give days from infusion)")
    if f.unit == "fraction" and 1 < v <= 100:
        return " (a percentage? MRD is a fraction: 1.2 % is 0.012)"
    return ""


# --------------------------------------------------------------------------------------------
# Structure and columns
# --------------------------------------------------------------------------------------------

def _check_structure(chk: _Checker) -> bool:
    """File-level structure: a header that names the table's columns, no wholesale field-count
    mismatch, no undeclared decimal commas. Returns False (and reports one problem) when the
    table cannot be checked further."""
    raw, schema = chk.raw, chk.schema
    frame = raw.frame
    unit = _unit_phrase(raw)
    names = [str(c) for c in frame.columns]
    required = [f.name for f in schema.fields if f.required]
    present = sum(r in names for r in required)
    if 2 * present < len(required):
        chk.add(None, "", "", "header_not_found", _header_message(raw, schema, names, present))
        return False
    n_bad = len(raw.bad_rows)
    if n_bad and n_bad * 2 > len(frame) and len(frame) >= 3:
        first = min(raw.bad_rows)
        detail = next((i.message for i in raw.issues if i.index == first and
                       i.rule in ("field_count", "repeated_header")), "")
        if names and names[-1] == "" and "1 field(s) fewer" not in detail and \
                f"has {len(names) - 1} field(s)" in detail:
            detail = ("the header ends with a separator (an unnamed trailing column) that the "
                      "records do not have; delete it")
        chk.add(None, "", "", "field_count",
                f"{n_bad:,} of {len(frame):,} records have a different number of fields than "
                f"the header ({len(names)}), the first on {unit} {raw.row_number(first)}: "
                + detail.replace("this record", "that record"))
        return False
    if raw.separator in (";", "\t", "|") and raw.decimal == "." and raw.separator_detected:
        for f in schema.fields:
            if f.kind not in ("number", "integer") or f.name not in names:
                continue
            col = frame[f.name]
            if isinstance(col, pd.DataFrame):
                col = col.iloc[:, 0]
            vals = col.to_numpy(dtype=object)
            if not any("," in v for v in pd.unique(vals)):
                continue
            hits = np.flatnonzero(col.str.strip().str.match(_DECIMAL_COMMA_RE).fillna(False)
                                  .to_numpy(dtype=bool) & ~chk.bad)
            if len(hits):
                i = hits[0]
                sep = _sep_name(raw.separator)
                chk.add(None, "", "", "decimal_comma",
                        f"this looks like a {sep}-separated export with decimal commas (for "
                        f"example '{printable(vals[i], 20)}' in {f.name} on {unit} "
                        f"{raw.row_number(i)}), as spreadsheets write in European locales; "
                        "re-export it as 'CSV UTF-8 (comma delimited)' with decimal points, or "
                        "read it as it is with --csv-dialect semicolon-decimal-comma")
                return False
    return True


def _header_message(raw: RawTable, schema: TableSchema, names: list[str], present: int) -> str:
    unit = _unit_phrase(raw)
    required = [f.name for f in schema.fields if f.required]
    preview = raw.preview or [(raw.row_number(i), [str(v) for v in raw.frame.iloc[i]])
                              for i in range(min(30, len(raw.frame)))]
    for at, fields in preview:
        cells = {clean_name(v) for v in fields}
        if 2 * sum(r in cells for r in required) >= len(required):
            header = raw.header_row
            return (f"the column names are on {unit} {at}, not on {unit} {header}: delete the "
                    f"{unit}s above them (a title or an export note?)")
    for other in TABLES:
        if other is schema:
            continue
        req = [f.name for f in other.fields if f.required]
        if 2 * sum(r in names for r in req) >= len(req):
            return (f"this file holds the {other.name} table (its header names the "
                    f"columns of {other.name}), not the {schema.name} table; check the file "
                    "names" + (f" or the sheet ('{printable(raw.sheet, 40)}')"
                               if raw.sheet else ""))
    shown = ", ".join(f"'{printable(n, 30)}'" for n in names[:6]) + (", …" if len(names) > 6
                                                                       else "")
    single = len(names) == 1 and any(s in names[0] for s in (";", "\t", ",", "|"))
    if single:
        return (f"the header is a single column ({shown}): the separator was not recognised; "
                "use commas, or give --csv-dialect")
    if names and (_ID_RE.match(names[0] or "-") and sum(_looks_like_value(n) for n in names)
                  * 2 >= len(names)):
        return (f"the first {unit} holds values ({shown}), not column names: the header row "
                f"is missing; add it (start from the template: cartbook template)")
    return (f"the header names {present} of the {len(required)} required columns of the "
            f"{schema.name} table (it has {shown}); is this the right file? (the data "
            "dictionary lists the column names)")


def _looks_like_value(s: str) -> bool:
    v = s.strip().lower()
    if v in MISSING_TOKENS or v in _TRUE or v in _FALSE:
        return True
    try:
        float(v)
        return True
    except ValueError:
        return looks_like_calendar_date(v)


def _check_columns(chk: _Checker) -> list[str]:
    """Report missing, unknown, duplicated, unnamed and identifying columns; return the
    usable columns."""
    frame = chk.raw.frame
    cols = [str(c) for c in frame.columns]
    seen: set[str] = set()
    dup: set[str] = set()
    for c in cols:
        if c and c in seen and c not in dup:
            chk.add(None, c, "", "duplicate_column", "the column appears more than once")
            dup.add(c)
        seen.add(c)
    known = set(chk.schema.names)
    for j, c in enumerate(cols):
        if c in known:
            continue
        if not c or re.fullmatch(r"Unnamed: \d+", c):
            chk.add(None, c, "", "unnamed_column", _unnamed_message(chk, j, len(cols)))
            continue
        values = frame.iloc[:, j]
        if is_identifier_column(c) or _column_has_dates(values):
            chk.add(None, c, "", "direct_identifier",
                    "direct identifiers (names, birth dates, record numbers, calendar dates) "
                    "must not be supplied; remove this column")
            continue
        hint = ""
        if c.lower() in known:
            hint = f"; did you mean {c.lower()!r}? (column names are lower case)"
        else:
            near = difflib.get_close_matches(c.lower(), chk.schema.names, n=1)
            if near:
                hint = f"; did you mean {near[0]!r}?"
        chk.add(None, c, "", "unknown_column",
                f"not part of the {chk.schema.name} table{hint}")
    for f in chk.schema.fields:
        if f.required and f.name not in cols:
            chk.add(None, f.name, "", "missing_column", f"the {chk.schema.name} table needs it")
    return [c for c in cols if c in known]


def _unnamed_message(chk: _Checker, j: int, width: int) -> str:
    frame = chk.raw.frame
    values = frame.iloc[:, j].astype(str).str.strip()
    n = len(values)
    nonempty = np.flatnonzero((values != "").to_numpy())
    where = f"column {j + 1} of {width}"
    if j == 0 and n and values.tolist() == [str(i) for i in range(1, n + 1)]:
        return (f"{where} has no name and numbers the rows 1, 2, 3, …: R's row names; write "
                "the file with write.csv(..., row.names = FALSE)")
    if j == 0 and n and values.tolist() == [str(i) for i in range(n)]:
        return (f"{where} has no name and numbers the rows 0, 1, 2, …: a pandas index; write "
                "the file with to_csv(..., index=False)")
    if j == 0 and len(nonempty):
        return (f"{where} has no name but holds values (row names written by R's write.csv? "
                "use row.names = FALSE); name the column or delete it")
    if not len(nonempty):
        if j == width - 1:
            return (f"{where} has no name and is empty: the header ends with a separator "
                    "(an unnamed trailing column); delete the trailing separator or the "
                    "column")
        return f"{where} has no name and is empty; delete it"
    i = nonempty[0]
    return (f"{where} has no name but holds values (for example "
            f"'{printable(frame.iat[i, j], 20)}' on {_unit_phrase(chk.raw)} "
            f"{chk.raw.row_number(i)}); name it or delete it")


def _column_has_dates(s: pd.Series) -> bool:
    vals = pd.unique(s.astype(str).str.strip().to_numpy(dtype=object))
    return any(v.lower() not in MISSING_TOKENS and _DATE_ANY.match(v) for v in vals)


def _parse_table(chk: _Checker) -> pd.DataFrame:
    usable = _check_columns(chk)
    frame = chk.raw.frame
    out: dict[str, pd.Series] = {}
    for f in chk.schema.fields:
        if f.name in usable:
            col = frame[f.name]
            if isinstance(col, pd.DataFrame):  # duplicate column names
                col = col.iloc[:, 0]
            out[f.name] = chk.parse(f, col.astype(str))
        else:
            out[f.name] = _empty_series(f, len(frame))
            if f.required:  # reported as missing_column; its cells are unknown, not empty
                chk.unknown_mask(f.name)[:] = True
    return pd.DataFrame(out, index=frame.index)


def _empty_series(f: Field, n: int) -> pd.Series:
    if f.kind == "integer":
        return pd.Series(pd.NA, index=range(n), dtype="Int64")
    if f.kind == "number":
        return pd.Series(np.nan, index=range(n), dtype=float)
    if f.kind == "boolean":
        return pd.Series(pd.NA, index=range(n), dtype="boolean")
    return pd.Series(None, index=range(n), dtype=object)


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------

def _unique(chk: _Checker, df: pd.DataFrame) -> None:
    """Duplicate keys, found by hashing (n log n at worst, never pairwise)."""
    key = list(chk.schema.key)
    present = df[key].notna().all(axis=1)
    sub = df.loc[present, key]
    dup = sub.duplicated(keep="first")
    if not dup.any():
        return
    first = pd.Series(sub.index, index=sub.index).groupby(
        [sub[k] for k in key], sort=False).transform("first").to_numpy()
    rule = "unique_id" if len(key) == 1 else "duplicate_sample_day"
    what = "patient_id" if len(key) == 1 else "day"
    msg = ("each patient must appear once" if len(key) == 1 else
           "each patient can have one sample per day")
    unit = chk.raw.row_unit
    is_dup = dup.to_numpy()
    for idx, f in zip(sub.index[is_dup], first[is_dup]):
        chk.add(idx, what, "", rule, f"{msg}; first seen on {unit} {chk.raw.row_number(f)}")


def _flag_day(chk: _Checker, df: pd.DataFrame, flag: str, day: str) -> None:
    f, d = df[flag], df[day]
    for idx in df.index[(f == True) & d.isna()]:  # noqa: E712 (nullable boolean)
        chk.add(idx, day, "", "event_day_missing", f"{flag} is true, so {day} is required")
    for idx in df.index[(f == False) & d.notna()]:  # noqa: E712
        chk.add(idx, day, d[idx], "event_day_unexpected", f"{flag} is false, so {day} must be empty")


#: Dated events of the patients table checked against last follow-up and death: column,
#: rule when after death (and within follow-up).
PATIENT_EVENTS: tuple[tuple[str, str], ...] = (
    ("il6_peak_day", "event_after_death"),
    ("bca_onset_day", "event_after_death"),
    ("hsct_day", "hsct_after_death"),
    ("relapse_day", "relapse_after_death"),
    ("death_day", ""),
)


def _timeline(chk: _Checker, df: pd.DataFrame) -> None:
    """No dated event after last follow-up; none after death (reported as after last follow-up
    when it is after both, so one cell gets one problem); the diagnosis not before birth."""
    last = df["last_followup_day"].astype(float)
    dd = df["death_day"].astype(float)
    for col, death_rule in PATIENT_EVENTS:
        day = df[col].astype(float)
        late = (day > last).fillna(False)
        for idx in df.index[late]:
            chk.add(idx, col, df.at[idx, col], "after_last_followup",
                    f"is after last_followup_day ({_num(last[idx])})")
        if death_rule:
            dead = ((day > dd) & ~late).fillna(False)
            for idx in df.index[dead]:
                chk.add(idx, col, df.at[idx, col], death_rule,
                        f"is after death_day ({_num(dd[idx])})")
    end = df["bca_onset_day"].astype(float) + df["bca_duration_days"]
    late = (end > last + 1e-9).fillna(False)
    for idx in df.index[late]:
        chk.add(idx, "bca_duration_days", df.at[idx, "bca_duration_days"],
                "bca_after_last_followup",
                f"onset + duration ({end[idx]:g}) is after last_followup_day ({_num(last[idx])})")
    dead = ((end > dd + 1e-9) & ~late).fillna(False)
    for idx in df.index[dead]:
        chk.add(idx, "bca_duration_days", df.at[idx, "bca_duration_days"], "event_after_death",
                f"onset + duration ({end[idx]:g}) is after death_day ({_num(dd[idx])})")
    age = df["age_years"].astype(float)
    dx = df["diagnosis_to_infusion_days"].astype(float)
    whole = np.isclose(age, np.round(age))
    limit = (age + np.where(whole, 1.0, 1 / 12)) * 365.25
    bad = (dx > limit).fillna(False)
    for idx in df.index[bad]:
        chk.add(idx, "diagnosis_to_infusion_days", df.at[idx, "diagnosis_to_infusion_days"],
                "diagnosis_longer_than_age",
                f"{dx[idx]:g} days ({dx[idx] / 365.25:.1f} years) from diagnosis to infusion is "
                f"longer than the patient's age ({age[idx]:g} years)")


def _num(x: float) -> str:
    return f"{x:g}" if pd.notna(x) else "?"


def _check_patients(chk: _Checker, df: pd.DataFrame) -> None:
    _unique(chk, df)
    for flag, day in (("relapse", "relapse_day"), ("hsct_after", "hsct_day"),
                      ("death", "death_day")):
        _flag_day(chk, df, flag, day)
    _timeline(chk, df)
    last = df["last_followup_day"]
    dd = df["death_day"]
    neq = (df["death"] == True) & dd.notna() & last.notna() & (dd < last)  # noqa: E712
    for idx in df.index[neq.fillna(False)]:
        chk.add(idx, "last_followup_day", last[idx], "death_not_last_followup",
                f"a patient who died is last seen on the day of death ({dd[idx]})")
    cause = df["death_cause"]
    for idx in df.index[(df["death"] == True) & cause.isna()]:  # noqa: E712
        chk.add(idx, "death_cause", "", "death_cause_missing", "death is true, so a cause is required")
    for idx in df.index[(df["death"] == False) & cause.notna()]:  # noqa: E712
        chk.add(idx, "death_cause", cause[idx], "death_cause_unexpected",
                "death is false, so death_cause must be empty")
    leuk = ((cause == "leukemia") & (df["relapse"] == False)  # noqa: E712
            & df["d28_response"].notna() & (df["d28_response"] != "nr"))
    for idx in df.index[leuk.fillna(False)]:
        chk.add(idx, "death_cause", "leukemia", "leukemia_death_without_relapse",
                "a leukemia death needs a relapse or a day-28 non-response")
    cd19 = df["relapse_cd19"]
    for idx in df.index[(df["relapse"] == True) & cd19.isna()]:  # noqa: E712
        chk.add(idx, "relapse_cd19", "", "relapse_cd19_missing",
                "relapse is true, so its CD19 status is required")
    for idx in df.index[(df["relapse"] == False) & cd19.notna()]:  # noqa: E712
        chk.add(idx, "relapse_cd19", cd19[idx], "relapse_cd19_unexpected",
                "relapse is false, so relapse_cd19 must be empty")
    for c in ("bca_onset_day", "bca_duration_days", "bca_ongoing"):
        for idx in df.index[(df["bca"] == True) & df[c].isna()]:  # noqa: E712
            chk.add(idx, c, "", "bca_fields", "bca is true, so this is required")
        for idx in df.index[(df["bca"] == False) & df[c].notna()]:  # noqa: E712
            chk.add(idx, c, df.at[idx, c], "bca_fields", "bca is false, so this must be empty")
    g = df["gvhd"]
    for idx in df.index[(df["prior_hsct"] == False) & g.notna()]:  # noqa: E712
        chk.add(idx, "gvhd", g[idx], "gvhd_without_prior_hsct",
                "GVHD is recorded only for patients with a prior HSCT; leave it empty")
    for idx in df.index[(df["prior_hsct"] == True) & g.isna()]:  # noqa: E712
        chk.add(idx, "gvhd", "", "gvhd_missing", "prior_hsct is true, so gvhd is required")
    peak = df["il6_peak_pg_per_ml"].notna()
    for c in ("il6_peak_day", "il6_peak_above_uloq"):
        for idx in df.index[peak & df[c].isna()]:
            chk.add(idx, c, "", "il6_fields", "il6_peak_pg_per_ml is given, so this is required")
        for idx in df.index[chk.known_empty(df, "il6_peak_pg_per_ml") & df[c].notna()]:
            chk.add(idx, c, df.at[idx, c], "il6_fields",
                    "il6_peak_pg_per_ml is empty, so this must be empty")


@dataclass
class _PatientsIndex:
    """What the kinetics checks need from a structurally sound patients table."""
    codes: set[str]
    last: pd.Series
    death: pd.Series


def _patients_index(chk: _Checker, df: pd.DataFrame) -> _PatientsIndex:
    raw = chk.raw.frame
    codes = set(df["patient_id"].dropna())
    if chk.bad.any() and "patient_id" in raw.columns:  # records with a wrong field count:
        col = raw["patient_id"]                         # their code is probably right
        if isinstance(col, pd.DataFrame):
            col = col.iloc[:, 0]
        codes |= set(col[chk.bad].astype(str).str.strip())
    by_id = df.dropna(subset=["patient_id"]).drop_duplicates("patient_id").set_index("patient_id")
    return _PatientsIndex(codes, by_id["last_followup_day"].astype(float),
                          by_id["death_day"].astype(float))


def _check_kinetics(chk: _Checker, df: pd.DataFrame, patients: _PatientsIndex | None) -> None:
    _unique(chk, df)
    conc, blq, lloq = df["copies_per_ug_dna"], df["below_lloq"], df["lloq_copies_per_ug_dna"]
    bad_blq = (blq == True) & conc.notna() & lloq.notna() & (conc >= lloq)  # noqa: E712
    for idx in df.index[bad_blq.fillna(False)]:
        chk.add(idx, "copies_per_ug_dna", conc[idx], "lloq_inconsistent",
                f"below_lloq is true but the level is not below the LLOQ ({lloq[idx]:g})")
    for idx in df.index[(blq == False) & conc.isna()]:  # noqa: E712
        chk.add(idx, "copies_per_ug_dna", "", "lloq_inconsistent",
                "below_lloq is false, so a level is required")
    low = (blq == False) & conc.notna() & lloq.notna() & (conc < lloq)  # noqa: E712
    for idx in df.index[low.fillna(False)]:
        chk.add(idx, "copies_per_ug_dna", conc[idx], "lloq_inconsistent",
                f"below the LLOQ ({lloq[idx]:g}); write below_lloq = true and leave the level empty")
    if patients is None:
        return
    pid = df["patient_id"]
    unknown = df.index[pid.notna() & ~pid.isin(patients.codes)]
    folded = {c.lower(): c for c in patients.codes} if len(unknown) else {}
    unpadded = {c.lstrip("0"): c for c in patients.codes if c.isdigit()} if len(unknown) else {}
    for idx in unknown:
        code = str(pid[idx])
        other = folded.get(code.lower())
        hint = f" (there is '{printable(other, 40)}': codes are case-sensitive)" if other else ""
        if not hint and code.isdigit() and code.lstrip("0") in unpadded:
            hint = (f" (there is '{printable(unpadded[code.lstrip('0')], 40)}': a spreadsheet "
                    "dropped or added leading zeros? format the codes as text)")
        chk.add(idx, "patient_id", pid[idx], "unknown_patient",
                "no such patient in the patients table" + hint)
    lim = pid.map(patients.last).astype(float)
    dd = pid.map(patients.death).astype(float)
    day = df["day"].astype(float)
    late = (day > lim).fillna(False)
    for idx in df.index[late]:
        chk.add(idx, "day", df.at[idx, "day"], "sample_after_last_followup",
                f"the patient's last follow-up is day {_num(lim[idx])}")
    dead = ((day > dd) & ~late).fillna(False)
    for idx in df.index[dead]:
        chk.add(idx, "day", df.at[idx, "day"], "sample_after_death",
                f"the patient died on day {_num(dd[idx])}")


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------

def _locate(data_dir: Path, schema: TableSchema, problems: list[Problem]) -> Path | None:
    files = find_table_files(data_dir, schema)
    if not files:
        near = near_miss_files(data_dir, schema)
        advice = "; ".join(f"found '{printable(n, 60)}': {a}" for n, a in near[:5])
        problems.append(Problem(f"{schema.name}.csv", None, "", "", "missing_file",
                                f"no {schema.name} table ({schema.name}.csv, .parquet or .xlsx) "
                                "in the data directory" + (f"; {advice}" if advice else "")))
        return None
    if len(files) > 1:
        problems.append(Problem(files[0].name, None, "", ", ".join(p.name for p in files),
                                "ambiguous_file", "more than one file holds this table; keep one"))
        return None
    path = files[0]
    root = data_dir.resolve()
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        problems.append(Problem(path.name, None, "", "", "unreadable_file",
                                "the file is a symbolic link to nothing (or a loop of links)"))
        return None
    if real != root / path.name and not real.is_relative_to(root):
        problems.append(Problem(path.name, None, "", "", "outside_data_folder",
                                "the file is a symbolic link to a file outside the data folder; "
                                "copy the file into the folder instead"))
        return None
    if not real.is_file():
        what = "a folder" if real.is_dir() else "not a regular file (a pipe, socket or device)"
        problems.append(Problem(path.name, None, "", "", "unreadable_file",
                                f"this is {what}, not a file"))
        return None
    return path


def validate_dir(data_dir: Path | str, csv_dialect: str = "auto",
                 label: str | None = None) -> ValidationReport:
    """Validate every table in ``data_dir``; returns a report with all problems found.

    ``csv_dialect`` (:data:`analysis_lib.data.io.CSV_DIALECTS`) fixes the separator and decimal
    mark of CSV files (default: separator detected, decimal point). ``label`` is how the
    directory is named in the report (default: its folder name). When there are no problems,
    ``report.tables`` holds the typed frames.
    """
    if csv_dialect not in CSV_DIALECTS:
        raise ValueError(f"unknown CSV dialect {csv_dialect!r}; use one of "
                         f"{', '.join(CSV_DIALECTS)}")
    data_dir = resolve_data_dir(data_dir)
    report = ValidationReport(data_dir, label=label or "")
    if not data_dir.is_dir():
        report.problems.append(Problem(report.label, None, "", "", "missing_file",
                                       "the data directory does not exist" if not
                                       data_dir.exists() else "this is not a directory"))
        return report
    typed: dict[str, pd.DataFrame] = {}
    patients_index: _PatientsIndex | None = None
    for schema in TABLES:
        path = _locate(data_dir, schema, report.problems)
        if path is None:
            continue
        report.files[schema.name] = path
        try:
            raw = read_raw(path, schema.name, csv_dialect=csv_dialect, expected=schema.names)
        except TableReadError as exc:
            report.problems.append(Problem(path.name, exc.row, exc.column, exc.value, exc.rule,
                                           exc.message))
            continue
        except (OSError, MemoryError) as exc:
            report.problems.append(Problem(path.name, None, "", "", "unreadable_file",
                                           f"the file cannot be read: {printable(exc, 200)}"))
            continue
        report.metadata[schema.name] = raw.metadata
        chk = _Checker(raw, schema, report.problems)
        if not _check_structure(chk):
            continue
        for issue in raw.issues:
            chk.add_issue(issue)
        if len(raw.frame) == 0:
            chk.add(None, "", "", "empty_table", f"the {schema.name} table has no rows")
        df = _parse_table(chk)
        if schema is PATIENTS:
            _check_patients(chk, df)
            if not chk.structural and "patient_id" in raw.frame.columns:
                patients_index = _patients_index(chk, df)
        elif schema is KINETICS:
            _check_kinetics(chk, df, patients_index)
        typed[schema.name] = df
    flags = {name: _is_true(m.get("synthetic", "")) for name, m in report.metadata.items()}
    if len(set(flags.values())) > 1:
        report.problems.append(Problem(
            ", ".join(report.files[n].name for n in flags), None, "", "", "synthetic_flag_mixed",
            "some files say they are synthetic and others do not; do not mix synthetic and real data"))
    tables = {f: _table_order(f) for f in {p.file for p in report.problems}}
    report.problems.sort(key=lambda p: (severity(p.rule, p.row), tables[p.file], p.file,
                                        p.row or 0, p.column, p.rule))
    if report.ok:
        report.tables = {k: _finalise(v) for k, v in typed.items()}
    return report


def _table_order(file: str) -> int:
    """Position of the table a file holds in :data:`TABLES` (patients first: the other
    tables are checked against it); files of no table last."""
    low = file.lower()
    return next((i for i, t in enumerate(TABLES) if low.startswith(t.name)), len(TABLES))


def _finalise(df: pd.DataFrame) -> pd.DataFrame:
    return df.reset_index(drop=True)


def load_dataset(data_dir: Path | str, pseudonymise: bool | None = None,
                 csv_dialect: str | None = None) -> ValidationReport:
    """Validate ``data_dir`` and return the report with typed tables.

    ``data_dir`` may be :data:`DATA_DIR_REF` (the build passes it so; see
    :func:`resolve_data_dir`). ``csv_dialect`` defaults to :data:`CSV_DIALECT_ENV` (set by the
    build from ``--csv-dialect``), else ``auto``.

    Raises :class:`DataValidationError` (whose message lists the problems) when the data
    have any problem, so that no analysis runs on bad input.

    ``pseudonymise`` (default: unless every file is marked synthetic) replaces every
    ``patient_id`` by a keyed pseudonym (:mod:`analysis_lib.data.privacy`) before the tables are
    returned, so no chapter ever sees, shows or writes a real patient code.
    """
    dialect = csv_dialect or os.environ.get(CSV_DIALECT_ENV) or "auto"
    label = data_label(data_dir)
    report = validate_dir(resolve_data_dir(data_dir), csv_dialect=dialect, label=label)
    if not report.ok:
        raise DataValidationError(report)
    if pseudonymise is None:
        pseudonymise = not all(_is_true(report.metadata.get(k, {}).get("synthetic", ""))
                               for k in report.files)
    if pseudonymise:
        from . import privacy

        key = privacy.pseudonym_key(Path(report.files[k]).read_bytes()
                                    for k in sorted(report.files))
        report.tables = privacy.pseudonymise(report.tables, key)
    return report


def problems_for(problems: Iterable[Problem], rule: str) -> list[Problem]:
    """Problems that break ``rule`` (convenience for tests and reports)."""
    return [p for p in problems if p.rule == rule]
