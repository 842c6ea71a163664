"""Operating characteristics of the paper's analysis plan, from the per-replicate results of
the simulation study, each with its Monte Carlo standard error.

Performance measures and their Monte Carlo standard errors (MCSE) follow Morris, White and
Crowther (2019, Stat Med 38:2074-2102, Table 6), with ``R`` replicates:

* a rate (rejection, selection, separation, coverage) ``k / R``: MCSE ``sqrt(p (1 - p) / R)``;
* the bias of an estimator of ``theta`` (here on the log scale for ratios): mean of
  ``theta_hat - theta`` over replicates, MCSE ``SD(theta_hat) / sqrt(R)``;
* the empirical standard error ``SD(theta_hat)``, MCSE ``SD / sqrt(2 (R - 1))``.

Definitions used throughout:

* An effect is **declared** by the screen-then-multivariable Cox procedure when its term
  passes the univariate screen (p < 0.2), enters the multivariable model, and its Wald p
  there (joint over a factor's columns) is below 0.05 with a finite estimate. It is declared
  **protective** when, in addition, its hazard ratio is below 1 (one-column terms).
* A test **rejects** when its p-value is below 0.05; an infinite maximum-likelihood estimate
  (separation, monotone likelihood) has no usable Wald p and never rejects, as SPSS's
  p-value tends to 1 there.
* An interval **covers** when ``lower <= truth <= upper``; an interval that cannot be
  computed does not cover (its share is given too).

The summary is a set of small tables (:func:`summarise`) that :func:`write_summary` stores as
CSV files in ``<out>/summary`` (marked synthetic), so the book can show a large study without
its raw partitions; :func:`load_summary` reads them back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .plan import ENDPOINTS, KM_CONF_TYPES, PlanOptions

__all__ = ["Summary", "summarise", "write_summary", "load_summary", "rate_mcse",
           "EPV_ADVISED", "POWER_TARGET",
           "HEADLINE_EFFECTS", "sample_size_for_power", "HIST_EDGES", "SUMMARY_TABLES"]

#: Events per variable below which a model counts as overfitted (Peduzzi et al. 1996).
EPV_ADVISED: float = 10.0
#: The power a new study should have.
POWER_TARGET: float = 0.8

#: Names of the summary tables (one CSV each).
SUMMARY_TABLES: tuple[str, ...] = ("studies", "rates", "estimates", "histograms", "cohort",
                                   "truth")

#: Bin edges of the histograms of log ratios (log scale, 1/64 to 64).
HIST_EDGES: np.ndarray = np.linspace(math.log(1 / 64), math.log(64), 61)

#: Quantities whose replicate distributions are kept as histograms: (analysis, term, coef).
HIST_QUANTITIES: tuple[tuple[str, str, str], ...] = tuple(
    [(f"hsct_{e}", m, "") for e in ENDPOINTS for m in ("fixed", "time-dependent", "landmark")]
    + [(f"crs_model1_{m}", t, "") for m in ("ml", "firth")
       for t in ("female", "no_prior_hsct", "pre_ld_mrd_low", "dose_low")]
    + [(f"{e}_screen", t, t) for e in ENDPOINTS for t in ("female", "bca_duration")])


def _flag(s: pd.Series) -> pd.Series:
    """A nullable boolean column as plain booleans (missing = False)."""
    return s.astype("boolean").fillna(False).astype(bool)


def rate_mcse(k: float, r: float) -> float:
    """Monte Carlo SE of a rate ``k / r``: ``sqrt(p (1 - p) / r)``."""
    if r <= 0:
        return math.nan
    p = k / r
    return math.sqrt(p * (1 - p) / r)


def _rate_row(scenario: str, n: int, metric: str, analysis: str, term: str, coef: str,
              k: int, r: int) -> dict:
    return {"scenario": scenario, "n": int(n), "metric": metric, "analysis": analysis,
            "term": term, "coef": coef, "k": int(k), "replicates": int(r),
            "rate": k / r if r else math.nan, "mcse": rate_mcse(k, r)}


# --------------------------------------------------------------------------------------------
# Rates
# --------------------------------------------------------------------------------------------

def _errors(res: pd.DataFrame, analysis: str) -> set[int]:
    e = res[(res["analysis"] == analysis) & (res["term"] == "(error)")]
    return set(e["replicate"].astype(int))


def _cox_rates(g: pd.DataFrame, scenario: str, n: int, alpha: float) -> list[dict]:
    rows: list[dict] = []
    cov_err = _errors(g, "cox")
    for e in ENDPOINTS:
        scr = g[g["analysis"] == f"{e}_screen"]
        if scr.empty and not cov_err:
            continue
        err = _errors(g, f"{e}_screen") | cov_err
        reps = sorted(set(scr["replicate"].astype(int)) | err)
        ok = [r for r in reps if r not in err]
        R = len(ok)
        rows.append(_rate_row(scenario, n, "error", f"{e}_screen", "", "", len(err), len(reps)))
        if not R:
            continue
        scr = scr[scr["replicate"].isin(ok) & (scr["term"] != "(error)")]
        sel = scr.groupby(["term", "replicate"])["selected"].any().unstack(fill_value=False)
        mv = g[(g["analysis"] == f"{e}_mv") & g["replicate"].isin(ok)]
        none = mv[mv["term"] == "(none selected)"]
        mv = mv[mv["term"] != "(none selected)"]
        by = mv.groupby(["term", "replicate"])
        declared = (by["p_term"].first() < alpha) & ~by["infinite"].any()
        one_col = by["coef"].count() == 1
        hr = by["estimate"].first()
        protective = declared & one_col & (hr < 1)
        harmful = declared & one_col & (hr > 1)
        for term in sel.index:
            for metric, s in (("selected", sel.loc[term]),
                              ("declared", declared.xs(term, level="term")
                               if term in declared.index.get_level_values(0) else None),
                              ("declared_protective", protective.xs(term, level="term")
                               if term in protective.index.get_level_values(0) else None),
                              ("declared_harmful", harmful.xs(term, level="term")
                               if term in harmful.index.get_level_values(0) else None)):
                k = int(s.sum()) if s is not None else 0
                rows.append(_rate_row(scenario, n, metric, f"{e}_mv", term, "", k, R))
        per_rep = declared.groupby(level="replicate").any() if len(declared) else pd.Series(
            dtype=bool)
        rows.append(_rate_row(scenario, n, "any_declared", f"{e}_mv", "", "",
                              int(per_rep.sum()), R))
        rows.append(_rate_row(scenario, n, "none_selected", f"{e}_mv", "", "",
                              int(none["replicate"].nunique()), R))
        fit_rows = mv.groupby("replicate")
        mono = fit_rows["infinite"].any()
        rows.append(_rate_row(scenario, n, "monotone_likelihood", f"{e}_mv", "", "",
                              int(mono.sum()), R))
        nc = (~fit_rows["converged"].all().astype(bool))
        rows.append(_rate_row(scenario, n, "not_converged", f"{e}_mv", "", "", int(nc.sum()), R))
        epv = fit_rows["epv"].first()
        rows.append(_rate_row(scenario, n, "epv_below_10", f"{e}_mv", "", "",
                              int((epv < EPV_ADVISED).sum()), R))
    return rows


def _simple_rates(g: pd.DataFrame, scenario: str, n: int, alpha: float,
                  truth: pd.DataFrame) -> list[dict]:
    rows: list[dict] = []
    t_scen = truth[truth["scenario"] == scenario] if len(truth) else truth
    # HSCT analyses: rejection (and direction), coverage of the truth
    for e in ENDPOINTS:
        a = g[g["analysis"] == f"hsct_{e}"]
        if a.empty:
            continue
        err = _errors(g, f"hsct_{e}")
        for method, part in a[a["term"] != "(error)"].groupby("term", sort=False):
            R = part["replicate"].nunique() + len(err)
            ok = part["p"].notna() & ~_flag(part["infinite"])
            rej = ok & (part["p"] < alpha)
            rows.append(_rate_row(scenario, n, "reject", f"hsct_{e}", method, "",
                                  int(rej.sum()), R))
            rows.append(_rate_row(scenario, n, "reject_protective", f"hsct_{e}", method, "",
                                  int((rej & (part["estimate"] < 1)).sum()), R))
            tv = _truth_value(t_scen, f"hsct_{e}", method)
            if np.isfinite(tv):
                cov = (part["lower"] <= tv) & (tv <= part["upper"])
                rows.append(_rate_row(scenario, n, "cover", f"hsct_{e}", method, "",
                                      int(cov.fillna(False).sum()), R))
    # Kaplan-Meier coverage of the true 5-year survival
    for e in ENDPOINTS:
        a = g[(g["analysis"] == f"km_{e}") & (g["term"] != "(error)")]
        if a.empty:
            continue
        tv = _truth_value(t_scen, f"km_{e}", "survival")
        for ct in KM_CONF_TYPES:
            part = a[a["term"] == ct]
            R = len(part) + len(_errors(g, f"km_{e}"))
            undefined = part["lower"].isna() | part["upper"].isna()
            rows.append(_rate_row(scenario, n, "undefined", f"km_{e}", ct, "",
                                  int(undefined.sum()), R))
            if np.isfinite(tv):
                cov = (part["lower"] <= tv) & (tv <= part["upper"])
                below = part["upper"] < tv
                rows.append(_rate_row(scenario, n, "cover", f"km_{e}", ct, "",
                                      int(cov.fillna(False).sum()), R))
                rows.append(_rate_row(scenario, n, "miss_low", f"km_{e}", ct, "",
                                      int(below.fillna(False).sum()), R))
                rows.append(_rate_row(scenario, n, "miss_high", f"km_{e}", ct, "",
                                      int((part["lower"] > tv).fillna(False).sum()), R))
    # Table 2's models
    for m in (1, 2):
        err = _errors(g, f"crs_model{m}")
        for method in ("ml", "firth"):
            a = g[g["analysis"] == f"crs_model{m}_{method}"]
            if a.empty:
                continue
            R = a["replicate"].nunique() + len(err)
            if method == "ml":
                rows.append(_rate_row(scenario, n, "error", f"crs_model{m}", "", "", len(err), R))
                sep = a.groupby("replicate")["note"].first()
                rows.append(_rate_row(scenario, n, "separation", f"crs_model{m}", "", "",
                                      int((sep != "none").sum()), R))
                rows.append(_rate_row(scenario, n, "complete_separation", f"crs_model{m}", "",
                                      "", int((sep == "complete").sum()), R))
                epv = a.groupby("replicate")["epv"].first()
                rows.append(_rate_row(scenario, n, "epv_below_10", f"crs_model{m}", "", "",
                                      int((epv < EPV_ADVISED).sum()), R))
            for term, part in a.groupby("term", sort=False):
                inf = _flag(part["infinite"])
                rej = ~inf & (part["p"] < alpha)
                rows.append(_rate_row(scenario, n, "reject", f"crs_model{m}_{method}", term, "",
                                      int(rej.fillna(False).sum()), R))
                if method == "ml":
                    rows.append(_rate_row(scenario, n, "infinite", f"crs_model{m}_ml", term, "",
                                          int(inf.sum()), R))
                tv = _truth_value(t_scen, f"crs_model{m}_ml", term)
                if np.isfinite(tv):
                    cov = (part["lower"] <= tv) & (tv <= part["upper"])
                    rows.append(_rate_row(scenario, n, "cover", f"crs_model{m}_{method}", term,
                                          "", int(cov.fillna(False).sum()), R))
    # Table 3's Mann-Whitney tests
    a = g[(g["analysis"] == "table3") & (g["term"] != "(error)")]
    if not a.empty:
        R0 = len(_errors(g, "table3"))
        for (term, coef), part in a.groupby(["term", "coef"], sort=False):
            R = len(part) + R0
            rej = part["p"] < alpha
            rows.append(_rate_row(scenario, n, "reject", "table3", term, coef,
                                  int(rej.fillna(False).sum()), R))
    # the univariate screens' intervals: coverage of each covariate's true hazard ratio
    for e in ENDPOINTS:
        a = g[(g["analysis"] == f"{e}_screen") & (g["term"] != "(error)")]
        for (term, coef), part in a.groupby(["term", "coef"], sort=False):
            tv = _truth_value(t_scen, f"{e}_screen", term, coef)
            if not np.isfinite(tv):
                continue
            cov = (part["lower"] <= tv) & (tv <= part["upper"]) & \
                ~_flag(part["infinite"])
            rows.append(_rate_row(scenario, n, "cover", f"{e}_screen", term, coef,
                                  int(cov.fillna(False).sum()), len(part)))
    return rows


def _truth_value(truth: pd.DataFrame, analysis: str, term: str, coef: str = "") -> float:
    if truth is None or truth.empty:
        return math.nan
    t = truth[(truth["analysis"] == analysis) & (truth["term"] == term)]
    if coef:
        t = t[t["coef"].fillna("") == coef]
    return float(t["estimate"].iloc[0]) if len(t) else math.nan


# --------------------------------------------------------------------------------------------
# Estimates and their distributions
# --------------------------------------------------------------------------------------------

def _estimate_rows(g: pd.DataFrame, scenario: str, n: int, truth: pd.DataFrame) -> list[dict]:
    """Mean, SD, median and bias against the truth of the estimates kept for the book: HSCT
    log hazard ratios, Table 2's log odds ratios (ML among finite estimates; Firth), the
    screens' log hazard ratios, and 5-year survival (on its own scale)."""
    t_scen = truth[truth["scenario"] == scenario] if len(truth) else truth
    rows = []
    wanted = [(f"hsct_{e}", m, "") for e in ENDPOINTS
              for m in ("fixed", "time-dependent", "landmark")]
    wanted += [(f"crs_model{m}_{meth}", t, "") for m in (1, 2) for meth in ("ml", "firth")
               for t in sorted(set(g.loc[g["analysis"] == f"crs_model{m}_ml", "term"]))
               if t != "(error)"]
    wanted += [(f"{e}_screen", t, c) for e in ENDPOINTS for t, c in
               sorted(set(map(tuple, g.loc[g["analysis"] == f"{e}_screen",
                                           ["term", "coef"]].to_numpy()))) if t != "(error)"]
    for analysis, term, coef in wanted:
        part = g[(g["analysis"] == analysis) & (g["term"] == term)]
        if coef:
            part = part[part["coef"] == coef]
        if part.empty:
            continue
        truth_analysis = analysis.replace("_firth", "_ml")
        tv = _truth_value(t_scen, truth_analysis, term, coef)
        est = part["estimate"].astype(float)
        fin = est[np.isfinite(est) & (est > 0) & ~_flag(part["infinite"])]
        rows.append(_distribution_row(scenario, n, analysis, term, coef, np.log(fin.to_numpy()),
                                      len(part), math.log(tv) if tv > 0 else math.nan, "log"))
    for e in ENDPOINTS:
        part = g[(g["analysis"] == f"km_{e}") & (g["term"] == "plain")]
        if part.empty:
            continue
        tv = _truth_value(t_scen, f"km_{e}", "survival")
        rows.append(_distribution_row(scenario, n, f"km_{e}", "survival", "",
                                      part["estimate"].astype(float).to_numpy(), len(part), tv,
                                      "identity"))
    return rows


def _distribution_row(scenario: str, n: int, analysis: str, term: str, coef: str,
                      x: np.ndarray, total: int, truth: float, scale: str) -> dict:
    x = x[np.isfinite(x)]
    k = len(x)
    mean = float(x.mean()) if k else math.nan
    sd = float(x.std(ddof=1)) if k > 1 else math.nan
    return {"scenario": scenario, "n": int(n), "analysis": analysis, "term": term, "coef": coef,
            "scale": scale, "replicates": int(total), "finite": int(k), "mean": mean,
            "sd": sd, "median": float(np.median(x)) if k else math.nan,
            "truth": truth, "bias": mean - truth if np.isfinite(truth) else math.nan,
            "bias_mcse": sd / math.sqrt(k) if k > 1 else math.nan,
            "emp_se_mcse": sd / math.sqrt(2 * (k - 1)) if k > 1 else math.nan}


def _histogram_rows(g: pd.DataFrame, scenario: str, n: int) -> list[dict]:
    rows = []
    for analysis, term, coef in HIST_QUANTITIES:
        part = g[(g["analysis"] == analysis) & (g["term"] == term)]
        if coef:
            part = part[part["coef"] == coef]
        if part.empty:
            continue
        est = part["estimate"].astype(float).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log(est)
        inf = _flag(part["infinite"]).to_numpy() | np.isinf(x)
        fin = x[~inf & np.isfinite(x)]
        counts, _ = np.histogram(np.clip(fin, HIST_EDGES[0], HIST_EDGES[-1]), HIST_EDGES)
        base = {"scenario": scenario, "n": int(n), "analysis": analysis, "term": term,
                "coef": coef, "replicates": int(len(part)), "infinite": int(inf.sum())}
        for i, c in enumerate(counts):
            rows.append({**base, "bin": i, "lower": float(HIST_EDGES[i]),
                         "upper": float(HIST_EDGES[i + 1]), "count": int(c)})
    return rows


def _cohort_rows(g: pd.DataFrame, scenario: str, n: int) -> list[dict]:
    rows = []
    c = g[g["analysis"] == "cohort"]
    for term, part in c.groupby("term", sort=False):
        x = part["estimate"].astype(float).to_numpy()
        rows.append({"scenario": scenario, "n": int(n), "quantity": term,
                     "replicates": len(x), "mean": float(x.mean()),
                     "sd": float(x.std(ddof=1)) if len(x) > 1 else math.nan,
                     "min": float(x.min()), "median": float(np.median(x)),
                     "max": float(x.max())})
    t3 = g[(g["analysis"] == "table3") & (g["coef"] == "cmax")]
    for term, part in t3.groupby("term", sort=False):
        for side, col in (("first", "n_obs"), ("second", "events")):
            x = part[col].astype(float).to_numpy()
            rows.append({"scenario": scenario, "n": int(n),
                         "quantity": f"table3_{term}_{side}_group", "replicates": len(x),
                         "mean": float(np.nanmean(x)), "sd": float(np.nanstd(x, ddof=1))
                         if len(x) > 1 else math.nan, "min": float(np.nanmin(x)),
                         "median": float(np.nanmedian(x)), "max": float(np.nanmax(x))})
    return rows


# --------------------------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------------------------

@dataclass
class Summary:
    """The study's summary tables (see :data:`SUMMARY_TABLES`): ``studies`` (one row per
    scenario and size), ``rates`` (every rate with its MCSE), ``estimates`` (mean, SD,
    median and bias of kept estimates), ``histograms`` (replicate distributions of log
    ratios), ``cohort`` (events and group sizes per trial), ``truth``."""
    studies: pd.DataFrame
    rates: pd.DataFrame
    estimates: pd.DataFrame
    histograms: pd.DataFrame
    cohort: pd.DataFrame
    truth: pd.DataFrame

    def rate(self, scenario: str, n: int, metric: str, analysis: str, term: str = "",
             coef: str = "") -> tuple[float, float, int]:
        """(rate, MCSE, replicates) of one rate; NaNs when absent."""
        r = self.rates
        m = r[(r["scenario"] == scenario) & (r["n"] == n) & (r["metric"] == metric)
              & (r["analysis"] == analysis) & (r["term"].fillna("") == term)
              & (r["coef"].fillna("") == coef)]
        if m.empty:
            return math.nan, math.nan, 0
        row = m.iloc[0]
        return float(row["rate"]), float(row["mcse"]), int(row["replicates"])

    def sizes(self, scenario: str | None = None) -> list[int]:
        s = self.studies if scenario is None else self.studies[
            self.studies["scenario"] == scenario]
        return sorted(int(x) for x in s["n"].unique())

    def replicates(self, scenario: str, n: int) -> int:
        s = self.studies[(self.studies["scenario"] == scenario) & (self.studies["n"] == n)]
        return int(s["replicates"].iloc[0]) if len(s) else 0


def summarise(results: pd.DataFrame, truth: pd.DataFrame, studies: pd.DataFrame | None = None,
              options: PlanOptions = PlanOptions()) -> Summary:
    """The summary of per-replicate ``results`` (:func:`.engine.load_results`) against
    ``truth`` (:func:`.engine.load_truth`)."""
    rates, est, hist, coh = [], [], [], []
    for (scenario, n), g in results.groupby(["scenario", "n"], sort=True):
        rates += _cox_rates(g, scenario, int(n), options.alpha)
        rates += _simple_rates(g, scenario, int(n), options.alpha, truth)
        est += _estimate_rows(g, scenario, int(n), truth)
        hist += _histogram_rows(g, scenario, int(n))
        coh += _cohort_rows(g, scenario, int(n))
    if studies is None:
        studies = (results.groupby(["scenario", "n"])["replicate"].nunique()
                   .rename("replicates").reset_index())
    return Summary(studies.reset_index(drop=True), pd.DataFrame(rates), pd.DataFrame(est),
                   pd.DataFrame(hist), pd.DataFrame(coh),
                   truth.reset_index(drop=True) if truth is not None else pd.DataFrame())


_SUMMARY_NOTE = ("summary of a SYNTHETIC simulation study (replicates drawn from the "
                 "calibrated generator of analysis_lib.synthetic; not real patients)")


def write_summary(out: Path, summary: Summary | None = None) -> list[Path]:
    """Write the summary of every complete study in ``out`` (or ``summary``) as CSV files in
    ``<out>/summary`` (``# synthetic: true`` metadata lines first, one file per table,
    written atomically). Returns the paths."""
    from ..data.io import write_table
    from .engine import load_results, load_truth, studies_table

    out = Path(out)
    if summary is None:
        studies = studies_table(out)
        studies = studies[studies["present"] == studies["replicates"]]
        summary = summarise(load_results(out), load_truth(out),
                            studies.drop(columns=["present"]))
    paths = []
    for name in SUMMARY_TABLES:
        frame = getattr(summary, name)
        paths.append(write_table(frame, out / "summary" / f"{name}.csv",
                                 {"synthetic": "true", "description": _SUMMARY_NOTE,
                                  "table": name}))
    return paths


def load_summary(out: Path) -> Summary | None:
    """The summary tables stored in ``<out>/summary``, or None when any is missing."""
    d = Path(out) / "summary"
    if not all((d / f"{t}.csv").is_file() for t in SUMMARY_TABLES):
        return None
    frames = {t: pd.read_csv(d / f"{t}.csv", comment="#", keep_default_na=True)
              for t in SUMMARY_TABLES}
    for t in ("rates", "estimates", "histograms"):
        for col in ("term", "coef"):
            if col in frames[t]:
                frames[t][col] = frames[t][col].fillna("").astype(str)
    if "coef" in frames["truth"]:
        frames["truth"]["coef"] = frames["truth"]["coef"].fillna("").astype(str)
    return Summary(**frames)


# --------------------------------------------------------------------------------------------
# Sample size for 80 % power
# --------------------------------------------------------------------------------------------

#: The paper's headline effects and the rate that is their power:
#: key -> (label, metric, analysis, term, coef) of :attr:`Summary.rates`.
HEADLINE_EFFECTS: dict[str, tuple[str, str, str, str, str]] = {
    "female_lfs": ("Female sex protects against relapse or death (Table 1A)",
                   "declared_protective", "lfs_mv", "female", ""),
    "bca_lfs": ("Longer B-cell aplasia protects against relapse or death (Table 1A)",
                "declared_protective", "lfs_mv", "bca_duration", ""),
    "hsct_os_fixed": ("Bridging HSCT and overall survival, as published (fixed at infusion)",
                      "reject", "hsct_os", "fixed", ""),
    "hsct_os_td": ("Bridging HSCT and overall survival, time-dependent",
                   "reject", "hsct_os", "time-dependent", ""),
    "pre_ld_crs": ("Pre-LD MRD < 10⁻³ and severe CRS (Table 2, model 1; ML, Wald)",
                   "reject", "crs_model1_ml", "pre_ld_mrd_low", ""),
    "pre_ld_crs_firth": ("Pre-LD MRD < 10⁻³ and severe CRS (Table 2, model 1; Firth)",
                         "reject", "crs_model1_firth", "pre_ld_mrd_low", ""),
    "dose_crs": ("Dose < 3.68 × 10⁶/kg and severe CRS (Table 2, model 1; ML, Wald)",
                 "reject", "crs_model1_ml", "dose_low", ""),
    "dose_crs_firth": ("Dose < 3.68 × 10⁶/kg and severe CRS (Table 2, model 1; Firth)",
                       "reject", "crs_model1_firth", "dose_low", ""),
    "steroids_cmax": ("Corticosteroids and higher CAR-T peak (Table 3, Mann–Whitney)",
                      "reject", "table3", "steroids", "cmax"),
}


def sample_size_for_power(sizes: Sequence[int], rates: Sequence[float],
                          replicates: Sequence[int], target: float = 0.8, *,
                          draws: int = 2000, seed: int = 20250917
                          ) -> tuple[float, float, float, str]:
    """The cohort size at which a power curve reaches ``target``, from the powers estimated
    at ``sizes``: linear interpolation of probit(power) in log(n) between the two sizes
    that bracket the target (Monte Carlo uncertainty by a parametric bootstrap of the
    estimated powers, binomial with their replicates, ``draws`` times).

    Returns ``(n, lower, upper, status)``: the estimate and a 95 % Monte Carlo interval
    (2.5th and 97.5th percentiles of the bootstrap; ``inf`` where a draw never reaches the
    target), and status ``"reached"``, ``"at or below"`` (already at the smallest size: the
    estimate is that size) or ``"above"`` (not reached at the largest size: NaN).
    """
    n = np.asarray(sizes, dtype=float)
    p = np.asarray(rates, dtype=float)
    r = np.asarray(replicates, dtype=float)
    order = np.argsort(n)
    n, p, r = n[order], p[order], r[order]

    def solve(pw: np.ndarray) -> float:
        pw = np.maximum.accumulate(np.clip(pw, 1e-6, 1 - 1e-6))  # power rises with n
        if pw[0] >= target:
            return float(n[0])
        hit = np.flatnonzero(pw >= target)
        if not hit.size:
            return math.inf
        j = int(hit[0])
        z0, z1, zt = stats.norm.ppf(pw[j - 1]), stats.norm.ppf(pw[j]), stats.norm.ppf(target)
        if z1 == z0:
            return float(n[j])
        x = math.log(n[j - 1]) + (zt - z0) / (z1 - z0) * (math.log(n[j]) - math.log(n[j - 1]))
        return float(math.exp(x))

    est = solve(p)
    rng = np.random.default_rng(seed)
    boot = np.array([solve(rng.binomial(r.astype(int), p) / r) for _ in range(draws)])
    lo, hi = (float(np.quantile(boot, q, method="inverted_cdf")) for q in (0.025, 0.975))
    status = ("at or below" if p[0] >= target else "reached" if np.isfinite(est) else "above")
    return (est if np.isfinite(est) else math.nan), lo, hi, status


def sample_sizes(summary: Summary, scenario: str = "calibrated",
                 target: float = POWER_TARGET) -> pd.DataFrame:
    """The cohort size for ``target`` power for each of :data:`HEADLINE_EFFECTS`, with the
    power at each simulated size."""
    rows = []
    sizes = summary.sizes(scenario)
    for key, (label, metric, analysis, term, coef) in HEADLINE_EFFECTS.items():
        pw = [summary.rate(scenario, n, metric, analysis, term, coef) for n in sizes]
        ok = [(n, r, R) for n, (r, _, R) in zip(sizes, pw) if R > 0 and np.isfinite(r)]
        if not ok:
            continue
        ns, rs, Rs = zip(*ok)
        est, lo, hi, status = sample_size_for_power(ns, rs, Rs, target)
        row = {"key": key, "effect": label, "n80": est, "lower": lo, "upper": hi,
               "status": status}
        for n_, r_, R_ in ok:
            row[f"power_{n_}"] = r_
            row[f"mcse_{n_}"] = rate_mcse(r_ * R_, R_)
        rows.append(row)
    return pd.DataFrame(rows)
