"""The true value of each estimand of the simulation study, from a very large SYNTHETIC
population of the same scenario.

The generator has no closed form for most of what the paper estimates: relapse order follows
a Plackett-Luce model whose log-weights act on log B-cell aplasia duration, event times are
pinned order statistics, transplants are given to patients who will not relapse early, and
the analyses use other codings (BCA duration per month, "ever transplanted"). Each estimand's
true value is therefore defined as the value the *same estimator* converges to as the cohort
grows: it is computed by the same library function on one population of
:data:`TRUTH_N` patients generated from the scenario with its proportions fixed (the
generator's exact counts), seed :data:`TRUTH_SEED`. This is the "least false" or pseudo-true
value of a possibly misspecified model (Struthers CA, Kalbfleisch JD (1986). Misspecified
proportional hazards models. Biometrika 73:363-369). Its own Monte Carlo error is reported
(``se``: the population fit's standard error) and is small next to the replicates'.

The exceptions are exact: in ``null_female`` sex is independent of every outcome, so each
true hazard or odds ratio of female sex is exactly 1 (``exact`` column).

Estimands (``analysis``, ``term``, ``coef`` as in :mod:`analysis_lib.simulation.plan`):

* ``lfs_screen``/``os_screen``: each candidate covariate's hazard ratio in a Cox model with
  that covariate alone (the univariate screen's estimand);
* ``hsct_lfs``/``hsct_os``: the hazard ratio of bridging HSCT fixed at infusion (what the
  published analysis converges to: immortal-time bias included), as a time-dependent
  covariate and at the 6-month landmark. The generator never changes a relapse because of a
  transplant; it transplants only patients who will not relapse before the last transplant day
  (about 9 months), so even the time-dependent analysis converges to a protective value: the
  "truth" here is the time-dependent estimand of this generator, not a causal effect;
* ``km_lfs``/``km_os``: 5-year LFS and OS (Kaplan-Meier on the population);
* ``crs_model1_ml``/``crs_model2_ml``: the odds ratios of Table 2's two models;
* ``table3``: for each factor and parameter, the ratio of the two groups' medians and the
  Mann-Whitney estimand P(X > Y) + P(X = Y)/2 (``estimate`` and ``auc``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ..analyses import kinetics as kin
from ..analyses import survival as sa
from ..analyses import toxicity as tox
from ..stats import cox
from ..stats import logistic as lg
from ..stats import survival as sv
from ..synthetic.generator import generate_cohort
from .plan import ENDPOINTS, PlanOptions
from .scenarios import Scenario, scenario

__all__ = ["TRUTH_N", "TRUTH_SEED", "TRUTH_COLUMNS", "compute_truth"]

#: Size of the population each truth is computed on.
TRUTH_N: int = 100_000
#: Seed of the population.
TRUTH_SEED: int = 20250917

#: Columns of a truth table.
TRUTH_COLUMNS: tuple[str, ...] = ("scenario", "analysis", "term", "coef", "estimate", "se",
                                  "auc", "exact", "note")


def _row(analysis: str, term: str, coef: str = "", **values: object) -> dict[str, object]:
    return {"analysis": analysis, "term": term, "coef": coef, **values}


def _cox_truth(design: cox.Design, ep: pd.DataFrame, endpoint: str) -> list[dict]:
    rows = []
    for label, cols in design.terms.items():
        fit = cox.coxph(design.frame[list(cols)], ep[f"{endpoint}_time"],
                        ep[f"{endpoint}_event"])
        for j, c in enumerate(cols):
            rows.append(_row(f"{endpoint}_screen", sa.slug(label), sa.slug(c),
                             estimate=float(np.exp(fit.coef[j])), se=float(fit.se[j]),
                             note="log-HR SE of the population fit"))
    return rows


def _hsct_truth(ep: pd.DataFrame, endpoint: str, o: PlanOptions) -> list[dict]:
    t = sa.hsct_effect(ep[f"{endpoint}_time"], ep[f"{endpoint}_event"], ep["hsct_time"],
                       landmarks=[o.landmark_months], conf_level=o.conf_level)
    return [_row(f"hsct_{endpoint}", str(r.analysis), estimate=float(r.hr), se=float(r.se),
                 note="log-HR SE of the population fit") for r in t.itertuples()]


def _km_truth(ep: pd.DataFrame, endpoint: str, o: PlanOptions) -> list[dict]:
    km = sv.kaplan_meier(ep[f"{endpoint}_time"], ep[f"{endpoint}_event"], o.conf_level)
    s, lo, hi = km.survival_at(o.horizon_months, "plain")
    return [_row(f"km_{endpoint}", "survival", estimate=s, se=(hi - lo) / (2 * km.z),
                 note="Greenwood SE of the population estimate")]


def _logistic_truth(patients: pd.DataFrame, o: PlanOptions) -> list[dict]:
    factors, _ = tox.risk_factors(patients, mrd_cut=o.model_mrd_cut, dose_cut=o.dose_cut,
                                  age_cut=o.age_cut_years)
    y = tox.outcomes(patients)["crs_severe"].astype(float).to_numpy()
    rows = []
    for m, terms in ((1, tox.MODEL_1), (2, tox.MODEL_2)):
        fit = lg.logistic_regression(factors[list(terms)], y)
        for j, term in enumerate(fit.names[1:], start=1):
            rows.append(_row(f"crs_model{m}_ml", term, estimate=float(np.exp(fit.coef[j])),
                             se=float(fit.se[j]), note="log-OR SE of the population fit"))
    return rows


def _table3_truth(patients: pd.DataFrame, kinetics: pd.DataFrame, o: PlanOptions
                  ) -> list[dict]:
    from ..stats.rank_tests import mann_whitney

    params = kin.kinetic_parameters(kinetics, patients, mrd_negative_below=o.mrd_negative_below)
    rows = []
    for fac in kin.table3_factors(age_cut=o.age_cut_years, mrd_cuts=o.mrd_cuts,
                                  dose_threshold=o.dose_cut):
        lvl = fac.assign(params)
        for col, short in kin.TABLE3_PARAMETERS:
            a = params[col][(lvl == fac.levels[0]).fillna(False).to_numpy(bool)].dropna()
            b = params[col][(lvl == fac.levels[1]).fillna(False).to_numpy(bool)].dropna()
            ratio = float(a.median() / b.median()) if len(a) and len(b) and b.median() > 0 \
                else math.nan
            auc = math.nan
            if len(a) and len(b):
                mw = mann_whitney(params[col], lvl, method="asymptotic", levels=fac.levels[:2])
                auc = float(mw.statistic) / (mw.n1 * mw.n2)
            rows.append(_row("table3", fac.key, short, estimate=ratio, auc=auc,
                             note="ratio of medians; auc = P(X > Y) + P(X = Y)/2"))
    return rows


def compute_truth(scen: Scenario | str, n_population: int = TRUTH_N, seed: int = TRUTH_SEED,
                  options: PlanOptions = PlanOptions()) -> pd.DataFrame:
    """The true values of the estimands of ``scen``'s components (see the module docstring),
    one row each (:data:`TRUTH_COLUMNS`), from a population of ``n_population`` patients."""
    scen = scenario(scen) if isinstance(scen, str) else scen
    cohort = generate_cohort(n=n_population, seed=seed, params=scen.params())
    p, k = cohort.patients, cohort.kinetics
    rows: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            ep = sa.endpoints(p)
            cox_endpoints = [e for e in ENDPOINTS if f"cox_{e}" in scen.components]
            if cox_endpoints:
                design = sa.candidate_covariates(
                    p, k, age_cut=options.age_cut_years, dose_cut=options.dose_cut,
                    mrd_cuts=options.mrd_cuts, mrd_negative_below=options.mrd_negative_below,
                    bca_unit_days=options.bca_unit_days)
                for e in cox_endpoints:
                    rows += _cox_truth(design, ep, e)
            if "hsct" in scen.components:
                for e in ENDPOINTS:
                    rows += _hsct_truth(ep, e, options)
            if "km" in scen.components:
                for e in ENDPOINTS:
                    rows += _km_truth(ep, e, options)
            if "logistic" in scen.components:
                rows += _logistic_truth(p, options)
            if "table3" in scen.components:
                rows += _table3_truth(p, k, options)
    out = pd.DataFrame(rows).reindex(columns=list(TRUTH_COLUMNS))
    out["scenario"] = scen.name
    exact = (scen.name == "null_female") & (out["term"] == "female")
    out["exact"] = exact
    out.loc[exact, "estimate"] = 1.0
    out.loc[exact, "note"] = "exact: sex is independent of every outcome in this scenario"
    return out.astype({"estimate": float, "se": float, "auc": float, "exact": bool})
