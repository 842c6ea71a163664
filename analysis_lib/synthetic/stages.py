"""The stages of the synthetic-cohort generator, in the order of the design.

:func:`analysis_lib.synthetic.generator.generate_cohort` runs them one after the other, each
enriching the cohort with what it draws:

====  =============================  ==========  ============================================
step  stage                          stream      draws
====  =============================  ==========  ============================================
1     :func:`draw_baseline`          baseline    sex, age, enrolment reason, prior therapy,
                                                 genetic risk, diagnosis to infusion, dose
2     :func:`draw_enrolment`         accrual     infusion dates in the enrolment window, hence
                                                 the administrative follow-up to the cut-off
3     :func:`draw_mrd`               mrd         pre- and post-lymphodepletion MRD, the HLH
                                                 patient
4     :func:`draw_response`          response    day-28 response and MRD
5     :func:`draw_toxicity`          toxicity    CRS, ICANS, tocilizumab, corticosteroids,
                                                 neutropenia and nadir ANC, infections
6     :func:`draw_il6`               il6         IL-6 elevation, peak and day of the peak
7     :func:`draw_kinetics`          kinetics    CAR-T transgene profiles (Stein et al. 2019)
8     :func:`draw_bca`               bca         B-cell aplasia: who, onset, duration
9     :func:`draw_relapse`           relapse     relapse, its CD19 status and day
10    :func:`draw_hsct`              hsct        bridging HSCT and its day
11    :func:`draw_death`             death       death, its cause and day; last follow-up
12    :func:`censor_bca`             bca         ongoing aplasia, censored at last follow-up
====  =============================  ==========  ============================================

and :func:`analysis_lib.synthetic.generator.assemble_cohort` cuts the kinetics at the last
follow-up and types the two tables. Each stage draws only from its own child stream of
``numpy.random.default_rng(seed)`` (:func:`spawn_streams`; the calendar of step 2 never leaves
the generator) and returns a frozen dataclass of per-patient arrays (index ``i`` is patient
``i``). The published numbers (Wang et al. 2025, Front. Immunol. 16:1672509) are the defaults
of :class:`~analysis_lib.synthetic.params.SyntheticParams`, which gives the source of each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ..data.schema import DEATH_CAUSES
from .params import SyntheticParams
from .sampling import (FORCE, assign_by_key, choose, exact_shuffle, mask, median_positions,
                       mmm_pins, normal_scores, pinned_sorted, round_dec, round_sig,
                       scale_counts, spearman, stratified_normal, trunc_lognormal)

Rng = np.random.Generator

#: The random streams, spawned from ``numpy.random.default_rng(seed)`` in this order (the order
#: fixes every cohort of every seed: never reorder or insert; add new streams at the end).
STREAMS: tuple[str, ...] = ("baseline", "mrd", "response", "toxicity", "il6", "kinetics", "bca",
                            "relapse", "hsct", "death", "accrual")


def spawn_streams(seed: int) -> dict[str, Rng]:
    """The independent child streams of ``default_rng(seed)`` (``Generator.spawn``), by name."""
    return dict(zip(STREAMS, np.random.default_rng(seed).spawn(len(STREAMS))))


def _scaled(counts: tuple[int, ...], n: int, p: SyntheticParams) -> np.ndarray:
    """A count vector given for ``p.counts_base_n`` patients (the paper's 50 unless the
    simulation study drew the counts for its own size), scaled to ``n`` (largest remainder)."""
    return scale_counts(counts, n, p.counts_base_n)


_output = dataclass(frozen=True, eq=False)


# ============================================================================================
# 1-2. Baseline and enrolment
# ============================================================================================

@_output
class Baseline:
    """Patient characteristics before CAR-T (arrays of length n)."""
    sex: np.ndarray         # code in schema.SEX: 0 male, 1 female
    male: np.ndarray        # bool
    age: np.ndarray         # years, one decimal
    reason: np.ndarray      # code in schema.ENROLMENT_REASONS (0 chemotherapy intolerance)
    prior_hsct: np.ndarray  # bool
    prior_cart: np.ndarray  # bool
    genetic: np.ndarray     # code in schema.GENETIC_RISK: 0 low/intermediate, 1 high
    diag_days: np.ndarray   # diagnosis to infusion, days (int)
    dose: np.ndarray        # 10^6 CAR-T cells/kg, two decimals
    dose_high: np.ndarray   # bool: in the upper half of the published dose split (>= 3.68)


def draw_baseline(rng: Rng, p: SyntheticParams, n: int) -> Baseline:
    """Stage 1, baseline (stream ``baseline``).

    Exact counts in random order (P: sex 27/23, age <= 10 / > 10 years 29/21, enrolment
    reason 7/41/2, prior HSCT 5, prior CAR-T 2; C: genetic risk 32/18); ages between pinned
    ends within their group; diagnosis to infusion with minimum, median and maximum pinned
    (P: 15.8 (1.5-132.0) months), within each patient's age (:func:`_fit_within_age`); doses
    with the median 3.68 (0.05-6.33) x 10^6/kg and Table 3's 25/25 split (:func:`_doses`).
    """
    sex = exact_shuffle(rng, _scaled(p.sex_counts, n, p))
    age = _ages(rng, p, exact_shuffle(rng, _scaled(p.age_group_counts, n, p)))
    reason = exact_shuffle(rng, _scaled(p.enrolment_reason_counts, n, p))
    prior_hsct = exact_shuffle(rng, _scaled(p.prior_hsct_counts, n, p)) == 0
    prior_cart = exact_shuffle(rng, _scaled(p.prior_cart_counts, n, p)) == 0
    genetic = exact_shuffle(rng, _scaled(p.genetic_risk_counts, n, p))
    diag_sorted = np.rint(pinned_sorted(
        rng, n, mmm_pins(n, p.diagnosis_days_min, p.diagnosis_days_median,
                         p.diagnosis_days_max), log=True,
        center=p.diagnosis_days_median, power=1.5))
    diag_days = _fit_within_age(rng.permutation(diag_sorted).astype(np.int64), age)
    dose = _doses(rng, p, n)
    return Baseline(sex, sex == 0, age, reason, prior_hsct, prior_cart, genetic, diag_days, dose,
                    dose >= (p.dose_low_median + p.dose_high_median) / 2)


def _ages(rng: Rng, p: SyntheticParams, age_group: np.ndarray) -> np.ndarray:
    """Ages (years, one decimal) between pinned ends within each age group (0: <= 10 years)."""
    age = np.empty(len(age_group))
    for grp, lo, hi in ((0, p.age_min_years, 10.0), (1, 10.1, p.age_max_years)):
        sel = np.flatnonzero(age_group == grp)
        m = len(sel)
        if m:
            pins = {0: lo, m - 1: hi} if m > 1 else {0: round((lo + hi) / 2, 1)}
            age[sel] = rng.permutation(round_dec(pinned_sorted(rng, m, pins, log=False), 1))
    return age


def _fit_within_age(days: np.ndarray, age_years: np.ndarray) -> np.ndarray:
    """Reassign the diagnosis-to-infusion intervals ``days`` so that none is longer than the
    patient's age (``age_years`` × 365.25 days, the validator's rule
    ``diagnosis_longer_than_age``), keeping the multiset of values (so every pinned minimum,
    median and maximum) and drawing no random number (every other column is unchanged).

    Each patient whose interval exceeds the age swaps it with the patient whose interval is
    the largest one that fits, among those who can take the longer interval in exchange
    (largest intervals first; ties by position). When no such swap exists, the intervals are
    matched to the ages in rank order (always feasible when any assignment is)."""
    days = days.copy()
    cap = np.floor(np.asarray(age_years, dtype=float) * 365.25)
    for i in np.argsort(-days, kind="stable"):
        if days[i] <= cap[i]:
            continue
        ok = np.flatnonzero((days <= cap[i]) & (cap >= days[i]))
        if len(ok):
            j = ok[np.argmax(days[ok])]
            days[i], days[j] = days[j], days[i]
    if (days > cap).any():  # no swap left: match by rank (largest interval to the oldest)
        out = np.empty_like(days)
        out[np.argsort(cap, kind="stable")] = np.sort(days)
        days = out
    return days


def _doses(rng: Rng, p: SyntheticParams, n: int) -> np.ndarray:
    """Doses (10^6 cells/kg, two decimals): ``n // 2`` values from ``dose_min`` to
    ``dose_low_median`` and the rest from ``dose_high_median`` to ``dose_max`` (pins at both
    ends of each half), in random order."""
    n_low = n // 2
    low = pinned_sorted(rng, n_low, {0: p.dose_min, n_low - 1: p.dose_low_median},
                        log=False, center=p.dose_low_median, power=1.8) if n_low else np.empty(0)
    n_high = n - n_low
    high = (pinned_sorted(rng, n_high, {0: p.dose_high_median, n_high - 1: p.dose_max},
                          log=False, center=p.dose_high_median, power=1.3)
            if n_high > 1 else np.array([p.dose_high_median]))
    return rng.permutation(round_dec(np.concatenate([low, high]), 2))


def draw_enrolment(rng: Rng, p: SyntheticParams, n: int) -> np.ndarray:
    """Stage 2, enrolment (stream ``accrual``): days from infusion to the data cut-off (int).

    Infusions fall in the enrolment window (P: June 2017 to March 2021) at
    ``window * U**(1/accrual_shape)``, ``U`` stratified uniforms: an accelerating accrual
    (C) that puts the median follow-up near the published 68.7 months at the cut-off
    (P: 30 June 2025). The dates never leave the generator.
    """
    start = np.datetime64(p.enrolment_start, "D")
    end = np.datetime64(p.enrolment_end, "D")
    cutoff = np.datetime64(p.data_cutoff, "D")
    window = int((end - start).astype(np.int64))
    strata_u = (rng.permutation(n) + rng.random(n)) / n     # stratified uniforms
    offset = np.minimum(np.floor(strata_u ** (1.0 / p.accrual_shape) * (window + 1)),
                        window).astype(np.int64)
    infusion = start + offset.astype("timedelta64[D]")
    return (cutoff - infusion).astype(np.int64)


# ============================================================================================
# 3-4. MRD and response
# ============================================================================================

@_output
class Mrd:
    """MRD by flow cytometry before and after lymphodepletion (LD), and the HLH patient."""
    pre_stratum: np.ndarray   # 0: < 1e-4, 1: [1e-4, 1e-3), 2: [1e-3, 1e-2), 3: >= 1e-2
    pre: np.ndarray           # fraction, 0 when not detected (sensitivity 1e-4)
    post_stratum: np.ndarray  # as pre_stratum
    post: np.ndarray          # fraction
    pre_high: np.ndarray      # bool: pre >= 1e-3
    post_high: np.ndarray     # bool: post >= 1e-3
    hlh: np.ndarray           # bool: the patient with HLH


def draw_mrd(rng: Rng, p: SyntheticParams, base: Baseline) -> Mrd:
    """Stage 3, MRD (stream ``mrd``).

    Pre-LD strata with the published counts 14/15/16/5 (P: Table 3), undetectable MRD
    favouring chemotherapy intolerance, values log-uniform within the stratum
    (:func:`_mrd_values`); the HLH patient is drawn from the top stratum with the published
    3.22 % (P: Results). Post-LD strata (P: 23/10/14/3) follow the pre-LD ranks through a
    Gaussian copula, the top one only among pre-LD MRD >= 1e-3.
    """
    n = len(base.reason)
    idx = np.arange(n)
    pre_counts = _scaled(p.mrd_pre_ld_counts, n, p)
    pre_stratum = np.empty(n, dtype=np.int64)
    zero = choose(rng, int(pre_counts[0]),
                  np.where(base.reason == 0, p.chemo_intolerance_logw_mrd_zero, 0.0))
    pre_stratum[zero] = 0
    pre_stratum[np.setdiff1d(idx, zero)] = rng.permutation(
        np.repeat(np.arange(1, 4), pre_counts[1:]))
    pre = _mrd_values(rng, pre_stratum, p.mrd_max)

    hlh_idx = choose(rng, int(_scaled(p.hlh_counts, n, p)[0]),
                     np.where(pre_stratum == 3, 0.0, -np.inf))
    if len(hlh_idx):
        pre[hlh_idx[0]] = p.hlh_mrd_pre_ld

    post_counts = _scaled(p.mrd_post_ld_counts, n, p)
    r = p.post_ld_rank_corr
    score = r * normal_scores(pre, rng) + math.sqrt(1 - r * r) * rng.normal(size=n)
    post_stratum = np.zeros(n, dtype=np.int64)
    top = choose(rng, int(post_counts[3]),
                 np.where(pre_stratum >= 2, 50.0 * score, -np.inf))  # only pre-LD >= 1e-3
    post_stratum[top] = 3
    others = np.setdiff1d(idx, top)
    order = others[np.argsort(score[others], kind="stable")]
    post_stratum[order] = np.searchsorted(np.cumsum(post_counts[:3]), np.arange(len(order)),
                                          side="right")
    post = _mrd_values(rng, post_stratum, p.mrd_max)
    return Mrd(pre_stratum, pre, post_stratum, post, pre >= 1e-3, post >= 1e-3, mask(n, hlh_idx))


def _mrd_values(rng: Rng, strata: np.ndarray, top: float) -> np.ndarray:
    """MRD fractions: 0 in stratum 0, log-uniform within [1e-4, 1e-3), [1e-3, 1e-2) and
    [1e-2, top]; rounded to 3 significant digits without leaving the stratum."""
    lo = np.array([0.0, 1e-4, 1e-3, 1e-2])[strata]
    hi = np.array([0.0, 1e-3 * 0.977, 1e-2 * 0.977, top])[strata]
    u = rng.random(len(strata))
    pos = strata > 0
    out = np.zeros(len(strata))
    out[pos] = np.exp(np.log(lo[pos]) + u[pos] * (np.log(hi[pos]) - np.log(lo[pos])))
    return round_sig(out, 3)


@_output
class Response:
    """Day-28 response."""
    code: np.ndarray          # code in schema.D28_RESPONSES: 0 CR, 1 CRi, 2 NR
    nr: np.ndarray            # bool: no response
    mrd_positive: np.ndarray  # bool: MRD-positive CR/CRi
    nonexpander: np.ndarray   # bool: without CAR-T expansion, the MRD-positive responder (P)
    d28_mrd: np.ndarray       # fraction, 3 significant digits; 0 when not detected


def draw_response(rng: Rng, p: SyntheticParams, mrd: Mrd) -> Response:
    """Stage 4, day-28 response (stream ``response``).

    P: 48 MRD-negative CR/CRi, 1 MRD-positive CR/CRi and 1 NR (Results; C: CR/CRi 45/4).
    The non-responder and the MRD-positive responder are weighted draws by post-LD MRD
    stratum (never the HLH patient), with a log-uniform day-28 MRD in their range.
    """
    n = len(mrd.hlh)
    d28_top = _scaled(p.d28_mrd_counts, n, p)
    d28_counts = np.concatenate([scale_counts(p.d28_cr_cri_counts, int(d28_top[:2].sum())),
                                 d28_top[2:]])
    nr = mask(n, choose(rng, int(d28_counts[2]), np.where(
        mrd.hlh, -np.inf, p.nr_logw_per_post_ld_stratum * mrd.post_stratum)))
    code = np.full(n, 2, dtype=np.int64)
    responders = np.flatnonzero(~nr)
    cr_cri = np.repeat([0, 1], d28_counts[:2])
    code[responders] = rng.permutation(cr_cri)[:len(responders)] if len(cr_cri) >= len(
        responders) else rng.choice([0, 1], len(responders))
    pos = mask(n, choose(rng, int(d28_top[1]), np.where(
        nr | mrd.hlh, -np.inf, p.mrd_positive_logw_per_post_ld_stratum * mrd.post_stratum)))
    d28_mrd = np.zeros(n)
    for who, (lo, hi) in ((nr, p.d28_nr_mrd_range), (pos, p.d28_mrd_positive_range)):
        d28_mrd[who] = np.exp(rng.uniform(math.log(lo), math.log(hi), int(who.sum())))
    return Response(code, nr, pos, pos, np.maximum(round_sig(d28_mrd, 3), 0.0))


# ============================================================================================
# 5-6. Toxicity and IL-6
# ============================================================================================

@_output
class Toxicity:
    """Toxicity within 28 days and its treatment."""
    crs: np.ndarray          # CRS grade 0-4
    severe: np.ndarray       # bool: grade >= 3 CRS
    icans: np.ndarray        # ICANS grade 0-3
    tocilizumab: np.ndarray  # bool
    steroids: np.ndarray     # bool: corticosteroids
    neutropenia: np.ndarray  # bool: grade-4 neutropenia
    anc: np.ndarray          # nadir ANC, 10^9/L, two decimals
    infection: np.ndarray    # -1 none; 0 bacterial, 1 CMV, 2 EBV, 3 fungal


def draw_toxicity(rng: Rng, p: SyntheticParams, base: Baseline, mrd: Mrd) -> Toxicity:
    """Stage 5, toxicity (stream ``toxicity``).

    Exact counts (P: Results): CRS 34, grade >= 3 in 8 (C: grades 16/16/10/6/2), ICANS 5
    (C: grades 2/2/1), tocilizumab 14 (CRS grade >= 2 only), corticosteroids 7, grade-4
    neutropenia 24, infections 4 bacterial, 2 CMV, 1 EBV, 2 fungal. Who has each is a
    weighted draw (severe CRS: pre-/post-LD MRD >= 1e-3 and dose >= 3.68, P: Table 2; male
    sex, prior HSCT); the HLH patient has all but ICANS and infection. :func:`_anc_nadir`.
    """
    n, hlh = len(mrd.hlh), mrd.hlh
    c = p.crs_grade_counts  # published: any grade and grade >= 3; the grades split within
    crs_top = _scaled((c[0], c[1] + c[2], c[3] + c[4]), n, p)
    mild_counts = scale_counts(c[1:3], int(crs_top[1]))
    severe_counts = scale_counts(c[3:5], int(crs_top[2]))
    crs = np.zeros(n, dtype=np.int64)
    severe_lw = (p.severe_crs_logw_pre_ld_high * mrd.pre_high
                 + p.severe_crs_logw_dose_high * base.dose_high
                 + p.severe_crs_logw_post_ld_high * mrd.post_high
                 + p.severe_crs_logw_male * base.male
                 + p.severe_crs_logw_prior_hsct * base.prior_hsct)
    severe_idx = choose(rng, int(severe_counts.sum()), np.where(hlh, FORCE, severe_lw))
    crs[severe_idx] = _grades(rng, 3, severe_counts, len(severe_idx))
    mild_idx = choose(rng, int(mild_counts.sum()), np.where(
        crs >= 3, -np.inf, p.any_crs_logw_per_mrd_stratum * mrd.pre_stratum))
    crs[mild_idx] = _grades(rng, 1, mild_counts, len(mild_idx))
    severe = crs >= 3

    c = p.icans_grade_counts  # published: any ICANS; the grades split within
    icans_grades = scale_counts(c[1:], int(_scaled((c[0], sum(c[1:])), n, p)[1]))
    icans = np.zeros(n, dtype=np.int64)
    icans_idx = choose(rng, int(icans_grades.sum()),
                       p.icans_logw_severe_crs * severe + p.icans_logw_pre_ld_high * mrd.pre_high)
    icans[icans_idx] = _grades(rng, 1, icans_grades, len(icans_idx))

    def yes(counts: tuple[int, ...], logw: np.ndarray) -> np.ndarray:
        return mask(n, choose(rng, int(_scaled(counts, n, p)[0]), logw))

    tocilizumab = yes(p.tocilizumab_counts, np.where(
        crs >= 2, np.where(hlh, FORCE, p.tocilizumab_logw_severe_crs * severe), -np.inf))
    steroids = yes(p.corticosteroid_counts, np.where(
        hlh, FORCE, p.steroid_logw_severe_crs * severe + p.steroid_logw_icans * (icans >= 1)))
    neutropenia = yes(p.neutropenia_g4_counts,
                      np.where(hlh, FORCE, p.neutropenia_logw_severe_crs * severe))
    anc = _anc_nadir(rng, p, neutropenia)

    inf_counts = _scaled(p.infection_counts, n, p)
    inf_idx = choose(rng, int(inf_counts[:4].sum()),
                     p.infection_logw_neutropenia * neutropenia
                     + p.infection_logw_steroids * steroids
                     + p.infection_logw_prior_hsct * base.prior_hsct)
    infection = np.full(n, -1)
    infection[inf_idx] = rng.permutation(np.repeat(np.arange(4), inf_counts[:4]))
    return Toxicity(crs, severe, icans, tocilizumab, steroids, neutropenia, anc, infection)


def _grades(rng: Rng, first: int, counts: np.ndarray, k: int) -> np.ndarray:
    """Grades ``first, first + 1, ...`` in the numbers ``counts``, shuffled (the first ``k``)."""
    return first + rng.permutation(np.repeat(np.arange(len(counts)), counts))[:k]


def _anc_nadir(rng: Rng, p: SyntheticParams, neutropenia: np.ndarray) -> np.ndarray:
    """Nadir ANC (10^9/L, two decimals): grade-4 patients between ``anc_min`` and just below
    ``anc_g4_threshold``, the others between the threshold and ``anc_max``; the overall median
    (P: 0.53 (0.05-1.45)) is pinned when it falls among the non-grade-4 values (true for
    n = 50)."""
    n, k4 = len(neutropenia), int(neutropenia.sum())
    anc_sorted = np.empty(n)
    if k4:
        anc_sorted[:k4] = pinned_sorted(rng, k4, {0: p.anc_min, k4 - 1: p.anc_g4_threshold
                                                  - 0.01} if k4 > 1 else {0: p.anc_min},
                                        log=True)
    m = n - k4
    if m == 1:
        anc_sorted[k4:] = p.anc_median
    elif m > 1:
        pins = {0: p.anc_g4_threshold, m - 1: p.anc_max}
        for q in median_positions(n):
            if 0 <= q - k4 < m - 1:
                pins[q - k4] = p.anc_median
        anc_sorted[k4:] = pinned_sorted(rng, m, pins, log=True)
    anc_sorted = round_dec(anc_sorted, 2)
    anc = np.empty(n)
    anc[neutropenia] = rng.permutation(anc_sorted[:k4])
    anc[~neutropenia] = rng.permutation(anc_sorted[k4:])
    return anc


@_output
class Il6:
    """Peak IL-6 after infusion."""
    elevated: np.ndarray    # bool
    peak: np.ndarray        # pg/mL, one decimal
    above_uloq: np.ndarray  # bool: peak at the assay's upper limit (written "> 5000")
    peak_day: np.ndarray    # day of the peak (int)


def draw_il6(rng: Rng, p: SyntheticParams, mrd: Mrd, tox: Toxicity) -> Il6:
    """Stage 6, IL-6 (stream ``il6``).

    P: 39 elevated, peaks 33.3 (7.6 to > 5000) pg/mL on day 8 (1-22) (Results). Severe CRS,
    ICANS and HLH are always elevated, others weighted by any CRS; the pinned peaks go to
    the most severe toxicity first (a noisy key), only the top one at the upper limit; the
    others are uniform below 7.6. Peak days: pinned minimum, median and maximum, shuffled.
    """
    n, crs, icans, hlh = len(tox.crs), tox.crs, tox.icans, mrd.hlh
    must = tox.severe | (icans >= 1) | hlh
    idx = choose(rng, int(_scaled(p.il6_elevated_counts, n, p)[0]),
                 np.where(must, FORCE, p.il6_logw_any_crs * (crs >= 1)))
    elevated = mask(n, idx)
    peak = np.empty(n)
    m = len(idx)
    if m:
        vals = round_dec(pinned_sorted(
            rng, m, mmm_pins(m, p.il6_min_elevated, p.il6_median_elevated, p.il6_uloq),
            log=True, center=p.il6_median_elevated, power=1.6), 1)
        if m > 1:  # only the top value is at the assay's upper limit
            vals[:-1] = np.minimum(vals[:-1], p.il6_uloq - 0.1)
        sev = (crs + 1.5 * (icans >= 1) + 3.0 * hlh)[idx] + 0.8 * rng.gumbel(size=m)
        peak[idx] = assign_by_key(vals, sev)
    low = np.flatnonzero(~elevated)
    peak[low] = round_dec(rng.uniform(*p.il6_nonelevated_range, len(low)), 1)
    day = rng.permutation(np.rint(pinned_sorted(
        rng, n, mmm_pins(n, p.il6_day_min, p.il6_day_median, p.il6_day_max),
        log=False))).astype(np.int64)
    return Il6(elevated, peak, elevated & (peak >= p.il6_uloq), day)


# ============================================================================================
# 7. CAR-T kinetics
# ============================================================================================

@_output
class Kinetics:
    """Transgene levels on the full sampling grid (``G`` days), before the cut at the last
    follow-up (:func:`analysis_lib.synthetic.generator.assemble_cohort`)."""
    days: np.ndarray   # (G,) days from infusion (int)
    conc: np.ndarray   # (n, G) copies/µg DNA, 4 significant digits; NaN below the LLOQ
    blq: np.ndarray    # (n, G) bool: below the LLOQ
    kept: np.ndarray   # (n, G) bool: sampled (scheduled, before the stopping rule ends it)
    tlast: np.ndarray  # (n,) last sampled day at or above the LLOQ (0 when none), float


def draw_kinetics(rng: Rng, p: SyntheticParams, mrd: Mrd, resp: Response,
                  tox: Toxicity) -> Kinetics:
    """Stage 7, CAR-T kinetics (stream ``kinetics``).

    The model of Stein et al. (2019) (:func:`stein_concentration`) with log-normal random
    effects (:func:`_stein_parameters`), a log-Cmax shift for corticosteroids, severe CRS and
    post-LD MRD >= 1e-3 (P: Table 3), log-normal assay error, the paper's schedule
    (:func:`_schedule`) and stopping rule (:func:`_stopping_rule`). The non-responder peaks
    at 1,602 and the non-expander at 124 copies/µg on day 7 (P: their median 863, Table 3);
    the others are calibrated to the published median Cmax and floor (:func:`_calibrate_peaks`).
    """
    n = len(mrd.hlh)
    days = p.sampling_days()
    post = days > 0
    shift = (p.cmax_logshift_steroids * tox.steroids + p.cmax_logshift_severe_crs * tox.severe
             + p.cmax_logshift_post_ld_high * mrd.post_high)
    fixed_cmax = np.full(n, np.nan)
    fixed_cmax[resp.nr] = p.nr_cmax
    fixed_cmax[resp.nonexpander] = p.nonexpander_cmax
    fixed = np.isfinite(fixed_cmax)
    theta = _stein_parameters(rng, p, days, shift, fixed_cmax)
    sched = _schedule(rng, p, days, n)
    obs = (stein_concentration(days[None, :].astype(float), *(a[:, None] for a in theta))
           * np.exp(rng.normal(0.0, p.residual_sd, (n, len(days)))))
    obs[:, ~post] = 0.0  # pre-infusion sample: no transgene yet
    if fixed.any():
        # a fixed peak is the *observed* Cmax, seen at the first post-infusion core visit;
        # every other level stays below it
        target = fixed_cmax[fixed][:, None]
        obs[fixed] = np.minimum(obs[fixed], 0.9 * target)
        obs[np.ix_(np.flatnonzero(fixed), [_first_visit(p, days)])] = target
    observe = _stopping_rule(p, days, sched)
    blq, kept = _calibrate_peaks(rng, p, obs, fixed, sched, post, observe)
    conc = np.where(blq, np.nan, round_sig(np.minimum(obs, 1e9), 4))
    tlast = np.where(kept & ~blq, days[None, :], 0).max(axis=1).astype(float)
    return Kinetics(days, conc, blq, kept, tlast)


def stein_concentration(t: np.ndarray, cmax: np.ndarray, tmax: np.ndarray, foldx: np.ndarray,
                        alpha: np.ndarray, beta: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """Piecewise CAR-T transgene model of Stein et al. (2019), in copies/µg DNA.

    ``rho = ln(foldx) / Tmax``; before ``Tmax``: ``C(t) = (Cmax / foldx) * exp(rho * t)``;
    after: ``C(t) = Cmax * ((1 - FB) * exp(-alpha * (t - Tmax)) + FB * exp(-beta * (t - Tmax)))``.

    Parameters
    ----------
    t : array of days since infusion (broadcast against the per-patient parameters).
    cmax : peak level (copies/µg); tmax : time of the peak (days); foldx : fold expansion;
    alpha, beta : fast and slow decline rates (1/day); fb : fraction in the slow compartment.
    """
    rho = np.log(foldx) / tmax
    dt = t - tmax
    up = (cmax / foldx) * np.exp(rho * np.minimum(t, tmax))
    dtp = np.maximum(dt, 0.0)
    down = cmax * ((1.0 - fb) * np.exp(-alpha * dtp) + fb * np.exp(-beta * dtp))
    return np.where(dt < 0, up, down)


def _stein_parameters(rng: Rng, p: SyntheticParams, days: np.ndarray,
                      cmax_logshift: np.ndarray, cmax_fixed: np.ndarray
                      ) -> tuple[np.ndarray, ...]:
    """Per-patient ``(cmax, tmax, foldx, alpha, beta, fb)`` of :func:`stein_concentration`:
    typical values times log-normal random effects drawn by Latin-hypercube sampling (so small
    cohorts keep the intended medians); patients with a fixed (low) peak barely expand, peak
    at the first post-infusion visit and do not persist."""
    n = len(cmax_logshift)

    def eta(omega: float) -> np.ndarray:
        return omega * stratified_normal(rng, n)

    fixed = np.isfinite(cmax_fixed)
    cmax = p.cmax_typical * np.exp(eta(p.cmax_omega) + cmax_logshift)
    cmax[fixed] = cmax_fixed[fixed]
    tmax = np.clip(p.tmax_typical * np.exp(eta(p.tmax_omega)), p.tmax_bounds[0], p.tmax_bounds[1])
    tmax[fixed] = days[_first_visit(p, days)]
    # fold expansion through the level just after infusion: foldx = Cmax / C0 (Stein's
    # C(0) = Cmax / foldx), with C0 varying less than the peak
    c0 = p.initial_level_typical * np.exp(eta(p.initial_level_omega))
    foldx = np.maximum(cmax / c0, 2.0)
    foldx[fixed] = p.low_expansion_foldx
    alpha = p.alpha_typical * np.exp(eta(p.alpha_omega))
    beta = p.beta_typical * np.exp(eta(p.beta_omega))
    fb = np.clip(p.fb_typical * np.exp(eta(p.fb_omega)), 0.0, 0.5)
    fb[fixed] = np.minimum(fb[fixed], 1e-4)
    return cmax, tmax, foldx, alpha, beta, fb


def _first_visit(p: SyntheticParams, days: np.ndarray) -> int:
    """Grid index of the first post-infusion core visit (day 7)."""
    return int(np.searchsorted(days, min(d for d in p.core_days if d > 0)))


def _schedule(rng: Rng, p: SyntheticParams, days: np.ndarray, n: int) -> np.ndarray:
    """(n, G) scheduled samples: every core and six-monthly visit, and each extra visit with
    its probability (``extra_day_probs``)."""
    sched = np.zeros((n, len(days)), dtype=bool)
    sched[:, np.isin(days, np.asarray(p.core_days)) | (days > max(p.core_days))] = True
    for d, prob in zip(p.extra_days, p.extra_day_probs):
        sched[:, int(np.searchsorted(days, d))] |= rng.random(n) < prob
    return sched


def _stopping_rule(p: SyntheticParams, days: np.ndarray, sched: np.ndarray
                   ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``observe(levels) -> (blq, kept)``: the below-LLOQ flags, and the scheduled samples up
    to the second of two consecutive post-infusion results below the LLOQ, after which
    monitoring stops (P: Methods)."""
    n, g = sched.shape
    post = days > 0
    ar = np.broadcast_to(np.arange(g), (n, g))
    last_idx = np.maximum.accumulate(np.where(sched & post[None, :], ar, -1), axis=1)
    prev_idx = np.concatenate([np.full((n, 1), -1), last_idx[:, :-1]], axis=1)
    prev_ok = prev_idx >= 0
    prev_idx = np.maximum(prev_idx, 0)

    def observe(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        blq = levels < p.lloq
        prev_blq = np.take_along_axis(blq, prev_idx, axis=1) & prev_ok
        stop_here = sched & post[None, :] & blq & prev_blq
        first_stop = np.where(stop_here.any(axis=1), stop_here.argmax(axis=1), g)
        return blq, sched & (ar <= first_stop[:, None])

    return observe


def _calibrate_peaks(rng: Rng, p: SyntheticParams, obs: np.ndarray, fixed: np.ndarray,
                     sched: np.ndarray, post: np.ndarray,
                     observe: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Scale the freely drawn profiles ``obs`` (in place; not the ``fixed`` low peaks) by one
    common factor so that the cohort's observed median Cmax is ``cmax_median_target``
    (P: 30,860 copies/µg); then scale up any that would peak below ``cmax_floor`` (P: 1,602,
    the smallest Cmax among the expanders) so that its largest scheduled level is
    ``floor * exp(|N(0, 0.3^2)|)``, keeping its shape. Returns ``observe(obs)``."""
    blq, kept = observe(obs)
    if p.cmax_median_target is not None and len(obs) > 1 and (~fixed).any():
        peak = np.where(kept & ~blq, obs, 0.0).max(axis=1)
        # the median over patients with a measurable peak (an all-BLQ profile has no Cmax)
        med = float(np.median(peak[peak > 0])) if (peak > 0).any() else 0.0
        if med > 0:
            obs[~fixed] *= p.cmax_median_target / med
            blq, kept = observe(obs)
    if p.cmax_floor is not None and (~fixed).any():
        row_max = np.where(sched & post[None, :], obs, 0.0).max(axis=1)  # scheduled only
        peak = np.where(kept & ~blq, obs, 0.0).max(axis=1)
        low = ~fixed & (peak < p.cmax_floor)
        if low.any():
            goal = p.cmax_floor * np.exp(np.abs(rng.normal(0.0, 0.3, int(low.sum()))))
            obs[low] *= (goal / np.maximum(row_max[low], 1e-12))[:, None]
            obs[:, ~post] = 0.0
            blq, kept = observe(obs)
    return blq, kept


# ============================================================================================
# 8. B-cell aplasia
# ============================================================================================

@_output
class Bca:
    """B-cell aplasia (BCA)."""
    bca: np.ndarray       # bool
    onset: np.ndarray     # day of onset (int); -1 without BCA
    duration: np.ndarray  # days; NaN without BCA (censored at last follow-up by censor_bca)
    ongoing: np.ndarray   # bool: ongoing at last follow-up (set by censor_bca)


def draw_bca(rng: Rng, p: SyntheticParams, resp: Response, kin: Kinetics) -> Bca:
    """Stage 8, B-cell aplasia (stream ``bca``, continued by :func:`censor_bca`).

    P: 48 with BCA (Results): not the non-responder and the non-expander, then not the
    shortest CAR-T persistence (Tlast). Onsets pinned (P: 1-20 days), shuffled; durations
    pinned (P: median 59 days) and given out by a latent score correlated with Tlast
    (:func:`_rank_correlated`; P: Spearman 0.570).
    """
    n = len(resp.nr)
    no_bca = choose(rng, n - int(_scaled(p.bca_counts, n, p)[0]),
                    np.where(resp.nr | resp.nonexpander, FORCE, -np.log1p(kin.tlast)))
    bca = ~mask(n, no_bca)
    bi = np.flatnonzero(bca)
    mb = len(bi)
    onset = np.full(n, -1, dtype=np.int64)
    duration = np.full(n, np.nan)
    if mb:
        onset[bi] = rng.permutation(np.rint(pinned_sorted(
            rng, mb, mmm_pins(mb, p.bca_onset_min, p.bca_onset_median, p.bca_onset_max),
            log=False))).astype(np.int64)
        dur_sorted = np.rint(pinned_sorted(
            rng, mb, mmm_pins(mb, p.bca_duration_min, p.bca_duration_median,
                              p.bca_duration_max), log=True,
            center=p.bca_duration_median, power=1.3))
        duration[bi] = _rank_correlated(rng, dur_sorted, kin.tlast[bi], p.bca_tlast_spearman,
                                        p.bca_latent_corr_grid)
    return Bca(bca, onset, duration, np.zeros(n, dtype=bool))


def _rank_correlated(rng: Rng, sorted_values: np.ndarray, x: np.ndarray, target: float,
                     grid: tuple[float, ...]) -> np.ndarray:
    """``sorted_values`` given out by the ranks of a latent score ``rc * z + sqrt(1 - rc^2) * e``
    (``z`` the normal scores of ``x``, ``e`` standard normal), with ``rc`` the first value of
    ``grid`` whose realised Spearman correlation with ``x`` is nearest ``target``."""
    m = len(x)
    scores = normal_scores(x, rng)
    noise = rng.normal(size=m)
    best, best_gap = None, np.inf
    for rc in grid:
        cand = assign_by_key(sorted_values, rc * scores + math.sqrt(1 - rc * rc) * noise)
        rho = spearman(cand, x) if m > 2 else target
        gap = abs(rho - target) if np.isfinite(rho) else np.inf
        if best is None or gap < best_gap - 1e-12:
            best, best_gap = cand, gap
    return best


# ============================================================================================
# 9-12. Relapse, transplant, death and follow-up
# ============================================================================================

@_output
class Relapse:
    """Relapse after CAR-T (the day-28 non-responder counts as a CD19-positive relapse)."""
    relapse: np.ndarray  # bool
    cd19neg: np.ndarray  # bool: CD19-negative relapse
    cd19pos: np.ndarray  # bool: CD19-positive relapse
    day: np.ndarray      # day of relapse (int); -1 without


def draw_relapse(rng: Rng, p: SyntheticParams, base: Baseline, mrd: Mrd, resp: Response,
                 bca: Bca) -> Relapse:
    """Stage 9, relapse (stream ``relapse``).

    P: 15 relapses, 4 CD19-negative and 11 CD19-positive (Results). The largest keys (log
    relative hazard + Gumbel: male sex, fitted to the female HR 0.235 of Table 1A; short or
    no BCA; MRD-positive response; post-LD MRD >= 1e-3; the non-responder first) relapse, by
    sex if ``relapse_sex_counts`` is set; CD19-negative ones favour long BCA (antigen
    escape). Days: :func:`_relapse_days`, the earliest to the largest key.
    """
    n, nr = len(resp.nr), resp.nr
    c = p.relapse_counts  # published: relapse yes/no, then CD19-negative/positive within
    neg_pos = scale_counts(c[:2], int(_scaled((c[0] + c[1], c[2]), n, p)[0]))
    n_rel = int(neg_pos.sum())
    log_bca = np.log(np.maximum(np.where(bca.bca, bca.duration, 0.0), 1.0)
                     / p.bca_duration_median)
    logw = (p.relapse_logw_male * base.male
            + p.relapse_logw_per_log_bca * np.where(bca.bca, log_bca, 0)
            + p.relapse_logw_no_bca * ~bca.bca + p.relapse_logw_mrd_positive * resp.mrd_positive
            + p.relapse_logw_post_ld_high * mrd.post_high)
    key = np.where(nr, FORCE, logw) + rng.gumbel(size=n)  # Plackett-Luce order = event order
    relapse = np.zeros(n, dtype=bool)
    if p.relapse_sex_counts is None:
        # who relapses follows the keys alone: sex acts through relapse_logw_male
        relapse[np.argsort(-key, kind="stable")[:n_rel]] = True
    else:
        # how many relapses in each sex is fixed, then who relapses within a sex follows the keys
        male = base.male
        k_male = int(min(scale_counts(p.relapse_sex_counts, n_rel)[0], male.sum()))
        k_female = int(min(n_rel - k_male, (~male).sum()))
        k_male = n_rel - k_female
        for sel, k in ((male, k_male), (~male, k_female)):
            members = np.flatnonzero(sel)
            relapse[members[np.argsort(-key[members], kind="stable")[:k]]] = True
    k_neg = int(min(neg_pos[0], n_rel - int(nr.sum())))
    cd19neg = mask(n, choose(rng, k_neg, np.where(
        relapse & bca.bca & ~nr, p.cd19neg_logw_per_log_bca * np.where(bca.bca, log_bca, 0),
        -np.inf)))
    cd19pos = relapse & ~cd19neg
    return Relapse(relapse, cd19neg, cd19pos, _relapse_days(rng, p, nr, cd19neg, cd19pos, key))


def _relapse_days(rng: Rng, p: SyntheticParams, nr: np.ndarray, cd19neg: np.ndarray,
                  cd19pos: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Relapse days (-1 without), the earliest to the largest key within each CD19 status.

    CD19-negative: minimum, median and maximum pinned at 60, 152 and 300 days (P: median 5.0
    months). CD19-positive: non-responders progress between the published minimum of 15 days
    and day 28; the responders' days run from day 45 to the published maximum of 1169 days
    with the CD19-positive median (P: 15.7 months = 478 days) and, when the positions allow,
    the overall median (P: 12.0 months = 365 days) pinned.
    """
    m_neg, m_pos = int(cd19neg.sum()), int(cd19pos.sum())
    day = np.full(len(key), -1, dtype=np.int64)
    if m_neg:
        vals = np.rint(pinned_sorted(rng, m_neg, mmm_pins(
            m_neg, p.relapse_neg_day_min, p.relapse_neg_day_median, p.relapse_neg_day_max)))
        day[cd19neg] = assign_by_key(vals, -key[cd19neg])
    if m_pos:
        n_nr_pos = int((cd19pos & nr).sum())
        nr_vals = (pinned_sorted(rng, n_nr_pos, {0: p.relapse_day_min,
                                                 n_nr_pos - 1: p.nr_progression_day_max}
                                 if n_nr_pos > 1 else {0: p.relapse_day_min}, log=False)
                   if n_nr_pos else np.empty(0))
        m_r = m_pos - n_nr_pos
        if m_r:
            pins = {0: p.relapse_pos_first_responder_day, m_r - 1: p.relapse_day_max}
            mids = [q - n_nr_pos for q in median_positions(m_pos)]
            overall = [q - m_neg - n_nr_pos for q in median_positions(m_neg + m_pos)]
            if m_r == 1:
                pins = {0: p.relapse_day_max}
            elif all(0 < q < m_r - 1 for q in mids):
                for q in mids:
                    pins[q] = p.relapse_pos_day_median
                if all(0 < q < min(mids) for q in overall):
                    for q in overall:
                        pins[q] = p.relapse_day_median
            r_vals = pinned_sorted(rng, m_r, pins, log=True)
        else:
            r_vals = np.empty(0)
        vals = np.rint(np.concatenate([nr_vals, r_vals]))
        day[cd19pos] = assign_by_key(vals, -key[cd19pos])
    day[nr] = np.minimum(day[nr], p.nr_progression_day_max)
    return day


@_output
class Hsct:
    """Bridging allogeneic HSCT after CAR-T."""
    hsct: np.ndarray  # bool
    day: np.ndarray   # day of the transplant (int); -1 without


def draw_hsct(rng: Rng, p: SyntheticParams, base: Baseline, resp: Response, rel: Relapse,
              kin: Kinetics) -> Hsct:
    """Stage 10, bridging HSCT (stream ``hsct``).

    P: 32 transplants after 2.6 (1.3-9.0) months (Results), pinned and shuffled, among
    responders not relapsing by the latest of those days, weighted against prior HSCT and
    long CAR-T persistence and towards high genetic risk; always before any relapse.
    """
    n, relapse = len(resp.nr), rel.relapse
    eligible = ~resp.nr & (~relapse | (rel.day > p.hsct_day_max))
    logw = (p.hsct_logw_prior_hsct * base.prior_hsct + p.hsct_logw_high_risk * (base.genetic == 1)
            + p.hsct_logw_per_log_tlast * np.log1p(kin.tlast))
    idx = choose(rng, int(_scaled(p.hsct_counts, n, p)[0]), np.where(eligible, logw, -np.inf))
    hsct = mask(n, idx)
    day = np.full(n, -1, dtype=np.int64)
    if len(idx):
        day[idx] = rng.permutation(np.rint(pinned_sorted(
            rng, len(idx), mmm_pins(len(idx), p.hsct_day_min, p.hsct_day_median,
                                    p.hsct_day_max)))).astype(np.int64)
    day[hsct] = np.minimum(day[hsct], np.where(relapse[hsct], rel.day[hsct] - 1, day[hsct]))
    return Hsct(hsct, day)


@_output
class FollowUp:
    """Death and the end of follow-up."""
    death: np.ndarray  # bool
    day: np.ndarray    # day of death (int); -1 alive
    cause: np.ndarray  # code in schema.DEATH_CAUSES; -1 alive
    last: np.ndarray   # last follow-up day: death, else the data cut-off (int)


def draw_death(rng: Rng, p: SyntheticParams, mrd: Mrd, resp: Response, rel: Relapse,
               hsct: Hsct, admin_fu: np.ndarray) -> FollowUp:
    """Stage 11, death and follow-up (stream ``death``).

    C: 10 leukaemia deaths after relapse or non-response (early and CD19-negative relapses
    weighted up, the non-responder forced in) and 2 transplant-related deaths after HSCT
    without relapse, favouring undetectable pre-LD MRD: 5-year OS, LFS and that group's NRM
    near the published 74.9 %, 67.8 % and 15.4 %. Deaths follow truncated log-normal gaps
    before the cut-off; the others are followed to it (``admin_fu``).
    """
    n, nr, relapse = len(resp.nr), resp.nr, rel.relapse
    counts = _scaled(p.death_counts, n, p)
    leuk_lw = np.where(relapse, p.leukemia_death_logw_per_log_relapse_day
                       * np.log(np.maximum(rel.day, 1)) + p.leukemia_death_logw_cd19neg
                       * rel.cd19neg, -np.inf)
    leuk_idx = choose(rng, int(counts[0]), np.where(nr, FORCE, leuk_lw))
    trm_idx = choose(rng, int(counts[1]), np.where(
        hsct.hsct & ~relapse, p.trm_logw_mrd_zero * (mrd.pre_stratum == 0), -np.inf))
    day = np.full(n, -1, dtype=np.int64)
    cause = np.full(n, -1, dtype=np.int64)
    # leukaemia deaths from the relapse (a non-responder not counted as relapsed: from day
    # 28), transplant-related deaths from the transplant
    leuk_start = np.where(rel.day[leuk_idx] >= 0, rel.day[leuk_idx], p.nr_progression_day_max)
    for idx, start, median, (lo, hi), what in (
            (leuk_idx, leuk_start, p.leukemia_death_gap_median, p.leukemia_death_gap_range,
             "leukemia"),
            (trm_idx, hsct.day[trm_idx], p.trm_gap_median, p.trm_gap_range,
             "transplant_related")):
        if len(idx):
            gap = trunc_lognormal(rng, median, p.gap_sigma, np.full(len(idx), lo),
                                  np.minimum(hi, admin_fu[idx] - start - 1))
            day[idx] = start + np.rint(gap).astype(np.int64)
            cause[idx] = DEATH_CAUSES.index(what)
    death = day >= 0
    day[death] = np.minimum(day[death], admin_fu[death])
    return FollowUp(death, day, cause, np.where(death, day, admin_fu).astype(np.int64))


def censor_bca(rng: Rng, p: SyntheticParams, bca: Bca, rel: Relapse, hsct: Hsct,
               fu: FollowUp) -> Bca:
    """Stage 12, BCA at the last follow-up (stream ``bca``, after :func:`draw_bca`).

    C: 3 long episodes are ongoing, drawn among patients alive without relapse or HSCT whose
    aplasia outlasts the median (the longest first), and so is every episode that would end
    after the last follow-up; ongoing durations are censored there.
    """
    n = len(bca.bca)
    ongoing = np.zeros(n, dtype=bool)
    duration = bca.duration.copy()
    if bca.bca.any():
        cand = (bca.bca & ~rel.relapse & ~fu.death & ~hsct.hsct
                & (duration > p.bca_duration_median))
        ongoing[choose(rng, int(_scaled(p.bca_ongoing_counts, n, p)[0]),
                       np.where(cand, 25.0 * np.log(np.where(cand, duration, 1.0)),
                                -np.inf))] = True
        ongoing |= bca.bca & (bca.onset + np.nan_to_num(duration) > fu.last)
        duration[ongoing] = np.maximum(fu.last - bca.onset, 0)[ongoing]
    return replace(bca, duration=duration, ongoing=ongoing)
