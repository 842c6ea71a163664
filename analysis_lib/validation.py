"""Validation of a data directory against the schemas in :mod:`analysis_lib.schema`.

Every problem is collected (not just the first) and reported with the file, the row as the
user sees it (CSV line, Excel sheet row, Parquet record), the column, the offending value and
the name of the rule it breaks. Nothing is written anywhere: validation only reads.

Rules
-----
Files: ``missing_file``, ``ambiguous_file``, ``unreadable_file``, ``empty_table``, ``synthetic_flag_mixed``.
Columns: ``missing_column``, ``unknown_column``, ``duplicate_column``, ``direct_identifier``.
Cells: ``required_value``, ``type``, ``range``, ``category``, ``id_format``,
``calendar_date``, ``identifier_like``.
Keys: ``unique_id``, ``duplicate_sample_day``, ``unknown_patient``.
Consistency (one row): ``event_day_missing``, ``event_day_unexpected``,
``after_last_followup``, ``death_not_last_followup``, ``relapse_after_death``,
``hsct_after_death``, ``death_cause_missing``, ``death_cause_unexpected``,
``leukemia_death_without_relapse``, ``relapse_cd19_missing``, ``relapse_cd19_unexpected``,
``bca_fields``, ``bca_after_last_followup``, ``gvhd_without_prior_hsct``,
``gvhd_missing``, ``il6_fields``, ``lloq_inconsistent``, ``sample_after_last_followup``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .io import MISSING_TOKENS, RawTable, TableReadError, find_table_files, read_raw
from .schema import IDENTIFIER_NAME_WORDS, KINETICS, PATIENTS, TABLES, Field, TableSchema

#: Every rule the validator applies, with what it means (shown in the data dictionary).
RULES: dict[str, str] = {
    "missing_file": "A required table (patients, kinetics) is not in the data directory.",
    "ambiguous_file": "The same table is supplied in more than one format.",
    "unreadable_file": "The file cannot be parsed as a table.",
    "empty_table": "The file has a header but no data rows.",
    "synthetic_flag_mixed": "Some files are marked synthetic and others are not.",
    "missing_column": "A required column is absent.",
    "unknown_column": "A column is not part of the data model (a typo, or extra data).",
    "duplicate_column": "A column name appears twice.",
    "direct_identifier": "A column holds direct identifiers: names, birth dates, record "
                         "numbers, contact details or calendar dates.",
    "required_value": "A cell that must have a value is empty.",
    "type": "A value is not of the column's type (number, whole number, true/false).",
    "range": "A number is outside the column's allowed range.",
    "category": "A value is not one of the column's allowed categories.",
    "id_format": "A patient code uses characters other than letters, digits, '_' and '-'.",
    "calendar_date": "A cell holds a calendar date; times must be days from infusion.",
    "identifier_like": "A patient code contains six or more consecutive digits, like a "
                       "medical record number.",
    "unique_id": "A patient appears more than once in the patients table.",
    "duplicate_sample_day": "A patient has two kinetics samples on the same day.",
    "unknown_patient": "A kinetics sample belongs to a patient missing from the patients table.",
    "event_day_missing": "An event is recorded (relapse, HSCT, death) without its day.",
    "event_day_unexpected": "An event day is given although the event is recorded as absent.",
    "after_last_followup": "An event day falls after the last follow-up day.",
    "death_not_last_followup": "A patient who died has a last follow-up day after the death.",
    "relapse_after_death": "Relapse is dated after death.",
    "hsct_after_death": "HSCT is dated after death.",
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
    "sample_after_last_followup": "A kinetics sample is dated after the patient's last "
                                  "follow-up (or death).",
}

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_DIGITS_RE = re.compile(r"\d{6,}")
_DATE_RES = (
    re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ T].*)?$"),            # 2019-03-04, ISO times
    re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$"),                  # 04/03/2019
    re.compile(r"^\d{1,2}[- ](jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[- ]\d{2,4}$",
               re.IGNORECASE),                                          # 4-Mar-2019
)
_TRUE = {"true", "yes", "1", "t", "y"}
_FALSE = {"false", "no", "0", "f", "n"}
#: Cell rules after which the parsed value is unknown (not empty): checks that combine
#: columns must not read such a cell as "missing" and report it a second time.
_CELL_RULES = frozenset({"required_value", "type", "range", "category", "calendar_date"})
_CONSISTENCY_RULES = frozenset({
    "event_day_missing", "event_day_unexpected", "after_last_followup",
    "death_not_last_followup", "relapse_after_death", "hsct_after_death", "death_cause_missing",
    "death_cause_unexpected", "leukemia_death_without_relapse", "relapse_cd19_missing",
    "relapse_cd19_unexpected", "bca_fields", "bca_after_last_followup",
    "gvhd_without_prior_hsct", "gvhd_missing", "il6_fields", "lloq_inconsistent",
    "sample_after_last_followup",
})


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input. ``row`` is ``None`` for file- or column-level problems."""

    file: str
    row: int | None
    column: str
    value: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "row": self.row, "column": self.column, "value": self.value,
                "rule": self.rule, "message": self.message}


@dataclass
class ValidationReport:
    """All problems found in a data directory, plus the typed tables when there were none."""

    data_dir: Path
    problems: list[Problem] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

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

    def to_text(self, limit: int | None = 200) -> str:
        """A plain-text report, one problem per line, for terminals and logs."""
        if self.ok:
            return f"{self.data_dir}: no problems found."
        lines = [f"{self.data_dir}: {len(self.problems)} problem(s) found; nothing was written."]
        shown = self.problems if limit is None else self.problems[:limit]
        for p in shown:
            where = p.file if p.row is None else f"{p.file}:{p.row}"
            col = f" [{p.column}]" if p.column else ""
            val = f" value {p.value!r}" if p.value != "" else ""
            lines.append(f"  {where}{col}{val}: {p.rule}: {p.message}")
        if limit is not None and len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


class DataValidationError(Exception):
    """Raised by :func:`load_dataset` when a data directory has problems."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.to_text())


def _is_true(s: str) -> bool:
    return str(s).strip().lower() in _TRUE


def _words(name: str) -> list[str]:
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", name.lower()) if w]


def looks_like_calendar_date(value: str) -> bool:
    """True for strings such as ``2019-03-04``, ``04/03/2019`` or ``4-Mar-2019``."""
    v = value.strip()
    return any(r.match(v) for r in _DATE_RES)


def is_identifier_column(name: str) -> bool:
    """True when a column name names a direct identifier (name, birth date, record number,
    contact details or any calendar date)."""
    words = _words(name)
    if any(w in IDENTIFIER_NAME_WORDS for w in words):
        return True
    joined = "".join(words)
    return any(k in joined for k in ("dateofbirth", "birthdate", "recordnumber", "patientname"))


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
        #: (index, column) of cells whose value is unknown: invalid, or the column is missing.
        self.unknown: set[tuple[int, str]] = set()

    def known_empty(self, df: pd.DataFrame, column: str) -> pd.Series:
        """Cells of ``column`` that are really empty (not invalid, column present)."""
        bad = [i for i, c in self.unknown if c == column]
        return df[column].isna() & ~df.index.isin(bad)

    def add(self, idx: int | None, column: str, value: object, rule: str, message: str) -> None:
        """Record a problem. For a row-level problem the reported value is the cell exactly as
        the user wrote it (``value`` is only used when the column is not in the file)."""
        if idx is not None and (int(idx), column) in self.unknown and rule in _CONSISTENCY_RULES:
            return  # the cell is already reported as invalid; it is not "missing"
        if idx is not None and rule in _CELL_RULES:
            self.unknown.add((int(idx), column))
        row = None if idx is None else self.raw.row_number(idx)
        frame = self.raw.frame
        if idx is not None and column in frame.columns:
            cell = frame[column]
            value = (cell.iloc[idx, 0] if isinstance(cell, pd.DataFrame) else cell.iat[idx])
        elif value is None or (not isinstance(value, str) and pd.isna(value)):
            value = ""
        self.problems.append(Problem(self.file, row, column, str(value), rule, message))

    def parse(self, f: Field, s: pd.Series) -> pd.Series:
        """Typed series for field ``f``; invalid cells become missing and are reported."""
        stripped = s.str.strip()
        missing = stripped.str.lower().isin(MISSING_TOKENS)
        for idx in np.flatnonzero(missing.to_numpy() & (not f.nullable)):
            self.add(idx, f.name, s.iat[idx], "required_value", "a value is required")
        dates = ~missing & stripped.map(looks_like_calendar_date)
        for idx in np.flatnonzero(dates.to_numpy()):
            self.add(idx, f.name, s.iat[idx], "calendar_date",
                     "calendar dates identify patients; give days from infusion instead")
        todo = ~missing & ~dates
        if f.kind in ("integer", "number"):
            return self._numeric(f, s, stripped, todo)
        if f.kind == "boolean":
            low = stripped.str.lower()
            ok = low.isin(_TRUE | _FALSE)
            for idx in np.flatnonzero((todo & ~ok).to_numpy()):
                self.add(idx, f.name, s.iat[idx], "type", "expected true or false")
            out = pd.Series(pd.NA, index=s.index, dtype="boolean")
            out[todo & ok] = low[todo & ok].isin(_TRUE)
            return out
        if f.kind == "category":
            low = stripped.str.lower()
            ok = low.isin(f.categories)
            for idx in np.flatnonzero((todo & ~ok).to_numpy()):
                near = difflib.get_close_matches(low.iat[idx], f.categories, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                self.add(idx, f.name, s.iat[idx], "category",
                         f"allowed values: {', '.join(f.categories)}{hint}")
            return low.where(todo & ok, None).astype(object)
        if f.kind == "id":
            for idx in np.flatnonzero(todo.to_numpy()):
                v = stripped.iat[idx]
                if not _ID_RE.match(v):
                    self.add(idx, f.name, s.iat[idx], "id_format",
                             "use 1-32 letters, digits, '_' or '-'")
                elif _DIGITS_RE.search(v):
                    self.add(idx, f.name, s.iat[idx], "identifier_like",
                             "six or more consecutive digits look like a medical record number; "
                             "use a pseudonymous study code")
            return stripped.where(todo, None).astype(object)
        return stripped.where(todo, None).astype(object)

    def _numeric(self, f: Field, s: pd.Series, stripped: pd.Series, todo: pd.Series) -> pd.Series:
        values = pd.to_numeric(stripped.where(todo, None), errors="coerce")
        bad = todo & (values.isna() | ~np.isfinite(values.fillna(0)))
        for idx in np.flatnonzero(bad.to_numpy()):
            self.add(idx, f.name, s.iat[idx], "type",
                     "expected an integer" if f.kind == "integer" else "expected a number")
        values = values.where(~bad)
        if f.kind == "integer":
            frac = values.notna() & (values != np.round(values))
            for idx in np.flatnonzero(frac.to_numpy()):
                self.add(idx, f.name, s.iat[idx], "type", "expected a whole number")
            values = values.where(~frac)
        lo = -np.inf if f.minimum is None else f.minimum
        hi = np.inf if f.maximum is None else f.maximum
        out = values.notna() & ((values < lo) | (values > hi))
        unit = f" {f.unit}" if f.unit and f.unit != "fraction" else ""
        for idx in np.flatnonzero(out.to_numpy()):
            self.add(idx, f.name, s.iat[idx], "range",
                     f"must lie between {lo:g} and {hi:g}{unit}")
        values = values.where(~out)
        if f.kind == "integer":
            return values.round().astype("Int64")
        return values.astype(float)


# --------------------------------------------------------------------------------------------
# Table-level checks
# --------------------------------------------------------------------------------------------

def _check_columns(chk: _Checker) -> list[str]:
    """Report missing, unknown, duplicated and identifying columns; return usable columns."""
    cols = [str(c) for c in chk.raw.frame.columns]
    seen: set[str] = set()
    for c in cols:
        base = re.sub(r"\.\d+$", "", c)  # pandas renames duplicates to name.1
        if base in seen or c in seen:
            chk.add(None, base, "", "duplicate_column", "the column appears more than once")
        seen.add(c)
    known = set(chk.schema.names)
    for c in cols:
        if c in known:
            continue
        if is_identifier_column(c) or _column_has_dates(chk.raw.frame[c]):
            chk.add(None, c, "", "direct_identifier",
                    "direct identifiers (names, birth dates, record numbers, calendar dates) "
                    "must not be supplied; remove this column")
        elif re.sub(r"\.\d+$", "", c) not in known:
            near = difflib.get_close_matches(c, chk.schema.names, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            chk.add(None, c, "", "unknown_column", f"not part of the {chk.schema.name} table{hint}")
    for f in chk.schema.fields:
        if f.required and f.name not in cols:
            chk.add(None, f.name, "", "missing_column", f"the {chk.schema.name} table needs it")
    return [c for c in cols if c in known]


def _column_has_dates(s: pd.Series) -> bool:
    vals = s.astype(str).str.strip()
    vals = vals[~vals.str.lower().isin(MISSING_TOKENS)]
    return bool(len(vals)) and bool(vals.map(looks_like_calendar_date).any())


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
                chk.unknown.update((i, f.name) for i in range(len(frame)))
    return pd.DataFrame(out, index=frame.index)


def _empty_series(f: Field, n: int) -> pd.Series:
    if f.kind == "integer":
        return pd.Series(pd.NA, index=range(n), dtype="Int64")
    if f.kind == "number":
        return pd.Series(np.nan, index=range(n), dtype=float)
    if f.kind == "boolean":
        return pd.Series(pd.NA, index=range(n), dtype="boolean")
    return pd.Series(None, index=range(n), dtype=object)


def _unique(chk: _Checker, df: pd.DataFrame, raw: pd.DataFrame) -> None:
    key = list(chk.schema.key)
    present = df[key].notna().all(axis=1)
    dup = df[present].duplicated(subset=key, keep="first")
    rule = "unique_id" if len(key) == 1 else "duplicate_sample_day"
    for idx in dup[dup].index:
        what = "patient_id" if len(key) == 1 else "day"
        value = str(raw[what].iat[idx]) if what in raw.columns else ""
        msg = ("each patient must appear once" if len(key) == 1 else
               "each patient can have one sample per day")
        first = df[present & (df[key] == df.loc[idx, key]).all(axis=1)].index[0]
        chk.add(idx, what, value, rule, f"{msg}; first seen on {chk.raw.row_unit} "
                                        f"{chk.raw.row_number(first)}")


def _flag_day(chk: _Checker, df: pd.DataFrame, flag: str, day: str) -> None:
    f, d = df[flag], df[day]
    for idx in df.index[(f == True) & d.isna()]:  # noqa: E712 (nullable boolean)
        chk.add(idx, day, "", "event_day_missing", f"{flag} is true, so {day} is required")
    for idx in df.index[(f == False) & d.notna()]:  # noqa: E712
        chk.add(idx, day, d[idx], "event_day_unexpected", f"{flag} is false, so {day} must be empty")


def _check_patients(chk: _Checker, df: pd.DataFrame) -> None:
    _unique(chk, df, chk.raw.frame)
    for flag, day in (("relapse", "relapse_day"), ("hsct_after", "hsct_day"),
                      ("death", "death_day")):
        _flag_day(chk, df, flag, day)
    last = df["last_followup_day"]
    for day in ("relapse_day", "hsct_day", "death_day"):
        late = df[day].notna() & last.notna() & (df[day] > last)
        for idx in df.index[late.fillna(False)]:
            chk.add(idx, day, df.at[idx, day], "after_last_followup",
                    f"is after last_followup_day ({last[idx]})")
    dd = df["death_day"]
    neq = (df["death"] == True) & dd.notna() & last.notna() & (dd < last)  # noqa: E712
    for idx in df.index[neq.fillna(False)]:
        chk.add(idx, "last_followup_day", last[idx], "death_not_last_followup",
                f"a patient who died is last seen on the day of death ({dd[idx]})")
    for day, rule in (("relapse_day", "relapse_after_death"), ("hsct_day", "hsct_after_death")):
        bad = df[day].notna() & dd.notna() & (df[day] > dd)
        for idx in df.index[bad.fillna(False)]:
            chk.add(idx, day, df.at[idx, day], rule, f"is after death_day ({dd[idx]})")
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
    bca_cols = ["bca_onset_day", "bca_duration_days", "bca_ongoing"]
    for c in bca_cols:
        for idx in df.index[(df["bca"] == True) & df[c].isna()]:  # noqa: E712
            chk.add(idx, c, "", "bca_fields", "bca is true, so this is required")
        for idx in df.index[(df["bca"] == False) & df[c].notna()]:  # noqa: E712
            chk.add(idx, c, df.at[idx, c], "bca_fields", "bca is false, so this must be empty")
    end = df["bca_onset_day"].astype(float) + df["bca_duration_days"]
    late = end.notna() & last.notna() & (end > last.astype(float) + 1e-9)
    for idx in df.index[late.fillna(False)]:
        chk.add(idx, "bca_duration_days", df.at[idx, "bca_duration_days"], "bca_after_last_followup",
                f"onset + duration ({end[idx]:g}) is after last_followup_day ({last[idx]})")
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


def _check_kinetics(chk: _Checker, df: pd.DataFrame, patients: pd.DataFrame | None) -> None:
    _unique(chk, df, chk.raw.frame)
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
    known = set(patients["patient_id"].dropna())
    pid = df["patient_id"]
    for idx in df.index[pid.notna() & ~pid.isin(known)]:
        chk.add(idx, "patient_id", pid[idx], "unknown_patient",
                "no such patient in the patients table")
    last = patients.dropna(subset=["patient_id"]).drop_duplicates("patient_id").set_index(
        "patient_id")["last_followup_day"]
    lim = pid.map(last)
    late = df["day"].notna() & lim.notna() & (df["day"] > lim.astype(float))
    for idx in df.index[late.fillna(False)]:
        chk.add(idx, "day", df.at[idx, "day"], "sample_after_last_followup",
                f"the patient's last follow-up is day {lim[idx]}")


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------

def _locate(data_dir: Path, schema: TableSchema, problems: list[Problem]) -> Path | None:
    files = find_table_files(data_dir, schema)
    if not files:
        problems.append(Problem(f"{schema.name}.csv", None, "", "", "missing_file",
                                f"no {schema.name} table ({schema.name}.csv, .parquet or .xlsx) "
                                f"in {data_dir}"))
        return None
    if len(files) > 1:
        problems.append(Problem(files[0].name, None, "", ", ".join(p.name for p in files),
                                "ambiguous_file", "more than one file holds this table; keep one"))
        return None
    return files[0]


def validate_dir(data_dir: Path | str) -> ValidationReport:
    """Validate every table in ``data_dir``; returns a report with all problems found.

    When there are no problems, ``report.tables`` holds the typed frames.
    """
    data_dir = Path(data_dir)
    report = ValidationReport(data_dir)
    if not data_dir.is_dir():
        report.problems.append(Problem(str(data_dir), None, "", "", "missing_file",
                                       "the data directory does not exist"))
        return report
    typed: dict[str, pd.DataFrame] = {}
    for schema in TABLES:
        path = _locate(data_dir, schema, report.problems)
        if path is None:
            continue
        report.files[schema.name] = path
        try:
            raw = read_raw(path, schema.name)
        except TableReadError as exc:
            report.problems.append(Problem(path.name, None, "", "", "unreadable_file", str(exc)))
            continue
        report.metadata[schema.name] = raw.metadata
        if len(raw.frame) == 0:
            report.problems.append(Problem(path.name, None, "", "", "empty_table",
                                           f"the {schema.name} table has no rows"))
        chk = _Checker(raw, schema, report.problems)
        df = _parse_table(chk)
        if schema is PATIENTS:
            _check_patients(chk, df)
        elif schema is KINETICS:
            _check_kinetics(chk, df, typed.get(PATIENTS.name))
        typed[schema.name] = df
    flags = {name: _is_true(m.get("synthetic", "")) for name, m in report.metadata.items()}
    if len(set(flags.values())) > 1:
        report.problems.append(Problem(
            ", ".join(report.files[n].name for n in flags), None, "", "", "synthetic_flag_mixed",
            "some files say they are synthetic and others do not; do not mix synthetic and real data"))
    report.problems.sort(key=lambda p: (p.file, p.row is not None, p.row or 0, p.column, p.rule))
    if report.ok:
        report.tables = {k: _finalise(v) for k, v in typed.items()}
    return report


def _finalise(df: pd.DataFrame) -> pd.DataFrame:
    return df.reset_index(drop=True)


def load_dataset(data_dir: Path | str, pseudonymise: bool | None = None) -> ValidationReport:
    """Validate ``data_dir`` and return the report with typed tables.

    Raises :class:`DataValidationError` (whose message lists every problem) when the data
    have any problem, so that no analysis runs on bad input.

    ``pseudonymise`` (default: unless every file is marked synthetic) replaces every
    ``patient_id`` by a keyed pseudonym (:mod:`analysis_lib.privacy`) before the tables are
    returned, so no chapter ever sees, shows or writes a real patient code.
    """
    report = validate_dir(data_dir)
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
