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
# # CAR-T cell kinetics
#
# How far the CAR-T cells expanded in peripheral blood, how fast and for how long they stayed
# detectable, and what went with more or less expansion. This chapter reproduces the paper's
# *PK of CAR-T cells* results: its {numref}`tbl-table3`, {numref}`fig-bca-correlations` and
# Supplementary {numref}`fig-tlast-correlations` and {numref}`fig-kinetics-by-burden`, with
# the paper's value under each of this build's and the scorecard's status as a coloured dot
# (hover over it for its meaning). Transgene levels are copies per µg genomic DNA by qPCR;
# times are days from infusion.
#
# Each patient's profile is summarised by non-compartmental analysis (NCA): the peak level
# (Cmax) and its day (Tmax), the last day with a level at or above the lower limit of
# quantification (Tlast, the persistence) and the area under the curve over the first 28 days
# (AUC0–28d), computed by the linear-up/log-down rule, with results below the LLOQ handled as in
# R's PKNCA {cite:p}`denney2015` (the rules are documented in the `analysis_lib.stats.nca` module). Groups are compared
# with the Mann–Whitney (Wilcoxon rank-sum) test {cite:p}`hollander1973` and associations with Spearman's rank
# correlation, both computed exactly as R's `wilcox.test` and `cor.test` do.

# %% tags=["parameters", "remove-cell"]
data_dir = "../data/synthetic"  # relative to notebooks/; the pipeline passes an absolute path
output_dir = "outputs/kinetics"
chapter = "kinetics"
min_cell_count = 0  # counts 1..k-1 shown as "<k" (0: off; analysis_lib.data.privacy)
age_cut_years = 10.0
mrd_cuts = [1e-4, 1e-3, 1e-2]
mrd_negative_below = 1e-4
dose_cut = 3.68  # 10^6 cells/kg: the cohort median of the paper (Table 3's cut), or "median"
conf_level = 0.95
auc_method = "linear-up/log-down"
expansion_threshold = None  # copies/µg DNA, or None for twice the LLOQ of the assay
mw_method = "auto"  # Mann-Whitney: "auto" (R's rule), "exact" or "asymptotic"
mw_correct = True  # continuity correction of the normal approximation (R's default)
spearman_method = "auto"  # Spearman p: "auto" (R's default) or "asymptotic" (t approximation)
lambda_z_min_points = 3  # terminal phase: fewest measurable levels after the peak (WinNonlin: 3)
lambda_z_adj_r2_tolerance = 1e-4  # best fit: adjusted R² within this of the best (WinNonlin)

# %% tags=["hide-input"]
from analysis_lib.analyses import kinetics, options
from analysis_lib.book import report
from analysis_lib.book.figures import kinetics as plots
from analysis_lib.book.figures import profiles

data = report.open_chapter(
    chapter, data_dir, min_cell_count,
    dict(data_dir=data_dir, output_dir=output_dir, **options.chapter_values(chapter, globals())))
res = kinetics.analyse(
    data.tables["patients"], data.tables["kinetics"], age_cut_years=age_cut_years,
    mrd_cuts=mrd_cuts, mrd_negative_below=mrd_negative_below,
    dose_threshold=options.resolve("dose_cut", dose_cut, data.tables["patients"]),
    conf_level=conf_level, auc_method=auc_method, expansion_threshold=expansion_threshold,
    mw_method=mw_method, mw_correct=mw_correct, spearman_method=spearman_method,
    lambda_z_min_points=lambda_z_min_points,
    lambda_z_adj_r2_tolerance=lambda_z_adj_r2_tolerance, synthetic=data.synthetic,
    changed=data.changed)
report.glue_all(res.glue)

# %% [markdown]
# (sec-kinetics-expansion)=
# ## Expansion, peak and persistence
#
# The analysis includes {glue:md}`n_patients_text` patients and {glue:md}`n_samples_text`
# blood samples. Counting as expansion {glue:md}`expansion_rule` (the paper gives no
# threshold; this choice is explained in the methods of `analysis_lib.analyses.kinetics`),
# CAR-T cells expanded in {glue:md}`expanded_text`; the paper reports
# {glue:md}`paper_expansion`. The median time to the peak (Tmax) was
# {glue:md}`tmax_median_text` days (range
# {glue:md}`tmax_min_text`–{glue:md}`tmax_max_text`) and the median peak level (Cmax)
# {glue:md}`cmax_median_text` copies/µg DNA (range
# {glue:md}`cmax_min_text`–{glue:md}`cmax_max_text`; among the patients with expansion
# the lowest peak was {glue:md}`cmax_min_expanded_text`). The geometric mean Cmax was
# {glue:md}`cmax_geo_text`. CAR-T cells stayed detectable for a median
# of {glue:md}`tlast_median_text` days (Tlast; range
# {glue:md}`tlast_min_text`–{glue:md}`tlast_max_text`),
# and in {glue:md}`n_persistence_ended_text` patients monitoring stopped after two consecutive
# results below the LLOQ of {glue:md}`lloq_text` copies/µg. {numref}`tbl-kinetics-summary`
# gives all four parameters, with the paper's medians and ranges under those it prints;
# {numref}`fig-kinetic-profiles` shows every profile.

# %% tags=["hide-input"]
report.show_table(plots.beside_table(res.tables["tbl-kinetics-summary"]),
                  "Kinetic parameters over all patients and over those with expansion: median "
                  "(range), geometric mean with its t-based confidence interval on the log "
                  "scale, and geometric coefficient of variation. Under a median, the paper's "
                  "median (range) with the scorecard's status.", "tbl-kinetics-summary")
summary_csv = report.write_output(res.downloads["kinetics_summary"], output_dir,
                                  "kinetics_summary", data.synthetic)

# %% [markdown]
# The table as a file: {download}`kinetics_summary.csv <outputs/kinetics/kinetics_summary.csv>`.
#
# ```{glue:figure} fig_kinetic_profiles
# :name: fig-kinetic-profiles
#
# {glue:md}`profiles_caption`
# ```

# %% tags=["hide-input", "remove-output"]
report.glue_text("profiles_caption", profiles.profiles_caption(
    res.samples.loc[res.samples["day"] >= 0, "patient_id"].nunique()))
report.glue_figure("fig_kinetic_profiles",
                   plots.kinetic_profiles(res.samples, res.response, res.lloq))

# %% [markdown]
# {numref}`tbl-nca` lists the patients' parameters. Patients are numbered by decreasing
# Cmax, not by study code; the same table with study codes, and with Clast, AUClast and the
# NCA's notes, is available as a file:
# {download}`kinetic_parameters.csv <outputs/kinetics/kinetic_parameters.csv>`.

# %% tags=["hide-input"]
report.show_listing(res.tables["tbl-nca"],
                  "Non-compartmental parameters of each patient (linear-up/log-down AUC; "
                  "Tlast: last day with a level at or above the LLOQ). \"Monitoring ended\": "
                  "two consecutive results below the LLOQ after Tlast.", "tbl-nca")
nca_csv = report.write_output(res.downloads["kinetic_parameters"], output_dir,
                              "kinetic_parameters", data.synthetic)

# %% [markdown]
# (sec-kinetics-response)=
# ## Kinetics and day-28 response
#
# The {glue:md}`n_mrdcr_text` patients in MRD-negative CR/CRi at day 28 had a geometric mean
# Cmax of {glue:md}`gm_cmax_mrdcr_text`, against {glue:md}`gm_cmax_other_text` in the other
# {glue:md}`n_other_text` ({numref}`tbl-gm-response`; Mann–Whitney
# {glue:md}`p_mrdcr_cmax_text`, {glue:md}`mrdcr_cmax_method` method). Their median exposure
# (AUC0–28d) was {glue:md}`mrdcr_auc_cmp` that of the others ({glue:md}`p_mrdcr_auc_text`,
# {glue:md}`mrdcr_auc_method` method) and their median persistence (Tlast)
# {glue:md}`mrdcr_tlast_cmp` that of the others ({glue:md}`p_mrdcr_tlast_text`,
# {glue:md}`mrdcr_tlast_method` method). For comparison, the normal approximation without
# continuity correction, which SPSS reports as "Asymp. Sig." and to which the paper's p-values
# for this comparison correspond, gives {glue:md}`p_mrdcr_cmax_uncorrected_text` for Cmax.
# {numref}`fig-median-profiles` shows the median profiles of the two groups.

# %% tags=["hide-input"]
report.show_table(plots.beside_table(res.tables["tbl-gm-response"]),
                  "Cmax (copies/µg DNA) by day-28 response: median, geometric mean with its "
                  "t-based confidence interval on the log scale (not estimable with fewer "
                  f"than {kinetics.MIN_N_GEOMETRIC_CI} patients), geometric CV and the "
                  "two-sided Mann–Whitney p-value. "
                  "Under each value the paper prints, the paper's value (its text and Table 3) "
                  "with the scorecard's status.", "tbl-gm-response")
gm_csv = report.write_output(res.downloads["cmax_by_response"], output_dir,
                             "cmax_by_response", data.synthetic)

# %% [markdown]
# The table as a file: {download}`cmax_by_response.csv <outputs/kinetics/cmax_by_response.csv>`.
#
# ```{glue:figure} fig_median_profiles
# :name: fig-median-profiles
#
# Median CAR-T transgene level (points and line) and interquartile range (band) on the
# scheduled sampling days, by day-28 response, on log scales. Results below the LLOQ rank
# below every measurable level; a median that depends on such a result is drawn as an open
# triangle on the LLOQ line (dashed), not as a number. A patient whose monitoring stopped after
# two consecutive results below the LLOQ counts as below the LLOQ on later scheduled days, up
# to the last follow-up. The numbers under the points are the patients counted on each day.
# ```

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_median_profiles", plots.median_profiles(res.profiles))

# %% [markdown]
# (sec-kinetics-table3)=
# ## Clinical factors and kinetics (Table 3)
#
# {numref}`tbl-table3` reproduces the paper's Table 3: median Cmax, AUC0–28d and Tlast in
# each group of each clinical factor, with the two-sided Mann–Whitney p-value of each
# comparison, and under every cell the paper's value with the scorecard's status. The paper
# does not say which variant of the test it used; here the p-values follow
# {glue:md}`mw_rule`. Of the {glue:md}`n_tests_text` comparisons,
# {glue:md}`n_tests_exact_text` used the exact test and {glue:md}`n_tests_asymptotic_text` the
# normal approximation (Tlast takes the values of the sampling days, so it has ties).
#
# With corticosteroids after infusion, the median Cmax was {glue:md}`steroids_cmax_cmp`
# without ({glue:md}`steroids_cmax_text`), the median AUC0–28d {glue:md}`steroids_auc_cmp`
# without ({glue:md}`steroids_auc_text`) and the median Tlast {glue:md}`steroids_tlast_cmp`
# without ({glue:md}`steroids_tlast_text`). With grade ≥3 CRS, the median Cmax was
# {glue:md}`crs_cmax_cmp` with grade 0–2 ({glue:md}`crs_cmax_text`) and the median AUC0–28d
# {glue:md}`crs_auc_cmp` with grade 0–2 ({glue:md}`p_crs_auc_text`); with ICANS, the median
# Cmax was {glue:md}`icans_cmax_cmp` without ({glue:md}`icans_cmax_text`). The paper reports the
# corticosteroid differences as significant and the CRS and ICANS differences as upward
# trends that did not reach significance.

# %% tags=["hide-input"]
report.show_table(plots.table3_table(res.tables["tbl-table3"]),
                  "Reproduces the paper's Table 3, clinical determinants of CAR-T kinetics "
                  "(qPCR, peripheral blood): number of patients (N) and median Cmax, AUC0–28d "
                  "and Tlast in each group. On each factor's row, the two-sided Mann–Whitney "
                  "p-value of the parameter in that column (the paper prints it in a p column "
                  "after the median). Under each of this build's values, the paper's value and "
                  "the scorecard's status (hover over the dot). MRD cut-points, age cut and "
                  "dose threshold are those in the parameters of this run.",
                  "tbl-table3")
t3_csv = report.write_output(res.downloads["table3_kinetics_by_factor"], output_dir,
                             "table3_kinetics_by_factor", data.synthetic)
t3_paper_csv = report.write_output(res.downloads["table3_published_vs_reproduced"],
                                   output_dir, "table3_published_vs_reproduced",
                                   data.synthetic)
report.glue_text("table3_status_legend", plots.status_legend(res.tables["tbl-table3"]))

# %% [markdown]
# The scorecard's status of the table's cells (defined on the {doc}`scorecard` page):
# {glue:md}`table3_status_legend`. Table 3 as files: this build's values with the method of
# every test,
# {download}`table3_kinetics_by_factor.csv <outputs/kinetics/table3_kinetics_by_factor.csv>`,
# and every cell beside the paper's with its status,
# {download}`table3_published_vs_reproduced.csv <outputs/kinetics/table3_published_vs_reproduced.csv>`.
#
# (sec-kinetics-burden)=
# ## Tumour burden (Supplementary Figure S4)
#
# With post-lymphodepletion MRD of at least {glue:md}`burden_cut`, the median Cmax was
# {glue:md}`postld_cmax_cmp` below it ({glue:md}`postld_cmax_text`) and the median AUC0–28d
# {glue:md}`postld_auc_cmp` below it ({glue:md}`p_postld_auc_text`);
# {numref}`fig-kinetics-by-burden` shows the three parameters across the four MRD strata
# before and after lymphodepletion. The paper describes an upward trend in expansion with
# tumour burden that did not reach significance.
#
# ```{glue:figure} fig_kinetics_by_burden
# :name: fig-kinetics-by-burden
#
# Reproduces the paper's Supplementary Figure S4: Cmax (top), AUC0–28d (middle) and Tlast
# (bottom) by bone-marrow MRD before (left) and after (right) lymphodepletion. Boxes show the
# quartiles and the median; every patient is a point. Cmax and AUC are on log scales.
# {glue:md}`paper_burden`
# ```

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_kinetics_by_burden", plots.kinetics_by_burden(res.params, res.mrd_cuts))

# %% [markdown]
# (sec-kinetics-persistence)=
# ## Expansion and persistence (Supplementary Figure S3)
#
# Spearman's rank correlation between persistence and expansion, Tlast against Cmax, was
# {glue:md}`r_tlast_cmax_text` ({glue:md}`p_tlast_cmax_text`, n = {glue:md}`n_tlast_cmax_text`),
# and between Tlast and AUC0–28d {glue:md}`r_tlast_auc_text` ({glue:md}`p_tlast_auc_text`)
# ({numref}`fig-tlast-correlations`). P-values follow R's `cor.test`, here using
# {glue:md}`spearman_method`.
#
# ```{glue:figure} fig_tlast_correlations
# :name: fig-tlast-correlations
#
# Reproduces the paper's Supplementary Figure S3: Tlast against Cmax (left) and AUC0–28d
# (right), with this build's Spearman r, its p-value and the number of patients above each
# panel and the paper's r and p under them. Cmax and AUC on log scales.
# {glue:md}`paper_tlast_correlations`
# ```

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_tlast_correlations",
                   plots.correlation_panels(res.params, res.correlations,
                                            ["tlast_cmax", "tlast_auc"], res.figure_notes))

# %% [markdown]
# (sec-kinetics-bca)=
# ## B-cell aplasia and kinetics (Figure 2)
#
# B-cell aplasia developed in {glue:md}`bca_text`, with onset between days
# {glue:md}`bca_onset_min_text` and {glue:md}`bca_onset_max_text` and a median duration of
# {glue:md}`bca_duration_median_text` days ({glue:md}`n_bca_ongoing_text` aplasias were still
# ongoing at the last assessment and count up to it; paper: {glue:md}`paper_bca`). The paper
# reports a strong correlation of the duration with persistence and none with expansion.
# Here, the correlation of the duration against CAR-T persistence gave
# r = {glue:md}`r_bca_tlast_text` ({glue:md}`p_bca_tlast_text`,
# n = {glue:md}`n_bca_tlast_text`), and against expansion (Cmax:
# r = {glue:md}`r_bca_cmax_text`, {glue:md}`p_bca_cmax_text`; AUC0–28d:
# r = {glue:md}`r_bca_auc_text`, {glue:md}`p_bca_auc_text`; {numref}`fig-bca-correlations`).
#
# ```{glue:figure} fig_bca_correlations
# :name: fig-bca-correlations
#
# Reproduces the paper's Figure 2: duration of B-cell aplasia (log scale) against Tlast, Cmax
# and AUC0–28d in the patients with B-cell aplasia, with this build's Spearman r, its p-value
# and the number of patients above each panel and the paper's result under them.
# {glue:md}`paper_bca_correlations`
# ```

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_bca_correlations",
                   plots.correlation_panels(res.params, res.correlations,
                                            ["bca_tlast", "bca_cmax", "bca_auc"],
                                            res.figure_notes))

# %% [markdown]
# (sec-kinetics-half-life)=
# ## Persistence-phase half-life (beyond the paper)
#
# ```{admonition} Not in the paper
# :class: note
# The paper measures persistence by Tlast only and reports no half-life. This section is an
# addition of this re-analysis; nothing in it can be compared with a published number.
# ```
#
# Tlast says how long the CAR-T cells stayed detectable; the terminal half-life says how fast
# their level fell once the peak had passed. For each patient, the log level was regressed on
# time over the last measurable levels after the peak (at least
# {glue:md}`hl_min_points_text`, all ending at Tlast), the window chosen by the best-fit rule
# of Phoenix WinNonlin {cite:p}`certara_winnonlin`: the largest adjusted R², and among the
# windows within {glue:md}`hl_tolerance_text` of it the one with the most points, with a
# falling slope. The half-life is ln 2 / λz, λz the rate constant of that regression. Levels
# below the LLOQ of {glue:md}`lloq_text` copies/µg never enter the regression.
#
# The terminal phase was estimable in {glue:md}`hl_estimable_text`; of the others,
# {glue:md}`hl_reasons_text`. The median half-life was {glue:md}`hl_all_text`: in the patients
# in MRD-negative CR/CRi at day 28, {glue:md}`hl_mrdcr_text`, and in the others,
# {glue:md}`hl_other_text` ({glue:md}`hl_test_text`; {numref}`tbl-half-life`,
# {numref}`fig-half-life`). The regressions used a median of
# {glue:md}`hl_points_median_text` levels (adjusted R² median
# {glue:md}`hl_adj_r2_median_text`, lowest {glue:md}`hl_adj_r2_min_text`).
# Samples are frequent in the first month and then weeks to months apart, so most windows
# span the contraction after the peak: these half-lives describe the decline the sampling can
# resolve rather than the slow persistence phase of model-based analyses
# {cite:p}`stein2019`, and a patient whose level fell below the LLOQ soon after the peak has
# none.

# %% tags=["hide-input"]
report.show_table(res.tables["tbl-half-life"],
                  "Persistence-phase half-life (beyond the paper) by day-28 response: patients "
                  "with an estimable terminal phase (at least the minimum number of measurable "
                  "levels after the peak, best-fit rule of Phoenix WinNonlin), median (range) "
                  "half-life in days, points used, adjusted R², and the two-sided "
                  "Mann–Whitney p-value (R's rules) between the two groups.",
                  "tbl-half-life")
hl_summary_csv = report.write_output(res.downloads["persistence_half_life_summary"],
                                     output_dir, "persistence_half_life_summary",
                                     data.synthetic)

# %% [markdown]
# The table as a file:
# {download}`persistence_half_life_summary.csv <outputs/kinetics/persistence_half_life_summary.csv>`.
#
# ```{glue:figure} fig_half_life
# :name: fig-half-life
#
# Persistence-phase half-life (beyond the paper; log scale) of every patient with an
# estimable terminal phase: by day-28 response (left; boxes show the quartiles and the median,
# every patient is a point, with the number of patients with a half-life out of the group's
# patients), and against the first day of the regression window (right; log scale).
# ```

# %% tags=["hide-input", "remove-output"]
report.glue_figure("fig_half_life", plots.half_life_by_response(res.half_life.per_patient,
                                                                res.half_life.test.p_value))

# %% [markdown]
# {numref}`tbl-half-life-patients` lists each of these patients, numbered as in
# {numref}`tbl-nca`; the same values with study codes, and the reason for every patient
# without a half-life, are available as a file:
# {download}`persistence_half_life.csv <outputs/kinetics/persistence_half_life.csv>`.

# %% tags=["hide-input"]
report.show_listing(res.tables["tbl-half-life-patients"],
                  "Persistence-phase half-life of each patient with an estimable terminal "
                  "phase (beyond the paper), numbered as in the table of NCA parameters: "
                  "half-life, terminal rate constant λz, the measurable levels used and their "
                  "days, adjusted R² of the regression, and the share of AUC extrapolated "
                  "from Tlast to infinity.", "tbl-half-life-patients")
hl_csv = report.write_output(res.downloads["persistence_half_life"], output_dir,
                             "persistence_half_life", data.synthetic)

# %% [markdown]
# (sec-kinetics-comparison)=
# ## How these results compare with the paper
#
# {glue:md}`comparison_note`
