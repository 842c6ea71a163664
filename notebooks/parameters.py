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
# # Parameters
#
# Every threshold and option of the analyses, with its default, type, unit, the chapters that
# use it, its meaning and where the default comes from. This page is generated from the
# options registry `analysis_lib.analyses.options`, the single source of these settings: the
# chapters' parameters cells, the command line and this page all read it. Defaults that are
# numbers of the paper (the dose cut, the screening p, the MRD sensitivity) are read from the
# registry of published numbers, never typed a second time.
#
# **Setting them.** `cartbook build -p NAME=VALUE` sets a parameter for every chapter that
# uses it; `-p CHAPTER.NAME=VALUE` (for example `-p survival.screen_p=0.1`) for one chapter;
# `--params FILE.yml` reads a set of them (`make book PARAMS=FILE.yml`). Each value is
# checked against its type and range before anything is built: an unknown name, a wrong type
# or an impossible value (a confidence level of 1.5, cut-points out of order) stops the build
# with the list of valid parameters, and nothing is written. `cartbook params` prints this
# table. Changing one parameter re-executes only the chapters that use it (and the pages
# that summarise them: the scorecard, the landing page and this one).
#
# **Cohort-relative cuts.** The paper cut the CAR-T dose at its own cohort's median.
# `dose_cut=median` takes the median dose of the cohort being analysed instead; each chapter's
# "Parameters of this run" shows the number it resolved to. The default stays the paper's
# number.
#
# **Against the paper.** A number computed under a parameter other than the paper's is not
# scored as a mismatch: the scorecard marks it *computed under another parameter* and names
# the parameter, and so does the chapter that computes it, under the cell that shows it.

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
notebooks_dir = "../_build/cache"
chapter = "parameters"

# %% tags=["hide-input"]
from analysis_lib.analyses import options
from analysis_lib.book import report
from analysis_lib.data.validation import load_dataset

data = load_dataset(data_dir)
display(report.data_notice(data.synthetic))
report.show_parameters(dict(data_dir=data_dir), report.dataset_fingerprint(data.files))
display(report.source_links(chapter))
run = report.collect_parameters(notebooks_dir, list(options.ANALYSIS_CHAPTERS))
table = options.parameters_frame(run)
report.glue_number("n_parameters", len(table))
report.glue_number("n_changed", int(table["this build"].str.endswith("(changed)").sum()))

# %% [markdown]
# ## Every parameter
#
# The {glue:text}`n_parameters:d` parameters; the last column gives the value each was used
# with in this build ({glue:text}`n_changed:d` changed from the default).

# %% tags=["hide-input"]
shown = table.rename(columns=str.capitalize).map(report.md_escape)
report.show_table(shown, "The analysis parameters: default, type, unit, the chapters that use "
                  "each, its meaning, the source of the default and its value in this build.",
                  "tbl-parameters")
