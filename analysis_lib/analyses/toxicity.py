"""Toxicity: adverse events in the first four weeks, risk models for grade >= 3 cytokine
release syndrome (CRS), and interleukin-6 (IL-6) as a marker of severe CRS and ICANS.

What the paper reports and where (Wang et al. 2025, Results, "Toxicity"):

* Supplementary Table S3, summarised in the text: adverse events within 4 weeks of
  infusion (:func:`adverse_event_table`, :func:`continuous_summaries`,
  :func:`grade_distribution`).
* Table 2 and Supplementary Table S4: a univariate logistic screen with a p < 0.2 rule, then
  two multivariable models for grade >= 3 CRS, one with pre-lymphodepletion (LD) MRD and one
  with post-LD MRD (:func:`risk_factors`, :func:`univariate_screen`, :func:`risk_model`,
  :data:`MODEL_1`, :data:`MODEL_2`, :func:`table2`).
* Odds ratios of an elevated IL-6 for severe CRS (5.250) and ICANS (9.000)
  (:func:`il6_odds_ratios`), and the dose-threshold comparison (:func:`dose_threshold_comparison`).

Beyond the paper, every model reports its events per variable, a linear-programming check
for separation, profile-likelihood intervals next to the Wald ones, and Firth's penalised
estimates with profile penalised-likelihood intervals (:mod:`analysis_lib.stats.logistic`). IL-6
is evaluated as a classifier: ROC curve, AUC with a DeLong confidence interval, and
sensitivity/specificity by threshold (:func:`analysis_lib.stats.roc.roc_analysis`,
:func:`analysis_lib.stats.roc.threshold_table`).

Several published toxicity numbers cannot be reproduced by any data set with the paper's own
margins; :mod:`analysis_lib.paper.feasibility` holds that arithmetic and :func:`finding` returns it.

The chapter's entry point is :func:`analyse`, which returns a :class:`ToxicityResults`: every
value the chapter glues, its display tables (numbers by :mod:`analysis_lib.core.formatting`,
the paper's values read from the registry beside the reproduced ones with the scorecard's
status) and what its figures need. Published numbers come from the registry
(``data/published/registry.csv``), never typed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..core import formatting
from ..core.formatting import DASH
from ..core.suppression import count_text, is_small, min_cell_count, suppress_columns
from ..core.units import format_mrd
from ..paper.feasibility import FINDINGS, Finding
from ..stats import proportions
from ..stats import roc as roc_stats
from ..stats.contingency import _binary_comparison
from ..stats.logistic import LogisticAnalysis, analyse_logistic
from ..stats.proportions import clopper_pearson
from .cohort import (
    DisplayTable,
    Paired,
    Statuses,
    plain_values,
    published_text,
    registry_row,
    registry_value,
)

#: Grade from which CRS counts as severe (ASTCT 2018 grades 3-4, as the paper's "≥3").
SEVERE_CRS_GRADE = 3

#: Covariates of the paper's multivariable models for grade >= 3 CRS (Table 2, footnotes # and
#: *): model 1 with pre-LD MRD, model 2 with post-LD MRD.
MODEL_1: tuple[str, ...] = ("female", "no_prior_hsct", "pre_ld_mrd_low", "dose_low")
MODEL_2: tuple[str, ...] = ("female", "no_prior_hsct", "post_ld_mrd_low", "dose_low")
#: Rows of Table 2, in the paper's order.
TABLE2_TERMS: tuple[str, ...] = ("female", "no_prior_hsct", "pre_ld_mrd_low", "post_ld_mrd_low",
                                 "dose_low")

# --------------------------------------------------------------------------------------------
# Where the published numbers are (registry keys; the values are read from the registry)
# --------------------------------------------------------------------------------------------

#: Adverse events of Supplementary Table S3 that the Results text reports: event key ->
#: (registry key of the count, registry key of the percentage); ``None`` where not printed.
PUBLISHED_RATE_KEYS: dict[str, tuple[str | None, str | None]] = {
    "crs_any": (None, "crs_pct"),
    "crs_severe": (None, "severe_crs_pct"),
    "icans_any": (None, "icans_pct"),
    "neutropenia_g4": ("n_g4_neutropenia", "g4_neutropenia_pct"),
    "hlh": ("n_hlh", "hlh_pct"),
    "infection_any": ("n_infection", "infection_pct"),
    "infection_bacterial": ("n_infection_bacterial_bsi", None),
    "infection_cmv": ("n_infection_cmv", None),
    "infection_ebv": ("n_infection_ebv", None),
    "infection_fungal": ("n_infection_fungal", None),
    "tocilizumab": ("n_tocilizumab", "tocilizumab_pct"),
    "corticosteroids": ("n_steroids", "steroids_pct"),
    "gvhd": ("n_gvhd_prior_hsct", None),
    "il6_elevated": ("n_il6_elevated", "il6_elevated_pct"),
}
#: Medians (ranges) of the Results text: summary key -> registry key.
PUBLISHED_SUMMARY_KEYS: dict[str, str] = {
    "anc_nadir": "anc_nadir_median", "il6_peak": "il6_peak_median",
    "il6_peak_day": "il6_peak_day_median"}
#: Table 2's cells: (model, term) -> registry key of the odds ratio (its p-value: + "_p").
TABLE2_KEYS: dict[tuple[str, str], str] = {
    **{("univariate", t): k for t, k in (
        ("female", "or_severe_crs_female"), ("no_prior_hsct", "or_severe_crs_no_prior_hsct"),
        ("pre_ld_mrd_low", "or_severe_crs_pre_ld_low"),
        ("post_ld_mrd_low", "or_severe_crs_post_ld_low"),
        ("dose_low", "or_severe_crs_dose_low"))},
    **{("model 1", t): k for t, k in (
        ("female", "mv1_or_female"), ("no_prior_hsct", "mv1_or_no_prior_hsct"),
        ("pre_ld_mrd_low", "mv1_or_pre_ld_low"), ("dose_low", "mv1_or_dose_low"))},
    **{("model 2", t): k for t, k in (
        ("female", "mv2_or_female"), ("no_prior_hsct", "mv2_or_no_prior_hsct"),
        ("post_ld_mrd_low", "mv2_or_post_ld_low"), ("dose_low", "mv2_or_dose_low"))},
}
#: Registry key of the screening threshold (Table 2's title, "P<0.2").
SCREEN_P_KEY = "table2_screening_p_threshold"

_FINDINGS: dict[str, Finding] = {f.key: f for f in FINDINGS}


def finding(key: str) -> Finding:
    """The feasibility finding ``key`` (:data:`analysis_lib.paper.feasibility.FINDINGS`)."""
    return _FINDINGS[key]


def finding_text(key: str) -> str:
    """The reason of feasibility finding ``key`` as the chapter shows it, its numbers in the
    book's form by :func:`analysis_lib.core.formatting.prose` (``p = 0.00016`` as
    ``1.6×10⁻⁴``, ``1e-05`` as ``10⁻⁵``, ``10^-3`` as ``10⁻³``). The findings are arithmetic
    on the paper's published numbers, not counts of the analysed cohort: nothing in them is
    suppressed. (The texts are the audit's, :mod:`analysis_lib.paper.feasibility`; how it
    writes its numbers is its own.)"""
    return formatting.prose(finding(key).reason)


# --------------------------------------------------------------------------------------------
# Odds ratios for tables and text (on the book's one formatter)
# --------------------------------------------------------------------------------------------

def ratio_ci(est: float, lower: float, upper: float, reason: str = "") -> str:
    """An odds ratio with its interval by :func:`analysis_lib.core.formatting.estimate_ci`
    (``0.34 (0.11–1.07)``); an infinite or zero estimate is "not estimable (reason)", with
    the interval when one of its limits is finite (``not estimable (a zero cell; CI
    1.18–∞)``): a limit is informative even when the estimate is not."""
    if formatting.missing(est):
        return DASH
    if formatting.estimable(est):
        if formatting.missing(lower) and formatting.missing(upper):
            return formatting.ratio(est)
        return formatting.estimate_ci(est, lower, upper)
    finite = [v for v in (lower, upper) if formatting.estimable(v)]
    parts = [reason] if reason else []
    if finite:
        parts.append(f"CI {formatting.interval(lower, upper)}")
    return "not estimable" + (f" ({'; '.join(parts)})" if parts else "")


def zero_cell_reason(a: int, b: int, c: int, d: int, exposure: str, event: str) -> str:
    """Why the odds ratio of the 2×2 table ``[[a, b], [c, d]]`` (rows: with and without
    ``exposure``; columns: with and without ``event``) is infinite or zero: which cells are
    empty. The group sizes are cohort counts: written by
    :func:`analysis_lib.core.suppression.count_text` ("<5" when small)."""
    groups = []
    for side, e, n in (("with", a, a + b), ("without", c, c + d)):
        if e == 0:
            groups.append(f"no {event} among the {count_text(n)} patients {side} "
                          f"{exposure}")
        elif e == n:
            groups.append(f"{event} in all {count_text(n)} patients {side} {exposure}")
    return "; ".join(groups) or "a zero cell"


def _p(p: float) -> str:
    return formatting.p_value(p)


def _with_p(est: float, lower: float, upper: float, p: float) -> str:
    """``0.22 (0.026–1.22; p = 0.086)``: an estimate with its interval and p-value."""
    if not formatting.estimable(est):
        return f"{ratio_ci(est, lower, upper)}; {formatting.p_phrase(p)}"
    return (f"{formatting.ratio(est)} ({formatting.interval(lower, upper)}; "
            f"{formatting.p_phrase(p)})")


# --------------------------------------------------------------------------------------------
# Adverse events (Supplementary Table S3)
# --------------------------------------------------------------------------------------------

def _bool(s: pd.Series) -> pd.Series:
    """A nullable boolean column as object (True/False/None)."""
    return s.astype("boolean")


def outcomes(patients: pd.DataFrame, severe_grade: int = SEVERE_CRS_GRADE) -> pd.DataFrame:
    """Binary toxicity outcomes, one row per patient: ``crs_any`` (grade >= 1),
    ``crs_severe`` (grade >= ``severe_grade``), ``icans_any`` (grade >= 1), ``icans_severe``
    (grade >= 3)."""
    crs = patients["crs_grade"].astype(int)
    icans = patients["icans_grade"].astype(int)
    return pd.DataFrame({"crs_any": crs >= 1, "crs_severe": crs >= severe_grade,
                         "icans_any": icans >= 1, "icans_severe": icans >= 3},
                        index=patients.index)


@dataclass(frozen=True)
class _Event:
    key: str
    section: str
    label: str


def published_rate(key: str) -> str:
    """The paper's value of adverse event ``key`` (:data:`PUBLISHED_RATE_KEYS`) as printed,
    from the registry: ``24/50 (48%)``, ``68.0%``, ``0/5``, ``n = 4``; ``""`` if none."""
    count_key, pct_key = PUBLISHED_RATE_KEYS.get(key, (None, None))
    if count_key is None:
        return published_text(pct_key) if pct_key else ""
    r = registry_row(count_key)
    k = formatting.count(r["value"])
    frac = f"{k}/{formatting.count(r['n'])}" if not pd.isna(r["n"]) else f"n = {k}"
    return f"{frac} ({published_text(pct_key)})" if pct_key else frac


def adverse_event_table(patients: pd.DataFrame, *, severe_grade: int = SEVERE_CRS_GRADE,
                        conf_level: float = 0.95) -> pd.DataFrame:
    """Adverse events within 4 weeks of infusion (the equivalent of Supplementary Table S3).

    One row per event: ``key``, ``section``, ``event``, ``k`` (patients with it), ``n``
    (patients assessed: non-missing values; for GVHD, the patients with prior HSCT),
    ``percent``, exact Clopper–Pearson limits ``ci_low``/``ci_high`` (percent), ``display``
    and the published value as printed (``published``, from the registry: :func:`published_rate`;
    empty where the paper gives none). "Any infection" counts patients with at least one of
    the four types.
    """
    o = outcomes(patients, severe_grade)
    inf_cols = ["infection_bacterial", "infection_cmv", "infection_ebv", "infection_fungal"]
    infections = patients[inf_cols].astype(bool)
    prior = patients["prior_hsct"].astype(bool)
    series: list[tuple[_Event, pd.Series]] = [
        (_Event("crs_any", "Cytokine release syndrome", "CRS, any grade"), o["crs_any"]),
        (_Event("crs_severe", "Cytokine release syndrome", f"CRS, grade ≥{severe_grade}"),
         o["crs_severe"]),
        (_Event("icans_any", "Neurotoxicity", "ICANS, any grade"), o["icans_any"]),
        (_Event("icans_severe", "Neurotoxicity", "ICANS, grade ≥3"), o["icans_severe"]),
        (_Event("neutropenia_g4", "Haematological", "Grade 4 neutropenia"),
         _bool(patients["neutropenia_grade4"])),
        (_Event("hlh", "Haematological", "Haemophagocytic lymphohistiocytosis"),
         _bool(patients["hlh"])),
        (_Event("infection_any", "Infections", "Any infection"), infections.any(axis=1)),
        (_Event("infection_bacterial", "Infections", "Bacterial bloodstream infection"),
         infections["infection_bacterial"]),
        (_Event("infection_cmv", "Infections", "CMV reactivation"), infections["infection_cmv"]),
        (_Event("infection_ebv", "Infections", "EBV reactivation"), infections["infection_ebv"]),
        (_Event("infection_fungal", "Infections", "Invasive fungal infection"),
         infections["infection_fungal"]),
        (_Event("tocilizumab", "Treatment", "Tocilizumab"), _bool(patients["tocilizumab"])),
        (_Event("corticosteroids", "Treatment", "Corticosteroids"),
         _bool(patients["corticosteroids"])),
        (_Event("gvhd", "Other", "GVHD (patients with prior HSCT)"),
         _bool(patients["gvhd"]).where(prior)),
        (_Event("il6_elevated", "Other", "IL-6 above the normal range"),
         _bool(patients["il6_elevated"])),
    ]
    rows = []
    for ev, s in series:
        s = s.dropna().astype(bool)
        k, n = int(s.sum()), int(s.size)
        lo, hi = clopper_pearson(k, n, conf_level) if n else (np.nan, np.nan)
        pct = 100 * k / n if n else np.nan
        rows.append({
            "key": ev.key, "section": ev.section, "event": ev.label, "k": k, "n": n,
            "percent": pct, "ci_low": 100 * lo, "ci_high": 100 * hi,
            "display": _risk(k, n) if n else DASH,
            "published": published_rate(ev.key),
        })
    return pd.DataFrame(rows)


def continuous_summaries(patients: pd.DataFrame) -> pd.DataFrame:
    """Medians and ranges: nadir ANC (all patients), peak IL-6 and its day (patients with
    elevated IL-6, as the paper's range 7.6 to >5000 implies).

    A peak recorded above the assay's upper limit (``il6_peak_above_uloq``) is a lower
    bound; the maximum is then shown as ``>limit`` (``max_censored`` True). Columns: ``key``,
    ``label``, ``unit``, ``n``, ``median``, ``min``, ``max``, ``max_censored``, ``display``,
    ``published`` (as printed, from the registry).
    """
    elevated = patients["il6_elevated"].astype("boolean").fillna(False).astype(bool)
    il6 = patients.loc[elevated]
    items = [
        ("anc_nadir", "Nadir absolute neutrophil count", "×10⁹/L",
         patients["anc_nadir_1e9_per_l"].astype(float), None, 2),
        ("il6_peak", "Peak IL-6 (elevated IL-6)", "pg/mL", il6["il6_peak_pg_per_ml"].astype(float),
         il6["il6_peak_above_uloq"].astype("boolean"), 1),
        ("il6_peak_day", "Day of peak IL-6 (elevated IL-6)", "day", il6["il6_peak_day"].astype(float),
         None, 0),
    ]
    rows = []
    for key, label, unit, x, above, digits in items:
        keep = x.notna()
        v = x[keep]
        vmax = float(v.max()) if v.size else np.nan
        cens = bool(above is not None and above[keep].fillna(False).astype(bool)[v == vmax].any())
        med = float(v.median()) if v.size else np.nan
        top = f">{formatting.number(vmax)}" if cens else formatting.fixed(vmax, digits)
        pub = PUBLISHED_SUMMARY_KEYS.get(key)
        rows.append({"key": key, "label": label, "unit": unit, "n": int(v.size), "median": med,
                     "min": float(v.min()) if v.size else np.nan, "max": vmax,
                     "max_censored": cens,
                     "display": (f"{formatting.fixed(med, digits)} "
                                 f"({formatting.fixed(v.min(), digits)}–{top})" if v.size
                                 else DASH),
                     "published": published_text(pub) if pub else ""})
    return pd.DataFrame(rows)


def grade_distribution(patients: pd.DataFrame, column: str,
                       grades: Iterable[int] = range(0, 5)) -> pd.DataFrame:
    """Patients by highest grade (``grade``, ``n``, ``percent``); grades outside ``grades``
    that occur are added."""
    g = patients[column].astype(int)
    levels = sorted(set(grades) | set(g.unique()))
    n = len(g)
    counts = g.value_counts()
    return pd.DataFrame({"grade": levels,
                         "n": [int(counts.get(k, 0)) for k in levels],
                         "percent": [100 * counts.get(k, 0) / n for k in levels]})


# --------------------------------------------------------------------------------------------
# Candidate risk factors and the models (Table 2, Supplementary Table S4)
# --------------------------------------------------------------------------------------------

def risk_factors(patients: pd.DataFrame, *, mrd_cut: float = 1e-3, dose_cut: float = 3.68,
                 age_cut: float = 10.0) -> tuple[pd.DataFrame, dict[str, str]]:
    """Candidate binary risk factors for the univariate screen, coded 0/1, and their labels.

    The direction of each follows Table 2 (the "protective" level is coded 1: female, no
    HSCT history, MRD below the cut, dose below the cut). Supplementary Table S4 is not in
    the extracted paper, so the other candidates are the baseline characteristics of
    Table 3: age above ``age_cut``, high cytogenetic risk, no CAR-T history, and enrolment
    for chemotherapy intolerance.
    """
    p = patients
    frame = pd.DataFrame({
        "female": p["sex"] == "female",
        "age_over": p["age_years"].astype(float) > age_cut,
        "high_genetic_risk": p["genetic_risk"] == "high",
        "no_prior_hsct": ~p["prior_hsct"].astype(bool),
        "no_prior_cart": ~p["prior_cart"].astype(bool),
        "chemo_intolerance": p["enrolment_reason"] == "chemo_intolerance",
        "pre_ld_mrd_low": p["mrd_pre_ld"].astype(float) < mrd_cut,
        "post_ld_mrd_low": p["mrd_post_ld"].astype(float) < mrd_cut,
        "dose_low": p["cart_dose_1e6_per_kg"].astype(float) < dose_cut,
    }, index=p.index).astype(int)
    labels = {
        "female": "Female",
        "age_over": f"Age > {formatting.number(age_cut)} years",
        "high_genetic_risk": "High cytogenetic risk",
        "no_prior_hsct": "No HSCT history",
        "no_prior_cart": "No CAR-T history",
        "chemo_intolerance": "Chemotherapy intolerance",
        "pre_ld_mrd_low": f"Pre-LD MRD < {format_mrd(mrd_cut)}",
        "post_ld_mrd_low": f"Post-LD MRD < {format_mrd(mrd_cut)}",
        "dose_low": f"CAR-T dose < {formatting.number(dose_cut)} ×10⁶/kg",
    }
    return frame, labels


def published_table2() -> pd.DataFrame:
    """Table 2 as printed, from the registry: ``model`` (``univariate``, ``model 1``,
    ``model 2``), ``term`` (a key of :func:`risk_factors`), ``key`` (the registry key of the
    odds ratio; its p-value is ``key + "_p"``), ``or``, ``lower``, ``upper``, ``p``, the
    printed texts ``or_text`` (with the interval) and ``p_text``, and the feasibility
    finding that concerns the row (``finding``; the registry's audit column)."""
    rows = []
    for (model, term), key in TABLE2_KEYS.items():
        r, rp = registry_row(key), registry_row(key + "_p")
        rows.append({"model": model, "term": term, "key": key, "or": float(r["value"]),
                     "lower": float(r["lower"]), "upper": float(r["upper"]),
                     "p": float(rp["value"]), "or_text": published_text(key),
                     "p_text": published_text(key + "_p"),
                     "finding": str(r["audit"]).split(";")[0].strip()})
    order = {"univariate": 0, "model 1": 1, "model 2": 2}
    term_order = {t: i for i, t in enumerate(TABLE2_TERMS)}
    out = pd.DataFrame(rows)
    return (out.assign(_m=out["model"].map(order), _t=out["term"].map(term_order))
            .sort_values(["_m", "_t"]).drop(columns=["_m", "_t"]).reset_index(drop=True))


def risk_model(factors: pd.DataFrame, y: pd.Series | np.ndarray, terms: Sequence[str], *,
               conf_level: float = 0.95) -> LogisticAnalysis:
    """Logistic model of ``y`` on the columns ``terms`` of ``factors`` (ML with Wald and
    profile-likelihood intervals, Firth with profile penalised-likelihood intervals,
    separation check, EPV): :func:`analysis_lib.stats.logistic.analyse_logistic`."""
    return analyse_logistic(factors[list(terms)], np.asarray(y, dtype=float),
                            conf_level=conf_level)


def model_table(analysis: LogisticAnalysis, labels: Mapping[str, str] | None = None
                ) -> pd.DataFrame:
    """Odds ratios of a fitted model (:meth:`LogisticAnalysis.odds_ratios`) with a ``label``
    column and the model's ``n``, ``events``, ``epv`` and ``separation`` (kind) repeated on
    every row."""
    t = analysis.odds_ratios()
    labels = labels or {}
    t.insert(1, "label", [labels.get(k, k) for k in t["term"]])
    return t.assign(n=analysis.n, events=analysis.events, epv=analysis.epv,
                    separation=analysis.separation.kind)


def univariate_screen(factors: pd.DataFrame, y: pd.Series | np.ndarray,
                      labels: Mapping[str, str] | None = None, *, threshold: float = 0.2,
                      test: str = "lr", conf_level: float = 0.95
                      ) -> tuple[pd.DataFrame, dict[str, LogisticAnalysis]]:
    """One logistic model per candidate factor, and the paper's selection rule (p < 0.2).

    ``test`` chooses the p-value the rule uses: ``"lr"`` (likelihood ratio, valid under
    separation), ``"wald"`` (what SPSS prints; under separation its p-value tends to 1 as
    the estimate diverges, so a perfectly predictive factor is dropped) or ``"firth"``
    (penalised likelihood ratio).

    Returns the table (``term``, ``label``, ``n_exposed``, ``events_exposed``,
    ``n_unexposed``, ``events_unexposed``, the columns of :meth:`LogisticAnalysis.odds_ratios`,
    ``separation``, ``selected``) and the fitted analyses by term. A factor that is constant
    in the data cannot be fitted: its row has missing estimates, ``separation`` "constant"
    and is not selected.
    """
    if test not in ("lr", "wald", "firth"):
        raise ValueError("test must be 'lr', 'wald' or 'firth'")
    yv = np.asarray(y, dtype=float)
    labels = labels or {}
    pcol = {"lr": "lr_p", "wald": "wald_p", "firth": "firth_p"}[test]
    rows, fits = [], {}
    for term in factors.columns:
        x = factors[term].to_numpy()
        base = {"term": term, "label": labels.get(term, term),
                "n_exposed": int((x == 1).sum()), "events_exposed": int(yv[x == 1].sum()),
                "n_unexposed": int((x == 0).sum()), "events_unexposed": int(yv[x == 0].sum())}
        if x.min() == x.max():
            rows.append({**base, "separation": "constant", "selected": False})
            continue
        a = analyse_logistic(factors[[term]], yv, conf_level=conf_level)
        fits[term] = a
        r = a.odds_ratios().iloc[0].to_dict()
        r.pop("term")
        p = r[pcol]
        rows.append({**base, **r, "separation": a.separation.kind,
                     "selected": bool(np.isfinite(p) and p < threshold)})
    cols = ["term", "label", "n_exposed", "events_exposed", "n_unexposed", "events_unexposed",
            "infinite", "or_ml", "wald_lower", "wald_upper", "wald_p", "profile_lower",
            "profile_upper", "lr_p", "or_firth", "firth_lower", "firth_upper", "firth_p",
            "separation", "selected"]
    return pd.DataFrame(rows).reindex(columns=cols), fits


def il6_odds_ratios(patients: pd.DataFrame, *, severe_grade: int = SEVERE_CRS_GRADE,
                    conf_level: float = 0.95) -> pd.DataFrame:
    """Odds ratios of an elevated IL-6 for grade >= ``severe_grade`` CRS and for ICANS.

    One row per outcome: the 2×2 cells (``a`` elevated with the event, ``b`` elevated
    without, ``c`` not elevated with, ``d`` not elevated without), the sample odds ratio,
    Fisher's exact p with the conditional MLE and exact interval, the ML logistic estimate
    with Wald and profile-likelihood intervals, Firth's estimate with its profile
    penalised-likelihood interval, the separation kind, and the published OR (``published_or``
    from the registry, key ``published_key``) with the feasibility finding that shows it
    unattainable (:func:`finding`). Patients with a missing IL-6 status are left out (``n``).
    """
    o = outcomes(patients, severe_grade)
    keep = patients["il6_elevated"].notna()
    exposed = patients.loc[keep, "il6_elevated"].astype(bool).to_numpy()
    rows = []
    for key, label, pkey, fkey in (
            ("crs_severe", f"CRS grade ≥{severe_grade}", "il6_or_severe_crs", "il6_or_severe_crs"),
            ("icans_any", "ICANS", "il6_or_icans", "il6_or_icans")):
        r = _binary_comparison(exposed, o.loc[keep, key].to_numpy(), conf_level)
        rows.append({"outcome": key, "label": label, "n": int(keep.sum()), **r,
                     "published_or": registry_value(pkey), "published_key": pkey,
                     "finding": fkey})
    return pd.DataFrame(rows)


def burden_and_outcomes(patients: pd.DataFrame, *, mrd_cut: float = 1e-3,
                        severe_grade: int = SEVERE_CRS_GRADE,
                        conf_level: float = 0.95) -> pd.DataFrame:
    """High pre-infusion tumour burden (bone-marrow MRD at or above ``mrd_cut``, before and
    after lymphodepletion) against grade >= ``severe_grade`` CRS and against ICANS: the
    univariate comparisons behind the paper's statement that a high burden went with both
    (Results, Toxicity; Supplementary Table S4 is not in the extracted paper).

    One row per exposure and outcome: ``exposure`` (``pre_ld_mrd_high``,
    ``post_ld_mrd_high``), ``outcome`` (``crs_severe``, ``icans_any``), ``label``, the 2×2
    cells and every estimate of :func:`il6_odds_ratios` (sample OR, Fisher's exact p with the
    conditional MLE, ML and Firth logistic estimates). Fisher's exact test is valid whatever
    the separation, so it is the test of record with 5 ICANS events. Patients with a missing
    MRD are left out (``n``).
    """
    o = outcomes(patients, severe_grade)
    rows = []
    for exp, col, when in (("pre_ld_mrd_high", "mrd_pre_ld", "pre-LD"),
                           ("post_ld_mrd_high", "mrd_post_ld", "post-LD")):
        keep = patients[col].notna().to_numpy()
        exposed = (patients[col].astype(float) >= mrd_cut).to_numpy()[keep]
        for out, olabel in (("crs_severe", f"CRS grade ≥{severe_grade}"), ("icans_any", "ICANS")):
            r = _binary_comparison(exposed, o[out].to_numpy()[keep], conf_level)
            rows.append({"exposure": exp, "outcome": out,
                         "label": f"{when} MRD ≥{format_mrd(mrd_cut)}: {olabel}",
                         "n": int(keep.sum()), **r})
    return pd.DataFrame(rows)


def or_estimates(table: pd.DataFrame, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Odds ratios of a screen (:func:`univariate_screen`) or a model (:func:`model_table`)
    as an estimates frame (``slug``, ``term``, ``estimate`` = ML odds ratio, ``p`` = Wald p,
    as SPSS prints, and ``not_estimable``): under separation the ML odds ratio is infinite or
    zero and has no usable Wald test, and the reason says which group is predicted
    perfectly (the scorecard reads it, :func:`estimate_values`)."""
    labels = labels or {}
    what = {"+inf": "infinite", "-inf": "zero", "±inf": "not determined"}
    rows = []
    for r in table.to_dict("records"):
        term = r["term"]
        if term == "(Intercept)":
            continue
        label = labels.get(term, r.get("label", term))
        why = ""
        inf = str(r.get("infinite") or "")
        if r.get("separation") == "constant":
            why = f"'{label}' is the same for every patient: no odds ratio can be estimated"
        elif inf and inf in what:
            why = f"separation: the maximum-likelihood odds ratio of '{label}' is {what[inf]}"
            if "n_exposed" in r:
                groups = []
                for side, n_, e_ in (("with", r["n_exposed"], r["events_exposed"]),
                                     ("without", r["n_unexposed"], r["events_unexposed"])):
                    if e_ == 0:
                        groups.append(f"no events among the {count_text(n_)} patients "
                                      f"{side} it")
                    elif e_ == n_:
                        groups.append(f"events in all {count_text(n_)} patients {side} it")
                if groups:
                    why += " (" + "; ".join(groups) + ")"
        rows.append({"slug": term, "term": label, "estimate": float(r.get("or_ml", np.nan)),
                     "p": float(r.get("wald_p", np.nan)), "not_estimable": why})
    return pd.DataFrame(rows, columns=["slug", "term", "estimate", "p", "not_estimable"])


def estimate_values(prefix: str, estimates: pd.DataFrame, estimate: str = "or"
                    ) -> dict[str, Any]:
    """The glued values of an estimates frame (:func:`or_estimates`):
    ``{prefix}_{estimate}__{slug}`` and ``{prefix}_p__{slug}``, and, when the estimate is not estimable, its reason under both
    keys with the suffix ``__not_estimable`` (which the scorecard reads; as
    :func:`analysis_lib.book.report.glue_estimates`)."""
    out: dict[str, Any] = {}
    for r in estimates.itertuples():
        keys = (f"{prefix}_{estimate}__{r.slug}", f"{prefix}_p__{r.slug}")
        out[keys[0]] = float(r.estimate)
        out[keys[1]] = float(r.p)
        if r.not_estimable:
            for k in keys:
                out[k + "__not_estimable"] = str(r.not_estimable)
    return out


def dose_threshold_comparison(patients: pd.DataFrame, cuts: Sequence[float] = (3.66, 3.68), *,
                              severe_grade: int = SEVERE_CRS_GRADE,
                              conf_level: float = 0.95) -> pd.DataFrame:
    """Grade >= ``severe_grade`` CRS below vs at or above each dose cut-off.

    The paper's Table 2 splits at 3.68 × 10⁶/kg (the median), its text at 3.66
    (feasibility finding ``dose_cut``); both are compared. One row per cut: ``cut``,
    ``n_below``, ``events_below``, ``n_above``, ``events_above``, risks (percent), the 2×2
    analysis of "dose below the cut" as in :func:`il6_odds_ratios`, and ``n_between``, the
    patients whose dose lies between the smallest cut and this one (they change group).
    """
    dose = patients["cart_dose_1e6_per_kg"].astype(float).to_numpy()
    y = outcomes(patients, severe_grade)["crs_severe"].to_numpy()
    first = min(cuts)
    rows = []
    for cut in cuts:
        below = dose < cut
        r = _binary_comparison(below, y, conf_level)
        nb, na = int(below.sum()), int((~below).sum())
        rows.append({"cut": float(cut), "n_below": nb, "events_below": r["a"],
                     "n_above": na, "events_above": r["c"],
                     "risk_below": 100 * r["a"] / nb if nb else np.nan,
                     "risk_above": 100 * r["c"] / na if na else np.nan,
                     "n_between": int(((dose >= first) & (dose < cut)).sum()), **r})
    return pd.DataFrame(rows)


def describe_separation(analysis: LogisticAnalysis, labels: Mapping[str, str] | None = None
                        ) -> str:
    """One sentence on a model's separation status, for the narrative.

    ``"no separation: every maximum-likelihood estimate is finite"``, or the kind, how many
    patients are predicted perfectly (cohort counts, by
    :func:`analysis_lib.core.suppression.count_text`) and which odds ratios are infinite (∞)
    or zero.
    """
    sep = analysis.separation
    labels = labels or {}
    if not sep.separated:
        return "no separation: every maximum-likelihood estimate is finite"
    what = {"+inf": "OR = ∞", "-inf": "OR = 0", "±inf": "OR not determined"}
    terms = [t for t in sep.infinite_terms if t != "(Intercept)"]
    head = (f"{sep.kind} separation ({count_text(sep.n_separated)} of "
            f"{count_text(sep.n)} patients predicted perfectly)")
    if not terms:
        return head + "; only the intercept's maximum-likelihood estimate is infinite"
    return (head + ": the maximum-likelihood estimate is infinite for "
            + ", ".join(f"{labels.get(t, t)} ({what[sep.infinite(t)]})" for t in terms))


# --------------------------------------------------------------------------------------------
# The chapter
# --------------------------------------------------------------------------------------------

#: Names of the screen's tests, as the narrative writes them.
TEST_NAMES: dict[str, str] = {"lr": "likelihood-ratio", "wald": "Wald",
                              "firth": "penalised likelihood-ratio"}


@dataclass(frozen=True)
class ToxicityResults:
    """Everything the toxicity chapter shows.

    ``glue``: every value the chapter glues (numbers; phrases as Markdown), by key.
    ``tables``: the display tables by name (``adverse_events`` = the paper's Table S3,
    ``continuous``, ``screen`` = Table S4, ``burden``, ``table2`` = Table 2, ``model_1``,
    ``model_2``, ``il6_or``, ``il6_thresholds``, ``dose``). For the figures: ``grades``
    (panel title -> :func:`grade_distribution`), ``models`` (panel title ->
    :func:`model_table`), ``published_models`` (panel title -> the paper's Table 2 rows of
    that model, :func:`published_table2`), ``rocs`` (outcome label -> ROC analysis).
    ``statuses``: the scorecard rows of the published numbers the chapter computes."""
    glue: dict[str, Any]
    tables: dict[str, DisplayTable]
    grades: dict[str, pd.DataFrame]
    models: dict[str, pd.DataFrame]
    published_models: dict[str, pd.DataFrame]
    rocs: dict[str, roc_stats.ROCAnalysis]
    statuses: pd.DataFrame = field(repr=False)


def _events(a: int, b: int, c: int, d: int) -> str:
    """``a/(a+b) vs c/(c+d)``, every count by :func:`analysis_lib.core.suppression.count_text`
    (``<5/29 vs 7/21`` with small-cell suppression)."""
    return f"{count_text(a)}/{count_text(a + b)} vs {count_text(c)}/{count_text(c + d)}"


def _risk(k: int, n: int) -> str:
    """``2/25 (8.0%)``: a count of events among ``n`` patients with its percentage; with
    small-cell suppression a small count (or group) is ``<5/25`` without the percentage,
    which would give it away."""
    frac = f"{count_text(k)}/{count_text(n)}"
    if not n:
        return f"{frac} ({DASH})"
    return frac if is_small(k) or is_small(n) else f"{frac} ({formatting.percent(100 * k / n)})"


def _epv_text(a: LogisticAnalysis) -> str:
    """A model's events per variable: ``2.0``; when the smaller outcome class is a count
    that small-cell suppression hides, an upper bound that does not give it away (``at most
    1``, from the threshold)."""
    if is_small(min(a.events, a.non_events)):
        return f"at most {formatting.number((min_cell_count() - 1) / a.n_covariates)}"
    return formatting.fixed(a.epv)


def _pct_if(est: float, lo: float, hi: float, *counts: int) -> str:
    """:func:`_pct_ci` (or the bare percentage when ``lo`` and ``hi`` are NaN), or "–" when
    one of the ``counts`` it is computed from is suppressed as small."""
    if any(is_small(k) for k in counts):
        return DASH
    if formatting.missing(lo) and formatting.missing(hi):
        return formatting.fixed(est)
    return _pct_ci(est, lo, hi)


def _pct_ci(est: float, lo: float, hi: float) -> str:
    """``83.3 (65.3–94.4)`` (percentages, one decimal)."""
    if formatting.missing(est):
        return DASH
    return f"{formatting.fixed(est)} ({formatting.fixed(lo)}–{formatting.fixed(hi)})"


def _separated(inf: Any) -> str:
    return "separation" if str(inf or "") in ("+inf", "-inf", "±inf") else ""


def analyse(patients: pd.DataFrame, *, conf_level: float = 0.95, age_cut: float = 10.0,
            severe_grade: int = SEVERE_CRS_GRADE, mrd_cut: float = 1e-3,
            dose_cut: float = 3.68, dose_cut_text: float = 3.66, screen_threshold: float = 0.2,
            screen_test: str = "lr",
            il6_thresholds: Sequence[float] = (10.0, 20.0, 40.0, 100.0, 500.0, 1000.0),
            epv_advised: int = 10, changed: Mapping[str, str] | None = None
            ) -> ToxicityResults:
    """The toxicity chapter: adverse events (Supplementary Table S3), the univariate screen
    (Table S4) and the two multivariable models of grade >= ``severe_grade`` CRS in the
    layout of the paper's Table 2, tumour burden and toxicity, IL-6 (odds ratios, ROC,
    thresholds) and the two dose thresholds; every published number beside the reproduced
    one with the scorecard's status.

    Parameters: ``conf_level`` of every interval; ``age_cut`` (years) of the age candidate;
    ``severe_grade`` from which CRS is severe; ``mrd_cut`` of the MRD factors and of the
    tumour burden; ``dose_cut`` (×10⁶ cells/kg, Table 2's) and ``dose_cut_text`` (the text's)
    of the dose comparison; ``screen_threshold`` and ``screen_test`` (``"lr"``, ``"wald"``,
    ``"firth"``) of the screen; ``il6_thresholds`` (pg/mL) of the threshold table;
    ``epv_advised``, the events per variable the narrative calls adequate; ``changed``: the
    published numbers computed under a parameter other than the paper's, with the reason
    (the book passes :attr:`analysis_lib.book.report.ChapterData.changed`), which get the
    status "computed under another parameter" as on the scorecard page (``None``: the
    paper's parameters)."""
    lvl = round(100 * conf_level)
    n = len(patients)
    g: dict[str, Any] = {"n_patients": n, "n_patients_text": count_text(n), "conf_pct": lvl,
                         "severe_grade": severe_grade,
                         "severe_grade_text": formatting.count(severe_grade)}

    # adverse events (Table S3)
    ae = adverse_event_table(patients, severe_grade=severe_grade, conf_level=conf_level)
    for r in ae.itertuples():
        g[f"ae_{r.key}_k"] = r.k
        g[f"ae_{r.key}_n"] = r.n
        g[f"ae_{r.key}_pct"] = r.percent
        g[f"ae_{r.key}_text"] = (proportions.proportion(r.event, r.k, r.n, conf_level).text()
                                 if r.n else "not assessed")
    summ = continuous_summaries(patients)
    for r in summ.itertuples():
        for stat in ("median", "min", "max"):
            g[f"{r.key}_{stat}"] = float(getattr(r, stat))
        g[f"{r.key}_text"] = r.display
    g["il6_peak_n"] = int(summ.set_index("key").loc["il6_peak", "n"])
    g["il6_peak_n_text"] = count_text(g["il6_peak_n"])
    grades = {"CRS": grade_distribution(patients, "crs_grade"),
              "ICANS": grade_distribution(patients, "icans_grade")}

    # the univariate screen (Table S4)
    factors, labels = risk_factors(patients, mrd_cut=mrd_cut, dose_cut=dose_cut, age_cut=age_cut)
    outc = outcomes(patients, severe_grade)
    y = outc["crs_severe"].astype(int)
    screen, _ = univariate_screen(factors, y, labels, threshold=screen_threshold,
                                  test=screen_test, conf_level=conf_level)
    sel = screen.loc[screen["selected"], "label"].tolist()
    g.update({"severe_events": int(y.sum()), "screen_threshold": screen_threshold,
              "published_screen_p": registry_value(SCREEN_P_KEY),
              "screen_test": TEST_NAMES[screen_test], "n_candidates": len(screen),
              "n_selected": int(screen["selected"].sum()),
              "selected_list": ", ".join(sel) if sel else "none",
              "screen_n_separated": int(screen["separation"].isin(
                  ["quasi-complete", "complete"]).sum()),
              "screen_n_wald": int((screen["wald_p"] < screen_threshold).sum()),
              "screen_n_lr": int((screen["lr_p"] < screen_threshold).sum())})
    # the same as the narrative writes them: the severe CRS events are a cohort count
    # (suppressed when small); the others count candidate factors, not patients
    g["severe_events_text"] = count_text(g["severe_events"])
    for key in ("n_candidates", "n_selected", "screen_n_separated", "screen_n_wald",
                "screen_n_lr"):
        g[f"{key}_text"] = formatting.count(g[key])
    g["screen_threshold_text"] = formatting.number(screen_threshold)
    g["published_screen_p_text"] = formatting.number(g["published_screen_p"])
    # ML odds ratio and its Wald p, as SPSS prints (the scorecard's values), with the reason
    # when separation makes the ML odds ratio infinite or zero
    g.update(estimate_values("uni", or_estimates(screen, labels)))
    g["epv_advised"] = epv_advised
    g["epv_advised_text"] = formatting.count(epv_advised)

    # tumour burden
    burden = burden_and_outcomes(patients, mrd_cut=mrd_cut, severe_grade=severe_grade,
                                 conf_level=conf_level)
    g.update(estimate_values("burden", pd.DataFrame({
        "slug": burden["exposure"] + "_" + burden["outcome"], "estimate": burden["sample_or"],
        "p": burden["fisher_p"], "not_estimable": ""})))
    for r in burden.itertuples():
        g[f"burden_{r.exposure}_{r.outcome}_text"] = (
            f"{_events(r.a, r.b, r.c, r.d)} (Fisher's exact {formatting.p_phrase(r.fisher_p)})")
    g["burden_cut"] = format_mrd(mrd_cut)

    # the two multivariable models
    terms = {1: MODEL_1, 2: MODEL_2}
    fits = {m: risk_model(factors, y, t, conf_level=conf_level) for m, t in terms.items()}
    tables = {m: model_table(a, labels) for m, a in fits.items()}
    for m, a in fits.items():
        g.update({f"m{m}_n": a.n, f"m{m}_events": a.events, f"m{m}_k": a.n_covariates,
                  f"m{m}_epv": a.epv, f"m{m}_events_needed": epv_advised * a.n_covariates,
                  f"m{m}_separation": describe_separation(a, labels)})
        # as the narrative writes them: patients and events are cohort counts (suppressed
        # when small, and the EPV with them); covariates and events needed are not
        g.update({f"m{m}_n_text": count_text(a.n), f"m{m}_events_text": count_text(a.events),
                  f"m{m}_k_text": formatting.count(a.n_covariates),
                  f"m{m}_epv_text": _epv_text(a),
                  f"m{m}_events_needed_text": formatting.count(epv_advised * a.n_covariates)})
        t = tables[m].set_index("term")
        for term in terms[m]:
            r = t.loc[term]
            why = _separated(r.infinite)
            g[f"m{m}_{term}_ml"] = (
                f"{ratio_ci(r.or_ml, np.nan, np.nan, why)} (profile {lvl}% CI "
                f"{formatting.interval(r.profile_lower, r.profile_upper)}; "
                f"LR {formatting.p_phrase(r.lr_p)})")
            g[f"m{m}_{term}_firth"] = _with_p(r.or_firth, r.firth_lower, r.firth_upper,
                                              r.firth_p)
        g.update(estimate_values(f"m{m}", or_estimates(tables[m], labels)))
    g["label_pre"] = labels["pre_ld_mrd_low"]
    g["label_post"] = labels["post_ld_mrd_low"]
    g["label_dose"] = labels["dose_low"]

    # the published Table 2 and what the audit says about it
    pub = published_table2()
    for key in ("or_severe_crs_female", "or_severe_crs_pre_ld_low", "or_mv2_severe_crs_female",
                "multivariable_wald_ci"):
        g[f"finding_{key}"] = finding_text(key)
    uni = pub[pub["model"] == "univariate"]
    g["n_uni_impossible"] = int(sum(finding(k).verdict == "impossible" for k in uni["finding"]))
    g["n_uni_published"] = len(uni)
    g["published_n"] = int(registry_value("n_patients"))
    g["published_severe"] = int(registry_value("t3_crs_grade3_4_n"))
    # published counts and counts of the paper's rows: public, never suppressed
    for key in ("n_uni_impossible", "n_uni_published", "published_n", "published_severe"):
        g[f"{key}_text"] = formatting.count(g[key])

    # IL-6: odds ratios
    il6 = il6_odds_ratios(patients, severe_grade=severe_grade, conf_level=conf_level)
    for r in il6.itertuples():
        k = r.outcome
        why = zero_cell_reason(r.a, r.b, r.c, r.d, "elevated IL-6",
                               "severe CRS" if k == "crs_severe" else "ICANS")
        g[f"il6_{k}_cells"] = (f"{count_text(r.a)}/{count_text(r.a + r.b)} with "
                               f"elevated IL-6 vs {count_text(r.c)}/"
                               f"{count_text(r.c + r.d)} without")
        g[f"il6_{k}_sample_or"] = float(r.sample_or)
        g[f"il6_{k}_sample_or_text"] = ratio_ci(r.sample_or, np.nan, np.nan, why)
        g[f"il6_{k}_profile"] = (f"{formatting.interval(r.profile_lower, r.profile_upper)} "
                                 f"(LR {formatting.p_phrase(r.lr_p)})")
        g[f"il6_{k}_fisher"] = _p(r.fisher_p)
        g[f"il6_{k}_fisher_p"] = float(r.fisher_p)
        g[f"il6_{k}_cond"] = ratio_ci(r.cond_or, r.cond_lower, r.cond_upper, "a zero cell")
        g[f"il6_{k}_firth"] = _with_p(r.or_firth, r.firth_lower, r.firth_upper, r.firth_p)
        g[f"il6_{k}_published"] = float(r.published_or)
        g[f"il6_{k}_separation"] = r.separation
        g[f"finding_{r.finding}"] = finding_text(r.finding)
    g["p_il6_published"] = registry_value("il6_or_p")

    # IL-6: ROC
    marker = patients["il6_peak_pg_per_ml"].astype(float)
    rocs = {k: roc_stats.roc_analysis(marker, outc[k], conf_level=conf_level)
            for k in ("crs_severe", "icans_any")}
    for k, r in rocs.items():
        g.update({f"roc_{k}_auc": r.auc, f"roc_{k}_se": r.se, f"roc_{k}_lower": r.lower,
                  f"roc_{k}_upper": r.upper, f"roc_{k}_n_pos": r.n_pos,
                  f"roc_{k}_n_neg": r.n_neg, f"roc_{k}_n_pos_text": count_text(r.n_pos),
                  f"roc_{k}_n_neg_text": count_text(r.n_neg)})
        g[f"roc_{k}_text"] = (
            f"{formatting.fixed(r.auc, 3)} ({lvl}% CI {formatting.fixed(r.lower, 3)}–"
            f"{formatting.fixed(r.upper, 3)})"
            + ("; the interval is degenerate because the marker separates the groups "
               "perfectly" if r.degenerate else ""))
        yd = r.youden()
        g[f"roc_{k}_youden_threshold"] = float(yd["threshold"])
        g[f"roc_{k}_youden"] = f"peak IL-6 ≥ {formatting.number(yd['threshold'])} pg/mL"
        # sensitivity and specificity are proportions of the patients with and without the
        # event: shown only when none of the counts behind them is suppressed as small
        tp = round(yd["sensitivity"] * r.n_pos)
        tn = round(yd["specificity"] * r.n_neg)
        if not any(is_small(v) for v in (tp, r.n_pos - tp, tn, r.n_neg - tn)):
            g[f"roc_{k}_youden"] += (
                f" (sensitivity {formatting.percent(100 * yd['sensitivity'])}, specificity "
                f"{formatting.percent(100 * yd['specificity'])})")
    thresholds = sorted(set(map(float, il6_thresholds))
                        | {float(rocs["crs_severe"].youden()["threshold"])})
    thr = {k: roc_stats.threshold_table(marker, outc[k], thresholds, conf_level=conf_level)
           for k in ("crs_severe", "icans_any")}

    # dose thresholds
    dose = dose_threshold_comparison(patients, (dose_cut_text, dose_cut),
                                     severe_grade=severe_grade, conf_level=conf_level)
    for r in dose.itertuples():
        tag = "text" if r.cut == dose_cut_text else "table"
        g[f"dose_{tag}_cut"] = r.cut
        g[f"dose_{tag}_risks"] = (f"{_risk(r.events_below, r.n_below)} below vs "
                                  f"{_risk(r.events_above, r.n_above)} at or above")
        g[f"dose_{tag}_p"] = (f"Wald {formatting.p_phrase(r.wald_p)}, likelihood-ratio "
                              f"{formatting.p_phrase(r.lr_p)}, Fisher "
                              f"{formatting.p_phrase(r.fisher_p)}")
        g[f"dose_{tag}_n_between"] = r.n_between
        g[f"dose_{tag}_n_between_text"] = count_text(r.n_between)
    g["dose_published_p"] = registry_value("dose_low_crs_p")
    g["finding_dose_cut"] = finding_text("dose_cut")

    g = plain_values(g)
    status = Statuses.compute("toxicity", g, changed)

    out = {
        "adverse_events": _ae_table(ae, status, lvl),
        "continuous": _continuous_table(summ, status),
        "screen": _screen_table(screen, status, lvl, severe_grade, screen_test,
                                screen_threshold),
        "burden": _burden_table(burden, lvl, severe_grade, mrd_cut),
        "table2": _table2(screen, tables, pub, status, labels, severe_grade, lvl),
        **{f"model_{m}": _model_table(m, fits[m], tables[m], status, labels, severe_grade, lvl)
           for m in (1, 2)},
        "il6_or": _il6_table(il6, status, lvl, severe_grade),
        "il6_thresholds": _threshold_table(thr, lvl, severe_grade),
        "dose": _dose_table(dose, status, lvl, severe_grade, dose_cut, dose_cut_text),
    }
    published_models = {
        f"Model {m}": pub[pub["model"] == f"model {m}"].assign(
            label=lambda d: d["term"].map(labels)).reset_index(drop=True) for m in (1, 2)}
    return ToxicityResults(
        glue=g, tables=out, grades=grades,
        models={f"Model {m}": tables[m] for m in (1, 2)}, published_models=published_models,
        rocs={f"CRS grade ≥{severe_grade}": rocs["crs_severe"], "ICANS": rocs["icans_any"]},
        statuses=status.chapter)


# --------------------------------------------------------------------------------------------
# The chapter's display tables
# --------------------------------------------------------------------------------------------

#: Columns of the adverse-event download computed from a row's count.
_AE_DERIVED: tuple[str, ...] = ("percent", "ci_low", "ci_high")
#: The cells of a 2×2 table in a download (nothing in those rows is a percentage of them).
_CELLS: dict[str, tuple[str, ...]] = {c: () for c in "abcd"}
#: The cells of a test's 2×2 table and the percentages computed from each.
_TEST_CELLS: dict[str, tuple[str, ...]] = {
    "tp": ("sensitivity", "sens_low", "sens_high", "ppv"),
    "fn": ("sensitivity", "sens_low", "sens_high", "npv"),
    "tn": ("specificity", "spec_low", "spec_high", "npv"),
    "fp": ("specificity", "spec_low", "spec_high", "ppv")}


def _ae_table(ae: pd.DataFrame, status: Statuses, lvl: int) -> DisplayTable:
    nn, pct, ci = [], [], []
    for r in ae.itertuples():
        count_key, pct_key = PUBLISHED_RATE_KEYS.get(r.key, (None, None))
        frac = f"{formatting.count(r.k)}/{formatting.count(r.n)}"
        p_text = formatting.fixed(r.percent) if r.n else DASH
        ci_text = f"{formatting.fixed(r.ci_low)}–{formatting.fixed(r.ci_high)}" if r.n else DASH
        # a small group (GVHD among the few patients with a previous HSCT): suppress_table
        # only hides a small numerator, so the cell is written here, without the percentage,
        # the interval (its width gives the group size away) and the status
        small_n = is_small(r.n)
        if small_n:
            frac, p_text, ci_text = f"{count_text(r.k)}/{count_text(r.n)}", DASH, DASH
        if count_key:
            c = registry_row(count_key)
            shown = (f"{formatting.count(c['value'])}/{formatting.count(c['n'])}"
                     if not pd.isna(c["n"]) else formatting.count(c["value"]))
            nn.append(Paired(frac, shown) if small_n
                      else status.cell(frac, shown, count_key, r.k))
        else:
            nn.append(Paired(frac))
        pct.append((Paired(p_text, published_text(pct_key)) if small_n
                    else status.cell(p_text, published_text(pct_key), pct_key, r.percent))
                   if pct_key else Paired(p_text))
        ci.append(ci_text)
    shown = pd.DataFrame({
        "": ae["section"].where(~ae["section"].duplicated(), ""),
        "Event": ae["event"], "n/N": nn, "%": pct, f"{lvl}% CI (exact)": ci})
    return DisplayTable(
        shown,
        "Reproduces the paper's Supplementary Table S3: adverse events within four weeks of "
        f"infusion, with exact (Clopper–Pearson) {lvl}% confidence intervals. N is the number "
        "of patients assessed; GVHD is counted among the patients with a previous HSCT only. "
        "Under each reproduced value, the paper's (its Results, Toxicity paragraph, n = "
        f"{published_text('n_patients')}) where it prints one, with the scorecard status as a "
        "dot.", suppress_columns(ae, {"k": _AE_DERIVED, "n": _AE_DERIVED}),
        "adverse_events")


def _continuous_table(summ: pd.DataFrame, status: Statuses) -> DisplayTable:
    cells = []
    for r in summ.itertuples():
        key = PUBLISHED_SUMMARY_KEYS.get(r.key)
        cells.append(status.cell(r.display, r.published, key, r.median) if key
                     else Paired(r.display))
    shown = pd.DataFrame({"Measure": summ["label"], "Unit": summ["unit"],
                          "n": summ["n"].map(formatting.count), "Median (range)": cells})
    return DisplayTable(
        shown, "Nadir neutrophil count and peak IL-6 (the peak and its day among the patients "
        "with elevated IL-6), with the paper's values (Results, Toxicity) under the "
        "reproduced ones.", summ, "continuous_adverse_events")


def _screen_table(screen: pd.DataFrame, status: Statuses, lvl: int, severe_grade: int,
                  screen_test: str, threshold: float) -> DisplayTable:
    or_cells, p_cells = [], []
    for r in screen.itertuples():
        why = _separated(r.infinite)
        est = ratio_ci(r.or_ml, r.wald_lower, r.wald_upper, why)
        p = _p(r.wald_p)
        key = TABLE2_KEYS.get(("univariate", r.term))
        if key:
            or_cells.append(status.cell(est, published_text(key), key, r.or_ml))
            p_cells.append(status.cell(p, published_text(key + "_p"), key + "_p", r.wald_p))
        else:
            or_cells += [Paired(est)]
            p_cells += [Paired(p)]
    shown = pd.DataFrame({
        "Factor": screen["label"],
        "Severe CRS: with / without factor": [_events(a, b - a, c, d - c) for a, b, c, d in zip(
            screen["events_exposed"], screen["n_exposed"], screen["events_unexposed"],
            screen["n_unexposed"])],
        "ML OR (Wald CI)": or_cells, "Wald p": p_cells,
        "Profile CI": [formatting.interval(lo, hi) for lo, hi in zip(
            screen["profile_lower"], screen["profile_upper"])],
        "LR p": screen["lr_p"].map(_p),
        "Firth OR (profile CI)": [ratio_ci(e, lo, hi) for e, lo, hi in zip(
            screen["or_firth"], screen["firth_lower"], screen["firth_upper"])],
        "Firth p": screen["firth_p"].map(_p),
        "Selected": screen["selected"].map({True: "yes", False: "no"}),
    })
    return DisplayTable(
        shown,
        f"Reproduces the paper's Supplementary Table S4: the univariate logistic screen for "
        f"CRS grade ≥{severe_grade}, one model per candidate factor. Odds ratios with {lvl}% "
        "intervals: maximum likelihood (ML) with the Wald interval and p-value that SPSS "
        "prints (the paper's value under it, from its Table 2, with the scorecard status), "
        "the profile-likelihood interval and likelihood-ratio (LR) p; Firth's penalised "
        "likelihood with the profile penalised-likelihood interval and penalised LR p. Under "
        "separation the ML odds ratio is 0 or ∞ and has no Wald test. Selected: "
        f"{TEST_NAMES[screen_test]} p < {formatting.number(threshold)}.",
        screen, "univariate_screen")


def _burden_table(burden: pd.DataFrame, lvl: int, severe_grade: int,
                  mrd_cut: float) -> DisplayTable:
    shown = pd.DataFrame({
        "Burden and outcome": burden["label"],
        "Events: high vs low burden": [_events(a, b, c, d) for a, b, c, d in zip(
            burden["a"], burden["b"], burden["c"], burden["d"])],
        "Sample OR": [ratio_ci(e, np.nan, np.nan, "a zero cell") for e in burden["sample_or"]],
        "Conditional MLE (exact CI)": [ratio_ci(e, lo, hi, "a zero cell") for e, lo, hi in zip(
            burden["cond_or"], burden["cond_lower"], burden["cond_upper"])],
        "Fisher p": burden["fisher_p"].map(_p),
    })
    return DisplayTable(
        shown,
        f"Severe CRS (grade ≥{severe_grade}) and ICANS by pre-infusion tumour burden (bone-"
        f"marrow MRD ≥ {format_mrd(mrd_cut)} vs below, before and after lymphodepletion): "
        "events, the sample odds ratio, the conditional maximum-likelihood odds ratio with its "
        f"exact {lvl}% interval and Fisher's exact p (as R's fisher.test). The paper states "
        "these associations without estimates.", suppress_columns(burden, _CELLS),
        "burden_and_outcomes")


def _table2(screen: pd.DataFrame, tables: Mapping[int, pd.DataFrame], pub: pd.DataFrame,
            status: Statuses, labels: Mapping[str, str], severe_grade: int,
            lvl: int) -> DisplayTable:
    sources = {"univariate": screen.set_index("term"),
               "model 1": tables[1].set_index("term"), "model 2": tables[2].set_index("term")}
    heads = {"univariate": "Univariate", "model 1": "Model 1", "model 2": "Model 2"}
    pubk = pub.set_index(["model", "term"])
    rows, data = [], []
    for term in TABLE2_TERMS:
        row: dict[str, Any] = {"Clinical factor": labels[term]}
        for model, t in sources.items():
            h = heads[model]
            key = TABLE2_KEYS.get((model, term))
            if key is None or term not in t.index:
                row[f"{h} OR ({lvl}% CI)"], row[f"{h} p"] = DASH, DASH
                continue
            r = t.loc[term]
            est = ratio_ci(r["or_ml"], r["wald_lower"], r["wald_upper"],
                           _separated(r["infinite"]))
            row[f"{h} OR ({lvl}% CI)"] = status.cell(est, published_text(key), key,
                                                    r["or_ml"])
            row[f"{h} p"] = status.cell(_p(r["wald_p"]), published_text(key + "_p"),
                                        key + "_p", r["wald_p"])
            p = pubk.loc[(model, term)]
            data.append({"model": model, "term": term, "label": labels[term],
                         "or": r["or_ml"], "wald_lower": r["wald_lower"],
                         "wald_upper": r["wald_upper"], "wald_p": r["wald_p"],
                         "published_or": p["or"], "published_lower": p["lower"],
                         "published_upper": p["upper"], "published_p": p["p"],
                         "status_or": status(key, r["or_ml"]),
                         "status_p": status(key + "_p", r["wald_p"]), "registry_key": key})
        rows.append(row)
    shown = pd.DataFrame(rows)
    # the paper's headers: each analysis's OR (95% CI) followed by its p
    shown.columns = ["Clinical factor"] + [c.replace(" OR", ": OR") if " OR " in c else "p"
                                           for c in shown.columns[1:]]
    return DisplayTable(
        shown,
        f"Reproduces the paper's Table 2: univariate screening (p < "
        f"{formatting.number(registry_value(SCREEN_P_KEY))}) and multivariable logistic "
        f"regression of clinical factors associated with CRS grade ≥{severe_grade}; model 1 "
        "with pre-LD MRD, model 2 with post-LD MRD (–: not in the model). Odds ratios by "
        f"maximum likelihood with Wald {lvl}% intervals and Wald p-values, as SPSS prints "
        "them; under each, the paper's value with the scorecard status as a dot (grey: no "
        "data can reproduce it, see the published Table 2 below). Profile-likelihood and "
        "Firth estimates of the same models follow in the chapter's own tables.",
        pd.DataFrame(data), "table2")


def _model_table(m: int, a: LogisticAnalysis, t: pd.DataFrame, status: Statuses,
                 labels: Mapping[str, str], severe_grade: int, lvl: int) -> DisplayTable:
    model = f"model {m}"
    or_cells, p_cells = [], []
    for r in t.itertuples():
        est = ratio_ci(r.or_ml, r.wald_lower, r.wald_upper, _separated(r.infinite))
        key = TABLE2_KEYS.get((model, r.term))
        if key:
            or_cells.append(status.cell(est, published_text(key), key, r.or_ml))
            p_cells.append(status.cell(_p(r.wald_p), published_text(key + "_p"), key + "_p",
                                       r.wald_p))
        else:
            or_cells.append(Paired(est))
            p_cells.append(Paired(_p(r.wald_p)))
    shown = pd.DataFrame({
        "Covariate": t["label"], "ML OR (Wald CI)": or_cells, "Wald p": p_cells,
        "Profile CI": [formatting.interval(lo, hi) for lo, hi in zip(
            t["profile_lower"], t["profile_upper"])],
        "LR p": t["lr_p"].map(_p),
        "Firth OR (profile CI)": [ratio_ci(e, lo, hi) for e, lo, hi in zip(
            t["or_firth"], t["firth_lower"], t["firth_upper"])],
        "Firth p": t["firth_p"].map(_p),
    })
    return DisplayTable(
        shown,
        f"Multivariable model {m} for CRS grade ≥{severe_grade} (the paper's Table 2, model "
        f"{m}), three ways: n = {count_text(a.n)}, {count_text(a.events)} events, "
        f"{formatting.count(a.n_covariates)} covariates, EPV "
        f"{'' if is_small(min(a.events, a.non_events)) else '= '}{_epv_text(a)}; "
        f"{describe_separation(a, labels)}. {lvl}% intervals: Wald and profile likelihood "
        "(maximum likelihood, ML), profile penalised likelihood (Firth); the paper's values "
        "(Wald, SPSS) under the ML ones.", t, f"model_{m}")


def _il6_table(il6: pd.DataFrame, status: Statuses, lvl: int, severe_grade: int) -> DisplayTable:
    cols: dict[str, list] = {"": [
        "Events: elevated vs not elevated IL-6", "Sample OR (ML), profile CI", "LR p",
        "Conditional MLE, exact CI", "Fisher p", "Firth OR, profile CI", "Firth p"]}
    for r in il6.itertuples():
        why = "a zero cell"
        sample = ratio_ci(r.sample_or, np.nan, np.nan, why)
        if formatting.estimable(r.sample_or):
            sample = formatting.estimate_ci(r.sample_or, r.profile_lower, r.profile_upper)
        else:
            sample = f"{sample}; profile CI {formatting.interval(r.profile_lower, r.profile_upper)}"
        cols[r.label] = [
            _events(r.a, r.b, r.c, r.d),
            status.cell(sample, published_text(r.published_key), r.published_key,
                        r.sample_or),
            _p(r.lr_p), ratio_ci(r.cond_or, r.cond_lower, r.cond_upper, why),
            status.cell(_p(r.fisher_p), published_text("il6_or_p"), "il6_or_p", r.fisher_p),
            ratio_ci(r.or_firth, r.firth_lower, r.firth_upper), _p(r.firth_p)]
    return DisplayTable(
        pd.DataFrame(cols),
        f"Odds ratios of an elevated IL-6 for CRS grade ≥{severe_grade} and for ICANS, {lvl}% "
        "intervals: the sample odds ratio with its profile-likelihood interval and "
        "likelihood-ratio (LR) test; Fisher's exact test with the conditional "
        "maximum-likelihood estimate and exact interval (as R's fisher.test); Firth's "
        "penalised estimate with its profile penalised-likelihood interval and penalised "
        "likelihood-ratio test. Under the odds ratio and Fisher's p, the paper's values "
        "(its Results, Toxicity paragraph: one p printed for both outcomes; the test is not "
        "stated) with the scorecard status.", suppress_columns(il6, _CELLS), "il6_odds_ratios")


def _threshold_table(thr: Mapping[str, pd.DataFrame], lvl: int, severe_grade: int
                     ) -> DisplayTable:
    names = {"crs_severe": f"CRS grade ≥{severe_grade}", "icans_any": "ICANS"}
    parts = []
    for k, t in thr.items():
        parts.append(pd.DataFrame({
            "Outcome": [names[k]] + [""] * (len(t) - 1),
            "IL-6 ≥ (pg/mL)": t["threshold"].map(formatting.number),
            "TP/FN/TN/FP": ["/".join(count_text(v) for v in cells) for cells in zip(
                t["tp"], t["fn"], t["tn"], t["fp"])],
            # each percentage only when none of the counts it is computed from is suppressed
            f"Sensitivity % ({lvl}% CI)": [_pct_if(e, lo, hi, tp, fn) for e, lo, hi, tp, fn in zip(
                t["sensitivity"], t["sens_low"], t["sens_high"], t["tp"], t["fn"])],
            f"Specificity % ({lvl}% CI)": [_pct_if(e, lo, hi, tn, fp) for e, lo, hi, tn, fp in zip(
                t["specificity"], t["spec_low"], t["spec_high"], t["tn"], t["fp"])],
            "PPV %": [_pct_if(e, np.nan, np.nan, tp, fp) for e, tp, fp in zip(
                t["ppv"], t["tp"], t["fp"])],
            "NPV %": [_pct_if(e, np.nan, np.nan, tn, fn) for e, tn, fn in zip(
                t["npv"], t["tn"], t["fn"])]}))
    data = pd.concat([t.assign(outcome=k) for k, t in thr.items()], ignore_index=True)
    return DisplayTable(
        pd.concat(parts, ignore_index=True),
        "Peak IL-6 as a test for severe CRS and for ICANS: a patient is test-positive when the "
        "peak is at or above the threshold. Exact (Clopper–Pearson) intervals; PPV and NPV at "
        "this cohort's prevalence. The list includes the Youden-optimal threshold for severe "
        "CRS.", suppress_columns(data, _TEST_CELLS), "il6_thresholds")


def _dose_table(dose: pd.DataFrame, status: Statuses, lvl: int, severe_grade: int,
                dose_cut: float, dose_cut_text: float) -> DisplayTable:
    p_cells = []
    for r in dose.itertuples():
        key = {dose_cut: "or_severe_crs_dose_low_p", dose_cut_text: "dose_low_crs_p"}.get(r.cut)
        p_cells.append(status.cell(_p(r.wald_p), published_text(key), key, r.wald_p)
                       if key else Paired(_p(r.wald_p)))
    shown = pd.DataFrame({
        "Dose cut (×10⁶/kg)": dose["cut"].map(lambda v: formatting.fixed(v, 2)),
        "Below: severe CRS": [_risk(a, b) for a, b in zip(dose["events_below"],
                                                          dose["n_below"])],
        "At or above": [_risk(a, b) for a, b in zip(dose["events_above"], dose["n_above"])],
        "ML OR (Wald CI)": [ratio_ci(e, lo, hi, _separated(i)) for e, lo, hi, i in zip(
            dose["or_ml"], dose["wald_lower"], dose["wald_upper"], dose["infinite"])],
        "Wald p": p_cells,
        "LR p": dose["lr_p"].map(_p),
        "Fisher p": dose["fisher_p"].map(_p),
        "Firth OR (profile CI)": [ratio_ci(e, lo, hi) for e, lo, hi in zip(
            dose["or_firth"], dose["firth_lower"], dose["firth_upper"])],
    })
    return DisplayTable(
        shown,
        f"Severe CRS (grade ≥{severe_grade}) below and at or above the two dose thresholds the "
        f"paper uses. The odds ratio is for a dose below the threshold; {lvl}% intervals. "
        "Under the Wald p, the paper's p-value (Table 2 at its threshold, the text at its "
        "own) with the scorecard status.", suppress_columns(dose, {
            **_CELLS, "events_below": ("risk_below",), "n_below": ("risk_below",),
            "events_above": ("risk_above",), "n_above": ("risk_above",)}), "dose_threshold")
