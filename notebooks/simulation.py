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
# # Operating characteristics of the paper's analysis plan
#
# Can the paper's analysis plan find what it claims with its patients? Its survival models
# rest on few events: a univariate Cox screen feeds a multivariable model; a handful of
# severe CRS events feed two logistic models with several covariates each; Table 3 compares
# groups of a few patients by Mann–Whitney tests; 5-year survival comes with plain
# Kaplan–Meier intervals; and transplanted patients are compared with the others by a status
# they acquired later. This chapter answers the question by simulation: it draws many
# synthetic trials from the book's calibrated generator, whose truth is known, runs the
# paper's plan on each with the same functions the other chapters use, and counts how often
# the plan finds an effect that is there, finds one that is not, and covers the truth.
#
# The paper has {glue:md}`sim_paper_n_patients` patients, {glue:md}`sim_paper_n_relapse`
# relapses and {glue:md}`sim_paper_t3_crs_grade3_4_n` severe CRS events, and the smallest
# groups of its Table 3 have {glue:md}`sim_paper_t3_smallest` patients.
#
# This chapter does not use the cohort the rest of the book was built on: it simulates from
# the generator of {doc}`synthetic_data`, whatever the data of this build.

# %% tags=["parameters", "remove-cell"]
chapter = "simulation"
simulation_dir = ""  # results folder of a stored study (empty: data/simulation of the repository)
quick_replicates = 20  # trials per scenario of the quick study run when no study is stored
quick_sizes = [50]

# %% tags=["remove-cell"]
from analysis_lib.book import report
from analysis_lib.book import simulation_plots as splots
from analysis_lib.book import simulation_report as sr
from analysis_lib.simulation import study

source = study.load_or_run(simulation_dir or None, quick_replicates=quick_replicates,
                           quick_sizes=quick_sizes)
summary = source.summary
text = sr.phrases(source)
for key, value in text.items():
    report.glue_text(f"sim_{key}", value)

# %% tags=["remove-input"]
display(report.data_notice(True, "The trials of this chapter are simulated from the "
                           "synthetic generator; none is a real trial."))
report.show_parameters(dict(results=("stored study" if source.full else "quick study"),
                            quick_replicates=quick_replicates, quick_sizes=quick_sizes))
display(report.source_links(chapter))

# %% [markdown]
# {glue:md}`sim_source`
#
# (sec-simulation-design)=
# ## Design of the study
#
# The study follows the usual plan of a simulation study {cite:p}`morris2019`:
#
# * **Data.** Each trial is a synthetic cohort of $n$ patients from the generator of
#   {doc}`synthetic_data` under one *scenario* ({numref}`tbl-sim-scenarios`): as calibrated
#   to the paper, or with one effect the paper reports removed. The generator reproduces the
#   paper's counts exactly; a real trial's counts vary, and that variation is what the
#   paper's intervals and tests are about, so each trial first draws its counts (sex, MRD
#   strata, relapses, deaths, severe CRS, …) as a random sample of $n$ patients from a
#   population with the published proportions, and the generator builds the cohort around
#   them. The medians and ranges the generator pins (dose, relapse times, B-cell aplasia
#   duration) stay pinned, so those summaries vary less than in real trials. Each trial's
#   random numbers come from one `numpy` `SeedSequence` spawned by the trial's index, so the
#   results do not depend on how the work was distributed.
# * **Truth.** Most of what the paper estimates has no closed form under the generator (the
#   analyses use other codings than the generator, and Cox and logistic models are
#   approximations of it). The true value of each estimand is therefore the value the same
#   estimator converges to with unlimited data, computed by the same function on one
#   population of {glue:md}`sim_truth_n` patients of the same scenario
#   ({numref}`tbl-sim-truth`); where sex has no effect at all (`null_female`) its true hazard
#   and odds ratios are exactly 1.
# * **Methods.** The paper's plan, by the book's own functions: the candidate covariates and
#   univariate Cox screen at p < {glue:md}`sim_screen_p` of {doc}`survival`, the
#   multivariable Cox model of the
#   selected terms, bridging HSCT fixed at infusion and as a time-dependent covariate, 5-year
#   Kaplan–Meier estimates with plain, log and log-log intervals, Table 2's two logistic
#   models of severe CRS by maximum likelihood (ML) and by Firth's method with the separation
#   check of {doc}`toxicity`, and Table 3's Mann–Whitney tests of {doc}`kinetics`.
# * **Performance.** Rates (how often an effect is declared, a test rejects, an interval
#   covers the truth, a model separates) and biases, each with its Monte Carlo standard
#   error (MC SE) {cite:p}`morris2019`. An effect is *declared* by the Cox procedure when it
#   passes the screen, enters the multivariable model and has a finite estimate with
#   p < {glue:md}`sim_alpha` there.

# %% tags=["remove-input"]
report.show_table(sr.scenario_table(summary),
                  "Scenarios of the simulation study: what each changes in the calibrated "
                  "generator, the parts of the paper's plan run on its trials, and how many "
                  "trials of each size were simulated.", "tbl-sim-scenarios")
report.show_table(sr.truth_table(summary, source.truth_n),
                  "True values of the main estimands: the value each estimator converges to "
                  "with unlimited data, from one large simulated population of the scenario "
                  "(exact where sex is independent of every outcome). HR: hazard ratio; OR: "
                  "odds ratio; P(higher peak with steroids): the Mann–Whitney estimand.",
                  "tbl-sim-truth")

# %% [markdown]
# (sec-simulation-cox)=
# ## The Cox screen: false positives and power
#
# The paper reports female sex as protective for leukaemia-free survival (HR
# {glue:md}`sim_published_female`, p = {glue:md}`sim_published_female_p`; Table 1A). When sex
# has no effect at all (`null_female`), the screen-then-multivariable procedure still
# declares female sex significant in {glue:md}`sim_fp_female_first` of trials of
# {glue:md}`sim_n_first` patients, and protective in {glue:md}`sim_prot_female_null_first`
# ({glue:md}`sim_fp_female_max` and {glue:md}`sim_prot_female_null_max` at
# {glue:md}`sim_n_max`): the screen lets female sex through in
# {glue:md}`sim_sel_female_null_first` of null trials, and the multivariable test then
# applies to a covariate chosen because it looked associated.
#
# In the calibrated generator female sex protects strongly (univariate true HR
# {glue:md}`sim_truth_female`), yet the plan declares it protective in only
# {glue:md}`sim_power_female_first` of trials of {glue:md}`sim_n_first`
# ({glue:md}`sim_power_female_max` at {glue:md}`sim_n_max`). With about
# {glue:md}`sim_lfs_events_first` LFS events per trial the model has fewer than
# {glue:md}`sim_epv` events per coefficient in {glue:md}`sim_epv10_first` of trials, and in
# {glue:md}`sim_monotone_first` one of its estimates is infinite (a monotone likelihood,
# typically no event among the women), which cannot be declared at all.
#
# Longer B-cell aplasia (BCA) is declared protective in {glue:md}`sim_power_bca_first` of
# calibrated trials of {glue:md}`sim_n_first` ({glue:md}`sim_power_bca_max` at
# {glue:md}`sim_n_max`; true univariate HR {glue:md}`sim_truth_bca` per month). Without
# any effect of BCA on relapse (`null_bca`), it is still declared protective in
# {glue:md}`sim_null_bca_first` and {glue:md}`sim_null_bca_max` of trials: BCA duration is
# measured after infusion, and day-28 non-responders (no aplasia, early progression) and
# aplasia still ongoing at the last visit (long, and only possible without relapse) tie it
# to LFS by construction, so its true HR without any effect is {glue:md}`sim_truth_bca_null`,
# not 1. {numref}`tbl-sim-cox` has every rate and {numref}`fig-sim-cox` their course with
# the cohort size.

# %% tags=["remove-input"]
report.show_table(sr.cox_table(summary),
                  "The screen-then-multivariable Cox procedure for LFS: percentage of trials "
                  "(Monte Carlo SE in points) by cohort size. Declared: passes the univariate "
                  f"screen (p < {text['screen_p']}), enters the multivariable model, finite "
                  f"estimate with p < {text['alpha']} there; protective: HR below 1.",
                  "tbl-sim-cox")

# %% tags=["remove-cell"]
report.glue_figure("fig_sim_cox", splots.rejection_curves(summary, sr.cox_curves()))

# %% [markdown]
# ```{glue:figure} fig_sim_cox
# :name: fig-sim-cox
#
# How often the paper's Cox procedure declares female sex (left) and longer B-cell aplasia
# (right) protective for LFS, by cohort size, when the effect is present (calibrated) and when
# it is not (null scenarios); error bars ±1.96 Monte Carlo SE. Dotted line:
# {glue:md}`sim_alpha`; dashed line: {glue:md}`sim_power` power.
# ```

# %% [markdown]
# (sec-simulation-km)=
# ## Coverage of the 5-year survival intervals
#
# The paper prints plain intervals, S ± z·SE. Against the true {glue:md}`sim_horizon`-year
# OS of
# {glue:md}`sim_truth_os5`%, the plain interval covers in {glue:md}`sim_cover_os_plain_first`
# of trials of {glue:md}`sim_n_first` patients, the log interval (R's default) in
# {glue:md}`sim_cover_os_log_first` and the log-log interval in
# {glue:md}`sim_cover_os_loglog_first` ({glue:md}`sim_cover_os_plain_max`,
# {glue:md}`sim_cover_os_log_max` and {glue:md}`sim_cover_os_loglog_max` at
# {glue:md}`sim_n_max`; nominal {glue:md}`sim_level`). The bias of the 5-year OS estimate
# itself at {glue:md}`sim_n_first` patients is {glue:md}`sim_km_bias_first`. {numref}`tbl-sim-km` gives every coverage with the share
# of intervals that lie wholly below the truth, and {numref}`fig-sim-km` the course with
# size.

# %% tags=["remove-input"]
report.show_table(sr.coverage_table(summary),
                  "Coverage of the true 5-year OS and LFS by the three Kaplan–Meier interval "
                  "types (percentage of trials, Monte Carlo SE in points; then the percentage "
                  "of intervals wholly below the truth), calibrated scenario, by cohort size.",
                  "tbl-sim-km")

# %% tags=["remove-cell"]
report.glue_figure("fig_sim_km", splots.coverage_curves(
    summary, [("km_os", "5-year OS"), ("km_lfs", "5-year LFS")], ["plain", "log", "log-log"]))

# %% [markdown]
# ```{glue:figure} fig_sim_km
# :name: fig-sim-km
#
# Coverage of the true {glue:md}`sim_horizon`-year OS (left) and LFS (right) by plain, log
# and log-log {glue:md}`sim_level` Kaplan–Meier intervals, by cohort size; error bars ±1.96
# Monte Carlo SE. Dashed line: the nominal level.
# ```

# %% [markdown]
# (sec-simulation-hsct)=
# ## Bridging HSCT: immortal time as a distribution
#
# Counting transplanted patients as transplanted from infusion credits them with the time
# before their transplant, when they could not have had an event (see
# {ref}`survival-immortal-time`). With unlimited data the published analysis converges to
# an HR of {glue:md}`sim_truth_hsct_lfs_fixed` for LFS and {glue:md}`sim_truth_hsct_os_fixed`
# for OS, the time-dependent analysis to {glue:md}`sim_truth_hsct_lfs_td` and
# {glue:md}`sim_truth_hsct_os_td`. In trials of {glue:md}`sim_n_first` patients the median
# published-style HR for LFS is {glue:md}`sim_hsct_lfs_fixed_median_first` and the median
# time-dependent one {glue:md}`sim_hsct_lfs_td_median_first`; the published analysis finds
# HSCT significantly associated with LFS in {glue:md}`sim_hsct_lfs_fixed_reject_first` of
# trials, the time-dependent one in {glue:md}`sim_hsct_lfs_td_reject_first`
# ({numref}`fig-sim-hsct`, {numref}`tbl-sim-hsct`).
#
# :::{admonition} What the generator's "truth" for HSCT is
# :class: note
# The generator never changes a relapse because of a transplant: it transplants patients who
# will not relapse before its last transplant day (about {glue:md}`sim_hsct_last_months`),
# a choice made with
# knowledge of the future. So even the time-dependent analysis, which removes the immortal
# time, converges to a protective HR here; the difference between the two lines in
# {numref}`fig-sim-hsct` is the immortal-time bias alone, and it does not shrink with the
# cohort size. In a real cohort, the time-dependent HR would also carry the selection of
# who is fit for a transplant, which no analysis of these data can remove.
# :::

# %% tags=["remove-cell"]
report.glue_figure("fig_sim_hsct", splots.hsct_distributions(
    summary, [("lfs", "LFS"), ("os", "OS")]))

# %% [markdown]
# ```{glue:figure} fig_sim_hsct
# :name: fig-sim-hsct
#
# Distribution over simulated trials of the bridging-HSCT hazard ratio, with HSCT fixed at
# infusion (as published) and as a time-dependent covariate, for LFS (top) and OS (bottom),
# one column per cohort size; dashed lines: the value each analysis converges to with
# unlimited data (its truth); dotted line: HR 1.
# ```

# %% tags=["remove-input"]
report.show_table(sr.hsct_table(summary),
                  "Bridging HSCT by analysis, end point and cohort size: median hazard ratio "
                  "over trials, the analysis' own true value, the mean bias of the log HR "
                  "against the time-dependent truth (Monte Carlo SE), the percentage of trials "
                  f"with p < {text['alpha']}, and the coverage of the analysis' own truth by "
                  f"its {text['level']} "
                  "interval.", "tbl-sim-hsct")

# %% [markdown]
# (sec-simulation-crs)=
# ## Severe CRS: separation, maximum likelihood and Firth
#
# With about {glue:md}`sim_severe_crs_first` severe CRS events in a trial of
# {glue:md}`sim_n_first`, Table 2's first model is separated (some covariate pattern
# predicts the outcome perfectly, so a maximum-likelihood estimate is infinite) in
# {glue:md}`sim_sep_model1_first` of trials, the second in {glue:md}`sim_sep_model2_first`
# ({glue:md}`sim_sep_model1_max` and {glue:md}`sim_sep_model2_max` at {glue:md}`sim_n_max`).
# For low pre-LD MRD the ML odds ratio is infinite in {glue:md}`sim_inf_preld_first` of
# trials; among its finite estimates the bias of the log OR is
# {glue:md}`sim_bias_preld_ml_first`, against {glue:md}`sim_bias_preld_firth_first` for
# Firth's estimate over all trials ({numref}`tbl-sim-crs`, {numref}`fig-sim-crs`). Where sex
# has no effect, Firth's test still finds female sex significant in
# {glue:md}`sim_fp_female_crs_first` of trials.

# %% tags=["remove-input"]
report.show_table(sr.crs_table(summary),
                  "Table 2's logistic models of severe CRS by cohort size (calibrated): "
                  "percentage of trials with separation; per covariate, the true OR, the "
                  "percentage of infinite ML estimates, the mean bias of the log OR of ML "
                  "(finite estimates only) and of Firth (all trials), with Monte Carlo SEs, "
                  f"and the percentage of trials with p < {text['alpha']} (ML Wald, as SPSS; Firth "
                  "penalised likelihood ratio).", "tbl-sim-crs")

# %% tags=["remove-cell"]
report.glue_figure("fig_sim_crs", splots.ml_vs_firth(
    summary, "crs_model1", list(sr.MODEL1_TERMS), summary.sizes()[0]))

# %% [markdown]
# ```{glue:figure} fig_sim_crs
# :name: fig-sim-crs
#
# Odds ratios of Table 2's model 1 over simulated trials of the first cohort size: maximum
# likelihood (finite estimates; the share of infinite ones in each title) and Firth's
# penalised likelihood; dashed line: the true OR; dotted line: OR 1.
# ```

# %% [markdown]
# (sec-simulation-table3)=
# ## Table 3: Mann–Whitney tests at the paper's group sizes
#
# At {glue:md}`sim_n_first` patients the groups of Table 3 have the paper's sizes on average
# ({numref}`tbl-sim-table3`). Of its {glue:md}`sim_t3_comparisons` comparisons,
# {glue:md}`sim_t3_powered` reach {glue:md}`sim_power` power in the calibrated generator. The paper's
# corticosteroid effect on Cmax (p = {glue:md}`sim_published_steroids_p`) is found in
# {glue:md}`sim_steroids_power_first` of trials; without any direct effect of steroids on
# expansion (`null_steroids`) the test still rejects in
# {glue:md}`sim_steroids_null_first`, because steroids go with severe CRS, which raises the
# peak ({numref}`tbl-sim-table3-null`).

# %% tags=["remove-input"]
report.show_table(sr.table3_power(summary, summary.sizes()[0]),
                  "Table 3's Mann–Whitney comparisons in calibrated trials of the first cohort "
                  "size: mean group sizes, the true probability that a patient of the first "
                  "group has the higher Cmax, and the percentage of trials with p < "
                  f"{text['alpha']} (Monte Carlo SE in points) for Cmax, AUC0–28d and Tlast.",
                  "tbl-sim-table3")
report.show_table(sr.table3_null(summary, summary.sizes()[0]),
                  "The Cmax comparisons of Table 3 without the steroid effect on expansion "
                  "(null_steroids) and without any clinical effect on expansion "
                  "(null_expansion), trials of the first cohort size: the true probability "
                  "that a patient of the first group has the higher Cmax and the percentage "
                  f"of trials with p < {text['alpha']} (Monte Carlo SE in points).",
                  "tbl-sim-table3-null")

# %% [markdown]
# (sec-simulation-size)=
# ## How many patients would a new study need?
#
# Interpolating the power curves (probit of power linear in log n between the simulated
# sizes) gives the cohort size for {glue:md}`sim_power` power of each of the paper's headline
# effects
# ({numref}`tbl-sim-size`): {glue:md}`sim_n80_female_lfs` patients for female sex in the
# screen-then-Cox procedure, {glue:md}`sim_n80_bca_lfs` for B-cell aplasia,
# {glue:md}`sim_n80_dose_crs_firth` for the dose in the severe-CRS model (Firth) and
# {glue:md}`sim_n80_steroids_cmax` for the steroid effect on Cmax. These sizes hold for
# the generator's effects, which were calibrated to reproduce the paper's numbers; they are
# not the truth of the disease.

# %% tags=["remove-input"]
report.show_table(sr.sample_size_table(summary),
                  "Power of the paper's plan for its headline effects (calibrated scenario; "
                  "percentage of trials, Monte Carlo SE in points) and the cohort size for "
                  f"{text['power']} power, interpolated, with a 95% Monte Carlo interval from a "
                  "parametric "
                  "bootstrap of the estimated powers; the paper's own estimate and p-value "
                  "for reference.", "tbl-sim-size")

# %% [markdown]
# (sec-simulation-run)=
# ## Running the study
#
# `cartbook simulate` runs the study on Dask distributed: by default a local cluster with
# one worker per core; with `--scheduler` an existing cluster (see the README for
# `dask scheduler`/`dask worker`, Slurm and Kubernetes). Each task is a batch of trials;
# each batch's results are one Parquet file written atomically, so an interrupted run
# resumes by computing only the missing batches, and the results are the same bytes
# whatever the number of workers. The study shown on this page, when one is stored, was run
# by the first commands below; the recommended full study, with smaller Monte Carlo errors,
# by the last ones (`benchmarks/bench_simulate.py` measures what a replicate costs and
# projects the wall time of a study on a cluster).

# %% tags=["remove-input"]
display(sr.commands_block(source))

# %% [markdown]
# The repository keeps the summary tables (`data/simulation/summary/`) and the truths
# (`data/simulation/truth/`); the per-trial partitions are regenerated by the same commands.
