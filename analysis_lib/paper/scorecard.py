"""The reproduction scorecard: each published number and claim beside what the book computes.

Published numbers come from the registry (``data/published/registry.csv``,
:mod:`analysis_lib.paper.registry`), the paper's sentences of (non-)significance and direction from
the claims registry (``data/published/claims.csv``); reproduced values are read from the
executed chapter notebooks, by the key under which each chapter glued them, through the map
``data/published/reproduction_map.csv`` (registry key -> chapter, glue key, scale, anchor,
what a p-value tests). So the scorecard shows exactly what the chapters show and cannot drift
from them.

Pairing is by identity, never by position or label text: every mapped number has its own glue
key (Table 3's cells are glued under their registry keys by
:func:`analysis_lib.analyses.kinetics.table3_cells`).

Statuses
--------
One function, :func:`classify`, decides the status of every number, and every page reads the
status from a scorecard frame made by :func:`scorecard`; the definitions are
:data:`DEFINITIONS` (version :data:`STATUS_RULES_VERSION`, carried by the downloadable CSV).
The rules, in order:

0. **computed under another parameter** — the build was run with an analysis option that
   differs from the paper's (another dose cut, another MRD cut-point; ``cartbook build -p``)
   and the number depends on it (:func:`analysis_lib.analyses.options.affected_keys`): it is
   shown, with the parameter, but not compared with the paper's (unless rule 1 applies).
1. **not reproducible: paper inconsistent** — the audit (:mod:`analysis_lib.paper.feasibility`)
   shows that the printed *value* is impossible or inconsistent with the paper's own numbers.
   A finding about a printed *interval* (``Finding.concerns == "interval"``) marks the
   interval only: the point estimate is scored by the rules below, without using the
   infeasible interval.
2. **not estimable in this cohort** — the reproduced estimate is infinite or not identified
   (no events in a group, separation, monotone likelihood), with the chapter's reason; a
   p-value that tests such an estimate has the same status. Never counted as reproduced.
3. **not computed** — the mapped value is missing in this build.
4. **matches at the paper's precision** — the reproduced value, rounded to the decimals the
   paper prints, equals the printed value (for "<0.001": the reproduced p is below it);
   counts must be equal.
5. **within sampling error** — ``|z| <= 1.96`` with the sampling standard error of the
   statistic at the paper's n: from the published 95% CI when there is one and the audit
   finds it feasible (log scale for hazard and odds ratios), sqrt(p(1-p)/n) for percentages,
   1.06/sqrt(n-3) on Fisher's z for correlations, and sqrt(pi/2)·sigma/sqrt(n) with sigma =
   range/4.5 for medians with a range (Wan et al. 2014; log scale for CAR-T levels); subgroup
   medians without a range (Table 3) use the log-SD implied by the published Cmax range for
   CAR-T levels and an assumed log-SD of 1.0 for Tlast, with the subgroup's n.
6. **same direction and significance** — for an estimate with a CI or p-value, a p-value
   with the estimate(s) or the two groups it compares, or a claim: the effect lies on the
   same side of the null (1 for ratios, 0 for correlations, the other group for a two-group
   comparison) *and* the verdict at the paper's α (``methods_alpha``, p < 0.05) is the same.
   Where the paper shows no direction (equal group medians, or a claim of no association),
   the significance verdict alone is compared.
7. **differs** — none of the above.

Numbers that describe the study's design (doses, dates, schedules, thresholds) are "study
design, not a result"; numbers the map leaves unscored (a range printed as a median, one
patient's value) are "not scored, reason given"; other unmapped rows are "not mapped yet".

Small-cell suppression
----------------------
When the build suppresses small counts (``min_cell_count`` k > 1,
:mod:`analysis_lib.core.suppression`), a reproduced count of patients or events from 1 to
k-1, and a percentage of patients whose count is that small, is shown as "<k" and never
compared with the paper's value: a "matches" beside the paper's printed "1" would give the
count away as surely as the number itself. Such a row gets the status **suppressed (small
count)** in place of rules 4-7 (:func:`classify` decides it for a count, so a chapter that
scores a count beside its own table gets it too; :func:`scorecard` for a percentage, whose
count it finds among the chapter's values; statuses that no data decide — paper
inconsistent, computed under another parameter, not scored — stay), its reproduced value is
dropped from the
scorecard frame (and so from the download), and it is left out of the score: neither
reproduced nor scorable in this build (:func:`score`). Zero is never suppressed.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..core.paths import ROOT
from .registry import sigma_log_cmax

MAP_PATH = ROOT / "data" / "published" / "reproduction_map.csv"
CLAIMS_PATH = ROOT / "data" / "published" / "claims.csv"

#: Version of the status definitions below; written into every downloadable scorecard.
STATUS_RULES_VERSION = "4"

MATCH = "matches at the paper's precision"
WITHIN = "within sampling error"
DIRECTION = "same direction and significance"
NOT_ESTIMABLE = "not estimable in this cohort"
DIFFERS = "differs"
INCONSISTENT = "not reproducible: paper inconsistent"
NOT_COMPUTED = "not computed"
CHANGED = "computed under another parameter"
DESIGN = "study design, not a result"
NOT_SCORED = "not scored, reason given"
UNMAPPED = "not mapped yet"
SUPPRESSED = "suppressed (small count)"

#: Every status, in the order of the rules and of the summary tables ("computed under another
#: parameter" and "suppressed (small count)", which only a build with changed parameters or
#: with small-cell suppression gives, last).
STATUSES: tuple[str, ...] = (MATCH, WITHIN, DIRECTION, NOT_ESTIMABLE, DIFFERS, INCONSISTENT,
                             NOT_COMPUTED, DESIGN, NOT_SCORED, UNMAPPED, CHANGED, SUPPRESSED)
#: One written definition per status (shown on the scorecard page and as the badges' tooltip).
DEFINITIONS: dict[str, str] = {
    MATCH: "The reproduced value, rounded to the decimals the paper prints, equals the printed "
           "value (a printed bound such as <0.001 is satisfied); counts are equal.",
    WITHIN: "Not equal at the printed precision, but within 1.96 sampling standard errors of "
            "the printed value at the paper's sample size (SE from the published 95% CI when "
            "the audit finds it feasible, else binomial, Fisher's z or the SE of a median).",
    DIRECTION: "The effect lies on the same side of the null as in the paper (1 for ratios, 0 "
               "for correlations, the other group for group comparisons) and the significance "
               "verdict at the paper's alpha is the same; where the paper shows no direction, "
               "the verdict alone.",
    NOT_ESTIMABLE: "The reproduced estimate is infinite or not identified in this cohort (no "
                   "events in a group, separation, monotone likelihood); the reason is given. "
                   "Never counted as reproduced.",
    DIFFERS: "Computed, but none of the statuses above applies.",
    INCONSISTENT: "The audit shows the printed value cannot hold together with the paper's "
                  "own numbers, so no data could reproduce it (an infeasible printed interval "
                  "marks the interval only).",
    CHANGED: "Computed with an analysis parameter other than the paper's (for example "
             "another dose cut), on which this number depends; shown, but not compared with "
             "the paper's value.",
    NOT_COMPUTED: "Mapped to a value that this build did not produce (for example an empty "
                  "group).",
    DESIGN: "A dose, date, schedule or threshold of the study design, not a result.",
    NOT_SCORED: "Deliberately left unscored; the reason is given.",
    UNMAPPED: "No chapter computes this number yet.",
    SUPPRESSED: "A count of patients or events in this cohort from 1 to k-1 (k: the build's "
                "min_cell_count), or a percentage of patients whose count is that small: shown "
                "as <k and not compared with the paper's value, since a status beside the "
                "printed number would give the count away. Left out of the score (neither "
                "reproduced nor scorable in this build).",
}
#: Short names, used as CSS classes of the status badges.
BADGES: dict[str, str] = {MATCH: "match", WITHIN: "within", DIRECTION: "direction",
                          NOT_ESTIMABLE: "not-estimable", DIFFERS: "differs",
                          INCONSISTENT: "inconsistent", CHANGED: "changed",
                          NOT_COMPUTED: "not-computed",
                          DESIGN: "design", NOT_SCORED: "not-scored", UNMAPPED: "unmapped",
                          SUPPRESSED: "suppressed"}
#: Statuses that count as reproduced (numbers) or upheld (claims).
REPRODUCED: tuple[str, ...] = (MATCH, WITHIN, DIRECTION)
#: Statuses that no data could change: left out of the calibration objective.
NOT_SCORABLE: tuple[str, ...] = (INCONSISTENT, CHANGED, DESIGN, NOT_SCORED)
#: Statuses withheld in this build (small-cell suppression): left out of the score too.
WITHHELD: tuple[str, ...] = (SUPPRESSED,)
#: Statuses that compare the reproduced value with the paper's, which a suppressed count
#: must not show (rules 4-7).
COMPARED: tuple[str, ...] = (MATCH, WITHIN, DIRECTION, DIFFERS)

#: Registry statistics that describe the study's design or analysis choices (doses, dates,
#: schedules, thresholds), which no analysis of the data can reproduce.
DESIGN_STATISTICS: frozenset[str] = frozenset({"design", "date", "threshold"})
_RATIOS = ("hazard_ratio", "odds_ratio")

_NUM = re.compile(r"[-+]?\d[\d,]*\.?\d*")


# ============================================================================================
# Printed precision and sampling error
# ============================================================================================

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


def has_range(row: Mapping) -> bool:
    lo, hi = row.get("lower"), row.get("upper")
    return lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi) and hi > lo


def sampling_z(row: Mapping, reproduced: float, n_default: int = 50, *,
               use_interval: bool = True) -> float:
    """Standardised difference of ``reproduced`` from the published value (nan when no
    sampling standard error follows from the row). ``use_interval=False`` ignores a published
    CI (the audit found it infeasible) and falls back to the SE implied by the statistic."""
    v = float(row["value"]) if row.get("value") is not None else float("nan")
    if not (np.isfinite(v) and np.isfinite(reproduced)):
        return float("nan")
    stat = str(row.get("statistic", ""))
    unit = str(row.get("unit", ""))
    n = row.get("n")
    n = int(n) if n is not None and not pd.isna(n) and int(n) >= 1 else n_default
    lo, hi = row.get("lower"), row.get("upper")
    has_ci = use_interval and str(row.get("interval_type")) == "ci95" and lo is not None \
        and hi is not None and np.isfinite(lo) and np.isfinite(hi)
    if stat in _RATIOS or unit == "ratio":
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
        sigma = sigma_log_cmax() if "copies" in unit else 1.0
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


# ============================================================================================
# Direction and significance
# ============================================================================================

def sign(x: float) -> int | None:
    """-1, 0 or +1 (``None`` when ``x`` is missing)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return int(np.sign(x))


def direction(estimate: float, null: float) -> int | None:
    """Side of the null an estimate lies on: +1 above, -1 below, 0 on it, ``None`` missing.
    Ratios are compared with 1 (an infinite ratio lies above, 0 below)."""
    if estimate is None or (isinstance(estimate, float) and math.isnan(estimate)):
        return None
    return sign(float(estimate) - null)


@dataclass(frozen=True)
class Evidence:
    """What decides a number's status beyond its own value.

    Attributes
    ----------
    published_direction, reproduced_direction : tuple of -1/0/+1, or ``None`` when the number
        has no direction (a median, a percentage) or it is not available. One entry per
        estimate (a p-value printed for several estimates has several).
    published_significant, reproduced_significant : the verdict p < α, or ``None``.
    not_estimable : the chapter's reason why the reproduced estimate is not estimable
        (empty: it is).
    value_inconsistent : the audit impugns the printed value itself.
    interval_infeasible : the audit impugns only the printed interval.
    """
    published_direction: tuple[int, ...] | None = None
    reproduced_direction: tuple[int | None, ...] | None = None
    published_significant: bool | None = None
    reproduced_significant: bool | None = None
    not_estimable: str = ""
    value_inconsistent: bool = False
    interval_infeasible: bool = False

    @property
    def agrees(self) -> bool:
        """Same direction (where the paper shows one) and the same verdict at α."""
        if self.published_significant is None or self.reproduced_significant is None:
            return False
        if self.published_significant != self.reproduced_significant:
            return False
        if self.published_direction is None:
            return False
        if self.reproduced_direction is None or len(self.reproduced_direction) != len(
                self.published_direction):
            return False
        for pub, rep in zip(self.published_direction, self.reproduced_direction):
            if pub == 0:  # the paper shows no direction here: the verdict alone decides
                continue
            if rep != pub:
                return False
        return True


def classify(row: Mapping, reproduced: float, evidence: Evidence | None = None) -> str:
    """Status of one published number (rules in the module docstring)."""
    ev = evidence or Evidence()
    stat = str(row.get("statistic", ""))
    if ev.value_inconsistent:
        return INCONSISTENT
    if ev.not_estimable:
        return NOT_ESTIMABLE
    if reproduced is None or (isinstance(reproduced, float) and math.isnan(reproduced)):
        return NOT_COMPUTED
    if not np.isfinite(reproduced):
        if stat in _RATIOS:
            return NOT_ESTIMABLE  # an infinite ratio is not an estimate
        return DIFFERS  # e.g. a median not reached where the paper's was reached
    if stat in _RATIOS and reproduced <= 0:
        return NOT_ESTIMABLE  # a ratio of exactly 0: the estimate runs off to -infinity
    if stat == "count":  # counts (some printed as words) must be exact
        from ..core.suppression import is_small

        if is_small(round(reproduced)):  # never compared with the printed count
            return SUPPRESSED
        v = float(row.get("value", float("nan")))
        return MATCH if np.isfinite(v) and round(reproduced) == v else DIFFERS
    if matches_precision(str(row.get("value_text", "")), reproduced):
        return MATCH
    z = sampling_z(row, reproduced, use_interval=not ev.interval_infeasible)
    if np.isfinite(z) and abs(z) <= 1.96:
        return WITHIN
    if ev.agrees:
        return DIRECTION
    return DIFFERS


def classify_claim(tests: list[Evidence], computed: bool) -> str:
    """Status of one claim of the paper from the evidence of each test that bears on it: the
    rules for numbers, of which only these can apply. The claim holds ("same direction and
    significance") when every test has the stated verdict at α and, where the claim states
    a direction, the stated direction."""
    why = [e.not_estimable for e in tests if e.not_estimable]
    if why:
        return NOT_ESTIMABLE
    if not computed or not tests:
        return NOT_COMPUTED
    return DIRECTION if all(e.agrees for e in tests) else DIFFERS


# ============================================================================================
# The map and the claims
# ============================================================================================

def load_map(path: Path | None = None) -> pd.DataFrame:
    """The reproduction map: registry key -> chapter, glue key, scale (multiplier), anchor
    (label of the table, figure or section that shows the value), tests (for a p-value: the
    estimate key(s), ';'-separated, or 'A vs B' for two groups) or, for a number deliberately
    left unscored, an empty chapter and the reason (``not_scored``)."""
    m = pd.read_csv(path or MAP_PATH, comment="#", dtype=str, keep_default_na=False)
    for col in ("anchor", "tests", "not_scored"):
        if col not in m.columns:
            m[col] = ""
    m["scale"] = pd.to_numeric(m["scale"].replace("", "1")).astype(float)
    bad = m[(m["chapter"] == "") == (m["not_scored"] == "")]
    if len(bad):
        raise ValueError("each row of the reproduction map needs either a chapter and glue key "
                         f"or a not_scored reason, not both: {sorted(bad['key'])}")
    if m["key"].duplicated().any():
        raise ValueError(f"duplicate keys in the reproduction map: "
                         f"{sorted(m.loc[m['key'].duplicated(), 'key'])}")
    return m


def tested_keys(tests: str) -> tuple[list[str], bool]:
    """The keys in a map's ``tests`` cell and whether it is a two-group comparison
    (``"a vs b"``) rather than a list of estimates (``"a;b"``)."""
    tests = str(tests or "").strip()
    if not tests:
        return [], False
    if " vs " in tests:
        return [t.strip() for t in tests.split(" vs ")], True
    return [t.strip() for t in tests.split(";") if t.strip()], False


#: Columns of the claims registry.
CLAIM_COLUMNS: tuple[str, ...] = ("key", "section", "claim", "chapter", "anchor", "p_keys",
                                  "effect_keys", "null", "expected_direction",
                                  "expected_significance", "note")


def load_claims(path: Path | None = None) -> pd.DataFrame:
    """The paper's claims of (non-)significance and direction (``data/published/claims.csv``):
    one row per claim with the glue keys of the p-values that test it (``p_keys``,
    ';'-separated), the estimate of each (``effect_keys``: a glue key compared with ``null``,
    or 'a vs b' for two groups), the direction the paper states (``higher``/``lower``, or
    empty) and the verdict it states (``significant``/``not significant``, for every test)."""
    c = pd.read_csv(path or CLAIMS_PATH, comment="#", dtype=str, keep_default_na=False)
    missing = set(CLAIM_COLUMNS) - set(c.columns)
    if missing:
        raise ValueError(f"claims registry lacks columns {sorted(missing)}")
    problems = []
    if c["key"].duplicated().any():
        problems.append(f"duplicate keys {sorted(c.loc[c['key'].duplicated(), 'key'])}")
    for r in c.itertuples():
        p = [k for k in r.p_keys.split(";") if k.strip()]
        e = [k for k in r.effect_keys.split(";")] if r.effect_keys else []
        if not p:
            problems.append(f"{r.key}: no p_keys")
        if e and len(e) != len(p):
            problems.append(f"{r.key}: {len(e)} effect_keys for {len(p)} p_keys")
        if r.expected_direction not in ("", "higher", "lower"):
            problems.append(f"{r.key}: expected_direction must be higher, lower or empty")
        if r.expected_direction and not e:
            problems.append(f"{r.key}: a stated direction needs effect_keys")
        if r.expected_significance not in ("significant", "not significant"):
            problems.append(f"{r.key}: expected_significance must be 'significant' or "
                            "'not significant'")
    if problems:
        raise ValueError("problems in the claims registry: " + "; ".join(problems))
    return c


#: Suffix of the glue key under which a chapter explains why an estimate is not estimable.
NOT_ESTIMABLE_SUFFIX = "__not_estimable"


def _number(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return float("nan")
    return float(raw)


def alpha(registry: pd.DataFrame) -> float:
    """The paper's significance level (registry ``methods_alpha``)."""
    row = registry.loc[registry["key"] == "methods_alpha"]
    if row.empty or not np.isfinite(row["value"].iloc[0]):
        raise ValueError("the registry has no significance level (methods_alpha)")
    return float(row["value"].iloc[0])


# ============================================================================================
# The scorecard
# ============================================================================================

#: Columns of a scorecard frame.
CARD_COLUMNS: tuple[str, ...] = (
    "key", "kind", "section", "table_row", "table_column", "quantity", "published",
    "interval", "reproduced", "reproduced_text", "chapter", "anchor", "status", "reason",
    "interval_note", "audit")


def scorecard(registry: pd.DataFrame, mapping: pd.DataFrame,
              glued: Mapping[str, Mapping], claims: pd.DataFrame | None = None,
              changed: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per canonical published number (``kind == "number"``) and per claim
    (``kind == "claim"``, when ``claims`` is given) with the reproduced value and its status.

    ``changed``: registry or claim key -> why its value was computed under a parameter that
    differs from the paper's (:func:`analysis_lib.analyses.options.affected_keys`); those get
    the status "computed under another parameter" with that reason, unless the audit shows the
    printed value inconsistent or the map leaves it unscored.
    ``reason`` holds the reason of "not scored", "not estimable" and "computed under another
    parameter"; ``interval_note`` says when the audit found the printed interval (not the
    value) infeasible.
    """
    changed = dict(changed or {})
    from .feasibility import FINDINGS
    from .registry import canonical

    bad = {f.key: f for f in FINDINGS if f.verdict in ("impossible", "inconsistent")}
    reg = canonical(registry)
    a = alpha(registry)
    by_key = reg.set_index("key")
    m = mapping.set_index("key")

    def reproduced(key: str) -> tuple[float, str]:
        """The reproduced value of a registry key (scaled) and the not-estimable reason."""
        if key not in m.index or not m.loc[key, "chapter"]:
            return float("nan"), ""
        mr = m.loc[key]
        g = glued.get(mr["chapter"], {})
        why = g.get(mr["glue_key"] + NOT_ESTIMABLE_SUFFIX, "")
        return _number(g.get(mr["glue_key"])) * mr["scale"], str(why or "")

    def published_p_significant(key: str) -> bool | None:
        if key not in by_key.index:
            return None
        v = by_key.loc[key, "value"]
        return bool(v < a) if np.isfinite(v) else None

    # p-value rows by the estimate they test (for an estimate's significance)
    p_of: dict[str, str] = {}
    for key, tests in zip(mapping["key"], mapping["tests"]):
        keys, vs = tested_keys(tests)
        if not vs:
            for k in keys:
                p_of.setdefault(k, key)

    def null_of(key: str) -> float | None:
        stat = by_key.loc[key, "statistic"] if key in by_key.index else ""
        return 1.0 if stat in _RATIOS else 0.0 if stat == "correlation" else None

    def evidence(r: Mapping) -> Evidence:
        key = r["key"]
        audit_keys = [x.strip() for x in str(r.get("audit") or "").split(";") if x.strip()]
        found = [bad[k] for k in audit_keys if k in bad]
        value_bad = any(f.concerns == "value" for f in found)
        interval_bad = any(f.concerns == "interval" for f in found)
        _, why = reproduced(key)
        pub_dir = rep_dir = pub_sig = rep_sig = None
        stat = r["statistic"]
        if stat == "p_value" and key in m.index:
            keys, vs = tested_keys(m.loc[key, "tests"])
            if vs:
                va, vb = (by_key.loc[k, "value"] for k in keys)
                (ra, wa), (rb, wb) = (reproduced(k) for k in keys)
                pub_dir = (sign(va - vb),)
                rep_dir = (None if (math.isnan(ra) or math.isnan(rb)) or
                           (math.isinf(ra) and ra == rb) else sign(ra - rb),)
                why = why or wa or wb
            elif keys:
                pub_dir = tuple(direction(by_key.loc[k, "value"], null_of(k)) for k in keys)
                reps = [reproduced(k) for k in keys]
                rep_dir = tuple(direction(v, null_of(k)) for (v, _), k in zip(reps, keys))
                why = why or next((w for _, w in reps if w), "")
            pub_sig = published_p_significant(key)
            rv, _ = reproduced(key)
            rep_sig = bool(rv < a) if np.isfinite(rv) else None
        elif null_of(key) is not None:
            pub_dir = (direction(r["value"], null_of(key)),)
            rv, _ = reproduced(key)
            rep_dir = (direction(rv, null_of(key)),)
            pk = p_of.get(key)
            if pk is not None:
                pub_sig = published_p_significant(pk)
                rp, wp = reproduced(pk)
                rep_sig = bool(rp < a) if np.isfinite(rp) else None
                why = why or wp
            elif str(r.get("interval_type")) == "ci95" and not interval_bad:
                lo, hi, nul = r["lower"], r["upper"], null_of(key)
                pub_sig = bool(lo > nul or hi < nul) if np.isfinite(lo) else None
        return Evidence(pub_dir, rep_dir, pub_sig, rep_sig, why, value_bad, interval_bad)

    rows = []
    for r in reg.to_dict("records"):
        key = r["key"]
        audit_keys = [x.strip() for x in str(r.get("audit") or "").split(";") if x.strip()]
        chapter, anchor, reason, note = "", "", "", ""
        value = float("nan")
        ev = evidence(r)
        interval_findings = [k for k in audit_keys if k in bad and bad[k].concerns == "interval"]
        if interval_findings and r.get("interval_text"):
            note = "published interval infeasible (audit: " + ", ".join(interval_findings) + ")"
        shown = ""
        if key in m.index and m.loc[key, "not_scored"]:
            status, reason = NOT_SCORED, m.loc[key, "not_scored"]
        elif key in m.index:
            chapter, anchor = m.loc[key, "chapter"], m.loc[key, "anchor"]
            value, _ = reproduced(key)
            status = classify(r, value, ev)
            if key in changed and status != INCONSISTENT:
                status, reason = CHANGED, changed[key]
            elif status == NOT_ESTIMABLE:
                reason = ev.not_estimable or "the estimate is infinite"
            small, k = small_count(r, value, m.loc[key, "glue_key"], glued.get(chapter, {}))
            if small:  # shown as <k, compared with nothing, and the value kept out of the frame
                shown, value = suppressed_text(r, k), float("nan")
                if status in COMPARED + WITHHELD:
                    status, reason = SUPPRESSED, suppression_reason()
        elif ev.value_inconsistent:
            status = INCONSISTENT
        elif str(r.get("statistic")) in DESIGN_STATISTICS:
            status = DESIGN
        else:
            status = UNMAPPED
        rows.append({
            "key": key, "kind": "number", "section": r["section"],
            "table_row": r.get("table_row") or "", "table_column": r.get("table_column") or "",
            "quantity": r["quantity"], "published": r["value_text"],
            "interval": r.get("interval_text") or "", "reproduced": value,
            "reproduced_text": shown or reproduced_text(r, value, status), "chapter": chapter,
            "anchor": anchor, "status": status, "reason": reason, "interval_note": note,
            "audit": ", ".join(k for k in audit_keys if k in bad)})
    if claims is not None:
        for c in claims.to_dict("records"):
            row = claim_row(c, glued, a)
            if c["key"] in changed:
                row["status"], row["reason"] = CHANGED, changed[c["key"]]
            rows.append(row)
    return pd.DataFrame(rows, columns=list(CARD_COLUMNS))


def suppression_reason() -> str:
    """The note beside a suppressed row: the rule of this build."""
    from ..core.suppression import min_cell_count

    k = min_cell_count()
    return f"small-cell suppression: counts from 1 to {k - 1} are shown as <{k}"


def chapter_statuses(chapter: str, values: Mapping[str, Any],
                     registry: pd.DataFrame | None = None,
                     changed: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The scorecard rows of the published numbers one chapter computes, from that chapter's
    own values (its glue keys -> values): what a chapter shows beside its reproduced values.
    The same function as the scorecard page decides every status, and the evidence of each
    number (a p-value's estimate, an estimate's p-value) lies in the same chapter, so the
    statuses are those of the scorecard. ``changed``: the chapter's keys computed under a
    parameter other than the paper's, with the reason (as :func:`scorecard`'s; ``None``:
    the paper's parameters)."""
    from .registry import load_registry

    card = scorecard(load_registry() if registry is None else registry, load_map(),
                     {chapter: values}, changed=changed)
    return card[card["chapter"] == chapter].set_index("key")


def claim_row(claim: Mapping, glued: Mapping[str, Mapping], a: float) -> dict[str, Any]:
    """Score one claim: every test's p-value against the stated verdict at ``a`` and, where the
    claim states a direction, every estimate against it (:func:`classify_claim`)."""
    g = glued.get(claim["chapter"], {})
    p_keys = [k.strip() for k in claim["p_keys"].split(";") if k.strip()]
    effects = [e.strip() for e in claim["effect_keys"].split(";")] if claim["effect_keys"] else []
    null = float(claim["null"]) if str(claim.get("null", "")).strip() else 0.0
    expected_sig = claim["expected_significance"] == "significant"
    stated = {"higher": 1, "lower": -1}.get(claim["expected_direction"], 0)
    ps: list[float] = []
    dirs: list[int | None] = []
    tests: list[Evidence] = []
    for i, pk in enumerate(p_keys):
        p = _number(g.get(pk))
        why = str(g.get(pk + NOT_ESTIMABLE_SUFFIX, "") or "")
        d: int | None = 0
        if effects:
            keys, vs = tested_keys(effects[i])
            if vs:
                va, vb = (_number(g.get(k)) for k in keys)
                d = (None if math.isnan(va) or math.isnan(vb) or (math.isinf(va) and va == vb)
                     else sign(va - vb))
            else:
                d = direction(_number(g.get(keys[0])), null)
                why = why or str(g.get(keys[0] + NOT_ESTIMABLE_SUFFIX, "") or "")
        ps.append(p)
        dirs.append(d)
        tests.append(Evidence(published_direction=(stated,), reproduced_direction=(d,),
                              published_significant=expected_sig,
                              reproduced_significant=bool(p < a) if np.isfinite(p) else None,
                              not_estimable=why))
    computed = bool(p_keys) and all(np.isfinite(p) for p in ps)
    status = classify_claim(tests, computed)
    published = claim["expected_significance"] + (
        f", {claim['expected_direction']}" if claim["expected_direction"] else "")
    reason = "; ".join(dict.fromkeys(e.not_estimable for e in tests if e.not_estimable))
    return {"key": claim["key"], "kind": "claim", "section": claim["section"],
            "table_row": "", "table_column": "", "quantity": claim["claim"],
            "published": published, "interval": "",
            "reproduced": min(ps) if computed else float("nan"),
            "reproduced_text": claim_text(ps, dirs, a, bool(effects)),
            "chapter": claim["chapter"], "anchor": claim["anchor"], "status": status,
            "reason": reason if status == NOT_ESTIMABLE else "",
            "interval_note": "", "audit": ""}


def claim_text(ps: list[float], dirs: list[int | None], a: float, directed: bool) -> str:
    """What the build found for a claim, in words: ``p = 0.018, higher`` for one test,
    ``2 of 18 tests p < 0.05 (smallest p 0.011)`` for several."""
    from ..core.formatting import format_p, p_phrase

    words = {1: "higher", -1: "lower", 0: "equal", None: "direction not available"}
    if not ps or not all(np.isfinite(p) for p in ps):
        return "–"
    if len(ps) == 1:
        txt = p_phrase(ps[0])
        return txt + (f", {words[dirs[0]]}" if directed else "")
    k = sum(p < a for p in ps)
    txt = f"{k} of {len(ps)} tests p < {a:g} (smallest p {format_p(min(ps))})"
    if directed:
        up = sum(d == 1 for d in dirs)
        txt += f"; {up} of {len(dirs)} higher"
    return txt


def reproduced_text(row: Mapping, value: float, status: str) -> str:
    """The reproduced value as shown on the scorecard, through the book's formatter
    (:mod:`analysis_lib.core.formatting`): a count as a count (``1,234``; ``<5`` when
    small-cell suppression is on and it is small); a p-value by the p-value rule at the
    paper's printed precision (``0.017``, ``<0.001``); a number from 1,000 up as the book
    writes it (``457,864``, or with the printed decimals); zero as ``0``; any other number
    with one more decimal than the paper prints (at most four), in powers of ten where that
    would round to zero (never ``0.0000``)."""
    from ..core.formatting import fixed, number, p_value
    from ..core.suppression import count_text

    if status == NOT_ESTIMABLE:
        return "not estimable"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "not reached" if row.get("statistic") == "median" else "infinite"
    d = printed_decimals(str(row.get("value_text", "")))
    stat = row.get("statistic")
    if stat == "count":
        return count_text(int(round(value)))
    if stat == "p_value":
        return p_value(value, max(3, d or 0))
    if d is None or value == 0:
        return number(value)
    if abs(value) >= 1000:
        return fixed(value, d) if d else number(value)
    digits = min(d + 1, 4)
    if value != 0 and round(abs(value), digits) == 0:
        return number(value)
    return fixed(value, digits)


#: Registry statistics of a percentage of patients: a count of patients lies behind it, and
#: a small count is suppressed with it.
PERCENT_OF_PATIENTS: frozenset[str] = frozenset({"percent"})


def count_key(glue_key: str, values: Mapping[str, Any]) -> str | None:
    """The glue key, among one chapter's glued ``values``, of the count of patients behind the
    percentage glued under ``glue_key``: ``X_k``, ``n_X_k`` or ``n_X`` for ``X_pct``, ``n_X``
    or ``X_k`` for ``pct_X`` (the chapters glue a percentage beside its count); ``None`` when
    the chapter glued no such count."""
    candidates: list[str] = []
    if glue_key.endswith("_pct"):
        base = glue_key[: -len("_pct")]
        candidates += [f"{base}_k", f"n_{base}_k", f"n_{base}"]
    if glue_key.startswith("pct_"):
        base = glue_key[len("pct_"):]
        candidates += [f"n_{base}", f"{base}_k"]
    return next((c for c in candidates if np.isfinite(_number(values.get(c)))), None)


def small_count(row: Mapping, value: float, glue_key: str, values: Mapping[str, Any]
                ) -> tuple[bool, float]:
    """Whether the reproduced ``value`` of registry row ``row`` (glued under ``glue_key``
    among one chapter's ``values``) discloses a small count under the current small-cell
    suppression (:func:`analysis_lib.core.suppression.is_small`), and that count (nan when
    it cannot be identified). A count is small itself; a percentage of patients
    (:data:`PERCENT_OF_PATIENTS`) is when the count behind it (:func:`count_key`) is, and,
    when no count can be found, whenever suppression is on and it is above zero (the safe
    side). Other statistics (medians, ratios, Kaplan–Meier estimates) are not counts."""
    from ..core.suppression import is_small, min_cell_count

    if min_cell_count() <= 1 or not np.isfinite(value):
        return False, float("nan")
    stat = str(row.get("statistic", ""))
    if stat == "count":
        k = float(round(value))
        return is_small(k), k
    if stat in PERCENT_OF_PATIENTS:
        ck = count_key(glue_key, values)
        if ck is None:
            return value > 0, float("nan")
        k = _number(values.get(ck))
        return is_small(k), k
    return False, float("nan")


def suppressed_text(row: Mapping, k: float) -> str:
    """What the scorecard shows for a suppressed count (``<5``) or for a percentage of
    patients whose count is suppressed (``<5 patients``)."""
    from ..core.suppression import count_text, min_cell_count

    shown = count_text(int(k)) if np.isfinite(k) else f"<{min_cell_count()}"
    return shown if row.get("statistic") == "count" else f"{shown} patients"


# ============================================================================================
# Summaries (every page reads these)
# ============================================================================================

def summary(card: pd.DataFrame, kind: str | None = "number") -> pd.DataFrame:
    """Counts of each status (in the fixed order of :data:`STATUSES`) for numbers
    (``kind="number"``), claims (``"claim"``) or both (``None``)."""
    part = card if kind is None else card[card["kind"] == kind]
    counts = part["status"].value_counts()
    return pd.DataFrame({"Status": list(STATUSES),
                         "Numbers": [int(counts.get(s, 0)) for s in STATUSES]})


def score(card: pd.DataFrame) -> dict[str, int]:
    """The honest final score of one scorecard, with its breakdown; the objective of the
    calibration's stage 3 and the figures every page shows.

    ``score`` = published results matched at the paper's precision or within sampling error
    plus claims upheld (same direction and significance); ``eligible`` = results that can be
    scored (all but design numbers, numbers the audit shows inconsistent, numbers left
    unscored, numbers computed under another parameter and numbers withheld by small-cell
    suppression, :data:`WITHHELD`) plus claims; ``numbers_*`` and ``claims_*`` split both; ``direction`` = results
    agreeing only in direction and significance (the first tie-break); ``n_<badge>`` (numbers)
    and ``claims_n_<badge>`` (claims) count every status.
    """
    nums = card[card["kind"] == "number"]
    cls = card[card["kind"] == "claim"]
    cn = nums["status"].value_counts()
    cc = cls["status"].value_counts()
    n_score = int(cn.get(MATCH, 0) + cn.get(WITHIN, 0))
    n_elig = int(len(nums) - sum(cn.get(s, 0) for s in NOT_SCORABLE + WITHHELD))
    c_score = int(cc.get(DIRECTION, 0))
    out = {"score": n_score + c_score, "eligible": n_elig + len(cls),
           "numbers_score": n_score, "numbers_eligible": n_elig,
           "claims_score": c_score, "claims_eligible": int(len(cls)),
           "direction": int(cn.get(DIRECTION, 0)),
           "reproduced": int(nums["status"].isin(REPRODUCED).sum()),
           "numbers_total": int(len(nums))}
    out.update({f"n_{BADGES[s].replace('-', '_')}": int(cn.get(s, 0)) for s in STATUSES})
    out.update({f"claims_n_{BADGES[s].replace('-', '_')}": int(cc.get(s, 0)) for s in STATUSES})
    return out


def score_sentence(s: Mapping[str, int]) -> str:
    """The final score in one sentence, the same on every page (with the numbers that
    small-cell suppression left out of it, when there are any)."""
    withheld = int(s.get("n_suppressed", 0))
    left_out = (f" ({withheld} published {'number' if withheld == 1 else 'numbers'} "
                "withheld by small-cell suppression are not scored)" if withheld else "")
    return (f"{s['score']} of {s['eligible']} scorable results reproduced: "
            f"{s['numbers_score']} of {s['numbers_eligible']} published numbers match at the "
            f"paper's precision ({s['n_match']}) or lie within sampling error "
            f"({s['n_within']}), and {s['claims_score']} of {s['claims_eligible']} claims of "
            f"significance and direction hold{left_out}")


#: How each status reads in a sentence ("61 match at the paper's precision").
PHRASES: dict[str, str] = {
    MATCH: "match at the paper's precision", WITHIN: "lie within sampling error",
    DIRECTION: "agree in direction and significance", NOT_ESTIMABLE: "are not estimable in "
    "this cohort", DIFFERS: "differ", INCONSISTENT: "cannot be reproduced because the "
    "paper's own numbers contradict them", NOT_COMPUTED: "were not computed in this build",
    CHANGED: "were computed under a parameter other than the paper's",
    DESIGN: "describe the study's design rather than a result", NOT_SCORED: "are left "
    "unscored for a stated reason", UNMAPPED: "are not yet computed by any chapter",
    SUPPRESSED: "are withheld by small-cell suppression (not scored)"}
#: The statuses a claim can have.
CLAIM_STATUSES: tuple[str, ...] = (DIRECTION, NOT_ESTIMABLE, DIFFERS, NOT_COMPUTED)


def status_counts_text(card: pd.DataFrame, kind: str = "number") -> str:
    """Every status's count in one phrase, in the order of :data:`STATUSES` (all of them for
    numbers, zeros included, so no count is left unsaid; the statuses a claim can have for
    claims; "hold" for claims in direction and significance). "Computed under another
    parameter" and "suppressed (small count)" are said only when the build changed a
    parameter or suppressed a count (a count of them)."""
    counts = card.loc[card["kind"] == kind, "status"].value_counts()
    statuses = STATUSES if kind == "number" else CLAIM_STATUSES + (CHANGED,)
    parts = []
    for st in statuses:
        if st in (CHANGED, SUPPRESSED) and not counts.get(st, 0):
            continue
        phrase = PHRASES[st]
        if kind == "claim" and st == DIRECTION:
            phrase = "hold (same direction and significance)"
        parts.append(f"{int(counts.get(st, 0))} {phrase}")
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def breakdown_table(s: Mapping[str, int]) -> pd.DataFrame:
    """The score's breakdown by status, the paper's numbers and claims side by side. These
    are counts of the paper's published numbers, not of patients: the column is headed
    "Published numbers" so that small-cell suppression
    (:func:`analysis_lib.core.suppression.suppress_table`, which leaves columns of published
    numbers alone) does not hide a "2 not estimable" that the page's text says in words."""
    return pd.DataFrame({
        "Status": [badge(x) for x in STATUSES],
        "Published numbers": [s.get(f"n_{BADGES[x].replace('-', '_')}", 0) for x in STATUSES],
        "Claims": [s.get(f"claims_n_{BADGES[x].replace('-', '_')}", 0) for x in STATUSES],
    })


# ============================================================================================
# Display
# ============================================================================================

def badge(status: str) -> str:
    """The status as a coloured badge with its definition on hover (HTML, escaped)."""
    return (f'<span class="sc-badge sc-{BADGES[status]}" '
            f'title="{html.escape(DEFINITIONS[status], quote=True)}">'
            f"{html.escape(status)}</span>")


def anchor_link(anchor: str) -> str:
    """A MyST cross-reference to the exact table, figure or section that shows a value:
    ``{numref}`` for tables and figures (their number and a link to their anchor), ``{ref}``
    for sections."""
    if not anchor:
        return ""
    if anchor.startswith(("tbl-", "fig-")):
        return f"{{numref}}`{anchor}`"
    return f"{{ref}}`{anchor}`"


def _esc(text: str) -> str:
    """A generated or registry string for a table cell: numbers in the book's form
    (:func:`analysis_lib.core.formatting.prose`: ``10^-3`` as ``10⁻³``), escaped."""
    from ..core.formatting import prose

    return html.escape(prose(str(text)), quote=False).replace("|", "\\|")


def printed_interval(text: str) -> str:
    """A published interval as the book writes intervals: ``0.944,0.995`` -> ``0.944–0.995``
    (the paper prints Table 1's confidence intervals with a comma)."""
    t = str(text).strip()
    return re.sub(r"^\s*([-\d.]+)\s*,\s*([-\d.]+)\s*$", r"\1–\2", t)


def display_table(card: pd.DataFrame) -> pd.DataFrame:
    """The scorecard as shown in the book: section, what the number is (its table row and
    column, or the quantity for a number in the text), published, reproduced, status badge
    (with the reason or interval note in small type) and a link to the exact table, figure or
    section of the chapter that shows the value."""
    def what(r: pd.Series) -> str:
        parts = [p for p in (r["table_row"], r["table_column"]) if p]
        return _esc(" · ".join(parts) if parts else r["quantity"])

    def status(r: pd.Series) -> str:
        extra = [x for x in (r["reason"], r["interval_note"]) if x]
        note = f'<br><span class="sc-note">{_esc("; ".join(extra))}</span>' if extra else ""
        return badge(r["status"]) + note

    return pd.DataFrame({
        "Section": [_esc(s) for s in card["section"]],
        "Number or claim": card.apply(what, axis=1),
        "Published": [_esc(f"{p} ({printed_interval(i)})" if i else p)
                      for p, i in zip(card["published"], card["interval"])],
        "Reproduced": [_esc(t) for t in card["reproduced_text"]],
        "Status": card.apply(status, axis=1),
        "Shown in": [anchor_link(a) for a in card["anchor"]],
    })


def definitions_table() -> pd.DataFrame:
    """Every status with its badge and its written definition."""
    return pd.DataFrame({"Status": [badge(s) for s in STATUSES],
                         "Definition": [_esc(DEFINITIONS[s]) for s in STATUSES]})


def download_frame(card: pd.DataFrame) -> pd.DataFrame:
    """The scorecard as downloaded: every column, the status definition of each row and the
    version of the status definitions."""
    return card.assign(status_definition=[DEFINITIONS[s] for s in card["status"]],
                       status_rules_version=STATUS_RULES_VERSION)


# ============================================================================================
# The answer at a glance (the landing page)
# ============================================================================================

#: The paper's headline results on the landing page: registry key, label, and the glue keys
#: of the reproduced interval's limits (chapter, lower, upper), or None.
KEY_RESULTS: tuple[tuple[str, str, tuple[str, str, str] | None], ...] = (
    ("cr_d28_pct", "CR/CRi at day 28, %", ("cohort", "cr_ci_low", "cr_ci_high")),
    ("mrd_neg_cr_d28_pct", "MRD-negative CR/CRi at day 28, %",
     ("cohort", "mrd_negative_cr_ci_low", "mrd_negative_cr_ci_high")),
    ("os_5y", "5-year overall survival, %", ("survival", "os_5y_plain_lower",
                                             "os_5y_plain_upper")),
    ("lfs_5y", "5-year leukaemia-free survival, %", ("survival", "lfs_5y_plain_lower",
                                                      "lfs_5y_plain_upper")),
    ("severe_crs_pct", "Grade ≥3 CRS, %", None),
    ("icans_pct", "ICANS, %", None),
    ("cmax_median", "Median Cmax, copies/µg DNA", None),
)


def key_results(card: pd.DataFrame, glued: Mapping[str, Mapping]) -> pd.DataFrame:
    """The landing page's table: each headline result as the paper prints it (with its
    interval) beside this build's value (with the interval the chapter computes, the same
    kind as the paper's where it says), and the scorecard's status badge."""
    from ..core.formatting import fixed, number

    by_key = card.set_index("key")
    rows = []
    for key, label, ci in KEY_RESULTS:
        r = by_key.loc[key]
        pub = r["published"] + (f" ({printed_interval(r['interval'])})" if r["interval"] else "")
        value = r["reproduced"]
        shown = r["reproduced_text"]
        if np.isfinite(value):
            shown = fixed(value, 1) if "%" in label else number(value)
            if ci is not None:
                lo = _number(glued.get(ci[0], {}).get(ci[1]))
                hi = _number(glued.get(ci[0], {}).get(ci[2]))
                if np.isfinite(lo) and np.isfinite(hi):
                    shown += f" ({fixed(lo, 1)}–{fixed(hi, 1)})"
        rows.append({"Result": label, "Paper": _esc(pub), "This build": _esc(shown),
                     "Status": badge(r["status"]) + (
                         f'<br><span class="sc-note">{_esc(r["interval_note"])}</span>'
                         if r["interval_note"] else "")})
    return pd.DataFrame(rows)
