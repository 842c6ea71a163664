"""Descriptive statistics of the cohort: baseline characteristics (Supplementary Table S1),
reasons for enrolment, dose and timing, follow-up and day-28 response.

Conventions follow the paper: categorical variables as n (%), continuous ones as median
(range). Rates carry exact Clopper–Pearson confidence intervals (Clopper CJ, Pearson ES (1934).
The use of confidence or fiducial limits illustrated in the case of the binomial.
Biometrika 26:404–413), which R's ``binom.test`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..core.formatting import count_percent, median_range
from ..core.units import days_to_months, format_mrd
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
    """Tidy table of proportions for display and export."""
    return pd.DataFrame({
        "Outcome": [r.label for r in rates],
        "n/N": [f"{r.k}/{r.n}" for r in rates],
        "%": [f"{100 * r.estimate:.{digits}f}" for r in rates],
        f"{round(100 * rates[0].conf_level)}% CI (exact)": [
            f"{100 * r.ci_low:.{digits}f}–{100 * r.ci_high:.{digits}f}" for r in rates],
    })


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
    age_grp = np.where(p["age_years"].astype(float) <= age_cut, f"0–{age_cut:g}", f">{age_cut:g}")
    rows += _cat_rows("Age group, years", pd.Series(age_grp), [f"0–{age_cut:g}", f">{age_cut:g}"], n)
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

        def f(x: float) -> str:
            return "not reached" if np.isnan(x) else f"{x:.{digits}f}"

        return f"{f(m.estimate)} months ({round(100 * m.conf_level)}% CI {f(m.lower)}–{f(m.upper)})"


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
