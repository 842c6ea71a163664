# ---
# jupyter:
#   html_theme.sidebar_secondary.remove: true
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
# ICANS. This chapter reproduces the paper's *Toxicity* paragraph, its Table 2 and its
# Supplementary Tables S3 and S4, each with the paper's values beside the reproduced ones,
# and then asks how much a handful of events can support: events per variable, separation,
# and estimates that remain finite when maximum likelihood breaks down.

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
screen_p = 0.2
screen_test = "lr"
il6_thresholds = [10.0, 20.0, 40.0, 100.0, 500.0, 1000.0]
epv_advised = 10

# %% tags=["hide-input"]
from analysis_lib.analyses import options, toxicity
from analysis_lib.book import report
from analysis_lib.book.figures import toxicity as plots

data = report.open_chapter(
    chapter, data_dir, min_cell_count,
    dict(data_dir=data_dir, output_dir=output_dir, **options.chapter_values(chapter, globals())))
res = toxicity.analyse(
    data.tables["patients"], conf_level=conf_level, age_cut=age_cut_years,
    severe_grade=severe_crs_grade, mrd_cut=model_mrd_cut,
    dose_cut=options.resolve("dose_cut", dose_cut, data.tables["patients"]),
    dose_cut_text=dose_cut_text, screen_threshold=screen_p, screen_test=screen_test,
    il6_thresholds=il6_thresholds, epv_advised=epv_advised, changed=data.changed)
report.glue_all(res.glue)

# %% [markdown]
# (sec-toxicity-adverse-events)=
# ## Adverse events in the first four weeks
#
# Of the {glue:md}`n_patients_text` patients, {glue:md}`ae_crs_any_text` developed CRS of any
# grade and {glue:md}`ae_crs_severe_text` CRS of grade {glue:md}`severe_grade_text` or higher;
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
# {glue:md}`il6_peak_n_text` patients the peak had a median (range) of {glue:md}`il6_peak_text`
# pg/mL, reached on day {glue:md}`il6_peak_day_text` (median, range). A peak reported above
# the assay's upper limit is shown as ">limit": it is a lower bound.
#
# {numref}`tbl-adverse-events` reproduces Supplementary Table S3 with exact
# (Clopper–Pearson) confidence intervals; under each count and rate stands the paper's value
# where the Results text prints one, with the scorecard's status as a coloured dot (hover for
# its meaning). {numref}`tbl-continuous-ae` gives the medians and {numref}`fig-grades` the
# grade distributions.

# %% tags=["hide-input"]
t = res.tables["adverse_events"]
report.show_table(t.render(report.beside), t.caption, "tbl-adverse-events")
report.write_output(t.data, output_dir, t.file, data.synthetic);

# %% tags=["hide-input"]
t = res.tables["continuous"]
report.show_table(t.render(report.beside), t.caption, "tbl-continuous-ae")
report.write_output(t.data, output_dir, t.file, data.synthetic);

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_grades", plots.grade_distributions(res.grades))
report.glue_text("fig_grades_note", plots.suppressed_bar_note(res.grades))

# %% [markdown]
# ```{glue:figure} fig_grades
# :name: fig-grades
#
# Patients by highest grade of CRS (left) and ICANS (right) within four weeks of infusion
# (ASTCT 2018 consensus grading, {cite:t}`lee2019`; 0 = none).{glue:md}`fig_grades_note`
# ```
#
# (sec-toxicity-severe-crs)=
# ## Risk factors for severe CRS
#
# ### Univariate screen
#
# The paper screened candidate factors one at a time and carried those with p <
# {glue:md}`published_screen_p_text` into multivariable logistic regression (its Table 2 and
# Supplementary Table S4, which the extracted text does not include). The candidates here
# are the factors of Table 2 plus the baseline characteristics the paper examines elsewhere
# (age, cytogenetic risk, CAR-T history, reason for CAR-T). There were
# {glue:md}`severe_events_text` patients with severe CRS.
#
# Each factor is fitted three ways ({numref}`tbl-screen`): by maximum likelihood (ML) with
# the Wald interval that SPSS prints and with the profile-likelihood interval that R's
# `confint(glm)` gives; and by Firth's penalised likelihood with a profile
# penalised-likelihood interval (as R's `logistf`). The screen uses the
# {glue:md}`screen_test` test at p < {glue:md}`screen_threshold_text`, and
# {glue:md}`n_selected_text` of the {glue:md}`n_candidates_text` candidates pass it:
# {glue:md}`selected_list`.
#
# The choice of test matters when a factor predicts the outcome perfectly in one of its
# groups ("separation"; {glue:md}`screen_n_separated_text` candidate(s) here). The ML odds ratio
# is then 0 or infinite; the Wald standard error grows with it and the Wald p-value tends to 1,
# so a Wald screen drops exactly the most predictive factors. The likelihood-ratio test and the
# profile interval remain valid. Counting by the Wald p-value, {glue:md}`screen_n_wald_text`
# candidate(s) would pass; by the likelihood-ratio p-value, {glue:md}`screen_n_lr_text`.

# %% tags=["hide-input"]
t = res.tables["screen"]
report.show_table(t.render(report.beside), t.caption, "tbl-screen")
report.write_output(t.data, output_dir, t.file, data.synthetic);

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

# %% tags=["hide-input"]
t = res.tables["burden"]
report.show_table(t.render(report.beside), t.caption, "tbl-burden")
report.write_output(t.data, output_dir, t.file, data.synthetic);

# %% [markdown]
# (sec-toxicity-table2)=
# ### The two multivariable models: Table 2
#
# The paper fitted two models so that pre- and post-lymphodepletion MRD, which are strongly
# correlated, never enter together: model 1 with {glue:md}`label_pre` and model 2 with
# {glue:md}`label_post`, each with sex, HSCT history and {glue:md}`label_dose`. They are
# refitted here as published, whatever the screen above selects. {numref}`tbl-table2`
# reproduces the paper's Table 2 in its own layout: the univariate odds ratios of the screen
# and the two models, by maximum likelihood with Wald intervals, as SPSS prints them, and
# the paper's value under each. {numref}`tbl-model-1` and {numref}`tbl-model-2` add the
# profile-likelihood intervals and Firth's estimates, and {numref}`fig-forest` draws them
# beside the paper's.
#
# Both models spend {glue:md}`m1_k_text` covariates on {glue:md}`m1_events_text` events: an
# events-per-variable (EPV) of {glue:md}`m1_epv_text`. The usual advice is at least
# {glue:md}`epv_advised_text` {cite:p}`peduzzi1996`, which for {glue:md}`m1_k_text` covariates
# needs {glue:md}`m1_events_needed_text` events. Below that, maximum-likelihood odds ratios are
# biased away from 1, Wald intervals are unreliable and a single patient can move an estimate
# by an order of magnitude.
#
# * **Model 1** (n = {glue:md}`m1_n_text`): {glue:md}`m1_separation`. The ML odds ratio of
#   {glue:md}`label_pre` is {glue:md}`m1_pre_ld_mrd_low_ml`; Firth's estimate is
#   {glue:md}`m1_pre_ld_mrd_low_firth`.
# * **Model 2** (n = {glue:md}`m2_n_text`): {glue:md}`m2_separation`. The ML odds ratio of
#   {glue:md}`label_post` is {glue:md}`m2_post_ld_mrd_low_ml`; Firth's estimate is
#   {glue:md}`m2_post_ld_mrd_low_firth`.
#
# Firth's method {cite:p}`firth1993,heinze2002` maximises the likelihood penalised by
# Jeffreys' prior. It removes the first-order bias of the ML estimate and gives finite
# estimates even under separation; its intervals come from the profile of the penalised
# likelihood and its p-values from the penalised likelihood-ratio test, as `logistf` reports
# them. Where ML and Firth disagree by much, the data cannot pin the effect down.

# %% tags=["hide-input"]
t = res.tables["table2"]
report.show_table(t.render(report.beside), t.caption, "tbl-table2")
report.write_output(t.data, output_dir, t.file, data.synthetic);

# %% tags=["hide-input"]
t = res.tables["model_1"]
report.show_table(t.render(report.beside), t.caption, "tbl-model-1")
report.write_output(t.data, output_dir, t.file, data.synthetic);

# %% tags=["hide-input"]
t = res.tables["model_2"]
report.show_table(t.render(report.beside), t.caption, "tbl-model-2")
report.write_output(t.data, output_dir, t.file, data.synthetic);

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_forest", plots.odds_ratio_forest(res.models, res.published_models))

# %% [markdown]
# ```{glue:figure} fig_forest
# :name: fig-forest
#
# Odds ratios of severe CRS in the two multivariable models: maximum likelihood with
# profile-likelihood intervals (circles), Firth's penalised likelihood with profile
# penalised-likelihood intervals (squares) and, in grey, the paper's Table 2 as printed
# (diamonds, Wald intervals; values from the registry of published numbers). Log scale; an
# arrow marks an interval running beyond the axis (infinite limits included) and a triangle
# an infinite ML estimate.
# ```
#
# ### The published Table 2
#
# The published multivariable intervals are Wald intervals and hang together.
# {glue:md}`finding_multivariable_wald_ci` The exception is model 2's female row.
# {glue:md}`finding_or_mv2_severe_crs_female`
#
# The published univariate column cannot be reproduced by any data set.
# {glue:md}`n_uni_impossible_text` of its {glue:md}`n_uni_published_text` odds ratios are
# unattainable with the paper's own margins ({glue:md}`published_n_text` patients,
# {glue:md}`published_severe_text` events, the group sizes of Table 3), and their intervals
# are far narrower than {glue:md}`published_severe_text` events allow. For sex, as an example:
# {glue:md}`finding_or_severe_crs_female` For pre-LD MRD:
# {glue:md}`finding_or_severe_crs_pre_ld_low` The arithmetic for every row is in
# {numref}`tbl-excluded-targets` of the synthetic-data chapter. The univariate estimates of
# {numref}`tbl-table2` and {numref}`tbl-screen` are computed from the cohort and are not made
# to match these numbers: their grey dots mark published values that no data could give.
#
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
# exact test gives p = {glue:md}`il6_crs_severe_fisher` and a conditional ML estimate that is
# {glue:md}`il6_crs_severe_cond` (R's `fisher.test`); Firth's estimate is
# {glue:md}`il6_crs_severe_firth`. For ICANS the corresponding values are
# {glue:md}`il6_icans_any_sample_or_text`, {glue:md}`il6_icans_any_profile`,
# p = {glue:md}`il6_icans_any_fisher`, {glue:md}`il6_icans_any_cond` and
# {glue:md}`il6_icans_any_firth`.

# %% tags=["hide-input"]
t = res.tables["il6_or"]
report.show_table(t.render(report.beside), t.caption, "tbl-il6-or")
report.write_output(t.data, output_dir, t.file, data.synthetic);

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_roc", plots.roc_curves(res.rocs, marker="IL-6"))

# %% [markdown]
# ### Peak IL-6 as a classifier
#
# An odds ratio of a dichotomised marker says little about how well the marker sorts
# patients. Treating the peak IL-6 concentration as a continuous test
# ({numref}`fig-roc`), the area under the ROC curve is {glue:md}`roc_crs_severe_text` for
# severe CRS ({glue:md}`roc_crs_severe_n_pos_text` patients with and
# {glue:md}`roc_crs_severe_n_neg_text` without) and {glue:md}`roc_icans_any_text` for ICANS
# ({glue:md}`roc_icans_any_n_pos_text` with, {glue:md}`roc_icans_any_n_neg_text` without). The
# AUC is the Mann–Whitney probability that a patient with the event has the higher peak (ties
# count one half); its interval is DeLong's {cite:p}`delong1988`, AUC ± z·SE cut to the range
# 0 to 1 as in R's pROC. With few events these intervals are approximate. The paper reports no AUC.
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
#
# ```{glue:figure} fig_roc
# :name: fig-roc
#
# Empirical ROC curves of the peak IL-6 concentration for severe CRS (left) and for ICANS
# (right), each with its AUC and DeLong interval; the dotted diagonal is a useless test.
# ```

# %% tags=["hide-input"]
t = res.tables["il6_thresholds"]
report.show_table(t.render(report.beside), t.caption, "tbl-il6-thresholds")
report.write_output(t.data, output_dir, t.file, data.synthetic);

# %% [markdown]
# (sec-toxicity-dose)=
# ## Dose threshold
#
# The paper's text puts the dose threshold at {glue:text}`dose_text_cut:.2f` ×10⁶ cells/kg
# with p = {glue:text}`dose_published_p:.3f`, while Table 2 and the median dose use
# {glue:text}`dose_table_cut:.2f`. {glue:md}`finding_dose_cut` In this cohort
# {glue:md}`dose_table_n_between_text` patient(s) received a dose at or above the lower
# threshold and below the higher one, and change group between the two. Severe CRS occurred
# in {glue:md}`dose_table_risks` the {glue:text}`dose_table_cut:.2f` threshold
# ({glue:md}`dose_table_p`), and in
# {glue:md}`dose_text_risks` the {glue:text}`dose_text_cut:.2f` threshold
# ({glue:md}`dose_text_p`); {numref}`tbl-dose`. A threshold at the sample median is itself
# estimated from the data, and with few events a single patient on either side of it can move
# the p-value across 0.05.

# %% tags=["hide-input"]
t = res.tables["dose"]
report.show_table(t.render(report.beside), t.caption, "tbl-dose")
report.write_output(t.data, output_dir, t.file, data.synthetic);

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
# statistic scaled to lie between 0 and 1, with DeLong's standard error. An odds ratio that is infinite or
# zero (a group without events, or separation) is written "not estimable" with the reason.
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
# available as plain CSV (its metadata in a `.csv.json` file beside it):
# {download}`adverse_events.csv <outputs/toxicity/adverse_events.csv>`,
# {download}`continuous_adverse_events.csv <outputs/toxicity/continuous_adverse_events.csv>`,
# {download}`univariate_screen.csv <outputs/toxicity/univariate_screen.csv>`,
# {download}`burden_and_outcomes.csv <outputs/toxicity/burden_and_outcomes.csv>`,
# {download}`table2.csv <outputs/toxicity/table2.csv>`,
# {download}`model_1.csv <outputs/toxicity/model_1.csv>`,
# {download}`model_2.csv <outputs/toxicity/model_2.csv>`,
# {download}`il6_odds_ratios.csv <outputs/toxicity/il6_odds_ratios.csv>`,
# {download}`il6_thresholds.csv <outputs/toxicity/il6_thresholds.csv>` and
# {download}`dose_threshold.csv <outputs/toxicity/dose_threshold.csv>`.
