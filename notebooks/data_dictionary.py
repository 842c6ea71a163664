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
# # Data dictionary
#
# The tables a user supplies to rebuild this book with their own cohort. This page is
# generated from the schemas in `analysis_lib.data.schema`, which are the single source of truth:
# the validator, the synthetic generator and this page all read them.
#
# **Files.** A data directory holds one file per table, named after it: `patients` and
# `kinetics`, each as `.csv`, `.parquet` or `.xlsx` (one format per table; the name is
# matched without regard to case, so `Patients.CSV` is found). A file is recognised by its
# content: a workbook saved as `.csv`, an HTML page, an Excel 97-2003 or a password-protected
# workbook is named as such. A symbolic link to a file outside the data folder is refused.
#
# **CSV.** Text in UTF-8 (with or without a byte-order mark) or UTF-16 with one. The
# separator (comma, semicolon, tab or vertical bar) is taken from the header row, or from an
# Excel `sep=;` first line; numbers use a decimal point, without thousands separators. A
# semicolon- or tab-separated export with decimal commas is refused with an explanation,
# unless it is read with `--csv-dialect semicolon-decimal-comma` (then decimal points are
# refused as ambiguous). Files may start with `# key: value` metadata lines
# (`# synthetic: true` marks synthetic data); blank lines, rows of empty cells and `# …`
# comment lines are skipped anywhere; row numbers in reports are the file's own lines,
# counting all of these.
#
# **Excel.** The data go on the sheet named after the table (in any case), or on the
# workbook's only sheet with data; metadata on a sheet named `metadata` with columns `key`
# and `value`. Error values (`#N/A`, `#DIV/0!`, …) and formulas whose value was never
# computed are reported, never read as empty cells.
#
# **Conventions.** Every time is a number of days from CAR-T infusion (day 0; negative before
# it). No calendar date, name, birth date or record number is accepted: the validator refuses
# them. MRD is a fraction of nucleated marrow cells (so 0.01 % is written `1e-4` or
# `0.0001`). Missing values are empty cells. Booleans are `true` or `false`.

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
chapter = "data_dictionary"

# %% tags=["hide-input"]
from analysis_lib.book import report
from analysis_lib.core import formatting
from analysis_lib.core.suppression import count_text
from analysis_lib.data import schema
from analysis_lib.data.datadict import field_table, rules_table
from analysis_lib.data.validation import load_dataset

data = load_dataset(data_dir)
display(report.data_notice(data.synthetic))
report.show_parameters(dict(data_dir=data_dir), report.dataset_fingerprint(data.files))
display(report.source_links(chapter))
for t in schema.TABLES:
    report.glue_number(f"n_fields_{t.name}", len(t.fields))
    report.glue_number(f"n_rows_{t.name}", len(data.tables[t.name]))
    report.glue_text(f"n_fields_{t.name}_text", formatting.count(len(t.fields)))
    report.glue_text(f"n_rows_{t.name}_text", count_text(len(data.tables[t.name])))

# %% [markdown]
# ## The patients table
#
# One row per infused patient ({glue:md}`n_fields_patients_text` columns;
# {glue:md}`n_rows_patients_text` rows in the data of this build).

# %% tags=["hide-input"]
report.show_table(field_table(schema.PATIENTS), "Columns of the patients table.",
                  "tbl-dict-patients")

# %% [markdown]
# ## The kinetics table
#
# One row per peripheral-blood sample ({glue:md}`n_fields_kinetics_text` columns;
# {glue:md}`n_rows_kinetics_text` rows in the data of this build). A result below the lower
# limit of quantification (LLOQ) is a row with `below_lloq` = `true` and an empty level.

# %% tags=["hide-input"]
report.show_table(field_table(schema.KINETICS), "Columns of the kinetics table.",
                  "tbl-dict-kinetics")

# %% [markdown]
# ## Validation rules
#
# Before any notebook runs, `cartbook validate DIR` (and every build) checks the data against
# these rules and lists *every* problem with its file, row (CSV line, Excel sheet row or
# Parquet record number), column, value and rule. If there is any problem, nothing is written
# and the previous book stays in place.
#
# The rules are checked level by level, the root cause first: the files and their structure,
# then the columns, the records, the cells, each row's consistency and the links between the
# tables. A problem at one level replaces what it would cause further down: a file whose
# header cannot be found is not checked cell by cell, a missing column is not reported again
# in every row, an invalid cell is not reported again by the checks that combine columns, and
# the samples are checked against the patients only when the patients table is sound. The
# report lists the problems in that order, at most ten of each rule (`--all` lists all).
# Timelines are checked too: no dated event (IL-6 peak, B-cell aplasia, HSCT, relapse, death,
# kinetics sample) after the last follow-up or after death, and no diagnosis before birth.

# %% tags=["hide-input"]
report.show_table(rules_table(), "Rules applied by the validator.", "tbl-dict-rules")
