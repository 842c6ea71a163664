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
# # The cohort
#
# Who received CD19 CAR-T, why, at what dose and how long after diagnosis; how long they have
# been followed; and how many were in remission with undetectable MRD at day 28. This chapter
# reproduces the paper's *Patient characteristics* paragraph, its Supplementary Table S1 and
# the day-28 response rates of *Treatment outcomes*, with the paper's values beside the
# reproduced ones.

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
output_dir = "outputs/cohort"
chapter = "cohort"
min_cell_count = 0  # counts 1..k-1 shown as "<k" (0: off; analysis_lib.data.privacy)
age_cut_years = 10.0
mrd_cuts = [1e-4, 1e-3, 1e-2]
mrd_negative_below = 1e-4
conf_level = 0.95

# %% tags=["hide-input"]
from analysis_lib.analyses import cohort, options
from analysis_lib.book import report
from analysis_lib.book.figures import cohort as plots

data = report.open_chapter(
    chapter, data_dir, min_cell_count,
    dict(data_dir=data_dir, output_dir=output_dir, **options.chapter_values(chapter, globals())))
res = cohort.analyse(data.tables["patients"], age_cut=age_cut_years, mrd_cuts=mrd_cuts,
                     mrd_negative_below=mrd_negative_below, conf_level=conf_level,
                     changed=data.changed)
report.glue_all(res.glue)

# %% [markdown]
# (sec-cohort-patients)=
# ## Patients and reasons for CAR-T
#
# The analysis includes {glue:md}`n_patients_text` infused patients. Of these,
# {glue:md}`enrol_chemo_intolerance` could not continue chemotherapy because of severe
# treatment-related complications, {glue:md}`enrol_mrd_reemergence` had MRD re-emerging during
# therapy and {glue:md}`enrol_mrd_persistent` had MRD that persisted after intensive
# chemotherapy. There were {glue:md}`n_male` boys and {glue:md}`n_female` girls.
# {numref}`tbl-baseline` reproduces the paper's Supplementary Table S1; under each reproduced
# value stands the paper's where it prints one, with the scorecard's status as a coloured dot
# (hover for its meaning).

# %% tags=["hide-input"]
report.show_table(res.baseline.render(report.beside), res.baseline.caption, "tbl-baseline")
report.write_output(res.baseline.data, output_dir, res.baseline.file, data.synthetic);

# %% [markdown]
# The table is also available as a file:
# {download}`baseline_characteristics.csv <outputs/cohort/baseline_characteristics.csv>`
# (plain CSV, its metadata in a `.csv.json` file beside it).
#
# (sec-cohort-dose)=
# ## Dose and timing
#
# The median CAR-T dose was {glue:md}`dose_median_range` (the paper: {glue:md}`pub_dose`),
# and the median interval from diagnosis to infusion was {glue:md}`interval_median_range`
# (the paper: {glue:md}`pub_interval`; {numref}`fig-dose-interval`).

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_dose_interval",
                   plots.dose_and_interval(res.dose, res.interval_months, res.dose_median))

# %% [markdown]
# ```{glue:figure} fig_dose_interval
# :name: fig-dose-interval
#
# CAR-T cell dose (left; dotted line at the cohort median) and the interval from diagnosis
# to infusion (right, log scale). One point per patient; boxes show the quartiles, whiskers
# reach 1.5 times the interquartile range. The paper: median (range) {glue:md}`pub_dose`
# and {glue:md}`pub_interval`.
# ```
#
# (sec-cohort-follow-up)=
# ## Follow-up
#
# Median follow-up, estimated by the reverse Kaplan–Meier method {cite:p}`schemper1996` (the
# {glue:md}`n_alive` patients alive at last contact are the "events"; deaths are censored),
# was {glue:md}`followup_text`; the paper reports {glue:md}`pub_followup` (median, range).
# Observed follow-up ranged over {glue:md}`followup_range` ({numref}`fig-followup`).

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_followup",
                   plots.follow_up_curve(res.follow_up.curve, res.follow_up.median.estimate))

# %% [markdown]
# ```{glue:figure} fig_followup
# :name: fig-followup
#
# Reverse Kaplan–Meier estimate of follow-up: the proportion of patients still under
# observation, with its pointwise {glue:md}`conf_pct_text`% confidence band (log
# transformation), and the number still under observation under each time tick. Dotted lines
# mark the median. The paper: median {glue:md}`pub_followup`.
# ```
#
# (sec-cohort-response)=
# ## Response at day 28
#
# At day 28, {glue:md}`cr_text` of patients were in complete remission with or without full
# haematological recovery (CR/CRi), and {glue:md}`mrd_negative_cr_text` were in MRD-negative
# CR/CRi ({numref}`tbl-response`). Confidence intervals are exact {cite:p}`clopper1934`, as R's
# `binom.test` gives them.

# %% tags=["hide-input"]
report.show_table(res.response.render(report.beside), res.response.caption, "tbl-response")
report.write_output(res.response.data, output_dir, res.response.file, data.synthetic);

# %% [markdown]
# The rates are also available as a file:
# {download}`day28_response.csv <outputs/cohort/day28_response.csv>`.
#
# (sec-cohort-input)=
# ## The input cohort

# %% tags=["hide-input"]
plots.input_cohort_downloads(
    {"patients": data.tables["patients"], "kinetics": data.tables["kinetics"]},
    output_dir, data.synthetic)
