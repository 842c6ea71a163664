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
# # Survival, relapse and transplantation
#
# Overall and leukaemia-free survival after CD19 CAR-T, relapse and non-relapse mortality as
# competing risks, the Cox models of the paper, and the comparison of patients by bridging
# transplantation. This chapter reproduces the paper's *Treatment outcomes* section, its
# Table 1, Figure 1, Supplementary Table S2 and Supplementary Figures S1–S2, with the paper's
# values beside this build's, and then re-analyses the transplant comparison without
# immortal-time bias.
#
# Every method here is computed by `analysis_lib` (`survival`, `cox`, `competing_risks`) on
# statsmodels and comprisk ({doc}`../methods` says which call computes what) and tested live
# against R: `survival::survfit`, `survdiff`, `coxph` and `cox.zph`, and
# `cmprsk::cuminc`, to within 10⁻⁶ (see {ref}`survival-methods`). The whole chapter is one
# call, `analysis_lib.analyses.survival.analyse`; the code behind each table and figure is
# one click away ("show code").

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
output_dir = "outputs/survival"
chapter = "survival"
min_cell_count = 0  # counts 1..k-1 shown as "<k" (0: off; analysis_lib.data.privacy)
conf_level = 0.95
age_cut_years = 10.0
mrd_cuts = [1e-4, 1e-3, 1e-2]
mrd_negative_below = 1e-4
dose_cut = 3.68
screen_p = 0.2
horizons_years = [1, 2, 3, 5]
landmarks_months = [3.0, 6.0, 9.0]
main_landmark_months = 6.0
bca_unit_days = 30.4375
risk_table_step_months = 12

# %% tags=["hide-input"]
from analysis_lib.analyses import options, survival
from analysis_lib.book import report
from analysis_lib.book.figures import survival as plots

data = report.open_chapter(
    chapter, data_dir, min_cell_count,
    dict(data_dir=data_dir, output_dir=output_dir, **options.chapter_values(chapter, globals())))
chosen = survival.SurvivalOptions(
    conf_level=conf_level, age_cut_years=age_cut_years, mrd_cuts=tuple(mrd_cuts),
    mrd_negative_below=mrd_negative_below,
    dose_cut=options.resolve("dose_cut", dose_cut, data.tables["patients"]), screen_p=screen_p,
    horizons_years=tuple(horizons_years), landmarks_months=tuple(landmarks_months),
    main_landmark_months=main_landmark_months, bca_unit_days=bca_unit_days,
    risk_table_step_months=risk_table_step_months)
res = survival.analyse(data.tables["patients"], data.tables["kinetics"], chosen,
                       changed=data.changed)
report.glue_all(res.glue)

# %% [markdown]
# (sec-survival-os-lfs)=
# ## Overall and leukaemia-free survival
#
# Overall survival (OS) runs from infusion to death from any cause, leukaemia-free survival
# (LFS) to relapse or death, whichever comes first; patients are censored at last follow-up
# and *not* at transplantation or other new therapy, as in the paper. Of the
# {glue:md}`n_patients_text` patients, {glue:md}`os_events_text` died and
# {glue:md}`lfs_events_text` relapsed or died ({numref}`fig-os-lfs`).
#
# The 5-year OS was {glue:md}`os_5y_text` and the 5-year LFS {glue:md}`lfs_5y_text`
# (Kaplan–Meier, Greenwood variance, {glue:md}`conf_lvl` intervals; the paper:
# {glue:md}`pub_os_5y_text` and {glue:md}`pub_lfs_5y_text`). These are *plain* intervals,
# S ± z·SE, the symmetric kind the paper prints. R's default, the interval on the log scale,
# gives {glue:md}`os_5y_log_text` for OS and {glue:md}`lfs_5y_log_text` for LFS;
# {numref}`tbl-km-times` has all three kinds at each horizon, with the paper's values beside
# the 5-year ones. Median OS and LFS (in that order): {glue:md}`os_lfs_medians_text`.
#
# :::{admonition} Audit: the published intervals are too narrow
# :class: note
# With the paper's {glue:md}`audit_n_patients` patients a 5-year estimate of
# {glue:md}`audit_os_5y_pub` cannot have a 95% interval narrower than about
# ±{glue:text}`audit_os_5y_ci_min_halfwidth:.1f` points
# (±{glue:text}`audit_lfs_5y_ci_min_halfwidth:.1f` for {glue:md}`audit_lfs_5y_pub`),
# whatever the censoring; the paper prints {glue:md}`pub_os_5y_text` and
# {glue:md}`pub_lfs_5y_text` (feasibility findings `os_5y_ci` and `lfs_5y_ci`). The point
# estimates are unaffected.
# :::

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_os_lfs", plots.os_lfs(res))

# %% [markdown]
# ```{glue:figure} fig_os_lfs
# :name: fig-os-lfs
#
# Kaplan–Meier estimates of overall (A) and leukaemia-free survival (B) of all patients, with
# pointwise plain (S ± z·SE) confidence bands; ticks mark censored patients, and the number
# at risk stands under each time tick. The paper's 5-year estimates: OS
# {glue:md}`pub_os_5y_text`, LFS {glue:md}`pub_lfs_5y_text`.
# ```

# %% tags=["hide-input"]
table = res.tables["tbl-km-times"]
report.show_table(table.display(report.beside), table.caption, table.label)
_ = report.write_output(table.data, output_dir, table.name, data.synthetic)

# %% [markdown]
# Download: {download}`survival_at_times.csv <outputs/survival/survival_at_times.csv>`
# (every horizon, interval kind and standard error).
#
# (sec-survival-relapse)=
# ## Relapse and transplantation
#
# {glue:md}`n_relapse` patients relapsed, at a median of {glue:md}`relapse_all_text` after
# infusion: {glue:md}`relapse_cd19_text` (medians of the observed relapse times, as the
# paper reports them).
#
# Treating relapse and death without relapse (non-relapse mortality, NRM) as competing risks,
# the 5-year cumulative incidence of relapse was {glue:md}`cir_5y_text` and that of NRM
# {glue:md}`nrm_5y_text` (Aalen–Johansen estimates with cmprsk's variance and log-log
# intervals; {numref}`fig-cif`). The two add up to one minus the 5-year LFS.
#
# {glue:md}`n_hsct` patients were bridged to allogeneic HSCT after CAR-T, at a median of
# {glue:md}`hsct_interval_text` after infusion.

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_cif", plots.cumulative_incidence(res))

# %% [markdown]
# ```{glue:figure} fig_cif
# :name: fig-cif
#
# Cumulative incidence of relapse and of non-relapse mortality (competing risks), with
# pointwise log-log confidence bands.
# ```
#
# (sec-survival-cox)=
# ## Cox models
#
# ### Univariate screen (Supplementary Table S2)
#
# Each candidate covariate was entered alone in a Cox model (Efron's method for ties, R's
# default; the library also offers Breslow's). {numref}`tbl-univariate` gives the hazard
# ratios for LFS and OS. B-cell aplasia
# (BCA) duration is per {glue:md}`bca_unit` (the paper does not state its unit, so its
# HR of {glue:md}`pub_hr_bca_lfs` cannot be interpreted; audit finding `hr_bca_lfs`); patients who never developed
# BCA have duration 0. CAR-T expansion is log10 of Cmax from the non-compartmental analysis
# of the kinetics table. Following the paper, every term with a Wald p below
# {glue:md}`screen_p_text` entered the multivariable model: for LFS
# {glue:md}`lfs_selected_text`; for OS {glue:md}`os_selected_text`. A covariate whose
# estimate is infinite (one group without events, so no usable Wald test) cannot pass the
# screen: {glue:md}`lfs_infinite_text` for LFS and {glue:md}`os_infinite_text` for OS. The
# paper's supplementary table is not available, but its Results state which covariates were
# *not* significantly associated with OS or LFS; each statement stands under the p-value it
# concerns, with its status.

# %% tags=["hide-input"]
table = res.tables["tbl-univariate"]
report.show_table(table.display(report.beside), table.caption, table.label)
_ = report.write_output(table.data, output_dir, table.name, data.synthetic)

# %% [markdown]
# Download: {download}`univariate_cox.csv <outputs/survival/univariate_cox.csv>`.
#
# ### The paper's multivariable models (Table 1)
#
# The paper's Table 1 gives multivariable Cox models of LFS (A: BCA duration, sex, MRD-CR on
# day 28) and OS (B). {numref}`tbl-paper-sets` fits the same covariates on this cohort:
# Table 1A's for LFS, and for OS the rows of Table 1B legible in the published version plus
# the two the Results name (no prior HSCT, no ICANS). The paper's hazard ratio, interval and
# p stand under each reproduced one with the scorecard's status; its intervals and p-values
# are mutually consistent (audit finding `multivariable_wald_ci`). A covariate with an
# infinite estimate is marked, with the reason; events per estimated coefficient (EPV) are
# given for each model.

# %% tags=["hide-input"]
table = res.tables["tbl-paper-sets"]
report.show_table(table.display(report.beside), table.caption, table.label)
_ = report.write_output(table.data, output_dir, table.name, data.synthetic)

# %% [markdown]
# Download:
# {download}`table1_paper_covariate_sets.csv <outputs/survival/table1_paper_covariate_sets.csv>`
# (reproduced and published values, the registry key and the status of each).
#
# ### Multivariable models selected on this cohort
#
# The screen on this cohort need not pick the paper's covariates. {numref}`tbl-multivariable`
# gives the models with the covariates it selected. The LFS model used
# {glue:md}`lfs_mv_text`; the OS model {glue:md}`os_mv_text`. The usual advice is at least
# {glue:md}`epv_advised_text` events per variable {cite:p}`peduzzi1996`:
# {glue:md}`mv_epv_verdict`. The paper does not give its numbers of events; its results
# imply {glue:md}`audit_paper_events_text` (audit findings `median_os_low_burden` and
# `nrm_timing_lfs_5y`), for {glue:md}`audit_paper_covariates` (Table 1).
#
# Proportional hazards were checked with R's `cox.zph` test (score test for a
# time-varying coefficient, time transformed by the Kaplan–Meier estimate;
# {numref}`tbl-zph`). Global test: LFS {glue:md}`lfs_zph_global_ptext`, OS
# {glue:md}`os_zph_global_ptext`. Terms with p < 0.05: LFS {glue:md}`lfs_zph_flagged`;
# OS {glue:md}`os_zph_flagged`.

# %% tags=["hide-input"]
table = res.tables["tbl-multivariable"]
report.show_table(table.display(report.beside), table.caption, table.label)
_ = report.write_output(table.data, output_dir, table.name, data.synthetic)

# %% [markdown]
# Download: {download}`multivariable_cox.csv <outputs/survival/multivariable_cox.csv>`.

# %% tags=["hide-input"]
table = res.tables["tbl-zph"]
report.show_table(table.display(report.beside), table.caption, table.label)
_ = report.write_output(table.data, output_dir, table.name, data.synthetic)

# %% [markdown]
# Download: {download}`ph_tests.csv <outputs/survival/ph_tests.csv>`.
#
# (sec-survival-figure1)=
# ## Transplantation by tumour burden (Figure 1)
#
# The paper compares patients who were bridged to HSCT with those who were not, within strata
# of MRD before lymphodepletion (pre-LD) and after it (post-LD), by Kaplan–Meier curves and
# log-rank tests ({numref}`fig-figure1`, with the numbers in {numref}`tbl-figure1`). Among
# patients with pre-LD MRD below {glue:md}`low_cut` ({glue:md}`fig1_pre_low_os_n` with and
# without HSCT), median OS was {glue:md}`fig1_pre_low_os_medians` (log-rank
# {glue:md}`fig1_pre_low_os_ptext`) and the 5-year NRM {glue:md}`fig1_pre_low_nrm_text`;
# the paper reports
# {glue:md}`pub_fig1_pre_low_os` and an NRM of {glue:md}`pub_fig1_pre_low_nrm`. With post-LD
# MRD below {glue:md}`low_cut` ({glue:md}`fig1_pos_low_os_n`), median OS was
# {glue:md}`fig1_pos_low_os_medians` ({glue:md}`fig1_pos_low_os_ptext`; the paper:
# {glue:md}`pub_fig1_pos_low_os`). For LFS the log-rank tests gave
# {glue:md}`fig1_pre_low_lfs_ptext` (pre-LD) and {glue:md}`fig1_pos_low_lfs_ptext` (post-LD)
# below {glue:md}`low_cut`, and {glue:md}`fig1_pre_high_lfs_ptext` and
# {glue:md}`fig1_pos_high_lfs_ptext` at or above it; the paper finds no significant effect
# on LFS in any stratum.

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_figure1", plots.figure1(res))

# %% [markdown]
# ```{glue:figure} fig_figure1
# :name: fig-figure1
#
# Reproduces the paper's Figure 1: OS (left) and LFS (right) by bridging HSCT within the
# strata of MRD before (A–D) and after lymphodepletion (E–H), below and at or above
# {glue:md}`low_cut`, with the log-rank p and the number at risk under each time tick; ticks
# on the curves mark censored patients. The paper reports, for pre-LD MRD below 10⁻⁴, median
# OS {glue:md}`pub_fig1_pre_low_os` with NRM {glue:md}`pub_fig1_pre_low_nrm`, for post-LD
# MRD below 10⁻⁴ median OS {glue:md}`pub_fig1_pos_low_os`, and no significant effect on
# LFS in any stratum ({numref}`tbl-figure1` has both side by side).
# ```
#
# :::{admonition} Audit: what the published Figure 1 numbers can and cannot be
# :class: note
# The paper's median OS of {glue:md}`pub_fig1_pre_low_os` cannot come from a Kaplan–Meier
# analysis with a log-rank test: its NRM with HSCT pins the low-burden groups at
# {glue:md}`audit_low_burden_groups` patients, and no log-rank test of
# {glue:md}`audit_low_burden_groups` reaches that p (finding `median_os_low_burden`). Its
# NRM of {glue:md}`pub_nrm_pre_low_hsct` cannot be an estimate with its standard error
# (finding `nrm_se_low_burden`).
# It can be cmprsk's *variance*: `cuminc` returns variances, and
# {glue:md}`audit_nrm_fraction` has a variance near {glue:md}`audit_nrm_fraction_var`. Here
# the transplanted patients' 5-year NRM is {glue:md}`fig1_pre_low_nrm_hsct_var_text` below
# {glue:md}`low_cut` pre-LD, and {glue:md}`fig1_pos_low_nrm_hsct_var_text` post-LD: a
# variance printed as a percentage reads like the paper's "{glue:md}`pub_nrm_pre_low_hsct_pm`".
# :::
#
# All of these comparisons classify patients by something that happened *after* infusion
# (a transplant at a median of {glue:md}`hsct_interval_text`), so they carry immortal-time
# bias; see {ref}`survival-immortal-time`.

# %% tags=["hide-input"]
table = res.tables["tbl-figure1"]
report.show_table(table.display(report.beside), table.caption, table.label)
_ = report.write_output(table.data, output_dir, table.name, data.synthetic)

# %% [markdown]
# Download: {download}`figure1_hsct_by_mrd.csv <outputs/survival/figure1_hsct_by_mrd.csv>`.
#
# (sec-survival-s1-s2)=
# ## High tumour burden and genetic risk (Figures S1 and S2)
#
# With MRD at or above {glue:md}`high_cut` the groups are tiny: pre-LD
# {glue:md}`s1_pre_os_n` patients with and without HSCT (log-rank: OS {glue:md}`s1_pre_os_p`,
# LFS {glue:md}`s1_pre_lfs_p`), post-LD {glue:md}`s1_pos_os_n` ({numref}`fig-s1`). By genetic
# risk, high vs low/intermediate ({glue:md}`s2_os_n` patients), the log-rank test gave
# {glue:md}`s2_os_p` for OS and {glue:md}`s2_lfs_p` for LFS ({numref}`fig-s2`). The paper
# reports neither difference as significant (a non-significant trend against the
# non-transplant group with high burden).

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_s1", plots.figure_s1(res))
report.glue_figure("fig_s2", plots.figure_s2(res))

# %% [markdown]
# ```{glue:figure} fig_s1
# :name: fig-s1
#
# Reproduces the paper's Supplementary Figure S1: OS and LFS by bridging HSCT in patients
# with high tumour burden (MRD at or above {glue:md}`high_cut`), pre-LD (A, B) and post-LD
# (C, D), with the log-rank p. The paper reports no significant difference.
# ```
#
# ```{glue:figure} fig_s2
# :name: fig-s2
#
# Reproduces the paper's Supplementary Figure S2: OS (A) and LFS (B) by cytogenetic risk
# group, high vs low/intermediate (NCCN 2024: {cite:t}`shah2024`), with the log-rank p. The
# paper reports no significant difference.
# ```
#
# (survival-immortal-time)=
# ## Beyond the paper: transplantation without immortal time
#
# Bridging HSCT happened after infusion, at a median of {glue:md}`hsct_interval_text`. A
# patient counted in the "HSCT" group had to be alive (and, for LFS, leukaemia-free) until
# the transplant, so the months between infusion and transplant, during which nobody in that
# group *could* have an event, are credited to transplantation: immortal time
# {cite:p}`suissa2008`, {glue:md}`it_immortal_text`. Patients who
# died or relapsed early, before they could be transplanted, all land in the "no HSCT" group.
# The published comparison, and the Cox models above that include "Bridging HSCT" as a
# baseline covariate, are biased in favour of transplantation. Three analyses avoid this
# ({numref}`tbl-immortal`):
#
# * **HSCT as a time-dependent covariate** {cite:p}`mantel1974`: each patient contributes unexposed time from
#   infusion to transplant and exposed time afterwards, in a Cox model on counting-process
#   `(start, stop]` data (R: `coxph(Surv(tstart, tstop, event) ~ hsct)` after `tmerge`).
# * **Landmark analysis** {cite:p}`anderson1983` at {glue:md}`it_main_landmark_text` months (and the other landmarks
#   in the parameters): only the {glue:md}`it_main_landmark_n_text` patients alive at the
#   landmark are compared, by whether they had been transplanted by then, with time restarted
#   at the landmark; {glue:md}`it_late_hsct_text` later transplants count as "no HSCT".
# * **Simon–Makuch curves** {cite:p}`simon1984` ({numref}`fig-simon-makuch`): the Kaplan–Meier estimator with
#   patients moving from the "no HSCT yet" to the "HSCT" risk set at their transplant.
#
# **Overall survival.** {glue:md}`it_os_verdict`
#
# **Leukaemia-free survival.** {glue:md}`it_lfs_verdict`
#
# **Pre-LD MRD below {glue:md}`low_cut` (the paper's Figure 1 claim), OS.**
# {glue:md}`it_os_low_verdict`
#
# Whatever the data, only the last three analyses compare like with like in time; the
# difference between the first row of each block of {numref}`tbl-immortal` and the others
# shows how much of the published comparison depends on when patients were counted as
# transplanted. The paper's recommendation to defer HSCT in
# low-burden patients rests on exactly such a comparison, and on subgroup sizes
# ({glue:md}`audit_low_burden_groups` by the audit) that cannot support it; the analyses above are the ones a recommendation would
# need, and even they cannot remove confounding by indication (who was offered a donor and a
# transplant).

# %% tags=["hide-input"]
table = res.tables["tbl-immortal"]
report.show_table(table.display(report.beside), table.caption, table.label)
_ = report.write_output(table.data, output_dir, table.name, data.synthetic)

# %% [markdown]
# Download: {download}`hsct_immortal_time.csv <outputs/survival/hsct_immortal_time.csv>`
# (with log hazard ratios and their standard errors).

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_simon_makuch", plots.simon_makuch(res))

# %% [markdown]
# ```{glue:figure} fig_simon_makuch
# :name: fig-simon-makuch
#
# Simon–Makuch estimates of OS (A) and LFS (B): patients enter the "HSCT" curve on the day of
# their transplant and leave the "no HSCT yet" curve then. The number at risk counts the
# patients in each state at each time.
# ```
#
# (survival-methods)=
# ## Methods and checks against R
#
# Kaplan–Meier estimates {cite:p}`kaplan1958` use Greenwood's variance {cite:p}`greenwood1926`; the plain, log and log-log intervals and the
# median with its interval are those of R's `survfit` (`conf.type`), medians from
# `print.survfit`. Log-rank tests {cite:p}`mantel1966` are R's `survdiff` (K groups, optionally stratified). Cox
# models {cite:p}`cox1972` are fitted by Newton–Raphson on statsmodels' partial likelihood with
# Efron's handling of ties {cite:p}`efron1977`
# (R's `coxph` default), for right-censored and counting-process data; Wald intervals and
# p-values. The proportional-hazards test is `cox.zph` of survival 3.x. Cumulative incidence
# is the Aalen–Johansen estimate {cite:p}`aalen1978` with the variance and Gray's test
# {cite:p}`gray1988` of `cmprsk::cuminc`
# (rho = 0). Gray's test of the cumulative incidence of relapse and NRM across groups is in
# {numref}`tbl-gray`.
#
# The test suite runs R (survival 3.5, cmprsk 2.2) on R's `lung`, `veteran`, `heart` and
# `mgus2` data and on the synthetic cohort and requires agreement to 10⁻⁶ in survival
# estimates and all three interval types, log-rank statistics, Cox coefficients, standard
# errors and log-likelihoods (right-censored, stratified and counting-process), `cox.zph`
# statistics, cumulative incidence estimates and variances and Gray's statistics.

# %% tags=["hide-input"]
table = res.tables["tbl-gray"]
report.show_table(table.display(report.beside), table.caption, table.label)
_ = report.write_output(table.data, output_dir, table.name, data.synthetic)

# %% [markdown]
# Download: {download}`gray_tests.csv <outputs/survival/gray_tests.csv>`.
