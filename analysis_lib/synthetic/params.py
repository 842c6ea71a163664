"""The parameters of the synthetic-cohort model (:class:`SyntheticParams`), each with its source.

Used by the stages of :mod:`analysis_lib.synthetic.stages`; the book's chapter "The synthetic
cohort" lists every parameter (:func:`analysis_lib.synthetic.generator.parameter_table`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Number of infused patients in the paper (Results, "Patient characteristics").
PUBLISHED_N: int = 50


@dataclass(frozen=True)
class SyntheticParams:
    """Every parameter of the synthetic-cohort model, with its documented default.

    Count vectors are given *for the published cohort of 50* and are scaled to other cohort
    sizes by :func:`scale_counts`. Times are in days from CAR-T infusion (day 0) unless said
    otherwise; "P:" marks a value taken from the paper (Wang et al. 2025), "S:" one taken
    from Stein et al. 2019, and "C:" a calibration choice of this module.

    Attributes
    ----------
    enrolment_start, enrolment_end : str
        P: infusion window, June 2017 to March 2021 (Methods, "Patients"); ISO dates, used
        internally only.
    data_cutoff : str
        P: last follow-up date, 2025-06-30 (Methods, "Statistical analyses").
    accrual_shape : float
        C: infusion times are ``window * U**(1/accrual_shape)`` (a Beta(a, 1) accrual that
        accelerates over time); 1.0 gives uniform accrual. 1.42 makes the reverse-Kaplan-Meier
        median follow-up about 68.7 months (P: Results); uniform accrual would give about
        74 months.
    sex_counts : (male, female)
        P: 27 male, 23 female (Table 3).
    age_group_counts : (0-10 years, >10 years)
        P: 29 and 21 (Table 3).
    age_min_years, age_max_years : float
        C: ages span 1.0 to 17.9 years (paediatric cohort), one decimal.
    enrolment_reason_counts : (chemo_intolerance, mrd_reemergence, mrd_persistent)
        P: 7, 41, 2 (Results, "Patient characteristics").
    prior_hsct_counts, prior_cart_counts : (yes, no)
        P: 5 and 2 patients (Table 3).
    genetic_risk_counts : (low_intermediate, high)
        C: 32 and 18 (the split is in the unpublished Table S1).
    mrd_pre_ld_counts, mrd_post_ld_counts : counts in <1e-4, [1e-4, 1e-3), [1e-3, 1e-2), >=1e-2
        P: 14, 15, 16, 5 and 23, 10, 14, 3 (Table 3). Values below 1e-4 are 0 (flow-cytometry
        sensitivity 1e-4, Methods); other values are log-uniform within their stratum.
    mrd_max : float
        C: upper end of the >= 1e-2 stratum (morphological remission, < 5 % blasts).
    hlh_mrd_pre_ld : float
        P: the HLH patient had a pre-LD MRD of 3.22 % (Results, "Toxicity").
    chemo_intolerance_logw_mrd_zero : float
        C: log relative weight of chemotherapy-intolerant patients for undetectable pre-LD MRD.
    post_ld_rank_corr : float
        C: latent correlation between pre- and post-LD MRD ranks.
    dose_min, dose_low_median, dose_high_median, dose_max : float
        P: dose median 3.68 (range 0.05-6.33) x 10^6 cells/kg (Results); the split of Table 3
        (25 >= 3.68, 25 below) and the 3.66 threshold in the toxicity text make the two middle
        values 3.66 and 3.70.
    diagnosis_days_min, diagnosis_days_median, diagnosis_days_max : int
        P: diagnosis to infusion 15.8 (1.5-132.0) months (Results) = 481 (46-4018) days.
    d28_mrd_counts : (MRD-negative CR/CRi, MRD-positive CR/CRi, NR)
        P: 49 CR/CRi of whom 48 MRD-negative, and 1 NR (Results, "Treatment outcomes").
    d28_cr_cri_counts : (cr, cri)
        C: 45 CR and 4 CRi (the paper gives CR/CRi together); scaled within responders.
    d28_mrd_positive_range, d28_nr_mrd_range : (low, high)
        C: day-28 MRD of the MRD-positive responder and of non-responders (fractions).
    nr_logw_per_post_ld_stratum, mrd_positive_logw_per_post_ld_stratum : float
        C: log relative weight, per post-LD MRD stratum, of being the non-responder or the
        MRD-positive responder (the HLH patient is neither).
    crs_grade_counts : patients with CRS grade 0, 1, 2, 3, 4
        P: 34 any grade and 8 grade >= 3 (Results, "Toxicity"); C: split 16/16/10/6/2.
    icans_grade_counts : patients with ICANS grade 0, 1, 2, 3
        P: 5 with ICANS (Results); C: split 2/2/1.
    tocilizumab_counts, corticosteroid_counts, neutropenia_g4_counts, hlh_counts,
    il6_elevated_counts, bca_counts, hsct_counts : (yes, no)
        P: 14, 7, 24, 1, 39, 48, 32 (Results).
    infection_counts : (bacterial, cmv, ebv, fungal, none)
        P: 4, 2, 1, 2 in 9 distinct patients (Results, "Toxicity"): one infection each.
    anc_min, anc_median, anc_max, anc_g4_threshold : float
        P: nadir ANC 0.53 (0.05-1.45) x 10^9/L; grade-4 neutropenia is ANC < 0.5.
    il6_min_elevated, il6_median_elevated, il6_uloq : float
        P: elevated IL-6 peaks 33.3 (7.6 to > 5000) pg/mL (Results).
    il6_nonelevated_range : (low, high)
        C: peaks of patients without elevated IL-6 (pg/mL), below the 7.6 of the elevated.
    il6_day_min, il6_day_median, il6_day_max : int
        P: peak on day 8 (1-22).
    bca_onset_min, bca_onset_median, bca_onset_max : int
        P: BCA onset 1-20 days (Results); C: median 8.
    bca_duration_min, bca_duration_median, bca_duration_max : float
        P: median BCA duration 59 days (Results); C: range of completed episodes 10-720.
    bca_ongoing_counts : (yes, no)
        C: 3 long episodes still ongoing at last follow-up (duration censored there).
    bca_tlast_spearman, bca_latent_corr_grid : float, tuple of float
        P: BCA duration correlates with CAR-T persistence (Tlast), Spearman r = 0.570
        (Results). Durations are assigned by a latent normal score correlated with Tlast;
        the latent correlation is taken from the grid (0.30 to 0.95) as the one whose
        realised Spearman correlation is nearest 0.570.
    hsct_day_min, hsct_day_median, hsct_day_max : int
        P: bridging to HSCT after 2.6 (1.3-9.0) months = 79 (40-274) days.
    relapse_counts : (cd19 negative, cd19 positive, no relapse)
        P: 15 relapses, 4 CD19-negative, 11 CD19-positive (Results). The day-28 non-responder
        is counted as the earliest CD19-positive relapse (progression at 0.5 months), which
        is the lower end of the published range.
    relapse_sex_counts : (male, female) or None
        C: ``None`` (default): sex acts only through ``relapse_logw_male``, which is fitted to
        the paper's female hazard ratio; a pair such as ``(11, 4)`` pins the relapses by sex.
        With 27 male and 23 female patients this is about the paper's female hazard ratio of 0.235
        (Table 1A): 27 / (27 + 0.235 * 23) = 0.83 of early events in males.
    relapse_day_min, relapse_day_median, relapse_day_max : int
        P: relapse at 12.0 (0.5-38.4) months = 365 (15-1169) days.
    relapse_neg_day_min, relapse_neg_day_median, relapse_neg_day_max : int
        P: CD19-negative median 5.0 months = 152 days; C: range 60-300 days.
    relapse_pos_day_median : int
        P: CD19-positive median 15.7 months = 478 days.
    relapse_pos_first_responder_day : int
        C: earliest relapse of a day-28 responder (after the day-28 assessment).
    nr_progression_day_max : int
        C: non-responders progress by day 28.
    death_counts : (leukemia, transplant_related, alive)
        C: 10 leukaemia and 2 transplant-related deaths, so that 5-year OS is about 76 % and
        LFS about 66 % (P: 74.9 % and 67.8 %). 2 of the 13 transplanted patients with pre-LD
        MRD < 1e-4 dying gives the paper's NRM of 15.4 % in that group.
    leukemia_death_gap_median, leukemia_death_gap_range : days from relapse to death
    trm_gap_median, trm_gap_range : days from HSCT to transplant-related death
    gap_sigma : float
        log-scale SD of the truncated log-normal gaps.
    *_logw_* : float
        C: log relative weights (log relative hazards) of the weighted draws; see the module
        docstring. Severe CRS: P: pre-LD MRD >= 1e-3 and dose >= 3.68 are its independent
        predictors (Table 2). Relapse: P: female sex (HR 0.235) and longer BCA protect
        (Table 1A).
    lloq : float
        P: 100 transgene copies/µg genomic DNA (Methods).
    core_days : tuple of int
        P: pre-infusion (day 0), days 7, 14, 28, weeks 12, 26, 39, 54, 104 (Methods).
    followup_interval, followup_end : int
        P: then every 6 months to year 5 (182 days; day 1825).
    extra_days, extra_day_probs :
        C: extra visits (days 4, 10, 21 around the peak and 35, 42, 56 before week 12) for a
        random subset; they produce the paper's Tmax range 4-21 days and Tlast values between
        day 28 and week 12 (see NOTES.md).
    cmax_typical, cmax_omega : copies/µg, log-scale SD
        C: typical peak and its between-patient SD; with the covariates below the observed
        median Cmax is near the paper's 30,860 (range 1,602-1,890,000). Random effects are
        drawn by Latin-hypercube (stratified) sampling so small cohorts keep the medians.
    cmax_median_target : float or None
        P: median Cmax 30,860 copies/µg (Results). After simulation the freely drawn
        profiles are scaled by one common factor so that the cohort's observed median Cmax
        equals it (up to the 4-significant-digit rounding of the levels); ``None`` skips this
        calibration.
    cmax_logshift_steroids, cmax_logshift_severe_crs, cmax_logshift_post_ld_high : float
        C: log-scale shifts (P: higher Cmax with corticosteroids, p = 0.017; upward trends with
        severe CRS and post-LD MRD >= 1e-3; Table 3).
    nr_cmax, nonexpander_cmax : float
        P: the two non-MRD-CR patients have median Cmax 863 (Table 3) and the expanders'
        minimum is 1,602 (Results): the only reading consistent with both and with
        "expansion in 49/50" is that the non-responder peaks at 1,602 and the one patient
        without expansion (the MRD-positive responder) at about 124 copies/µg, just above
        the LLOQ: (124 + 1,602) / 2 = 863 (see the audit, ``analysis_lib.paper.feasibility``).
    cmax_floor : float or None
        P: the non-responder's 1,602 copies/µg is the smallest Cmax among the 49 expanders
        (Results), and the Mann-Whitney p = 0.017 for Cmax by MRD-CR requires U = 0 (the
        audit): every other patient peaks above it. Freely drawn profiles that would peak
        lower are scaled up to just above the floor; ``None`` disables this.
    tmax_typical, tmax_omega, tmax_bounds : days, log-scale SD, (min, max)
        S: 9.3 days; C: 8.0 with SD 0.45 within 3-14 days, which puts the observed Tmax (on
        the sampling grid) at a median of 7-14 days within 4-21 (P: 10.5, range 4-21).
    initial_level_typical, initial_level_omega : copies/µg, log-scale SD
        C: level just after infusion, ``C(0) = Cmax / foldx`` in Stein's model, so
        ``foldx = Cmax / C(0)`` (S: typical foldx 3,900; here about 300). Tying the fold
        expansion to the peak keeps slowly expanding patients measurable at the first visits,
        so the stopping rule does not end their monitoring before the expansion.
    low_expansion_foldx : float
        C: fold expansion of the patients with a fixed low peak (non-responders and the
        non-expander); their observed peak is placed on day 7 and every other level below it.
    alpha_typical, alpha_omega : 1/day
        S: 0.16 /day (half-life 4.3 days); C: 0.125 /day with SD 0.3, which with the
        typical Cmax gives a median Tlast of 35-42 days (P: Table 3 subgroup medians 29-60).
    fb_typical, fb_omega : fraction of the long-lived compartment
        S: 0.0079; C: 1e-4 with a wide SD, so most profiles fall below the LLOQ within weeks
        (P: median Tlast of 29-60 days in Table 3) and a few persist for years.
    beta_typical, beta_omega : 1/day
        S: 0.0032 /day (half-life about 220 days).
    residual_sd : float
        S: 0.56; C: 0.5 (log-scale SD of the assay error).
    """

    # --- enrolment and follow-up ----------------------------------------------------------
    enrolment_start: str = "2017-06-01"
    enrolment_end: str = "2021-03-31"
    data_cutoff: str = "2025-06-30"
    accrual_shape: float = 1.42
    # --- baseline ------------------------------------------------------------------------
    sex_counts: tuple[int, ...] = (27, 23)
    age_group_counts: tuple[int, ...] = (29, 21)
    age_min_years: float = 1.0
    age_max_years: float = 17.9
    enrolment_reason_counts: tuple[int, ...] = (7, 41, 2)
    prior_hsct_counts: tuple[int, ...] = (5, 45)
    prior_cart_counts: tuple[int, ...] = (2, 48)
    genetic_risk_counts: tuple[int, ...] = (32, 18)
    mrd_pre_ld_counts: tuple[int, ...] = (14, 15, 16, 5)
    mrd_post_ld_counts: tuple[int, ...] = (23, 10, 14, 3)
    mrd_max: float = 0.2
    hlh_mrd_pre_ld: float = 0.0322
    chemo_intolerance_logw_mrd_zero: float = 2.0
    post_ld_rank_corr: float = 0.8
    dose_min: float = 0.05
    dose_low_median: float = 3.66
    dose_high_median: float = 3.70
    dose_max: float = 6.33
    diagnosis_days_min: int = 46
    diagnosis_days_median: int = 481
    diagnosis_days_max: int = 4018
    # --- response ------------------------------------------------------------------------
    d28_mrd_counts: tuple[int, ...] = (48, 1, 1)
    d28_cr_cri_counts: tuple[int, ...] = (45, 4)
    d28_mrd_positive_range: tuple[float, float] = (1e-3, 9.9e-3)
    d28_nr_mrd_range: tuple[float, float] = (1e-2, 1e-1)
    nr_logw_per_post_ld_stratum: float = 1.0
    mrd_positive_logw_per_post_ld_stratum: float = 1.0
    # --- toxicity ------------------------------------------------------------------------
    crs_grade_counts: tuple[int, ...] = (16, 16, 10, 6, 2)
    icans_grade_counts: tuple[int, ...] = (45, 2, 2, 1)
    tocilizumab_counts: tuple[int, ...] = (14, 36)
    corticosteroid_counts: tuple[int, ...] = (7, 43)
    neutropenia_g4_counts: tuple[int, ...] = (24, 26)
    infection_counts: tuple[int, ...] = (4, 2, 1, 2, 41)
    hlh_counts: tuple[int, ...] = (1, 49)
    severe_crs_logw_pre_ld_high: float = 0.6079  # fitted (least squares)
    severe_crs_logw_dose_high: float = 3.161  # fitted (least squares)
    severe_crs_logw_post_ld_high: float = 3.628  # fitted (least squares)
    severe_crs_logw_male: float = 0.916  # fitted (least squares)
    severe_crs_logw_prior_hsct: float = 1.861  # fitted (least squares)
    any_crs_logw_per_mrd_stratum: float = 0.4
    icans_logw_severe_crs: float = 2.5
    icans_logw_pre_ld_high: float = 1.0
    tocilizumab_logw_severe_crs: float = 2.0
    steroid_logw_severe_crs: float = 3.5
    steroid_logw_icans: float = 3.0
    neutropenia_logw_severe_crs: float = 0.5
    infection_logw_neutropenia: float = 0.7
    infection_logw_steroids: float = 0.7
    infection_logw_prior_hsct: float = 0.5
    anc_min: float = 0.05
    anc_median: float = 0.53
    anc_max: float = 1.45
    anc_g4_threshold: float = 0.5
    # --- IL-6 ----------------------------------------------------------------------------
    il6_elevated_counts: tuple[int, ...] = (39, 11)
    il6_logw_any_crs: float = 2.0
    il6_min_elevated: float = 7.6
    il6_median_elevated: float = 33.3
    il6_uloq: float = 5000.0
    il6_nonelevated_range: tuple[float, float] = (2.0, 6.9)
    il6_day_min: int = 1
    il6_day_median: int = 8
    il6_day_max: int = 22
    # --- B-cell aplasia --------------------------------------------------------------------
    bca_counts: tuple[int, ...] = (48, 2)
    bca_onset_min: int = 1
    bca_onset_median: int = 8
    bca_onset_max: int = 20
    bca_duration_min: float = 10.0
    bca_duration_median: float = 59.0
    bca_duration_max: float = 720.0
    bca_ongoing_counts: tuple[int, ...] = (3, 47)
    bca_tlast_spearman: float = 0.570
    bca_latent_corr_grid: tuple[float, ...] = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))
    # --- HSCT, relapse, death ------------------------------------------------------------
    hsct_counts: tuple[int, ...] = (32, 18)
    hsct_day_min: int = 40
    hsct_day_median: int = 79
    hsct_day_max: int = 274
    hsct_logw_prior_hsct: float = -1.5
    hsct_logw_high_risk: float = 0.5
    hsct_logw_per_log_tlast: float = -0.5
    relapse_counts: tuple[int, ...] = (4, 11, 35)
    relapse_day_min: int = 15
    relapse_day_median: int = 365
    relapse_day_max: int = 1169
    relapse_neg_day_min: int = 60
    relapse_neg_day_median: int = 152
    relapse_neg_day_max: int = 300
    relapse_pos_day_median: int = 478
    relapse_pos_first_responder_day: int = 45
    nr_progression_day_max: int = 28
    relapse_sex_counts: tuple[int, ...] | None = None
    relapse_logw_male: float = 3.05  # fitted (least squares)
    relapse_logw_per_log_bca: float = -1.0
    relapse_logw_no_bca: float = 1.5
    relapse_logw_mrd_positive: float = 2.5
    relapse_logw_post_ld_high: float = 0.3
    cd19neg_logw_per_log_bca: float = 0.8
    death_counts: tuple[int, ...] = (10, 2, 38)
    leukemia_death_logw_per_log_relapse_day: float = -0.8
    leukemia_death_logw_cd19neg: float = 0.5
    trm_logw_mrd_zero: float = 2.0
    leukemia_death_gap_median: float = 300.0
    leukemia_death_gap_range: tuple[float, float] = (150.0, 1000.0)
    trm_gap_median: float = 120.0
    trm_gap_range: tuple[float, float] = (20.0, 700.0)
    gap_sigma: float = 0.8
    # --- CAR-T kinetics (Stein et al. 2019 piecewise model) -----------------------------------
    lloq: float = 100.0
    core_days: tuple[int, ...] = (0, 7, 14, 28, 84, 182, 273, 378, 728)
    followup_interval: int = 182
    followup_end: int = 1825
    extra_days: tuple[int, ...] = (4, 10, 21, 35, 42, 56)
    extra_day_probs: tuple[float, ...] = (0.3, 0.4, 0.35, 0.3, 0.4, 0.4)
    cmax_typical: float = 26500.0
    cmax_median_target: float | None = 30860.0
    cmax_omega: float = 1.3
    cmax_logshift_steroids: float = 0.9026  # fitted (least squares)
    cmax_logshift_severe_crs: float = 0.6742  # fitted (least squares)
    cmax_logshift_post_ld_high: float = 0.3282  # fitted (least squares)
    nr_cmax: float = 1602.0
    cmax_floor: float | None = 1602.0
    nonexpander_cmax: float = 124.0
    tmax_typical: float = 8.0
    tmax_omega: float = 0.45
    tmax_bounds: tuple[float, float] = (3.0, 14.0)
    low_expansion_foldx: float = 10.0
    initial_level_typical: float = 80.0
    initial_level_omega: float = 0.5
    alpha_typical: float = 0.1154  # fitted (least squares)
    alpha_omega: float = 0.8131  # fitted (least squares)
    fb_typical: float = 1.001e-06  # fitted (least squares)
    fb_omega: float = 2.0
    beta_typical: float = 0.0032
    beta_omega: float = 0.4
    residual_sd: float = 0.5

    def sampling_days(self) -> np.ndarray:
        """All possible sampling days (core schedule, extra visits, 6-monthly visits), sorted.

        Returns
        -------
        numpy.ndarray of int
            Days from infusion; 6-monthly visits run from the last core day to
            ``followup_end`` (P: every 6 months to year 5).
        """
        last = max(self.core_days)
        six_monthly = np.arange(last + self.followup_interval, self.followup_end + 1,
                                self.followup_interval)
        days = np.concatenate([np.asarray(self.core_days), np.asarray(self.extra_days),
                               six_monthly])
        return np.unique(days.astype(np.int64))
