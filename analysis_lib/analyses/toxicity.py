"""Toxicity: adverse events in the first four weeks, risk models for grade >= 3 cytokine
release syndrome (CRS), and interleukin-6 (IL-6) as a marker of severe CRS and ICANS.

What the paper reports and where (Wang et al. 2025, Results, "Toxicity"):

* Supplementary Table S3, summarised in the text: adverse events within 4 weeks of
  infusion (:func:`adverse_event_table`, :func:`continuous_summaries`,
  :func:`grade_distribution`).
* Table 2 and Supplementary Table S4: a univariate logistic screen with a p < 0.2 rule, then
  two multivariable models for grade >= 3 CRS, one with pre-lymphodepletion (LD) MRD and one
  with post-LD MRD (:func:`risk_factors`, :func:`univariate_screen`, :func:`risk_model`,
  :data:`MODEL_1`, :data:`MODEL_2`).
* Odds ratios of an elevated IL-6 for severe CRS (5.250) and ICANS (9.000)
  (:func:`il6_odds_ratios`), and the dose-threshold comparison (:func:`dose_threshold_comparison`).

Beyond the paper, every model reports its events per variable, a linear-programming check
for separation, profile-likelihood intervals next to the Wald ones, and Firth's penalised
estimates with profile penalised-likelihood intervals (:mod:`analysis_lib.stats.logistic`). IL-6
is evaluated as a classifier: ROC curve, AUC with a DeLong confidence interval, and
sensitivity/specificity by threshold (:func:`roc_analysis`, :func:`threshold_table`).

Several published toxicity numbers cannot be reproduced by any data set with the paper's own
margins; :mod:`analysis_lib.paper.feasibility` holds that arithmetic and :func:`finding` returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..core.units import format_mrd
from ..paper import feasibility
from ..paper.feasibility import FINDINGS, Finding
from ..stats.contingency import _binary_comparison
from ..stats.logistic import LogisticAnalysis, analyse_logistic
from ..stats.proportions import clopper_pearson

#: Grade from which CRS counts as severe (ASTCT 2018 grades 3-4, as the paper's "≥3").
SEVERE_CRS_GRADE = 3

#: Covariates of the paper's multivariable models for grade >= 3 CRS (Table 2, footnotes # and
#: *): model 1 with pre-LD MRD, model 2 with post-LD MRD.
MODEL_1: tuple[str, ...] = ("female", "no_prior_hsct", "pre_ld_mrd_low", "dose_low")
MODEL_2: tuple[str, ...] = ("female", "no_prior_hsct", "post_ld_mrd_low", "dose_low")

# --------------------------------------------------------------------------------------------
# The published numbers (Results, "Toxicity"; n = 50)
# --------------------------------------------------------------------------------------------

#: Rates as printed: key -> (k, n, where in the paper). ``k`` is given or implied by the
#: printed percentage of 50 (68.0% = 34/50).
PUBLISHED_RATES: dict[str, tuple[int, int, str]] = {
    "crs_any": (34, 50, "Results, Toxicity: CRS 68.0%"),
    "crs_severe": (feasibility.SEVERE_CRS, 50, "Results, Toxicity: grade ≥3 CRS 16.0%"),
    "icans_any": (feasibility.ICANS, 50, "Results, Toxicity: ICANS 10.0%"),
    "neutropenia_g4": (24, 50, "Results, Toxicity: grade 4 neutropenia 48% (24/50)"),
    "infection_any": (9, 50, "Results, Toxicity: infections 9 (18.0%)"),
    "infection_bacterial": (4, 50, "Results, Toxicity: bacterial bloodstream n = 4"),
    "infection_cmv": (2, 50, "Results, Toxicity: CMV n = 2"),
    "infection_ebv": (1, 50, "Results, Toxicity: EBV n = 1"),
    "infection_fungal": (2, 50, "Results, Toxicity: invasive fungal n = 2"),
    "hlh": (1, 50, "Results, Toxicity: HLH in one patient (2%)"),
    "tocilizumab": (14, 50, "Results, Toxicity: tocilizumab 14 (28.0%)"),
    "corticosteroids": (7, 50, "Results, Toxicity: corticosteroids 7 (14.0%)"),
    "gvhd": (0, 5, "Results, Toxicity: no GVHD in the 5 with prior HSCT"),
    "il6_elevated": (feasibility.IL6_ELEVATED, 50, "Results, Toxicity: IL-6 elevated 78% (39/50)"),
}

#: Results, "Toxicity" and Table 2 title: univariate factors with p < 0.2 were screened in.
PUBLISHED_SCREEN_P: float = 0.2

#: Medians and ranges as printed: key -> (median, minimum, maximum, display, where).
PUBLISHED_SUMMARIES: dict[str, tuple[float, float, float, str, str]] = {
    "anc_nadir": (0.53, 0.05, 1.45, "0.53 (0.05–1.45)",
                  "Results, Toxicity: nadir ANC ×10⁹/L"),
    "il6_peak": (33.3, 7.6, 5000.0, "33.3 (7.6–>5000)",
                 "Results, Toxicity: peak IL-6 pg/mL (patients with elevated IL-6)"),
    "il6_peak_day": (8.0, 1.0, 22.0, "8 (1–22)", "Results, Toxicity: day of peak IL-6"),
}

_FINDINGS: dict[str, Finding] = {f.key: f for f in FINDINGS}


def finding(key: str) -> Finding:
    """The feasibility finding ``key`` (:data:`analysis_lib.paper.feasibility.FINDINGS`)."""
    return _FINDINGS[key]


# --------------------------------------------------------------------------------------------
# Formatting for tables and text
# --------------------------------------------------------------------------------------------

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def format_ratio(x: float, digits: int = 3) -> str:
    """An odds ratio for display: ``∞``, ``0`` (an infinite log-odds), ``–`` for missing;
    ``digits`` significant digits from 0.001 to 1000 (``0.158``, ``12.7``), thousands
    separators above (``1,234``) and powers of ten below (``5.2×10⁻⁴``); trailing zeros
    are kept (``0.130``, ``2.00``)."""
    if x is None or np.isnan(x):
        return "–"
    if np.isinf(x):
        return "∞"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) < 0.001:
        mant, exp = f"{x:.{max(digits - 1, 1) - 1}e}".split("e")
        return f"{mant}×10{str(int(exp)).translate(_SUPERSCRIPT)}"
    out = f"{x:#.{digits}g}".rstrip(".")
    return f"{x:,.0f}" if "e" in out else out


def format_ci(lo: float, hi: float, digits: int = 3) -> str:
    """``0.014–1.81``; infinite limits as ``0`` and ``∞``."""
    if np.isnan(lo) and np.isnan(hi):
        return "–"
    return f"{format_ratio(lo, digits)}–{format_ratio(hi, digits)}"


def format_p(p: float) -> str:
    """``<0.001``, else three decimals; ``–`` for missing."""
    if p is None or np.isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


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


def adverse_event_table(patients: pd.DataFrame, *, severe_grade: int = SEVERE_CRS_GRADE,
                        conf_level: float = 0.95) -> pd.DataFrame:
    """Adverse events within 4 weeks of infusion (the equivalent of Supplementary Table S3).

    One row per event: ``key``, ``section``, ``event``, ``k`` (patients with it), ``n``
    (patients assessed: non-missing values; for GVHD, the patients with prior HSCT),
    ``percent``, exact Clopper–Pearson limits ``ci_low``/``ci_high`` (percent), ``display``
    and the published value (``published``, ``published_k``, ``published_n``; empty where the
    paper gives none). "Any infection" counts patients with at least one of the four types.
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
        pub = PUBLISHED_RATES.get(ev.key)
        rows.append({
            "key": ev.key, "section": ev.section, "event": ev.label, "k": k, "n": n,
            "percent": 100 * k / n if n else np.nan, "ci_low": 100 * lo, "ci_high": 100 * hi,
            "display": f"{k}/{n} ({100 * k / n:.1f}%)" if n else "–",
            "published": f"{pub[0]}/{pub[1]} ({100 * pub[0] / pub[1]:.1f}%)" if pub else "",
            "published_k": pub[0] if pub else np.nan, "published_n": pub[1] if pub else np.nan,
        })
    return pd.DataFrame(rows)


def continuous_summaries(patients: pd.DataFrame) -> pd.DataFrame:
    """Medians and ranges: nadir ANC (all patients), peak IL-6 and its day (patients with
    elevated IL-6, as the paper's range 7.6 to >5000 implies).

    A peak recorded above the assay's upper limit (``il6_peak_above_uloq``) is a lower
    bound; the maximum is then shown as ``>limit`` (``max_censored`` True). Columns: ``key``,
    ``label``, ``unit``, ``n``, ``median``, ``min``, ``max``, ``max_censored``, ``display``,
    ``published``.
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
        top = f">{vmax:g}" if cens else f"{vmax:.{digits}f}"
        pub = PUBLISHED_SUMMARIES.get(key)
        rows.append({"key": key, "label": label, "unit": unit, "n": int(v.size), "median": med,
                     "min": float(v.min()) if v.size else np.nan, "max": vmax,
                     "max_censored": cens,
                     "display": (f"{med:.{digits}f} ({v.min():.{digits}f}–{top})" if v.size
                                 else "–"),
                     "published": pub[3] if pub else ""})
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
        "age_over": f"Age > {age_cut:g} years",
        "high_genetic_risk": "High cytogenetic risk",
        "no_prior_hsct": "No HSCT history",
        "no_prior_cart": "No CAR-T history",
        "chemo_intolerance": "Chemotherapy intolerance",
        "pre_ld_mrd_low": f"Pre-LD MRD < {format_mrd(mrd_cut)}",
        "post_ld_mrd_low": f"Post-LD MRD < {format_mrd(mrd_cut)}",
        "dose_low": f"CAR-T dose < {dose_cut:g} ×10⁶/kg",
    }
    return frame, labels


def published_table2() -> pd.DataFrame:
    """Table 2 as printed: ``model`` (``univariate``, ``model 1``, ``model 2``), ``term``
    (a key of :func:`risk_factors`), ``or``, ``lower``, ``upper``, ``p`` and the feasibility
    finding that concerns the row (``finding``, empty if none)."""
    uni_key = {"or_severe_crs_female": "female", "or_severe_crs_no_prior_hsct": "no_prior_hsct",
               "or_severe_crs_pre_ld_low": "pre_ld_mrd_low",
               "or_severe_crs_post_ld_low": "post_ld_mrd_low",
               "or_severe_crs_dose_low": "dose_low"}
    rows = [{"model": "univariate", "term": uni_key[key], "or": est, "lower": lo, "upper": hi,
             "p": p, "finding": key}
            for key, _label, _n, est, lo, hi, p in feasibility.TABLE2_UNIVARIATE]
    mv_key = {"female": "female", "no HSCT history": "no_prior_hsct",
              "pre-LD MRD < 1e-3": "pre_ld_mrd_low", "post-LD MRD < 1e-3": "post_ld_mrd_low",
              "dose < 3.68": "dose_low"}
    for row, est, lo, hi, p in feasibility.MULTIVARIABLE_ROWS:
        if not row.startswith("Table 2 model "):
            continue
        model, label = row.removeprefix("Table 2 ").split(", ", 1)
        rows.append({"model": model, "term": mv_key[label], "or": est, "lower": lo,
                     "upper": hi, "p": p, "finding": "multivariable_wald_ci"})
    est, lo, hi, p = feasibility.MV2_FEMALE
    rows.append({"model": "model 2", "term": "female", "or": est, "lower": lo, "upper": hi,
                 "p": p, "finding": "or_mv2_severe_crs_female"})
    order = {"univariate": 0, "model 1": 1, "model 2": 2}
    out = pd.DataFrame(rows)
    term_order = {t: i for i, t in enumerate(("female", "no_prior_hsct", "pre_ld_mrd_low",
                                              "post_ld_mrd_low", "dose_low"))}
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
    penalised-likelihood interval, the separation kind, and the published OR with the
    feasibility finding that shows it unattainable (:func:`finding`). Patients with a missing
    IL-6 status are left out (``n``).
    """
    o = outcomes(patients, severe_grade)
    keep = patients["il6_elevated"].notna()
    exposed = patients.loc[keep, "il6_elevated"].astype(bool).to_numpy()
    rows = []
    for key, label, published, fkey in (
            ("crs_severe", f"CRS grade ≥{severe_grade}", feasibility.OR_IL6_SEVERE_CRS,
             "il6_or_severe_crs"),
            ("icans_any", "ICANS", feasibility.OR_IL6_ICANS, "il6_or_icans")):
        r = _binary_comparison(exposed, o.loc[keep, key].to_numpy(), conf_level)
        rows.append({"outcome": key, "label": label, "n": int(keep.sum()), **r,
                     "published_or": published, "finding": fkey})
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
    perfectly (:func:`analysis_lib.book.report.glue_estimates` glues it for the scorecard)."""
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
                        groups.append(f"no events among the {n_} patients {side} it")
                    elif e_ == n_:
                        groups.append(f"events in all {n_} patients {side} it")
                if groups:
                    why += " (" + "; ".join(groups) + ")"
        rows.append({"slug": term, "term": label, "estimate": float(r.get("or_ml", np.nan)),
                     "p": float(r.get("wald_p", np.nan)), "not_estimable": why})
    return pd.DataFrame(rows, columns=["slug", "term", "estimate", "p", "not_estimable"])


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
    patients are predicted perfectly and which odds ratios are infinite (∞) or zero.
    """
    sep = analysis.separation
    labels = labels or {}
    if not sep.separated:
        return "no separation: every maximum-likelihood estimate is finite"
    what = {"+inf": "OR = ∞", "-inf": "OR = 0", "±inf": "OR not determined"}
    terms = [t for t in sep.infinite_terms if t != "(Intercept)"]
    head = (f"{sep.kind} separation ({sep.n_separated} of {sep.n} patients predicted "
            "perfectly)")
    if not terms:
        return head + "; only the intercept's maximum-likelihood estimate is infinite"
    return (head + ": the maximum-likelihood estimate is infinite for "
            + ", ".join(f"{labels.get(t, t)} ({what[sep.infinite(t)]})" for t in terms))
