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
# # Reproduction scorecard
#
# Every number the paper prints in its text and in Tables 1–3, beside the value this book
# computes. Published numbers come from the registry `data/published/registry.csv`; the
# reproduced values are read from the executed chapters, by the key under which each chapter
# glued them, so the scorecard shows exactly what the chapters show.
#
# **Status rules** (in this order; principles fixed in `analysis_lib.scorecard`, never tuned):
# *not reproducible: paper inconsistent* when the audit shows the published number cannot
# hold together with the paper's other numbers; *matches at the paper's precision* when the
# reproduced value rounds to the printed one; *within sampling error* when it lies within
# 1.96 sampling standard errors at the paper's n (from the published CI, the binomial SE of a
# percentage, Fisher's z for a correlation as in {cite:t}`fieller1957`, or the SE of a median
# from its range as in {cite:t}`wan2014`); *same
# direction and significance* for a ratio on the same side of one or a p-value on the same
# side of 0.05; *differs* otherwise; *study design, not a result* for doses, dates,
# schedules and thresholds; *not scored, reason given* for numbers deliberately left aside
# (the reason is shown beside each); *not mapped yet* where no chapter computes the number yet.

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
notebooks_dir = "../_build/cache"
chapter = "scorecard"

# %% tags=["remove-input"]
from analysis_lib import calibration, registry, report, scorecard
from analysis_lib.validation import load_dataset

data = load_dataset(data_dir)
display(report.data_notice(data.synthetic))
report.show_parameters(dict(data_dir=data_dir, notebooks_dir=notebooks_dir),
                       report.dataset_fingerprint(data.files))
display(report.source_links(chapter))

# %% tags=["remove-cell"]
reg = registry.load_registry()
card = scorecard.scorecard(reg, scorecard.load_map(),
                           scorecard.collect_glued(notebooks_dir, ["cohort", "kinetics",
                                                                   "survival", "toxicity"]))
counts = scorecard.summary(card).set_index("Status")["Numbers"]
report.glue_number("n_numbers", len(card))
for i, status in enumerate(scorecard.STATUSES):
    report.glue_number(f"n_status_{i}", int(counts[status]))
report.glue_number("n_reproduced", int(card["status"].isin(scorecard.REPRODUCED).sum()))
objective = calibration.scorecard_score(card)
report.glue_number("objective_score", objective["score"])
report.glue_number("objective_eligible", objective["eligible"])
card_csv = report.write_output(card, "outputs/scorecard", "scorecard", data.synthetic)

# %% [markdown]
# Of the {glue:text}`n_numbers:d` distinct numbers the paper reports about this cohort,
# {glue:text}`n_status_0:d` match at the paper's precision, {glue:text}`n_status_1:d` lie
# within sampling error and {glue:text}`n_status_2:d` agree in direction and significance
# ({glue:text}`n_reproduced:d` in all); {glue:text}`n_status_3:d` differ,
# {glue:text}`n_status_4:d` cannot be reproduced because the paper's own numbers contradict
# them, {glue:text}`n_status_6:d` describe the study's design (doses, dates, schedules,
# thresholds) rather than a result, {glue:text}`n_status_7:d` are left unscored for a stated
# reason and {glue:text}`n_status_8:d` are not yet computed by any chapter
# ({numref}`tbl-scorecard-summary`). With the shipped synthetic cohort, agreement shows that
# the generator and the analyses fit together, not that the paper's findings are confirmed.
# The full table is downloadable: {download}`scorecard.csv <outputs/scorecard/scorecard.csv>`.
#
# **Final score.** Counting the results that match at the paper's precision or lie within
# sampling error, out of those that can be scored (all but design numbers, numbers the audit
# shows contradictory and the two left unscored), this build reproduces
# {glue:text}`objective_score:d` of {glue:text}`objective_eligible:d`. This is the objective the
# synthetic cohort was chosen by ({doc}`synthetic_data`), recomputed here from the executed
# chapters.

# %% tags=["remove-input"]
report.show_table(scorecard.summary(card), "Reproduction status of the paper's numbers.",
                  "tbl-scorecard-summary")

# %% [markdown]
# ## By section of the paper

# %% tags=["remove-input"]
for i, (section, part) in enumerate(card.groupby("section", sort=False)):
    report.show_table(scorecard.display_table(part), f"Scorecard: {section}.",
                      f"tbl-scorecard-{i}")

# %% tags=["remove-cell"]
from analysis_lib import audit

checks = audit.run_audit()
found = audit.inconsistencies(checks)
report.glue_number("audit_n_checks", len(checks))
report.glue_number("audit_n_inconsistent", len(found))
report.glue_number("audit_n_decision", int((found["severity"] == "decision").sum()))

# %% [markdown]
# ## Audit of the paper's internal consistency
#
# Independently of any data, the paper's numbers can be checked against each other, in the
# spirit of statcheck {cite:p}`nuijten2016` and GRIM {cite:p}`brown2017`: p-values
# recomputed from the reported ratio CIs {cite:p}`altman2011`, CIs checked for symmetry on
# the log scale, percentages against their counts, medians against ranges and group medians,
# geometric means against medians and maxima, counts that must add up, and thresholds used
# across text and tables. A printed number stands for every value that rounds to it, so a
# check fails only when no rounding of the inputs can reproduce the printed result
# (`analysis_lib.audit`). Of {glue:text}`audit_n_checks:d` checks,
# {glue:text}`audit_n_inconsistent:d` find an inconsistency ({numref}`tbl-audit-summary`),
# {glue:text}`audit_n_decision:d` of them a decision error (a printed p on the other side of
# 0.05 from the one its own CI implies). {numref}`tbl-audit-findings` shows each with the
# arithmetic that exposes it; the chapter on the synthetic cohort lists the published
# numbers that no data could produce.

# %% tags=["remove-input"]
summ = audit.audit_summary(checks).reset_index()
report.show_table(summ[["check", "total", "consistent", "inconsistent", "not checkable"]]
                  .rename(columns=str.capitalize),
                  "Consistency checks run over the registry of published numbers.",
                  "tbl-audit-summary")

# %% tags=["remove-input"]
report.show_table(found[["location", "published", "recomputed", "severity", "arithmetic"]]
                  .rename(columns=str.capitalize),
                  "Inconsistencies in the published numbers, with the arithmetic.",
                  "tbl-audit-findings")
