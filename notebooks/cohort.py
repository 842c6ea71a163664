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
# the day-28 response rates of *Treatment outcomes*.

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
output_dir = "outputs/cohort"
chapter = "cohort"
min_cell_count = 0  # counts 1..k-1 shown as "<k" (0: off; analysis_lib.data.privacy)
age_cut_years = 10.0
mrd_cuts = [1e-4, 1e-3, 1e-2]
mrd_negative_below = 1e-4
conf_level = 0.95

# %% tags=["remove-input"]
from analysis_lib.analyses import cohort
from analysis_lib.book import report
from analysis_lib.book.figures import cohort as plots
from analysis_lib.core import formatting

data = report.open_chapter(
    chapter, data_dir, min_cell_count,
    dict(data_dir=data_dir, output_dir=output_dir, age_cut_years=age_cut_years,
         mrd_cuts=mrd_cuts, mrd_negative_below=mrd_negative_below, conf_level=conf_level))
patients = data.tables["patients"]

# %% tags=["remove-cell"]
n = len(patients)
report.glue_number("n_patients", n)
enrol = cohort.enrolment_table(patients)
for row in enrol.itertuples():
    report.glue_text(f"enrol_{row.code}", formatting.count_percent(row.n, n))
    report.glue_number(f"n_{row.code}", int(row.n))
    report.glue_number(f"pct_{row.code}", float(row.percent))
baseline = cohort.baseline_table(patients, age_cut=age_cut_years, mrd_cuts=mrd_cuts)
dose = baseline.query("characteristic.str.startswith('CAR-T dose')").iloc[0]
interval = baseline.query("characteristic.str.startswith('Diagnosis')").iloc[0]
report.glue_text("dose_median_range", f"{dose['display']} ×10⁶ cells/kg")
report.glue_text("interval_median_range", f"{interval['display']} months")
for k, v in (("dose_median", dose["median"]), ("dose_min", dose["min"]), ("dose_max", dose["max"]),
             ("interval_median_months", interval["median"]), ("interval_min_months", interval["min"]),
             ("interval_max_months", interval["max"])):
    report.glue_number(k, float(v))
sex = baseline.query("characteristic == 'Sex'").set_index("level")["n"]
report.glue_text("n_male", formatting.count_percent(int(sex["Male"]), n))
report.glue_text("n_female", formatting.count_percent(int(sex["Female"]), n))

# %% [markdown]
# (sec-cohort-patients)=
# ## Patients and reasons for CAR-T
#
# The analysis includes {glue:text}`n_patients:d` infused patients. Of these,
# {glue:md}`enrol_chemo_intolerance` could not continue chemotherapy because of severe
# treatment-related complications, {glue:md}`enrol_mrd_reemergence` had MRD re-emerging during
# therapy and {glue:md}`enrol_mrd_persistent` had MRD that persisted after intensive
# chemotherapy. There were {glue:md}`n_male` boys and {glue:md}`n_female` girls.
# {numref}`tbl-baseline` gives the baseline characteristics in the layout of the paper's
# Supplementary Table S1.

# %% tags=["remove-input"]
shown = baseline[["characteristic", "level", "display"]].rename(
    columns={"characteristic": "Characteristic", "level": "", "display": "n (%) or median (range)"})
shown.loc[shown["Characteristic"].duplicated(), "Characteristic"] = ""
report.show_table(shown, "Baseline characteristics of the infused patients (the equivalent of "
                  "Supplementary Table S1). MRD is the bone-marrow flow-cytometry fraction.",
                  "tbl-baseline")
baseline_csv = report.write_output(baseline, output_dir, "baseline_characteristics", data.synthetic)

# %% [markdown]
# The table is also available as a file:
# {download}`baseline_characteristics.csv <outputs/cohort/baseline_characteristics.csv>`.
#
# (sec-cohort-dose)=
# ## Dose and timing
#
# The median CAR-T dose was {glue:md}`dose_median_range`, and the median interval from
# diagnosis to infusion was {glue:md}`interval_median_range` ({numref}`fig-dose-interval`).

# %% tags=["remove-cell"]
report.glue_figure("fig_dose_interval", plots.dose_and_interval(patients, dose["median"]))

# %% [markdown]
# ```{glue:figure} fig_dose_interval
# :name: fig-dose-interval
#
# CAR-T cell dose (left; dotted line at the cohort median) and the interval from diagnosis
# to infusion (right, log scale). One point per patient; boxes show the quartiles.
# ```

# %% tags=["remove-cell"]
fu = cohort.follow_up(patients, conf_level=conf_level)
report.glue_number("followup_median_months", fu.median.estimate)
report.glue_number("followup_min_months", fu.minimum)
report.glue_number("followup_max_months", fu.maximum)
report.glue_text("followup_text", fu.text())
report.glue_text("followup_range", f"{fu.minimum:.1f}–{fu.maximum:.1f} months")
report.glue_text("n_alive", str(fu.n_censored))

# %% [markdown]
# (sec-cohort-follow-up)=
# ## Follow-up
#
# Median follow-up, estimated by the reverse Kaplan–Meier method {cite:p}`schemper1996` (the {glue:md}`n_alive`
# patients alive at last contact are the "events"; deaths are censored), was
# {glue:md}`followup_text`. Observed follow-up ranged over {glue:md}`followup_range`
# ({numref}`fig-followup`).

# %% tags=["remove-cell"]
report.glue_figure("fig_followup", plots.follow_up_curve(fu.curve, fu.median.estimate))

# %% [markdown]
# ```{glue:figure} fig_followup
# :name: fig-followup
#
# Reverse Kaplan–Meier estimate of follow-up: the proportion of patients still under
# observation, with its pointwise 95% confidence band (log transformation). Dotted lines
# mark the median.
# ```

# %% tags=["remove-cell"]
rates = cohort.response_rates(patients, mrd_negative_below=mrd_negative_below,
                              conf_level=conf_level)
for key, r in zip(("cr", "mrd_negative_cr"), rates):
    report.glue_number(f"{key}_k", r.k)
    report.glue_number(f"{key}_pct", 100 * r.estimate)
    report.glue_number(f"{key}_ci_low", 100 * r.ci_low)
    report.glue_number(f"{key}_ci_high", 100 * r.ci_high)
    report.glue_text(f"{key}_text", r.text())

# %% [markdown]
# (sec-cohort-response)=
# ## Response at day 28
#
# At day 28, {glue:md}`cr_text` of patients were in complete remission with or without full
# haematological recovery (CR/CRi), and {glue:md}`mrd_negative_cr_text` were in MRD-negative
# CR/CRi ({numref}`tbl-response`). Confidence intervals are exact {cite:p}`clopper1934`, as R's
# `binom.test` gives them.

# %% tags=["remove-input"]
response = cohort.rates_frame(rates)
report.show_table(response, "Day-28 response among all infused patients, with exact "
                  "Clopper–Pearson confidence intervals. MRD-negative: day-28 marrow MRD below "
                  "the flow-cytometry threshold given in the parameters.", "tbl-response")
response_csv = report.write_output(response, output_dir, "day28_response", data.synthetic)
