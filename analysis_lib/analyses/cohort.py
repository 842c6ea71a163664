"""Descriptive statistics of the cohort: baseline characteristics (Supplementary Table S1),
reasons for enrolment, dose and timing, follow-up and day-28 response.

Conventions follow the paper: categorical variables as n (%), continuous ones as median
(range). Rates carry exact Clopper–Pearson confidence intervals (Clopper CJ, Pearson ES (1934).
The use of confidence or fiducial limits illustrated in the case of the binomial.
Biometrika 26:404–413), which R's ``binom.test`` reports.

The chapter's entry point is :func:`analyse`: it returns a :class:`CohortResults` with every
value the chapter glues, its display tables (formatted by :mod:`analysis_lib.core.formatting`,
the paper's values read from the registry beside the reproduced ones with the scorecard's
status) and what its figures need.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..core import formatting
from ..core.formatting import count_percent, median_range
from ..core.suppression import count_text, is_small, min_cell_count, suppress_table
from ..core.units import cut_id, days_to_months, format_mrd
from ..data.schema import ENROLMENT_REASONS, GENETIC_RISK, SEX
from ..stats.proportions import Proportion, proportion
from ..stats.survival import KaplanMeier, MedianEstimate, reverse_kaplan_meier

#: MRD cut-points used throughout the paper (fractions of nucleated marrow cells).
MRD_CUTS: tuple[float, ...] = (1e-4, 1e-3, 1e-2)

LABELS = {
    "male": "Male", "female": "Female",
    "chemo_intolerance": "Chemotherapy intolerance",
    "mrd_reemergence": "MRD re-emergence",
    "mrd_persistent": "Persistent MRD",
    "low_intermediate": "Low/intermediate", "high": "High",
}


# ============================================================================================
# Published beside reproduced (shared by the chapters; candidates for a lower layer)
# ============================================================================================

@dataclass(frozen=True)
class Paired:
    """A table cell: the reproduced value (formatted), the paper's value as printed (read from
    the registry; empty when the paper gives none), the scorecard status of that published
    number (:mod:`analysis_lib.paper.scorecard`) and why it applies when the status is
    "computed under another parameter" (the parameter; empty otherwise)."""
    reproduced: str
    published: str = ""
    status: str = ""
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.reproduced} (paper {self.published})" if self.published else \
            self.reproduced


@dataclass(frozen=True)
class DisplayTable:
    """A table as the book shows it, and as it is downloaded.

    ``frame`` holds the displayed cells: formatted text, or :class:`Paired` cells where the
    paper's value stands beside the reproduced one. ``data`` is the full-precision table
    offered for download as ``<file>.csv``; ``caption`` says what the table shows (and, for a
    reproduction of one of the paper's tables, which)."""
    frame: pd.DataFrame
    caption: str
    data: pd.DataFrame
    file: str

    def render(self, beside: Callable[..., str] | None = None) -> pd.DataFrame:
        """The displayed table: small counts suppressed in the reproduced values
        (:func:`analysis_lib.core.suppression.suppress_table`, never in the paper's), then each
        :class:`Paired` cell rendered by ``beside(reproduced, published, status)``, with the
        cell's ``reason`` as a fourth argument when it has one (the book passes
        :func:`analysis_lib.book.report.beside`), or as plain text without it. A cell
        whose reproduced value was suppressed keeps the paper's value but loses its status (a
        "matches" would give the suppressed count away), whether ``suppress_table`` hid it
        here or it was built suppressed (``<5``, ``<5/50``: :func:`suppressed`)."""
        raw = self.frame.map(lambda v: v.reproduced if isinstance(v, Paired) else v)
        plain = suppress_table(raw)
        out = plain.astype(object).copy()
        for j in range(self.frame.shape[1]):
            for i in range(self.frame.shape[0]):
                v = self.frame.iat[i, j]
                if isinstance(v, Paired):
                    shown = str(plain.iat[i, j])
                    st = v.status if shown == str(raw.iat[i, j]) and not suppressed(shown) \
                        else ""
                    why = (v.reason,) if st and v.reason else ()
                    out.iat[i, j] = (beside(shown, v.published, st, *why) if beside is not None
                                     else str(Paired(shown, v.published)))
        return out


def suppressed(text: str) -> bool:
    """True when ``text`` is a count that small-cell suppression hid: ``<5`` or ``<5/50``
    (:func:`analysis_lib.core.suppression.count_text` at the threshold in force)."""
    t = min_cell_count()
    return t > 1 and re.match(rf"<{t}(?:/|$)", str(text).strip()) is not None


@functools.lru_cache(maxsize=1)
def _registry() -> pd.DataFrame:
    from ..paper.registry import load_registry

    return load_registry().set_index("key", drop=False)


def registry_row(key: str) -> pd.Series:
    """The registry's row of the published number ``key``
    (``data/published/registry.csv``)."""
    return _registry().loc[key]


def registry_value(key: str) -> float:
    """The published number ``key`` as a float (from the registry, never typed)."""
    return float(registry_row(key)["value"])


def _limits(text: str) -> tuple[str, str] | None:
    """The two printed limits of an interval or range as printed: ``"0.361-0.821"``,
    ``"0.148,5.578"``, ``"7.6 to >5000"``."""
    parts = [p.strip() for p in re.split(r"\s*,\s*|\s+to\s+|(?<=\d)\s*[-–]\s*(?=[\d>< ])",
                                           str(text)) if p.strip()]
    return (parts[0], parts[1]) if len(parts) == 2 else None


def published_text(key: str) -> str:
    """A published number as the paper prints it (from the registry): counts as integers
    (``24``, also when printed as a word), percentages with the printed decimals (``68.0%``),
    an estimate or median with its interval or range (``0.544 (0.361–0.821)``,
    ``33.3 (7.6–>5000)``), anything else as printed."""
    r = registry_row(key)
    if r["statistic"] == "count":
        return formatting.count(r["value"])
    if r["statistic"] == "percent":
        return f"{r['value_text']}%"
    lim = _limits(r["interval_text"]) if r["interval_type"] in ("ci95", "range") else None
    if lim:
        return f"{r['value_text']} ({lim[0]}–{lim[1]})"
    return str(r["value_text"])


def published_count_percent(count_key: str | None, percent_key: str | None) -> str:
    """A published count with its percentage, ``27 (54%)``: the percentage as printed when
    the registry has it, else computed from the count and the registry's denominator."""
    if count_key is None:
        return published_text(percent_key) if percent_key else ""
    r = registry_row(count_key)
    k = formatting.count(r["value"])
    if percent_key is not None:
        return f"{k} ({registry_row(percent_key)['value_text']}%)"
    n = r["n"]
    return f"{k} ({formatting.percent(100 * r['value'] / n, 0)})" if not pd.isna(n) and n else k


@dataclass(frozen=True)
class Statuses:
    """The scorecard's status of each published number a chapter shows.

    ``chapter``: the chapter's scorecard rows, from its own values
    (:func:`analysis_lib.paper.scorecard.chapter_statuses`); ``card``: the whole scorecard
    from those values (indexed by key), for the published numbers the chapter shows but
    another chapter's map row computes, or none does; ``changed``: the keys the chapter
    computed under a parameter other than the paper's, with the reason
    (:func:`analysis_lib.analyses.options.affected_keys`; empty: the paper's parameters)."""
    chapter: pd.DataFrame
    card: pd.DataFrame
    changed: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def compute(cls, chapter: str, values: Mapping[str, Any],
                changed: Mapping[str, str] | None = None) -> "Statuses":
        from ..paper.registry import load_registry
        from ..paper.scorecard import chapter_statuses, load_map, scorecard

        changed = dict(changed or {})
        return cls(chapter_statuses(chapter, values, changed=changed),
                   scorecard(load_registry(), load_map(), {chapter: values},
                             changed=changed).set_index("key"), changed)

    def _decide(self, key: str, reproduced: float) -> tuple[str, str]:
        """The status of ``key`` beside ``reproduced`` and, for "computed under another
        parameter", the reason (:meth:`__call__`)."""
        from ..paper.scorecard import CHANGED, NOT_SCORABLE, classify

        row = registry_row(key)
        keys = [key] + ([row["duplicate_of"]] if row["duplicate_of"] else [])

        def decided() -> tuple[str, str]:
            for frame in (self.chapter, self.card):
                for k in keys:
                    if k in frame.index and (frame is self.chapter
                                             or frame.loc[k, "status"] in NOT_SCORABLE):
                        st = str(frame.loc[k, "status"])
                        return st, str(frame.loc[k, "reason"]) if st == CHANGED else ""
            return classify(row.to_dict(), float(reproduced)), ""

        status, reason = decided()
        hit = next((k for k in keys if k in self.changed), None)
        if status not in NOT_SCORABLE and hit is not None:
            return CHANGED, self.changed[hit]
        return status, reason

    def __call__(self, key: str, reproduced: float) -> str:
        """The status of the published number ``key`` beside the value ``reproduced``: the
        chapter's scorecard row when its map computes it (or the number it duplicates);
        otherwise a status that no data can change (paper inconsistent, design, not scored,
        computed under another parameter) from the whole scorecard; otherwise the
        scorecard's one rule (:func:`analysis_lib.paper.scorecard.classify`) on
        ``reproduced`` (e.g. a group size that Table 3 prints and the kinetics chapter
        maps). A number that ``changed`` names (or whose duplicate it names) is "computed
        under another parameter" unless that status is one no data can change, as on the
        scorecard page."""
        return self._decide(key, reproduced)[0]

    def cell(self, reproduced: str, published: str, key: str, value: float) -> Paired:
        """A :class:`Paired` cell: ``reproduced`` (formatted) beside ``published``, with the
        status of ``key`` at ``value`` (:meth:`__call__`) and, for "computed under another
        parameter", the reason."""
        status, reason = self._decide(key, value)
        return Paired(reproduced, published, status, reason)


def plain_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with numpy numbers as Python ``int``/``float`` (a glued ``np.int64(5)``
    would be read back as text)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, (bool, np.bool_)):
            v = bool(v)
        elif isinstance(v, np.integer):
            v = int(v)
        elif isinstance(v, np.floating):
            v = float(v)
        out[k] = v
    return out


# ============================================================================================
# The summaries
# ============================================================================================

def mrd_strata(mrd: pd.Series, cuts: Sequence[float] = MRD_CUTS) -> pd.Series:
    """Ordered MRD strata: ``<10⁻⁴``, ``10⁻⁴ to <10⁻³``, …, ``≥10⁻²`` (left-closed)."""
    cuts = sorted(cuts)
    labels = [f"<{format_mrd(cuts[0])}"]
    labels += [f"{format_mrd(a)} to <{format_mrd(b)}" for a, b in zip(cuts, cuts[1:])]
    labels += [f"≥{format_mrd(cuts[-1])}"]
    bins = [-np.inf, *cuts, np.inf]
    return pd.cut(mrd.astype(float), bins=bins, labels=labels, right=False)


def response_rates(patients: pd.DataFrame, mrd_negative_below: float = 1e-4,
                   conf_level: float = 0.95) -> list[Proportion]:
    """Day-28 CR/CRi and MRD-negative CR/CRi rates over all infused patients.

    MRD-negative means day-28 MRD below ``mrd_negative_below`` (flow cytometry sensitivity);
    a missing day-28 MRD counts as not MRD-negative.
    """
    n = len(patients)
    cr = patients["d28_response"].isin(["cr", "cri"])
    mrd_neg = cr & (patients["d28_mrd"].astype(float) < mrd_negative_below).fillna(False)
    return [proportion("CR/CRi at day 28", int(cr.sum()), n, conf_level),
            proportion("MRD-negative CR/CRi at day 28", int(mrd_neg.sum()), n, conf_level)]


def rates_frame(rates: Sequence[Proportion], digits: int = 1) -> pd.DataFrame:
    """Tidy table of proportions for display and export: "k/N" with the counts by
    :func:`~analysis_lib.core.suppression.count_text`, the percentage and its exact interval;
    a ``k`` that small-cell suppression hides reads ``<5/50`` with "–" for the percentage and
    the interval, which would give it away."""
    def pct(r: Proportion) -> str:
        return formatting.DASH if is_small(r.k) else formatting.fixed(100 * r.estimate, digits)

    def ci(r: Proportion) -> str:
        if is_small(r.k):
            return formatting.DASH
        lo, hi = (formatting.fixed(100 * x, digits) for x in (r.ci_low, r.ci_high))
        return f"{lo}–{hi}"

    return pd.DataFrame({
        "Outcome": [r.label for r in rates],
        "n/N": [f"{count_text(r.k)}/{count_text(r.n)}" for r in rates],
        "%": [pct(r) for r in rates],
        f"{round(100 * rates[0].conf_level)}% CI (exact)": [ci(r) for r in rates],
    })


def _suppress_rates(summary: pd.DataFrame) -> pd.DataFrame:
    """:meth:`Proportion.summary` rows for download, with a ``k`` that small-cell suppression
    hides written ``<5`` and its estimate, standard error and interval as "–" (the column
    ``k`` names no count, so :func:`analysis_lib.core.suppression.suppress_table` would not
    see it); ``summary`` itself when nothing is hidden."""
    small = np.array([is_small(k) for k in summary["k"]], dtype=bool)
    if not small.any():
        return summary
    derived = ["estimate", "se", "lower", "upper"]
    out = summary.astype({c: object for c in ["k", *derived]})
    out["k"] = [count_text(k) if is_small(k) else k for k in summary["k"]]
    out.loc[small, derived] = formatting.DASH
    return out


def _cat_rows(section: str, values: pd.Series, levels: Sequence[str], n: int) -> list[dict]:
    rows = []
    for lvl in levels:
        k = int((values == lvl).sum())
        rows.append({"characteristic": section, "level": LABELS.get(lvl, lvl), "n": k,
                     "percent": 100 * k / n if n else np.nan, "median": np.nan,
                     "min": np.nan, "max": np.nan, "display": count_percent(k, n)})
    missing = int(values.isna().sum())
    if missing:
        rows.append({"characteristic": section, "level": "Missing", "n": missing,
                     "percent": 100 * missing / n, "median": np.nan, "min": np.nan,
                     "max": np.nan, "display": count_percent(missing, n)})
    return rows


def _cont_row(section: str, level: str, x: pd.Series, digits: int) -> dict:
    v = pd.Series(x, dtype=float).dropna()
    return {"characteristic": section, "level": level, "n": int(v.size), "percent": np.nan,
            "median": v.median(), "min": v.min(), "max": v.max(),
            "display": median_range(v, digits)}


def baseline_table(patients: pd.DataFrame, age_cut: float = 10.0,
                   mrd_cuts: Sequence[float] = MRD_CUTS) -> pd.DataFrame:
    """Baseline characteristics (the equivalent of Supplementary Table S1).

    Returns a tidy frame with one row per characteristic level: ``characteristic``,
    ``level``, ``n``, ``percent`` (categorical rows), ``median``, ``min``, ``max``
    (continuous rows) and ``display`` (the formatted cell).
    """
    p = patients
    n = len(p)
    rows: list[dict] = []
    rows.append(_cont_row("Age at infusion, years", "Median (range)", p["age_years"], 1))
    lo_lab, hi_lab = f"0–{formatting.number(age_cut)}", f">{formatting.number(age_cut)}"
    age_grp = np.where(p["age_years"].astype(float) <= age_cut, lo_lab, hi_lab)
    rows += _cat_rows("Age group, years", pd.Series(age_grp), [lo_lab, hi_lab], n)
    rows += _cat_rows("Sex", p["sex"], SEX, n)
    rows += _cat_rows("Cytogenetic risk (NCCN 2024)", p["genetic_risk"], GENETIC_RISK[::-1], n)
    rows += _cat_rows("Reason for CAR-T", p["enrolment_reason"], ENROLMENT_REASONS, n)
    for col, label in (("prior_hsct", "Prior allogeneic HSCT"), ("prior_cart", "Prior CD19 CAR-T")):
        rows += _cat_rows(label, p[col].map({True: "Yes", False: "No"}), ["Yes", "No"], n)
    for col, label in (("mrd_pre_ld", "MRD before lymphodepletion"),
                       ("mrd_post_ld", "MRD after lymphodepletion")):
        strata = mrd_strata(p[col], mrd_cuts)
        rows += _cat_rows(label, strata.astype(object), list(strata.cat.categories), n)
    rows.append(_cont_row("CAR-T dose, ×10⁶ cells/kg", "Median (range)",
                          p["cart_dose_1e6_per_kg"], 2))
    rows.append(_cont_row("Diagnosis to infusion, months", "Median (range)",
                          days_to_months(p["diagnosis_to_infusion_days"].astype(float)), 1))
    return pd.DataFrame(rows, columns=["characteristic", "level", "n", "percent", "median",
                                       "min", "max", "display"])


def enrolment_table(patients: pd.DataFrame) -> pd.DataFrame:
    """Reasons for enrolment: n and % of infused patients."""
    n = len(patients)
    counts = patients["enrolment_reason"].value_counts()
    return pd.DataFrame({
        "reason": [LABELS[r] for r in ENROLMENT_REASONS],
        "code": list(ENROLMENT_REASONS),
        "n": [int(counts.get(r, 0)) for r in ENROLMENT_REASONS],
        "percent": [100 * counts.get(r, 0) / n for r in ENROLMENT_REASONS],
    })


@dataclass(frozen=True)
class FollowUp:
    """Follow-up after infusion, in months.

    ``median`` is the reverse Kaplan–Meier median with its confidence limits; ``minimum``
    and ``maximum`` are the range of observed follow-up (last contact or death).
    """
    median: MedianEstimate
    minimum: float
    maximum: float
    n_censored: int
    curve: KaplanMeier

    def text(self, digits: int = 1) -> str:
        """``68.7 months (95% CI 64.0–72.9)``; an unreached limit is written "not reached"."""
        m = self.median
        f = functools.partial(formatting.months_text, digits=digits)
        return (f"{f(m.estimate)} months ({round(100 * m.conf_level)}% CI "
                f"{f(m.lower)}–{f(m.upper)})")


def follow_up(patients: pd.DataFrame, conf_level: float = 0.95) -> FollowUp:
    """Median follow-up by reverse Kaplan–Meier (Schemper & Smith 1996), in months.

    Time is ``last_followup_day``; deaths are censored and patients alive at last contact
    are the "events". Confidence limits use R's default log transformation.
    """
    months = days_to_months(patients["last_followup_day"].astype(float)).to_numpy()
    dead = patients["death"].astype(bool).to_numpy()
    km = reverse_kaplan_meier(months, dead, conf_level)
    return FollowUp(km.median("log"), float(months.min()), float(months.max()),
                    int((~dead).sum()), km)


# ============================================================================================
# The chapter
# ============================================================================================

#: Rows of Supplementary Table S1 whose published value the registry holds:
#: (characteristic, level) -> (count key, percent key) for counts, or the median's key.
_S1_COUNTS: dict[tuple[str, str], tuple[str | None, str | None]] = {
    ("Sex", "Male"): ("t3_sex_male_n", None),
    ("Sex", "Female"): ("t3_sex_female_n", None),
    ("Reason for CAR-T", LABELS["chemo_intolerance"]): ("n_chemo_intolerance",
                                                        "pct_chemo_intolerance"),
    ("Reason for CAR-T", LABELS["mrd_reemergence"]): ("n_mrd_reemergence", "pct_mrd_reemergence"),
    ("Reason for CAR-T", LABELS["mrd_persistent"]): ("n_mrd_persistent", "pct_mrd_persistent"),
    ("Prior allogeneic HSCT", "Yes"): ("t3_hsct_history_yes_n", None),
    ("Prior allogeneic HSCT", "No"): ("t3_hsct_history_no_n", None),
    ("Prior CD19 CAR-T", "Yes"): ("t3_cart_history_yes_n", None),
    ("Prior CD19 CAR-T", "No"): ("t3_cart_history_no_n", None),
}
_S1_MEDIANS: dict[str, tuple[str, str]] = {
    "CAR-T dose, ×10⁶ cells/kg": ("dose_median", "dose_median"),
    "Diagnosis to infusion, months": ("dx_to_infusion_median", "interval_median_months"),
}


def _s1_keys(age_cut: float, mrd_cuts: Sequence[float]) -> dict[tuple[str, str], tuple]:
    """Registry keys of the counts of Table S1's rows: those fixed above, the age groups when
    the cut is the paper's (10 years), and the lowest and highest MRD strata, whose sizes
    the paper's Table 3 prints at each cut-point (the middle strata it does not print)."""
    keys = dict(_S1_COUNTS)
    reg = _registry().index
    if age_cut == 10:  # the paper's age groups (Table 3: 0-10 and >10 years)
        lo, hi = f"0–{formatting.number(age_cut)}", f">{formatting.number(age_cut)}"
        keys[("Age group, years", lo)] = ("t3_age_0_10_n", None)
        keys[("Age group, years", hi)] = ("t3_age_gt10_n", None)
    cuts = sorted(mrd_cuts)
    for col, label in (("pre_ld", "MRD before lymphodepletion"),
                       ("post_ld", "MRD after lymphodepletion")):
        a, b = cut_id(cuts[0]), cut_id(cuts[-1])
        for level, key in ((f"<{format_mrd(cuts[0])}", f"t3_{col}_mrd_{a}_lt{a}_n"),
                           (f"≥{format_mrd(cuts[-1])}", f"t3_{col}_mrd_{b}_ge{b}_n")):
            if key in reg:
                keys[(label, level)] = (key, None)
    return keys


@dataclass(frozen=True)
class CohortResults:
    """Everything the cohort chapter shows.

    ``glue``: every value the chapter glues (numbers, and phrases as Markdown), by key;
    ``baseline`` (the paper's Table S1) and ``response``: display tables; ``follow_up``:
    the reverse Kaplan–Meier estimate of follow-up; ``dose`` and ``interval_months``: one
    value per patient for the figure, with the cohort's median dose ``dose_median``;
    ``statuses``: the scorecard rows of the published numbers the chapter computes."""
    glue: dict[str, Any]
    baseline: DisplayTable
    response: DisplayTable
    follow_up: FollowUp
    dose: pd.Series
    interval_months: pd.Series
    dose_median: float
    statuses: pd.DataFrame = field(repr=False)


def analyse(patients: pd.DataFrame, *, age_cut: float = 10.0,
            mrd_cuts: Sequence[float] = MRD_CUTS, mrd_negative_below: float = 1e-4,
            conf_level: float = 0.95, changed: Mapping[str, str] | None = None
            ) -> CohortResults:
    """The cohort chapter: baseline characteristics (Supplementary Table S1) with the paper's
    values beside them, reasons for CAR-T, dose and timing, follow-up (reverse Kaplan–Meier)
    and the day-28 response rates (exact intervals). ``changed``: the published numbers
    computed under a parameter other than the paper's, with the reason (the book passes
    :attr:`analysis_lib.book.report.ChapterData.changed`); they get the status "computed
    under another parameter", as on the scorecard page (``None``: the paper's parameters)."""
    n = len(patients)
    g: dict[str, Any] = {"n_patients": n}
    enrol = enrolment_table(patients)
    for row in enrol.itertuples():
        g[f"enrol_{row.code}"] = count_percent(row.n, n)
        g[f"n_{row.code}"] = int(row.n)
        g[f"pct_{row.code}"] = float(row.percent)
    base = baseline_table(patients, age_cut=age_cut, mrd_cuts=mrd_cuts)
    dose = base[base["characteristic"].str.startswith("CAR-T dose")].iloc[0]
    interval = base[base["characteristic"].str.startswith("Diagnosis")].iloc[0]
    g["dose_median_range"] = f"{dose['display']} ×10⁶ cells/kg"
    g["interval_median_range"] = f"{interval['display']} months"
    for k, v in (("dose_median", dose["median"]), ("dose_min", dose["min"]),
                 ("dose_max", dose["max"]), ("interval_median_months", interval["median"]),
                 ("interval_min_months", interval["min"]),
                 ("interval_max_months", interval["max"])):
        g[k] = float(v)
    sex = base[base["characteristic"] == "Sex"].set_index("level")["n"]
    g["n_male"] = count_percent(int(sex["Male"]), n)
    g["n_female"] = count_percent(int(sex["Female"]), n)

    fu = follow_up(patients, conf_level=conf_level)
    g["followup_median_months"] = fu.median.estimate
    g["followup_min_months"] = fu.minimum
    g["followup_max_months"] = fu.maximum
    g["followup_text"] = fu.text()
    g["followup_range"] = f"{formatting.fixed(fu.minimum)}–{formatting.fixed(fu.maximum)} months"
    g["n_alive"] = count_text(fu.n_censored)

    rates = response_rates(patients, mrd_negative_below=mrd_negative_below,
                           conf_level=conf_level)
    for key, r in zip(("cr", "mrd_negative_cr"), rates):
        g[f"{key}_k"] = r.k
        g[f"{key}_pct"] = 100 * r.estimate
        g[f"{key}_ci_low"] = 100 * r.ci_low
        g[f"{key}_ci_high"] = 100 * r.ci_high
        g[f"{key}_text"] = r.text()

    # the paper's values for the captions and the narrative (from the registry)
    g["pub_dose"] = f"{published_text('dose_median')} ×10⁶ cells/kg"
    g["pub_interval"] = f"{published_text('dx_to_infusion_median')} months"
    g["pub_followup"] = f"{published_text('followup_median_months')} months"
    g["conf_pct"] = round(100 * conf_level)
    g["n_patients_text"] = count_text(n)
    g["conf_pct_text"] = formatting.count(g["conf_pct"])  # a level, not patients
    g = plain_values(g)
    status = Statuses.compute("cohort", g, changed)

    # Supplementary Table S1
    keys = _s1_keys(age_cut, mrd_cuts)
    cells, pubs, stats_ = [], [], []
    for r in base.itertuples():
        k = keys.get((r.characteristic, r.level))
        med = _S1_MEDIANS.get(r.characteristic)
        if k is not None:
            count_key, pct_key = k
            pub = published_count_percent(count_key, pct_key)
            cell = (Paired(r.display, pub) if is_small(r.n)  # no status: it would reveal n
                    else status.cell(r.display, pub, pct_key, r.percent) if pct_key
                    else status.cell(r.display, pub, count_key, r.n))
        elif med is not None:
            pub = published_text(med[0])
            cell = status.cell(r.display, pub, med[0], g[med[1]])
        else:
            pub, cell = "", Paired(r.display)
        cells.append(cell)
        pubs.append(pub)
        stats_.append(cell.status)
    n_pub = published_text("n_patients")
    head = pd.DataFrame({"characteristic": ["Patients"], "level": ["n"],
                         "cell": [Paired(count_text(n), n_pub) if is_small(n) else
                                  status.cell(count_text(n), n_pub, "n_patients", n)]})
    shown = pd.concat([head, pd.DataFrame({"characteristic": base["characteristic"],
                                           "level": base["level"], "cell": cells})],
                      ignore_index=True)
    shown.loc[shown["characteristic"].duplicated(), "characteristic"] = ""
    shown.columns = ["Characteristic", "", "n (%) or median (range)"]
    base_data = base.assign(published=pubs, status=stats_)
    lvl = round(100 * conf_level)
    baseline = DisplayTable(
        shown,
        "Reproduces the paper's Supplementary Table S1: baseline characteristics of the "
        "infused patients, n (%) or median (range), with the paper's value under each "
        "reproduced one where the paper prints it (its Patient characteristics paragraph and "
        "the group sizes of its Table 3; the paper gives the MRD group sizes only at each "
        "cut-point, so the middle strata have none) and the scorecard status as a dot. MRD "
        "is the bone-marrow flow-cytometry fraction.",
        base_data, "baseline_characteristics")

    # day-28 response
    resp = rates_frame(rates)

    def paired(col: str, i: int, key: str, value: float) -> Paired:
        # a suppressed k keeps the paper's value but no status (it would give k away)
        return Paired(resp.loc[i, col], published_text(key)) if is_small(rates[i].k) \
            else status.cell(resp.loc[i, col], published_text(key), key, value)

    resp["n/N"] = [paired("n/N", 0, "n_cr_d28", rates[0].k),
                   paired("n/N", 1, "n_mrd_neg_cr_d28", rates[1].k)]
    resp["%"] = [paired("%", 0, "cr_d28_pct", 100 * rates[0].estimate),
                 paired("%", 1, "mrd_neg_cr_d28_pct", 100 * rates[1].estimate)]
    response = DisplayTable(
        resp,
        f"Day-28 response among all infused patients, with exact Clopper–Pearson {lvl}% "
        "confidence intervals and the paper's values (Treatment outcomes) under the "
        "reproduced ones. MRD-negative: day-28 marrow MRD below the flow-cytometry threshold "
        "given in the parameters.",
        _suppress_rates(pd.concat([r.summary() for r in rates], ignore_index=True)),
        "day28_response")

    return CohortResults(
        glue=g, baseline=baseline, response=response, follow_up=fu,
        dose=patients["cart_dose_1e6_per_kg"].astype(float),
        interval_months=days_to_months(patients["diagnosis_to_infusion_days"].astype(float)),
        dose_median=float(dose["median"]), statuses=status.chapter)
