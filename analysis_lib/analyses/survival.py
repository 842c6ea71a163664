"""The paper's survival analyses: end points from the patients table, relapse and transplant
summaries, the candidate covariates and the univariate screen of Supplementary Table S2, the
multivariable Cox models of Table 1 and the immortal-time analyses of bridging HSCT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..core.units import DAYS_PER_YEAR
from ..stats.cox import CoxFit, Design, Ties, coxph, design_frame, hazard_ratio_table, not_estimable
from ..stats.survival import CENSORED, NRM, RELAPSE


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
        rows.append({"analysis": label, "landmark": lm, "n": fit.n, "n_hsct": n_hsct,
                     "events": fit.n_events, "coef": b, "se": se, "hr": np.exp(b),
                     "lower": np.exp(b - q * se),
                     "upper": np.exp(b + q * se), "p": float(fit.p_value[0]),
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


def hr_text(hr: float, lower: float, upper: float, digits: int = 2) -> str:
    """``0.34 (0.11–1.07)``; an infinite (non-estimable) ratio is written "not estimable"."""
    if not (np.isfinite(hr) and np.isfinite(lower) and np.isfinite(upper)) or hr <= 0:
        return "not estimable"
    return f"{hr:.{digits}f} ({lower:.{digits}f}–{upper:.{digits}f})"


def p_text(p: float) -> str:
    """``0.021``; ``<0.001``; "–" when missing."""
    if p is None or not np.isfinite(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_phrase(p: float) -> str:
    """``p = 0.021``, ``p < 0.001`` or ``p not available``."""
    t = p_text(p)
    if t == "–":
        return "p not available"
    return f"p {t[0]} {t[1:]}" if t.startswith("<") else f"p = {t}"


def immortal_time_verdict(table: pd.DataFrame, landmark_at: float, alpha: float = 0.05,
                          conf_level: float = 0.95) -> str:
    """One paragraph comparing the published (fixed) HSCT hazard ratio with the
    time-dependent and landmark ones of :func:`hsct_effect`."""
    lvl = round(100 * conf_level)

    def est(r: pd.Series) -> str:
        if bool(r["infinite"]) or not np.isfinite(r["hr"]):
            return "not estimable (no events in one group)"
        return (f"HR {r['hr']:.2f} ({lvl}% CI {r['lower']:.2f}–{r['upper']:.2f}, "
                f"{p_phrase(r['p'])})")

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
    if finite:
        toward = abs(np.log(td["hr"])) < abs(np.log(fx["hr"]))
        move = (f"The hazard ratio {'rises' if td['hr'] > fx['hr'] else 'falls'} from "
                f"{fx['hr']:.2f} to {td['hr']:.2f} ({'toward' if toward else 'away from'} 1)")
    else:
        move = "The two estimates cannot be compared"
    text = (f"With HSCT fixed at infusion (as published): {est(fx)}; with HSCT as a "
            f"time-dependent covariate: {est(td)}. {move}, and {verdict}")
    if len(lm):
        text += f". At the {landmark_at:g}-month landmark: {est(lm.iloc[0])}"
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
        return (f"{self.median:.{digits}f} {unit} (range {self.minimum:.{digits}f}–"
                f"{self.maximum:.{digits}f})")


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
