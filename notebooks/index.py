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
# # CD19 CAR-T for MRD-positive or chemotherapy-intolerant paediatric B-ALL: a reproducible re-analysis
#
# This book re-analyses, from the data up, the study of Wang et al. (2025), *Effective MRD
# clearance and long-term survival with CD19 CAR-T in pediatric B-ALL patients with MRD
# positivity or chemotherapy intolerance* (Front. Immunol. 16:1672509,
# [doi:10.3389/fimmu.2025.1672509](https://doi.org/10.3389/fimmu.2025.1672509)). Every table,
# figure and number is computed by code in a notebook that calls the tested `analysis_lib`
# library; nothing is typed in by hand.

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
notebooks_dir = "../_build/cache"
chapter = "index"
min_cell_count = 0  # counts 1..k-1 shown as "<k" (0: off; analysis_lib.data.privacy)
conf_level = 0.95

# %% tags=["hide-input"]
from analysis_lib.analyses import options
from analysis_lib.book import report
from analysis_lib.book.provenance import provenance_table
from analysis_lib.core import formatting
from analysis_lib.core.suppression import count_text
from analysis_lib.paper import registry
from analysis_lib.paper import scorecard as sc

data = report.open_chapter(
    chapter, data_dir, min_cell_count,
    dict(data_dir=data_dir, **options.chapter_values(chapter, globals())))
patients = data.tables["patients"]
chapters = ["cohort", "kinetics", "survival", "toxicity"]
glued = report.collect_glued(notebooks_dir, chapters)
changed, affected = report.parameter_changes(notebooks_dir, chapters, patients)
card = sc.scorecard(registry.load_registry(), sc.load_map(), glued, sc.load_claims(), affected)
score = sc.score(card)
n_samples = len(data.tables["kinetics"])
report.glue_all({
    "n_patients": len(patients), "n_samples": n_samples,
    "n_patients_text": count_text(len(patients)), "n_samples_text": count_text(n_samples),
    "score_sentence": sc.score_sentence(score),
    "status_counts": sc.status_counts_text(card, "number"),
    "claim_counts": sc.status_counts_text(card, "claim"),
    "sc_total": score["numbers_total"], "sc_claims": score["claims_eligible"],
    "sc_total_text": formatting.count(score["numbers_total"]),
    "sc_claims_text": formatting.count(score["claims_eligible"]),
    "conf_pct": round(100 * conf_level), "conf_pct_text": formatting.number(100 * conf_level),
    "fingerprint": f"`{report.dataset_fingerprint(data.files)}`",
    "origin": ("a **synthetic** cohort shipped with the project" if data.synthetic
               else "the cohort supplied for this build"),
})

# %% [markdown]
# (sec-index-answer)=
# ## The answer at a glance
#
# How close does this build come to the paper? **{glue:md}`score_sentence`**
# ({doc}`scorecard`). {numref}`tbl-key-results` puts the paper's headline results beside this
# build's, each with the scorecard's status (hover over a badge for its definition; this
# build's intervals are {glue:md}`conf_pct_text`% confidence intervals: exact for the response
# rates, and for survival Kaplan–Meier with Greenwood's plain interval, the kind the paper's
# are).

# %% tags=["hide-input"]
report.show_table(sc.key_results(card, glued), "The paper's headline results beside this "
                  "build's: day-28 response, 5-year overall and leukaemia-free survival, severe "
                  "CRS and ICANS, and the median peak CAR-T level.", "tbl-key-results")
if min_cell_count > 1:
    display(report.Markdown(
        f"This build suppresses small counts: a count of 1 to {min_cell_count - 1} patients "
        f"or events, and a percentage of patients resting on one, reads <{min_cell_count} "
        f"and has the status *{sc.SUPPRESSED}* instead of a comparison with the paper's "
        "number (which would give the count away); it is left out of the score."))

# %% [markdown]
# Of the {glue:md}`sc_total_text` numbers the paper reports about this cohort,
# {glue:md}`status_counts`. Of its {glue:md}`sc_claims_text` claims of significance and
# direction, {glue:md}`claim_counts` ({numref}`tbl-index-score`). The paper's own tables and
# figures are listed, each with the place that reproduces it, in {doc}`../paper_index`.

# %% tags=["hide-input"]
report.show_table(sc.breakdown_table(score), "The reproduction score of this build by status, "
                  "numbers and claims (as the scorecard computes it).", "tbl-index-score")

# %% [markdown]
# ## What is in this build
#
# This build was computed from {glue:md}`origin`: {glue:md}`n_patients_text` patients and
# {glue:md}`n_samples_text` CAR-T transgene measurements (data fingerprint {glue:md}`fingerprint`,
# a SHA-256 of the input files that identifies them exactly).
#
# The study's patient-level data are not public. The project therefore ships a **synthetic
# cohort**, generated by a seeded, documented model so that its published counts match the
# paper's. Results computed from it show that the pipeline reproduces the paper's methods;
# they are not clinical evidence. Every page that shows synthetic data says so at the top.

# %% tags=["hide-input"]
report.show_table(provenance_table(data), "Provenance of the data used in this build.",
                  "tbl-provenance")

# %% [markdown]
# ## Chapters
#
# - {doc}`scorecard`: every published number and claim beside the reproduced one, with its
#   status; {doc}`../paper_index`: the paper's tables and figures and where each is reproduced.
# - {doc}`cohort`: baseline characteristics (Supplementary Table S1), reasons for CAR-T, dose
#   and timing, follow-up and the day-28 response.
# - {doc}`kinetics`: CAR-T expansion and persistence by non-compartmental analysis (Table 3,
#   Figure 2, Supplementary Figures S3 and S4).
# - {doc}`survival`: overall and leukaemia-free survival, Cox models, competing risks, and the
#   immortal-time bias of comparing patients by later transplantation (Table 1, Figure 1,
#   Supplementary Table S2 and Figures S1 and S2).
# - {doc}`toxicity`: adverse events and risk models for severe CRS, with small-sample
#   methods (Table 2, Supplementary Tables S3 and S4).
# - {doc}`simulation`: how often the paper's analysis plan finds a true effect, declares a
#   false one and covers the truth, by simulation of many synthetic trials on Dask.
# - {doc}`../methods`: the statistical methods, the library that computes each and its
#   measured agreement with R, with references.
# - {doc}`data_dictionary`: the tables a user supplies, and the validation rules.
# - {doc}`synthetic_data`: how the synthetic cohort is generated and calibrated, how close it
#   comes to each published number, and which published numbers cannot all be true.
#
# ## Rerun it with your own cohort
#
# 1. Export your cohort as two tables, `patients` and `kinetics` (CSV, Parquet or Excel),
#    following the {doc}`data dictionary <data_dictionary>`. Use study codes, never names,
#    record numbers or dates; give every time as days from infusion.
# 2. Check them: `.venv/bin/cartbook validate path/to/your/data`. Every problem is listed with
#    its file, row, column, value and rule; fix them all.
# 3. Build: `make book DATA=path/to/your/data`. The book is written to `_build/html/`; a
#    failed build leaves the previous book untouched.
