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
# Every number the paper prints in its text and in Tables 1–3, and every claim it makes of
# significance or direction, beside what this book computes. Published numbers come from the
# registry `data/published/registry.csv`, the claims from `data/published/claims.csv`; the
# reproduced values are read from the executed chapters, by the key under which each chapter
# glued them, so the scorecard shows exactly what the chapters show. Each published number is
# paired with its reproduced value by a stable key that names the paper's row, level and
# cut-point, never by position or label text.

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
notebooks_dir = "../_build/cache"
chapter = "scorecard"
min_cell_count = 0  # counts 1..k-1 shown as "<k" (0: off; analysis_lib.data.privacy)

# %% tags=["hide-input"]
from analysis_lib.analyses import options
from analysis_lib.book import report
from analysis_lib.core import formatting
from analysis_lib.paper import audit, registry
from analysis_lib.paper import scorecard as sc

data = report.open_chapter(
    chapter, data_dir, min_cell_count,
    dict(data_dir=data_dir, notebooks_dir=notebooks_dir,
         **options.chapter_values(chapter, globals())))

# %% tags=["hide-input"]
chapters = ["cohort", "kinetics", "survival", "toxicity"]
changed, affected = report.parameter_changes(notebooks_dir, chapters, data.tables["patients"])
card = sc.scorecard(registry.load_registry(), sc.load_map(),
                    report.collect_glued(notebooks_dir, chapters), sc.load_claims(), affected)
s = sc.score(card)
for k, v in s.items():
    report.glue_number(f"score_{k}", v)
report.glue_text("score_sentence", sc.score_sentence(s))
report.glue_text("status_counts", sc.status_counts_text(card, "number"))
report.glue_text("claim_counts", sc.status_counts_text(card, "claim"))
report.glue_text("rules_version", sc.STATUS_RULES_VERSION)
report.glue_text("score_numbers_total_text", formatting.count(s["numbers_total"]))
report.glue_text("score_claims_eligible_text", formatting.count(s["claims_eligible"]))
card_csv = report.write_output(sc.download_frame(card), "outputs/scorecard", "scorecard",
                               data.synthetic)

# %% [markdown]
# ## The answer
#
# **Final score: {glue:md}`score_sentence`.** Of the {glue:md}`score_numbers_total_text`
# distinct numbers the paper reports about this cohort, {glue:md}`status_counts`. Of the
# {glue:md}`score_claims_eligible_text` claims, {glue:md}`claim_counts`
# ({numref}`tbl-scorecard-summary`). Numbers that describe the study's design, that the audit
# shows the paper's own numbers contradict, or that are left unscored for a stated reason
# cannot be reproduced by any data and are not scorable. With the shipped synthetic cohort,
# agreement shows that the generator and the analyses fit together, not that the paper's
# findings are confirmed. This score is also the objective the synthetic cohort was chosen by
# ({doc}`synthetic_data`). When the build suppresses small counts, a reproduced count of 1 to
# k-1 patients or events, and a percentage of patients resting on one, reads "<k" and gets
# the status *suppressed (small count)* instead of a comparison with the paper (which would
# give the count away); such numbers are left out of the score.

# %% tags=["hide-input"]
if changed:
    display(report.changed_note(changed, len(affected)))
report.show_table(sc.breakdown_table(s), "Reproduction status of the paper's numbers and "
                  "claims (definitions in the next table).", "tbl-scorecard-summary")

# %% [markdown]
# ## What each status means
#
# One function decides every status (`analysis_lib.paper.scorecard.classify`), and every page of the
# book reads it from the same scorecard. The rules are applied in the order of
# {numref}`tbl-status-definitions` (version {glue:md}`rules_version` of the definitions, which
# the downloadable file carries). Sampling standard errors follow stated principles: the
# binomial SE of a percentage, Fisher's z for a correlation {cite:p}`fieller1957`, the SE of a
# median from its range {cite:p}`wan2014`, or the published CI where the audit finds it
# feasible. Hover over a status badge to see its definition.

# %% tags=["hide-input"]
report.show_table(sc.definitions_table(), "Status definitions, in the order the rules are "
                  "applied.", "tbl-status-definitions")

# %% [markdown]
# ## Every number and claim
#
# Filter the tables by status and by the section of the paper; the last column links to the
# exact table, figure or section of the chapter that shows the reproduced value. The full
# scorecard, with each status's definition, is downloadable:
# {download}`scorecard.csv <outputs/scorecard/scorecard.csv>`.

# %% tags=["hide-input"]
numbers = card[card["kind"] == "number"]
report.show_table(sc.display_table(numbers), "Scorecard of the published numbers: where each "
                  "stands in the paper, the published and the reproduced value, the status "
                  "and where the book shows it.", "tbl-scorecard-numbers")

# %% tags=["hide-input"]
report.show_table(sc.display_table(card[card["kind"] == "claim"]),
                  "Scorecard of the paper's claims of significance and direction: what the "
                  "paper states, what this build finds (p-values of the tests that bear on "
                  "each claim), the status and where the book shows the tests.",
                  "tbl-scorecard-claims")

# %% tags=["hide-input"]
checks = audit.run_audit()
found = audit.inconsistencies(checks)
audit_counts = {"audit_n_checks": len(checks), "audit_n_inconsistent": len(found),
                "audit_n_decision": int((found["severity"] == "decision").sum())}
for key, n in audit_counts.items():
    report.glue_number(key, n)
    report.glue_text(f"{key}_text", formatting.count(n))

# %% [markdown]
# (sec-scorecard-audit)=
# ## Audit of the paper's internal consistency
#
# Independently of any data, the paper's numbers can be checked against each other, in the
# spirit of statcheck {cite:p}`nuijten2016` and GRIM {cite:p}`brown2017`: p-values
# recomputed from the reported ratio CIs {cite:p}`altman2011`, CIs checked for symmetry on
# the log scale, percentages against their counts, medians against ranges and group medians,
# geometric means against medians and maxima, counts that must add up, and thresholds used
# across text and tables. A printed number stands for every value that rounds to it, so a
# check fails only when no rounding of the inputs can reproduce the printed result
# (`analysis_lib.paper.audit`). Of {glue:md}`audit_n_checks_text` checks,
# {glue:md}`audit_n_inconsistent_text` find an inconsistency ({numref}`tbl-audit-summary`),
# {glue:md}`audit_n_decision_text` of them a decision error (a printed p on the other side of
# 0.05 from the one its own CI implies). {numref}`tbl-audit-findings` shows each with the
# arithmetic that exposes it; the chapter on the synthetic cohort lists the published
# numbers that no data could produce. Where a finding concerns only a printed interval (a CI
# too narrow for 50 patients, a range, a ± SE), the scorecard marks the interval and scores
# the point estimate.

# %% tags=["hide-input"]
summ = audit.audit_summary(checks).reset_index()
report.show_table(summ[["check", "total", "consistent", "inconsistent", "not checkable"]]
                  .rename(columns=str.capitalize),
                  "Consistency checks run over the registry of published numbers.",
                  "tbl-audit-summary")

# %% tags=["hide-input"]
shown = found[["location", "published", "recomputed", "severity", "arithmetic"]].map(
    lambda v: formatting.prose(str(v).replace("\n", "; ")))
shown["arithmetic"] = shown["arithmetic"].map(lambda v: report.md_code(v, None))
report.show_table(shown.rename(columns=str.capitalize),
                  "Inconsistencies in the published numbers, with the arithmetic.",
                  "tbl-audit-findings")
