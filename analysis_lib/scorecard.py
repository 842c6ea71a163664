"""The reproduction scorecard: each published number beside the value the book computes.

Published numbers come from the registry (``data/published/registry.csv``,
:mod:`analysis_lib.registry`); reproduced values are read from the executed chapter
notebooks, by the key under which each chapter glued them (``glued_values``), through the
map ``data/published/reproduction_map.csv`` (registry key -> chapter, glue key, scale). So
the scorecard shows exactly what the chapters show and cannot drift from them.

Status rules, in order (principles, not tuned tolerances):

1. **not reproducible: paper inconsistent**: the audit (:mod:`analysis_lib.feasibility`)
   shows that the published number is impossible or inconsistent with the paper's own
   numbers.
2. **matches at the paper's precision**: the reproduced value, rounded to the decimals the
   paper prints, equals the printed value (for "<0.001": the reproduced p is below it).
3. **within sampling error**: ``|z| <= 1.96`` with the sampling standard error of the
   statistic at the paper's n: from the published 95% CI when there is one (log scale for
   hazard and odds ratios), sqrt(p(1-p)/n) for percentages, 1.06/sqrt(n-3) on Fisher's z
   for correlations, and sqrt(pi/2)·sigma/sqrt(n) with sigma = range/4.5 for medians with a
   range (Wan et al. 2014; log scale for CAR-T levels); subgroup medians without a range
   (Table 3) use the log-SD implied by the published Cmax range for CAR-T levels and an
   assumed log-SD of 1.0 for Tlast, with the subgroup's n.
4. **same direction and significance**: a ratio on the same side of 1, or a p-value on the
   same side of 0.05.
5. **differs**: none of the above.

Numbers that describe the study's design or analysis choices (doses, dates, schedules,
thresholds) are "study design, not a result"; numbers the map deliberately leaves unscored
(a range printed as a median, a single patient's value that a book must not publish) are
"not scored, reason given", with the reason in the map; other rows without a mapping are
"not mapped yet"; a mapped value the chapters did not produce is "not computed".
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
MAP_PATH = ROOT / "data" / "published" / "reproduction_map.csv"

STATUSES: tuple[str, ...] = (
    "matches at the paper's precision", "within sampling error",
    "same direction and significance", "differs", "not reproducible: paper inconsistent",
    "not computed", "study design, not a result", "not scored, reason given", "not mapped yet",
)
#: Registry statistics that describe the study's design or analysis choices (doses, dates,
#: schedules, thresholds), which no analysis of the data can reproduce.
DESIGN_STATISTICS: frozenset[str] = frozenset({"design", "date", "threshold"})
#: Statuses that count as reproduced.
REPRODUCED = STATUSES[:3]

_NUM = re.compile(r"[-+]?\d[\d,]*\.?\d*")


def printed_decimals(text: str) -> int | None:
    """Decimals of the first number in ``text`` ("74.9" -> 1, "30,860" -> 0, "0.032" -> 3)."""
    m = _NUM.search(str(text))
    if not m:
        return None
    s = m.group(0).replace(",", "")
    return len(s.split(".")[1]) if "." in s else 0


def matches_precision(value_text: str, reproduced: float) -> bool:
    """True when ``reproduced`` rounds to the printed value at the printed precision."""
    text = str(value_text).strip()
    if not np.isfinite(reproduced):
        return False
    m = _NUM.search(text)
    if not m:
        return False
    printed = float(m.group(0).replace(",", ""))
    if text.startswith("<"):
        return reproduced < printed
    if text.startswith(">"):
        return reproduced > printed
    d = printed_decimals(text) or 0
    return math.isclose(round(reproduced + 0.0, d), printed, abs_tol=10 ** -(d + 6))


def sampling_z(row: Mapping, reproduced: float, n_default: int = 50) -> float:
    """Standardised difference of ``reproduced`` from the published value (nan when no
    sampling standard error follows from the row)."""
    v = float(row["value"]) if row.get("value") is not None else float("nan")
    if not (np.isfinite(v) and np.isfinite(reproduced)):
        return float("nan")
    stat = str(row.get("statistic", ""))
    unit = str(row.get("unit", ""))
    n = row.get("n")
    n = int(n) if n is not None and not pd.isna(n) and int(n) >= 1 else n_default
    lo, hi = row.get("lower"), row.get("upper")
    has_ci = str(row.get("interval_type")) == "ci95" and lo is not None and hi is not None \
        and np.isfinite(lo) and np.isfinite(hi)
    if stat in ("hazard_ratio", "odds_ratio") or unit == "ratio":
        if has_ci and lo > 0 and hi > lo and v > 0 and reproduced > 0:
            se = (math.log(hi) - math.log(lo)) / 3.92
            return (math.log(reproduced) - math.log(v)) / se
        return float("nan")
    if has_ci and hi > lo:
        return (reproduced - v) / ((hi - lo) / 3.92)
    if unit == "%" and stat in ("percent", "survival_rate", "rate", "cumulative_incidence"):
        p = v / 100
        se = math.sqrt(max(p * (1 - p), 1e-4) / n) * 100
        return (reproduced - v) / se
    if stat == "correlation":
        return (math.atanh(max(min(reproduced, 0.999), -0.999))
                - math.atanh(max(min(v, 0.999), -0.999))) / (1.06 / math.sqrt(max(n, 4) - 3))
    if stat == "median" and not has_range(row) and v > 0 and reproduced > 0 and (
            "copies" in unit or unit == "days"):
        # subgroup medians (Table 3): SE of a log median with the log-SD of CAR-T levels
        # implied by the published Cmax range, or an assumed log-SD of 1.0 for days (Tlast)
        from .calibration import SIGMA_LOG_CMAX

        sigma = SIGMA_LOG_CMAX if "copies" in unit else 1.0
        return (math.log(reproduced) - math.log(v)) / (1.2533 * sigma / math.sqrt(n))
    if stat == "median" and str(row.get("interval_type")) == "range" and has_range(row):
        if "copies" in unit:
            if lo > 0 and v > 0 and reproduced > 0:
                sigma = (math.log(hi) - math.log(lo)) / 4.5
                return (math.log(reproduced) - math.log(v)) / (1.2533 * sigma / math.sqrt(n))
            return float("nan")
        sigma = (hi - lo) / 4.5
        return (reproduced - v) / (1.2533 * sigma / math.sqrt(n)) if sigma > 0 else float("nan")
    return float("nan")


def has_range(row: Mapping) -> bool:
    lo, hi = row.get("lower"), row.get("upper")
    return lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi) and hi > lo


def classify(row: Mapping, reproduced: float, inconsistent: bool = False) -> str:
    """Status of one published number (rules in the module docstring)."""
    if inconsistent:
        return STATUSES[4]
    if reproduced == math.inf and str(row.get("statistic")) == "median":
        return STATUSES[3]  # a median not reached where the paper's was reached
    if reproduced is None or not np.isfinite(reproduced):
        return STATUSES[5]
    if str(row.get("statistic")) == "count":  # counts (some printed as words) must be exact
        v = float(row.get("value", float("nan")))
        return STATUSES[0] if np.isfinite(v) and round(reproduced) == v else STATUSES[3]
    if matches_precision(str(row.get("value_text", "")), reproduced):
        return STATUSES[0]
    z = sampling_z(row, reproduced)
    if np.isfinite(z) and abs(z) <= 1.96:
        return STATUSES[1]
    stat = str(row.get("statistic", ""))
    v = float(row.get("value", float("nan")))
    if stat in ("hazard_ratio", "odds_ratio") and v > 0 and reproduced > 0:
        if (v < 1) == (reproduced < 1):
            return STATUSES[2]
    if stat == "p_value" and np.isfinite(v):
        if (v < 0.05) == (reproduced < 0.05):
            return STATUSES[2]
    return STATUSES[3]


def load_map(path: Path | None = None) -> pd.DataFrame:
    """The reproduction map: registry key -> chapter, glue key, scale (multiplier), or, for a
    number deliberately left unscored, an empty chapter and the reason (``not_scored``)."""
    m = pd.read_csv(path or MAP_PATH, comment="#", dtype={"key": str, "chapter": str,
                                                           "glue_key": str, "not_scored": str})
    if "not_scored" not in m.columns:
        m["not_scored"] = ""
    m["not_scored"] = m["not_scored"].fillna("")
    m["chapter"] = m["chapter"].fillna("")
    m["scale"] = m["scale"].fillna(1.0).astype(float)
    bad = m[(m["chapter"] == "") == (m["not_scored"] == "")]
    if len(bad):
        raise ValueError("each row of the reproduction map needs either a chapter and glue key "
                         f"or a not_scored reason, not both: {sorted(bad['key'])}")
    if m["key"].duplicated().any():
        raise ValueError(f"duplicate keys in the reproduction map: "
                         f"{sorted(m.loc[m['key'].duplicated(), 'key'])}")
    return m


def collect_glued(notebooks_dir: Path | str, chapters: list[str]) -> dict[str, dict]:
    """Glued values of each executed chapter notebook (``<dir>/<chapter>/<chapter>.ipynb``)."""
    from .report import glued_values

    out = {}
    for ch in chapters:
        path = Path(notebooks_dir) / ch / f"{ch}.ipynb"
        out[ch] = glued_values(path) if path.is_file() else {}
    return out


_SUP = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹–", "-0123456789-")
_T3_COLUMNS = {"N": "n", "Median Cmax": "cmax_median", "Median AUC0-28d": "auc_median",
               "Median Tlast": "tlast_median", "p Cmax": "p_cmax", "p AUC0-28d": "p_auc",
               "p Tlast": "p_tlast"}


def _norm_level(text: str) -> str:
    t = str(text).translate(_SUP).replace("10^", "10").replace(" ", "").lower()
    return re.split(r"[×x]10", t)[0]


def table3_values(registry: pd.DataFrame, kinetics_glued: Mapping) -> dict[str, float]:
    """Reproduced values of the published Table 3 cells, read from the kinetics chapter's
    glued table (``t3_<row>_<column>``). Factors are paired in the paper's order; levels by
    their normalised label, else by comparator sign, else by position within the factor."""
    rows = []
    i = 0
    while f"t3_{i}_factor" in kinetics_glued:
        rows.append({c: kinetics_glued.get(f"t3_{i}_{c}") for c in
                     ("factor", "level", *set(_T3_COLUMNS.values()))})
        i += 1
    if not rows:
        return {}
    ours = pd.DataFrame(rows)
    our_factors = list(dict.fromkeys(ours["factor"]))
    reg = registry[registry["section"] == "Table 3"]
    split = reg["table_row"].str.split(r" \| ", n=1, expand=True, regex=True)
    reg = reg.assign(factor=split[0], level=split[1])
    paper_factors = list(dict.fromkeys(reg["factor"]))
    out: dict[str, float] = {}
    for fi, pf in enumerate(paper_factors[:len(our_factors)]):
        mine = ours[ours["factor"] == our_factors[fi]].reset_index(drop=True)
        rows_f = reg[reg["factor"] == pf]
        levels = [lv for lv in dict.fromkeys(rows_f["level"]) if " vs " not in lv]
        for li, lv in enumerate(levels):
            nl = _norm_level(lv)
            cand = [j for j, x in enumerate(mine["level"]) if _norm_level(x) == nl]
            if not cand:
                cand = [j for j, x in enumerate(mine["level"])
                        if _norm_level(x)[:1] == nl[:1] and nl[:1] in "<≥>"]
            j = cand[0] if cand else li
            for r in rows_f[rows_f["level"] == lv].itertuples():
                col = _T3_COLUMNS.get(r.table_column)
                if col and j < len(mine):
                    out[r.key] = float(mine.loc[j, col])
        for r in rows_f[rows_f["level"].str.contains(" vs ")].itertuples():
            col = _T3_COLUMNS.get(r.table_column)
            if col and len(mine):
                out[r.key] = float(mine.loc[0, col])
    return out


def scorecard(registry: pd.DataFrame, mapping: pd.DataFrame,
              glued: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per canonical published number with the reproduced value and its status."""
    from .feasibility import FINDINGS
    from .registry import canonical

    bad = {f.key for f in FINDINGS if f.verdict in ("impossible", "inconsistent")}
    reg = canonical(registry)
    m = mapping.set_index("key")
    t3 = table3_values(reg, glued.get("kinetics", {}))
    rows = []
    for r in reg.to_dict("records"):
        audit_keys = {a.strip() for a in str(r.get("audit") or "").split(";") if a.strip()}
        inconsistent = bool(audit_keys & bad)
        chapter, value, reason = "", float("nan"), ""
        if r["key"] in t3:
            chapter, value = "kinetics", t3[r["key"]]
            status = classify(r, value, inconsistent)
        elif r["key"] in m.index and m.loc[r["key"], "not_scored"]:
            status, reason = STATUSES[7], m.loc[r["key"], "not_scored"]
        elif r["key"] in m.index:
            mr = m.loc[r["key"]]
            chapter = mr["chapter"]
            raw = glued.get(chapter, {}).get(mr["glue_key"])
            value = float(raw) * mr["scale"] if isinstance(raw, (int, float)) else float("nan")
            status = classify(r, value, inconsistent)
        elif inconsistent:
            status = STATUSES[4]
        elif str(r.get("statistic")) in DESIGN_STATISTICS:
            status = STATUSES[6]
        else:
            status = STATUSES[8]
        rows.append({"key": r["key"], "section": r["section"],
                     "table_row": r.get("table_row") or "", "table_column": r.get("table_column") or "",
                     "quantity": r["quantity"], "published": r["value_text"],
                     "interval": r.get("interval_text") or "", "reproduced": value,
                     "chapter": chapter, "status": status,
                     "audit": ", ".join(sorted(audit_keys & bad)), "reason": reason})
    return pd.DataFrame(rows)


def summary(card: pd.DataFrame) -> pd.DataFrame:
    """Counts of each status (in the fixed order of :data:`STATUSES`)."""
    counts = card["status"].value_counts()
    return pd.DataFrame({"Status": list(STATUSES),
                         "Numbers": [int(counts.get(s, 0)) for s in STATUSES]})


def display_table(card: pd.DataFrame) -> pd.DataFrame:
    """The scorecard as shown in the book: location, quantity, published, reproduced (at the
    printed precision plus one digit), status and a link to the chapter that computes it."""
    from .report import format_number

    def where(r: pd.Series) -> str:
        parts = [r["table_row"], r["table_column"]]
        return " · ".join(p for p in parts if p) or ""

    def rep(r: pd.Series) -> str:
        v = r["reproduced"]
        if v == math.inf:
            return "not reached"
        if not np.isfinite(v):
            return "–"
        d = printed_decimals(r["published"])
        return format_number(v) if d is None else f"{v:,.{min(d + 1, 6)}f}"

    return pd.DataFrame({
        "Where": card.apply(where, axis=1),
        "Quantity": card["quantity"],
        "Published": [f"{p} ({i})" if i else p for p, i in zip(card["published"], card["interval"])],
        "Reproduced": card.apply(rep, axis=1),
        "Status": [f"{s} ({r})" if r else s for s, r in
                   zip(card["status"], card.get("reason", pd.Series([""] * len(card))))],
        "Chapter": [f"{{doc}}`{c}`" if c else "" for c in card["chapter"]],
    })
