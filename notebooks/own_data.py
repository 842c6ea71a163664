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
# # Use your own cohort
#
# This how-to takes you from an export of your own centre's data to a built copy of this
# book: the two tables to supply, template files to fill, the de-identification the
# validator enforces, how to read its problem report, and the build itself. It ends with a
# worked example, a second synthetic centre of a different size, built by one command.

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
output_dir = "outputs/own_data"
chapter = "own_data"

# %% tags=["hide-input"]
import shlex
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from analysis_lib import cli
from analysis_lib.book import report
from analysis_lib.data import schema, templates
from analysis_lib.data.validation import RULES, load_dataset, validate_dir
from analysis_lib.synthetic import centres
from analysis_lib.synthetic.generator import PUBLISHED_N, generate_cohort

data = load_dataset(data_dir)
display(report.data_notice(True, "The example rows and the second centre shown here are "
                           "synthetic whatever data this build was given."))
report.show_parameters(dict(data_dir=data_dir, output_dir=output_dir),
                       report.dataset_fingerprint(data.files))
display(report.source_links(chapter))
for t in schema.TABLES:
    report.glue_number(f"n_fields_{t.name}", len(t.fields))
report.glue_text("id_allowed", schema.PATIENTS.field("patient_id").allowed())
for rule in ("identifier_like", "calendar_date", "direct_identifier", "unknown_patient",
             "ambiguous_file", "empty_table"):
    report.glue_text(f"rule_{rule}", RULES[rule].rstrip("."))

# %% [markdown]
# ## What you supply
#
# A data directory with two tables, each one file named after the table:
#
# - `patients`: one row per infused patient ({glue:text}`n_fields_patients:d` columns:
#   baseline, lymphodepletion and dose, MRD, day-28 response, toxicity, B-cell aplasia,
#   transplantation, relapse, death and last follow-up);
# - `kinetics`: one row per blood sample ({glue:text}`n_fields_kinetics:d` columns: the
#   CAR-T transgene level by qPCR, with the assay's lower limit of quantification).
#
# Every `patient_id` in `kinetics` must appear in `patients`. Each table may be a `.csv`,
# `.parquet` or `.xlsx` file, but only one of them (rule `ambiguous_file`:
# {glue:md}`rule_ambiguous_file`).
# The {doc}`data dictionary <data_dictionary>` lists every column with its type, unit,
# allowed values and the place the paper uses it.

# %% [markdown]
# ## Start from a template
#
# The templates are generated from the same schemas as the validator, so their columns are
# exactly the ones it expects, in the same order:
#
# - {download}`patients.csv <outputs/own_data/templates/patients.csv>` and
#   {download}`kinetics.csv <outputs/own_data/templates/kinetics.csv>`: the header row only;
# - {download}`cartbook_template.xlsx <outputs/own_data/templates/cartbook_template.xlsx>`:
#   a `patients` and a `kinetics` sheet with dropdown lists for every categorical and
#   true/false column, patient codes formatted as text, and a `dictionary` sheet describing
#   each column.
#
# The same files are written by `cartbook template --out my_data` (add `--format csv` or
# `--format xlsx` for one kind only). Fill one row per patient and one row per sample; leave a
# cell empty when a value is missing. Then either save the two sheets as *CSV UTF-8* files
# named `patients.csv` and `kinetics.csv`, or save the filled workbook into the data
# directory twice, as `patients.xlsx` and `kinetics.xlsx`: each table is read from the sheet
# named after it, and the other sheets are ignored. Empty templates are not yet data:
# validating them reports only the rule `empty_table` ({glue:md}`rule_empty_table`).

# %% tags=["hide-input"]
template_files = templates.write_templates(Path(output_dir) / "templates")
report.show_table(templates.dictionary_frame().head(8)[["table", "column", "type", "unit",
                                                         "allowed_values"]],
                  "The first rows of the template's dictionary sheet.", "tbl-own-dictionary")

# %% [markdown]
# ## De-identify before you export
#
# The book needs no direct identifier, and the validator refuses the usual ones:
#
# - **Patients are study codes.** `patient_id` allows {glue:md}`id_allowed`. Keep the list
#   that links codes to patients at your centre, outside the data directory. A code that
#   looks like a record number is refused (rule `identifier_like`:
#   {glue:md}`rule_identifier_like`).
# - **Times are days from CAR-T infusion** (day 0; negative before it), never dates. A cell
#   that looks like a date is refused (rule `calendar_date`: {glue:md}`rule_calendar_date`).
# - **No names, birth dates, record numbers, contact details or date columns.** A column
#   named like one of them, or holding dates, is refused (rule `direct_identifier`:
#   {glue:md}`rule_direct_identifier`). Age is given in years at infusion.
#
# For data that are not marked synthetic, `cartbook build` also pseudonymises the patient
# codes in the outputs it publishes. No path of your machine is published either: the book
# names your data by the data folder's own name, or by the label you give with
# `cartbook build --label "Centre A"`, and shows it as plain text.

# %% [markdown]
# ## Validate and read the report
#
# `cartbook validate my_data` checks the whole directory and lists *every* problem, not just
# the first. Each problem names the file, the row (the line of a CSV file, counting the `#`
# metadata lines, blank lines and the header; the sheet row in Excel; the record number in
# Parquet), the column, the value as you wrote it, the rule it breaks and a message. The
# report starts with the root causes: problems with the files and their structure (a wrong
# format, a header that is not on the first line, decimal commas), then columns, records,
# cells, rows and the links between the tables; it shows at most ten problems of each rule
# ("… and 196 more like this"; `--all` shows every one). A semicolon-separated export with
# decimal commas, as spreadsheets write in European locales, can be read as it is with
# `--csv-dialect semicolon-decimal-comma`. The command exits with code
# {glue:text}`exit_ok:d` when there is no problem and {glue:text}`exit_invalid:d` otherwise.
#
# To show a real report, this page takes the first {glue:text}`broken_n_patients:d` patients
# of a synthetic cohort and their {glue:text}`broken_n_samples:d` samples
# ({download}`patients.csv <outputs/own_data/broken_example/patients.csv>`,
# {download}`kinetics.csv <outputs/own_data/broken_example/kinetics.csv>`) and plants
# {glue:text}`broken_n_mistakes:d` mistakes:
#
# {glue:md}`broken_mistakes`

# %% tags=["hide-input"]
# the example rows are always synthetic: this build's rows if they are, else generated ones
example = data.tables if data.synthetic else vars(generate_cohort())
broken_dir = Path(output_dir) / "broken_example"
broken_files = templates.broken_example(example["patients"], example["kinetics"], broken_dir)
mistakes = broken_files.mistakes
broken = validate_dir(broken_dir)
report.glue_number("exit_ok", cli.EXIT_OK)
report.glue_number("exit_invalid", cli.EXIT_INVALID)
report.glue_number("broken_n_patients", broken_files.n_patients)
report.glue_number("broken_n_samples", broken_files.n_samples)
report.glue_number("broken_n_mistakes", len(mistakes))
report.glue_number("broken_n_problems", len(broken.problems))
report.glue_text("broken_mistakes", "\n".join(
    f"- {m.why}: `{m.column}` of the {m.table} table written as "
    + (f"`{m.value}`" if m.value else "an empty cell") for m in mistakes))
report.show_table(report.escape_frame(broken.frame()),
                  "The validator's report on the broken example.", "tbl-own-problems")

# %% [markdown]
# The validator finds {glue:text}`broken_n_problems:d` problems ({numref}`tbl-own-problems`),
# one per planted mistake, with no knock-on noise: an invalid cell is reported once, not
# again by the checks that combine columns. At the terminal, the same report reads:

# %% tags=["hide-input"]
display(Markdown("````text\n$ cartbook validate broken_example\n" + broken.to_text()
                 + "\n````"))

# %% [markdown]
# Fix the cells the report names in your spreadsheet or export, and run the command again
# until it says that no problems were found.
#
# ## Build the book
#
# With valid data, one command builds the whole book (the first run creates the Python
# environment):
#
# ```text
# make book DATA=path/to/my_data
# ```
#
# or, in an environment that is already set up,
#
# ```text
# cartbook build --data path/to/my_data --build-dir path/to/my_build --label "Centre A"
# ```
#
# The site is written to `html/` inside the build directory (`_build/html/` for `make book`).
# The build validates first; then it executes every chapter and builds the book, keeping
# unchanged chapters from its cache on later runs. Its exit codes are stable for scripts
# ({numref}`tbl-own-exit-codes`). Whatever fails, nothing half-written is published: invalid
# data stop the build before anything is written, and a failing chapter or book build leaves
# the previous book in place. One build at a time uses a build directory: a second one waits
# for the first (or, with `--no-wait`, stops at once). Ctrl-C stops the build and everything it
# started, keeps the previous book, and keeps every chapter that had finished for the next run.

# %% tags=["hide-input"]
report.show_table(pd.DataFrame({
    "exit code": [str(cli.EXIT_OK), str(cli.EXIT_BUILD), str(cli.EXIT_USAGE),
                  str(cli.EXIT_INVALID), f"{cli.EXIT_SIGNAL} + signal"],
    "meaning": ["the book was built", "a chapter or the book build failed, or the build "
                "directory was made read-only, its disk is full or it was deleted; the "
                "previous book is unchanged (unless the directory itself was deleted)", "the command line was wrong, or `--no-wait` and another build is "
                "using the build directory", "the data are invalid; nothing was written (the "
                "report is printed)", "stopped by a signal: "
                f"{cli.EXIT_SIGNAL + 2} for Ctrl-C, {cli.EXIT_SIGNAL + 15} for SIGTERM; the "
                "previous book is unchanged"]}),
    "Exit codes of cartbook.", "tbl-own-exit-codes")

# %% [markdown]
# ## Worked example: a second centre
#
# To see the whole path without any patient data, `make example` generates a second synthetic
# centre, "centre B", with {glue:text}`centre_b_n:d` patients instead of
# {glue:text}`shipped_n:d`, another seed, and the model parameters of
# {numref}`tbl-own-centre-b-params` changed (counts are given per {glue:text}`count_base:d`
# patients and scaled to the cohort size; centre B infuses lower doses). It then builds the
# complete book from it with the parameters of `examples/centre_b.yml`: the dose cut at the
# centre's own median (`dose_cut: median`) instead of the paper's, and the survival screen at
# p < 0.1. The data are generated, not stored in the repository; `make example` runs:

# %% tags=["hide-input"]
shipped = generate_cohort()
centre_b = centres.CENTRE_B.generate()
data_b = "_build/example/centre_b/data"
report.glue_number("centre_b_n", centres.CENTRE_B.n)
report.glue_number("shipped_n", len(shipped.patients))
report.glue_number("count_base", PUBLISHED_N)
centre_b_commands = "\n".join([
    shlex.join(["cartbook", *centres.CENTRE_B.generate_argv(data_b)]),
    shlex.join(["cartbook", "build", "--data", data_b, "--build-dir",
                "_build/example/centre_b/_build", "--params", "examples/centre_b.yml"])])
report.glue_text("centre_b_commands", centre_b_commands)
display(Markdown("```text\n" + centre_b_commands + "\n```"))

# %% tags=["hide-input"]
report.show_table(centres.CENTRE_B.changes().map(lambda v: report.md_code(repr(v))),
                  "Parameters of the synthetic generator changed for centre B.",
                  "tbl-own-centre-b-params")
report.show_table(centres.contrast_table({"shipped cohort": shipped.patients,
                                            "centre B": centre_b.patients}),
                  "The shipped synthetic cohort and centre B.", "tbl-own-centre-b")

# %% [markdown]
# Every chapter of centre B's book then reports on its {glue:text}`centre_b_n:d` patients
# ({numref}`tbl-own-centre-b`): the cohort chapter's counts and percentages, the kinetics,
# the survival curves and the models all change with the data, while the scorecard keeps
# comparing them with the paper's published numbers. The test suite builds this example in
# continuous integration and checks that the pages show centre B's numbers.
