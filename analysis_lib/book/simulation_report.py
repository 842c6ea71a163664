"""Tables and phrases of the simulation chapter (``notebooks/simulation.py``), from a
:class:`analysis_lib.simulation.study.StudySource`: every number the chapter shows is made
here from the study's summary, so the notebook only calls, displays and glues.

Rates are shown in percent with their Monte Carlo standard error (MC SE) in percentage
points: ``4.8% (MC SE 0.5)`` in the text, ``4.8 (0.5)`` in tables.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..analyses.kinetics import table3_factors
from ..core import formatting
from ..core.units import DAYS_PER_YEAR
from ..simulation.plan import KM_CONF_TYPES, PlanOptions
from ..simulation.scenarios import SCENARIOS
from ..simulation.study import RESULTS_DIR, StudySource
from ..simulation.summary import EPV_ADVISED, POWER_TARGET, Summary, sample_sizes
from ..simulation.truth import TRUTH_N
from ..synthetic.generator import SyntheticParams

#: The paper's published estimate and p-value of each headline effect (registry keys).
PUBLISHED_KEYS: dict[str, tuple[str, str]] = {
    "female_lfs": ("hr_female_lfs", "hr_female_lfs_p"),
    "bca_lfs": ("hr_bca_lfs", "hr_bca_lfs_p"),
    "pre_ld_crs": ("mv1_or_pre_ld_low", "mv1_or_pre_ld_low_p"),
    "pre_ld_crs_firth": ("mv1_or_pre_ld_low", "mv1_or_pre_ld_low_p"),
    "dose_crs": ("mv1_or_dose_low", "mv1_or_dose_low_p"),
    "dose_crs_firth": ("mv1_or_dose_low", "mv1_or_dose_low_p"),
    "steroids_cmax": ("", "t3_steroids_p_cmax"),
}

#: Table 2's model 1 terms with their labels.
MODEL1_TERMS: tuple[tuple[str, str], ...] = (
    ("female", "Female"), ("no_prior_hsct", "No HSCT history"),
    ("pre_ld_mrd_low", "Pre-LD MRD < 10⁻³"), ("dose_low", "Dose < 3.68 × 10⁶/kg"))
MODEL2_TERMS: tuple[tuple[str, str], ...] = (
    ("female", "Female"), ("no_prior_hsct", "No HSCT history"),
    ("post_ld_mrd_low", "Post-LD MRD < 10⁻³"), ("dose_low", "Dose < 3.68 × 10⁶/kg"))

_PARAM_LABEL = {"cmax": "Cmax", "auc": "AUC0–28d", "tlast": "Tlast"}


def pct(rate: float, digits: int = 1) -> str:
    """A proportion in percent (``4.8``), "–" when missing (:func:`formatting.fixed`)."""
    return "–" if rate is None or not np.isfinite(rate) else formatting.fixed(100 * rate, digits)


#: Signed differences as the book writes them (one helper, :func:`formatting.signed`).
signed = formatting.signed


def bias_text(bias: float, mcse: float, digits: int = 2, label: str = "") -> str:
    """``+0.12 (0.05)``, or ``+0.12 (MC SE 0.05)`` with ``label="MC SE "``: a bias and its
    Monte Carlo standard error."""
    return f"{signed(bias, digits)} ({label}{formatting.fixed(mcse, digits)})"


def rate_cell(rate: float, mcse: float) -> str:
    """``4.8 (0.5)``: percent and its Monte Carlo SE in points."""
    if not np.isfinite(rate):
        return "–"
    return f"{pct(rate)} ({pct(mcse)})"


def rate_phrase(rate: float, mcse: float) -> str:
    """``4.8% (MC SE 0.5)``."""
    if not np.isfinite(rate):
        return "not simulated"
    return f"{pct(rate)}% (MC SE {pct(mcse)})"


def ratio_text(x: float) -> str:
    """A hazard or odds ratio: three significant digits (``0.195``, ``12.4``)."""
    return "–" if x is None or not np.isfinite(x) else formatting.number(x, 3)


def _published(key: str) -> float:
    from ..paper.registry import load_registry

    if not key:
        return math.nan
    reg = load_registry().drop_duplicates("key").set_index("key")
    return float(reg.loc[key, "value"]) if key in reg.index else math.nan


# --------------------------------------------------------------------------------------------
# What the chapter shows
# --------------------------------------------------------------------------------------------

def sizes_text(sizes: Sequence[int]) -> str:
    """The cohort sizes of the trials in words: ``50``, ``50 and 100``, ``50, 100 and 1,000``
    (trial sizes, not counts of the analysed cohort: never suppressed)."""
    s = [formatting.count(x) for x in sizes]
    return s[0] if len(s) == 1 else ", ".join(s[:-1]) + f" and {s[-1]}"


def below_recommended(source: StudySource) -> bool:
    """Whether the stored study has fewer trials, for some scenario and size of the
    recommended full study (:data:`~analysis_lib.simulation.study.FULL_STUDY`), than that
    study has (or lacks it altogether)."""
    from ..simulation.study import FULL_STUDY

    st = source.summary.studies
    have = {(str(x.scenario), int(x.n)): int(x.replicates) for x in st.itertuples()}
    return any(have.get((s, n), 0) < r for n, r, scen in FULL_STUDY for s in scen)


def source_text(source: StudySource) -> str:
    """Which results the chapter shows, how many replicates, and how to reproduce them."""
    st = source.summary.studies
    total = int(st["replicates"].sum())
    per = sorted(set(int(x) for x in st["replicates"]))
    reps = (formatting.number(per[0]) if len(per) == 1
            else f"{formatting.number(per[0])} to {formatting.number(per[-1])}")
    sizes = sizes_text(source.summary.sizes())
    scen = len(set(st["scenario"]))
    if source.full:
        smaller = (" This is a smaller study than the recommended one, so its Monte Carlo "
                   "errors are larger; the commands of both are at the end of this page."
                   if below_recommended(source) else
                   " The commands are at the end of this page.")
        return (f"These results are the study stored in the project's results folder "
                f"(`{RESULTS_DIR.as_posix()}`), run with `cartbook simulate`: {reps} "
                f"simulated trials per scenario and cohort size (n = {sizes}), {scen} "
                f"scenarios, {formatting.number(total)} trials in all.{smaller}")
    truth = ("the stored truths" if source.truth_stored else
             f"truths from a population of {formatting.number(source.truth_n)} patients "
             "(none stored)")
    return (f"No study is stored in the project's results folder "
            f"(`{RESULTS_DIR.as_posix()}`), so this build ran a **quick study**: {reps} "
            f"simulated trials per scenario at n = {sizes} ({scen} scenarios, "
            f"{formatting.number(total)} trials in all), against {truth}. Its Monte Carlo errors "
            "are large; the larger cohort sizes and the cohort size for 80% power need a "
            "study run with `cartbook simulate` (the commands are at the end of this page).")


def _command_lines(cmds: Sequence[str]) -> list[str]:
    wrapped = []
    for c in cmds:
        head, rest = c.split(" --scenario ", 1)
        scen, out = rest.rsplit(" --out ", 1)
        wrapped.append(f"{head} \\\n    --scenario {scen} \\\n    --out {out}")
    return wrapped


def commands_block(source: StudySource) -> "Markdown":
    """The ``cartbook simulate`` commands as code blocks: those that produced the stored
    study, and the recommended full study's
    (:data:`~analysis_lib.simulation.study.FULL_STUDY`) when the stored study is smaller or
    only a quick study ran."""
    from IPython.display import Markdown

    from ..simulation.study import commands

    parts = []
    if source.full:
        parts.append("The stored study:\n\n```\n"
                     + "\n".join(_command_lines(commands(source.summary.studies))) + "\n```")
    if not source.full or below_recommended(source):
        parts.append("The recommended full study:\n\n```\n"
                     + "\n".join(_command_lines(commands())) + "\n```")
    return Markdown("\n\n".join(parts))


def scenario_table(summary: Summary) -> pd.DataFrame:
    """The scenarios simulated: name, description, the parts of the plan run, replicates."""
    rows = []
    for s in SCENARIOS.values():
        st = summary.studies[summary.studies["scenario"] == s.name]
        if st.empty:
            continue
        reps = ", ".join(f"{formatting.count(r.n)}: {formatting.count(r.replicates)}"
                         for r in st.sort_values("n").itertuples())
        rows.append({"Scenario": f"`{s.name}`: {s.title}", "What it is": s.description,
                     "Parts of the plan": ", ".join(s.components), "Trials (n: trials)": reps})
    return pd.DataFrame(rows)


def truth_value(summary: Summary, scenario: str, analysis: str, term: str,
                coef: str = "") -> float:
    t = summary.truth
    m = t[(t["scenario"] == scenario) & (t["analysis"] == analysis) & (t["term"] == term)]
    if coef:
        m = m[m["coef"].fillna("") == coef]
    return float(m["estimate"].iloc[0]) if len(m) else math.nan


def truth_table(summary: Summary, truth_n: int = TRUTH_N) -> pd.DataFrame:
    """The true values the chapter compares with (from populations of ``truth_n``)."""
    items = [
        ("calibrated", "lfs_screen", "female", "female", "Female sex, LFS (univariate HR)"),
        ("null_female", "lfs_screen", "female", "female", "Female sex, LFS (univariate HR)"),
        ("calibrated", "lfs_screen", "bca_duration", "bca_duration",
         "BCA duration per month, LFS (univariate HR)"),
        ("null_bca", "lfs_screen", "bca_duration", "bca_duration",
         "BCA duration per month, LFS (univariate HR)"),
        ("calibrated", "hsct_lfs", "fixed", "", "Bridging HSCT, LFS: fixed at infusion"),
        ("calibrated", "hsct_lfs", "time-dependent", "", "Bridging HSCT, LFS: time-dependent"),
        ("calibrated", "hsct_os", "fixed", "", "Bridging HSCT, OS: fixed at infusion"),
        ("calibrated", "hsct_os", "time-dependent", "", "Bridging HSCT, OS: time-dependent"),
        ("calibrated", "km_os", "survival", "", "5-year OS"),
        ("calibrated", "km_lfs", "survival", "", "5-year LFS"),
        ("calibrated", "crs_model1_ml", "pre_ld_mrd_low", "",
         "Pre-LD MRD < 10⁻³, severe CRS (model 1 OR)"),
        ("calibrated", "crs_model1_ml", "dose_low", "", "Dose < 3.68, severe CRS (model 1 OR)"),
        ("calibrated", "table3", "steroids", "cmax",
         "Corticosteroids, Cmax: P(higher peak with steroids)"),
        ("null_steroids", "table3", "steroids", "cmax",
         "Corticosteroids, Cmax: P(higher peak with steroids)"),
    ]
    rows = []
    t = summary.truth
    for scen, analysis, term, coef, label in items:
        m = t[(t["scenario"] == scen) & (t["analysis"] == analysis) & (t["term"] == term)]
        if coef:
            m = m[m["coef"].fillna("") == coef]
        if m.empty:
            continue
        r = m.iloc[0]
        if analysis == "table3":
            # the first level is "Yes" (steroids): P(X_yes > X_no)
            value = formatting.fixed(float(r["auc"]), 3)
        elif analysis.startswith("km_"):
            value = formatting.percent(100 * float(r["estimate"]), 1)
        else:
            value = ratio_text(float(r["estimate"]))
        rows.append({"Scenario": f"`{scen}`", "Estimand": label, "True value": value,
                     "How": "exact" if bool(r["exact"]) else
                     f"population of {formatting.count(truth_n)}"})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The Cox screen
# --------------------------------------------------------------------------------------------

COX_ROWS: tuple[tuple[str, str, str, str, str], ...] = (
    ("null_female", "declared", "lfs_mv", "female",
     "Female sex declared (either direction): false positive"),
    ("null_female", "declared_protective", "lfs_mv", "female",
     "Female sex declared protective: false claim"),
    ("null_female", "selected", "lfs_mv", "female", "Female sex passes the screen (p < 0.2)"),
    ("calibrated", "declared_protective", "lfs_mv", "female",
     "Female sex declared protective: power"),
    ("calibrated", "declared_protective", "lfs_mv", "bca_duration",
     "Longer BCA declared protective: power"),
    ("null_bca", "declared_protective", "lfs_mv", "bca_duration",
     "Longer BCA declared protective without its effect"),
    ("calibrated", "any_declared", "lfs_mv", "", "At least one covariate declared"),
    ("calibrated", "none_selected", "lfs_mv", "", "No covariate passes the screen"),
    ("calibrated", "epv_below_10", "lfs_mv", "", "Model with < 10 events per coefficient"),
    ("calibrated", "monotone_likelihood", "lfs_mv", "",
     "Model with an infinite coefficient (monotone likelihood)"),
    ("calibrated", "error", "lfs_screen", "", "The screen fails (an error)"),
)


def _by_size_table(summary: Summary, rows: Sequence[tuple[str, str, str, str, str, str]],
                   first: str) -> pd.DataFrame:
    sizes = summary.sizes()
    out = []
    for scen, metric, analysis, term, coef, label in rows:
        vals = [summary.rate(scen, n, metric, analysis, term, coef) for n in sizes]
        if all(not np.isfinite(v[0]) for v in vals):
            continue
        out.append({first: label, "Scenario": f"`{scen}`",
                    **{f"n = {formatting.count(n)}": rate_cell(r, se)
                       for n, (r, se, _) in zip(sizes, vals)}})
    return pd.DataFrame(out)


def cox_table(summary: Summary) -> pd.DataFrame:
    """LFS: the screen-then-multivariable Cox procedure's rates by cohort size."""
    return _by_size_table(summary, [(s, m, a, t, "", lab) for s, m, a, t, lab in COX_ROWS],
                          "Event (LFS)")


def cox_curves() -> list[tuple[str, list[tuple]]]:
    """Panels of the rejection figure: female sex and BCA duration on LFS."""
    from .figures.style import PALETTE as COLOURS

    return [
        ("Female sex, LFS", [
            ("calibrated", "declared_protective", "lfs_mv", "female", "",
             "declared protective (calibrated)", COLOURS[0], "o"),
            ("null_female", "declared", "lfs_mv", "female", "",
             "declared, no effect (null_female)", COLOURS[1], "s"),
            ("null_female", "declared_protective", "lfs_mv", "female", "",
             "declared protective, no effect", COLOURS[2], "v")]),
        ("BCA duration, LFS", [
            ("calibrated", "declared_protective", "lfs_mv", "bca_duration", "",
             "declared protective (calibrated)", COLOURS[0], "o"),
            ("null_bca", "declared_protective", "lfs_mv", "bca_duration", "",
             "declared protective, no effect (null_bca)", COLOURS[1], "s")]),
    ]


# --------------------------------------------------------------------------------------------
# Kaplan-Meier intervals
# --------------------------------------------------------------------------------------------

def coverage_table(summary: Summary, scenario: str = "calibrated") -> pd.DataFrame:
    """Coverage of the true 5-year OS and LFS by the three interval types, by size, with
    the share of intervals wholly below the truth and the estimate's bias."""
    rows = []
    for ep, label in (("km_os", "OS"), ("km_lfs", "LFS")):
        for ct in KM_CONF_TYPES:
            row = {"End point": label, "Interval": ct}
            for n in summary.sizes(scenario):
                c, se, _ = summary.rate(scenario, n, "cover", ep, ct)
                low, _, _ = summary.rate(scenario, n, "miss_low", ep, ct)
                row[f"n = {formatting.count(n)}"] = (f"{rate_cell(c, se)}; {pct(low)} below"
                                   if np.isfinite(c) else "–")
            rows.append(row)
    out = pd.DataFrame(rows)
    out.loc[out["End point"].duplicated(), "End point"] = ""
    return out


def km_bias_phrase(summary: Summary, n: int, ep: str = "km_os",
                   scenario: str = "calibrated") -> str:
    e = summary.estimates
    m = e[(e["scenario"] == scenario) & (e["n"] == n) & (e["analysis"] == ep)]
    if m.empty:
        return "not simulated"
    r = m.iloc[0]
    return (f"{signed(100 * r['bias'], 1)} points (MC SE {formatting.fixed(100 * r['bias_mcse'], 1)}"
            f"; mean estimate {formatting.percent(100 * r['mean'], 1)} against "
            f"{formatting.percent(100 * r['truth'], 1)})")


# --------------------------------------------------------------------------------------------
# Bridging HSCT
# --------------------------------------------------------------------------------------------

def _estimate(summary: Summary, scenario: str, n: int, analysis: str, term: str,
              coef: str = "") -> pd.Series | None:
    e = summary.estimates
    m = e[(e["scenario"] == scenario) & (e["n"] == n) & (e["analysis"] == analysis)
          & (e["term"] == term) & (e["coef"].fillna("") == coef)]
    return None if m.empty else m.iloc[0]


def hsct_table(summary: Summary, scenario: str = "calibrated") -> pd.DataFrame:
    """Bridging HSCT: the median hazard ratio over trials, its bias against the
    time-dependent truth (log scale), the share of trials with p < 0.05 and the coverage of
    the interval, per analysis, end point and size."""
    rows = []
    for ep, label in (("hsct_lfs", "LFS"), ("hsct_os", "OS")):
        td = truth_value(summary, scenario, ep, "time-dependent")
        for method, mlabel in (("fixed", "fixed at infusion (published)"),
                               ("time-dependent", "time-dependent"),
                               ("landmark", "landmark at "
                                f"{formatting.number(PlanOptions().landmark_months)} months")):
            for n in summary.sizes(scenario):
                est = _estimate(summary, scenario, n, ep, method)
                if est is None:
                    continue
                rej, rse, _ = summary.rate(scenario, n, "reject", ep, method)
                cov, cse, _ = summary.rate(scenario, n, "cover", ep, method)
                bias_td = (est["mean"] - math.log(td)) if td > 0 else math.nan
                rows.append({"End point": label, "Analysis": mlabel,
                             "n": formatting.count(n),
                             "Median HR": ratio_text(math.exp(est["median"])),
                             "True HR (this analysis)": ratio_text(math.exp(est["truth"])),
                             "Bias vs time-dependent truth (log HR)":
                                 bias_text(bias_td, est["bias_mcse"]),
                             "p < 0.05, %": rate_cell(rej, rse),
                             "CI covers own truth, %": rate_cell(cov, cse)})
    out = pd.DataFrame(rows)
    if not out.empty:
        repeat_analysis = out[["End point", "Analysis"]].duplicated()
        out.loc[out["End point"].duplicated(), "End point"] = ""
        out.loc[repeat_analysis, "Analysis"] = ""
    return out


# --------------------------------------------------------------------------------------------
# Severe CRS: separation, ML and Firth
# --------------------------------------------------------------------------------------------

def crs_table(summary: Summary, scenario: str = "calibrated") -> pd.DataFrame:
    """Table 2's models: separation, and per covariate the bias (log OR) of ML among its
    finite estimates and of Firth, the share of infinite ML estimates and p < 0.05."""
    rows = []
    for m, terms in ((1, MODEL1_TERMS), (2, MODEL2_TERMS)):
        for n in summary.sizes(scenario):
            sep, sse, _ = summary.rate(scenario, n, "separation", f"crs_model{m}")
            if not np.isfinite(sep):
                continue
            for term, label in terms:
                ml = _estimate(summary, scenario, n, f"crs_model{m}_ml", term)
                fi = _estimate(summary, scenario, n, f"crs_model{m}_firth", term)
                inf, ise, _ = summary.rate(scenario, n, "infinite", f"crs_model{m}_ml", term)
                rml, _, _ = summary.rate(scenario, n, "reject", f"crs_model{m}_ml", term)
                rfi, _, _ = summary.rate(scenario, n, "reject", f"crs_model{m}_firth", term)
                rows.append({
                    "Model": f"model {m}", "n": formatting.count(n),
                    "Separated, %": rate_cell(sep, sse),
                    "Covariate": label,
                    "True OR": ratio_text(math.exp(ml["truth"])) if ml is not None else "–",
                    "ML infinite, %": rate_cell(inf, ise),
                    "ML bias (finite), log OR": (bias_text(ml["bias"], ml["bias_mcse"])
                                                 if ml is not None else "–"),
                    "Firth bias, log OR": (bias_text(fi["bias"], fi["bias_mcse"])
                                           if fi is not None else "–"),
                    "p < 0.05 (ML Wald / Firth), %": f"{pct(rml)} / {pct(rfi)}"})
    out = pd.DataFrame(rows)
    if not out.empty:
        key = out["Model"] + out["n"]
        out.loc[key.duplicated(), ["Model", "n", "Separated, %"]] = ""
    return out


# --------------------------------------------------------------------------------------------
# Table 3
# --------------------------------------------------------------------------------------------

def _factor_label(fac) -> str:
    base = fac.label.split(" (cut ")[0].split(",")[0]
    return f"{base}: {fac.levels[0]} vs {fac.levels[1]}"


def table3_power(summary: Summary, n: int = 50, scenario: str = "calibrated") -> pd.DataFrame:
    """Table 3's Mann-Whitney comparisons at cohort size ``n`` in ``scenario``: the groups'
    mean sizes, the true P(first group has the higher Cmax) and the share of trials with
    p < 0.05 for Cmax, AUC0-28d and Tlast."""
    rows = []
    coh = summary.cohort
    for fac in table3_factors():
        def size(side: str) -> float:
            m = coh[(coh["scenario"] == scenario) & (coh["n"] == n)
                    & (coh["quantity"] == f"table3_{fac.key}_{side}_group")]
            return float(m["mean"].iloc[0]) if len(m) else math.nan
        a, b = size("first"), size("second")
        t = summary.truth
        auc = t[(t["scenario"] == scenario) & (t["analysis"] == "table3")
                & (t["term"] == fac.key) & (t["coef"] == "cmax")]
        row = {"Factor": _factor_label(fac),
               "Mean group sizes": (f"{formatting.fixed(a, 1)} / {formatting.fixed(b, 1)}"
                                    if np.isfinite(a) else "–"),
               "True P(higher Cmax)": (formatting.fixed(float(auc["auc"].iloc[0]), 2)
                                       if len(auc) else "–")}
        for coef in ("cmax", "auc", "tlast"):
            r, se, _ = summary.rate(scenario, n, "reject", "table3", fac.key, coef)
            row[f"{_PARAM_LABEL[coef]}, %"] = rate_cell(r, se)
        rows.append(row)
    return pd.DataFrame(rows)


def table3_null(summary: Summary, n: int = 50,
                scenarios: Sequence[str] = ("null_steroids", "null_expansion")) -> pd.DataFrame:
    """Table 3's Cmax comparisons at cohort size ``n`` without the steroid effect and
    without any clinical effect on expansion: the true P(first group has the higher Cmax)
    and the share of trials with p < 0.05, per scenario."""
    rows = []
    t = summary.truth
    for fac in table3_factors():
        row = {"Factor": _factor_label(fac)}
        for scen in scenarios:
            auc = t[(t["scenario"] == scen) & (t["analysis"] == "table3")
                    & (t["term"] == fac.key) & (t["coef"] == "cmax")]
            r, se, _ = summary.rate(scen, n, "reject", "table3", fac.key, "cmax")
            row[f"{scen}: true P"] = (formatting.fixed(float(auc["auc"].iloc[0]), 2)
                                      if len(auc) else "–")
            row[f"{scen}: p < 0.05, %"] = rate_cell(r, se)
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Sample size
# --------------------------------------------------------------------------------------------

def sample_size_table(summary: Summary) -> pd.DataFrame:
    """The cohort size for 80% power of each headline effect, with the power at each
    simulated size and the paper's own estimate and p-value."""
    ss = sample_sizes(summary)
    if ss.empty:
        return ss
    sizes = summary.sizes("calibrated")
    rows = []
    for r in ss.itertuples():
        est_key, p_key = PUBLISHED_KEYS.get(r.key, ("", ""))
        pub_est, pub_p = _published(est_key), _published(p_key)
        if r.status == "at or below":
            n80 = f"≤ {formatting.count(sizes[0])}"
        elif r.status == "above":
            n80 = f"> {formatting.count(sizes[-1])}"
        else:
            hi = "∞" if not np.isfinite(r.upper) else formatting.count(r.upper)
            n80 = f"{formatting.count(r.n80)} ({formatting.count(r.lower)}–{hi})"
        row = {"Effect": r.effect,
               "Published": (f"{ratio_text(pub_est)}, p {formatting.p_value(pub_p)}"
                             if np.isfinite(pub_est) else
                             f"p {formatting.p_value(pub_p)}" if np.isfinite(pub_p) else "–")}
        for n in sizes:
            row[f"Power at n = {formatting.count(n)}, %"] = rate_cell(getattr(r, f"power_{n}", math.nan),
                                                   getattr(r, f"mcse_{n}", math.nan))
        row["n for 80% power (95% MC interval)"] = n80
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Phrases for the text
# --------------------------------------------------------------------------------------------

def phrases(source: StudySource) -> dict[str, str]:
    """Every number of the chapter's text as a phrase, by glue key."""
    s = source.summary
    sizes = s.sizes()
    n0, nmax = sizes[0], sizes[-1]
    out: dict[str, str] = {"source": source_text(source), "n_first": formatting.count(n0),
                           "n_max": formatting.count(nmax), "sizes": sizes_text(sizes),
                           "truth_n": formatting.count(source.truth_n)}

    def r(key: str, scen: str, n: int, metric: str, analysis: str, term: str = "",
          coef: str = "") -> None:
        out[key] = rate_phrase(*s.rate(scen, n, metric, analysis, term, coef)[:2])

    for tag, n in (("first", n0), ("max", nmax)):
        r(f"fp_female_{tag}", "null_female", n, "declared", "lfs_mv", "female")
        r(f"prot_female_null_{tag}", "null_female", n, "declared_protective", "lfs_mv", "female")
        r(f"sel_female_null_{tag}", "null_female", n, "selected", "lfs_mv", "female")
        r(f"power_female_{tag}", "calibrated", n, "declared_protective", "lfs_mv", "female")
        r(f"power_bca_{tag}", "calibrated", n, "declared_protective", "lfs_mv", "bca_duration")
        r(f"null_bca_{tag}", "null_bca", n, "declared_protective", "lfs_mv", "bca_duration")
        r(f"epv10_{tag}", "calibrated", n, "epv_below_10", "lfs_mv")
        r(f"monotone_{tag}", "calibrated", n, "monotone_likelihood", "lfs_mv")
        r(f"fp_female_crs_{tag}", "null_female", n, "reject", "crs_model1_firth", "female")
        for ct in KM_CONF_TYPES:
            r(f"cover_os_{ct.replace('-', '')}_{tag}", "calibrated", n, "cover", "km_os", ct)
        out[f"km_bias_{tag}"] = km_bias_phrase(s, n)
        for m in (1, 2):
            r(f"sep_model{m}_{tag}", "calibrated", n, "separation", f"crs_model{m}")
        r(f"inf_preld_{tag}", "calibrated", n, "infinite", "crs_model1_ml", "pre_ld_mrd_low")
        for meth in ("ml", "firth"):
            e = _estimate(s, "calibrated", n, f"crs_model1_{meth}", "pre_ld_mrd_low")
            out[f"bias_preld_{meth}_{tag}"] = (bias_text(e["bias"], e["bias_mcse"],
                                                         label="MC SE ")
                                               if e is not None else "not simulated")
        for ep in ("lfs", "os"):
            for meth in ("fixed", "time-dependent"):
                e = _estimate(s, "calibrated", n, f"hsct_{ep}", meth)
                k = meth.replace("time-dependent", "td")
                out[f"hsct_{ep}_{k}_median_{tag}"] = (ratio_text(math.exp(e["median"]))
                                                      if e is not None else "not simulated")
                r(f"hsct_{ep}_{k}_reject_{tag}", "calibrated", n, "reject", f"hsct_{ep}", meth)
        r(f"steroids_power_{tag}", "calibrated", n, "reject", "table3", "steroids", "cmax")
        r(f"steroids_null_{tag}", "null_steroids", n, "reject", "table3", "steroids", "cmax")
    for ep in ("lfs", "os"):
        for meth in ("fixed", "time-dependent", "landmark"):
            k = meth.replace("time-dependent", "td")
            out[f"truth_hsct_{ep}_{k}"] = ratio_text(truth_value(s, "calibrated", f"hsct_{ep}",
                                                                 meth))
    out["truth_female"] = ratio_text(truth_value(s, "calibrated", "lfs_screen", "female",
                                                 "female"))
    out["truth_bca"] = ratio_text(truth_value(s, "calibrated", "lfs_screen", "bca_duration",
                                              "bca_duration"))
    out["truth_bca_null"] = ratio_text(truth_value(s, "null_bca", "lfs_screen",
                                                   "bca_duration", "bca_duration"))
    out["truth_os5"] = pct(truth_value(s, "calibrated", "km_os", "survival"))
    o = PlanOptions()
    out.update({"screen_p": formatting.number(o.screen_p),
                "alpha": formatting.number(o.alpha),
                "level": f"{formatting.number(100 * o.conf_level)}%",
                "power": f"{formatting.number(100 * POWER_TARGET)}%",
                "epv": formatting.number(EPV_ADVISED),
                "horizon": formatting.number(o.horizon_months / 12)})
    out["hsct_last_months"] = (
        f"{formatting.fixed(SyntheticParams().hsct_day_max / (DAYS_PER_YEAR / 12), 0)} months")
    for key in ("n_patients", "n_relapse", "t3_crs_grade3_4_n"):
        out[f"paper_{key}"] = formatting.count(_published(key))  # published counts
    from ..paper.registry import load_registry

    reg = load_registry().drop_duplicates("key")
    t3n = reg[reg["key"].str.fullmatch(r"t3_.*_n") & (reg["value"] > 0)]["value"]
    out["paper_t3_smallest"] = formatting.count(float(t3n.min()))
    out["published_female"] = ratio_text(_published("hr_female_lfs"))
    out["published_female_p"] = formatting.p_value(_published("hr_female_lfs_p"))
    out["published_steroids_p"] = formatting.p_value(_published("t3_steroids_p_cmax"))
    # Table 3 at the first size: comparisons with power >= 80 %
    t3 = s.rates[(s.rates["scenario"] == "calibrated") & (s.rates["n"] == n0)
                 & (s.rates["analysis"] == "table3") & (s.rates["metric"] == "reject")]
    out["t3_comparisons"] = formatting.count(len(t3))
    out["t3_powered"] = formatting.count(int((t3["rate"] >= POWER_TARGET).sum()))
    # events in the trials at the first size
    coh = s.cohort
    for q in ("lfs_events", "severe_crs"):
        m = coh[(coh["scenario"] == "calibrated") & (coh["n"] == n0) & (coh["quantity"] == q)]
        out[f"{q}_{'first'}"] = (f"{formatting.fixed(m['mean'].iloc[0], 1)} (range "
                                 f"{formatting.count(m['min'].iloc[0])}–"
                                 f"{formatting.count(m['max'].iloc[0])})"
                                 if len(m) else "not simulated")
    ss = sample_sizes(s)
    for key in ("female_lfs", "bca_lfs", "dose_crs_firth", "steroids_cmax"):
        m = ss[ss["key"] == key] if len(ss) else ss
        if m.empty:
            out[f"n80_{key}"] = "not simulated"
            continue
        row = m.iloc[0]
        if row["status"] == "at or below":
            out[f"n80_{key}"] = f"at most {formatting.count(sizes[0])}"
        elif row["status"] == "above":
            out[f"n80_{key}"] = f"more than {formatting.count(sizes[-1])}"
        else:
            out[f"n80_{key}"] = f"about {formatting.count(float(row['n80']))}"
    return out
