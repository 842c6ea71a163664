"""Calibration of the synthetic cohort against the paper's published numbers.

Two stages (issue 3 of the project):

1. **Population fit.** Parameters of :class:`analysis_lib.synthetic.generator.SyntheticParams` that the
   paper does not give directly (log relative hazards and log-shifts of the weighted draws,
   kinetic typical values) are fitted by weighted least squares so that the statistics of a
   *large* simulated population (default 20,000 patients, one fixed seed: common random
   numbers make the objective smooth enough for finite differences) equal the published
   values. Residuals are standardised by each target's sampling standard error at the
   paper's n = 50, so targets are weighted by how precisely the paper could know them.
2. **Seed search.** The published-size cohort (n = 50) is then chosen among many seeds as
   the one with the smallest standardised distance ``sum(z_i^2)`` to the same targets. The
   counts the paper gives are met exactly by construction (the generator conditions on
   them), so the search only moves the statistics that sampling error leaves free.

Targets that the paper's own numbers make impossible or inconsistent are excluded from both
stages, with the reason (:mod:`analysis_lib.paper.feasibility`). Tolerances are sampling standard
errors derived from principles stated with each target (``Target.se_basis``), never tuned.
A target is *within sampling error* when ``|z| <= 1.96``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..analyses.cohort import follow_up
from ..core.formatting import count, number
from ..core.paths import ROOT
from ..paper.registry import sigma_log_cmax
from ..stats.survival import kaplan_meier, logrank_test

Scale = Literal["linear", "log", "atanh"]

#: The committed calibration record (``cartbook calibrate --out`` default).
RECORD_DIR = ROOT / "data" / "calibration"
def _published_count(key: str) -> int:
    """A count the paper publishes, from the registry (``data/published/registry.csv``)."""
    from ..paper.registry import load_registry

    reg = load_registry()
    return int(reg.loc[reg["key"] == key, "value"].iloc[0])


#: Published n (Results, "Patient characteristics"; registry ``n_patients``).
N_PUBLISHED = _published_count("n_patients")
#: Published number of patients with grade >= 3 CRS (Table 3; registry ``t3_crs_grade3_4_n``).
N_SEVERE_CRS_PUBLISHED = _published_count("t3_crs_grade3_4_n")
#: Log-scale SD of Cmax implied by its published range, range / 4.5 for n = 50
#: (Wan X et al. (2014) BMC Med Res Methodol 14:135, Table 1: xi(50) ~ 4.5).
SIGMA_LOG_CMAX = sigma_log_cmax()
#: Asymptotic SE of a sample median is sqrt(pi/2) * sigma / sqrt(n) for a normal variable.
_MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)


@dataclass(frozen=True)
class Target:
    """A published number the synthetic cohort should reproduce.

    ``value`` is on its natural scale; distances are measured on ``scale`` (``log`` for
    ratios and skewed medians, ``atanh`` (Fisher z) for correlations) in units of ``se``,
    the sampling standard error of the statistic at n = 50 on that scale, derived as
    ``se_basis`` says. ``exact`` targets are counts the generator meets by construction.
    """
    key: str
    description: str
    source: str
    value: float
    scale: Scale = "linear"
    se: float = float("nan")
    se_basis: str = ""
    exact: bool = False

    def transform(self, x: float) -> float:
        if self.scale == "log":
            return math.log(x) if x > 0 else float("-inf")
        if self.scale == "atanh":
            return math.atanh(max(min(x, 0.999999), -0.999999))
        return float(x)

    def z(self, achieved: float) -> float:
        """Standardised distance of ``achieved`` from the target."""
        if not np.isfinite(achieved):
            return float("nan")
        if self.exact:
            return 0.0 if math.isclose(achieved, self.value, abs_tol=1e-9) else float("inf")
        return (self.transform(achieved) - self.transform(self.value)) / self.se


def _median_log_se(n: float, sigma: float = SIGMA_LOG_CMAX) -> float:
    return _MEDIAN_SE_FACTOR * sigma / math.sqrt(n)


def _log_or_se_from_table(a: float, b: float, c: float, d: float) -> float:
    """Woolf SE of a log odds ratio (with 0.5 added to every cell)."""
    return math.sqrt(sum(1 / (x + 0.5) for x in (a, b, c, d)))


def _or_table(n_exposed: int, n_total: int, events: int, odds_ratio: float) -> tuple[int, ...]:
    """The 2×2 table with fixed margins whose odds ratio is closest (log scale) to the target:
    (exposed events, exposed non-events, unexposed events, unexposed non-events)."""
    best, gap = None, float("inf")
    for a in range(max(0, events - (n_total - n_exposed)), min(events, n_exposed) + 1):
        b, c = n_exposed - a, events - a
        d = n_total - n_exposed - c
        o = ((a + 0.5) * (d + 0.5)) / ((b + 0.5) * (c + 0.5))
        if abs(math.log(o) - math.log(odds_ratio)) < gap:
            best, gap = (a, b, c, d), abs(math.log(o) - math.log(odds_ratio))
    assert best is not None
    return best


def _or_target(key: str, label: str, n_exposed: int, value: float) -> Target:
    n, events = N_PUBLISHED, N_SEVERE_CRS_PUBLISHED
    table = _or_table(n_exposed, n, events, value)
    return Target(key, f"Crude OR of grade ≥3 CRS, {label}", "Table 2, univariate", value,
                  "log", _log_or_se_from_table(*table),
                  f"Woolf SE of the attainable 2×2 table nearest the OR (margins "
                  f"{count(n_exposed)}/{count(n)} exposed, {count(events)}/{count(n)} "
                  f"events): {table}")


#: The targets of the calibration, with the sampling SE at n = 50 and its basis.
TARGETS: tuple[Target, ...] = (
    # --- kinetics (Results, "PK of CAR-T cells"; Table 3; Figure 2, S3) -------------------
    Target("cmax_median", "Median Cmax (copies/µg DNA)", "Results, PK", 30_860, "log",
           _median_log_se(50), "SE of a log median: sqrt(pi/2)·sigma/sqrt(n), sigma = "
           "log(max/min)/4.5 of the published Cmax range (Wan 2014)"),
    Target("tmax_median", "Median Tmax (days)", "Results, PK", 10.5, "linear",
           _MEDIAN_SE_FACTOR * (21 - 4) / 4.5 / math.sqrt(50),
           "SE of a median: sqrt(pi/2)·sigma/sqrt(n), sigma = range/4.5 (4–21 days)"),
    Target("tlast_median_mrd_cr", "Median Tlast of MRD-negative CR patients (days)",
           "Table 3, MRD-CR yes", 45, "log", _median_log_se(48, 1.0),
           "SE of a log median with an assumed log-SD of 1.0 (Tlast spans weeks to years; "
           "the paper gives no range)"),
    Target("auc28_median_mrd_cr", "Median AUC0–28d of MRD-negative CR patients "
           "(copies/µg DNA × day)", "Table 3, MRD-CR yes", 227_218, "log",
           _median_log_se(48), "as for Cmax (AUC0–28d scales with Cmax)"),
    Target("cmax_ratio_steroids", "Ratio of median Cmax, corticosteroids yes / no",
           "Table 3, Steroids", 135_522 / 25_103, "log",
           _MEDIAN_SE_FACTOR * SIGMA_LOG_CMAX * math.sqrt(1 / 7 + 1 / 43),
           "SE of a difference of two log medians (n = 7 and 43)"),
    Target("cmax_ratio_severe_crs", "Ratio of median Cmax, CRS grade 3–4 / 0–2",
           "Table 3, CRS", 100_799 / 30_645, "log",
           _MEDIAN_SE_FACTOR * SIGMA_LOG_CMAX * math.sqrt(1 / 8 + 1 / 42),
           "SE of a difference of two log medians (n = 8 and 42)"),
    Target("cmax_ratio_post_ld_high", "Ratio of median Cmax, post-LD MRD ≥10⁻³ / <10⁻³",
           "Table 3, Post-LD MRD", 82_300 / 30_490, "log",
           _MEDIAN_SE_FACTOR * SIGMA_LOG_CMAX * math.sqrt(1 / 17 + 1 / 33),
           "SE of a difference of two log medians (n = 17 and 33)"),
    Target("spearman_cmax_tlast", "Spearman r, Cmax with Tlast", "Results, PK (Figure S3)",
           0.349, "atanh", 1.06 / math.sqrt(47),
           "SE of Fisher-z Spearman r, 1.06/sqrt(n-3) (Fieller, Hartley & Pearson 1957)"),
    Target("spearman_auc_tlast", "Spearman r, AUC0–28d with Tlast", "Results, PK (Figure S3)",
           0.313, "atanh", 1.06 / math.sqrt(47), "as above"),
    Target("spearman_bca_tlast", "Spearman r, BCA duration with Tlast", "Results, PK (Figure 2)",
           0.570, "atanh", 1.06 / math.sqrt(45), "as above, n = 48 patients with BCA"),
    # --- toxicity (Table 2, univariate) ---------------------------------------------------
    _or_target("or_severe_crs_pre_ld_low", "pre-LD MRD <10⁻³", 29, 0.381),
    _or_target("or_severe_crs_post_ld_low", "post-LD MRD <10⁻³", 33, 0.349),
    _or_target("or_severe_crs_dose_low", "dose <3.68 × 10⁶/kg", 25, 0.490),
    _or_target("or_severe_crs_female", "female", 23, 0.544),
    _or_target("or_severe_crs_no_prior_hsct", "no prior HSCT", 45, 0.286),
    *(Target(f"mv1_or_{k}", f"Multivariable OR of grade ≥3 CRS (model 1), {label}",
             "Table 2, model 1", value, "log", math.log(hi / lo) / 3.92,
             "log-scale half-width of the published 95% CI / 1.96")
      for k, label, value, lo, hi in (
          ("pre_ld_low", "pre-LD MRD <10⁻³", 0.067, 0.006, 0.725),
          ("dose_low", "dose <3.68 × 10⁶/kg", 0.089, 0.008, 0.968),
          ("female", "female", 0.364, 0.030, 4.330),
          ("no_prior_hsct", "no prior HSCT", 0.391, 0.031, 4.874))),
    # --- outcomes (Treatment outcomes; Table 1A) -------------------------------------------
    Target("os_5y", "5-year overall survival", "Treatment outcomes", 0.749, "linear",
           math.sqrt(0.749 * 0.251 / 50), "binomial SE sqrt(S(1-S)/n) (the published CI is "
           "narrower than n = 50 allows; see the audit)"),
    Target("lfs_5y", "5-year leukaemia-free survival", "Treatment outcomes", 0.678, "linear",
           math.sqrt(0.678 * 0.322 / 50), "binomial SE sqrt(S(1-S)/n), as above"),
    Target("hr_female_lfs", "Hazard ratio of LFS, female vs male", "Table 1A", 0.235, "log",
           math.log(0.884 / 0.062) / 3.92,
           "log-scale half-width of the published 95% CI / 1.96 (the statistic here is the "
           "univariate Peto log-rank HR; the paper's is multivariable)"),
    Target("followup_median_months", "Median follow-up, reverse Kaplan–Meier (months)",
           "Patient characteristics", 68.7, "linear",
           _MEDIAN_SE_FACTOR * (97.5 - 51.0) / math.sqrt(12) / math.sqrt(38),
           "SE of a median of follow-up times spread uniformly over the accrual window "
           "(sigma = width/sqrt(12)) among about 38 censored patients"),
    Target("followup_min_months", "Shortest follow-up (months)", "Patient characteristics",
           5.9, "log", 1.0, "an extreme order statistic: one log unit"),
)

#: Targets excluded because the paper's numbers make them impossible or inconsistent.
#: Filled from :mod:`analysis_lib.paper.feasibility` when available.
def excluded_targets() -> dict[str, str]:
    """Target key -> reason, for targets the audit excludes."""
    try:
        from ..paper.feasibility import FINDINGS
    except ImportError:  # pragma: no cover - the audit module ships with the project
        return {}
    out: dict[str, str] = {}
    for f in FINDINGS:
        for key in f.excluded_targets:
            out[key] = f"{f.verdict}: {f.reason}"
    return out


# --------------------------------------------------------------------------------------------
# Statistics of a cohort
# --------------------------------------------------------------------------------------------

def _ratio_of_medians(x: pd.Series, group: pd.Series) -> float:
    a, b = x[group].median(), x[~group].median()
    return float(a / b) if b and b > 0 else float("nan")


def _odds_ratio(outcome: np.ndarray, exposed: np.ndarray) -> float:
    a = np.sum(outcome & exposed)
    b = np.sum(~outcome & exposed)
    c = np.sum(outcome & ~exposed)
    d = np.sum(~outcome & ~exposed)
    return float((a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5)))


def _severe_crs_model1(p: pd.DataFrame, severe: np.ndarray) -> dict[str, float]:
    """Odds ratios of the paper's multivariable model 1 for grade ≥3 CRS (Table 2)."""
    from ..stats.logistic import logistic_regression

    X = pd.DataFrame({"female": p["sex"] == "female", "no_prior_hsct": ~p["prior_hsct"].astype(bool),
                      "pre_ld_low": p["mrd_pre_ld"] < 1e-3,
                      "dose_low": p["cart_dose_1e6_per_kg"] < 3.68}).astype(float)
    try:
        fit = logistic_regression(X, severe.astype(float))
    except np.linalg.LinAlgError:
        return {f"mv1_or_{k}": float("nan") for k in X.columns}
    ors = np.exp(fit.coef[1:])
    if not fit.converged or np.any(np.abs(fit.coef) > 15):  # (quasi-)separation: diverging
        ors = np.full(len(ors), np.nan)
    return {f"mv1_or_{k}": float(v) for k, v in zip(X.columns, ors)}


def cohort_statistics(patients: pd.DataFrame, kinetics: pd.DataFrame) -> dict[str, float]:
    """Every statistic of :data:`TARGETS`, computed from a cohort's two tables."""
    p = patients.reset_index(drop=True)
    from ..analyses.kinetics import kinetic_parameters

    kp = (kinetic_parameters(kinetics, p).set_index("patient_id").reindex(p["patient_id"])
          .rename(columns={"auc_0_28": "auc28"}))
    kp.index = p.index
    mrd_cr = (p["d28_response"].isin(["cr", "cri"]) & (p["d28_mrd"] < 1e-4)).to_numpy()
    out: dict[str, float] = {}
    out["cmax_median"] = float(kp["cmax"].median())
    out["tmax_median"] = float(kp["tmax"].median())
    out["tlast_median_mrd_cr"] = float(kp.loc[mrd_cr, "tlast"].median())
    out["auc28_median_mrd_cr"] = float(kp.loc[mrd_cr, "auc28"].median())
    steroids = p["corticosteroids"].astype(bool)
    severe = (p["crs_grade"] >= 3).to_numpy()
    out["cmax_ratio_steroids"] = _ratio_of_medians(kp["cmax"], steroids)
    out["cmax_ratio_severe_crs"] = _ratio_of_medians(kp["cmax"], pd.Series(severe))
    out["cmax_ratio_post_ld_high"] = _ratio_of_medians(kp["cmax"], p["mrd_post_ld"] >= 1e-3)
    ok = kp["tlast"].notna() & kp["cmax"].notna()
    out["spearman_cmax_tlast"] = float(stats.spearmanr(kp.loc[ok, "cmax"], kp.loc[ok, "tlast"])[0])
    ok2 = ok & kp["auc28"].notna()
    out["spearman_auc_tlast"] = float(stats.spearmanr(kp.loc[ok2, "auc28"], kp.loc[ok2, "tlast"])[0])
    bca = p["bca"].astype(bool) & kp["tlast"].notna()
    out["spearman_bca_tlast"] = float(stats.spearmanr(p.loc[bca, "bca_duration_days"],
                                                      kp.loc[bca, "tlast"])[0])
    out["or_severe_crs_pre_ld_low"] = _odds_ratio(severe, (p["mrd_pre_ld"] < 1e-3).to_numpy())
    out["or_severe_crs_post_ld_low"] = _odds_ratio(severe, (p["mrd_post_ld"] < 1e-3).to_numpy())
    out["or_severe_crs_dose_low"] = _odds_ratio(severe, (p["cart_dose_1e6_per_kg"] < 3.68).to_numpy())
    out["or_severe_crs_female"] = _odds_ratio(severe, (p["sex"] == "female").to_numpy())
    out["or_severe_crs_no_prior_hsct"] = _odds_ratio(severe, ~p["prior_hsct"].astype(bool).to_numpy())
    out.update(_severe_crs_model1(p, severe))
    t_os = p["last_followup_day"].astype(float).to_numpy()
    d_os = p["death"].astype(bool).to_numpy()
    rel = p["relapse"].astype(bool).to_numpy()
    t_lfs = np.where(rel, p["relapse_day"].astype(float).fillna(np.inf), t_os)
    t_lfs = np.minimum(t_lfs, t_os)
    e_lfs = rel | d_os
    five = 5 * 365.25
    out["os_5y"] = kaplan_meier(t_os, d_os).survival_at(five)[0]
    out["lfs_5y"] = kaplan_meier(t_lfs, e_lfs).survival_at(five)[0]
    out["hr_female_lfs"] = logrank_test(t_lfs, e_lfs, (p["sex"] == "female").to_numpy()).hr_peto
    fu = follow_up(p)
    out["followup_median_months"] = fu.median.estimate
    out["followup_min_months"] = fu.minimum
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

#: How far a calibration target is from the shipped cohort, in words. These describe the
#: calibration's standardised distance ``z``, not the scorecard's status of the published
#: number (:mod:`analysis_lib.paper.scorecard`), which the synthetic-data chapter shows beside them.
FIT_LABELS: tuple[str, ...] = ("|z| ≤ 1", "|z| ≤ 1.96", "|z| > 1.96", "excluded",
                               "not computable")


def status(target: Target, z: float, excluded: Mapping[str, str]) -> str:
    """The calibration fit of one target (:data:`FIT_LABELS`)."""
    if target.key in excluded:
        return FIT_LABELS[3]
    if not np.isfinite(z):
        return FIT_LABELS[4]
    if abs(z) <= 1.0:
        return FIT_LABELS[0]
    if abs(z) <= 1.96:
        return FIT_LABELS[1]
    return FIT_LABELS[2]


def calibration_report(achieved: Mapping[str, float],
                       targets: Sequence[Target] = TARGETS) -> pd.DataFrame:
    """Target, achieved, tolerance (SE), z and status for every target."""
    excluded = excluded_targets()
    rows = []
    for t in targets:
        a = float(achieved.get(t.key, float("nan")))
        z = t.z(a)
        rows.append({"key": t.key, "description": t.description, "source": t.source,
                     "published": t.value, "achieved": a, "scale": t.scale, "se": t.se,
                     "z": z, "status": status(t, z, excluded),
                     "note": excluded.get(t.key, t.se_basis)})
    return pd.DataFrame(rows)


def distance(achieved: Mapping[str, float], targets: Sequence[Target] = TARGETS) -> float:
    """Standardised distance ``sum(z^2)`` over the targets that are not excluded."""
    excluded = excluded_targets()
    zs = [t.z(float(achieved.get(t.key, float("nan")))) for t in targets if t.key not in excluded]
    zs = [z if np.isfinite(z) else 10.0 for z in zs]
    return float(np.sum(np.square(zs)))


# --------------------------------------------------------------------------------------------
# Stage 1: population fit by least squares
# --------------------------------------------------------------------------------------------

#: Parameters fitted on a large population: name -> (lower, upper) bounds.
#: ``tmax_typical`` is not fitted: the observed Tmax lives on the sampling grid, so its median
#: is a step function of the parameter and gives least squares no gradient.
FREE_PARAMETERS: dict[str, tuple[float, float]] = {
    "fb_typical": (1e-6, 1e-2),
    "alpha_typical": (0.02, 0.6),
    "alpha_omega": (0.05, 1.5),
    "cmax_logshift_steroids": (-1.0, 4.0),
    "cmax_logshift_severe_crs": (-1.0, 3.0),
    "cmax_logshift_post_ld_high": (-1.0, 3.0),
    "severe_crs_logw_pre_ld_high": (-2.0, 6.0),
    "severe_crs_logw_post_ld_high": (-2.0, 6.0),
    "severe_crs_logw_dose_high": (-2.0, 6.0),
    "severe_crs_logw_male": (-3.0, 4.0),
    "severe_crs_logw_prior_hsct": (-3.0, 5.0),
    "relapse_logw_male": (-2.0, 5.0),
}
#: Fixed starting point of the fit (the generator's hand-set values before calibration), so
#: that `cartbook calibrate --stage fit` is a pure function of these, the population size and
#: its seed, whatever the current defaults are.
FIT_START: dict[str, float] = {
    "fb_typical": 1e-4, "alpha_typical": 0.125, "alpha_omega": 0.3,
    "cmax_logshift_steroids": 1.3, "cmax_logshift_severe_crs": 0.4,
    "cmax_logshift_post_ld_high": 0.6, "severe_crs_logw_pre_ld_high": 2.2,
    "severe_crs_logw_post_ld_high": 0.7, "severe_crs_logw_dose_high": 1.8,
    "severe_crs_logw_male": 0.6, "severe_crs_logw_prior_hsct": 0.5, "relapse_logw_male": 1.447,
}

#: The targets those parameters are fitted to (the others are checked, not fitted).
FIT_TARGETS: tuple[str, ...] = (
    "tlast_median_mrd_cr", "auc28_median_mrd_cr", "spearman_cmax_tlast", "spearman_auc_tlast", "cmax_ratio_steroids",
    "cmax_ratio_severe_crs", "cmax_ratio_post_ld_high", "mv1_or_pre_ld_low", "mv1_or_dose_low",
    "mv1_or_female", "mv1_or_no_prior_hsct", "hr_female_lfs",
)


@dataclass(frozen=True)
class PopulationFit:
    """Result of :func:`fit_population`: fitted values, the population's statistics before
    and after, and the optimiser's record."""
    params: object  # SyntheticParams
    fitted: dict[str, float]
    before: dict[str, float]
    after: dict[str, float]
    n: int
    seed: int
    nfev: int
    cost: float
    success: bool
    message: str
    se: dict[str, float] | None = None



def _by_key() -> dict[str, Target]:
    return {t.key: t for t in TARGETS}


def population_statistics(params: object, n: int, seed: int) -> dict[str, float]:
    """Statistics of one simulated population of ``n`` patients."""
    from .generator import generate_cohort

    c = generate_cohort(n=n, seed=seed, params=params)  # type: ignore[arg-type]
    return cohort_statistics(c.patients, c.kinetics)


def fit_population(params: object | None = None, *, n: int = 20_000, seed: int = 1,
                   free: Mapping[str, tuple[float, float]] = FREE_PARAMETERS,
                   fit_targets: Sequence[str] = FIT_TARGETS, max_nfev: int = 60,
                   log: Callable[[str], None] | None = None) -> PopulationFit:
    """Fit ``free`` parameters by least squares on a simulated population.

    Residuals are ``(transform(statistic) - transform(published)) / se`` for each fit target;
    the population is regenerated with the same seed at every evaluation (common random
    numbers). ``scipy.optimize.least_squares`` (trust-region reflective, bounds) with
    relative finite-difference steps of 5 %.
    """
    from scipy.optimize import least_squares

    from .generator import SyntheticParams

    base = params if params is not None else replace(SyntheticParams(), relapse_sex_counts=None)
    names = list(free)
    targets = [_by_key()[k] for k in fit_targets]
    excluded = excluded_targets()
    targets = [t for t in targets if t.key not in excluded]
    x0 = np.array([float(getattr(base, k)) for k in names])
    lo = np.array([free[k][0] for k in names])
    hi = np.array([free[k][1] for k in names])
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)

    def with_x(x: np.ndarray) -> object:
        return replace(base, **{k: float(v) for k, v in zip(names, x)})  # type: ignore[arg-type]

    def residuals(x: np.ndarray) -> np.ndarray:
        s = population_statistics(with_x(x), n, seed)
        r = np.array([t.z(s[t.key]) for t in targets])
        if log:
            log(f"  cost {0.5 * float(np.nansum(r ** 2)):9.3f}  "
                + " ".join(f"{k}={v:.3g}" for k, v in zip(names, x)))
        return np.nan_to_num(r, nan=10.0, posinf=10.0, neginf=-10.0)

    before = population_statistics(base, n, seed)
    res = least_squares(residuals, x0, bounds=(lo, hi), diff_step=0.05, max_nfev=max_nfev,
                        x_scale=np.maximum(np.abs(x0), 0.1))
    fitted = {k: float(v) for k, v in zip(names, res.x)}
    final = with_x(res.x)
    after = population_statistics(final, n, seed)
    # Approximate SEs from the Jacobian of the standardised residuals, sqrt(diag((J'J)^-1)):
    # how precisely targets known to n = 50 precision pin each parameter down (large values
    # mean weakly identified, e.g. the correlated pre- and post-LD MRD weights).
    jtj_inv = np.linalg.pinv(res.jac.T @ res.jac)
    se = {k: float(np.sqrt(max(v, 0.0))) for k, v in zip(names, np.diag(jtj_inv))}
    return PopulationFit(final, fitted, before, after, n, seed, int(res.nfev), float(res.cost),
                         bool(res.success), str(res.message), se)


# --------------------------------------------------------------------------------------------
# Stage 2: seed search for the published-size cohort
# --------------------------------------------------------------------------------------------

def search_seeds(params: object, seeds: Iterable[int], n: int = N_PUBLISHED) -> pd.DataFrame:
    """Standardised distance to the targets for the cohort of each seed, best first."""
    from .generator import generate_cohort

    rows = []
    for s in seeds:
        c = generate_cohort(n=n, seed=int(s), params=params)  # type: ignore[arg-type]
        rows.append({"seed": int(s), "distance": distance(cohort_statistics(c.patients,
                                                                            c.kinetics))})
    return pd.DataFrame(rows).sort_values(["distance", "seed"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The calibration record (data/calibration/), reproducible by `cartbook calibrate`
# --------------------------------------------------------------------------------------------

def _round4(x: float) -> float:
    return float(f"{x:.4g}")


def write_population_fit(out_dir: Path, *, n: int = 20_000, seed: int = 1,
                         max_nfev: int = 40) -> Path:
    """Stage 1: fit the free parameters from :data:`FIT_START` and record the result
    (``fit.json``). The generator's defaults are the ``rounded`` values of this record."""
    import json

    from ..data.io import atomic_write_bytes
    from .generator import SyntheticParams

    start = replace(SyntheticParams(), **FIT_START)
    # two rounds: the second restarts the trust region from the first's optimum (the
    # objective is flat in some directions, so one round can stop early)
    first = fit_population(start, n=n, seed=seed, max_nfev=max_nfev)
    fit = fit_population(first.params, n=n, seed=seed, max_nfev=max_nfev)
    record = {
        "synthetic": True,
        "description": "Population fit of the synthetic-cohort generator (analysis_lib.synthetic.calibration)",
        "population_n": n, "population_seed": seed, "method": "scipy least_squares (trf), "
        "relative finite-difference step 0.05, common random numbers",
        "fit_targets": [k for k in FIT_TARGETS if k not in excluded_targets()],
        "start": {k: float(getattr(start, k)) for k in FREE_PARAMETERS},
        "round1": {"fitted": first.fitted, "cost": first.cost, "nfev": first.nfev},
        "fitted": fit.fitted,
        "rounded": {k: _round4(v) for k, v in fit.fitted.items()},
        "approximate_se_at_n50": fit.se,
        "population_statistics_after": fit.after,
        "nfev": fit.nfev, "cost": fit.cost, "message": fit.message,
    }
    path = Path(out_dir) / "fit.json"
    atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    return path


def write_seed_search(out_dir: Path, seeds: Iterable[int]) -> Path:
    """Stage 2: the standardised distance of every candidate seed (``seed_search.csv``)."""
    from ..data.io import write_table
    from .generator import SyntheticParams

    table = search_seeds(SyntheticParams(), seeds)
    return write_table(table, Path(out_dir) / "seed_search.csv",
                       {"synthetic": "true", "description": "distance of each candidate "
                        "synthetic cohort (n = 50) to the calibration targets; smallest first"})


def write_report(out_dir: Path) -> Path:
    """The calibration report of the shipped cohort (``report.csv``)."""
    from ..data.io import write_table
    from .generator import generate_cohort

    c = generate_cohort()
    rep = calibration_report(cohort_statistics(c.patients, c.kinetics))
    return write_table(rep, Path(out_dir) / "report.csv",
                       {"synthetic": "true", "description": "calibration report of the shipped "
                        "SYNTHETIC cohort: published target, achieved value, SE, z, status"})


def load_fit_record(path: Path | None = None) -> dict:
    """The committed population-fit record (``data/calibration/fit.json``)."""
    import json

    path = Path(path) if path else RECORD_DIR / "fit.json"
    return json.loads(path.read_text())


def fitted_table(record: Mapping) -> pd.DataFrame:
    """Fitted parameters: starting value, fitted value (as used) and approximate SE."""
    se = record.get("approximate_se_at_n50", {})
    return pd.DataFrame({
        "Parameter": [f"`{k}`" for k in record["rounded"]],
        "Start": [number(record["start"][k]) for k in record["rounded"]],
        "Fitted": [number(v) for v in record["rounded"].values()],
        "Approx. SE": [number(se.get(k, float("nan")), 3) for k in record["rounded"]],
    })


# --------------------------------------------------------------------------------------------
# Stage 3: the scorecard as the objective (closing the loop)
# --------------------------------------------------------------------------------------------
#
# Stages 1 and 2 use a short list of calibration targets. The scorecard
# (:mod:`analysis_lib.paper.scorecard`) scores *every* number the paper prints, as computed by the
# book's own chapters. Stage 3 makes that the objective: each of the best candidates of the
# seed search is written out, the four result chapters are executed on it exactly as the book
# executes them, and the cohort whose scorecard agrees with the paper most often is chosen.

#: Chapters whose glued values the scorecard reads.
SCORECARD_CHAPTERS: tuple[str, ...] = ("cohort", "kinetics", "survival", "toxicity")


def objective_exclusions(registry: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published numbers left out of the scorecard objective, with the reason: numbers the
    audit shows the paper's own numbers contradict (the finding's reason), numbers that
    describe the study's design rather than a result, and numbers left unscored in the
    reproduction map (its reason). Independent of any data."""
    from ..paper import scorecard as sc
    from ..paper.feasibility import FINDINGS
    from ..paper.registry import load_registry

    card = sc.scorecard(load_registry() if registry is None else registry, sc.load_map(), {})
    reasons = {f.key: f"{f.verdict}: {f.reason}" for f in FINDINGS}
    rows = []
    for r in card.itertuples():
        if r.status == sc.INCONSISTENT:
            why = " ".join(reasons[k.strip()] for k in r.audit.split(",") if k.strip())
            kind = "paper inconsistent (audit)"
        elif r.status == sc.DESIGN:
            kind, why = "study design", "a dose, date, schedule or threshold, not a result"
        elif r.status == sc.NOT_SCORED:
            kind, why = "not scored", r.reason
        else:
            continue
        rows.append({"key": r.key, "section": r.section, "quantity": r.quantity,
                     "published": r.published, "excluded as": kind, "reason": why})
    return pd.DataFrame(rows)


def targets_met(patients: pd.DataFrame, kinetics: pd.DataFrame) -> bool:
    """Whether a cohort keeps every active calibration target within sampling error
    (``|z| <= 1.96``)."""
    rep = calibration_report(cohort_statistics(patients, kinetics))
    active = rep[rep["status"] != FIT_LABELS[3]]
    return bool(active["status"].isin(FIT_LABELS[:2]).all())


#: Columns of the shipped cohort's recorded scorecard (``shipped_scorecard.csv``).
SHIPPED_CARD_COLUMNS: tuple[str, ...] = ("key", "kind", "section", "reproduced", "status")


def load_scorecard_search(path: Path | None = None) -> pd.DataFrame:
    """The committed stage-3 record (``data/calibration/scorecard_search.csv``). A status
    added to the scorecard's rules after the record was written (for example "suppressed
    (small count)") has no column in it; its counts are 0, since the calibration executes the
    chapters with the default parameters (no small-cell suppression, the paper's analysis
    options), and are filled in as such so the record has every figure of
    :func:`analysis_lib.paper.scorecard.score`."""
    from ..paper.scorecard import BADGES, STATUSES

    path = Path(path) if path else RECORD_DIR / "scorecard_search.csv"
    frame = pd.read_csv(path, comment="#")
    for status in STATUSES:
        for prefix in ("n_", "claims_n_"):
            col = prefix + BADGES[status].replace("-", "_")
            if col not in frame.columns:
                frame[col] = 0
    return frame


def load_shipped_scorecard(path: Path | None = None) -> pd.DataFrame:
    """The shipped cohort's recorded scorecard (``data/calibration/shipped_scorecard.csv``)."""
    path = Path(path) if path else RECORD_DIR / "shipped_scorecard.csv"
    return pd.read_csv(path, comment="#", keep_default_na=False,
                       dtype={"key": str, "kind": str, "section": str, "status": str})


def target_scorecard_status(registry: pd.DataFrame, card: pd.DataFrame) -> dict[str, list[str]]:
    """For each calibration target, the scorecard statuses of the published numbers it is
    built from (registry column ``calibration``), so that a page showing a target shows the
    scorecard's status of its number, never a second verdict."""
    from ..paper.registry import canonical

    status = dict(zip(card["key"], card["status"]))
    out: dict[str, list[str]] = {}
    for key, targets in zip(canonical(registry)["key"], canonical(registry)["calibration"]):
        for t in (x.strip() for x in str(targets or "").split(";") if x.strip()):
            if key in status:
                out.setdefault(t, []).append(status[key])
    return out


def scorecard_search_table(record: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The best ``top`` candidates of the stage-3 record as shown in the book: seed, rank and
    distance in the stage-2 seed search, the score and its breakdown (numbers reproduced at
    the paper's precision + within sampling error; claims upheld; numbers not reproduced:
    right direction only / not estimable / differ), in six columns that fit the page."""
    r = record.head(top)
    return pd.DataFrame({
        "Seed": r["seed"].astype(int).astype(str),  # an identifier: no thousands separator
        "Stage-2 rank (distance)": [f"{k} ({number(v, 3)})" for k, v in zip(r["distance_rank"],
                                                                      r["distance"])],
        "Score": [f"{s} of {e}" for s, e in zip(r["score"], r["eligible"])],
        "Numbers reproduced: at precision + within error": [
            f"{a} + {b}" for a, b in zip(r["n_match"], r["n_within"])],
        "Claims upheld": [f"{s} of {e}" for s, e in zip(r["claims_score"],
                                                         r["claims_eligible"])],
        "Not reproduced: direction only / not estimable / differ": [
            f"{a} / {b} / {c}" for a, b, c in zip(r["n_direction"], r["n_not_estimable"],
                                                  r["n_differs"])],
    })


def exclusion_summary(exclusions: pd.DataFrame) -> pd.DataFrame:
    """Counts of published numbers left out of the scorecard objective, by reason kind."""
    c = exclusions["excluded as"].value_counts()
    return pd.DataFrame({"Excluded as": c.index, "Numbers": c.to_numpy()})
