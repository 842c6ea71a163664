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
# *PK of CAR-T cells* results, its Table 3, Figure 2 and Supplementary Figures S3 and S4.
# Transgene levels are copies per µg genomic DNA by qPCR; times are days from infusion.
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

# %% tags=["remove-input"]
import pandas as pd

from analysis_lib.analyses import kinetics, options
from analysis_lib.book import report
from analysis_lib.book.figures import kinetics as plots
from analysis_lib.core import formatting, units
from analysis_lib.core.units import format_mrd
from analysis_lib.stats import rank_tests
from analysis_lib.stats.nca import TerminalRules

data = report.open_chapter(
    chapter, data_dir, min_cell_count,
    dict(data_dir=data_dir, output_dir=output_dir, **options.chapter_values(chapter, globals())))
patients = data.tables["patients"]
dose_cut = options.resolve("dose_cut", dose_cut, patients)
samples = data.tables["kinetics"]

# %% tags=["remove-cell"]
terminal_rules = TerminalRules(min_points=lambda_z_min_points,
                               adj_r_squared_tolerance=lambda_z_adj_r2_tolerance)
params = kinetics.kinetic_parameters(samples, patients, auc_method=auc_method,
                                     expansion_threshold=expansion_threshold,
                                     mrd_negative_below=mrd_negative_below,
                                     terminal_rules=terminal_rules)
lloq = kinetics.assay_lloq(samples)
n = len(params)
n_expanded = int(params["expanded"].sum())
report.glue_number("n_patients", n)
report.glue_number("n_samples", len(samples))
report.glue_number("lloq", lloq)
report.glue_number("n_expanded", n_expanded)
report.glue_number("pct_expanded", 100 * n_expanded / n)
report.glue_text("expansion_rule",
                 f"a peak of at least {kinetics.EXPANSION_LLOQ_MULTIPLE:g} × the LLOQ"
                 if expansion_threshold is None
                 else f"a peak of at least {expansion_threshold:,g} copies/µg DNA")
summary_all = kinetics.summarise(params, conf_level=conf_level)
summary_exp = kinetics.summarise(params, subset=params["expanded"], conf_level=conf_level)
for row in summary_all.itertuples():
    for stat in ("median", "min", "max", "geo_mean", "geo_ci_low", "geo_ci_high", "geo_cv_pct"):
        report.glue_number(f"{row.parameter}_{stat}", float(getattr(row, stat)))
    report.glue_number(f"{row.parameter}_n", int(row.n))
exp_cmax = summary_exp.set_index("parameter").loc["cmax"]
report.glue_number("cmax_min_expanded", float(exp_cmax["min"]))
report.glue_number("cmax_median_expanded", float(exp_cmax["median"]))
report.glue_number("n_persistence_ended", int(params["persistence_ended"].sum()))

# %% [markdown]
# (sec-kinetics-expansion)=
# ## Expansion, peak and persistence
#
# The analysis includes {glue:text}`n_patients:d` patients and {glue:text}`n_samples:d`
# blood samples. Counting as expansion {glue:md}`expansion_rule` (the paper gives no
# threshold; this choice is explained in the methods of `analysis_lib.analyses.kinetics`), CAR-T cells
# expanded in {glue:text}`n_expanded:d` of {glue:text}`n_patients:d` patients
# ({glue:text}`pct_expanded:.1f`%). The median time to the peak (Tmax) was
# {glue:text}`tmax_median:.1f` days (range {glue:text}`tmax_min:.0f`–{glue:text}`tmax_max:.0f`)
# and the median peak level (Cmax) {glue:text}`cmax_median:,.0f` copies/µg DNA (range
# {glue:text}`cmax_min:,.0f`–{glue:text}`cmax_max:,.0f`; among the patients with expansion
# the lowest peak was {glue:text}`cmax_min_expanded:,.0f`). The geometric mean Cmax was
# {glue:text}`cmax_geo_mean:,.0f` copies/µg DNA
# ({glue:text}`cmax_geo_ci_low:,.0f`–{glue:text}`cmax_geo_ci_high:,.0f`;
# geometric CV {glue:text}`cmax_geo_cv_pct:.0f`%). CAR-T cells stayed detectable for a median
# of {glue:text}`tlast_median:.0f` days (Tlast; range
# {glue:text}`tlast_min:.0f`–{glue:text}`tlast_max:.0f`),
# and in {glue:text}`n_persistence_ended:d` patients monitoring stopped after two consecutive
# results below the LLOQ of {glue:text}`lloq:g` copies/µg. {numref}`tbl-kinetics-summary`
# gives all four parameters, {numref}`fig-kinetic-profiles` every profile.

# %% tags=["remove-input"]
summary_all["population"] = "All"
summary_exp["population"] = "With expansion"
shown = kinetics.summary_display(pd.concat([summary_all, summary_exp], ignore_index=True),
                                 conf_level)
report.show_table(shown, "Kinetic parameters over all patients and over those with "
                  "expansion: median (range), geometric mean with its t-based confidence "
                  "interval on the log scale, and geometric coefficient of variation.",
                  "tbl-kinetics-summary")

# %% tags=["remove-cell"]
report.glue_figure("fig_kinetic_profiles", plots.kinetic_profiles(
    samples, params.set_index("patient_id")["mrd_cr"], lloq))

# %% [markdown]
# ```{glue:figure} fig_kinetic_profiles
# :name: fig-kinetic-profiles
#
# Individual CAR-T transgene levels (log scale) in the first 28 days (top) and over the whole
# monitoring period (bottom), one line per patient, coloured by day-28 response. Open
# triangles are results below the LLOQ, drawn at half the LLOQ; the dashed line is the LLOQ.
# ```
#
# {numref}`tbl-nca` lists every patient's parameters. Patients are numbered by decreasing
# Cmax, not by study code; the same table with study codes, and with Clast, AUClast and the
# NCA's notes, is available as a file:
# {download}`kinetic_parameters.csv <outputs/kinetics/kinetic_parameters.csv>`.

# %% tags=["remove-input"]
report.show_table(kinetics.nca_display(params),
                  "Non-compartmental parameters of each patient (linear-up/log-down AUC; "
                  "Tlast: last day with a level at or above the LLOQ). \"Monitoring ended\": "
                  "two consecutive results below the LLOQ after Tlast.", "tbl-nca")
nca_csv = report.write_output(kinetics.nca_table(params), output_dir, "kinetic_parameters",
                              data.synthetic)

# %% tags=["remove-cell"]
gm = kinetics.geometric_means(params, "mrd_cr", "cmax", conf_level=conf_level,
                              method=mw_method, correct=mw_correct)
t3 = kinetics.table3(params, kinetics.table3_factors(age_cut=age_cut_years, mrd_cuts=mrd_cuts,
                                                     dose_threshold=dose_cut),
                     method=mw_method, correct=mw_correct)
for key, level in (("mrdcr", True), ("other", False)):
    row = gm[gm["level"] == level].iloc[0]
    report.glue_number(f"n_{key}", int(row["n"]))
    for stat in ("geo_mean", "geo_ci_low", "geo_ci_high", "median"):
        report.glue_number(f"gm_cmax_{key}_{stat}", float(row[stat]))
    report.glue_text(f"gm_cmax_{key}_text",
                     f"{formatting.format_value(row['geo_mean'])} copies/µg DNA "
                     f"({round(100 * conf_level)}% CI {formatting.format_value(row['geo_ci_low'])}"
                     f" to {formatting.format_value(row['geo_ci_high'])})")
resp = {p: kinetics.contrast(t3, "mrd_cr_d28", p) for p in ("cmax", "auc", "tlast")}
for p, c in resp.items():
    report.glue_number(f"p_mrdcr_{p}", c.p_value)
    report.glue_text(f"p_mrdcr_{p}_text", formatting.p_text(c.p_value))
    report.glue_text(f"mrdcr_{p}_method", c.method)
    report.glue_text(f"mrdcr_{p}_cmp", c.comparison)
for key, value in kinetics.table3_cells(t3).items():  # identity keys, as in the registry
    report.glue_number(key, value)
spss = rank_tests.mann_whitney(params["cmax"], params["mrd_cr"], "asymptotic", correct=False,
                             levels=(True, False))
report.glue_number("p_mrdcr_cmax_uncorrected", spss.p_value)
report.glue_text("p_mrdcr_cmax_uncorrected_text", formatting.p_text(spss.p_value))

# %% [markdown]
# (sec-kinetics-response)=
# ## Kinetics and day-28 response
#
# The {glue:text}`n_mrdcr:d` patients in MRD-negative CR/CRi at day 28 had a geometric mean
# Cmax of {glue:md}`gm_cmax_mrdcr_text`, against {glue:md}`gm_cmax_other_text` in the other
# {glue:text}`n_other:d` ({numref}`tbl-gm-response`; Mann–Whitney
# {glue:md}`p_mrdcr_cmax_text`, {glue:md}`mrdcr_cmax_method` method). Their median exposure
# (AUC0–28d) was {glue:md}`mrdcr_auc_cmp` that of the others ({glue:md}`p_mrdcr_auc_text`,
# {glue:md}`mrdcr_auc_method` method) and their median persistence (Tlast)
# {glue:md}`mrdcr_tlast_cmp` that of the others ({glue:md}`p_mrdcr_tlast_text`,
# {glue:md}`mrdcr_tlast_method` method). For comparison, the normal approximation without
# continuity correction, which SPSS reports as "Asymp. Sig." and to which the paper's p-values
# for this comparison correspond, gives {glue:md}`p_mrdcr_cmax_uncorrected_text` for Cmax.
# {numref}`fig-median-profiles` shows the median profiles of the two groups.

# %% tags=["remove-input"]
report.show_table(kinetics.geometric_means_display(gm, conf_level),
                  "Cmax (copies/µg DNA) by day-28 response: median, geometric mean with its "
                  "t-based confidence interval on the log scale, and geometric CV. With two "
                  "patients the interval has one degree of freedom and is very wide.",
                  "tbl-gm-response")

# %% tags=["remove-cell"]
profiles = kinetics.median_profiles(samples, params, "mrd_cr")
report.glue_figure("fig_median_profiles", plots.median_profiles(profiles))

# %% [markdown]
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

# %% tags=["remove-cell"]
counts = kinetics.method_counts(t3)
n_tests = sum(counts.values())
report.glue_number("n_tests", n_tests)
report.glue_number("n_tests_exact", counts.get("exact", 0))
report.glue_number("n_tests_asymptotic", counts.get("asymptotic", 0))
report.glue_text("mw_rule", (
    "R's default rule: the exact distribution when both groups have fewer than 50 patients "
    "and there are no ties, otherwise the normal approximation with tie correction"
    + (" and continuity correction" if mw_correct else "")) if mw_method == "auto" else
    f"the {mw_method} method requested in the parameters (R falls back to the normal "
    "approximation when ties make the exact test impossible)")
burden_cut = sorted(mrd_cuts)[len(mrd_cuts) // 2]  # the paper's "high tumour burden": 1e-3
report.glue_text("burden_cut", format_mrd(burden_cut))
for short, key, level in (("steroids", "steroids", "Yes"), ("crs", "crs", "≥3"),
                          ("icans", "icans", "Yes"),
                          ("postld", f"post_ld_mrd_{units.cut_id(burden_cut)}",
                           f"≥{format_mrd(burden_cut)}")):
    for p, unit in (("cmax", "copies/µg DNA"), ("auc", "day·copies/µg DNA"), ("tlast", "days")):
        c = kinetics.contrast(t3, key, p, level=level)
        report.glue_number(f"p_{short}_{p}", c.p_value)
        report.glue_text(f"{short}_{p}_text", c.text(unit))
        report.glue_text(f"{short}_{p}_cmp", c.comparison)
        report.glue_text(f"p_{short}_{p}_text", formatting.p_text(c.p_value))

# %% [markdown]
# (sec-kinetics-table3)=
# ## Clinical factors and kinetics (Table 3)
#
# {numref}`tbl-table3` reproduces the layout of the paper's Table 3: median Cmax, AUC0–28d and
# Tlast in each group of each clinical factor, with the two-sided Mann–Whitney p-value of each
# comparison. The paper does not say which variant of the test it used; here the p-values
# follow {glue:md}`mw_rule`. Of the {glue:text}`n_tests:d` comparisons,
# {glue:text}`n_tests_exact:d` used the exact test and {glue:text}`n_tests_asymptotic:d` the
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

# %% tags=["remove-input"]
report.show_table(kinetics.table3_display(t3),
                  "Clinical determinants of CAR-T kinetics (the equivalent of the paper's "
                  "Table 3): number of patients and median Cmax, AUC0–28d and Tlast per group; "
                  "two-sided Mann–Whitney p-values on each factor's first row. MRD cut-points, "
                  "age cut and dose threshold are those in the parameters of this run.",
                  "tbl-table3")
t3_csv = report.write_output(t3, output_dir, "table3_kinetics_by_factor", data.synthetic)

# %% [markdown]
# The table with the method used for every test is available as a file:
# {download}`table3_kinetics_by_factor.csv <outputs/kinetics/table3_kinetics_by_factor.csv>`.

# %% tags=["remove-cell"]
report.glue_figure("fig_kinetics_by_burden", plots.kinetics_by_burden(params, list(mrd_cuts)))

# %% [markdown]
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
# Cmax (top), AUC0–28d (middle) and Tlast (bottom) by bone-marrow MRD before (left) and after
# (right) lymphodepletion (the equivalent of Supplementary Figure S4). Boxes show the quartiles
# and the median; every patient is a point. Cmax and AUC are on log scales.
# ```

# %% tags=["remove-cell"]
corr = kinetics.correlations(params, method=spearman_method)
for row in corr.itertuples():
    report.glue_number(f"r_{row.key}", float(row.r))
    report.glue_number(f"p_{row.key}", float(row.p_value))
    report.glue_number(f"n_{row.key}", int(row.n))
    report.glue_text(f"p_{row.key}_text", formatting.p_text(row.p_value))
methods = set(corr["method"])
report.glue_text("spearman_method", "; ".join(
    {"t": "the t approximation (the data have ties, so the exact AS 89 algorithm does not apply)",
     "exact": "the exact permutation distribution (AS 89)",
     "edgeworth": "the AS 89 Edgeworth series approximation"}.get(m, m) for m in sorted(methods)))
bca = kinetics.bca_summary(patients)
report.glue_number("n_bca", bca["n_bca"])
report.glue_number("pct_bca", 100 * bca["n_bca"] / bca["n"])
report.glue_number("bca_onset_min", bca["onset_min"])
report.glue_number("bca_onset_max", bca["onset_max"])
report.glue_number("bca_duration_median", bca["duration_median"])
report.glue_number("n_bca_ongoing", bca["n_ongoing"])
report.glue_figure("fig_tlast_correlations",
                   plots.correlation_panels(params, corr, ["tlast_cmax", "tlast_auc"]))
report.glue_figure("fig_bca_correlations",
                   plots.correlation_panels(params, corr, ["bca_tlast", "bca_cmax", "bca_auc"]))

# %% [markdown]
# (sec-kinetics-persistence)=
# ## Expansion and persistence (Supplementary Figure S3)
#
# Spearman's rank correlation between persistence and expansion, Tlast against Cmax, was
# {glue:text}`r_tlast_cmax:.3f` ({glue:md}`p_tlast_cmax_text`, n = {glue:text}`n_tlast_cmax:d`),
# and between Tlast and AUC0–28d {glue:text}`r_tlast_auc:.3f` ({glue:md}`p_tlast_auc_text`)
# ({numref}`fig-tlast-correlations`). P-values follow R's `cor.test`, here using
# {glue:md}`spearman_method`.
#
# ```{glue:figure} fig_tlast_correlations
# :name: fig-tlast-correlations
#
# Tlast against Cmax (left) and AUC0–28d (right), with Spearman's r, its p-value and the
# number of patients (the equivalent of Supplementary Figure S3). Cmax and AUC on log scales.
# ```
#
# (sec-kinetics-bca)=
# ## B-cell aplasia and kinetics (Figure 2)
#
# B-cell aplasia developed in {glue:text}`n_bca:d` patients ({glue:text}`pct_bca:.0f`%), with
# onset between days {glue:text}`bca_onset_min:.0f` and {glue:text}`bca_onset_max:.0f` and a
# median duration of {glue:text}`bca_duration_median:.0f` days ({glue:text}`n_bca_ongoing:d`
# aplasias were still ongoing at the last assessment and count up to it). The paper reports a
# strong correlation of the duration with persistence and none with expansion. Here, the
# correlation of the duration
# against CAR-T persistence gave r = {glue:text}`r_bca_tlast:.3f`
# ({glue:md}`p_bca_tlast_text`, n = {glue:text}`n_bca_tlast:d`), and against expansion
# (Cmax: r = {glue:text}`r_bca_cmax:.3f`, {glue:md}`p_bca_cmax_text`; AUC0–28d:
# r = {glue:text}`r_bca_auc:.3f`, {glue:md}`p_bca_auc_text`; {numref}`fig-bca-correlations`).
#
# ```{glue:figure} fig_bca_correlations
# :name: fig-bca-correlations
#
# Duration of B-cell aplasia (log scale) against Tlast, Cmax and AUC0–28d, in patients with
# B-cell aplasia, with Spearman's r, its p-value and the number of patients (the equivalent of
# Figure 2).
# ```

# %% tags=["remove-cell"]
hl = kinetics.persistence_half_life(params, "mrd_cr", kinetics=samples, method=mw_method,
                                    correct=mw_correct)
report.glue_number("hl_min_points", lambda_z_min_points)
report.glue_number("hl_tolerance", lambda_z_adj_r2_tolerance)
report.glue_number("hl_pct_estimable",
                   100 * float(hl.overall["n_estimable"]) / float(hl.overall["n"]))
report.glue_text("hl_reasons_text", hl.reasons_text())
for key, level in (("all", "all"), ("mrdcr", True), ("other", False)):
    row = hl.overall if level == "all" else hl.group(level)
    for stat in ("median", "min", "max"):
        report.glue_number(f"hl_{key}_{stat}", float(row[stat]))
    report.glue_number(f"hl_{key}_n_estimable", int(row["n_estimable"]))
    report.glue_text(f"hl_{key}_text", hl.group_text(level))
report.glue_number("p_hl_mrdcr", float(hl.test.p_value))
report.glue_text("hl_test_text", hl.test_text())
for stat in ("points_median", "adj_r2_median", "adj_r2_min"):
    report.glue_number(f"hl_{stat}", float(hl.overall[stat]))
report.glue_figure("fig_half_life", plots.half_life_by_response(hl.per_patient,
                                                                hl.test.p_value))

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
# {glue:text}`hl_min_points:d`, all ending at Tlast), the window chosen by the best-fit rule
# of Phoenix WinNonlin {cite:p}`certara_winnonlin`: the largest adjusted R², and among the
# windows within {glue:text}`hl_tolerance:g` of it the one with the most points, with a
# falling slope. The half-life is ln 2 / λz, λz the rate constant of that regression. Levels
# below the LLOQ of {glue:text}`lloq:g` copies/µg never enter the regression.
#
# The terminal phase was estimable in {glue:text}`hl_all_n_estimable:d` of
# {glue:text}`n_patients:d` patients ({glue:text}`hl_pct_estimable:.0f`%); of the others,
# {glue:md}`hl_reasons_text`. The median half-life was {glue:md}`hl_all_text`: in the patients
# in MRD-negative CR/CRi at day 28, {glue:md}`hl_mrdcr_text`, and in the others,
# {glue:md}`hl_other_text` ({glue:md}`hl_test_text`; {numref}`tbl-half-life`,
# {numref}`fig-half-life`). The regressions used a median of
# {glue:text}`hl_points_median:.0f` levels (adjusted R² median
# {glue:text}`hl_adj_r2_median:.3f`, lowest {glue:text}`hl_adj_r2_min:.3f`).
# Samples are frequent in the first month and then weeks to months apart, so most windows
# span the contraction after the peak: these half-lives describe the decline the sampling can
# resolve rather than the slow persistence phase of model-based analyses
# {cite:p}`stein2019`, and a patient whose level fell below the LLOQ soon after the peak has
# none.

# %% tags=["remove-input"]
report.show_table(kinetics.persistence_display(hl),
                  "Persistence-phase half-life (beyond the paper) by day-28 response: patients "
                  "with an estimable terminal phase (at least the minimum number of measurable "
                  "levels after the peak, best-fit rule of Phoenix WinNonlin), median (range) "
                  "half-life in days, points used, adjusted R², and the two-sided "
                  "Mann–Whitney p-value (R's rules) between the two groups.",
                  "tbl-half-life")

# %% [markdown]
# ```{glue:figure} fig_half_life
# :name: fig-half-life
#
# Persistence-phase half-life (beyond the paper; log scale) of every patient with an
# estimable terminal phase: by day-28 response (left; boxes show the quartiles and the median,
# every patient is a point, with the number of patients with a half-life out of the group's
# patients), and against the first day of the regression window (right).
# ```
#
# {numref}`tbl-half-life-patients` lists each of these patients, numbered as in
# {numref}`tbl-nca`; the same values with study codes, and the reason for every patient
# without a half-life, are available as a file:
# {download}`persistence_half_life.csv <outputs/kinetics/persistence_half_life.csv>`.

# %% tags=["remove-input"]
report.show_table(kinetics.half_life_display(params, hl),
                  "Persistence-phase half-life of each patient with an estimable terminal "
                  "phase (beyond the paper), numbered as in the table of NCA parameters: "
                  "half-life, terminal rate constant λz, the measurable levels used and their "
                  "days, adjusted R² of the regression, and the share of AUC extrapolated "
                  "from Tlast to infinity.", "tbl-half-life-patients")
hl_csv = report.write_output(hl.per_patient, output_dir, "persistence_half_life",
                             data.synthetic)

# %% [markdown]
# (sec-kinetics-comparison)=
# ## How these results compare with the paper
#
# {glue:md}`comparison_note`

# %% tags=["remove-cell"]
report.glue_text("comparison_note", (
    "The synthetic cohort was generated to match the paper's published aggregates, so its "
    "medians and ranges of Cmax and Tmax and its correlations of persistence with expansion "
    "and with B-cell aplasia are expected to be close to the published ones, and the "
    "direction of the Table 3 differences to agree where the generator builds them in "
    "(corticosteroids, severe CRS, tumour burden). Group p-values are not expected to "
    "match: they depend on patient-level detail that is not published and on the variant of "
    "the test (R's rules here, SPSS's asymptotic test in the paper). "
    if data.synthetic else
    "This build uses a supplied cohort, not the paper's: differences from the published "
    "values are findings about this cohort or about the methods, and need the caveats "
    "below. ")
    + "The published geometric mean Cmax of the MRD-negative responders "
    "cannot be a geometric mean of values with the published median and maximum (see the "
    "chapter on the synthetic cohort), so it is not expected to be reproduced. A separate "
    "scorecard compares every number in detail.")
