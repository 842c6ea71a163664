# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Toxicity
#
# Adverse events in the first four weeks after infusion, the risk models for severe
# cytokine release syndrome (CRS), and interleukin-6 (IL-6) as a marker of severe CRS and
# ICANS. This chapter reproduces the paper's *Toxicity* paragraph, its Supplementary Tables S3
# and S4 and its Table 2, and then asks how much a handful of events can support: events per
# variable, separation, and estimates that remain finite when maximum likelihood breaks down.

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
output_dir = "outputs/toxicity"
chapter = "toxicity"
min_cell_count = 0  # counts 1..k-1 shown as "<k" (0: off; analysis_lib.data.privacy)
conf_level = 0.95
age_cut_years = 10.0
severe_crs_grade = 3
model_mrd_cut = 1e-3
dose_cut = 3.68
dose_cut_text = 3.66
screen_threshold = 0.2
screen_test = "lr"
il6_thresholds = [10.0, 20.0, 40.0, 100.0, 500.0, 1000.0]
epv_advised = 10

# %% tags=["remove-input"]
import numpy as np
import pandas as pd

from analysis_lib.analyses import toxicity
from analysis_lib.book import report
from analysis_lib.book.figures import toxicity as plots
from analysis_lib.core import units
from analysis_lib.paper import feasibility
from analysis_lib.stats import proportions, roc

data = report.open_chapter(
    chapter, data_dir, min_cell_count,
    dict(data_dir=data_dir, output_dir=output_dir, conf_level=conf_level,
         age_cut_years=age_cut_years, severe_crs_grade=severe_crs_grade,
         model_mrd_cut=model_mrd_cut, dose_cut=dose_cut, dose_cut_text=dose_cut_text,
         screen_threshold=screen_threshold, screen_test=screen_test,
         il6_thresholds=il6_thresholds, epv_advised=epv_advised))
patients = data.tables["patients"]
fmt, ci, fp = toxicity.format_ratio, toxicity.format_ci, toxicity.format_p
lvl = round(100 * conf_level)

# %% tags=["remove-cell"]
n = len(patients)
report.glue_number("n_patients", n)
report.glue_number("conf_pct", lvl)
report.glue_number("severe_grade", severe_crs_grade)
ae = toxicity.adverse_event_table(patients, severe_grade=severe_crs_grade, conf_level=conf_level)
for row in ae.itertuples():
    report.glue_number(f"ae_{row.key}_k", row.k)
    report.glue_number(f"ae_{row.key}_n", row.n)
    report.glue_number(f"ae_{row.key}_pct", row.percent)
    report.glue_text(f"ae_{row.key}_text",
                     proportions.proportion(row.event, row.k, row.n, conf_level).text()
                     if row.n else "not assessed")
summ = toxicity.continuous_summaries(patients).set_index("key")
for key, row in summ.iterrows():
    for stat in ("median", "min", "max"):
        report.glue_number(f"{key}_{stat}", float(row[stat]))
    report.glue_text(f"{key}_text", row["display"])
report.glue_number("il6_peak_n", int(summ.loc["il6_peak", "n"]))

# %% [markdown]
# (sec-toxicity-adverse-events)=
# ## Adverse events in the first four weeks
#
# Of the {glue:text}`n_patients:d` patients, {glue:md}`ae_crs_any_text` developed CRS of any
# grade and {glue:md}`ae_crs_severe_text` CRS of grade {glue:text}`severe_grade:d` or higher;
# {glue:md}`ae_icans_any_text` developed ICANS. Grade 4 neutropenia occurred in
# {glue:md}`ae_neutropenia_g4_text`, and the nadir absolute neutrophil count had a median
# (range) of {glue:md}`anc_nadir_text` ×10⁹/L. {glue:md}`ae_infection_any_text` had at least one
# infection: bacterial bloodstream infections {glue:md}`ae_infection_bacterial_text`, CMV
# reactivation {glue:md}`ae_infection_cmv_text`, EBV reactivation
# {glue:md}`ae_infection_ebv_text` and invasive fungal infections
# {glue:md}`ae_infection_fungal_text`. Haemophagocytic lymphohistiocytosis was diagnosed in
# {glue:md}`ae_hlh_text`. Tocilizumab was given to {glue:md}`ae_tocilizumab_text` and
# corticosteroids to {glue:md}`ae_corticosteroids_text`. Among the patients with a previous
# transplant, graft-versus-host disease occurred in {glue:md}`ae_gvhd_text`.
#
# IL-6 rose above the normal range in {glue:md}`ae_il6_elevated_text`. In these
# {glue:text}`il6_peak_n:d` patients the peak had a median (range) of {glue:md}`il6_peak_text`
# pg/mL, reached on day {glue:md}`il6_peak_day_text` (median, range). A peak reported above
# the assay's upper limit is shown as ">limit": it is a lower bound.
#
# {numref}`tbl-adverse-events` is the equivalent of Supplementary Table S3, with exact
# (Clopper–Pearson) confidence intervals and the paper's value beside each rate;
# {numref}`fig-grades` shows the grade distributions.

# %% tags=["remove-input"]
shown = ae.assign(
    ci=[f"{a:.1f}–{b:.1f}" if k_n else "–"
        for a, b, k_n in zip(ae["ci_low"], ae["ci_high"], ae["n"])],
    pct=[f"{v:.1f}" if np.isfinite(v) else "–" for v in ae["percent"]],
    nn=[f"{k}/{m}" for k, m in zip(ae["k"], ae["n"])])[
    ["section", "event", "nn", "pct", "ci", "published"]]
shown.columns = ["", "Event", "n/N", "%", f"{lvl}% CI (exact)", "Published"]
shown.loc[shown[""].duplicated(), ""] = ""
report.show_table(shown, "Adverse events within four weeks of infusion (the equivalent of "
                  "Supplementary Table S3). N is the number of patients assessed; GVHD is "
                  "counted among patients with a previous HSCT only. Published: the value "
                  "printed in the paper's Results (n = 50).", "tbl-adverse-events")
ae_csv = report.write_output(ae, output_dir, "adverse_events", data.synthetic)

# %% tags=["remove-input"]
cs = summ.reset_index()[["label", "unit", "n", "display", "published"]]
cs.columns = ["Measure", "Unit", "n", "Median (range)", "Published"]
report.show_table(cs, "Nadir neutrophil count and peak IL-6 (peak and its day among the "
                  "patients with elevated IL-6).", "tbl-continuous-ae")

# %% tags=["remove-cell"]
crs_dist = toxicity.grade_distribution(patients, "crs_grade")
icans_dist = toxicity.grade_distribution(patients, "icans_grade")
report.glue_figure("fig_grades", plots.grade_distributions({"CRS": crs_dist, "ICANS": icans_dist}))

# %% [markdown]
# ```{glue:figure} fig_grades
# :name: fig-grades
#
# Patients by highest grade of CRS (left) and ICANS (right) within four weeks of infusion
# (ASTCT 2018 consensus grading, {cite:t}`lee2019`; 0 = none).
# ```

# %% tags=["remove-cell"]
factors, labels = toxicity.risk_factors(patients, mrd_cut=model_mrd_cut, dose_cut=dose_cut,
                                        age_cut=age_cut_years)
outc = toxicity.outcomes(patients, severe_crs_grade)
y = outc["crs_severe"].astype(int)
screen, screen_fits = toxicity.univariate_screen(factors, y, labels, threshold=screen_threshold,
                                                 test=screen_test, conf_level=conf_level)
test_name = {"lr": "likelihood-ratio", "wald": "Wald", "firth": "penalised likelihood-ratio"}
report.glue_number("severe_events", int(y.sum()))
report.glue_number("screen_threshold", screen_threshold)
report.glue_number("published_screen_p", toxicity.PUBLISHED_SCREEN_P)
report.glue_text("screen_test", test_name[screen_test])
report.glue_number("n_candidates", len(screen))
report.glue_number("n_selected", int(screen["selected"].sum()))
sel = screen.loc[screen["selected"], "label"].tolist()
report.glue_text("selected_list", ", ".join(sel) if sel else "none")
n_sep = int(screen["separation"].isin(["quasi-complete", "complete"]).sum())
report.glue_number("screen_n_separated", n_sep)
wald_would = screen[(screen["wald_p"] < screen_threshold)].shape[0]
report.glue_number("screen_n_wald", wald_would)
report.glue_number("screen_n_lr", int((screen["lr_p"] < screen_threshold).sum()))
# numeric values for the scorecard (ML OR and its Wald p, as SPSS prints; reasons for ORs
# that separation makes infinite)
report.glue_estimates("uni", toxicity.or_estimates(screen, labels), estimate="or")
report.glue_number("epv_advised", epv_advised)

# %% [markdown]
# (sec-toxicity-severe-crs)=
# ## Risk factors for severe CRS
#
# ### Univariate screen
#
# The paper screened candidate factors one at a time and carried those with p <
# {glue:text}`published_screen_p:.2g` into multivariable logistic regression (Table 2;
# Supplementary Table S4 lists the screen but is not part of the extracted text). The
# candidates here are the factors of Table 2 plus the
# baseline characteristics the paper examines elsewhere (age, cytogenetic risk, CAR-T history,
# reason for CAR-T). There were {glue:text}`severe_events:d` patients with severe CRS.
#
# Each factor is fitted three ways ({numref}`tbl-screen`): by maximum likelihood (ML) with
# the Wald interval that SPSS prints and with the profile-likelihood interval that R's
# `confint(glm)` gives; and by Firth's penalised likelihood with a profile
# penalised-likelihood interval (as R's `logistf`). The screen uses the
# {glue:md}`screen_test` test at p < {glue:text}`screen_threshold:.2g`, and
# {glue:text}`n_selected:d` of the {glue:text}`n_candidates:d` candidates pass it:
# {glue:md}`selected_list`.
#
# The choice of test matters when a factor predicts the outcome perfectly in one of its
# groups ("separation"; {glue:text}`screen_n_separated:d` candidate(s) here). The ML odds ratio
# is then 0 or infinite; the Wald standard error grows with it and the Wald p-value tends to 1,
# so a Wald screen drops exactly the most predictive factors. The likelihood-ratio test and the
# profile interval remain valid. Counting by the Wald p-value, {glue:text}`screen_n_wald:d`
# candidate(s) would pass; by the likelihood-ratio p-value, {glue:text}`screen_n_lr:d`.

# %% tags=["remove-input"]
def _or_ci(est, lo, hi):
    return f"{fmt(est)} ({ci(lo, hi)})" if np.isfinite(lo) or np.isfinite(hi) else fmt(est)


sep_mark = np.where(screen["infinite"].fillna("") != "", " †", "")
tbl = pd.DataFrame({
    "Factor": screen["label"],
    "Severe CRS: with / without factor": [f"{a}/{b} vs {c}/{d}" for a, b, c, d in zip(
        screen["events_exposed"], screen["n_exposed"], screen["events_unexposed"],
        screen["n_unexposed"])],
    "ML OR (profile CI)": [f"{fmt(e)}{m} ({ci(lo, hi)})" for e, m, lo, hi in zip(
        screen["or_ml"], sep_mark, screen["profile_lower"], screen["profile_upper"])],
    "Wald p": screen["wald_p"].map(fp),
    "LR p": screen["lr_p"].map(fp),
    "Firth OR (profile CI)": [_or_ci(e, lo, hi) for e, lo, hi in zip(
        screen["or_firth"], screen["firth_lower"], screen["firth_upper"])],
    "Firth p": screen["firth_p"].map(fp),
    "Selected": screen["selected"].map({True: "yes", False: "no"}),
})
report.show_table(tbl, f"Univariate logistic screen for CRS grade ≥{severe_crs_grade} (the "
                  "equivalent of Supplementary Table S4). Odds ratios with "
                  f"{lvl}% confidence intervals: maximum likelihood (ML) with the "
                  "profile-likelihood interval, Firth with the profile penalised-likelihood "
                  "interval; p-values by Wald, likelihood-ratio (LR) and penalised "
                  "likelihood-ratio (Firth) tests. † Separation: the ML odds ratio is 0 or ∞ "
                  "and has no Wald test. Wald intervals are in the downloadable file. "
                  f"Selected: {test_name[screen_test]} p < {screen_threshold:g}.", "tbl-screen")
screen_csv = report.write_output(screen, output_dir, "univariate_screen", data.synthetic)

# %% tags=["remove-cell"]
burden = toxicity.burden_and_outcomes(patients, mrd_cut=model_mrd_cut,
                                      severe_grade=severe_crs_grade, conf_level=conf_level)
report.glue_estimates("burden", pd.DataFrame({
    "slug": burden["exposure"] + "_" + burden["outcome"], "estimate": burden["sample_or"],
    "p": burden["fisher_p"], "not_estimable": ""}), estimate="or")
for r in burden.itertuples():
    report.glue_text(f"burden_{r.exposure}_{r.outcome}_text",
                     f"{r.a}/{r.a + r.b} vs {r.c}/{r.c + r.d} (Fisher's exact p {fp(r.fisher_p)})")
report.glue_text("burden_cut", units.format_mrd(model_mrd_cut))

# %% [markdown]
# (sec-toxicity-burden)=
# ### Tumour burden, severe CRS and ICANS
#
# The paper reports that a high tumour burden before infusion, MRD of at least
# {glue:md}`burden_cut` before or after lymphodepletion, went with more ICANS and more
# severe CRS. With so few events, Fisher's exact test is the test of record
# ({numref}`tbl-burden`). Severe CRS occurred in
# {glue:md}`burden_pre_ld_mrd_high_crs_severe_text` of the patients with a high vs a low
# pre-LD burden, and in {glue:md}`burden_post_ld_mrd_high_crs_severe_text` by post-LD burden;
# ICANS in {glue:md}`burden_pre_ld_mrd_high_icans_any_text` by pre-LD and
# {glue:md}`burden_post_ld_mrd_high_icans_any_text` by post-LD burden.

# %% tags=["remove-input"]
report.show_table(pd.DataFrame({
    "Burden and outcome": burden["label"],
    "Events: high vs low burden": [f"{a}/{a + b} vs {c}/{c + d}" for a, b, c, d in zip(
        burden["a"], burden["b"], burden["c"], burden["d"])],
    "Sample OR": burden["sample_or"].map(fmt),
    "Conditional MLE (exact CI)": [f"{fmt(e)} ({ci(lo, hi)})" for e, lo, hi in zip(
        burden["cond_or"], burden["cond_lower"], burden["cond_upper"])],
    "Fisher p": burden["fisher_p"].map(fp),
}), f"Severe CRS (grade ≥{severe_crs_grade}) and ICANS by pre-infusion tumour burden (bone-"
    f"marrow MRD ≥ {units.format_mrd(model_mrd_cut)} vs below, before and after lymphodepletion): "
    f"events, the sample odds ratio, the conditional maximum-likelihood odds ratio with its "
    f"exact {lvl}% interval and Fisher's exact p (as R's fisher.test).", "tbl-burden")
burden_csv = report.write_output(burden, output_dir, "burden_and_outcomes", data.synthetic)


# %% tags=["remove-cell"]
models = {1: toxicity.MODEL_1, 2: toxicity.MODEL_2}
fits = {m: toxicity.risk_model(factors, y, terms, conf_level=conf_level)
        for m, terms in models.items()}
tables = {m: toxicity.model_table(a, labels) for m, a in fits.items()}
for m, a in fits.items():
    report.glue_number(f"m{m}_n", a.n)
    report.glue_number(f"m{m}_events", a.events)
    report.glue_number(f"m{m}_k", a.n_covariates)
    report.glue_number(f"m{m}_epv", a.epv)
    report.glue_number(f"m{m}_events_needed", epv_advised * a.n_covariates)
    report.glue_text(f"m{m}_separation", toxicity.describe_separation(a, labels))
    t = tables[m].set_index("term")
    for term in models[m]:
        r = t.loc[term]
        report.glue_text(f"m{m}_{term}_ml",
                         f"{fmt(r.or_ml)} (profile {lvl}% CI {ci(r.profile_lower, r.profile_upper)}; "
                         f"LR p {fp(r.lr_p)})")
        report.glue_text(f"m{m}_{term}_firth",
                         f"{fmt(r.or_firth)} ({ci(r.firth_lower, r.firth_upper)}; p {fp(r.firth_p)})")
    # numeric values for the scorecard: ML odds ratio and its Wald p (as SPSS prints)
    report.glue_estimates(f"m{m}", toxicity.or_estimates(tables[m], labels), estimate="or")
report.glue_text("label_pre", labels["pre_ld_mrd_low"])
report.glue_text("label_post", labels["post_ld_mrd_low"])
report.glue_text("label_dose", labels["dose_low"])

# %% [markdown]
# ### The two multivariable models
#
# The paper fitted two models so that pre- and post-lymphodepletion MRD, which are strongly
# correlated, never enter together: model 1 with {glue:md}`label_pre` and model 2 with
# {glue:md}`label_post`, each with sex, HSCT history and {glue:md}`label_dose`
# ({numref}`tbl-model-1`, {numref}`tbl-model-2`, {numref}`fig-forest`). They are refitted here
# as published, whatever the screen above selects.
#
# Both models spend {glue:text}`m1_k:d` covariates on {glue:text}`m1_events:d` events: an
# events-per-variable (EPV) of {glue:text}`m1_epv:.1f`. The usual advice is at least
# {glue:text}`epv_advised:d` {cite:p}`peduzzi1996`, which for {glue:text}`m1_k:d` covariates
# needs {glue:text}`m1_events_needed:d` events. Below that, maximum-likelihood odds ratios are
# biased away from 1, Wald intervals are unreliable and a single patient can move an estimate
# by an order of magnitude.
#
# * **Model 1** (n = {glue:text}`m1_n:d`): {glue:md}`m1_separation`. The ML odds ratio of
#   {glue:md}`label_pre` is {glue:md}`m1_pre_ld_mrd_low_ml`; Firth's estimate is
#   {glue:md}`m1_pre_ld_mrd_low_firth`.
# * **Model 2** (n = {glue:text}`m2_n:d`): {glue:md}`m2_separation`. The ML odds ratio of
#   {glue:md}`label_post` is {glue:md}`m2_post_ld_mrd_low_ml`; Firth's estimate is
#   {glue:md}`m2_post_ld_mrd_low_firth`.
#
# Firth's method {cite:p}`firth1993,heinze2002` maximises the likelihood penalised by
# Jeffreys' prior. It removes the first-order bias of the ML estimate and gives finite
# estimates even under separation; its intervals come from the profile of the penalised
# likelihood and its p-values from the penalised likelihood-ratio test, as `logistf` reports
# them. Where ML and Firth disagree by much, the data cannot pin the effect down.

# %% tags=["remove-input"]
pub = toxicity.published_table2()


def _model_display(m: int) -> pd.DataFrame:
    t = tables[m]
    p_m = pub[pub["model"] == f"model {m}"].set_index("term")
    return pd.DataFrame({
        "Covariate": t["label"],
        "ML OR (Wald CI)": [_or_ci(e, lo, hi) for e, lo, hi in zip(
            t["or_ml"], t["wald_lower"], t["wald_upper"])],
        "Wald p": t["wald_p"].map(fp),
        "Profile CI": [ci(lo, hi) for lo, hi in zip(t["profile_lower"], t["profile_upper"])],
        "LR p": t["lr_p"].map(fp),
        "Firth OR (profile CI)": [_or_ci(e, lo, hi) for e, lo, hi in zip(
            t["or_firth"], t["firth_lower"], t["firth_upper"])],
        "Firth p": t["firth_p"].map(fp),
        "Published OR (CI), p": [
            f"{p_m.loc[k, 'or']:.3f} ({p_m.loc[k, 'lower']:.3f}–{p_m.loc[k, 'upper']:.3f}), "
            f"{p_m.loc[k, 'p']:.3f}" if k in p_m.index else "" for k in t["term"]],
    })


for m in (1, 2):
    a = fits[m]
    report.show_table(
        _model_display(m),
        f"Multivariable model {m} for CRS grade ≥{severe_crs_grade} (Table 2, model {m}): "
        f"n = {a.n}, {a.events} events, {a.n_covariates} covariates, EPV = {a.epv:.1f}; "
        f"{toxicity.describe_separation(a, labels)}. {lvl}% intervals: Wald and profile "
        "likelihood (ML), profile penalised likelihood (Firth). Published: the paper's Table 2 "
        "(Wald intervals, SPSS).", f"tbl-model-{m}")
    model_csv = report.write_output(tables[m], output_dir, f"model_{m}", data.synthetic)

# %% tags=["remove-cell"]
report.glue_figure("fig_forest", plots.odds_ratio_forest(
    {f"Model {m}": tables[m] for m in (1, 2)}))
for key in ("or_severe_crs_female", "or_severe_crs_pre_ld_low", "or_mv2_severe_crs_female",
            "multivariable_wald_ci"):
    report.glue_text(f"finding_{key}", toxicity.finding(key).reason)
n_uni_impossible = sum(toxicity.finding(k).verdict == "impossible"
                       for k in pub.loc[pub["model"] == "univariate", "finding"])
report.glue_number("n_uni_impossible", n_uni_impossible)
report.glue_number("n_uni_published", int((pub["model"] == "univariate").sum()))
report.glue_number("published_n", feasibility.N_PATIENTS)
report.glue_number("published_severe", feasibility.SEVERE_CRS)

# %% [markdown]
# ```{glue:figure} fig_forest
# :name: fig-forest
#
# Odds ratios of severe CRS in the two multivariable models: maximum likelihood with
# profile-likelihood intervals (circles) and Firth's penalised likelihood with profile
# penalised-likelihood intervals (squares). Log scale; an arrow marks an interval running
# beyond the axis (infinite limits included) and a triangle an infinite ML estimate.
# ```
#
# ### The published Table 2
#
# The published multivariable intervals are Wald intervals and hang together.
# {glue:md}`finding_multivariable_wald_ci` The exception is model 2's female row.
# {glue:md}`finding_or_mv2_severe_crs_female`
#
# The published univariate column cannot be reproduced by any data set.
# {glue:text}`n_uni_impossible:d` of its {glue:text}`n_uni_published:d` odds ratios are
# unattainable with the paper's own margins ({glue:text}`published_n:d` patients,
# {glue:text}`published_severe:d` events, the group sizes of Table 3), and their intervals
# are far narrower than {glue:text}`published_severe:d` events allow. For sex, as an example:
# {glue:md}`finding_or_severe_crs_female` For pre-LD MRD:
# {glue:md}`finding_or_severe_crs_pre_ld_low` The arithmetic for every row is in
# {numref}`tbl-excluded-targets` of the synthetic-data chapter. The univariate estimates of
# {numref}`tbl-screen` are computed from the cohort and are not made to match these numbers.

# %% tags=["remove-cell"]
il6 = toxicity.il6_odds_ratios(patients, severe_grade=severe_crs_grade, conf_level=conf_level)
for r in il6.itertuples():
    k = r.outcome
    report.glue_text(f"il6_{k}_cells", f"{r.a}/{r.a + r.b} with elevated IL-6 vs "
                                       f"{r.c}/{r.c + r.d} without")
    report.glue_number(f"il6_{k}_sample_or", float(r.sample_or))
    report.glue_text(f"il6_{k}_sample_or_text", fmt(r.sample_or))
    report.glue_text(f"il6_{k}_profile", f"{ci(r.profile_lower, r.profile_upper)} (LR p "
                                         f"{fp(r.lr_p)})")
    report.glue_text(f"il6_{k}_fisher", f"{fp(r.fisher_p)}")
    report.glue_number(f"il6_{k}_fisher_p", float(r.fisher_p))
    report.glue_text(f"il6_{k}_cond", f"{fmt(r.cond_or)} ({ci(r.cond_lower, r.cond_upper)})")
    report.glue_text(f"il6_{k}_firth", f"{fmt(r.or_firth)} ({ci(r.firth_lower, r.firth_upper)}; "
                                       f"p {fp(r.firth_p)})")
    report.glue_number(f"il6_{k}_published", float(r.published_or))
    report.glue_text(f"il6_{k}_separation", r.separation)
    report.glue_text(f"finding_{r.finding}", toxicity.finding(r.finding).reason)
report.glue_number("p_il6_published", feasibility.P_IL6_BELOW)

# %% [markdown]
# (sec-toxicity-il6)=
# ## IL-6 as a marker of severe CRS and ICANS
#
# ### Odds ratios of an elevated IL-6
#
# The paper reports odds ratios of an elevated IL-6 of
# {glue:text}`il6_crs_severe_published:.3f` for severe CRS and
# {glue:text}`il6_icans_any_published:.3f` for ICANS, both with p <
# {glue:text}`p_il6_published:.3f`. Neither can be true with the paper's own counts. For
# severe CRS: {glue:md}`finding_il6_or_severe_crs` For ICANS:
# {glue:md}`finding_il6_or_icans`
#
# In this cohort severe CRS occurred in {glue:md}`il6_crs_severe_cells` (separation:
# {glue:md}`il6_crs_severe_separation`) and ICANS in {glue:md}`il6_icans_any_cells`
# (separation: {glue:md}`il6_icans_any_separation`). {numref}`tbl-il6-or` gives every
# estimate of the odds ratio, because they answer different questions: the sample
# cross-product ratio (the ML estimate) is {glue:md}`il6_crs_severe_sample_or_text` for
# severe CRS, with profile-likelihood interval {glue:md}`il6_crs_severe_profile`; Fisher's
# exact test gives p = {glue:md}`il6_crs_severe_fisher` and a conditional ML estimate of
# {glue:md}`il6_crs_severe_cond` (R's `fisher.test`); Firth's estimate is
# {glue:md}`il6_crs_severe_firth`. For ICANS the corresponding values are
# {glue:md}`il6_icans_any_sample_or_text`, {glue:md}`il6_icans_any_profile`,
# p = {glue:md}`il6_icans_any_fisher`, {glue:md}`il6_icans_any_cond` and
# {glue:md}`il6_icans_any_firth`.

# %% tags=["remove-input"]
it = pd.DataFrame({
    "": ["Events: elevated vs not elevated IL-6", "Sample OR (ML), profile CI", "LR p",
         "Conditional MLE, exact CI", "Fisher p", "Firth OR, profile CI", "Firth p",
         "Published OR"],
    **{r.label: [f"{r.a}/{r.a + r.b} vs {r.c}/{r.c + r.d}",
                 f"{fmt(r.sample_or)} ({ci(r.profile_lower, r.profile_upper)})", fp(r.lr_p),
                 f"{fmt(r.cond_or)} ({ci(r.cond_lower, r.cond_upper)})", fp(r.fisher_p),
                 f"{fmt(r.or_firth)} ({ci(r.firth_lower, r.firth_upper)})", fp(r.firth_p),
                 f"{r.published_or:.3f}"] for r in il6.itertuples()},
})
report.show_table(it, f"Odds ratios of an elevated IL-6 for CRS grade ≥{severe_crs_grade} and "
                  f"for ICANS, {lvl}% intervals: the sample odds ratio with its "
                  "profile-likelihood interval and likelihood-ratio (LR) test; Fisher's exact "
                  "test with the conditional maximum-likelihood estimate and exact interval "
                  "(as R's fisher.test); Firth's penalised estimate with its profile "
                  "penalised-likelihood interval and penalised likelihood-ratio test.",
                  "tbl-il6-or")
il6_csv = report.write_output(il6, output_dir, "il6_odds_ratios", data.synthetic)

# %% tags=["remove-cell"]
marker = patients["il6_peak_pg_per_ml"].astype(float)
rocs = {k: roc.roc_analysis(marker, outc[k], conf_level=conf_level)
        for k in ("crs_severe", "icans_any")}
for k, r in rocs.items():
    report.glue_number(f"roc_{k}_auc", r.auc)
    report.glue_number(f"roc_{k}_se", r.se)
    report.glue_number(f"roc_{k}_lower", r.lower)
    report.glue_number(f"roc_{k}_upper", r.upper)
    report.glue_number(f"roc_{k}_n_pos", r.n_pos)
    report.glue_number(f"roc_{k}_n_neg", r.n_neg)
    report.glue_text(f"roc_{k}_text", f"{r.auc:.3f} ({lvl}% CI {r.lower:.3f}–{r.upper:.3f})"
                     + ("; the interval is degenerate because the marker separates the groups "
                        "perfectly" if r.degenerate else ""))
    yd = r.youden()
    report.glue_number(f"roc_{k}_youden_threshold", float(yd["threshold"]))
    report.glue_text(f"roc_{k}_youden", f"peak IL-6 ≥ {yd['threshold']:g} pg/mL "
                     f"(sensitivity {100 * yd['sensitivity']:.1f}%, specificity "
                     f"{100 * yd['specificity']:.1f}%)")
report.glue_figure("fig_roc", plots.roc_curves(
    {f"CRS grade ≥{severe_crs_grade}": (rocs["crs_severe"].curve, rocs["crs_severe"].auc),
     "ICANS": (rocs["icans_any"].curve, rocs["icans_any"].auc)}, marker="IL-6"))
thresholds = sorted(set(il6_thresholds) | {float(rocs["crs_severe"].youden()["threshold"])})
thr = roc.threshold_table(marker, outc["crs_severe"], thresholds, conf_level=conf_level)
thr_icans = roc.threshold_table(marker, outc["icans_any"], thresholds, conf_level=conf_level)

# %% [markdown]
# ### Peak IL-6 as a classifier
#
# An odds ratio of a dichotomised marker says little about how well the marker sorts
# patients. Treating the peak IL-6 concentration as a continuous test
# ({numref}`fig-roc`), the area under the ROC curve is {glue:md}`roc_crs_severe_text` for
# severe CRS ({glue:text}`roc_crs_severe_n_pos:d` patients with and
# {glue:text}`roc_crs_severe_n_neg:d` without) and {glue:md}`roc_icans_any_text` for ICANS
# ({glue:text}`roc_icans_any_n_pos:d` with, {glue:text}`roc_icans_any_n_neg:d` without). The
# AUC is the Mann–Whitney probability that a patient with the event has the higher peak (ties
# count one half); its interval is DeLong's {cite:p}`delong1988`, AUC ± z·SE cut to [0, 1] as
# in R's pROC. With few events these intervals are approximate.
#
# {numref}`tbl-il6-thresholds` gives sensitivity and specificity at fixed thresholds, with
# exact intervals. The threshold that maximises Youden's index for severe CRS is
# {glue:md}`roc_crs_severe_youden`; chosen on the same patients it describes, it flatters the
# marker and needs confirming in other patients.
#
# Whether IL-6 gives *early* warning cannot be judged from these data. The peak is the
# highest value over four weeks, and the day CRS began is not recorded, so a peak could as
# well follow the onset of CRS as precede it. An early-warning claim needs IL-6 measured
# before onset, and a threshold fixed in advance.

# %% [markdown]
# ```{glue:figure} fig_roc
# :name: fig-roc
#
# Empirical ROC curves of the peak IL-6 concentration for severe CRS and for ICANS; the
# dotted diagonal is a useless test.
# ```

# %% tags=["remove-input"]
def _thr_display(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "IL-6 ≥ (pg/mL)": t["threshold"].map(lambda v: f"{v:g}"),
        "TP/FN/TN/FP": [f"{a}/{b}/{c}/{d}" for a, b, c, d in zip(t["tp"], t["fn"], t["tn"], t["fp"])],
        f"Sensitivity % ({lvl}% CI)": [f"{s:.1f} ({lo:.1f}–{hi:.1f})" for s, lo, hi in zip(
            t["sensitivity"], t["sens_low"], t["sens_high"])],
        f"Specificity % ({lvl}% CI)": [f"{s:.1f} ({lo:.1f}–{hi:.1f})" for s, lo, hi in zip(
            t["specificity"], t["spec_low"], t["spec_high"])],
        "PPV %": t["ppv"].map(lambda v: "–" if np.isnan(v) else f"{v:.1f}"),
        "NPV %": t["npv"].map(lambda v: "–" if np.isnan(v) else f"{v:.1f}"),
    })


both = pd.concat([_thr_display(thr).assign(Outcome=f"CRS grade ≥{severe_crs_grade}"),
                  _thr_display(thr_icans).assign(Outcome="ICANS")])
both = both[["Outcome", *[c for c in both.columns if c != "Outcome"]]]
both.loc[both["Outcome"].duplicated(), "Outcome"] = ""
report.show_table(both, "Peak IL-6 as a test for severe CRS and for ICANS: a patient is "
                  "test-positive when the peak is at or above the threshold. Exact "
                  "(Clopper–Pearson) intervals; PPV and NPV at this cohort's prevalence. The "
                  "list includes the Youden-optimal threshold for severe CRS.",
                  "tbl-il6-thresholds")
thr_csv = report.write_output(
    pd.concat([thr.assign(outcome="crs_severe"), thr_icans.assign(outcome="icans_any")]),
    output_dir, "il6_thresholds", data.synthetic)

# %% tags=["remove-cell"]
dose = toxicity.dose_threshold_comparison(patients, (dose_cut_text, dose_cut),
                                          severe_grade=severe_crs_grade, conf_level=conf_level)
for r in dose.itertuples():
    tag = "text" if r.cut == dose_cut_text else "table"
    report.glue_number(f"dose_{tag}_cut", r.cut)
    report.glue_text(f"dose_{tag}_risks", f"{r.events_below}/{r.n_below} "
                     f"({r.risk_below:.1f}%) below vs {r.events_above}/{r.n_above} "
                     f"({r.risk_above:.1f}%) at or above")
    report.glue_text(f"dose_{tag}_p", f"Wald p {fp(r.wald_p)}, likelihood-ratio p {fp(r.lr_p)}, "
                     f"Fisher p {fp(r.fisher_p)}")
    report.glue_number(f"dose_{tag}_n_between", r.n_between)
dose_row = pub[(pub["model"] == "univariate") & (pub["term"] == "dose_low")].iloc[0]
report.glue_number("dose_published_p", float(dose_row["p"]))
report.glue_text("finding_dose_cut", toxicity.finding("dose_cut").reason)

# %% [markdown]
# (sec-toxicity-dose)=
# ## Dose threshold
#
# The paper's text puts the dose threshold at {glue:text}`dose_text_cut:.2f` ×10⁶ cells/kg
# with p = {glue:text}`dose_published_p:.3f`, while Table 2 and the median dose use
# {glue:text}`dose_table_cut:.2f`. {glue:md}`finding_dose_cut` In this cohort
# {glue:text}`dose_table_n_between:d` patient(s) received a dose at or above the lower
# threshold and below the higher one, and change group between the two. Severe CRS occurred
# in {glue:md}`dose_table_risks` the {glue:text}`dose_table_cut:.2f` threshold
# ({glue:md}`dose_table_p`), and in
# {glue:md}`dose_text_risks` the {glue:text}`dose_text_cut:.2f` threshold
# ({glue:md}`dose_text_p`); {numref}`tbl-dose`. A threshold at the sample median is itself
# estimated from the data, and with few events a single patient on either side of it can move
# the p-value across 0.05.

# %% tags=["remove-input"]
dt = pd.DataFrame({
    "Dose cut (×10⁶/kg)": dose["cut"].map(lambda v: f"{v:.2f}"),
    "Below: severe CRS": [f"{a}/{b} ({c:.1f}%)" for a, b, c in zip(
        dose["events_below"], dose["n_below"], dose["risk_below"])],
    "At or above": [f"{a}/{b} ({c:.1f}%)" for a, b, c in zip(
        dose["events_above"], dose["n_above"], dose["risk_above"])],
    "ML OR (Wald CI)": [_or_ci(e, lo, hi) for e, lo, hi in zip(
        dose["or_ml"], dose["wald_lower"], dose["wald_upper"])],
    "Wald p": dose["wald_p"].map(fp),
    "LR p": dose["lr_p"].map(fp),
    "Fisher p": dose["fisher_p"].map(fp),
    "Firth OR (profile CI)": [f"{fmt(e)} ({ci(lo, hi)})" for e, lo, hi in zip(
        dose["or_firth"], dose["firth_lower"], dose["firth_upper"])],
})
report.show_table(dt, f"Severe CRS (grade ≥{severe_crs_grade}) below and at or above the two "
                  "dose thresholds the paper uses. The odds ratio is for a dose below the "
                  f"threshold; {lvl}% intervals.", "tbl-dose")
dose_csv = report.write_output(dose, output_dir, "dose_threshold", data.synthetic)

# %% [markdown]
# ## Methods
#
# *Rates* carry exact Clopper–Pearson intervals. *Logistic models* are fitted by maximum
# likelihood (Newton–Raphson, as R's `glm`); Wald intervals are `b ± z·SE` as SPSS and R's
# `confint.default` give them; profile-likelihood intervals invert the likelihood-ratio test,
# found by root-finding on the profile deviance (R's `confint(glm)` interpolates the same
# profile on a grid). *Separation* is detected by linear programming {cite:p}`konis2007`: the data are
# separated when some direction of the coefficients predicts every patient's outcome at least
# weakly, and a coefficient's ML estimate and profile limit are infinite on the side that such
# a direction can take. *Firth's method* maximises the log-likelihood plus half the log
# determinant of the Fisher information; intervals and tests come from the profile of that
# penalised likelihood, as in R's `logistf`. *Events per variable* is the smaller outcome
# class divided by the number of covariates. *Fisher's exact test* reports the conditional ML
# odds ratio and its exact interval, as R's `fisher.test`. *AUC* is the Mann–Whitney
# statistic scaled to [0, 1], with DeLong's standard error.
#
# The test suite checks these against R while it runs: coefficients, standard errors, Wald
# and profile-likelihood intervals against `glm` and `confint(glm)`; Firth coefficients and
# standard errors against `brglm2` (`type = "AS_mean"`); the profile penalised-likelihood
# intervals against a direct R implementation (`logistf` is not packaged for Debian); Fisher's
# test against `fisher.test`; the AUC against `wilcox.test`.
#
# ## Files
#
# Every table of this chapter, with full-precision estimates (Wald intervals included), is
# available as a file: {download}`adverse_events.csv <outputs/toxicity/adverse_events.csv>`,
# {download}`univariate_screen.csv <outputs/toxicity/univariate_screen.csv>`,
# {download}`model_1.csv <outputs/toxicity/model_1.csv>`,
# {download}`model_2.csv <outputs/toxicity/model_2.csv>`,
# {download}`il6_odds_ratios.csv <outputs/toxicity/il6_odds_ratios.csv>`,
# {download}`il6_thresholds.csv <outputs/toxicity/il6_thresholds.csv>` and
# {download}`dose_threshold.csv <outputs/toxicity/dose_threshold.csv>`.
