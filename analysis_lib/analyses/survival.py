"""The paper's survival analyses: end points from the patients table, relapse and transplant
summaries, the candidate covariates and the univariate screen of Supplementary Table S2, the
multivariable Cox models of Table 1 and the immortal-time analyses of bridging HSCT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..core import formatting as fmt
from ..core.suppression import count_text, is_small, min_cell_count
from ..core.units import DAYS_PER_YEAR
from ..stats.cox import CoxFit, Design, Ties, coxph, design_frame, hazard_ratio_table, not_estimable
from ..stats.competing_risks import CumulativeIncidence
from ..stats.survival import CENSORED, NRM, RELAPSE, KaplanMeier


def univariate_screen(design: Design, time: pd.Series | np.ndarray,
                      event: pd.Series | np.ndarray, *, threshold: float = 0.2,
                      conf_level: float = 0.95, ties: Ties = "efron") -> pd.DataFrame:
    """One Cox model per term (the paper's univariate analysis, Supplementary Table S2).

    Each model uses the patients with that term observed. Returns one row per coefficient:
    ``term``, ``column``, ``comparison``, ``n``, ``events``, ``hr``, ``lower``, ``upper``, ``p``
    (Wald), ``term_p`` (joint Wald p of the term, equal to ``p`` for one column), ``lrt_p``,
    ``infinite`` (R's warning or an exact monotone likelihood, :func:`monotone_likelihood`) and
    ``selected`` (``term_p < threshold`` and no infinite coefficient: the paper's p < 0.2
    rule; an infinite estimate has no usable Wald test).
    """
    rows = []
    for label, cols in design.terms.items():
        X = design.frame[list(cols)]
        fit = coxph(X, time, event, ties=ties, terms={label: cols})
        hr = fit.hazard_ratios(conf_level)
        term_p = fit.wald_test()[2]
        lrt_p = fit.lr_test[2]
        why = not_estimable(fit)
        inf = bool(why)
        for i, c in enumerate(cols):
            rows.append({"term": label, "column": c, "comparison": design.reference[label],
                         "n": fit.n, "events": fit.n_events, "hr": hr["hr"][i],
                         "lower": hr["lower"][i], "upper": hr["upper"][i], "p": hr["p"][i],
                         "term_p": term_p, "lrt_p": lrt_p, "infinite": inf,
                         "not_estimable": "; ".join(why.values()),
                         "selected": (term_p < threshold) and not inf})
    return pd.DataFrame(rows)


def slug(label: str) -> str:
    """A term label as a glue-key fragment: ``"Severe CRS (grade ≥ 3)"`` ->
    ``"severe_crs_grade_3"``."""
    return re.sub(r"[^a-z0-9]+", "_", str(label).lower()).strip("_")


#: Columns of an estimates frame (:func:`screen_estimates`, :func:`fit_estimates`).
ESTIMATE_COLUMNS: tuple[str, ...] = ("slug", "term", "estimate", "p", "not_estimable")


def screen_estimates(screen: pd.DataFrame) -> pd.DataFrame:
    """One row per term of a univariate screen: the hazard ratio (for a one-column term;
    missing for a factor), the term's joint Wald p and, when the estimate is infinite, why."""
    rows = []
    for term, part in screen.groupby("term", sort=False):
        one = len(part) == 1
        rows.append({"slug": slug(term), "term": term,
                     "estimate": float(part["hr"].iloc[0]) if one else float("nan"),
                     "p": float(part["term_p"].iloc[0]),
                     "not_estimable": str(part["not_estimable"].iloc[0])})
    return pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS))


def fit_estimates(fit: CoxFit, design: Design, conf_level: float = 0.95) -> pd.DataFrame:
    """One row per coefficient of a fit: hazard ratio, Wald p and, when the estimate is
    infinite (:func:`not_estimable`), why."""
    why = not_estimable(fit)
    hr = hazard_ratio_table(fit, design, conf_level)
    return pd.DataFrame({"slug": [slug(t) for t in hr["term"]], "term": hr["term"],
                         "estimate": hr["hr"].astype(float), "p": hr["p"].astype(float),
                         "not_estimable": [why.get(t, "") for t in hr["term"]]},
                        columns=list(ESTIMATE_COLUMNS))


def select_terms(screen: pd.DataFrame) -> list[str]:
    """Terms selected by the screen, in the design's order."""
    sel = screen.loc[screen["selected"], "term"]
    return list(dict.fromkeys(sel))


def multivariable_cox(design: Design, labels: Sequence[str], time: pd.Series | np.ndarray,
                      event: pd.Series | np.ndarray, ties: Ties = "efron") -> CoxFit:
    """Cox model with the terms ``labels`` together (complete cases)."""
    sub = design.subset(labels)
    return coxph(sub.frame, time, event, ties=ties, terms=sub.terms)


# ============================================================================================
# The paper's candidate covariates (Supplementary Table S2)
# ============================================================================================

#: Candidate terms of the univariate screen, in display order.
CANDIDATE_TERMS: tuple[str, ...] = (
    "Age group", "Female", "High genetic risk", "No CAR-T history", "No HSCT history",
    "Pre-LD MRD", "Post-LD MRD positive", "Low CAR-T dose", "Severe CRS (grade ≥ 3)",
    "No ICANS", "Grade 4 neutropenia", "Bridging HSCT", "BCA duration", "MRD-CR on day 28",
    "CAR-T expansion (log10 Cmax)",
)


def candidate_covariates(patients: pd.DataFrame, kinetics: pd.DataFrame, *,
                         age_cut: float = 10.0, dose_cut: float = 3.68,
                         mrd_cuts: Sequence[float] = (1e-4, 1e-3, 1e-2),
                         mrd_negative_below: float = 1e-4,
                         bca_unit_days: float = 365.25 / 12) -> Design:
    """The paper's candidate covariates for OS and LFS, one term each.

    Directions follow the paper where it states them (Table 1: "Female", "No CAR-T history",
    "No HSCT history", "no ICANS"); otherwise the exposure is the level named in the label.

    * Pre-LD MRD is a factor over the strata of ``mrd_cuts`` (reference below the first cut);
      post-LD MRD is positive (>= the first cut) vs negative.
    * MRD-CR on day 28: CR/CRi with day-28 MRD below ``mrd_negative_below``.
    * BCA duration per ``bca_unit_days`` days (default one month of 365.25/12 days; the paper
      does not state its unit, see the audit finding ``hr_bca_lfs``). Patients who never
      developed BCA have duration 0; an ongoing BCA counts with its observed duration.
    * CAR-T expansion: log10 of Cmax from :func:`analysis_lib.stats.nca.nca` on the kinetics table
      (missing when nothing was measurable).
    * Bridging HSCT is coded, as in the paper, as a fixed baseline covariate (ever
      transplanted after infusion). This is subject to immortal-time bias; see
      :func:`analysis_lib.stats.survival.split_at` for the time-dependent coding.
    """
    from ..stats.nca import nca
    from .cohort import mrd_strata

    p = patients.reset_index(drop=True)
    b = lambda s: pd.Series(s, dtype="boolean").astype(float)  # noqa: E731
    pre = mrd_strata(p["mrd_pre_ld"], mrd_cuts)
    levels = list(pre.cat.categories)
    pre_ind = pd.DataFrame({f"Pre-LD MRD {lv}": (pre == lv).astype(float) for lv in levels[1:]})
    pre_ind[pre.isna().to_numpy()] = np.nan
    cr = p["d28_response"].isin(["cr", "cri"])
    mrd_cr = (cr & (p["d28_mrd"].astype(float) < mrd_negative_below).fillna(False)).astype(float)
    bca_days = p["bca_duration_days"].astype(float).where(p["bca"].astype(bool), 0.0)
    res = nca(kinetics).wide.set_index("patient_id")
    cmax = p["patient_id"].map(res["cmax"]).astype(float)
    from ..core.units import format_mrd
    unit = "month" if abs(bca_unit_days - 365.25 / 12) < 1e-9 else f"{bca_unit_days:g} days"
    cols = {
        "Age group": (p["age_years"].astype(float) > age_cut).astype(float),
        "Female": (p["sex"] == "female").astype(float),
        "High genetic risk": (p["genetic_risk"] == "high").astype(float),
        "No CAR-T history": 1.0 - b(p["prior_cart"]),
        "No HSCT history": 1.0 - b(p["prior_hsct"]),
        "Pre-LD MRD": pre_ind,
        "Post-LD MRD positive": (p["mrd_post_ld"].astype(float) >= mrd_cuts[0]).astype(float)
        .where(p["mrd_post_ld"].notna()),
        "Low CAR-T dose": (p["cart_dose_1e6_per_kg"].astype(float) < dose_cut).astype(float),
        "Severe CRS (grade ≥ 3)": (p["crs_grade"].astype(float) >= 3).astype(float),
        "No ICANS": (p["icans_grade"].astype(float) == 0).astype(float),
        "Grade 4 neutropenia": b(p["neutropenia_grade4"]),
        "Bridging HSCT": b(p["hsct_after"]),
        "BCA duration": bca_days / bca_unit_days,
        "MRD-CR on day 28": mrd_cr,
        "CAR-T expansion (log10 Cmax)": np.log10(cmax),
    }
    ref = {
        "Age group": f"> {age_cut:g} vs ≤ {age_cut:g} years",
        "Female": "female vs male",
        "High genetic risk": "high vs low/intermediate (NCCN 2024)",
        "No CAR-T history": "no prior CD19 CAR-T vs prior",
        "No HSCT history": "no prior allogeneic HSCT vs prior",
        "Pre-LD MRD": f"each stratum vs {levels[0]}",
        "Post-LD MRD positive": f"≥ {format_mrd(mrd_cuts[0])} vs below",
        "Low CAR-T dose": f"< {dose_cut:g} vs ≥ {dose_cut:g} × 10⁶ cells/kg",
        "Severe CRS (grade ≥ 3)": "grade ≥ 3 vs 0–2",
        "No ICANS": "no ICANS vs any grade",
        "Grade 4 neutropenia": "yes vs no",
        "Bridging HSCT": "transplanted after infusion (ever) vs not; fixed covariate",
        "BCA duration": f"per {unit} of B-cell aplasia",
        "MRD-CR on day 28": f"MRD < {format_mrd(mrd_negative_below)} CR/CRi vs not",
        "CAR-T expansion (log10 Cmax)": "per 10-fold higher Cmax (copies/µg DNA)",
    }
    cols = {k: cols[k] for k in CANDIDATE_TERMS}
    return design_frame(cols, {k: ref[k] for k in CANDIDATE_TERMS})


# ============================================================================================
# Bridging HSCT: the published comparison and immortal-time-free alternatives
# ============================================================================================

def hsct_effect(time: np.ndarray | pd.Series, event: np.ndarray | pd.Series,
                hsct_time: np.ndarray | pd.Series, *, landmarks: Sequence[float] = (),
                conf_level: float = 0.95) -> pd.DataFrame:
    """Hazard ratio of transplanted vs not, estimated four ways.

    * ``fixed``: the published analysis: "ever transplanted" as a baseline covariate. The
      transplanted patients had to survive (event-free) until their HSCT, so the time from
      infusion to HSCT is immortal time credited to them and the comparison is biased in
      favour of HSCT (Suissa S (2008). Immortal time bias in pharmacoepidemiology. Am J
      Epidemiol 167:492–499).
    * ``time-dependent``: HSCT as a time-dependent covariate in counting-process form
      (:func:`analysis_lib.stats.survival.split_at`): each patient counts as unexposed until the
      transplant and exposed from then on (Mantel N, Byar DP (1974). J Am Stat Assoc
      69:81–86).
    * ``landmark``: for each landmark L (same unit as ``time``), patients still at risk at L,
      grouped by HSCT by L, followed from L (:func:`analysis_lib.stats.survival.landmark`).

    HSCT after the end of follow-up for this end point (``hsct_time >= time``, e.g. after a
    relapse for LFS) does not count as exposure in the last three.

    Returns one row per analysis: ``analysis``, ``landmark``, ``n``, ``n_hsct`` (exposed
    patients, or transplanted at some point for the time-dependent model), ``events``,
    ``coef`` (log hazard ratio) and its ``se``, ``hr``, ``lower``, ``upper`` (Wald), ``p``
    (Wald), ``logrank_p`` (fixed and landmark only), ``infinite``.
    """
    from ..stats.survival import landmark, split_at, survdiff

    t = np.asarray(time, dtype=float)
    e = np.asarray(pd.Series(event).astype(float), dtype=float).astype(int)
    c = np.asarray(hsct_time, dtype=float)
    q = stats.norm.ppf(1 - (1 - conf_level) / 2)
    rows = []

    def add(label: str, lm: float, fit: CoxFit, n_hsct: int, lr: float) -> None:
        b, se = float(fit.coef[0]), float(fit.se[0])
        if n_hsct == 0:  # nobody transplanted: the covariate is constant, nothing to estimate
            b = se = lr = float("nan")
        with np.errstate(over="ignore"):  # an infinite estimate has an infinite limit
            hr, lower, upper = np.exp(b), np.exp(b - q * se), np.exp(b + q * se)
        rows.append({"analysis": label, "landmark": lm, "n": fit.n, "n_hsct": n_hsct,
                     "events": fit.n_events, "coef": b, "se": se, "hr": hr,
                     "lower": lower, "upper": upper, "p": float(fit.p_value[0]),
                     "logrank_p": lr, "infinite": bool(fit.infinite[0])})

    ever = (~np.isnan(c)).astype(float)
    fit = coxph(pd.DataFrame({"hsct": ever}), t, e)
    add("fixed", np.nan, fit, int(ever.sum()), survdiff(t, e, ever).p_value)
    sp = split_at(t, e, c)
    fit = coxph(sp[["exposed"]], sp["stop"], sp["event"], start=sp["start"])
    add("time-dependent", np.nan, fit, int(sp.loc[sp["exposed"] == 1, "id"].nunique()), np.nan)
    rows[-1]["n"] = int(t.size)  # patients, not counting-process rows
    for lm in landmarks:
        d = landmark(t, e, c, lm)
        if d["exposed"].nunique() < 2 or d["event"].sum() == 0:
            rows.append({"analysis": "landmark", "landmark": lm, "n": len(d),
                         "n_hsct": int(d["exposed"].sum()), "events": int(d["event"].sum()),
                         "coef": np.nan, "se": np.nan, "hr": np.nan, "lower": np.nan,
                         "upper": np.nan, "p": np.nan,
                         "logrank_p": np.nan, "infinite": False})
            continue
        fit = coxph(d[["exposed"]], d["time"], d["event"])
        add("landmark", lm, fit, int(d["exposed"].sum()),
            survdiff(d["time"], d["event"], d["exposed"]).p_value)
    return pd.DataFrame(rows)


def immortal_time_verdict(table: pd.DataFrame, landmark_at: float, alpha: float = 0.05,
                          conf_level: float = 0.95) -> str:
    """One paragraph comparing the published (fixed) HSCT hazard ratio with the
    time-dependent and landmark ones of :func:`hsct_effect`. An analysis whose patients,
    transplanted patients or events are a suppressed count
    (:func:`analysis_lib.core.suppression.is_small`) shows no estimate, as in the table."""
    lvl = round(100 * conf_level)

    def hidden(r: pd.Series) -> bool:  # as the table: no estimate beside a suppressed count
        return _any_small(r["n"], r["n_hsct"], r["events"])

    def est(r: pd.Series) -> str:
        if hidden(r):
            return _withheld()
        if r["n_hsct"] == 0:
            return "not estimable (no patient transplanted)"
        if bool(r["infinite"]) or not np.isfinite(r["hr"]):
            return "not estimable (no events in one group)"
        return (f"HR {fmt.ratio(r['hr'])} ({lvl}% CI {fmt.interval(r['lower'], r['upper'])}, "
                f"{fmt.p_phrase(r['p'])})")

    fx = table.loc[table["analysis"] == "fixed"].iloc[0]
    td = table.loc[table["analysis"] == "time-dependent"].iloc[0]
    lm = table.loc[(table["analysis"] == "landmark") & (table["landmark"] == landmark_at)]
    sig = lambda r: bool(np.isfinite(r["p"]) and r["p"] < alpha  # noqa: E731
                         and not bool(r["infinite"]))
    if sig(fx) and not sig(td):
        verdict = "the association is no longer statistically significant"
    elif not sig(fx) and sig(td):
        verdict = "the association becomes statistically significant"
    elif sig(fx) and sig(td):
        verdict = "the association remains statistically significant"
    else:
        verdict = "neither is statistically significant"
    finite = all(np.isfinite(r["hr"]) and r["hr"] > 0 and not bool(r["infinite"])
                 for r in (fx, td))
    if fx["n_hsct"] == 0:
        return ("No patient was transplanted after CAR-T, so there is no effect of "
                "transplantation to estimate, with or without immortal time.")
    if hidden(fx) or hidden(td):
        move = "The estimates are not shown"
    elif finite:
        toward = abs(np.log(td["hr"])) < abs(np.log(fx["hr"]))
        move = (f"The hazard ratio {'rises' if td['hr'] > fx['hr'] else 'falls'} from "
                f"{fmt.ratio(fx['hr'])} to {fmt.ratio(td['hr'])} "
                f"({'toward' if toward else 'away from'} 1)")
    else:
        move = "The two estimates cannot be compared"
    text = (f"With HSCT fixed at infusion (as published): {est(fx)}; with HSCT as a "
            f"time-dependent covariate: {est(td)}. {move}, and {verdict}")
    if len(lm):
        text += f". At the {fmt.number(landmark_at)}-month landmark: {est(lm.iloc[0])}"
    return text + "."


def endpoints(patients: pd.DataFrame, days_per_unit: float = DAYS_PER_YEAR / 12) -> pd.DataFrame:
    """The paper's end points, one row per patient, times in months by default.

    * OS: infusion to death from any cause, censored at last follow-up.
    * LFS: infusion to relapse or death, whichever first, censored at last follow-up.
    * Competing risks: relapse (``cr_status`` 1) vs death without prior relapse (non-relapse
      mortality, NRM, 2), censored (0) at last follow-up; ``cr_time`` equals ``lfs_time``.
    * Not censored at HSCT or other new therapy (the paper's Methods).

    Columns: ``patient_id``, ``os_time``, ``os_event``, ``lfs_time``, ``lfs_event``,
    ``cr_time``, ``cr_status``, ``hsct`` (ever transplanted after infusion), ``hsct_time``
    (``nan`` if not), ``relapse_time`` (``nan`` if no relapse).
    """
    p = patients.reset_index(drop=True)
    u = float(days_per_unit)
    fu = p["last_followup_day"].astype(float)
    dead = p["death"].astype(bool).to_numpy()
    death_day = p["death_day"].astype(float)
    rel = p["relapse"].astype(bool).to_numpy()
    rel_day = p["relapse_day"].astype(float)
    os_day = np.where(dead, death_day, fu)
    lfs_day = np.where(rel, rel_day, np.where(dead, death_day, fu))
    status = np.where(rel, RELAPSE, np.where(dead, NRM, CENSORED))
    hsct = p["hsct_after"].astype(bool).to_numpy()
    hsct_day = np.where(hsct, p["hsct_day"].astype(float), np.nan)
    return pd.DataFrame({
        "patient_id": p["patient_id"].to_numpy(),
        "os_time": os_day / u, "os_event": dead.astype(int),
        "lfs_time": lfs_day / u, "lfs_event": (rel | dead).astype(int),
        "cr_time": lfs_day / u, "cr_status": status,
        "hsct": hsct, "hsct_time": hsct_day / u,
        "relapse_time": np.where(rel, rel_day, np.nan) / u,
    })


@dataclass(frozen=True)
class TimeSummary:
    """Count and median (range) of a time, e.g. months from infusion to relapse."""
    n: int
    median: float
    minimum: float
    maximum: float

    def text(self, digits: int = 1, unit: str = "months") -> str:
        if self.n == 0:
            return "none"
        return (f"{fmt.fixed(self.median, digits)} {unit} (range "
                f"{fmt.fixed(self.minimum, digits)}–{fmt.fixed(self.maximum, digits)})")


def _time_summary(x: np.ndarray) -> TimeSummary:
    v = np.asarray(x, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return TimeSummary(0, float("nan"), float("nan"), float("nan"))
    return TimeSummary(int(v.size), float(np.median(v)), float(v.min()), float(v.max()))


def relapse_summary(patients: pd.DataFrame, days_per_unit: float = DAYS_PER_YEAR / 12
                    ) -> dict[str, TimeSummary]:
    """Relapses and the times from infusion to relapse: all, CD19-negative, CD19-positive
    (keys ``all``, ``negative``, ``positive``; a relapse with unknown CD19 status counts in
    ``all`` only). Medians are of the observed relapse times (as the paper reports them), not
    Kaplan–Meier medians."""
    p = patients
    rel = p["relapse"].astype(bool)
    t = p["relapse_day"].astype(float) / days_per_unit
    cd19 = p["relapse_cd19"].astype(object)
    return {"all": _time_summary(t[rel]),
            "negative": _time_summary(t[rel & (cd19 == "negative")]),
            "positive": _time_summary(t[rel & (cd19 == "positive")])}


def hsct_summary(patients: pd.DataFrame, days_per_unit: float = DAYS_PER_YEAR / 12
                 ) -> TimeSummary:
    """Patients bridged to allogeneic HSCT after infusion and the interval (median, range)."""
    p = patients
    h = p["hsct_after"].astype(bool)
    return _time_summary(p["hsct_day"].astype(float)[h] / days_per_unit)


def median_or_infinity(median: float, n: int) -> float:
    """A Kaplan–Meier median as a number for the scorecard: the median (months) when reached,
    ``+inf`` when the curve of a non-empty group never falls to 0.5 (not reached), ``nan``
    when the group is empty."""
    if n <= 0:
        return float("nan")
    return float(median) if np.isfinite(median) else float("inf")


# ============================================================================================
# The chapter: one entry point, one results object
# ============================================================================================

#: The horizon of the paper's survival estimates (5 years), months.
FIVE_YEARS_MONTHS: float = 60.0
#: Group labels of the bridging-HSCT comparisons, in display order.
HSCT_GROUPS: tuple[str, str] = ("HSCT", "No HSCT")
#: Group labels of the genetic-risk comparison (Supplementary Figure S2), in display order.
GENETIC_GROUPS: tuple[str, str] = ("High risk", "Low/intermediate risk")
#: Registry keys of published Figure 1 numbers that the reproduction map leaves out (the
#: audit finds them inconsistent, finding ``median_os_low_burden``), by the glue key of the
#: cell that shows the reproduced value: pairing by identity, for display only.
UNMAPPED_PUBLISHED: dict[str, str] = {
    "fig1_pre_low_os_median_hsct": "os_median_pre_ld_low_hsct",
    "fig1_pre_low_os_median_nohsct": "os_median_pre_ld_low_no_hsct",
}


@dataclass(frozen=True)
class SurvivalOptions:
    """The chapter's parameters (the notebook's parameters cell).

    Times are in months of 365.25/12 days. ``mrd_cuts``: MRD strata (fractions; Figure 1
    compares below vs at or above the first, Supplementary Figure S1 at or above the last);
    ``screen_p``: entry threshold of the univariate screen; ``horizons_years``: times of the
    survival table; ``landmarks_months``: landmarks of the immortal-time analysis, of which
    ``main_landmark_months`` is discussed; ``bca_unit_days``: unit of B-cell-aplasia duration
    in the Cox models; ``risk_table_step_months``: spacing of the time ticks and of the
    numbers at risk under the Kaplan–Meier curves.
    """
    conf_level: float = 0.95
    age_cut_years: float = 10.0
    mrd_cuts: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
    mrd_negative_below: float = 1e-4
    dose_cut: float = 3.68
    screen_p: float = 0.2
    horizons_years: tuple[float, ...] = (1, 2, 3, 5)
    landmarks_months: tuple[float, ...] = (3.0, 6.0, 9.0)
    main_landmark_months: float = 6.0
    bca_unit_days: float = DAYS_PER_YEAR / 12
    risk_table_step_months: float = 12.0

    def __post_init__(self) -> None:
        if not 0 < self.conf_level < 1:
            raise ValueError(f"conf_level must lie between 0 and 1, got {self.conf_level!r}")
        cuts = tuple(float(c) for c in self.mrd_cuts)
        if not cuts or any(not 0 < c < 1 for c in cuts) or list(cuts) != sorted(set(cuts)):
            raise ValueError(f"mrd_cuts must be increasing fractions in (0, 1), got {cuts!r}")
        if self.risk_table_step_months <= 0:
            raise ValueError("risk_table_step_months must be positive")
        object.__setattr__(self, "mrd_cuts", tuple(self.mrd_cuts))
        for name in ("horizons_years", "landmarks_months"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def as_dict(self) -> dict[str, Any]:
        """The options by name (for the page's table of the parameters used)."""
        from dataclasses import asdict

        return asdict(self)


class Beside(NamedTuple):
    """A table cell showing a reproduced value with the paper's (``published``; empty: the
    paper prints none), the scorecard status of the pair and, when that is "computed under
    another parameter", the reason (the parameter). The book renders it with
    :func:`analysis_lib.book.report.beside`; :meth:`ChapterTable.display` does the mapping."""
    reproduced: str
    published: str = ""
    status: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ChapterTable:
    """One displayed table of the chapter: its Sphinx ``label``, ``caption``, the display
    ``frame`` (text cells, formatted by :mod:`analysis_lib.core.formatting`, and
    :class:`Beside` cells), and ``data``, the numbers behind it for the CSV download
    ``<name>.csv``."""
    label: str
    caption: str
    frame: pd.DataFrame
    data: pd.DataFrame
    name: str

    def display(self, beside: Callable[..., str] | None = None) -> pd.DataFrame:
        """The display frame with every :class:`Beside` cell rendered by ``beside``
        (``beside(reproduced, published, status) -> str``, the cell's reason as a fourth
        argument when it has one; default: plain text "reproduced (paper published)")."""
        def plain(rep: str, pub: str = "", status: str = "", reason: str = "") -> str:
            return f"{rep} (paper {pub})" if pub else rep

        render = beside or plain
        return self.frame.map(lambda v: render(*(v if v.reason else v[:3]))
                              if isinstance(v, Beside) else v)


@dataclass(frozen=True)
class KMPanel:
    """What one Kaplan–Meier panel shows: the curves (label -> estimate), the numbers at risk
    at :attr:`SurvivalResults.risk_times`, a title, the y-axis label, the test to print inside
    the panel (e.g. "Log-rank p = 0.022"; empty: none), whether censorings are marked, and
    when a curve begins (label -> months; default 0: a Simon–Makuch curve of patients who
    enter at their transplant begins with the first transplant)."""
    title: str
    curves: dict[str, KaplanMeier]
    at_risk: dict[str, np.ndarray]
    ylabel: str
    test: str = ""
    censor_marks: bool = True
    entry: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SurvivalResults:
    """Everything the survival chapter shows.

    ``glue``: every value the page and other pages read (glue key -> number or phrase;
    :func:`analysis_lib.book.report.glue_all`); ``tables``: the displayed tables by label;
    the figures' inputs: ``os_lfs`` (OS and LFS of all patients, with plain confidence
    bands), ``cif`` (cumulative incidence of relapse and NRM), ``figure1`` (the paper's
    Figure 1: OS and LFS by bridging HSCT in the MRD strata before and after
    lymphodepletion, panels in reading order), ``s1``, ``s2`` (Supplementary Figures S1 and
    S2) and ``simon_makuch``; ``risk_times`` (months) are the time ticks under which the
    numbers at risk stand.
    """
    glue: dict[str, Any]
    tables: dict[str, ChapterTable]
    risk_times: np.ndarray
    os_lfs: list[KMPanel]
    cif: dict[str, CumulativeIncidence]
    figure1: list[KMPanel]
    s1: list[KMPanel]
    s2: list[KMPanel]
    simon_makuch: list[KMPanel]
    options: SurvivalOptions = field(default_factory=SurvivalOptions)


def _plain(v: Any) -> Any:
    """A glued value as a plain Python number (``np.float64(0.5)`` would be glued as its
    repr) or text."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def _test_phrase(test: str, p: float) -> str:
    """"Log-rank p = 0.022" for a panel; empty when there is no test."""
    return f"{test} {fmt.p_phrase(p)}" if np.isfinite(p) else ""


def _short_reason(why: str) -> str:
    """A not-estimable reason short enough for a table cell (the full one is in the CSV)."""
    if not why:
        return ""
    if why.startswith("no events"):
        return "no events in one group"
    if why.startswith("monotone"):
        return "monotone likelihood"
    return "infinite estimate"


# --------------------------------------------------------------------------------------------
# Small-cell suppression of what a count would give away
# --------------------------------------------------------------------------------------------

def _any_small(*counts: float) -> bool:
    """True when one of ``counts`` (patients or events of the analysed cohort) is suppressed
    (:func:`analysis_lib.core.suppression.is_small`); then the values derived from them go
    too."""
    return any(is_small(k) for k in counts)


def _withheld(noun: str = "patients or events") -> str:
    """The phrase that stands in place of values derived from a suppressed count."""
    return f"not shown (fewer than {fmt.count(min_cell_count())} {noun})"


def _epv_text(events: int, params: int) -> str:
    """Events per estimated coefficient with one decimal (``4.2``); when the number of events
    is suppressed, only its bound (``< 1.25``: EPV times the number of coefficients, which
    the tables show, would give the count away); "–" without coefficients."""
    if params <= 0:
        return fmt.DASH
    if is_small(events):
        return f"< {fmt.number(min_cell_count() / params)}"
    return fmt.fixed(events / params, 1)


def _times_text(s: TimeSummary, noun: str = "patients") -> str:
    """Median (range) of a time, or, for a group whose count is suppressed, a phrase: with
    fewer than the threshold the range's ends are single patients' times."""
    return _withheld(noun) if is_small(s.n) else s.text()


def _group_times(s: TimeSummary, noun: str, at: str) -> str:
    """"4 CD19-negative relapses at a median of 5.0 months (range 2.0–9.9)"; "no ..." for
    none; "<5 ... (times not shown ...)" when the count is suppressed."""
    if s.n == 0:
        return f"no {noun}"
    if is_small(s.n):
        return (f"{count_text(s.n)} {noun} (times not shown for fewer than "
                f"{fmt.count(min_cell_count())})")
    return f"{count_text(s.n)} {noun} {at}{s.text()}"


# --------------------------------------------------------------------------------------------
# The paper's values and their statuses
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Paper:
    """The paper's numbers and claims for this chapter's glue keys, with their scorecard
    statuses (:func:`analysis_lib.paper.scorecard.scorecard` on this chapter's values: the
    function :func:`~analysis_lib.paper.scorecard.chapter_statuses` wraps, here with the
    claims and with the published numbers the map leaves unscored)."""
    card: pd.DataFrame                  # by key: numbers and claims
    registry: pd.DataFrame              # by key
    by_glue: dict[str, str]             # glue key -> registry key
    claim_of: dict[str, str]            # p or effect glue key -> claim key
    claims: pd.DataFrame                # by key

    @classmethod
    def load(cls, glue: Mapping[str, Any], changed: Mapping[str, str] | None = None
             ) -> "_Paper":
        """``changed``: the keys computed under a parameter other than the paper's, with the
        reason (:func:`analysis_lib.paper.scorecard.scorecard`'s)."""
        from ..paper import scorecard as sc
        from ..paper.registry import load_registry

        registry = load_registry()
        mapping = sc.load_map()
        claims = sc.load_claims()
        card = sc.scorecard(registry, mapping, {"survival": dict(glue)}, claims, changed)
        mine = mapping[mapping["chapter"] == "survival"]
        by_glue = dict(zip(mine["glue_key"], mine["key"]))
        by_glue.update(UNMAPPED_PUBLISHED)
        claim_of: dict[str, str] = {}
        for c in claims[claims["chapter"] == "survival"].itertuples():
            for k in [*c.p_keys.split(";"), *str(c.effect_keys or "").split(";")]:
                if k.strip():
                    claim_of.setdefault(k.strip(), c.key)
        return cls(card.set_index("key"), registry.set_index("key"), by_glue, claim_of,
                   claims.set_index("key"))

    def key(self, glue_key: str) -> str | None:
        return self.by_glue.get(glue_key)

    def status(self, glue_key: str) -> str:
        k = self.key(glue_key)
        return str(self.card.loc[k, "status"]) if k in self.card.index else ""

    def reason(self, key: str | None) -> str:
        """Why the number or claim ``key`` (a registry or claim key) was computed under a
        parameter other than the paper's ("" when its status is another)."""
        from ..paper.scorecard import CHANGED

        if key not in self.card.index or self.card.loc[key, "status"] != CHANGED:
            return ""
        return str(self.card.loc[key, "reason"])

    def row(self, glue_key: str) -> pd.Series | None:
        k = self.key(glue_key)
        return self.registry.loc[k] if k is not None and k in self.registry.index else None

    def text(self, glue_key: str, digits: int = 3) -> str:
        """The published value as the book shows it: a hazard ratio with its interval by the
        book's formatter, anything else as printed (``0.021``, ``<0.001``, ``15.4 ± 1.1``)."""
        r = self.row(glue_key)
        if r is None:
            return ""
        if r["statistic"] == "hazard_ratio":
            return fmt.estimate_ci(r["value"], r["lower"], r["upper"], digits)
        if r["interval_type"] == "pm_se" and r["interval_text"]:
            return f"{r['value_text']} {r['interval_text']}"
        return str(r["value_text"])

    def beside(self, glue_key: str, reproduced: str, digits: int = 3,
               part: str = "all") -> Beside | str:
        """A :class:`Beside` cell when the paper prints the value (or a claim about it:
        ``part`` of the claim, see :meth:`claim_text`), else the reproduced text alone."""
        pub = self.text(glue_key, digits)
        if pub:
            return Beside(reproduced, pub, self.status(glue_key),
                          self.reason(self.key(glue_key)))
        claim = self.claim_of.get(glue_key)
        if claim is not None:
            return Beside(reproduced, self.claim_text(claim, part),
                          str(self.card.loc[claim, "status"]), self.reason(claim))
        return reproduced

    def pair(self, keys: Sequence[str], reproduced: str, joiner: str = " vs ") -> Beside | str:
        """One cell for two published values shown together ("22.2 vs 67.0"); the status
        is the less favourable of the two (later in the scorecard's order)."""
        from ..paper.scorecard import STATUSES

        texts = [self.text(k) for k in keys]
        if not any(texts):
            return reproduced
        statuses = [s for s in (self.status(k) for k in keys) if s]
        worst = max(statuses, key=STATUSES.index) if statuses else ""
        why = "; ".join(dict.fromkeys(r for r in (self.reason(self.key(k)) for k in keys) if r))
        return Beside(reproduced, joiner.join(t or fmt.DASH for t in texts), worst, why)

    def claim_text(self, claim: str, part: str = "all") -> str:
        """A claim in a few words for a table cell: "n.s." (no significant association),
        "HR < 1, n.s."; ``part`` "direction" or "significance" gives that half alone (the
        direction beside an estimate, the verdict beside its p), "all" both."""
        c = self.claims.loc[claim]
        way = {"lower": "HR < 1", "higher": "HR > 1"}.get(c["expected_direction"], "")
        sig = {"not significant": "n.s.", "significant": "p < 0.05"}.get(
            c["expected_significance"], str(c["expected_significance"]))
        if part == "direction" and way:
            return way
        if part == "significance":
            return sig
        return ", ".join(x for x in (way, sig) if x)

    def percent_ci(self, glue_key: str) -> str:
        """"74.9% (64.8–85.1%)" as printed."""
        r = self.row(glue_key)
        if r is None:
            return fmt.DASH
        return f"{r['value_text']}% ({r['interval_text']}%)" if r["interval_text"] else \
            f"{r['value_text']}%"


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------

def _os_lfs(ep: pd.DataFrame, o: SurvivalOptions, risk_times: np.ndarray, glue: dict
            ) -> tuple[dict[str, KaplanMeier], pd.DataFrame, list[KMPanel]]:
    from ..paper import feasibility
    from ..stats.survival import kaplan_meier, number_at_risk, survival_table

    km = {name: kaplan_meier(ep[f"{name}_time"], ep[f"{name}_event"], o.conf_level)
          for name in ("os", "lfs")}
    for name in ("os", "lfs"):
        glue[f"{name}_events"] = int(ep[f"{name}_event"].sum())
        glue[f"{name}_events_text"] = count_text(glue[f"{name}_events"])
        at = {}
        for ct in ("plain", "log", "log-log"):
            s, lo, hi = km[name].survival_at(FIVE_YEARS_MONTHS, ct)
            key = f"{name}_5y_{ct.replace('-', '')}"
            glue[f"{key}_lower"], glue[f"{key}_upper"] = 100 * lo, 100 * hi
            at[ct] = (s, lo, hi)
        glue[f"{name}_5y"] = 100 * at["plain"][0]
        glue[f"{name}_5y_text"] = fmt.percent_ci_text(*at["plain"])
        glue[f"{name}_5y_log_text"] = fmt.percent_ci_text(*at["log"])
        glue[f"{name}_median"] = km[name].median("log").estimate
    glue["os_lfs_medians_text"] = fmt.medians_text(km["os"].median("log").estimate,
                                                   km["lfs"].median("log").estimate)
    findings = {f.key: f for f in feasibility.FINDINGS}
    for key in ("os_5y_ci", "lfs_5y_ci"):
        glue[f"audit_{key}_min_halfwidth"] = 100 * feasibility.Z95 * findings[key].bound

    rows = []
    horizons = [12.0 * y for y in o.horizons_years]
    for name, label in (("os", "OS"), ("lfs", "LFS")):
        for ct in ("plain", "log", "log-log"):
            tab = survival_table(km[name], horizons, ct)
            for y, r in zip(o.horizons_years, tab.itertuples()):
                rows.append({"end point": label, "years": y, "conf_type": ct,
                             "n_risk": r.n_risk, "surv": r.surv, "std_err": r.std_err,
                             "lower": r.lower, "upper": r.upper})
    km_times = pd.DataFrame(rows)
    panels = [KMPanel(title, {"All": km[name]},
                      {"All": number_at_risk(ep[f"{name}_time"], risk_times)}, ylabel)
              for name, title, ylabel in (
                  ("os", "Overall survival", "Overall survival (%)"),
                  ("lfs", "Leukaemia-free survival", "Leukaemia-free survival (%)"))]
    return km, km_times, _lettered(panels, [p.title for p in panels])


def _km_times_table(km_times: pd.DataFrame, o: SurvivalOptions, paper: _Paper) -> ChapterTable:
    from ..paper.feasibility import N_PATIENTS

    lvl = round(100 * o.conf_level)
    shown = km_times.pivot_table(index=["end point", "years", "n_risk", "surv"],
                                 columns="conf_type", values=["lower", "upper"],
                                 sort=False).reset_index()
    cells = []
    for i in range(len(shown)):
        end, years = shown["end point"].iloc[i], float(shown["years"].iloc[i])
        s = fmt.fixed(100 * shown["surv"].iloc[i], 1)
        ci = {ct: f"{fmt.fixed(100 * shown[('lower', ct)].iloc[i], 1)}–"
                  f"{fmt.fixed(100 * shown[('upper', ct)].iloc[i], 1)}"
              for ct in ("plain", "log", "log-log")}
        key = f"{end.lower()}_5y"
        if 12.0 * years == FIVE_YEARS_MONTHS and paper.row(key) is not None:
            r = paper.row(key)
            s = Beside(s, str(r["value_text"]), paper.status(key), paper.reason(paper.key(key)))
            ci["plain"] = Beside(ci["plain"], str(r["interval_text"]), "")
        cells.append({"End point": end, "Years": fmt.count(years),
                      "At risk": count_text(int(shown["n_risk"].iloc[i])), "S(t), %": s,
                      **{f"{lvl}% CI, {ct}": ci[ct] for ct in ("plain", "log", "log-log")}})
    disp = pd.DataFrame(cells)
    disp.loc[disp["End point"].duplicated(), "End point"] = ""
    caption = (f"Kaplan–Meier OS and LFS at {_years_text(o.horizons_years)} years with the "
               "three usual pointwise confidence intervals: plain (S ± z·SE, the paper's), "
               "log (R's default) and log-log. At risk: patients still followed at that time. "
               "Under the 5-year estimates, the paper's (its plain interval is narrower than "
               f"its {fmt.count(N_PATIENTS)} patients allow: see the audit note above).")
    return ChapterTable("tbl-km-times", caption, disp, km_times, "survival_at_times")


def _years_text(years: Sequence[float]) -> str:
    ys = [fmt.number(y) for y in years]
    return ys[0] if len(ys) == 1 else ", ".join(ys[:-1]) + " and " + ys[-1]


def _relapse(patients: pd.DataFrame, ep: pd.DataFrame, o: SurvivalOptions, glue: dict
             ) -> dict[str, CumulativeIncidence]:
    from ..stats import competing_risks as cr

    n = len(patients)
    rel = relapse_summary(patients)
    glue["n_relapse"] = fmt.count_percent(rel["all"].n, n)
    glue["n_relapse_k"] = rel["all"].n
    glue["relapse_pct"] = 100 * rel["all"].n / n
    for key in ("all", "negative", "positive"):
        glue[f"relapse_{key}_n"] = rel[key].n
        glue[f"relapse_{key}_n_text"] = count_text(rel[key].n)
        glue[f"relapse_{key}_median"] = rel[key].median
        glue[f"relapse_{key}_text"] = _times_text(rel[key])
    glue["relapse_cd19_text"] = (
        f"{_group_times(rel['negative'], 'CD19-negative relapses', 'at a median of ')} and "
        f"{_group_times(rel['positive'], 'CD19-positive relapses', 'at ')}")
    hs = hsct_summary(patients)
    glue["n_hsct"] = fmt.count_percent(hs.n, n)
    glue["n_hsct_k"] = hs.n
    glue["hsct_pct"] = 100 * hs.n / n
    glue["hsct_interval_median"] = hs.median
    glue["hsct_interval_text"] = _times_text(hs)

    cif = cr.cuminc(ep["cr_time"], ep["cr_status"])
    cir = next(c for (_, cause), c in cif.curves.items() if cause == RELAPSE)
    nrm_curves = [c for (_, cause), c in cif.curves.items() if cause == NRM]
    nrm = nrm_curves[0] if nrm_curves else cr.CumulativeIncidence(
        np.array([]), np.array([]), np.array([]), float(ep["cr_time"].max()), n, 0, NRM)
    for key, curve in (("cir", cir), ("nrm", nrm)):
        est, lo, hi = curve.confidence_interval(FIVE_YEARS_MONTHS, o.conf_level, "log-log")
        var = curve.at(FIVE_YEARS_MONTHS)[1][0]
        glue[f"{key}_5y"] = float(100 * est[0])
        glue[f"{key}_5y_se"] = float(100 * np.sqrt(var))
        glue[f"{key}_5y_text"] = fmt.percent_ci_text(est[0], lo[0], hi[0])
        glue[f"{key}_events"] = curve.n_events
    return {"Relapse": cir, "Non-relapse mortality": nrm}


def _estimates_glue(prefix: str, estimates: pd.DataFrame, glue: dict) -> None:
    """As :func:`analysis_lib.book.report.glue_estimates`: ``{prefix}_hr__{slug}``,
    ``{prefix}_p__{slug}`` and, for a non-estimable estimate, its reason under both keys with
    the suffix ``__not_estimable`` (the scorecard reads it)."""
    for r in estimates.itertuples():
        keys = (f"{prefix}_hr__{r.slug}", f"{prefix}_p__{r.slug}")
        glue[keys[0]], glue[keys[1]] = float(r.estimate), float(r.p)
        if r.not_estimable:
            for k in keys:
                glue[k + "__not_estimable"] = str(r.not_estimable)


def _cox(design: Design, ep: pd.DataFrame, o: SurvivalOptions, glue: dict) -> dict[str, Any]:
    from ..stats.cox import cox_zph

    screens, fits, selected, zph = {}, {}, {}, {}
    for name in ("lfs", "os"):
        t, e = ep[f"{name}_time"], ep[f"{name}_event"]
        screens[name] = univariate_screen(design, t, e, threshold=o.screen_p,
                                          conf_level=o.conf_level)
        selected[name] = select_terms(screens[name])
        fits[name] = multivariable_cox(design, selected[name], t, e) if selected[name] else None
        glue[f"{name}_n_selected"] = len(selected[name])
        glue[f"{name}_selected_text"] = ", ".join(selected[name]) or "none"
        inf = list(dict.fromkeys(screens[name].loc[screens[name]["infinite"], "term"]))
        glue[f"{name}_infinite_text"] = ", ".join(inf) if inf else "no covariate"
        _estimates_glue(f"uni_{name}", screen_estimates(screens[name]), glue)
    glue["screen_p"] = o.screen_p
    glue["screen_p_text"] = fmt.number(o.screen_p)
    glue["bca_unit"] = ("month" if abs(o.bca_unit_days - DAYS_PER_YEAR / 12) < 1e-9
                        else f"{fmt.number(o.bca_unit_days)} days")

    for name in ("lfs", "os"):
        f = fits[name]
        if f is None:  # nothing passed the screen: no model (the narrative's keys stay defined)
            for k in ("n", "events", "params"):
                glue[f"{name}_mv_{k}"] = 0
            glue[f"{name}_mv_epv"] = float("nan")
            glue[f"{name}_mv_text"] = "no model (no covariate passed the screen)"
            glue[f"{name}_zph_global_ptext"] = "p not available (no model)"
            glue[f"{name}_zph_flagged"] = "none (no model)"
            continue
        glue[f"{name}_mv_n"] = f.n
        glue[f"{name}_mv_events"] = f.n_events
        glue[f"{name}_mv_params"] = f.n_parameters
        glue[f"{name}_mv_epv"] = f.events_per_variable
        glue[f"{name}_mv_text"] = (
            f"{count_text(f.n)} patients with {count_text(f.n_events)} events for "
            f"{fmt.count(f.n_parameters)} coefficients, "
            f"{_epv_text(f.n_events, f.n_parameters)} events per variable")
        zph[name] = cox_zph(f)
        g = zph[name].iloc[-1]
        glue[f"{name}_zph_global_p"] = float(g["p"])
        glue[f"{name}_zph_global_ptext"] = fmt.p_phrase(float(g["p"]))
        hr = f.hazard_ratios(o.conf_level)
        for cols in f.terms.values():
            for c in cols:
                key = "".join(ch if ch.isalnum() else "_" for ch in f.names[c].lower()).strip("_")
                glue[f"{name}_mv_hr__{key}"] = float(hr["hr"][c])
                glue[f"{name}_mv_p__{key}"] = float(hr["p"][c])
        bad = zph[name].iloc[:-1].query("p < 0.05")["term"].tolist()
        glue[f"{name}_zph_flagged"] = ", ".join(bad) if bad else "none"
    glue["epv_advised_text"] = fmt.count(EPV_ADVISED)
    glue["mv_epv_verdict"] = _epv_verdict(fits)

    paper_fits = {}
    for name, terms in PAPER_COVARIATE_SETS.items():
        paper_fits[name] = multivariable_cox(design, terms, ep[f"{name}_time"],
                                             ep[f"{name}_event"])
        _estimates_glue(f"paper_{name}", fit_estimates(paper_fits[name], design, o.conf_level),
                        glue)
    return {"screens": screens, "fits": fits, "zph": zph, "paper_fits": paper_fits}


def _advised_epv() -> float:
    """The events per variable the book calls adequate: the options registry's
    ``epv_advised`` (Peduzzi et al. 1996)."""
    from .options import OPTIONS

    return float(OPTIONS["epv_advised"].default)


#: Events per estimated coefficient the narrative calls adequate (Peduzzi P, Concato J,
#: Kemper E, et al. (1996). J Clin Epidemiol 49:1373–1379), from the options registry.
EPV_ADVISED: float = _advised_epv()


def _epv_verdict(fits: Mapping[str, CoxFit | None]) -> str:
    """Whether the selected models reach :data:`EPV_ADVISED` events per coefficient, as a
    clause that follows "the usual advice is at least 10 events per variable:"."""
    models = {lab: fits[nm] for nm, lab in (("lfs", "LFS"), ("os", "OS"))
              if fits.get(nm) is not None}
    if not models:
        return "no covariate passed the screen, so there is no multivariable model to judge"
    short = [lab for lab, f in models.items() if f.events_per_variable < EPV_ADVISED]
    if not short:
        return ("both models meet it" if len(models) == 2
                else f"the {next(iter(models))} model meets it (the other has no covariate)")
    which = ("both models fall short of it" if len(short) == 2
             else f"the {short[0]} model falls short of it")
    their = "their" if len(short) == 2 else "its"
    return f"{which}, so {their} coefficients are unstable and biased away from 1"


#: The paper's own covariate sets (Table 1): Table 1A's for LFS; for OS the rows of Table 1B
#: that the text extraction kept plus the two the Results name (no prior HSCT, no ICANS).
PAPER_COVARIATE_SETS: dict[str, tuple[str, ...]] = {
    "lfs": ("BCA duration", "Female", "MRD-CR on day 28"),
    "os": ("No CAR-T history", "Grade 4 neutropenia", "Severe CRS (grade ≥ 3)",
           "No HSCT history", "No ICANS"),
}


#: Characters that keep "0.43 (0.15–1.21)" on one line in a narrow table column: a no-break
#: space before the interval and a word joiner after its dash (browsers break after a dash).
_NBSP, _WJ = "\u00a0", "\u2060"


def _unbroken(text: str) -> str:
    """An estimate with its interval as one unbreakable line (display only; the CSV has the
    numbers)."""
    return text.replace(" (", _NBSP + "(").replace("–", "–" + _WJ)


def _hr_cell(hr: float, lower: float, upper: float, why: str = "", digits: int = 2) -> str:
    if why:
        return f"not estimable ({_short_reason(why)})"
    return _unbroken(fmt.estimate_ci(hr, lower, upper, digits))


def _univariate_table(design: Design, screens: dict[str, pd.DataFrame], o: SurvivalOptions,
                      paper: _Paper) -> ChapterTable:
    lvl = round(100 * o.conf_level)
    rows = []
    for term, cols in design.terms.items():
        parts = {name: screens[name][screens[name]["term"] == term] for name in ("lfs", "os")}
        chosen = [lab for name, lab in (("lfs", "LFS"), ("os", "OS"))
                  if bool(parts[name]["selected"].iloc[0])]

        def p_cell(name: str, p: float, infinite: bool) -> Beside | str:
            text = fmt.DASH if infinite else fmt.p_value(p)
            return paper.beside(f"uni_{name}_p__{slug(term)}", text)

        if len(cols) > 1:  # a factor: its joint Wald test, then one row per level
            row = {"Covariate (comparison)":
                   f"{term} ({design.reference[term]}): joint test"}
            for name, lab in (("lfs", "LFS"), ("os", "OS")):
                part = parts[name]
                row[f"{lab} HR ({lvl}% CI)"] = ""
                row[f"{lab} p"] = p_cell(name, float(part["term_p"].iloc[0]),
                                         bool(part["infinite"].iloc[0]))
            row["Selected"] = ", ".join(chosen)
            rows.append(row)
        for i, c in enumerate(cols):
            row = {"Covariate (comparison)": (f"{term} ({design.reference[term]})"
                                              if len(cols) == 1 else c)}
            for name, lab in (("lfs", "LFS"), ("os", "OS")):
                r = parts[name].iloc[i]
                why = str(r["not_estimable"])
                row[f"{lab} HR ({lvl}% CI)"] = _hr_cell(r["hr"], r["lower"], r["upper"], why)
                text = fmt.DASH if r["infinite"] else fmt.p_value(r["p"])
                row[f"{lab} p"] = p_cell(name, float(r["p"]), bool(r["infinite"])) \
                    if len(cols) == 1 else text
            row["Selected"] = ", ".join(chosen) if len(cols) == 1 else ""
            rows.append(row)
    disp = pd.DataFrame(rows)
    data = pd.concat({"lfs": screens["lfs"], "os": screens["os"]},
                     names=["end_point"]).reset_index(level=0)
    caption = (f"Reproduces the paper's Supplementary Table S2: univariate Cox models for LFS "
               f"and OS, hazard ratio with Wald {lvl}% CI and p (Efron ties). For the pre-LD "
               f"MRD factor each stratum is compared with the lowest, and its joint Wald p "
               f"decides selection. Selected: the multivariable models the covariate "
               f"entered (p < {fmt.number(o.screen_p)}). The supplementary table itself is not "
               f"available; under a p-value, the paper's statement about it in the Results "
               f"(n.s.: no significant association), with its status.")
    return ChapterTable("tbl-univariate", caption, disp, data, "univariate_cox")


def _epv_value(f: CoxFit) -> float:
    """Events per coefficient for a download: missing when the number of events is
    suppressed (with the number of coefficients it would give the count away)."""
    return float("nan") if is_small(f.n_events) else f.events_per_variable


def _multivariable_table(design: Design, fits: dict, o: SurvivalOptions) -> ChapterTable:
    from ..stats.cox import hazard_ratio_table

    lvl = round(100 * o.conf_level)
    rows = []
    for name, label in (("lfs", "A. LFS"), ("os", "B. OS")):
        f = fits[name]
        if f is None:
            rows.append({"Model": label, "Covariate": "no covariate selected",
                         "Comparison": "", f"HR ({lvl}% CI)": "", "p": ""})
            continue
        for r in hazard_ratio_table(f, design, o.conf_level).itertuples():
            rows.append({"Model": label, "Covariate": r.term, "Comparison": r.comparison,
                         f"HR ({lvl}% CI)": _hr_cell(r.hr, r.lower, r.upper, digits=3),
                         "p": fmt.p_value(r.p)})
    disp = pd.DataFrame(rows)
    disp.loc[disp["Model"].duplicated(), "Model"] = ""
    bits = "; ".join(
        f"{lab}: n = {count_text(fits[nm].n)}, {count_text(fits[nm].n_events)} events, "
        f"{fmt.count(fits[nm].n_parameters)} coefficients, EPV "
        f"{_epv_text(fits[nm].n_events, fits[nm].n_parameters)}"
        for nm, lab in (("lfs", "LFS"), ("os", "OS")) if fits[nm] is not None)
    parts = [hazard_ratio_table(fits[nm], design, o.conf_level)
             .assign(end_point=nm, n=fits[nm].n, events=fits[nm].n_events,
                     epv=_epv_value(fits[nm]))
             for nm in ("lfs", "os") if fits[nm] is not None]
    data = pd.concat(parts) if parts else pd.DataFrame(
        columns=["term_label", "comparison", "term", "hr", "lower", "upper", "p", "end_point"])
    caption = (f"Multivariable Cox models with the covariates this cohort's univariate screen "
               f"selected (p < {fmt.number(o.screen_p)}); Efron ties, Wald {lvl}% CI. EPV: "
               f"events per estimated coefficient ({bits}). The paper's own covariate sets "
               f"are in Table 1.")
    return ChapterTable("tbl-multivariable", caption, disp, data, "multivariable_cox")


def _paper_sets_table(design: Design, paper_fits: dict, o: SurvivalOptions, paper: _Paper
                      ) -> ChapterTable:
    from ..stats.cox import hazard_ratio_table

    lvl = round(100 * o.conf_level)
    rows, data = [], []
    for name, label in (("lfs", "A. LFS"), ("os", "B. OS")):
        f = paper_fits[name]
        why = not_estimable(f)
        for r in hazard_ratio_table(f, design, o.conf_level).itertuples():
            s = slug(r.term)
            hr_key, p_key = f"paper_{name}_hr__{s}", f"paper_{name}_p__{s}"
            reason = why.get(r.term, "")
            rows.append({
                "Model": f"{label} (EPV {_epv_text(f.n_events, f.n_parameters)})",
                "Covariate": r.term, "Comparison": r.comparison,
                f"HR ({lvl}% CI)": paper.beside(hr_key, _hr_cell(r.hr, r.lower, r.upper,
                                                                 reason, 3), part="direction"),
                "p": paper.beside(p_key, fmt.DASH if reason else fmt.p_value(r.p),
                                  part="significance")})
            pub = paper.row(hr_key)
            pub_p = paper.row(p_key)
            data.append({
                "end_point": name, "term": r.term, "comparison": r.comparison, "n": f.n,
                "events": f.n_events, "epv": _epv_value(f), "coef": r.coef,
                "se": r.se, "hr": r.hr, "lower": r.lower, "upper": r.upper, "p": r.p,
                "not_estimable": reason,
                "published_key": paper.key(hr_key) or "",
                "published_hr": pub["value"] if pub is not None else np.nan,
                "published_lower": pub["lower"] if pub is not None else np.nan,
                "published_upper": pub["upper"] if pub is not None else np.nan,
                "published_p": pub_p["value_text"] if pub_p is not None else "",
                "status_hr": paper.status(hr_key), "status_p": paper.status(p_key),
                "published_claim": (paper.claim_text(paper.claim_of[hr_key])
                                    if hr_key in paper.claim_of else ""),
                "status_claim": (str(paper.card.loc[paper.claim_of[hr_key], "status"])
                                 if hr_key in paper.claim_of else "")})
    disp = pd.DataFrame(rows)
    disp.loc[disp["Model"].duplicated(), "Model"] = ""
    caption = (f"Reproduces the paper's Table 1: multivariable Cox models of LFS (A) and OS "
               f"(B) with the paper's covariates, fitted on this cohort (Efron ties, Wald "
               f"{lvl}% CI). Under each value, the paper's (Table 1A, and the three rows of "
               f"Table 1B legible in the published version; for no prior HSCT and no ICANS, "
               f"the Results' statement: HR < 1, not significant (n.s.)) with its scorecard "
               f"status. EPV: events per estimated coefficient.")
    return ChapterTable("tbl-paper-sets", caption, disp, pd.DataFrame(data),
                        "table1_paper_covariate_sets")


def _zph_table(zph: dict[str, pd.DataFrame]) -> ChapterTable:
    rows = []
    for name, label in (("lfs", "LFS"), ("os", "OS")):
        for r in zph.get(name, pd.DataFrame()).itertuples():
            rows.append({"Model": label, "Term": r.term, "χ²": fmt.fixed(r.chisq, 3),
                         "df": int(r.df), "p": fmt.p_value(r.p)})
    disp = pd.DataFrame(rows, columns=["Model", "Term", "χ²", "df", "p"])
    disp.loc[disp["Model"].duplicated(), "Model"] = ""
    data = (pd.concat(zph, names=["end_point"]).reset_index(level=0) if zph
            else pd.DataFrame(columns=["end_point", "term", "chisq", "df", "p"]))
    caption = ("Proportional-hazards tests of the multivariable models (R's cox.zph, "
               "survival 3.x: score test for x·g(t) with g the Kaplan–Meier transform of "
               "time; GLOBAL tests all terms together).")
    return ChapterTable("tbl-zph", caption, disp, data, "ph_tests")


def _compare_in(ep: pd.DataFrame, masks: dict[tuple[str, str], np.ndarray], groups: np.ndarray,
                order: Sequence[str], o: SurvivalOptions, risk_times: np.ndarray,
                nrm: bool = True) -> tuple[pd.DataFrame, dict[tuple[str, str, str], KMPanel]]:
    """Kaplan–Meier comparison of ``groups`` (log-rank) within each mask, for OS and LFS;
    with ``nrm``, the 5-year cumulative incidence of NRM by group and its variance
    (``nrm5_*``, ``nrm5_var_*``) and the number of non-relapse deaths (``events_nrm_*``) on
    the OS rows."""
    from ..stats import competing_risks as cr
    from ..stats.survival import compare_groups

    results, panels = [], {}
    for (when, stratum), m in masks.items():
        for name, title in (("os", "OS"), ("lfs", "LFS")):
            gc = compare_groups(ep[f"{name}_time"][m], ep[f"{name}_event"][m], groups[m],
                                list(order), o.conf_level)
            p = gc.logrank.p_value if gc.logrank is not None else np.nan
            row = {"timing": when, "stratum": stratum, "end_point": title,
                   "logrank_chi2": gc.logrank.chi2 if gc.logrank is not None else np.nan,
                   "logrank_p": p}
            for lab in order:
                row[f"n_{lab}"] = gc.n.get(lab, 0)
                row[f"events_{lab}"] = gc.events.get(lab, 0)
                row[f"median_{lab}"] = gc.medians[lab].estimate if lab in gc.medians else np.nan
            if nrm and name == "os":
                res = cr.cuminc(ep["cr_time"][m], ep["cr_status"][m], groups[m])
                for lab in order:
                    c = res.curves.get((lab, NRM))
                    est, var = c.at(FIVE_YEARS_MONTHS) if c is not None else (
                        np.array([0.0]), np.array([0.0]))
                    row[f"nrm5_{lab}"] = float(est[0]) if lab in gc.n else np.nan
                    row[f"nrm5_var_{lab}"] = float(var[0]) if lab in gc.n else np.nan
                    row[f"events_nrm_{lab}"] = int(c.n_events) if c is not None else 0
            results.append(row)
            panels[(when, stratum, title)] = KMPanel(
                title, gc.curves, gc.at_risk(risk_times),
                "Overall survival (%)" if name == "os" else "Leukaemia-free survival (%)",
                _test_phrase("Log-rank", p))
    out = pd.DataFrame(results)
    for lab in order:  # counts on the OS rows only: integers with gaps, not floats
        if f"events_nrm_{lab}" in out:
            out[f"events_nrm_{lab}"] = out[f"events_nrm_{lab}"].astype("Int64")
    return out, panels


def _stratum_masks(patients: pd.DataFrame, cut: float, upper_only: bool
                   ) -> dict[tuple[str, str], np.ndarray]:
    from ..core.units import format_mrd

    out = {}
    for col, when in (("mrd_pre_ld", "Pre-LD"), ("mrd_post_ld", "Post-LD")):
        m = patients[col].astype(float).to_numpy()
        if not upper_only:
            out[(when, f"<{format_mrd(cut)}")] = m < cut
        out[(when, f"≥{format_mrd(cut)}")] = m >= cut
    return out


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _when(timing: str) -> str:
    """"Pre-LD" as it reads inside a title: "pre-LD"."""
    return timing[:1].lower() + timing[1:]


def _lettered(panels: list[KMPanel], titles: list[str]) -> list[KMPanel]:
    return [KMPanel(f"{_LETTERS[i]}  {t}", p.curves, p.at_risk, p.ylabel, p.test,
                    p.censor_marks, p.entry) for i, (p, t) in enumerate(zip(panels, titles))]


def _figure1(patients: pd.DataFrame, ep: pd.DataFrame, o: SurvivalOptions,
             risk_times: np.ndarray, glue: dict) -> tuple[pd.DataFrame, list[KMPanel]]:
    from ..core.units import format_mrd

    low, high = o.mrd_cuts[0], o.mrd_cuts[-1]
    hsct = np.where(ep["hsct"], HSCT_GROUPS[0], HSCT_GROUPS[1])
    fig1, panels = _compare_in(ep, _stratum_masks(patients, low, False), hsct, HSCT_GROUPS, o,
                               risk_times)
    h, nh = HSCT_GROUPS
    for r in fig1.to_dict("records"):
        level = "low" if r["stratum"].startswith("<") else "high"
        s = f"{r['timing'][:3].lower()}_{level}_{r['end_point'].lower()}"
        glue[f"fig1_{s}_p"] = float(r["logrank_p"])
        glue[f"fig1_{s}_ptext"] = fmt.p_phrase(r["logrank_p"])
        glue[f"fig1_{s}_medians"] = fmt.medians_text(r[f"median_{h}"], r[f"median_{nh}"])
        glue[f"fig1_{s}_n"] = f"{count_text(r[f'n_{h}'])} vs {count_text(r[f'n_{nh}'])}"
        glue[f"fig1_{s}_median_hsct"] = median_or_infinity(r[f"median_{h}"], r[f"n_{h}"])
        glue[f"fig1_{s}_median_nohsct"] = median_or_infinity(r[f"median_{nh}"], r[f"n_{nh}"])
        if r["end_point"] == "OS":
            base = f"fig1_{s.removesuffix('_os')}"
            glue[f"{base}_nrm_hsct"] = float(100 * r[f"nrm5_{h}"])
            glue[f"{base}_nrm_hsct_se"] = float(100 * np.sqrt(r[f"nrm5_var_{h}"]))
            glue[f"{base}_nrm_hsct_var"] = float(r[f"nrm5_var_{h}"])
            glue[f"{base}_nrm_nohsct"] = float(100 * r[f"nrm5_{nh}"])
            glue[f"{base}_nrm_text"] = (
                f"{_nrm_text(r, h, se=True)} with HSCT vs {_nrm_text(r, nh)} without"
                if _nrm_shown(r, h) or _nrm_shown(r, nh)
                else _withheld().replace("not shown", "not shown in either group", 1))
            glue[f"{base}_nrm_hsct_var_text"] = _nrm_text(r, h, var=True)
    glue["low_cut"] = format_mrd(low)
    glue["high_cut"] = format_mrd(high)
    # reading order: one row per MRD stratum (pre-LD below, at or above; post-LD below, at or
    # above), OS left and LFS right, as the paper's Figure 1 pairs them
    keys = list(panels)
    titles = [f"{k[2]}, {_when(k[0])} MRD {k[1]}" for k in keys]
    return fig1, _lettered([panels[k] for k in keys], titles)


def _nrm_shown(r: Mapping[str, Any], group: str) -> bool:
    """Whether the 5-year NRM of ``group`` in an OS row of :func:`_compare_in` may be shown:
    not when the group's patients, deaths or non-relapse deaths are a suppressed count (the
    estimate, k/n without censoring, would give them away)."""
    return not _any_small(r[f"n_{group}"], r[f"events_{group}"], r[f"events_nrm_{group}"])


def _nrm_text(r: Mapping[str, Any], group: str, se: bool = False, var: bool = False) -> str:
    """The 5-year NRM of ``group`` for the narrative: "12.5%", with ``se`` "12.5% (SE
    12.5%)", with ``var`` "12.5% with a variance of 0.0156"; a phrase when the group is empty
    or a count behind it is suppressed."""
    est, v = r[f"nrm5_{group}"], r[f"nrm5_var_{group}"]
    if not np.isfinite(est):
        return "not estimable (no patients in the group)"
    if not _nrm_shown(r, group):
        return _withheld()
    text = f"{fmt.fixed(100 * est, 1)}%"
    if se:
        text += f" (SE {fmt.fixed(100 * np.sqrt(v), 1)}%)"
    if var:
        text += f" with a variance of {fmt.fixed(v, 4)}"
    return text


def _figure1_table(fig1: pd.DataFrame, o: SurvivalOptions, paper: _Paper) -> ChapterTable:
    h, nh = HSCT_GROUPS
    rows = []
    for r in fig1.to_dict("records"):
        level = "low" if r["stratum"].startswith("<") else "high"
        s = f"fig1_{r['timing'][:3].lower()}_{level}_{r['end_point'].lower()}"
        medians = fmt.medians_text(r[f"median_{h}"], r[f"median_{nh}"], unit="").strip()
        nrm = ""
        if r["end_point"] == "OS":
            base = s.removesuffix("_os")
            # a group whose patients or events are suppressed shows no NRM: "12.5 (12.5)"
            # beside "8 (<5)" would say 1 of 8
            cell = [(fmt.DASH if not np.isfinite(r[f"nrm5_{g}"]) or not _nrm_shown(r, g) else
                     f"{fmt.fixed(100 * r[f'nrm5_{g}'], 1)}{_NBSP}"
                     f"({fmt.fixed(100 * np.sqrt(r[f'nrm5_var_{g}']), 1)})") for g in (h, nh)]
            nrm = paper.pair([f"{base}_nrm_hsct", f"{base}_nrm_nohsct"], " vs ".join(cell))
            if isinstance(nrm, Beside) and not all(_nrm_shown(r, g) for g in (h, nh)):
                # the paper's value stays, its status (a comparison with the hidden
                # estimate) goes
                nrm = Beside(nrm.reproduced, nrm.published)
        rows.append({
            "MRD": f"{r['timing']} {r['stratum']}", "End point": r["end_point"],
            "Patients (events), HSCT vs none":
                f"{count_text(r[f'n_{h}'])}{_NBSP}({count_text(r[f'events_{h}'])}) vs "
                f"{count_text(r[f'n_{nh}'])}{_NBSP}({count_text(r[f'events_{nh}'])})",
            "Median, months, HSCT vs none": paper.pair(
                [f"{s}_median_hsct", f"{s}_median_nohsct"], medians),
            "Log-rank p": paper.beside(f"{s}_p", fmt.p_value(r["logrank_p"])),
            "5-year NRM, % (SE), HSCT vs none": nrm})
    disp = pd.DataFrame(rows)
    disp.loc[disp["MRD"].duplicated(), "MRD"] = ""
    data = fig1.copy()
    for g in (h, nh):  # the download drops what the table drops
        if f"nrm5_{g}" in data:
            hide = np.array([r["end_point"] == "OS" and not _nrm_shown(r, g)
                             for r in fig1.to_dict("records")], dtype=bool)
            data.loc[hide, [f"nrm5_{g}", f"nrm5_var_{g}"]] = np.nan
    caption = ("The numbers behind Figure 1: bridging HSCT vs none within MRD strata, "
               "patients and events, Kaplan–Meier median ('not reached' when the curve "
               "stays above 0.5), log-rank p, and the 5-year cumulative incidence of NRM "
               "with its standard error (cmprsk variance) in parentheses. Under a value, "
               "the paper's (Results; n.s.: no significant effect) with its scorecard "
               "status; a pair's dot is the less favourable status of the two.")
    return ChapterTable("tbl-figure1", caption, disp, data, "figure1_hsct_by_mrd")


def _s1_s2(patients: pd.DataFrame, ep: pd.DataFrame, o: SurvivalOptions,
           risk_times: np.ndarray, glue: dict) -> tuple[list[KMPanel], list[KMPanel]]:
    high = o.mrd_cuts[-1]
    hsct = np.where(ep["hsct"], HSCT_GROUPS[0], HSCT_GROUPS[1])
    s1, s1_panels = _compare_in(ep, _stratum_masks(patients, high, True), hsct, HSCT_GROUPS,
                                o, risk_times, nrm=False)
    for r in s1.to_dict("records"):
        s = f"{r['timing'][:3].lower()}_{r['end_point'].lower()}"
        glue[f"s1_{s}_n"] = f"{count_text(r['n_HSCT'])} vs {count_text(r['n_No HSCT'])}"
        glue[f"s1_{s}_p"] = fmt.p_phrase(r["logrank_p"])
        glue[f"s1_{s}_p_value"] = float(r["logrank_p"])
    keys = list(s1_panels)
    s1_out = _lettered([s1_panels[k] for k in keys],
                       [f"{k[2]}, {_when(k[0])} MRD {k[1]}" for k in keys])

    genetic = np.where(patients["genetic_risk"].to_numpy() == "high", GENETIC_GROUPS[0],
                       GENETIC_GROUPS[1])
    s2, s2_panels = _compare_in(ep, {("All", "patients"): np.ones(len(ep), dtype=bool)},
                                genetic, GENETIC_GROUPS, o, risk_times, nrm=False)
    a, b = GENETIC_GROUPS
    for r in s2.to_dict("records"):
        e = r["end_point"].lower()
        glue[f"s2_{e}_p"] = fmt.p_phrase(r["logrank_p"])
        glue[f"s2_{e}_p_value"] = float(r["logrank_p"])
        glue[f"s2_{e}_n"] = f"{count_text(r[f'n_{a}'])} vs {count_text(r[f'n_{b}'])}"
    keys = list(s2_panels)
    s2_out = _lettered([s2_panels[k] for k in keys],
                       [f"{'Overall' if k[2] == 'OS' else 'Leukaemia-free'} survival"
                        for k in keys])
    return s1_out, s2_out


def _immortal_time(patients: pd.DataFrame, ep: pd.DataFrame, o: SurvivalOptions,
                   risk_times: np.ndarray, glue: dict
                   ) -> tuple[ChapterTable, list[KMPanel]]:
    from ..core.units import format_mrd
    from ..stats.survival import kaplan_meier_counting, landmark, number_at_risk, split_at

    lvl = round(100 * o.conf_level)
    low = o.mrd_cuts[0]
    effects = {}
    low_pre = patients["mrd_pre_ld"].astype(float).to_numpy() < low
    for name in ("os", "lfs"):
        t, e, h = ep[f"{name}_time"], ep[f"{name}_event"], ep["hsct_time"]
        effects[(name, "all")] = hsct_effect(t, e, h, landmarks=o.landmarks_months,
                                             conf_level=o.conf_level)
        effects[(name, "low")] = hsct_effect(t[low_pre], e[low_pre], h[low_pre],
                                             landmarks=[o.main_landmark_months],
                                             conf_level=o.conf_level)
        glue[f"it_{name}_verdict"] = immortal_time_verdict(
            effects[(name, "all")], o.main_landmark_months, conf_level=o.conf_level)
        glue[f"it_{name}_low_verdict"] = immortal_time_verdict(
            effects[(name, "low")], o.main_landmark_months, conf_level=o.conf_level)
        tab = effects[(name, "all")].set_index("analysis")
        glue[f"it_{name}_fixed_hr"] = float(tab.loc["fixed", "hr"])
        glue[f"it_{name}_td_hr"] = float(tab.loc["time-dependent", "hr"])
        glue[f"it_{name}_fixed_p"] = float(tab.loc["fixed", "p"])
        glue[f"it_{name}_td_p"] = float(tab.loc["time-dependent", "p"])
    lm = landmark(ep["os_time"], ep["os_event"], ep["hsct_time"], o.main_landmark_months)
    glue["it_late_hsct"] = int(((ep["hsct_time"] > o.main_landmark_months)
                                & (ep["os_time"] > o.main_landmark_months)).sum())
    glue["it_late_hsct_text"] = count_text(glue["it_late_hsct"])
    glue["it_main_landmark"] = float(o.main_landmark_months)
    glue["it_main_landmark_text"] = fmt.number(o.main_landmark_months)
    glue["it_main_landmark_n"] = len(lm)
    glue["it_main_landmark_n_text"] = count_text(len(lm))
    immortal = ep.loc[ep["hsct"], "hsct_time"]
    glue["it_immortal_total"] = float(immortal.sum())
    glue["it_immortal_share"] = (100 * float(immortal.sum())
                                 / float(ep.loc[ep["hsct"], "os_time"].sum())
                                 if ep["hsct"].any() else float("nan"))
    glue["it_immortal_text"] = (
        f"{fmt.fixed(glue['it_immortal_total'], 0)} patient-months here, "
        f"{fmt.fixed(glue['it_immortal_share'], 1)}% of the transplanted patients' follow-up"
        if ep["hsct"].any() else "none here, as no patient was transplanted")

    panels = []
    for name, title, ylabel in (("os", "OS: Simon–Makuch", "Overall survival (%)"),
                                ("lfs", "LFS: Simon–Makuch", "Leukaemia-free survival (%)")):
        sp = split_at(ep[f"{name}_time"], ep[f"{name}_event"], ep["hsct_time"])
        curves, risk, entry = {}, {}, {}
        for lab, flag in (("HSCT (from transplant)", 1), ("No HSCT yet", 0)):
            rows = sp[sp["exposed"] == flag]
            if rows.empty:  # nobody transplanted: no curve from transplant
                continue
            curves[lab] = kaplan_meier_counting(rows["start"], rows["stop"], rows["event"],
                                                o.conf_level)
            # at risk in (start, stop]: at the first tick, time 0, just after it (every
            # patient is then at risk in the "no HSCT yet" state)
            ticks = np.where(risk_times > 0, risk_times, np.nextafter(0.0, 1.0))
            risk[lab] = number_at_risk(rows["stop"], ticks, start=rows["start"])
            entry[lab] = float(rows["start"].min()) if len(rows) else 0.0
        panels.append(KMPanel(title, curves, risk, ylabel, censor_marks=False, entry=entry))
    panels = _lettered(panels, [p.title for p in panels])

    labels = {"fixed": "As published: ever transplanted, fixed at infusion",
              "time-dependent": "HSCT as a time-dependent covariate"}
    rows = []
    for (name, pop), tab in effects.items():
        for r in tab.itertuples():
            rows.append({
                "End point": name.upper(),
                "Patients": "All" if pop == "all" else f"Pre-LD MRD <{format_mrd(low)}",
                "Analysis": labels.get(r.analysis,
                                       f"Landmark at {fmt.number(r.landmark)} months"),
                # counts written here, suppressed whatever the column is called
                "n": count_text(r.n), "HSCT": count_text(r.n_hsct),
                "Events": count_text(r.events),
                f"HR ({lvl}% CI)": (
                    fmt.DASH if _any_small(r.n, r.n_hsct, r.events)
                    else "not estimable (no patient transplanted)" if r.n_hsct == 0
                    else "not estimable (no events in one group)"
                    if r.infinite else _hr_cell(r.hr, r.lower, r.upper)),
                "p": fmt.DASH if r.infinite or r.n_hsct == 0 else fmt.p_value(r.p)})
    disp = pd.DataFrame(rows)
    dup_end = disp["End point"].duplicated()
    dup_pop = disp[["End point", "Patients"]].duplicated()
    disp.loc[dup_end, "End point"] = ""
    disp.loc[dup_pop, "Patients"] = ""
    data = pd.concat({f"{k[0]}_{k[1]}": v for k, v in effects.items()},
                     names=["analysis_set"]).reset_index(level=0).reset_index(drop=True)
    hidden = [_any_small(*c) for c in zip(data["n"], data["n_hsct"], data["events"])]
    # the download drops the estimates the table drops
    data.loc[hidden, ["coef", "se", "hr", "lower", "upper"]] = np.nan
    caption = (f"Hazard ratio of death (OS) or of relapse or death (LFS) with vs without "
               f"bridging HSCT: the published fixed comparison and three analyses free of "
               f"immortal time. HSCT: patients transplanted (time-dependent model) or "
               f"transplanted by the landmark. Wald {lvl}% CI and p.")
    return ChapterTable("tbl-immortal", caption, disp, data, "hsct_immortal_time"), panels


def _gray_table(patients: pd.DataFrame, ep: pd.DataFrame, o: SurvivalOptions) -> ChapterTable:
    from ..core.units import format_mrd
    from ..stats import competing_risks as cr

    low = o.mrd_cuts[0]
    low_pre = patients["mrd_pre_ld"].astype(float).to_numpy() < low
    groups = {
        f"Pre-LD MRD <{format_mrd(low)} vs ≥": np.where(low_pre, "low", "high"),
        "Genetic risk, high vs low/intermediate": np.where(
            patients["genetic_risk"].to_numpy() == "high", "high", "low/intermediate"),
        "Bridging HSCT, ever vs never (immortal time: biased)":
            np.where(ep["hsct"], "HSCT", "No HSCT"),
    }
    rows, data = [], []
    for label, grp in groups.items():
        res = cr.cuminc(ep["cr_time"], ep["cr_status"], grp)
        for cause, t in res.tests.items():
            what = "Relapse" if cause == RELAPSE else "Non-relapse mortality"
            rows.append({"Groups": label, "Cause": what, "Gray χ²": fmt.fixed(t.stat, 3),
                         "df": int(t.df), "p": fmt.p_value(t.p_value)})
            data.append({"groups": label, "cause": what, "statistic": t.stat, "df": t.df,
                         "p": t.p_value})
    disp = pd.DataFrame(rows, columns=["Groups", "Cause", "Gray χ²", "df", "p"])
    disp.loc[disp["Groups"].duplicated(), "Groups"] = ""
    caption = ("Gray's test of equal cumulative incidence of relapse and of non-relapse "
               "mortality across groups (cmprsk, rho = 0).")
    return ChapterTable("tbl-gray", caption, disp, pd.DataFrame(data), "gray_tests")


def _published_phrases(paper: _Paper, glue: dict) -> None:
    """The paper's numbers that captions and the narrative quote, from the registry."""
    glue["pub_os_5y_text"] = paper.percent_ci("os_5y")
    bca = paper.row("paper_lfs_hr__bca_duration")
    glue["pub_hr_bca_lfs"] = str(bca["value_text"]) if bca is not None else fmt.DASH
    glue["pub_lfs_5y_text"] = paper.percent_ci("lfs_5y")
    for when in ("pre", "pos"):
        s = f"fig1_{when}_low_os"
        med = [paper.text(f"{s}_median_hsct"), paper.text(f"{s}_median_nohsct")]
        p = paper.text(f"{s}_p")
        glue[f"pub_fig1_{when}_low_os"] = (
            f"{med[0]} vs {med[1]} months (p = {p})" if all(med) and p else fmt.DASH)
    nrm = [paper.row("fig1_pre_low_nrm_hsct"), paper.row("fig1_pre_low_nrm_nohsct")]
    glue["pub_nrm_pre_low_hsct"] = (f"{nrm[0]['value_text']}% {nrm[0]['interval_text']}%"
                                    if nrm[0] is not None else fmt.DASH)
    glue["pub_fig1_pre_low_nrm"] = (
        f"{nrm[0]['value_text']}% {nrm[0]['interval_text']}% vs {nrm[1]['value_text']}%"
        if all(r is not None for r in nrm) else fmt.DASH)
    glue["pub_nrm_pre_low_hsct_pm"] = (f"{nrm[0]['interval_text']}%"
                                       if nrm[0] is not None else fmt.DASH)


def _audit_phrases(glue: dict) -> None:
    """The audit's numbers that the narrative quotes (the paper's cohort size and 5-year
    estimates, the group sizes and events its numbers imply), from
    :mod:`analysis_lib.paper.feasibility`, which holds the published numbers the audit
    uses. These describe the paper, not the analysed cohort: never suppressed."""
    from ..paper import feasibility as F

    glue["audit_n_patients"] = fmt.count(F.N_PATIENTS)
    glue["audit_os_5y_pub"] = f"{fmt.fixed(100 * F.OS_5Y, 1)}%"
    glue["audit_lfs_5y_pub"] = f"{fmt.fixed(100 * F.LFS_5Y, 1)}%"
    k, n_h = F.fractions_rounding_to(100 * F.NRM_LOW, F.N_PRE_LD_LOW)[0]
    glue["audit_low_burden_groups"] = f"{fmt.count(n_h)} vs {fmt.count(F.N_PRE_LD_LOW - n_h)}"
    glue["audit_nrm_fraction"] = f"{fmt.count(k)}/{fmt.count(n_h)}"
    glue["audit_nrm_fraction_var"] = fmt.number(F.binomial_se(k, n_h) ** 2, 1)
    d_os = F.max_events_by(F.OS_5Y, F.N_PATIENTS, half_unit=0.0005)
    glue["audit_paper_events_text"] = (
        f"at least {fmt.count(F.N_RELAPSE + k)} LFS events ({fmt.count(F.N_RELAPSE)} "
        f"relapses and the {fmt.count(k)} non-relapse deaths its NRM of "
        f"{fmt.fixed(100 * F.NRM_LOW, 1)}% implies) and at most {fmt.count(d_os)} deaths by "
        f"five years")
    lfs, os_ = (len(PAPER_COVARIATE_SETS[k]) for k in ("lfs", "os"))
    glue["audit_paper_covariates"] = (f"{fmt.count(lfs)} LFS covariates and at least "
                                      f"{fmt.count(os_)} OS covariates")


def analyse(patients: pd.DataFrame, kinetics: pd.DataFrame,
            options: SurvivalOptions | None = None,
            changed: Mapping[str, str] | None = None) -> SurvivalResults:
    """The survival chapter: OS and LFS (Kaplan–Meier), relapse and NRM (competing risks),
    the univariate screen (Supplementary Table S2) and the multivariable Cox models (Table 1,
    with the paper's covariates and with this cohort's selection), proportional-hazards
    tests, bridging HSCT within MRD strata (Figure 1, Supplementary Figure S1), genetic risk
    (Supplementary Figure S2), the immortal-time analyses of transplantation and Gray's
    tests; with the paper's values and their scorecard statuses beside the reproduced ones.

    ``patients``, ``kinetics``: the validated tables (:mod:`analysis_lib.data.schema`).
    Times are in months. Methods and references: :func:`endpoints`,
    :func:`univariate_screen`, :func:`hsct_effect` and :mod:`analysis_lib.stats`.
    ``changed``: the published numbers and claims computed under a parameter other than the
    paper's, with the reason (the book passes
    :attr:`analysis_lib.book.report.ChapterData.changed`); they get the status "computed
    under another parameter", as on the scorecard page (``None``: the paper's parameters).
    """
    o = options or SurvivalOptions()
    ep = endpoints(patients)
    step = float(o.risk_table_step_months)
    longest = float(max(ep["os_time"].max(), ep["lfs_time"].max()))
    risk_times = np.arange(0.0, np.ceil(longest / step) * step + 1e-9, step)
    glue: dict[str, Any] = {"n_patients": len(patients),
                            "n_patients_text": count_text(len(patients)),
                            "conf_lvl": f"{round(100 * o.conf_level)}%"}

    km, km_times, os_lfs = _os_lfs(ep, o, risk_times, glue)
    cif = _relapse(patients, ep, o, glue)
    design = candidate_covariates(patients, kinetics, age_cut=o.age_cut_years,
                                  dose_cut=o.dose_cut, mrd_cuts=o.mrd_cuts,
                                  mrd_negative_below=o.mrd_negative_below,
                                  bca_unit_days=o.bca_unit_days)
    cox = _cox(design, ep, o, glue)
    fig1, figure1 = _figure1(patients, ep, o, risk_times, glue)
    s1, s2 = _s1_s2(patients, ep, o, risk_times, glue)
    immortal, simon_makuch = _immortal_time(patients, ep, o, risk_times, glue)
    glue = {k: _plain(v) for k, v in glue.items()}

    paper = _Paper.load(glue, changed)
    _published_phrases(paper, glue)
    _audit_phrases(glue)
    tables = [
        _km_times_table(km_times, o, paper),
        _univariate_table(design, cox["screens"], o, paper),
        _multivariable_table(design, cox["fits"], o),
        _paper_sets_table(design, cox["paper_fits"], o, paper),
        _zph_table(cox["zph"]),
        _figure1_table(fig1, o, paper),
        immortal,
        _gray_table(patients, ep, o),
    ]
    return SurvivalResults(glue=glue, tables={t.label: t for t in tables},
                           risk_times=risk_times, os_lfs=os_lfs, cif=cif, figure1=figure1,
                           s1=s1, s2=s2, simon_makuch=simon_makuch, options=o)
