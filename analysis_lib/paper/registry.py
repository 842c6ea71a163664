"""The registry of published numbers: every number Wang et al. (2025) print, as data.

``data/published/registry.csv`` holds one row per number printed in the paper's text
(Abstract, Methods, Results, Discussion) and in Tables 1–3, with where it stands, what it is,
its unit, its interval and, when the same number is printed again, the key of the occurrence
that counts (``duplicate_of``). The file is the single source for scorecards that compare a
re-analysis with the paper; its columns are described in ``data/published/README.md``.

This module loads the file into a typed frame and validates it (:func:`load_registry`,
:func:`validate_registry`), and describes the shape of the paper's tables
(:data:`PUBLISHED_TABLES`): which row × column cells of Tables 1A, 1B, 2 and 3 hold a number.
The tests check the registry against that shape and against the table and text of the paper.

Reference
---------
Wang Y, Jia Y-p, Lu A-d, Zhang L-p, Xue Y-j, Zeng H-m (2025). Effective MRD clearance and
long-term survival with CD19 CAR-T in pediatric B-ALL patients with MRD positivity or
chemotherapy intolerance. Front. Immunol. 16:1672509. doi:10.3389/fimmu.2025.1672509
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.paths import ROOT

__all__ = [
    "REGISTRY_PATH", "COLUMNS", "SECTIONS", "TEXT_SECTIONS", "TABLE_SECTIONS",
    "EXTERNAL_SECTIONS", "UNITS", "INTERVAL_TYPES", "STATISTICS", "RegistryError",
    "TableShape", "PUBLISHED_TABLES", "load_registry", "validate_registry", "canonical",
    "table_cells", "sigma_log_cmax",
]

#: Default location of the registry (relative to the repository root).
REGISTRY_PATH: Path = ROOT / "data" / "published" / "registry.csv"

#: Columns, in file order.
COLUMNS: tuple[str, ...] = (
    "key", "section", "table_row", "table_column", "quantity", "statistic", "value",
    "value_text", "lower", "upper", "interval_text", "interval_type", "se", "unit",
    "comparison", "n", "duplicate_of", "audit", "calibration", "note",
)
_FLOAT_COLUMNS: tuple[str, ...] = ("value", "lower", "upper", "se")

#: Sections of the paper's text. "Discussion (external)" holds numbers the Discussion quotes
#: from other studies (including the authors' earlier institutional cohort): they are not
#: results of this study, and scorecards skip them.
TEXT_SECTIONS: tuple[str, ...] = (
    "Abstract", "Methods", "Patient characteristics", "Treatment outcomes", "Toxicity",
    "PK of CAR-T cells", "Discussion", "Discussion (external)",
)
TABLE_SECTIONS: tuple[str, ...] = ("Table 1A", "Table 1B", "Table 2", "Table 3")
EXTERNAL_SECTIONS: tuple[str, ...] = ("Discussion (external)",)
SECTIONS: tuple[str, ...] = TEXT_SECTIONS + TABLE_SECTIONS

#: Units. Percentages are in percent (74.9, not 0.749); "fraction" is a plain proportion
#: (an MRD level such as 10^-4); "ratio" is a hazard or odds ratio; "none" is dimensionless
#: (p-values, correlation coefficients, notes); "date" marks calendar dates, whose ``value``
#: is empty and whose text is in ``value_text``.
UNITS: tuple[str, ...] = (
    "days", "weeks", "months", "years", "hours", "copies/µg DNA", "copies/µg DNA×day", "%",
    "count", "ratio", "pg/mL", "10^6 cells/kg", "10^9/L", "fraction", "mg/m^2", "IU/mL", "°C",
    "date", "none",
)

#: ``ci95``: 95% confidence interval in ``lower``/``upper``; ``range``: minimum–maximum (or a
#: printed span such as "Days 0–28") in ``lower``/``upper``; ``pm_se``: "value ± se" with the
#: half-width in ``se``; ``none``: no interval.
INTERVAL_TYPES: tuple[str, ...] = ("ci95", "range", "pm_se", "none")

#: What kind of number a row is.
STATISTICS: tuple[str, ...] = (
    "count", "percent", "median", "geometric_mean", "survival_rate", "cumulative_incidence",
    "hazard_ratio", "odds_ratio", "p_value", "correlation", "threshold", "design", "date",
    "individual_value", "note",
)

_KEY_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_WORD_NUMBERS = {"none": 0, "one": 1, "two": 2, "fourteen": 14, "fifteen": 15,
                 "forty-nine": 49}


class RegistryError(ValueError):
    """The registry file breaks one or more of the rules of :func:`validate_registry`."""
    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        head = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the registry:\n{head}{more}")


# ============================================================================================
# Table shapes
# ============================================================================================

@dataclass(frozen=True)
class TableShape:
    """Which cells of one published table hold a number.

    Attributes
    ----------
    section : str
        Registry section of the table ("Table 1A", ...).
    columns : tuple of str
        Registry column labels (``table_column``), in printed order. A printed estimate and
        its confidence interval are one registry column ("HR (95%CI)"), since the interval
        is stored in ``lower``/``upper`` of the estimate's row.
    cells : tuple of (str, str)
        The ``(table_row, table_column)`` pairs that hold a number, in printed order.
    note : str
        What the extraction lost or garbled, if anything.
    """
    section: str
    columns: tuple[str, ...]
    cells: tuple[tuple[str, str], ...]
    note: str = ""

    @property
    def rows(self) -> tuple[str, ...]:
        """Row labels (``table_row``) in printed order, each once."""
        return tuple(dict.fromkeys(r for r, _ in self.cells))


def _full(rows: tuple[str, ...], columns: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((r, c) for r in rows for c in columns)


_T1_COLS = ("HR (95%CI)", "p")
_T2_COLS = ("OR (95%CI) univariate", "p univariate", "OR (95%CI) model 1", "p model 1",
            "OR (95%CI) model 2", "p model 2")
_T2_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (  # (row, models printed)
    ("female", ("univariate", "model 1", "model 2")),
    ("No HSCT history", ("univariate", "model 1", "model 2")),
    ("Pre-LD MRD<10^-3", ("univariate", "model 1")),
    ("Post-LD MRD<10^-3", ("univariate", "model 2")),
    ("CAR-T dose<3.68×10^6 cells/kg", ("univariate", "model 1", "model 2")),
)
_T3_LEVEL_COLS = ("N", "Median Cmax", "Median AUC0-28d", "Median Tlast")
_T3_P_COLS = ("p Cmax", "p AUC0-28d", "p Tlast")
#: Table 3 factors (as registry labels) with their two levels, in printed order.
_T3_FACTORS: tuple[tuple[str, str, str], ...] = (
    ("Age, y", "0-10", ">10"),
    ("Sex", "Male", "Female"),
    ("HSCT history", "Yes", "No"),
    ("CAR-T history", "Yes", "No"),
    ("Pre-LD MRD", "<10^-4", "≥10^-4"),
    ("Pre-LD MRD", "<10^-3", "≥10^-3"),
    ("Pre-LD MRD", "<10^-2", "≥10^-2"),
    ("Post-LD MRD", "<10^-4", "≥10^-4"),
    ("Post-LD MRD", "<10^-3", "≥10^-3"),
    ("Post-LD MRD", "<10^-2", "≥10^-2"),
    ("CAR-T dose", "≥3.68×10^6 cells/kg", "<3.68×10^6 cells/kg"),
    ("CRS", "0-2", "3-4"),
    ("ICANS", "No", "Yes"),
    ("Grade 4 neutropenia", "Yes", "No"),
    ("Tocilizumab", "Yes", "No"),
    ("Steroids", "Yes", "No"),
    ("MRD-CR on Day 28", "Yes", "No"),
)


def _t3_cells() -> tuple[tuple[str, str], ...]:
    cells: list[tuple[str, str]] = []
    for factor, a, b in _T3_FACTORS:
        cells += [(f"{factor} | {a} vs {b}", c) for c in _T3_P_COLS]
        for level in (a, b):
            cells += [(f"{factor} | {level}", c) for c in _T3_LEVEL_COLS]
    return tuple(cells)


#: The shape of each published table, as the registry labels it. Row labels are the printed
#: ones with superscripts written ``^`` (``10^-3``) and white space collapsed. Table 3 rows
#: are "factor | level" for the N and median columns and "factor | level A vs level B" for
#: the p-value columns, which the paper prints once per factor.
PUBLISHED_TABLES: dict[str, TableShape] = {
    "Table 1A": TableShape(
        "Table 1A", _T1_COLS, _full(("BCA", "Female", "MRD-CR on Day 28"), _T1_COLS),
        "Multivariable Cox model of LFS."),
    "Table 1B": TableShape(
        "Table 1B", _T1_COLS,
        _full(("No CAR-T history", "Grade 4 neutropenia", "CRS(≥3)"), _T1_COLS),
        "Multivariable Cox model of OS. The extraction stacks the rows into overlapping "
        "lines and keeps only these three; the rows for no HSCT history and no ICANS, cited "
        "in the text, are missing (registry key table1b_missing_rows)."),
    "Table 2": TableShape(
        "Table 2", _T2_COLS,
        tuple((row, col) for row, models in _T2_ROWS for model in models
              for col in (f"OR (95%CI) {model}", f"p {model}")),
        "Logistic models of grade ≥3 CRS: univariate, multivariable model 1 (#) and "
        "model 2 (*); blank where a factor is not in a model."),
    "Table 3": TableShape(
        "Table 3", _T3_LEVEL_COLS + _T3_P_COLS, _t3_cells(),
        "CAR-T kinetics by clinical factor. The CRS factor line is printed 'CRS CERS/RG' and "
        "its '0-2' row carries stray numbers in the p columns (extraction garbled)."),
}


# ============================================================================================
# Loading and validation
# ============================================================================================

def _read(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise RegistryError([f"missing column(s): {', '.join(missing)}"])
    df = raw.loc[:, list(COLUMNS)].copy()
    problems: list[str] = []
    for col in _FLOAT_COLUMNS:
        num = pd.to_numeric(df[col].replace("", np.nan), errors="coerce")
        bad = df[col].ne("") & num.isna()
        problems += [f"{k}: {col} {v!r} is not a number"
                     for k, v in zip(df.loc[bad, "key"], df.loc[bad, col])]
        df[col] = num.astype(float)
    n = pd.to_numeric(df["n"].replace("", np.nan), errors="coerce")
    bad = df["n"].ne("") & (n.isna() | (n.fillna(1) % 1 != 0) | (n.fillna(1) < 1))
    problems += [f"{k}: n {v!r} is not a positive integer"
                 for k, v in zip(df.loc[bad, "key"], df.loc[bad, "n"])]
    df["n"] = n.where(~bad).astype("Int64")
    if problems:
        raise RegistryError(problems)
    return df


def _printed_value(text: str) -> float:
    """The number in a ``value_text``: ``"<0.001"`` -> 0.001, ``"30,860"`` -> 30860,
    ``"10^-4"`` -> 1e-4, ``"Forty-nine"`` -> 49; ``nan`` when there is none (dates)."""
    s = text.strip()
    if s.lower() in _WORD_NUMBERS:
        return float(_WORD_NUMBERS[s.lower()])
    m = re.fullmatch(r"10\^(-?\d+)", s)
    if m:
        return 10.0 ** int(m.group(1))
    s = re.sub(r"^[<>≤≥]\s*", "", s).replace(",", "")
    try:
        return float(s)
    except ValueError:
        return math.nan


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def validate_registry(df: pd.DataFrame) -> list[str]:
    """Check the registry's rules; return the problems found (empty when it is valid).

    Rules
    -----
    * ``key``: unique, snake_case.
    * ``section``, ``unit``, ``interval_type``, ``statistic``: from :data:`SECTIONS`,
      :data:`UNITS`, :data:`INTERVAL_TYPES`, :data:`STATISTICS`.
    * ``value``: equals the number in ``value_text`` (``"<0.001"`` -> 0.001, thousands
      separators dropped, number words read); empty for dates (unit ``date``, text in
      ``value_text``), notes and rows that are only an interval (``value_text`` empty,
      ``interval_text`` given).
    * ``ci95`` and ``range``: ``lower`` and ``upper`` given, ``lower <= upper`` and
      ``lower <= value <= upper`` when there is a value; ``pm_se``: ``se > 0`` given and no
      limits; ``none``: no limits, no ``se`` and no ``interval_text``.
    * Table sections: ``table_row`` given; ``table_column`` given except for notes and title
      rows (``table_row`` in parentheses); each ``(section, table_row, table_column)`` once.
      Text sections: no ``table_row`` or ``table_column``.
    * ``duplicate_of``: the key of another row that is not itself a duplicate, with the same
      unit and statistic and the same value (or both empty).
    * ``n``: a positive integer when given.
    """
    problems: list[str] = []
    keys = df["key"]
    dups = keys[keys.duplicated()].unique()
    problems += [f"duplicate key {k!r}" for k in dups]
    problems += [f"{k!r}: key is not snake_case" for k in keys if not _KEY_RE.match(k)]
    for col, allowed in (("section", SECTIONS), ("unit", UNITS),
                         ("interval_type", INTERVAL_TYPES), ("statistic", STATISTICS)):
        bad = ~df[col].isin(allowed)
        problems += [f"{k}: {col} {v!r} not allowed"
                     for k, v in zip(df.loc[bad, "key"], df.loc[bad, col])]
    by_key = df.drop_duplicates("key").set_index("key")
    seen_cells: dict[tuple[str, str, str], str] = {}
    for r in df.itertuples(index=False):
        k = r.key
        value, lo, hi, se = r.value, r.lower, r.upper, r.se
        # value against value_text
        if r.unit == "date":
            if not r.value_text or not math.isnan(value):
                problems.append(f"{k}: a date needs value_text and no value")
        elif r.value_text:
            printed = _printed_value(r.value_text)
            if math.isnan(printed):
                problems.append(f"{k}: value_text {r.value_text!r} holds no number")
            elif math.isnan(value) or not _close(value, printed):
                problems.append(f"{k}: value {value} does not match value_text "
                                f"{r.value_text!r}")
        elif r.statistic != "note" and not r.interval_text:
            problems.append(f"{k}: neither value_text nor interval_text")
        elif not math.isnan(value):
            problems.append(f"{k}: value without value_text")
        # intervals
        it = r.interval_type
        if it in ("ci95", "range"):
            if math.isnan(lo) or math.isnan(hi):
                problems.append(f"{k}: {it} needs lower and upper")
            elif lo > hi:
                problems.append(f"{k}: lower {lo} > upper {hi}")
            elif not math.isnan(value) and not lo <= value <= hi:
                problems.append(f"{k}: value {value} outside [{lo}, {hi}]")
            if not r.interval_text:
                problems.append(f"{k}: {it} needs interval_text (as printed)")
            if not math.isnan(se):
                problems.append(f"{k}: se given for a {it}")
        elif it == "pm_se":
            if math.isnan(se) or se <= 0:
                problems.append(f"{k}: pm_se needs se > 0")
            if not (math.isnan(lo) and math.isnan(hi)):
                problems.append(f"{k}: pm_se takes no lower/upper")
        elif it == "none":
            if not (math.isnan(lo) and math.isnan(hi) and math.isnan(se)) or r.interval_text:
                problems.append(f"{k}: interval_type none but an interval is given")
        # table placement
        if r.section in TABLE_SECTIONS:
            if not r.table_row:
                problems.append(f"{k}: table row missing")
            titled = r.table_row.startswith("(") and r.table_row.endswith(")")
            if not r.table_column and not (r.statistic == "note" or titled):
                problems.append(f"{k}: table column missing")
            if r.table_column:
                cell = (r.section, r.table_row, r.table_column)
                if cell in seen_cells:
                    problems.append(f"{k}: cell {cell} already registered as "
                                    f"{seen_cells[cell]}")
                seen_cells[cell] = k
        elif r.table_row or r.table_column:
            problems.append(f"{k}: table_row/table_column given outside a table")
        # duplicates
        d = r.duplicate_of
        if d:
            if d == k:
                problems.append(f"{k}: duplicate_of itself")
            elif d not in by_key.index:
                problems.append(f"{k}: duplicate_of {d!r} is not a key")
            else:
                c = by_key.loc[d]
                if c["duplicate_of"]:
                    problems.append(f"{k}: duplicate_of {d!r}, itself a duplicate of "
                                    f"{c['duplicate_of']!r}")
                if c["unit"] != r.unit or c["statistic"] != r.statistic:
                    problems.append(f"{k}: unit/statistic differ from {d!r}")
                cv = float(c["value"])
                if not ((math.isnan(cv) and math.isnan(value))
                        or (not math.isnan(cv) and not math.isnan(value) and _close(cv, value))):
                    problems.append(f"{k}: value {value} differs from {d!r} ({cv})")
    return problems


def load_registry(path: str | Path | None = None, validate: bool = True) -> pd.DataFrame:
    """Read the registry of published numbers.

    Parameters
    ----------
    path : str or Path, optional
        The CSV file; :data:`REGISTRY_PATH` by default.
    validate : bool, default True
        Apply :func:`validate_registry` and raise :class:`RegistryError` on any problem.

    Returns
    -------
    pandas.DataFrame
        One row per printed number, columns :data:`COLUMNS` in that order: text columns as
        ``str`` (empty string when blank), ``value``, ``lower``, ``upper`` and ``se`` as
        ``float`` (``nan`` when blank) and ``n`` as nullable ``Int64``.

    Raises
    ------
    RegistryError
        A column is missing, a number does not parse, or (with ``validate``) a rule fails.
    """
    df = _read(Path(path) if path is not None else REGISTRY_PATH)
    if validate:
        problems = validate_registry(df)
        if problems:
            raise RegistryError(problems)
    return df


def canonical(df: pd.DataFrame, include_external: bool = False) -> pd.DataFrame:
    """The rows a scorecard compares: no repeats (``duplicate_of`` empty), no notes and,
    unless ``include_external``, no numbers quoted from other studies."""
    keep = df["duplicate_of"].eq("") & df["statistic"].ne("note")
    if not include_external:
        keep &= ~df["section"].isin(EXTERNAL_SECTIONS)
    return df.loc[keep].reset_index(drop=True)


def table_cells(df: pd.DataFrame, section: str) -> set[tuple[str, str]]:
    """The ``(table_row, table_column)`` cells registered for one table section."""
    sub = df.loc[df["section"].eq(section) & df["table_column"].ne("")]
    return set(zip(sub["table_row"], sub["table_column"]))


@functools.lru_cache(maxsize=1)
def sigma_log_cmax() -> float:
    """The log-SD of CAR-T levels implied by the published Cmax range (registry
    ``cmax_median``): log(max / min) / 4.5 (Wan et al. 2014, doi:10.1186/1471-2288-14-135)."""
    r = load_registry().set_index("key").loc["cmax_median"]
    return math.log(float(r["upper"]) / float(r["lower"])) / 4.5
