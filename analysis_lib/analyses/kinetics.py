"""CAR-T cellular kinetics: the paper's PK results on top of :mod:`analysis_lib.stats.nca`.

What the paper reports (Wang et al. 2025; Methods, "Pharmacokinetics of CAR-T cells"; Results,
"PK of CAR-T cells"; Table 3; Figure 2; Supplementary Figures S3 and S4) and the function here
that computes it:

* per-patient Cmax, Tmax, Tlast and AUC0–28d joined with the clinical factors:
  :func:`kinetic_parameters`;
* median (range), geometric mean with its confidence interval and geometric CV:
  :func:`summarise`;
* Table 3, medians by clinical factor with Mann–Whitney p-values: :func:`table3`
  (factors from :func:`table3_factors`), tests by :func:`mann_whitney`;
* Spearman correlations among B-cell aplasia (BCA) duration, Tlast, Cmax and AUC0–28d
  (Figure 2, Supplementary Figure S3): :func:`spearman`, :func:`correlations`;
* geometric mean Cmax by day-28 MRD response: :func:`geometric_means`;
* median profiles by day-28 MRD response: :func:`median_profiles`;
* B-cell aplasia in numbers: :func:`bca_summary`.

Beyond the paper (not reported there): the half-life of the persistence phase, from the
terminal phase of each profile after the peak (λz by Phoenix WinNonlin's best-fit rule,
:mod:`analysis_lib.stats.nca`), per patient and by day-28 response: :func:`persistence_half_life`.

The chapter's entry point is :func:`analyse`: from the patients and kinetics tables it
returns a :class:`KineticsResults` with every glued value, the displayed tables (formatted by
:mod:`analysis_lib.core.formatting`), the downloads and what the figures need. Cells the paper
prints are :class:`Compared` cells: this build's value, the paper's (from the registry, through
the reproduction map: :class:`PaperValues`) and the scorecard's status of the number.

Units: transgene levels in copies/µg genomic DNA (qPCR; LLOQ 100 copies/µg in the paper),
times in days from infusion, AUC in day·copies/µg DNA.

Statistical tests: R conventions, stated
-----------------------------------------
The paper used SPSS 26 and does not say which variant of each test it reports. This module
reproduces R's ``stats`` functions exactly, so every p-value can be checked against R, and
each result says which method produced it:

* :func:`mann_whitney` is R's ``wilcox.test(x, y)`` (two-sided): the **exact** null
  distribution of W when both groups have fewer than 50 values and there are no ties, else the
  **normal approximation** with the tie-corrected variance and (``correct=True``, R's default)
  a continuity correction of 0.5. ``correct=False`` gives the normal approximation without
  continuity correction, which is SPSS's "Asymp. Sig. (2-tailed)"; with
  ``method="asymptotic", correct=False`` the paper's MRD-CR p = 0.017 for n = 48 vs 2 is
  reproduced from U = 0 (see :mod:`analysis_lib.paper.feasibility`, finding ``cmax_mwu_mrd_cr``).
  ``scipy.stats.mannwhitneyu`` computes it, with R's rule for the method (scipy's own
  ``method="auto"`` switches to the normal approximation above 8 values).
* :func:`spearman` is R's ``cor.test(x, y, method = "spearman")`` (two-sided). The estimate is
  the Pearson correlation of the mid-ranks. The p-value follows R's default
  (``exact = NULL``): without ties and with n <= 1290, algorithm AS 89 (exact enumeration of
  the permutation distribution for n <= 9, its Edgeworth series approximation for larger n);
  with ties, or with ``method="asymptotic"`` (R's ``exact = FALSE``), the t approximation
  ``t = r sqrt((n - 2) / (1 - r²))`` on n − 2 degrees of freedom, which is also what SPSS and
  ``scipy.stats.spearmanr`` report. Tlast lies on the sampling grid, so correlations that
  involve it have ties and use the t approximation under either choice.

Choices documented here
-----------------------
* **Expansion** (``expanded``): Cmax at least ``expansion_threshold`` copies/µg DNA; by default
  (``None``) twice the patient's LLOQ (200 copies/µg for the paper's assay). The paper reports
  expansion in 49/50 without a threshold; the reading of its numbers that is consistent
  (:mod:`analysis_lib.paper.feasibility`, finding ``cmax_min``) has one patient peaking just above
  the LLOQ (about 124 copies/µg in the synthetic cohort): a threshold of 2 × LLOQ counts that
  patient as not expanded while every peak of an actual expansion (>= 1,602 copies/µg) passes.
  A single result just above the LLOQ is within the assay's imprecision, so it is not taken as
  evidence of expansion.
* **MRD-CR on day 28**: CR or CRi with day-28 MRD below ``mrd_negative_below`` (1e-4, the flow
  cytometry sensitivity); a missing day-28 MRD is not MRD-negative (as
  :func:`analysis_lib.analyses.cohort.response_rates`).
* **BCA duration** is used as recorded; for ongoing aplasia it is the time to the last
  assessment (censored), as the paper gives no other rule.
* **Median profiles**: a result below the LLOQ (BLQ) ranks below every measurable level (as
  PKNCA's BLQ = 0), a summary (median or quartile) that depends on a BLQ result is reported as
  BLQ rather than as a number (:func:`blq_quantile`), and a patient whose monitoring stopped
  after two consecutive BLQ results (the paper's stopping rule) counts as BLQ at later
  scheduled days up to the last follow-up. Without that carry-forward the late medians would
  describe only the patients still measurable.

References
----------
* Wang Y, Jia Y-p, Lu A-d, et al. (2025). Front Immunol 16:1672509 (the paper).
* R Core Team. R: ``wilcox.test`` and ``cor.test`` (package stats, R 4.2), and
  ``src/library/stats/src/prho.c``.
* Hollander M, Wolfe DA (1973). Nonparametric Statistical Methods. Wiley (rank-sum test, tie
  correction, continuity correction).
* Best DJ, Roberts DE (1975). Algorithm AS 89: the upper tail probabilities of Spearman's rho.
  Appl Statist 24(3):377-379.
* Kirkwood TBL (1979). Geometric means and measures of dispersion. Biometrics 35:908-909
  (geometric CV = sqrt(exp(s²) − 1)).
* Denney W, Duvvuri S, Buckeridge C (2015). Simple, automatic noncompartmental analysis: the
  PKNCA R package. J Pharmacokinet Pharmacodyn 42:11-107 (BLQ = 0 convention).
* Stein AM, Grupp SA, Levine JE, et al. (2019). Tisagenlecleucel model-based cellular kinetic
  analysis of chimeric antigen receptor-T cells. CPT Pharmacometrics Syst Pharmacol 8:285-295.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..core import suppression
from ..core.formatting import DASH, count, fixed, number, p_phrase, p_value, percent
from ..core.units import cut_id, format_mrd
from ..stats.descriptive import geometric_stats
from ..stats.nca import (
    LAMBDA_Z_REASONS,
    LZ_NO_MEASURABLE,
    LZ_TOO_FEW,
    AUCMethod,
    TerminalRules,
    nca,
)
from ..stats.profiles import blq_quantile, scheduled_quantiles  # noqa: F401  (blq_quantile: re-exported)
from ..stats.rank_tests import MannWhitney, MWMethod, SpearmanMethod, mann_whitney, spearman

#: Default multiple of the LLOQ that a peak must reach to count as expansion.
EXPANSION_LLOQ_MULTIPLE: float = 2.0

#: Sampling days of the paper's protocol after infusion (Methods): days 7, 14, 28 and weeks
#: 12, 26, 39, 54 and 104.
SCHEDULE_DAYS: tuple[float, ...] = (7.0, 14.0, 28.0, 84.0, 182.0, 273.0, 378.0, 728.0)

#: The four kinetic parameters the paper reports: column, label, unit.
PARAMETERS: tuple[tuple[str, str, str], ...] = (
    ("cmax", "Cmax", "copies/µg DNA"),
    ("tmax", "Tmax", "days"),
    ("tlast", "Tlast", "days"),
    ("auc_0_28", "AUC0–28d", "day·copies/µg DNA"),
)


# ============================================================================================
# Per-patient kinetic parameters
# ============================================================================================

def kinetic_parameters(kinetics: pd.DataFrame, patients: pd.DataFrame, *,
                       auc_method: AUCMethod = "linear-up/log-down",
                       interval_end: float = 28.0,
                       expansion_threshold: float | None = None,
                       mrd_negative_below: float = 1e-4,
                       terminal_rules: TerminalRules = TerminalRules()) -> pd.DataFrame:
    """NCA parameters of every patient, joined with the patient's clinical data.

    Parameters
    ----------
    kinetics : DataFrame
        The kinetics table (``patient_id``, ``day``, ``copies_per_ug_dna``, ``below_lloq``,
        ``lloq_copies_per_ug_dna``); levels in copies/µg genomic DNA, days from infusion.
    patients : DataFrame
        The patients table; one output row per patient, in its order.
    auc_method : {"linear-up/log-down", "linear"}
        AUC rule (see :func:`analysis_lib.stats.nca.nca`).
    interval_end : float
        End of the AUC interval in days (28: AUC0–28d).
    expansion_threshold : float or None
        Cmax (copies/µg DNA) at or above which a patient counts as expanded. ``None``
        (default): :data:`EXPANSION_LLOQ_MULTIPLE` × the patient's LLOQ (the largest LLOQ of
        the patient's post-infusion samples), i.e. 200 copies/µg with the paper's assay.
    mrd_negative_below : float
        Day-28 MRD (fraction) below which a CR/CRi counts as MRD-negative (``mrd_cr``).
    terminal_rules : TerminalRules
        How the terminal phase is chosen (default: WinNonlin's best fit, at least 3 measurable
        levels after the peak; see :mod:`analysis_lib.stats.nca`).

    Returns
    -------
    DataFrame
        The columns of ``patients``, then ``cmax`` (copies/µg DNA), ``tmax`` and ``tlast``
        (days), ``auc_0_28`` (AUC over [0, ``interval_end``], day·copies/µg DNA; the column
        keeps this name whatever the interval), ``clast``, ``auclast``, ``n_samples``,
        ``n_measurable``, ``lloq``, ``expansion_threshold``, ``expanded``,
        ``persistence_ended``, ``auc_complete``, ``nca_reason``, the terminal phase
        (``lambda_z`` in 1/day, ``half_life`` in days, ``lambda_z_n_points``,
        ``lambda_z_time_first`` and ``lambda_z_time_last`` in days, ``adj_r_squared``,
        ``auc_pct_extrap_obs`` in %, ``lambda_z_reason``: why there is none, "" when there
        is) and the derived factors ``mrd_cr`` (bool), ``bca_duration`` (days, NaN without
        BCA). Patients without any kinetics sample have NaN parameters and ``expanded``
        False. ``attrs`` records the settings (``auc_method``, ``interval_end``,
        ``expansion_rule``, ``terminal_rule``).

    Raises
    ------
    ValueError
        If the kinetics table has patients that are not in the patients table.
    """
    unknown = sorted(set(kinetics["patient_id"]) - set(patients["patient_id"]))
    if unknown:
        raise ValueError(f"kinetics has patient(s) not in the patients table: {unknown[:10]}")
    res = nca(kinetics, auc_method=auc_method, interval_end=interval_end,
              terminal_rules=terminal_rules)
    w = res.wide.rename(columns={"auc_interval": "auc_0_28",
                                 "auc_interval_complete": "auc_complete",
                                 "reason": "nca_reason"})
    post = kinetics[kinetics["day"] >= 0]
    if "lloq_copies_per_ug_dna" in post.columns:
        lloq = post.groupby("patient_id")["lloq_copies_per_ug_dna"].max()
    else:
        lloq = pd.Series(0.0, index=w["patient_id"])
    w["lloq"] = w["patient_id"].map(lloq).astype(float)
    if expansion_threshold is None:
        w["expansion_threshold"] = EXPANSION_LLOQ_MULTIPLE * w["lloq"].fillna(0.0)
        rule = f"Cmax >= {number(EXPANSION_LLOQ_MULTIPLE)} × LLOQ"
    else:
        w["expansion_threshold"] = float(expansion_threshold)
        rule = f"Cmax >= {number(float(expansion_threshold))} copies/µg DNA"
    w["expanded"] = (w["cmax"] >= w["expansion_threshold"]).fillna(False).astype(bool)
    keep = ["patient_id", "cmax", "tmax", "tlast", "auc_0_28", "clast", "auclast", "n_samples",
            "n_measurable", "lloq", "expansion_threshold", "expanded", "persistence_ended",
            "auc_complete", "nca_reason", *TERMINAL_COLUMNS]
    out = patients.merge(w[keep], on="patient_id", how="left", validate="one_to_one")
    for col in ("expanded", "persistence_ended", "auc_complete"):
        out[col] = out[col].astype("boolean").fillna(False).astype(bool)
    for col in ("n_samples", "n_measurable", "lambda_z_n_points"):
        out[col] = out[col].fillna(0).astype(int)
    out["lambda_z_reason"] = out["lambda_z_reason"].fillna(LAMBDA_Z_REASONS[LZ_NO_MEASURABLE])
    out["mrd_cr"] = mrd_cr(out, mrd_negative_below)
    if "bca" in out.columns and "bca_duration_days" in out.columns:
        has_bca = out["bca"].astype("boolean").fillna(False).astype(bool)
        out["bca_duration"] = out["bca_duration_days"].astype(float).where(has_bca)
    out.attrs = {"auc_method": auc_method, "interval_end": float(interval_end),
                 "expansion_rule": rule, "mrd_negative_below": float(mrd_negative_below),
                 "terminal_rule": terminal_rules.describe(),
                 "terminal_min_points": int(terminal_rules.min_points)}
    return out


#: Terminal-phase columns that :func:`kinetic_parameters` keeps from the NCA.
TERMINAL_COLUMNS: tuple[str, ...] = (
    "lambda_z", "half_life", "lambda_z_n_points", "lambda_z_time_first", "lambda_z_time_last",
    "adj_r_squared", "auc_pct_extrap_obs", "lambda_z_reason",
)


def mrd_cr(patients: pd.DataFrame, mrd_negative_below: float = 1e-4) -> pd.Series:
    """Day-28 MRD-negative CR/CRi: ``d28_response`` in (cr, cri) and ``d28_mrd`` below
    ``mrd_negative_below``; a missing day-28 MRD is not MRD-negative."""
    cr = patients["d28_response"].isin(["cr", "cri"])
    neg = (patients["d28_mrd"].astype(float) < mrd_negative_below).fillna(False)
    return (cr & neg).astype(bool)


def assay_lloq(kinetics: pd.DataFrame) -> float:
    """The LLOQ to draw on figures (copies/µg DNA): the most common LLOQ of the samples."""
    v = kinetics["lloq_copies_per_ug_dna"].dropna()
    return float(v.mode().iloc[0]) if len(v) else float("nan")


def nca_table(params: pd.DataFrame) -> pd.DataFrame:
    """The per-patient NCA table for export: study code, response, parameters and flags."""
    cols = ["patient_id", "mrd_cr", "cmax", "tmax", "tlast", "auc_0_28", "clast", "auclast",
            "n_samples", "n_measurable", "expanded", "persistence_ended", "auc_complete",
            "nca_reason"]
    return params[[c for c in cols if c in params.columns]].reset_index(drop=True)


def display_order(params: pd.DataFrame) -> pd.DataFrame:
    """``params`` in the order the book numbers patients (without study codes): decreasing
    Cmax, ties by Tmax, patients without Cmax last; a column ``#`` gives the number (1, 2, ...).
    The same numbers in every table of the chapter."""
    p = params.sort_values(["cmax", "tmax"], ascending=[False, True], na_position="last",
                           kind="stable").reset_index(drop=True)
    return p.assign(**{"#": np.arange(1, len(p) + 1)})


def nca_display(params: pd.DataFrame, auc_label: str = "AUC0–28d") -> pd.DataFrame:
    """The per-patient NCA table for the book, WITHOUT study codes: patients are numbered in
    decreasing order of Cmax (ties by Tmax), which does not follow the study-code order
    (:func:`display_order`)."""
    p = display_order(params)
    yes_no = {True: "yes", False: "no"}
    return pd.DataFrame({
        "#": p["#"].to_numpy(),
        "Day-28 MRD-CR": p["mrd_cr"].map(yes_no),
        "Cmax (copies/µg DNA)": [number(v) for v in p["cmax"]],
        "Tmax (d)": [number(v) for v in p["tmax"]],
        "Tlast (d)": [number(v) for v in p["tlast"]],
        f"{auc_label} (d·copies/µg DNA)": [number(v) for v in p["auc_0_28"]],
        "Expanded": p["expanded"].map(yes_no),
        "Monitoring ended (2 BLQ)": p["persistence_ended"].map(yes_no),
    })


def summarise(params: pd.DataFrame, *, subset: pd.Series | np.ndarray | None = None,
              conf_level: float = 0.95,
              parameters: Sequence[tuple[str, str, str]] = PARAMETERS) -> pd.DataFrame:
    """Summary of each kinetic parameter as the paper gives them.

    Parameters
    ----------
    params : DataFrame
        From :func:`kinetic_parameters`.
    subset : boolean mask, optional
        Patients to include (e.g. ``params["expanded"]``); default all.
    conf_level : float
        Level of the geometric-mean interval.
    parameters : sequence of (column, label, unit)
        Default :data:`PARAMETERS`: Cmax (copies/µg DNA), Tmax (days), Tlast (days),
        AUC0–28d (day·copies/µg DNA).

    Returns
    -------
    DataFrame
        One row per parameter: ``parameter`` (column), ``label``, ``unit``, ``n`` (non-missing
        values), ``median``, ``min``, ``max``, then the :func:`geometric_stats` columns
        (``n_positive``, ``geo_mean``, ``geo_ci_low``, ``geo_ci_high``, ``geo_cv_pct``).
    """
    p = params if subset is None else params[np.asarray(subset, dtype=bool)]
    rows = []
    for col, label, unit in parameters:
        v = p[col].astype(float).dropna()
        rows.append({"parameter": col, "label": label, "unit": unit, "n": int(v.size),
                     "median": float(v.median()) if v.size else math.nan,
                     "min": float(v.min()) if v.size else math.nan,
                     "max": float(v.max()) if v.size else math.nan,
                     **geometric_stats(v, conf_level)})
    return pd.DataFrame(rows)


#: Indent of the rows under a group row in the book's tables (an HTML entity: Markdown
#: strips leading whitespace from table cells).
INDENT = "&emsp;"


def summary_display(summary: pd.DataFrame, conf_level: float = 0.95,
                    paper: "PaperValues | None" = None) -> pd.DataFrame:
    """A :func:`summarise` frame formatted for the book: parameter (with its unit), n, median
    (range), geometric mean (CI), geometric CV%. With a ``population`` column, each
    population is a group row ("All patients") with its parameters indented under it.

    With ``paper``, a median (range) that the paper prints for all patients (the glue key
    ``<parameter>_median`` is in the reproduction map) is a :class:`Compared` cell with the
    paper's value and the scorecard's status."""
    lvl = round(100 * conf_level)
    population = (summary["population"] if "population" in summary.columns
                  else pd.Series("All", index=summary.index))
    gm_col = f"Geometric mean ({lvl}% CI)"
    rows: list[dict[str, object]] = []
    for pop, part in summary.groupby(population, sort=False):
        if "population" in summary.columns:
            rows.append({"Parameter": f"**{'All patients' if pop == 'All' else pop}**"})
        for r in part.itertuples():
            text = f"{number(r.median)} ({number(r.min)}–{number(r.max)})"
            key = paper.key(f"{r.parameter}_median") if paper is not None and pop == "All" \
                else ""
            indent = INDENT if "population" in summary.columns else ""
            rows.append({
                "Parameter": f"{indent}{r.label} ({r.unit})", "n": suppression.count_text(r.n),
                "Median (range)": paper.compared(text, key) if key else text,
                gm_col: geometric_mean_text(r.geo_mean, r.geo_ci_low, r.geo_ci_high,
                                            r.n_positive),
                "Geometric CV%": geometric_cv_text(r.geo_cv_pct, min(r.n, r.n_positive))})
    return pd.DataFrame(rows, columns=["Parameter", "n", "Median (range)", gm_col,
                                       "Geometric CV%"]).fillna("")


#: Fewest values for which a geometric mean's t-based interval is shown: with two values it
#: has one degree of freedom (t = 12.7 at 95%) and spans many orders of magnitude.
MIN_N_GEOMETRIC_CI: int = 3


def _ci_withheld(n: int) -> str:
    """Why a geometric mean of ``n`` values has no interval ("" when it has one): with
    small-cell suppression on and ``n`` small, ``CI not shown for fewer than 5 patients``
    (the same words for every small ``n``: the interval, or its absence, would give the
    count away); otherwise, with fewer than :data:`MIN_N_GEOMETRIC_CI` values, ``CI not
    estimable with 2 patients``."""
    n = int(n)
    if suppression.is_small(n):
        return f"CI not shown for fewer than {count(suppression.min_cell_count())} patients"
    if n < MIN_N_GEOMETRIC_CI:
        return f"CI not estimable with {suppression.count_text(n)} patient{'' if n == 1 else 's'}"
    return ""


def geometric_mean_text(geo_mean: float, low: float, high: float, n: int,
                        ci_label: str = "") -> str:
    """``30,234 (19,955–45,807)``: a geometric mean with its interval; with fewer than
    :data:`MIN_N_GEOMETRIC_CI` values ``445.7 (CI not estimable with 2 patients)``, and for a
    count that small-cell suppression hides ``445.7 (CI not shown for fewer than 5
    patients)`` (:func:`_ci_withheld`). ``ci_label`` (``"95% CI "``) is written before the
    interval."""
    if math.isnan(float(geo_mean)):
        return DASH
    why = _ci_withheld(n)
    if why:
        return f"{number(geo_mean)} ({why})"
    return f"{number(geo_mean)} ({ci_label}{number(low)}–{number(high)})"


def geometric_cv_text(cv_pct: float, n: int) -> str:
    """A geometric CV% as the tables show it (three significant digits), or "–" for a group
    whose count small-cell suppression hides (a spread of one value is missing, of two a
    number: it would tell them apart)."""
    return DASH if suppression.is_small(int(n)) else number(cv_pct, 3)


def geometric_means(params: pd.DataFrame, by: str = "mrd_cr", value: str = "cmax", *,
                    conf_level: float = 0.95, levels: Sequence[object] = (True, False),
                    method: MWMethod = "auto", correct: bool = True) -> pd.DataFrame:
    """Geometric mean of ``value`` (default Cmax, copies/µg DNA) in each group of ``by``
    (default day-28 MRD-CR: yes, no), with its confidence interval and CV, and the
    Mann–Whitney p-value between the first two levels.

    Returns one row per level: ``level``, ``n`` (patients in the level), ``median``, then the
    :func:`geometric_stats` columns, and ``p_value``, ``test_method`` (the same on every row).
    """
    rows = []
    for lvl in levels:
        v = params.loc[params[by] == lvl, value].astype(float)
        vv = v.dropna()
        rows.append({"level": lvl, "n": int(v.size),
                     "median": float(vv.median()) if vv.size else math.nan,
                     **geometric_stats(vv, conf_level)})
    mw = mann_whitney(params[value], params[by], levels=tuple(levels)[:2], method=method,
                      correct=correct)
    out = pd.DataFrame(rows)
    out["p_value"] = mw.p_value
    out["test_method"] = mw.method
    return out


def geometric_means_display(gm: pd.DataFrame, conf_level: float = 0.95,
                            level_labels: dict | None = None,
                            paper: "PaperValues | None" = None,
                            t3: pd.DataFrame | None = None) -> pd.DataFrame:
    """A :func:`geometric_means` frame formatted for the book (one row per level), with the
    Mann–Whitney p-value on the first row.

    With ``paper`` (and the :func:`table3` frame ``t3`` for the identity keys of the
    day-28 MRD-CR rows), the cells the paper prints are :class:`Compared` cells: n, median
    and p from its Table 3, geometric means from its text."""
    lvl = round(100 * conf_level)
    labels = level_labels or {True: "MRD-negative CR/CRi", False: "Not MRD-negative CR/CRi"}
    level_ids = {True: "yes", False: "no"}
    rows = []
    for i, r in enumerate(gm.itertuples()):
        cells = {"n": suppression.count_text(r.n), "median": number(r.median),
                 "gm": geometric_mean_text(r.geo_mean, r.geo_ci_low, r.geo_ci_high,
                                           r.n_positive),
                 "p": p_value(r.p_value) if i == 0 else ""}
        if paper is not None:
            t3key = f"t3_mrd_cr_d28_{level_ids.get(r.level, '')}"
            if t3 is not None and "mrd_cr_d28" in set(t3["factor"]):
                cells["n"] = paper.compared(cells["n"], paper.key(f"{t3key}_n"),
                                            suppressed=suppression.is_small(r.n))
                cells["median"] = paper.compared(cells["median"],
                                                 paper.key(f"{t3key}_cmax_median"))
                if i == 0:
                    cells["p"] = paper.compared(cells["p"],
                                                paper.key("t3_mrd_cr_d28_p_cmax"))
            group = "mrdcr" if r.level is True else "other" if r.level is False else ""
            cells["gm"] = paper.compared(cells["gm"], paper.key(f"gm_cmax_{group}_geo_mean"))
        rows.append({"Day-28 response": labels.get(r.level, str(r.level)),
                     "n": cells["n"], "Median": cells["median"],
                     f"Geometric mean ({lvl}% CI)": cells["gm"],
                     "Geometric CV%": geometric_cv_text(r.geo_cv_pct, min(r.n, r.n_positive)),
                     "p (Mann–Whitney)": cells["p"]})
    return pd.DataFrame(rows)


def bca_summary(patients: pd.DataFrame) -> dict[str, float]:
    """B-cell aplasia: ``n_bca`` of ``n`` patients, onset day range and median
    (``onset_min``, ``onset_median``, ``onset_max``, days), and the median, minimum and
    maximum duration (days; ongoing episodes counted to the last assessment), with
    ``n_ongoing``."""
    bca = patients["bca"].astype("boolean").fillna(False).astype(bool)
    onset = patients.loc[bca, "bca_onset_day"].astype(float).dropna()
    dur = patients.loc[bca, "bca_duration_days"].astype(float).dropna()
    ongoing = patients.loc[bca, "bca_ongoing"].astype("boolean").fillna(False).astype(bool)
    nan = math.nan
    return {"n": int(len(patients)), "n_bca": int(bca.sum()),
            "onset_min": float(onset.min()) if onset.size else nan,
            "onset_median": float(onset.median()) if onset.size else nan,
            "onset_max": float(onset.max()) if onset.size else nan,
            "duration_median": float(dur.median()) if dur.size else nan,
            "duration_min": float(dur.min()) if dur.size else nan,
            "duration_max": float(dur.max()) if dur.size else nan,
            "n_ongoing": int(ongoing.sum())}


#: The correlations of Figure 2 (BCA duration against Tlast, Cmax, AUC0–28d) and
#: Supplementary Figure S3 (Tlast against Cmax and AUC0–28d): (key, x, y, figure).
CORRELATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("bca_tlast", "tlast", "bca_duration", "Figure 2"),
    ("bca_cmax", "cmax", "bca_duration", "Figure 2"),
    ("bca_auc", "auc_0_28", "bca_duration", "Figure 2"),
    ("tlast_cmax", "cmax", "tlast", "Figure S3"),
    ("tlast_auc", "auc_0_28", "tlast", "Figure S3"),
)


def correlations(params: pd.DataFrame, method: SpearmanMethod = "auto") -> pd.DataFrame:
    """The Spearman correlations of Figure 2 and Supplementary Figure S3 (:data:`CORRELATIONS`).

    Returns one row per pair: ``key``, ``x``, ``y``, ``figure``, ``n``, ``r``, ``p_value``,
    ``method`` (actually used), ``ties``. BCA duration is defined for patients with BCA only
    (``bca_duration``), so Figure 2 uses those patients with a Tlast, Cmax or AUC.
    """
    rows = []
    for key, xc, yc, fig in CORRELATIONS:
        res = spearman(params[xc], params[yc], method=method)
        rows.append({"key": key, "x": xc, "y": yc, "figure": fig, "n": res.n, "r": res.r,
                     "p_value": res.p_value, "method": res.method, "ties": res.ties})
    return pd.DataFrame(rows)


# ============================================================================================
# Table 3
# ============================================================================================

@dataclass(frozen=True)
class Factor:
    """A clinical factor of Table 3: a label and a function giving each patient's level.

    Attributes
    ----------
    key : stable ASCII identifier of the factor *and its cut-point* (``"steroids"``,
        ``"pre_ld_mrd_1e3"``): the prefix of the registry keys of the paper's Table 3 cells
        (``data/published/registry.csv``), so that published and reproduced cells are paired
        by identity (:func:`table3_cells`).
    label : row label (``"Steroids"``).
    levels : level labels in display order (the first two are compared).
    assign : function of the parameters frame returning a Series of level labels (missing
        where the factor is unknown).
    level_ids : stable ASCII identifier of each level, in the order of ``levels``
        (``("yes", "no")``, ``("lt1e3", "ge1e3")``).
    """
    key: str
    label: str
    levels: tuple[str, ...]
    assign: Callable[[pd.DataFrame], pd.Series] = field(repr=False)
    level_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.level_ids) != len(self.levels):
            raise ValueError(f"factor {self.key!r}: one identifier per level is needed")
        for ident in (self.key, *self.level_ids):
            if not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", ident):
                raise ValueError(f"not a stable identifier: {ident!r}")


def _yes_no(col: str) -> Callable[[pd.DataFrame], pd.Series]:
    def f(p: pd.DataFrame) -> pd.Series:
        v = p[col].astype("boolean")
        return v.map({True: "Yes", False: "No"}).astype(object)
    return f


def _split(col: str, cut: float, below: str, above: str, *,
           above_inclusive: bool = True) -> Callable[[pd.DataFrame], pd.Series]:
    def f(p: pd.DataFrame) -> pd.Series:
        v = p[col].astype(float)
        hi = (v >= cut) if above_inclusive else (v > cut)
        return pd.Series(np.where(hi, above, below), index=p.index, dtype=object).where(v.notna())
    return f


def table3_factors(age_cut: float = 10.0, mrd_cuts: Sequence[float] = (1e-4, 1e-3, 1e-2),
                   dose_threshold: float = 3.68) -> list[Factor]:
    """The clinical factors of the paper's Table 3, in its order, with its cut-points.

    Age 0–``age_cut`` vs > ``age_cut`` years; sex; HSCT history; CAR-T history; pre-LD and
    post-LD MRD below vs at or above each of ``mrd_cuts`` (fractions); CAR-T dose at or above
    vs below ``dose_threshold`` (10⁶ cells/kg); CRS grade 0–2 vs ≥3; ICANS (any grade); grade 4
    neutropenia; tocilizumab; corticosteroids; MRD-CR on day 28 (``mrd_cr`` of
    :func:`kinetic_parameters`). Each factor's ``key`` and ``level_ids`` encode the cut-point
    (:func:`cut_id`), so a cell computed with another cut never pairs with the paper's.
    """
    a = number(age_cut)
    ai = cut_id(age_cut)
    yes_no = ("Yes", "No"), ("yes", "no")
    f: list[Factor] = [
        Factor("age", "Age, years", (f"0–{a}", f">{a}"),
               _split("age_years", age_cut, f"0–{a}", f">{a}", above_inclusive=False),
               (f"0_{ai}", f"gt{ai}")),
        Factor("sex", "Sex", ("Male", "Female"),
               lambda p: p["sex"].map({"male": "Male", "female": "Female"}).astype(object),
               ("male", "female")),
        Factor("hsct_history", "HSCT history", yes_no[0], _yes_no("prior_hsct"), yes_no[1]),
        Factor("cart_history", "CAR-T history", yes_no[0], _yes_no("prior_cart"), yes_no[1]),
    ]
    for col, name, ident in (("mrd_pre_ld", "Pre-LD MRD", "pre_ld_mrd"),
                             ("mrd_post_ld", "Post-LD MRD", "post_ld_mrd")):
        for cut in mrd_cuts:
            m, c = format_mrd(cut), cut_id(cut)
            f.append(Factor(f"{ident}_{c}", f"{name} (cut {m})", (f"<{m}", f"≥{m}"),
                            _split(col, cut, f"<{m}", f"≥{m}"), (f"lt{c}", f"ge{c}")))
    d, di = number(dose_threshold), cut_id(dose_threshold)
    f += [
        Factor("dose", "CAR-T dose, ×10⁶ cells/kg", (f"≥{d}", f"<{d}"),
               _split("cart_dose_1e6_per_kg", dose_threshold, f"<{d}", f"≥{d}"),
               (f"ge{di}", f"lt{di}")),
        Factor("crs", "CRS grade", ("0–2", "≥3"), _split("crs_grade", 3, "0–2", "≥3"),
               ("grade0_2", "grade3_4")),
        Factor("icans", "ICANS", ("No", "Yes"), _split("icans_grade", 1, "No", "Yes"),
               ("no", "yes")),
        Factor("g4_neutropenia", "Grade 4 neutropenia", yes_no[0],
               _yes_no("neutropenia_grade4"), yes_no[1]),
        Factor("tocilizumab", "Tocilizumab", yes_no[0], _yes_no("tocilizumab"), yes_no[1]),
        Factor("steroids", "Steroids", yes_no[0], _yes_no("corticosteroids"), yes_no[1]),
        Factor("mrd_cr_d28", "MRD-CR on day 28", yes_no[0], _yes_no("mrd_cr"), yes_no[1]),
    ]
    return f


#: Table 3's three parameters: (column, short name used in column names).
TABLE3_PARAMETERS: tuple[tuple[str, str], ...] = (("cmax", "cmax"), ("auc_0_28", "auc"),
                                                  ("tlast", "tlast"))


def table3(params: pd.DataFrame, factors: Sequence[Factor] | None = None, *,
           method: MWMethod = "auto", correct: bool = True) -> pd.DataFrame:
    """The paper's Table 3: median Cmax, AUC0–28d and Tlast by clinical factor, with
    Mann–Whitney p-values.

    Parameters
    ----------
    params : DataFrame
        From :func:`kinetic_parameters`.
    factors : sequence of Factor
        Default :func:`table3_factors` with the paper's cut-points; pass
        ``table3_factors(age_cut=..., mrd_cuts=..., dose_threshold=...)`` to change them.
    method, correct : Mann–Whitney method and continuity correction (:func:`mann_whitney`).

    Returns
    -------
    DataFrame
        One row per factor level: ``factor`` (key), ``label``, ``level``, ``level_id``
        (the level's stable identifier), ``n`` (patients in
        the level), ``cmax_median`` (copies/µg DNA), ``auc_median`` (day·copies/µg DNA),
        ``tlast_median`` (days), ``cmax_n``, ``auc_n``, ``tlast_n`` (non-missing values), and
        for the factor (repeated on its rows) ``p_cmax``, ``p_auc``, ``p_tlast`` with
        ``method_cmax``, ``method_auc``, ``method_tlast`` (the method actually used) and
        ``ties_cmax``, ``ties_auc``, ``ties_tlast``. Medians leave out missing values (e.g. no
        Tlast when nothing was measurable); p is NaN when a level is empty.
    """
    factors = table3_factors() if factors is None else factors
    rows = []
    for fac in factors:
        lvl = fac.assign(params)
        tests = {short: mann_whitney(params[col], lvl, method=method, correct=correct,
                                     levels=fac.levels[:2])
                 for col, short in TABLE3_PARAMETERS}
        for level, level_id in zip(fac.levels, fac.level_ids):
            sel = params[(lvl == level).fillna(False).to_numpy(dtype=bool)]
            row: dict[str, object] = {"factor": fac.key, "label": fac.label, "level": level,
                                      "level_id": level_id, "n": int(len(sel))}
            for col, short in TABLE3_PARAMETERS:
                v = sel[col].astype(float).dropna()
                row[f"{short}_median"] = float(v.median()) if v.size else math.nan
                row[f"{short}_n"] = int(v.size)
            for _, short in TABLE3_PARAMETERS:
                row[f"p_{short}"] = tests[short].p_value
                row[f"method_{short}"] = tests[short].method
                row[f"ties_{short}"] = tests[short].ties
            rows.append(row)
    return pd.DataFrame(rows)


#: Table 3's cells as named in the registry keys: (column of :func:`table3`, key suffix).
TABLE3_CELLS: tuple[tuple[str, str], ...] = (("n", "n"), ("cmax_median", "cmax_median"),
                                             ("auc_median", "auc28_median"),
                                             ("tlast_median", "tlast_median"))
#: Table 3's p-values: (column of :func:`table3`, key suffix).
TABLE3_P: tuple[tuple[str, str], ...] = (("p_cmax", "p_cmax"), ("p_auc", "p_auc28"),
                                         ("p_tlast", "p_tlast"))


def table3_cells(t3: pd.DataFrame) -> dict[str, float]:
    """Every cell of :func:`table3` under its identity key, the key the registry gives the
    paper's cell: ``t3_<factor>_<level>_<n|cmax_median|auc28_median|tlast_median>`` for the
    levels and ``t3_<factor>_p_<cmax|auc28|tlast>`` for the factor's p-values (e.g.
    ``t3_pre_ld_mrd_1e3_lt1e3_n``, ``t3_steroids_p_auc28``). Pairing by these keys never
    depends on the order or the wording of rows."""
    out: dict[str, float] = {}
    for r in t3.to_dict("records"):
        base = f"t3_{r['factor']}"
        for col, suffix in TABLE3_CELLS:
            out[f"{base}_{r['level_id']}_{suffix}"] = (int(r[col]) if col == "n"
                                                        else float(r[col]))
        for col, suffix in TABLE3_P:
            out[f"{base}_{suffix}"] = float(r[col])
    return out


#: Column headers of the displayed Table 3 (parameter short name -> header; the line break
#: keeps the columns narrow enough for the page).
TABLE3_HEADERS: dict[str, str] = {"cmax": "Median Cmax<br>(copies/µg DNA)",
                                  "auc": "Median AUC0–28d<br>(copies/µg DNA × d)",
                                  "tlast": "Median Tlast<br>(d)"}


def _table3_labels(factor: str, label: str, level: str) -> tuple[str, str]:
    """The factor and level as the paper's Table 3 prints them (shorter than the
    :func:`table3_factors` labels, which name the cut-point for the downloads): "Pre-LD MRD"
    with levels "<10⁻⁴", "CAR-T dose" with levels "≥3.68 ×10⁶/kg"."""
    if factor.startswith(("pre_ld_mrd_", "post_ld_mrd_")):
        return re.sub(r" \(cut [^)]*\)$", "", label), level
    if factor == "dose":
        return "CAR-T dose", f"{level} ×10⁶/kg"
    return label, level


def table3_display(t3: pd.DataFrame, paper: "PaperValues | None" = None) -> pd.DataFrame:
    """Table 3 laid out as in the paper, compactly: a row per factor, then one row per level
    with N and the medians of Cmax, AUC0–28d and Tlast. The paper prints each factor's three
    Mann–Whitney p-values on the factor's row in a p column after each median; here they are
    on the factor's row *in* the column of the parameter they test (``p = 0.017``), so the
    table has five columns instead of eight and fits the page with the paper's value under
    each of this build's.

    With ``paper``, every cell the paper prints is a :class:`Compared` cell (the paper's
    value and the scorecard's status, paired by the cell's identity key, :func:`table3_cells`);
    without it, plain text. Counts are small-cell suppressed when suppression is on, and a
    suppressed count keeps the paper's value but not its status (a "matches" beside "<5"
    would give the count away)."""
    def cell(text: str, key: str, suppressed: bool = False) -> "str | Compared":
        return paper.compared(text, paper.key(key), suppressed=suppressed) \
            if paper is not None else text

    out = []
    for fkey, rows in t3.groupby("factor", sort=False):
        first = rows.iloc[0]
        label = _table3_labels(fkey, first["label"], "")[0]
        head: dict[str, object] = {"Characteristic": f"**{label}**", "N": ""}
        for short, col in TABLE3_HEADERS.items():
            suffix = dict(TABLE3_P)[f"p_{short}"]
            head[col] = cell(p_phrase(first[f"p_{short}"]), f"t3_{fkey}_{suffix}")
        out.append(head)
        for r in rows.to_dict("records"):
            base = f"t3_{fkey}_{r['level_id']}"
            row: dict[str, object] = {
                "Characteristic": f"{INDENT}{_table3_labels(fkey, r['label'], r['level'])[1]}",
                "N": cell(suppression.count_text(r["n"]), f"{base}_n",
                          suppression.is_small(r["n"]))}
            for (short, col), (_, suffix) in zip(TABLE3_HEADERS.items(), TABLE3_CELLS[1:]):
                row[col] = cell(number(r[f"{short}_median"]), f"{base}_{suffix}")
            out.append(row)
    return pd.DataFrame(out, columns=["Characteristic", "N", *TABLE3_HEADERS.values()])


def table3_comparison(t3: pd.DataFrame, paper: "PaperValues") -> pd.DataFrame:
    """Every cell of Table 3 as a row, for download: identity key, factor, level (empty for
    a p-value), quantity, this build's value, the paper's value and the scorecard status."""
    shown = {"n": "N", "cmax_median": "Median Cmax", "auc28_median": "Median AUC0-28d",
             "tlast_median": "Median Tlast", "p_cmax": "p Cmax", "p_auc28": "p AUC0-28d",
             "p_tlast": "p Tlast"}
    cells = table3_cells(t3)
    rows = []
    for r in t3.drop_duplicates("factor").to_dict("records"):
        levels = t3[t3["factor"] == r["factor"]]
        for lv in levels.to_dict("records"):
            for _, suffix in TABLE3_CELLS:
                key = f"t3_{r['factor']}_{lv['level_id']}_{suffix}"
                rows.append((key, r["label"], lv["level"], shown[suffix], cells[key]))
        for _, suffix in TABLE3_P:
            key = f"t3_{r['factor']}_{suffix}"
            rows.append((key, r["label"], "", shown[suffix], cells[key]))
    out = pd.DataFrame(rows, columns=["key", "factor", "level", "quantity", "reproduced"])
    reg = [paper.key(k) for k in out["key"]]
    out["published"] = [paper.row(k).get("value", math.nan) if k else math.nan for k in reg]
    out["published_text"] = [paper.text(k) for k in reg]
    out["status"] = [paper.status(k) for k in reg]
    # a group size that small-cell suppression hides: "<5" and no status (which would give
    # it away), as in the displayed table (the column's header names no count, so
    # report.write_output would not see it)
    small = [q == "N" and suppression.is_small(v) for q, v in zip(out["quantity"],
                                                                  out["reproduced"])]
    if any(small):
        out["reproduced"] = [suppression.count_text(v) if hit else v
                             for hit, v in zip(small, out["reproduced"])]
        out["status"] = ["" if hit else st for hit, st in zip(small, out["status"])]
    return out


def method_counts(t3: pd.DataFrame) -> dict[str, int]:
    """How many Table 3 comparisons used each Mann–Whitney method (one per factor and
    parameter): ``{"exact": k, "asymptotic": m, ...}``."""
    per_factor = t3.drop_duplicates("factor")
    counts: dict[str, int] = {}
    for _, short in TABLE3_PARAMETERS:
        for m in per_factor[f"method_{short}"]:
            counts[m] = counts.get(m, 0) + 1
    return counts


@dataclass(frozen=True)
class Contrast:
    """Medians of one parameter in the two levels of a Table 3 factor, with the p-value."""
    factor: str
    parameter: str
    level_a: str
    level_b: str
    median_a: float
    median_b: float
    n_a: int
    n_b: int
    p_value: float
    method: str

    @property
    def ratio(self) -> float:
        """median_a / median_b (NaN when median_b is not positive)."""
        return self.median_a / self.median_b if self.median_b > 0 else math.nan

    def text(self, unit: str = "", digits: int = 4) -> str:
        """``135,522 vs 25,103 copies/µg DNA, p = 0.017``: the two medians (``level_a``
        first) and the p-value."""
        u = f" {unit}" if unit else ""
        return (f"{number(self.median_a, digits)} vs "
                f"{number(self.median_b, digits)}{u}, {p_phrase(self.p_value)}")

    @property
    def comparison(self) -> str:
        """``"higher than"``, ``"lower than"`` or ``"the same as"`` (median_a against
        median_b), for sentences such as "the median Cmax was higher than without"."""
        return {"higher": "higher than", "lower": "lower than", "equal": "the same as"}.get(
            self.direction, "not comparable with")

    @property
    def direction(self) -> str:
        """``"higher"``, ``"lower"`` or ``"equal"``: median_a relative to median_b."""
        if not (math.isfinite(self.median_a) and math.isfinite(self.median_b)):
            return "not comparable"
        return ("higher" if self.median_a > self.median_b
                else "lower" if self.median_a < self.median_b else "equal")


def contrast(t3: pd.DataFrame, factor: str, parameter: str,
             level: str | None = None) -> Contrast:
    """The two levels of ``factor`` in Table 3 compared on ``parameter`` (``"cmax"``,
    ``"auc"`` or ``"tlast"``): ``level`` (default the factor's first level) against the
    other one."""
    rows = t3[t3["factor"] == factor]
    if len(rows) < 2:
        raise KeyError(f"factor {factor!r} not in the table")
    a, b = rows.iloc[0], rows.iloc[1]
    if level is not None:
        if level not in set(rows["level"].iloc[:2]):
            raise KeyError(f"level {level!r} is not one of the compared levels of {factor!r}")
        if b["level"] == level:
            a, b = b, a
    return Contrast(factor, parameter, a["level"], b["level"], float(a[f"{parameter}_median"]),
                    float(b[f"{parameter}_median"]), int(a[f"{parameter}_n"]),
                    int(b[f"{parameter}_n"]), float(a[f"p_{parameter}"]),
                    str(a[f"method_{parameter}"]))


# ============================================================================================
# Median profiles
# ============================================================================================

def median_profiles(kinetics: pd.DataFrame, params: pd.DataFrame, by: str = "mrd_cr", *,
                    days: Sequence[float] = SCHEDULE_DAYS, window: float = 0.0,
                    carry_blq_forward: bool = True) -> pd.DataFrame:
    """Median and quartiles of the transgene level on each scheduled day, by group.

    Parameters
    ----------
    kinetics : DataFrame
        The kinetics table (copies/µg DNA; days from infusion).
    params : DataFrame
        From :func:`kinetic_parameters` (gives the group column ``by``, ``persistence_ended``,
        ``tlast`` and, if present, ``last_followup_day``).
    by : column of ``params`` defining the groups (default day-28 MRD-CR).
    days : scheduled days (default :data:`SCHEDULE_DAYS`); days after the last sample of the
        whole table are left out.
    window : a sample within ``window`` days of a scheduled day counts for it (the nearest
        one); 0 = exact day only.
    carry_blq_forward : a patient whose monitoring stopped after two consecutive BLQ results
        (``persistence_ended``) counts as BLQ at scheduled days after the last sample, up to
        ``last_followup_day`` when that column exists.

    Returns
    -------
    DataFrame
        One row per group and day: ``group``, ``day``, ``n`` (patients counted), ``n_blq``,
        ``n_carried`` (BLQ carried forward), ``median``, ``q1``, ``q3`` (copies/µg DNA; NaN
        when BLQ), ``median_blq``, ``q1_blq``, ``q3_blq`` (the statistic is below the LLOQ),
        ``lloq``.

    Notes
    -----
    BLQ results rank below every measurable level (as a 0 would, PKNCA's convention); a
    median or quartile that depends on a BLQ result is reported as BLQ rather than as a
    number, because a level below the LLOQ is not quantified (:func:`blq_quantile`).
    """
    return scheduled_quantiles(kinetics, params, by, days=days, lloq=assay_lloq(kinetics),
                               window=window, carry_blq_forward=carry_blq_forward)


# ============================================================================================
# Beyond the paper: the half-life of the persistence phase
# ============================================================================================

@dataclass(frozen=True)
class PersistenceHalfLife:
    """Result of :func:`persistence_half_life` (NOT in the paper).

    Attributes
    ----------
    per_patient : one row per patient: ``patient_id``, ``group`` (the level of ``by``),
        ``half_life`` (days), ``lambda_z`` (1/day), ``n_points``, ``time_first`` and
        ``time_last`` (the regression window, days), ``adj_r_squared``, ``auc_pct_extrap``
        (% of AUCinf extrapolated beyond Tlast), ``reason`` ("" when estimable),
        ``n_after_peak`` (measurable levels after Cmax; with ``kinetics`` only) and
        ``monitoring_ended`` (two results below the LLOQ after Tlast).
    summary : one row for all patients (``group`` "all") and one per level: ``n`` (patients),
        ``n_estimable``, ``median``, ``min``, ``max`` (half-life, days; NaN when none is
        estimable), ``points_median``, ``adj_r2_min``, ``adj_r2_median``.
    not_estimable : for every reason of :data:`analysis_lib.stats.nca.LAMBDA_Z_REASONS` but "", how
        many patients have no half-life for it (zeros included), in that order.
    too_few_by_points : for the patients with too few levels after the peak, how many had
        0, 1, 2, ... measurable levels after it (with ``kinetics`` only; else empty).
    too_few_monitoring_ended : how many of them had monitoring stopped after two results below
        the LLOQ (the paper's rule), i.e. their level fell below the LLOQ soon after the peak.
    test : Mann–Whitney test of the half-lives between the first two levels
        (:func:`mann_whitney`, R's rules).
    levels : the levels of ``by`` compared, first level first.
    rule : the terminal-phase rule in words.
    min_points : fewest points in a regression window.
    """
    per_patient: pd.DataFrame
    summary: pd.DataFrame
    not_estimable: dict[str, int]
    too_few_by_points: dict[int, int]
    too_few_monitoring_ended: int
    test: MannWhitney
    levels: tuple
    rule: str
    min_points: int = 3

    @property
    def overall(self) -> pd.Series:
        """The summary row of all patients."""
        return self.summary.set_index("group").loc["all"]

    def group(self, level: object) -> pd.Series:
        """The summary row of one level of ``by``."""
        return self.summary.iloc[1 + list(self.levels).index(level)]

    def group_text(self, level: object = "all") -> str:
        """``8.47 days (range 2.85–82.1; 28 of 48 patients)``, or ``not estimable in any of the
        2 patients``: the median half-life of ``level`` ("all": every patient)."""
        r = self.overall if level == "all" else self.group(level)
        n, k = suppression.count_text(int(r["n"])), int(r["n_estimable"])
        if k == 0:
            return f"not estimable in any of the {n} patients"
        return (f"{number(r['median'], 3)} days (range {number(r['min'], 3)}–"
                f"{number(r['max'], 3)}; {suppression.count_text(k)} of {n} patients)")

    def test_text(self) -> str:
        """``p = 0.966, exact Mann–Whitney test``, or why there is no test."""
        t = self.test
        if not math.isfinite(t.p_value):
            return f"no test ({t.note or t.method})"
        return f"{p_phrase(t.p_value)}, {t.describe()} Mann–Whitney test"

    def reasons_text(self) -> str:
        """Why the other patients have no half-life, in words, with the counts."""
        ct = suppression.count_text  # the book's count format, small counts suppressed
        parts = []
        for text, n in self.not_estimable.items():
            if not n:
                continue
            if text == LAMBDA_Z_REASONS[LZ_TOO_FEW]:
                phrase = (f"{ct(n)} had fewer than {_number_word(self.min_points)} measurable "
                          "levels after the peak")
                if self.too_few_by_points:
                    by = [f"{ct(v)} {_number_word(k) if k else 'none'}" for k, v in
                          sorted(self.too_few_by_points.items(), reverse=True) if v]
                    by[0] = by[0].replace(" ", " had ", 1)
                    ended = self.too_few_monitoring_ended
                    which = "all of them" if ended == n else f"{ct(ended)} of them"
                    phrase += (f" ({_join(by)}; in {which} monitoring had stopped after two "
                               "consecutive results below the LLOQ)")
                parts.append(phrase)
            elif text == LAMBDA_Z_REASONS[LZ_NO_MEASURABLE]:
                parts.append(f"{ct(n)} had no measurable level at all")
            else:
                parts.append(f"{ct(n)} had no falling log-linear decline after the peak")
        return _join(parts) if parts else "none lacked one"


def persistence_half_life(params: pd.DataFrame, by: str = "mrd_cr", *,
                          kinetics: pd.DataFrame | None = None,
                          levels: Sequence[object] = (True, False), method: MWMethod = "auto",
                          correct: bool = True) -> PersistenceHalfLife:
    """Half-life of the persistence phase per patient and by group (beyond the paper).

    The persistence phase is the terminal phase of each CAR-T profile after the peak: the
    log-linear decline of the last measurable levels, chosen by Phoenix WinNonlin's best-fit
    rule (at least 3 levels after Cmax, each at or above the LLOQ, ending at Tlast; the window
    with the largest adjusted R², within 1e-4 the one with the most points; the slope must
    fall); half-life = ln 2 / λz. Levels below the LLOQ never enter the regression
    (:mod:`analysis_lib.stats.nca`). A patient has no half-life when nothing was measurable, when
    fewer than 3 measurable levels follow the peak (often: monitoring stops after two results
    below the LLOQ), or when no window falls.

    Parameters
    ----------
    params : from :func:`kinetic_parameters` (days; copies/µg DNA), which holds the terminal
        phase computed with its ``terminal_rules``.
    by : grouping column (default day-28 MRD-negative CR/CRi).
    kinetics : the kinetics table, optional: to count the measurable levels after the peak
        (measurable as in :mod:`analysis_lib.stats.nca`: not flagged BLQ, > 0 and >= the LLOQ).
    levels : the levels to summarise and compare, first level first.
    method, correct : Mann–Whitney method and continuity correction (:func:`mann_whitney`).

    Returns
    -------
    PersistenceHalfLife
    """
    missing = [c for c in ("patient_id", by, *TERMINAL_COLUMNS) if c not in params.columns]
    if missing:
        raise ValueError(f"params lacks column(s) {missing}; use kinetic_parameters()")
    pp = pd.DataFrame({
        "patient_id": params["patient_id"].to_numpy(),
        "group": params[by].to_numpy(),
        "half_life": params["half_life"].astype(float).to_numpy(),
        "lambda_z": params["lambda_z"].astype(float).to_numpy(),
        "n_points": params["lambda_z_n_points"].astype(int).to_numpy(),
        "time_first": params["lambda_z_time_first"].astype(float).to_numpy(),
        "time_last": params["lambda_z_time_last"].astype(float).to_numpy(),
        "adj_r_squared": params["adj_r_squared"].astype(float).to_numpy(),
        "auc_pct_extrap": params["auc_pct_extrap_obs"].astype(float).to_numpy(),
        "reason": params["lambda_z_reason"].astype(str).to_numpy(),
        "monitoring_ended": params["persistence_ended"].astype(bool).to_numpy(),
    })
    too_few = pp["reason"] == LAMBDA_Z_REASONS[LZ_TOO_FEW]
    by_points: dict[int, int] = {}
    if kinetics is not None:
        pp["n_after_peak"] = _measurable_after_peak(kinetics, params).to_numpy()
        by_points = {int(k): int(v) for k, v in
                     pp.loc[too_few, "n_after_peak"].value_counts().sort_index().items()}
    rows = []
    for name, sel in [("all", np.ones(len(pp), dtype=bool)),
                      *[(lvl, (pp["group"] == lvl).to_numpy(dtype=bool)) for lvl in levels]]:
        sub = pp[sel]
        est = sub[sub["half_life"].notna()]
        hl = est["half_life"]
        rows.append({
            "group": name, "n": int(len(sub)), "n_estimable": int(len(est)),
            "median": float(hl.median()) if len(est) else math.nan,
            "min": float(hl.min()) if len(est) else math.nan,
            "max": float(hl.max()) if len(est) else math.nan,
            "points_median": float(est["n_points"].median()) if len(est) else math.nan,
            "adj_r2_min": float(est["adj_r_squared"].min()) if len(est) else math.nan,
            "adj_r2_median": float(est["adj_r_squared"].median()) if len(est) else math.nan,
        })
    counts = pp["reason"].value_counts()
    not_estimable = {text: int(counts.get(text, 0))
                     for code, text in sorted(LAMBDA_Z_REASONS.items()) if text}
    test = mann_whitney(pp["half_life"], pp["group"], method=method, correct=correct,
                        levels=tuple(levels)[:2])
    rule = params.attrs.get("terminal_rule", TerminalRules().describe())
    min_points = int(params.attrs.get("terminal_min_points", TerminalRules().min_points))
    return PersistenceHalfLife(pp, pd.DataFrame(rows), not_estimable, by_points,
                               int(pp.loc[too_few, "monitoring_ended"].sum()), test,
                               tuple(levels), rule, min_points)


def _number_word(k: int) -> str:
    """``one`` ... ``nine``, digits from 10 on."""
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    return words[k] if 0 <= k < len(words) else str(k)


def _join(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _measurable_after_peak(kinetics: pd.DataFrame, params: pd.DataFrame) -> pd.Series:
    """Number of measurable levels (not flagged BLQ, > 0, >= the LLOQ: the NCA's definition)
    after each patient's Tmax, in the order of ``params`` (0 without a Tmax)."""
    k = kinetics.merge(params[["patient_id", "tmax"]], on="patient_id", how="inner")
    value = k["copies_per_ug_dna"].astype(float)
    lloq = (k["lloq_copies_per_ug_dna"].astype(float) if "lloq_copies_per_ug_dna" in k
            else pd.Series(0.0, index=k.index))
    meas = ~k["below_lloq"].astype(bool) & (value > 0) & ~(value < lloq)
    counts = k[meas & (k["day"] > k["tmax"])].groupby("patient_id").size()
    return params["patient_id"].map(counts).fillna(0).astype(int)


def persistence_display(res: PersistenceHalfLife, level_labels: dict | None = None
                        ) -> pd.DataFrame:
    """The summary of :func:`persistence_half_life` for the book: one row for all patients
    and one per group, with the half-life's median (range) in days, the points used and the
    Mann–Whitney p-value (on the first group's row). A group with a single half-life shows
    that value alone (no range or minimum of one value)."""
    labels = level_labels or {True: "MRD-negative CR/CRi", False: "Not MRD-negative CR/CRi"}
    out = []
    for i, r in enumerate(res.summary.itertuples()):
        est = r.n_estimable > 0
        one = r.n_estimable == 1
        out.append({
            "Patients": "All" if r.group == "all" else labels.get(r.group, str(r.group)),
            "n": suppression.count_text(r.n),
            "Terminal phase estimable": f"{suppression.count_text(r.n_estimable)} of "
                                        f"{suppression.count_text(r.n)}",
            "Half-life (d), median (range)": (
                DASH if not est else number(r.median, 3) if one else
                f"{number(r.median, 3)} ({number(r.min, 3)}–{number(r.max, 3)})"),
            "Points used, median": number(r.points_median, 2) if est else DASH,
            "Adjusted R², median (min)": (
                DASH if not est else fixed(r.adj_r2_median, 3) if one else
                f"{fixed(r.adj_r2_median, 3)} ({fixed(r.adj_r2_min, 3)})"),
            "p (Mann–Whitney)": p_value(res.test.p_value) if i == 1 else "",
        })
    return pd.DataFrame(out)


def half_life_display(params: pd.DataFrame, res: PersistenceHalfLife) -> pd.DataFrame:
    """Per-patient half-lives for the book, WITHOUT study codes, for the patients with an
    estimable terminal phase: numbered as in the chapter's NCA table (:func:`display_order`),
    with day-28 response, half-life (days), λz (1/day), the points used and their days, the
    adjusted R² and the share of AUCinf extrapolated."""
    numbers = display_order(params).set_index("patient_id")["#"]
    pp = res.per_patient[res.per_patient["half_life"].notna()].copy()
    pp["#"] = pp["patient_id"].map(numbers).to_numpy()
    pp = pp.sort_values("#", kind="stable")
    yes_no = {True: "yes", False: "no"}
    return pd.DataFrame({
        "#": pp["#"].to_numpy(),
        "Day-28 MRD-CR": pp["group"].map(yes_no).fillna(pp["group"].astype(str)).to_numpy(),
        "Half-life (d)": [number(v, 3) for v in pp["half_life"]],
        "λz (1/d)": [number(v, 3) for v in pp["lambda_z"]],
        "Points": [count(v) for v in pp["n_points"]],
        "Days used": [f"{number(a)}–{number(b)}"
                      for a, b in zip(pp["time_first"], pp["time_last"])],
        "Adjusted R²": [fixed(v, 3) for v in pp["adj_r_squared"]],
        "AUC extrapolated (%)": [number(v, 2) for v in pp["auc_pct_extrap"]],
    })


# ============================================================================================
# The paper's values beside this build's
# ============================================================================================

@dataclass(frozen=True)
class Compared:
    """A table cell with this build's value (``reproduced``, formatted), the paper's value
    (``published``, formatted; empty when the paper prints none), the scorecard's status
    of the number (:mod:`analysis_lib.paper.scorecard`) and, when that is "computed under
    another parameter", the reason (the parameter; empty otherwise). Shown as text it is the
    reproduced value; the book shows them all
    (:func:`analysis_lib.book.figures.kinetics.beside_table`, with
    :func:`analysis_lib.book.report.beside`)."""
    reproduced: str
    published: str = ""
    status: str = ""
    reason: str = ""

    def __str__(self) -> str:
        return self.reproduced


@dataclass(frozen=True)
class PaperValues:
    """The paper's numbers that a chapter computes, read from the registry
    (``data/published/registry.csv``) through the reproduction map, with the scorecard's
    status of each (:func:`analysis_lib.paper.scorecard.chapter_statuses`, computed from the
    chapter's own glued values, so every status is the scorecard page's), and the claims the
    chapter tests.

    Attributes
    ----------
    registry : the registry, indexed by key.
    card : the chapter's scorecard rows, indexed by registry key.
    by_glue : glue key -> registry key (the chapter's rows of the reproduction map).
    claims : the chapter's rows of the claims registry.
    """
    registry: pd.DataFrame
    card: pd.DataFrame
    by_glue: dict[str, str]
    claims: pd.DataFrame

    @classmethod
    def load(cls, chapter: str, glue: dict[str, object],
             changed: Mapping[str, str] | None = None) -> "PaperValues":
        """The paper's values for ``chapter``, scored against its glued values ``glue``;
        ``changed``: the keys computed under a parameter other than the paper's, with the
        reason (:func:`analysis_lib.paper.scorecard.chapter_statuses`)."""
        from ..paper.registry import load_registry
        from ..paper.scorecard import chapter_statuses, load_claims, load_map

        reg = load_registry()
        m = load_map()
        m = m[m["chapter"] == chapter]
        by_glue: dict[str, str] = {}
        for k, g in zip(m["key"], m["glue_key"]):
            by_glue.setdefault(g, k)
        claims = load_claims()
        return cls(reg.set_index("key"), chapter_statuses(chapter, glue, reg, changed), by_glue,
                   claims[claims["chapter"] == chapter].reset_index(drop=True))

    def key(self, glue_key: str) -> str:
        """The registry key of the number glued under ``glue_key`` ("" when the paper prints
        none, for example a cut-point other than the paper's)."""
        return self.by_glue.get(glue_key, "")

    def row(self, key: str) -> dict:
        """The registry row of ``key`` (empty when there is none)."""
        return self.registry.loc[key].to_dict() if key in self.registry.index else {}

    def status(self, key: str) -> str:
        """The scorecard's status of registry key ``key`` ("" when it is not scored here)."""
        return str(self.card.at[key, "status"]) if key in self.card.index else ""

    def reason(self, key: str) -> str:
        """Why ``key`` was computed under a parameter other than the paper's ("" when its
        status is another)."""
        from ..paper.scorecard import CHANGED

        return str(self.card.at[key, "reason"]) if self.status(key) == CHANGED else ""

    def text(self, key: str) -> str:
        """The paper's value of ``key`` formatted by the book's formatter at the paper's
        printed precision: ``135,522``, ``10.5 (4–21)`` (a median with its range), ``98%``,
        ``0.017`` or ``<0.001`` (a p-value as printed); "" when there is none."""
        from ..paper.scorecard import printed_decimals

        r = self.row(key)
        if not r:
            return ""
        stat, printed, v = r["statistic"], str(r["value_text"]).strip(), float(r["value"])
        if stat == "p_value":
            return printed if printed.startswith(("<", ">")) else p_value(v)
        if stat == "count":
            return count(v)
        out = fixed(v, printed_decimals(printed) or 0)
        if r.get("unit") == "%":
            out += "%"
        lo, hi = float(r.get("lower", math.nan)), float(r.get("upper", math.nan))
        if r.get("interval_type") == "range" and math.isfinite(lo) and math.isfinite(hi):
            out += f" ({number(lo)}–{number(hi)})"
        return out

    def p_phrase(self, key: str) -> str:
        """``p = 0.016`` or ``p < 0.001`` for the paper's p-value ``key``."""
        t = self.text(key)
        return "" if not t else (f"p {t[0]} {t[1:]}" if t[0] in "<>" else f"p = {t}")

    def compared(self, reproduced: str, key: str, suppressed: bool = False) -> Compared:
        """A :class:`Compared` cell: ``reproduced`` beside the paper's ``key``. ``suppressed``:
        ``reproduced`` is a count that small-cell suppression hides ("<5"); the cell keeps
        the paper's value (public) but not the status, which would give the count away (as
        :meth:`analysis_lib.analyses.cohort.DisplayTable.render` does)."""
        if not key:
            return Compared(reproduced)
        if suppressed:
            return Compared(reproduced, self.text(key))
        return Compared(reproduced, self.text(key), self.status(key), self.reason(key))

    def verdict(self, p_glue_key: str) -> str:
        """The paper's verdict on the test glued as ``p_glue_key`` from its claims
        ("significant", "not significant"; "" when no claim names it)."""
        for r in self.claims.itertuples():
            if p_glue_key in [k.strip() for k in r.p_keys.split(";")]:
                return r.expected_significance
        return ""

    def correlation_note(self, key: str) -> str:
        """The paper's result for the correlation ``key`` of :data:`CORRELATIONS`, for a
        figure: ``paper: r = 0.349, p = 0.016``, ``paper: not significant``, or ""."""
        r_key, p_key = self.key(f"r_{key}"), self.key(f"p_{key}")
        if r_key:
            return f"paper: r = {self.text(r_key)}" + (f", {self.p_phrase(p_key)}"
                                                       if p_key else "")
        verdict = self.verdict(f"p_{key}")
        return f"paper: {verdict}" if verdict else ""


# ============================================================================================
# The chapter: one entry point
# ============================================================================================

#: Labels of the chapter's tables (the book's ``:name:``); ``tbl-table3`` reproduces the
#: paper's Table 3 (``data/published/artefacts.csv``).
TABLE_LABELS: tuple[str, ...] = ("tbl-kinetics-summary", "tbl-nca", "tbl-gm-response",
                                 "tbl-table3", "tbl-half-life", "tbl-half-life-patients")


@dataclass(frozen=True)
class KineticsResults:
    """Everything the kinetics chapter shows, computed by :func:`analyse`.

    Attributes
    ----------
    glue : every value the chapter's text, the scorecard and other pages read, by glue key:
        numbers (counts as ``int``) and formatted phrases (``str``, Markdown). Table 3's cells
        are under their registry keys (:func:`table3_cells`).
    tables : the displayed tables by label (:data:`TABLE_LABELS`), formatted by the book's
        formatter; cells the paper prints are :class:`Compared`.
    downloads : the tables offered as CSV files, by file name (without ``.csv``).
    params : per-patient parameters (:func:`kinetic_parameters`).
    samples : the kinetics table the analysis used.
    lloq : the assay's LLOQ to draw (copies/µg DNA).
    response : day-28 MRD-negative CR/CRi by ``patient_id``.
    profiles : median profiles by day-28 response (:func:`median_profiles`).
    correlations : the Spearman correlations (:func:`correlations`).
    half_life : the persistence-phase half-life (:func:`persistence_half_life`).
    t3 : Table 3 (:func:`table3`).
    paper : the paper's values and the scorecard's statuses (:class:`PaperValues`).
    figure_notes : correlation key -> the paper's result, for the figures' annotations.
    mrd_cuts : the MRD cut-points (fractions).
    """
    glue: dict[str, object]
    tables: dict[str, pd.DataFrame]
    downloads: dict[str, pd.DataFrame]
    params: pd.DataFrame
    samples: pd.DataFrame
    lloq: float
    response: pd.Series
    profiles: pd.DataFrame
    correlations: pd.DataFrame
    half_life: PersistenceHalfLife
    t3: pd.DataFrame
    paper: PaperValues
    figure_notes: dict[str, str]
    mrd_cuts: tuple[float, ...]


def _k_of_n(k: int, n: int, digits: int = 1) -> str:
    """``49 of 50 patients (98.0%)``; ``<5 of 50 patients`` when small-cell suppression hides
    ``k`` (its percentage would give it away). Counts by
    :func:`analysis_lib.core.suppression.count_text`."""
    head = f"{suppression.count_text(k)} of {suppression.count_text(n)} " \
           f"patient{'' if n == 1 else 's'}"
    if suppression.is_small(k) or not n:
        return head
    return f"{head} ({percent(100 * k / n, digits)})"


def _geo_phrase(row: pd.Series, unit: str) -> str:
    """``30,234 copies/µg DNA (19,955–45,807; geometric CV 260%)``: a :func:`summarise` row's
    geometric mean as the summary table shows it (:func:`geometric_mean_text`,
    :func:`geometric_cv_text`), for the text; "–" when there is none."""
    if math.isnan(float(row["geo_mean"])):
        return DASH
    n = int(min(row["n"], row["n_positive"]))
    why = _ci_withheld(int(row["n_positive"]))
    inner = why or f"{number(row['geo_ci_low'])}–{number(row['geo_ci_high'])}"
    cv = geometric_cv_text(row["geo_cv_pct"], n)
    return f"{number(row['geo_mean'])} {unit} ({inner}" + \
        (f"; geometric CV {cv}%)" if cv != DASH else ")")


def _gm_phrase(row: pd.Series, conf_level: float) -> str:
    """``30,234 copies/µg DNA (95% CI 19,955 to 45,807)``; the interval is "not estimable"
    with fewer than :data:`MIN_N_GEOMETRIC_CI` values, and "not shown" for a count that
    small-cell suppression hides (:func:`_ci_withheld`)."""
    lvl = round(100 * conf_level)
    why = _ci_withheld(int(row["n_positive"]))
    if why:
        return f"{number(row['geo_mean'])} copies/µg DNA ({lvl}% {why})"
    return (f"{number(row['geo_mean'])} copies/µg DNA ({lvl}% CI "
            f"{number(row['geo_ci_low'])} to {number(row['geo_ci_high'])})")


def _mw_rule(method: MWMethod, correct: bool) -> str:
    if method == "auto":
        return ("R's default rule: the exact distribution when both groups have fewer than 50 "
                "patients and there are no ties, otherwise the normal approximation with tie "
                "correction" + (" and continuity correction" if correct else ""))
    return (f"the {method} method requested in the parameters (R falls back to the normal "
            "approximation when ties make the exact test impossible)")


_SPEARMAN_METHODS = {
    "t": "the t approximation (the data have ties, so the exact AS 89 algorithm does not apply)",
    "exact": "the exact permutation distribution (AS 89)",
    "edgeworth": "the AS 89 Edgeworth series approximation"}


def _comparison_note(synthetic: bool) -> str:
    return ((
        "The synthetic cohort was generated to match the paper's published aggregates, so its "
        "medians and ranges of Cmax and Tmax and its correlations of persistence with expansion "
        "and with B-cell aplasia are expected to be close to the published ones, and the "
        "direction of the Table 3 differences to agree where the generator builds them in "
        "(corticosteroids, severe CRS, tumour burden). Group p-values are not expected to "
        "match: they depend on patient-level detail that is not published and on the variant of "
        "the test (R's rules here, SPSS's asymptotic test in the paper). "
        if synthetic else
        "This build uses a supplied cohort, not the paper's: differences from the published "
        "values are findings about this cohort or about the methods, and need the caveats "
        "below. ")
        + "The published geometric mean Cmax of the MRD-negative responders "
        "cannot be a geometric mean of values with the published median and maximum (see the "
        "chapter on the synthetic cohort), so it is not expected to be reproduced. A separate "
        "scorecard compares every number in detail.")


def analyse(patients: pd.DataFrame, samples: pd.DataFrame, *, age_cut_years: float = 10.0,
            mrd_cuts: Sequence[float] = (1e-4, 1e-3, 1e-2), mrd_negative_below: float = 1e-4,
            dose_threshold: float = 3.68, conf_level: float = 0.95,
            auc_method: AUCMethod = "linear-up/log-down",
            expansion_threshold: float | None = None, mw_method: MWMethod = "auto",
            mw_correct: bool = True, spearman_method: SpearmanMethod = "auto",
            lambda_z_min_points: int = 3, lambda_z_adj_r2_tolerance: float = 1e-4,
            synthetic: bool = True, changed: Mapping[str, str] | None = None
            ) -> KineticsResults:
    """The kinetics chapter: every number, table and figure input, from the patients and
    kinetics tables.

    Parameters
    ----------
    patients, samples : the patients and kinetics tables (copies/µg DNA; days from infusion).
    age_cut_years : Table 3's age groups, 0–cut vs > cut years.
    mrd_cuts : Table 3's MRD cut-points (fractions); the middle one is the paper's "high
        tumour burden" (10⁻³).
    mrd_negative_below : day-28 MRD (fraction) below which a CR/CRi is MRD-negative.
    dose_threshold : Table 3's dose groups (10⁶ CAR-T cells/kg).
    conf_level : level of the geometric-mean intervals.
    auc_method : AUC rule of the NCA (:func:`analysis_lib.stats.nca.nca`).
    expansion_threshold : Cmax (copies/µg DNA) that counts as expansion; ``None``: 2 × LLOQ.
    mw_method, mw_correct : Mann–Whitney method and continuity correction (R's rules).
    spearman_method : Spearman p-value method (R's ``cor.test`` rules).
    lambda_z_min_points, lambda_z_adj_r2_tolerance : the terminal-phase rule (WinNonlin's
        best fit) of the persistence-phase half-life.
    synthetic : the data are the synthetic cohort (changes the comparison note only).
    changed : the published numbers computed under a parameter other than the paper's, with
        the reason (the book passes :attr:`analysis_lib.book.report.ChapterData.changed`);
        they get the status "computed under another parameter", as on the scorecard page
        (``None``: the paper's parameters).

    Returns
    -------
    KineticsResults
        Display tables are small-cell suppressed at the threshold in force when this runs
        (:func:`analysis_lib.core.suppression.set_min_cell_count`).
    """
    mrd_cuts = tuple(float(c) for c in mrd_cuts)
    rules = TerminalRules(min_points=lambda_z_min_points,
                          adj_r_squared_tolerance=lambda_z_adj_r2_tolerance)
    params = kinetic_parameters(samples, patients, auc_method=auc_method,
                                expansion_threshold=expansion_threshold,
                                mrd_negative_below=mrd_negative_below, terminal_rules=rules)
    lloq = assay_lloq(samples)
    n = len(params)
    n_expanded = int(params["expanded"].sum())
    g: dict[str, object] = {
        "n_patients": n, "n_samples": len(samples), "lloq": lloq, "n_expanded": n_expanded,
        "pct_expanded": 100 * n_expanded / n,
        "expansion_rule": (f"a peak of at least {number(EXPANSION_LLOQ_MULTIPLE)} × the LLOQ"
                           if expansion_threshold is None else
                           f"a peak of at least {number(expansion_threshold)} copies/µg DNA")}

    # Expansion, peak and persistence
    summary_all = summarise(params, conf_level=conf_level).assign(population="All")
    summary_exp = summarise(params, subset=params["expanded"], conf_level=conf_level).assign(
        population="With expansion")
    for row in summary_all.itertuples():
        for stat in ("median", "min", "max", "geo_mean", "geo_ci_low", "geo_ci_high",
                     "geo_cv_pct"):
            g[f"{row.parameter}_{stat}"] = float(getattr(row, stat))
        g[f"{row.parameter}_n"] = int(row.n)
    exp_cmax = summary_exp.set_index("parameter").loc["cmax"]
    g["cmax_min_expanded"] = float(exp_cmax["min"])
    g["cmax_median_expanded"] = float(exp_cmax["median"])
    g["n_persistence_ended"] = int(params["persistence_ended"].sum())
    # the same numbers as the text shows them: counts by count_text (small ones suppressed),
    # the rest by the formatter as in the tables
    for key in ("n_patients", "n_samples", "n_expanded", "n_persistence_ended"):
        g[f"{key}_text"] = suppression.count_text(int(g[key]))  # type: ignore[arg-type]
    g["expanded_text"] = _k_of_n(n_expanded, n)
    g["lloq_text"] = number(lloq)
    g["cmax_min_expanded_text"] = number(g["cmax_min_expanded"])  # type: ignore[arg-type]
    for row in summary_all.itertuples():
        for stat in ("median", "min", "max"):
            g[f"{row.parameter}_{stat}_text"] = number(getattr(row, stat))
    all_cmax = summary_all.set_index("parameter").loc["cmax"]
    g["cmax_geo_text"] = _geo_phrase(all_cmax, "copies/µg DNA")

    # Day-28 response
    gm = geometric_means(params, "mrd_cr", "cmax", conf_level=conf_level, method=mw_method,
                         correct=mw_correct)
    t3 = table3(params, table3_factors(age_cut=age_cut_years, mrd_cuts=mrd_cuts,
                                       dose_threshold=dose_threshold),
                method=mw_method, correct=mw_correct)
    for key, level in (("mrdcr", True), ("other", False)):
        row = gm[gm["level"] == level].iloc[0]
        g[f"n_{key}"] = int(row["n"])
        for stat in ("geo_mean", "geo_ci_low", "geo_ci_high", "median"):
            g[f"gm_cmax_{key}_{stat}"] = float(row[stat])
        g[f"gm_cmax_{key}_text"] = _gm_phrase(row, conf_level)
        g[f"n_{key}_text"] = suppression.count_text(int(row["n"]))
    for p in ("cmax", "auc", "tlast"):
        c = contrast(t3, "mrd_cr_d28", p)
        g[f"p_mrdcr_{p}"] = c.p_value
        g[f"p_mrdcr_{p}_text"] = p_phrase(c.p_value)
        g[f"mrdcr_{p}_method"] = c.method
        g[f"mrdcr_{p}_cmp"] = c.comparison
    g.update(table3_cells(t3))  # identity keys, as in the registry
    spss = mann_whitney(params["cmax"], params["mrd_cr"], "asymptotic", correct=False,
                        levels=(True, False))
    g["p_mrdcr_cmax_uncorrected"] = spss.p_value
    g["p_mrdcr_cmax_uncorrected_text"] = p_phrase(spss.p_value)

    # Table 3 and tumour burden
    counts = method_counts(t3)
    g["n_tests"] = sum(counts.values())
    g["n_tests_exact"] = counts.get("exact", 0)
    g["n_tests_asymptotic"] = counts.get("asymptotic", 0)
    for key in ("n_tests", "n_tests_exact", "n_tests_asymptotic"):  # tests, not patients
        g[f"{key}_text"] = count(g[key])
    g["mw_rule"] = _mw_rule(mw_method, mw_correct)
    burden_cut = sorted(mrd_cuts)[len(mrd_cuts) // 2]  # the paper's "high tumour burden"
    g["burden_cut"] = format_mrd(burden_cut)
    for short, key, level in (("steroids", "steroids", "Yes"), ("crs", "crs", "≥3"),
                              ("icans", "icans", "Yes"),
                              ("postld", f"post_ld_mrd_{cut_id(burden_cut)}",
                               f"≥{format_mrd(burden_cut)}")):
        for p, unit in (("cmax", "copies/µg DNA"), ("auc", "day·copies/µg DNA"),
                        ("tlast", "days")):
            c = contrast(t3, key, p, level=level)
            g[f"p_{short}_{p}"] = c.p_value
            g[f"{short}_{p}_text"] = c.text(unit)
            g[f"{short}_{p}_cmp"] = c.comparison
            g[f"p_{short}_{p}_text"] = p_phrase(c.p_value)

    # Correlations and B-cell aplasia
    corr = correlations(params, method=spearman_method)
    for row in corr.itertuples():
        g[f"r_{row.key}"] = float(row.r)
        g[f"p_{row.key}"] = float(row.p_value)
        g[f"n_{row.key}"] = int(row.n)
        g[f"n_{row.key}_text"] = suppression.count_text(int(row.n))
        g[f"r_{row.key}_text"] = fixed(row.r, 3)
        g[f"p_{row.key}_text"] = p_phrase(row.p_value)
    g["spearman_method"] = "; ".join(_SPEARMAN_METHODS.get(m, m)
                                     for m in sorted(set(corr["method"])))
    bca = bca_summary(patients)
    g["n_bca"] = bca["n_bca"]
    g["pct_bca"] = 100 * bca["n_bca"] / bca["n"]
    g["bca_onset_min"] = bca["onset_min"]
    g["bca_onset_max"] = bca["onset_max"]
    g["bca_duration_median"] = bca["duration_median"]
    g["n_bca_ongoing"] = bca["n_ongoing"]
    g["n_bca_text"] = suppression.count_text(bca["n_bca"])
    g["bca_text"] = _k_of_n(bca["n_bca"], bca["n"])
    g["n_bca_ongoing_text"] = suppression.count_text(bca["n_ongoing"])
    for stat in ("onset_min", "onset_max", "duration_median"):
        g[f"bca_{stat}_text"] = number(bca[stat])

    # Beyond the paper: the persistence-phase half-life
    hl = persistence_half_life(params, "mrd_cr", kinetics=samples, method=mw_method,
                               correct=mw_correct)
    g["hl_min_points"] = lambda_z_min_points
    g["hl_min_points_text"] = count(lambda_z_min_points)  # a parameter, not patients
    g["hl_tolerance"] = lambda_z_adj_r2_tolerance
    g["hl_tolerance_text"] = number(lambda_z_adj_r2_tolerance, 1)
    g["hl_pct_estimable"] = 100 * float(hl.overall["n_estimable"]) / float(hl.overall["n"])
    g["hl_estimable_text"] = _k_of_n(int(hl.overall["n_estimable"]), int(hl.overall["n"]))
    g["hl_reasons_text"] = hl.reasons_text()
    for key, level in (("all", "all"), ("mrdcr", True), ("other", False)):
        row = hl.overall if level == "all" else hl.group(level)
        for stat in ("median", "min", "max"):
            g[f"hl_{key}_{stat}"] = float(row[stat])
        g[f"hl_{key}_n_estimable"] = int(row["n_estimable"])
        g[f"hl_{key}_n_estimable_text"] = suppression.count_text(int(row["n_estimable"]))
        g[f"hl_{key}_text"] = hl.group_text(level)
    g["p_hl_mrdcr"] = float(hl.test.p_value)
    g["hl_test_text"] = hl.test_text()
    for stat in ("points_median", "adj_r2_median", "adj_r2_min"):
        g[f"hl_{stat}"] = float(hl.overall[stat])
    # as the half-life table shows them
    g["hl_points_median_text"] = number(g["hl_points_median"], 2)  # type: ignore[arg-type]
    for stat in ("adj_r2_median", "adj_r2_min"):
        g[f"hl_{stat}_text"] = fixed(g[f"hl_{stat}"], 3)  # type: ignore[arg-type]
    g["comparison_note"] = _comparison_note(synthetic)

    # The paper's values beside this build's (statuses from this build's values)
    paper = PaperValues.load("kinetics", g, changed)
    g.update(_paper_phrases(paper, t3, burden_cut))
    notes = {key: paper.correlation_note(key) for key in corr["key"]}

    summary = pd.concat([summary_all, summary_exp], ignore_index=True)
    tables = {
        "tbl-kinetics-summary": summary_display(summary, conf_level, paper),
        "tbl-nca": nca_display(params),
        "tbl-gm-response": geometric_means_display(gm, conf_level, paper=paper, t3=t3),
        "tbl-table3": table3_display(t3, paper),
        "tbl-half-life": persistence_display(hl),
        "tbl-half-life-patients": half_life_display(params, hl),
    }
    geo = ("geo_ci_low", "geo_ci_high", "geo_cv_pct")
    downloads = {
        "kinetics_summary": _suppress_download(
            summary[["population", *summary.columns[:-1]]], ("n", "n_positive"), geo),
        "kinetic_parameters": nca_table(params),
        "cmax_by_response": _suppress_download(gm, ("n", "n_positive"), geo),
        "table3_kinetics_by_factor": _suppress_download(
            t3, ("n", *(f"{short}_n" for _, short in TABLE3_PARAMETERS))),
        "table3_published_vs_reproduced": table3_comparison(t3, paper),
        "persistence_half_life_summary": hl.summary,
        "persistence_half_life": hl.per_patient,
    }
    return KineticsResults(g, tables, downloads, params, samples, lloq,
                           params.set_index("patient_id")["mrd_cr"],
                           median_profiles(samples, params, "mrd_cr"), corr, hl, t3, paper,
                           notes, mrd_cuts)


def _suppress_download(frame: pd.DataFrame, counts: Sequence[str],
                       derived: Sequence[str] = ()) -> pd.DataFrame:
    """``frame`` for download with the small counts of the columns ``counts`` written ``<K``
    and, in their rows, the columns ``derived`` (an interval, a spread) as "–"
    (:func:`analysis_lib.core.suppression.suppress_columns`); ``write_output`` suppresses
    only columns whose header names a count (``n``), not ``cmax_n`` or ``geo_ci_low``."""
    return suppression.suppress_columns(frame, {c: tuple(derived) for c in counts})


def _paper_phrases(paper: PaperValues, t3: pd.DataFrame, burden_cut: float) -> dict[str, str]:
    """Phrases that state the paper's values in the text and the figures' captions, read
    from the registry (via the reproduction map) and the claims: ``paper_expansion``,
    ``paper_bca``, ``paper_tlast_correlations``, ``paper_bca_correlations``,
    ``paper_burden`` ("" for a number the paper does not print)."""
    out: dict[str, str] = {}
    k_n, k_pct = paper.key("n_expanded"), paper.key("pct_expanded")
    n_of = paper.row(k_n).get("n")
    out["paper_expansion"] = (
        f"{paper.text(k_n)} of {count(n_of)} patients, {paper.text(k_pct)}"
        if k_n and k_pct and not pd.isna(n_of) else "")
    k_bca, k_dur = paper.key("n_bca"), paper.key("bca_duration_median")
    out["paper_bca"] = (f"{paper.text(k_bca)} patients ({paper.text(paper.key('pct_bca'))}), "
                        f"median duration {paper.text(k_dur)} days" if k_bca and k_dur else "")
    notes = {k: paper.correlation_note(k) for k, *_ in CORRELATIONS}
    cm, au = notes["tlast_cmax"], notes["tlast_auc"]
    out["paper_tlast_correlations"] = (
        f"The paper reports {cm.removeprefix('paper: ')} for Cmax and "
        f"{au.removeprefix('paper: ')} for AUC0–28d." if cm and au else "")
    bt, bc, ba = notes["bca_tlast"], notes["bca_cmax"], notes["bca_auc"]
    same = bc == ba and bc
    out["paper_bca_correlations"] = (
        f"The paper reports {bt.removeprefix('paper: ')} for Tlast"
        + (f" and {bc.removeprefix('paper: ')} for Cmax and AUC0–28d" if same else "")
        + "." if bt else "")
    c = cut_id(burden_cut)
    keys = {(when, p): paper.key(f"t3_{when}_ld_mrd_{c}_p_{p}") for when in ("pre", "post")
            for p in ("cmax", "auc28")}
    if all(keys.values()):
        m = format_mrd(burden_cut)
        out["paper_burden"] = (
            "The paper gives no numbers for this figure; it reports higher Cmax and AUC0–28d "
            f"with MRD ≥{m}, a trend that is not significant (its Table 3: Cmax "
            f"{paper.p_phrase(keys['pre', 'cmax'])} before and "
            f"{paper.p_phrase(keys['post', 'cmax'])} after lymphodepletion; AUC0–28d "
            f"{paper.p_phrase(keys['pre', 'auc28'])} and "
            f"{paper.p_phrase(keys['post', 'auc28'])}).")
    else:
        out["paper_burden"] = ""
    return out
