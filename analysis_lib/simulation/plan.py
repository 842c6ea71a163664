"""The paper's analysis plan on one simulated trial, by the library functions the chapters use,
recorded as tidy rows (one per estimate).

Nothing is re-implemented here: every estimate comes from the function the book's chapter
calls, with the chapter's default options (:class:`PlanOptions`; a test checks them against
the chapters' parameter cells).

* ``cox_lfs``, ``cox_os``: for LFS and for OS, the candidate covariates of Supplementary
  Table S2 (:func:`analysis_lib.analyses.survival.candidate_covariates`), the univariate
  screen with the p < 0.2 rule (:func:`~analysis_lib.analyses.survival.univariate_screen`,
  :func:`~analysis_lib.analyses.survival.select_terms`) and the multivariable Cox model of the
  selected terms (:func:`~analysis_lib.analyses.survival.multivariable_cox`) with its exact
  monotone-likelihood check (:func:`analysis_lib.stats.cox.not_estimable`);
* ``hsct``: bridging HSCT fixed at infusion (as published), as a time-dependent covariate and
  at the 6-month landmark (:func:`~analysis_lib.analyses.survival.hsct_effect`);
* ``km``: 5-year OS and LFS, Kaplan-Meier with plain, log and log-log intervals
  (:func:`analysis_lib.stats.survival.kaplan_meier`);
* ``logistic``: Table 2's two models of severe CRS
  (:data:`analysis_lib.analyses.toxicity.MODEL_1`, ``MODEL_2``, on
  :func:`~analysis_lib.analyses.toxicity.risk_factors`) as
  :func:`~analysis_lib.analyses.toxicity.risk_model` fits them (:func:`logistic_model`):
  maximum likelihood with Wald intervals, Firth with profile penalised-likelihood intervals,
  separation by linear programming;
* ``table3``: Table 3, Mann-Whitney tests of Cmax, AUC0-28d and Tlast by clinical factor
  (:func:`analysis_lib.analyses.kinetics.kinetic_parameters`,
  :func:`~analysis_lib.analyses.kinetics.table3`).

The toxicity chapter's univariate logistic screen is not run: Table 2's models have fixed
covariates (the paper's), so the screen does not feed them.

A component that raises is recorded as one row with ``term = "(error)"`` and the exception in
``note``, and the other components still run: failures are an operating characteristic too.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..analyses import kinetics as kin
from ..analyses import survival as sa
from ..analyses import toxicity as tox
from ..core.units import DAYS_PER_YEAR
from ..stats import cox
from ..stats import logistic as lg
from ..stats import survival as sv
from ..synthetic.generator import SyntheticCohort
from .scenarios import COMPONENTS

__all__ = ["PlanOptions", "RESULT_COLUMNS", "run_plan", "empty_rows", "ENDPOINTS",
           "KM_CONF_TYPES"]

#: End points of the survival analyses.
ENDPOINTS: tuple[str, ...] = ("lfs", "os")
#: Confidence-interval types of the Kaplan-Meier estimates.
KM_CONF_TYPES: tuple[str, ...] = ("plain", "log", "log-log")


@dataclass(frozen=True)
class PlanOptions:
    """The plan's options: the chapters' defaults (``notebooks/survival.py``,
    ``notebooks/toxicity.py``), checked by ``tests/test_simulation.py``.

    Attributes
    ----------
    conf_level : confidence level of every interval.
    screen_p : the univariate screen's threshold (p < 0.2, Supplementary Table S2).
    age_cut_years, dose_cut, mrd_cuts, mrd_negative_below, bca_unit_days : the candidate
        covariates' cut-points and units (years, 10⁶ cells/kg, fractions, days).
    model_mrd_cut : MRD cut of Table 2's models (fraction).
    horizon_months : the survival horizon (5 years = 60 months).
    landmark_months : the landmark of the HSCT analysis (months).
    alpha : significance level at which an effect is "declared" (p < 0.05).
    """
    conf_level: float = 0.95
    screen_p: float = 0.2
    age_cut_years: float = 10.0
    dose_cut: float = 3.68
    mrd_cuts: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
    mrd_negative_below: float = 1e-4
    bca_unit_days: float = DAYS_PER_YEAR / 12
    model_mrd_cut: float = 1e-3
    horizon_months: float = 60.0
    landmark_months: float = 6.0
    alpha: float = 0.05


#: Columns of the per-replicate results, in order, with their types (pyarrow names).
RESULT_COLUMNS: dict[str, str] = {
    "replicate": "int32",      # replicate index within the study
    "analysis": "string",      # e.g. lfs_screen, lfs_mv, hsct_os, km_os, crs_model1_ml, table3
    "term": "string",          # term (slug) / CI type / HSCT analysis / Table 3 factor
    "coef": "string",          # coefficient (slug) / Table 3 parameter; "" when one per term
    "estimate": "float64",     # HR, OR, S(t), ratio of medians, or a count (cohort rows)
    "lower": "float64",        # confidence limits on the estimate's scale
    "upper": "float64",
    "p": "float64",            # p-value of the coefficient (Wald, LR or Mann-Whitney)
    "p_term": "float64",       # joint p of the term (Cox: joint Wald; else = p)
    "selected": "bool",        # screen: passed p < 0.2 (null where not applicable)
    "infinite": "bool",        # ML estimate infinite (monotone likelihood / separation)
    "converged": "bool",       # the fit converged (null where not applicable)
    "n_obs": "int32",          # patients used / in the first group (Table 3)
    "events": "int32",         # events / patients in the second group (Table 3)
    "n_group": "int32",        # exposed (HSCT) patients; null otherwise
    "epv": "float64",          # events per estimated coefficient of the model
    "note": "string",          # separation kind, test method, or an error message
}


def empty_rows() -> pd.DataFrame:
    """An empty results frame with :data:`RESULT_COLUMNS`."""
    return pd.DataFrame({c: pd.Series([], dtype=_pandas_dtype(t))
                         for c, t in RESULT_COLUMNS.items()})


def _pandas_dtype(t: str) -> str:
    return {"int32": "Int32", "float64": "float64", "string": "string",
            "bool": "boolean"}[t]


def _row(analysis: str, term: str, **values: object) -> dict[str, object]:
    out: dict[str, object] = {"analysis": analysis, "term": term, "coef": ""}
    out.update(values)
    return out


def _f(x: object) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return v


# --------------------------------------------------------------------------------------------
# Components
# --------------------------------------------------------------------------------------------

def _cohort_rows(patients: pd.DataFrame, ep: pd.DataFrame) -> list[dict]:
    sev = tox.outcomes(patients)["crs_severe"]
    facts = {"lfs_events": int(ep["lfs_event"].sum()), "os_events": int(ep["os_event"].sum()),
             "relapses": int(patients["relapse"].astype(bool).sum()),
             "hsct": int(patients["hsct_after"].astype(bool).sum()),
             "severe_crs": int(sev.sum()), "female": int((patients["sex"] == "female").sum())}
    return [_row("cohort", k, estimate=float(v), n_obs=len(patients)) for k, v in facts.items()]


def _cox_rows(design: cox.Design, ep: pd.DataFrame, endpoint: str, o: PlanOptions
              ) -> list[dict]:
    t, e = ep[f"{endpoint}_time"], ep[f"{endpoint}_event"]
    screen = sa.univariate_screen(design, t, e, threshold=o.screen_p, conf_level=o.conf_level)
    rows = []
    for r in screen.itertuples():
        rows.append(_row(f"{endpoint}_screen", sa.slug(r.term), coef=sa.slug(r.column),
                         estimate=_f(r.hr), lower=_f(r.lower), upper=_f(r.upper), p=_f(r.p),
                         p_term=_f(r.term_p), selected=bool(r.selected),
                         infinite=bool(r.infinite), n_obs=int(r.n), events=int(r.events)))
    selected = sa.select_terms(screen)
    if not selected:
        rows.append(_row(f"{endpoint}_mv", "(none selected)", n_obs=int(len(t)),
                         events=int(np.asarray(e).sum())))
        return rows
    fit = sa.multivariable_cox(design, selected, t, e)
    why = cox.not_estimable(fit)
    hr = cox.hazard_ratio_table(fit, design, o.conf_level)
    term_p = fit.term_p_values()
    for r in hr.itertuples():
        rows.append(_row(f"{endpoint}_mv", sa.slug(r.term_label), coef=sa.slug(r.term),
                         estimate=_f(r.hr), lower=_f(r.lower), upper=_f(r.upper), p=_f(r.p),
                         p_term=_f(term_p[r.term_label]), selected=True,
                         infinite=r.term in why, converged=bool(fit.converged), n_obs=int(fit.n),
                         events=int(fit.n_events), epv=_f(fit.events_per_variable),
                         note="not estimable" if r.term in why else ""))
    return rows


def _hsct_rows(ep: pd.DataFrame, endpoint: str, o: PlanOptions) -> list[dict]:
    table = sa.hsct_effect(ep[f"{endpoint}_time"], ep[f"{endpoint}_event"], ep["hsct_time"],
                           landmarks=[o.landmark_months], conf_level=o.conf_level)
    rows = []
    for r in table.itertuples():
        rows.append(_row(f"hsct_{endpoint}", str(r.analysis), estimate=_f(r.hr),
                         lower=_f(r.lower), upper=_f(r.upper), p=_f(r.p), p_term=_f(r.p),
                         infinite=bool(r.infinite), n_obs=int(r.n), events=int(r.events),
                         n_group=int(r.n_hsct)))
    return rows


def _km_rows(ep: pd.DataFrame, endpoint: str, o: PlanOptions) -> list[dict]:
    km = sv.kaplan_meier(ep[f"{endpoint}_time"], ep[f"{endpoint}_event"], o.conf_level)
    rows = []
    for ct in KM_CONF_TYPES:
        s, lo, hi = km.survival_at(o.horizon_months, ct)
        rows.append(_row(f"km_{endpoint}", ct, estimate=s, lower=lo, upper=hi,
                         n_obs=int(len(ep)), events=int(ep[f"{endpoint}_event"].sum())))
    return rows


def logistic_model(factors: pd.DataFrame, y: np.ndarray, terms: Sequence[str],
                   conf_level: float = 0.95) -> tuple[pd.DataFrame, dict[str, object]]:
    """One of Table 2's models as :func:`analysis_lib.analyses.toxicity.risk_model` fits it,
    from the same functions of :mod:`analysis_lib.stats.logistic` that
    :func:`~analysis_lib.stats.logistic.analyse_logistic` calls, less the ML
    profile-likelihood intervals (three quarters of its cost, and no question of the study
    uses them): maximum likelihood with Wald intervals and p (what SPSS prints), separation by
    linear programming, Firth's estimates with profile penalised-likelihood intervals and
    penalised likelihood-ratio p. The odds ratios follow
    :meth:`~analysis_lib.stats.logistic.LogisticAnalysis.odds_ratios` (an infinite ML estimate
    has no Wald interval). Returns one row per covariate (``term``, ``infinite``, ``or_ml``,
    ``wald_lower``, ``wald_upper``, ``wald_p``, ``or_firth``, ``firth_lower``,
    ``firth_upper``, ``firth_p``) and the model's facts (``n``, ``events``, ``epv``,
    ``separation``, ``ml_converged``, ``firth_converged``). Where the ML fit itself fails
    (a singular information matrix at the point a diverging fit stopped, which
    :func:`~analysis_lib.analyses.toxicity.risk_model` raises on), its Wald columns are
    missing and ``ml_converged`` is False; Firth and the separation check are still
    reported."""
    X = factors[list(terms)]
    yv = np.asarray(y, dtype=float)
    sep = lg.detect_separation(X, yv)
    names = sep.names
    try:
        ml = lg.logistic_regression(X, yv, max_iter=100)
        wald = lg.wald_confint(ml.coef, ml.se, ml.names, conf_level)
        ml_ok = True
    except np.linalg.LinAlgError:
        # the information matrix is singular where the diverging fit stopped (separation):
        # no Wald statistics; Firth and the separation check still run
        wald, ml_ok = None, False
    firth = lg.firth_logistic_regression(X, yv)
    fprof = lg.firth_profile_confint(X, yv, conf_level=conf_level)
    rows = [{"term": term, **lg.odds_ratio_columns(sep.infinite(term),
                                                    wald.iloc[j] if ml_ok else None,
                                                    fprof.iloc[j])}
            for j, term in enumerate(names[1:], start=1)]
    events = int(yv.sum())
    facts = {"n": len(yv), "events": events,
             "epv": min(events, len(yv) - events) / (len(names) - 1),
             "separation": sep.kind, "ml_converged": bool(ml_ok and ml.converged),
             "firth_converged": firth.converged}
    return pd.DataFrame(rows), facts


def _logistic_rows(patients: pd.DataFrame, o: PlanOptions) -> list[dict]:
    factors, _ = tox.risk_factors(patients, mrd_cut=o.model_mrd_cut, dose_cut=o.dose_cut,
                                  age_cut=o.age_cut_years)
    y = tox.outcomes(patients)["crs_severe"].astype(float).to_numpy()
    rows = []
    for m, terms in ((1, tox.MODEL_1), (2, tox.MODEL_2)):
        name = f"crs_model{m}"
        try:
            table, facts = logistic_model(factors, y, terms, o.conf_level)
        except Exception as exc:  # noqa: BLE001 - recorded, the plan goes on
            rows.append(_row(name, "(error)", note=_error_text(exc), n_obs=len(y),
                             events=int(y.sum())))
            continue
        common = dict(n_obs=int(facts["n"]), events=int(facts["events"]), epv=_f(facts["epv"]),
                      note=str(facts["separation"]))
        for r in table.itertuples():
            rows.append(_row(f"{name}_ml", r.term, estimate=_f(r.or_ml), lower=_f(r.wald_lower),
                             upper=_f(r.wald_upper), p=_f(r.wald_p), p_term=_f(r.wald_p),
                             infinite=bool(r.infinite),
                             converged=bool(facts["ml_converged"]), **common))
            rows.append(_row(f"{name}_firth", r.term, estimate=_f(r.or_firth),
                             lower=_f(r.firth_lower), upper=_f(r.firth_upper), p=_f(r.firth_p),
                             p_term=_f(r.firth_p), infinite=False,
                             converged=bool(facts["firth_converged"]), **common))
    return rows


def _table3_rows(patients: pd.DataFrame, kinetics: pd.DataFrame, o: PlanOptions) -> list[dict]:
    params = kin.kinetic_parameters(kinetics, patients, mrd_negative_below=o.mrd_negative_below)
    t3 = kin.table3(params, kin.table3_factors(age_cut=o.age_cut_years, mrd_cuts=o.mrd_cuts,
                                               dose_threshold=o.dose_cut))
    rows = []
    for key, part in t3.groupby("factor", sort=False):
        a, b = part.iloc[0], part.iloc[1]
        for col, short in kin.TABLE3_PARAMETERS:
            ma, mb = _f(a[f"{short}_median"]), _f(b[f"{short}_median"])
            ratio = ma / mb if mb > 0 else math.nan
            rows.append(_row("table3", str(key), coef=short, estimate=ratio,
                             p=_f(a[f"p_{short}"]), p_term=_f(a[f"p_{short}"]),
                             n_obs=int(a[f"{short}_n"]), events=int(b[f"{short}_n"]),
                             note=str(a[f"method_{short}"])))
    return rows


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------

def run_plan(cohort: SyntheticCohort, components: Sequence[str] = COMPONENTS,
             options: PlanOptions = PlanOptions()) -> pd.DataFrame:
    """Run the parts ``components`` of the paper's plan on one cohort; one row per estimate
    (columns :data:`RESULT_COLUMNS` except ``replicate``).

    Rows (``analysis``: ``term``):

    * ``cohort``: ``lfs_events``, ``os_events``, ``relapses``, ``hsct``, ``severe_crs``,
      ``female`` (counts, in ``estimate``);
    * ``lfs_screen``, ``os_screen``: every candidate coefficient (HR, Wald CI and p, the
      term's joint p, ``selected``, ``infinite``); ``lfs_mv``, ``os_mv``: the multivariable
      model's coefficients, or one row ``(none selected)``;
    * ``hsct_lfs``, ``hsct_os``: ``fixed``, ``time-dependent``, ``landmark`` (HR, CI, p);
    * ``km_lfs``, ``km_os``: ``plain``, ``log``, ``log-log`` (S at the horizon and limits);
    * ``crs_model1_ml``/``_firth`` and the same for model 2: each covariate's OR with Wald
      (ML) or profile penalised-likelihood (Firth) limits and p, the separation kind in
      ``note``;
    * ``table3``: factor (``term``) by parameter (``coef``: ``cmax``, ``auc``, ``tlast``):
      ratio of the first level's median to the second's, Mann-Whitney p, group sizes in
      ``n`` and ``events``, the method in ``note``.
    """
    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown component(s) {unknown}; known: {COMPONENTS}")
    p, k = cohort.patients, cohort.kinetics
    rows: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and overflow warnings: recorded as flags
        with np.errstate(all="ignore"):
            ep = sa.endpoints(p)
            rows += _cohort_rows(p, ep)
            steps: list[tuple[str, Callable[[], list[dict]]]] = []
            cox_endpoints = [e for e in ENDPOINTS if f"cox_{e}" in components]
            if cox_endpoints:
                design: list[cox.Design] = []

                def covariates() -> list[dict]:
                    design.append(sa.candidate_covariates(
                        p, k, age_cut=options.age_cut_years, dose_cut=options.dose_cut,
                        mrd_cuts=options.mrd_cuts, mrd_negative_below=options.mrd_negative_below,
                        bca_unit_days=options.bca_unit_days))
                    return []
                steps.append(("cox", covariates))
                # without covariates (their error is recorded) the screens cannot run
                steps += [(f"{e}_screen", lambda e=e: (_cox_rows(design[0], ep, e, options)
                                                        if design else []))
                          for e in cox_endpoints]
            if "hsct" in components:
                steps += [(f"hsct_{e}", lambda e=e: _hsct_rows(ep, e, options))
                          for e in ENDPOINTS]
            if "km" in components:
                steps += [(f"km_{e}", lambda e=e: _km_rows(ep, e, options)) for e in ENDPOINTS]
            if "logistic" in components:
                steps.append(("crs_models", lambda: _logistic_rows(p, options)))
            if "table3" in components:
                steps.append(("table3", lambda: _table3_rows(p, k, options)))
            for name, step in steps:
                try:
                    rows += step()
                except Exception as exc:  # noqa: BLE001 - recorded, the plan goes on
                    rows.append(_row(name, "(error)", note=_error_text(exc), n_obs=len(p)))
    out = pd.DataFrame(rows)
    cols = [c for c in RESULT_COLUMNS if c != "replicate"]
    out = out.reindex(columns=cols)
    return out.astype({c: _pandas_dtype(RESULT_COLUMNS[c]) for c in cols})
