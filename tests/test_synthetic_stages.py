"""Unit tests of the stages of the synthetic generator (analysis_lib.synthetic.stages).

Each test checks a property that a stage guarantees on its own, at cohort sizes other than
the published 50 as well; the end-to-end checks of the published numbers at n = 50 are in
test_synthetic.py. Expected values are the parameters' documented defaults (the published
numbers, see SyntheticParams), counts scaled by an independent largest-remainder rule, or
properties of the method; never values taken from the stages' own output.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from analysis_lib.synthetic import stages
from analysis_lib.synthetic.generator import generate_cohort
from analysis_lib.synthetic.params import SyntheticParams
from test_synthetic import scaled  # independent largest-remainder scaling

P = SyntheticParams()
MRD_CUTS = np.array([1e-4, 1e-3, 1e-2])  # Table 3 strata


def run(n: int, seed: int, p: SyntheticParams = P) -> SimpleNamespace:
    """Every stage's output, in the order of generate_cohort."""
    rng = stages.spawn_streams(seed)
    s = SimpleNamespace(n=n, p=p)
    s.base = stages.draw_baseline(rng["baseline"], p, n)
    s.admin_fu = stages.draw_enrolment(rng["accrual"], p, n)
    s.mrd = stages.draw_mrd(rng["mrd"], p, s.base)
    s.resp = stages.draw_response(rng["response"], p, s.mrd)
    s.tox = stages.draw_toxicity(rng["toxicity"], p, s.base, s.mrd)
    s.il6 = stages.draw_il6(rng["il6"], p, s.mrd, s.tox)
    s.kin = stages.draw_kinetics(rng["kinetics"], p, s.mrd, s.resp, s.tox)
    s.bca0 = stages.draw_bca(rng["bca"], p, s.resp, s.kin)
    s.rel = stages.draw_relapse(rng["relapse"], p, s.base, s.mrd, s.resp, s.bca0)
    s.hsct = stages.draw_hsct(rng["hsct"], p, s.base, s.resp, s.rel, s.kin)
    s.fu = stages.draw_death(rng["death"], p, s.mrd, s.resp, s.rel, s.hsct, s.admin_fu)
    s.bca = stages.censor_bca(rng["bca"], p, s.bca0, s.rel, s.hsct, s.fu)
    return s


@pytest.fixture(scope="module", params=[(50, 2209), (137, 4), (600, 11)],
            ids=lambda v: f"n{v[0]}")
def cohort(request) -> SimpleNamespace:
    return run(*request.param)


def yes(counts: tuple[int, ...], n: int) -> int:
    """Scaled number of 'yes' of a published (yes, no) pair."""
    return scaled(counts, n)[0]


# --------------------------------------------------------------------------------------------
# Random streams
# --------------------------------------------------------------------------------------------

#: The order in which the streams are spawned: a contract, since it fixes every cohort of
#: every seed (the shipped cohort was generated with it).
STREAM_ORDER = ("baseline", "mrd", "response", "toxicity", "il6", "kinetics", "bca", "relapse",
                "hsct", "death", "accrual")


def test_streams_are_the_seeds_children_in_a_fixed_order():
    """Each named stream is the child of ``default_rng(seed)`` at its position, and spawning
    one more child (a new stream appended at the end) leaves every existing one unchanged."""
    named = stages.spawn_streams(123)
    assert tuple(named) == stages.STREAMS == STREAM_ORDER
    children = np.random.default_rng(123).spawn(len(STREAM_ORDER) + 1)
    for name, child in zip(STREAM_ORDER, children):
        assert np.array_equal(named[name].random(4), child.random(4)), name


@pytest.mark.parametrize("change,own", [
    # IL-6 is read by no later stage: only its own columns may move
    ({"il6_elevated_counts": (30, 20)}, ("il6_",)),
    # infections are drawn last in the toxicity stream and read by no later stage
    ({"infection_counts": (8, 4, 2, 4, 32)}, ("infection_",)),
])
def test_a_stage_drawing_more_moves_nothing_else(change, own):
    """Streams isolate the stages: a stage that draws a different amount of random numbers
    changes none of the other columns, nor the kinetics."""
    a = generate_cohort(120, 8)
    b = generate_cohort(120, 8, replace(P, **change))
    moved = [c for c in a.patients if not a.patients[c].equals(b.patients[c])]
    assert moved and all(c.startswith(own) for c in moved), moved
    assert a.kinetics.equals(b.kinetics)


# --------------------------------------------------------------------------------------------
# Stages 1-2: baseline and enrolment
# --------------------------------------------------------------------------------------------

def test_baseline_counts_and_pinned_ends(cohort):
    n, b = cohort.n, cohort.base
    assert np.bincount(b.sex, minlength=2).tolist() == scaled(P.sex_counts, n)
    assert np.array_equal(b.male, b.sex == 0)
    assert np.bincount(b.reason, minlength=3).tolist() == scaled(P.enrolment_reason_counts, n)
    assert np.bincount(b.genetic, minlength=2).tolist() == scaled(P.genetic_risk_counts, n)
    assert b.prior_hsct.sum() == yes(P.prior_hsct_counts, n)
    assert b.prior_cart.sum() == yes(P.prior_cart_counts, n)
    young, old = b.age[b.age <= 10.0], b.age[b.age > 10.0]
    assert [len(young), len(old)] == scaled(P.age_group_counts, n)
    assert (young.min(), young.max()) == (P.age_min_years, 10.0)  # pinned group ends
    assert (old.min(), old.max()) == (10.1, P.age_max_years)
    assert (b.diag_days.min(), b.diag_days.max()) == (P.diagnosis_days_min,
                                                       P.diagnosis_days_max)


@pytest.mark.parametrize("n", [2, 3, 4, 11, 120, 1001])
def test_dose_halves(n):
    """n // 2 doses up to 3.66 and the rest from 3.70 (so the median is 3.68 for even n), the
    published extremes pinned, and dose_high flags exactly the upper half."""
    d = stages.draw_baseline(np.random.default_rng(n), P, n)
    low = d.dose <= P.dose_low_median
    assert low.sum() == n // 2
    assert (d.dose[~low] >= P.dose_high_median).all()
    assert np.array_equal(d.dose_high, ~low)
    assert d.dose.max() == (P.dose_max if n - n // 2 > 1 else P.dose_high_median)
    if n // 2 > 1:
        assert d.dose.min() == P.dose_min
    if n % 2 == 0:
        assert np.median(d.dose) == pytest.approx(3.68, abs=1e-12)


def test_enrolment_is_stratified_and_accelerating():
    """Infusions fall in the window (follow-up from the window's end to its start, in days to
    the cut-off); with one uniform per 1/n stratum, the number infused in the first half of
    the window is n * (1/2)^accrual_shape to within one (independent uniforms would scatter
    it by about 15 for n = 1000)."""
    n = 1000
    fu = stages.draw_enrolment(np.random.default_rng(5), P, n)
    start, end, cutoff = (np.datetime64(d, "D") for d in
                          (P.enrolment_start, P.enrolment_end, P.data_cutoff))
    assert fu.min() >= (cutoff - end).astype(int) and fu.max() <= (cutoff - start).astype(int)
    window = (end - start).astype(int)
    first_half = (fu > (cutoff - start).astype(int) - window / 2).sum()
    assert abs(first_half - n * 0.5 ** P.accrual_shape) <= 1.5


# --------------------------------------------------------------------------------------------
# Stages 3-4: MRD and response
# --------------------------------------------------------------------------------------------

def test_mrd_values_stay_in_their_strata(cohort):
    """Counts per stratum exact, and every value (rounded to 3 significant digits) inside the
    stratum it was drawn for; the top post-LD stratum only after pre-LD MRD >= 1e-3."""
    n, m = cohort.n, cohort.mrd
    for values, strata, counts in ((m.pre, m.pre_stratum, P.mrd_pre_ld_counts),
                                   (m.post, m.post_stratum, P.mrd_post_ld_counts)):
        assert np.bincount(strata, minlength=4).tolist() == scaled(counts, n)
        assert np.array_equal(np.searchsorted(MRD_CUTS, values, side="right"), strata)
        assert (values[strata == 0] == 0).all()
        assert values.max() <= P.mrd_max
    assert (m.pre_stratum[m.post_stratum == 3] >= 2).all()
    assert np.array_equal(m.pre_high, m.pre >= 1e-3)
    assert np.array_equal(m.post_high, m.post >= 1e-3)


def test_hlh_patients(cohort):
    """HLH patients come from the top pre-LD stratum; the first drawn has the published
    pre-LD MRD of 3.22 % (one patient at n = 50; more in a larger cohort)."""
    m = cohort.mrd
    assert m.hlh.sum() == yes(P.hlh_counts, cohort.n)
    assert (m.pre_stratum[m.hlh] == 3).all() and (m.pre[m.hlh] == P.hlh_mrd_pre_ld).any()


def test_response_roles(cohort):
    """Non-responders and MRD-positive responders: scaled counts, disjoint, never the HLH
    patient, with day-28 MRD inside their ranges; every other patient MRD-negative; the
    MRD-positive responder is the non-expander."""
    n, r, m = cohort.n, cohort.resp, cohort.mrd
    neg, pos, nr = scaled(P.d28_mrd_counts, n)
    assert r.nr.sum() == nr and r.mrd_positive.sum() == pos
    assert np.array_equal(r.nr, r.code == 2)
    assert np.bincount(r.code[~r.nr], minlength=2).tolist() == scaled(
        P.d28_cr_cri_counts, neg + pos, base=sum(P.d28_cr_cri_counts))
    assert not (r.nr & r.mrd_positive).any() and not ((r.nr | r.mrd_positive) & m.hlh).any()
    assert np.array_equal(r.nonexpander, r.mrd_positive)
    lo, hi = P.d28_nr_mrd_range
    assert ((r.d28_mrd[r.nr] >= lo) & (r.d28_mrd[r.nr] <= hi)).all()
    lo, hi = P.d28_mrd_positive_range
    assert ((r.d28_mrd[r.mrd_positive] >= lo) & (r.d28_mrd[r.mrd_positive] <= hi)).all()
    assert (r.d28_mrd[~(r.nr | r.mrd_positive)] == 0).all()


# --------------------------------------------------------------------------------------------
# Stages 5-6: toxicity and IL-6
# --------------------------------------------------------------------------------------------

def test_toxicity_grades_and_rules(cohort):
    """Every CRS and ICANS grade count as scaled within the published totals; tocilizumab
    only with CRS grade >= 2; the HLH patient has severe CRS, tocilizumab, corticosteroids and
    grade-4 neutropenia; nadir ANC below 0.5 exactly with grade-4 neutropenia."""
    n, t, hlh = cohort.n, cohort.tox, cohort.mrd.hlh
    c = P.crs_grade_counts
    none, mild, severe = scaled((c[0], c[1] + c[2], c[3] + c[4]), n)
    expected = [none, *scaled(c[1:3], mild, base=c[1] + c[2]),
                *scaled(c[3:5], severe, base=c[3] + c[4])]
    assert np.bincount(t.crs, minlength=5).tolist() == expected
    assert np.array_equal(t.severe, t.crs >= 3)
    c = P.icans_grade_counts
    any_icans = scaled((c[0], sum(c[1:])), n)[1]
    assert np.bincount(t.icans, minlength=4)[1:].tolist() == scaled(c[1:], any_icans,
                                                                    base=sum(c[1:]))
    assert t.tocilizumab.sum() == yes(P.tocilizumab_counts, n)
    assert (t.crs[t.tocilizumab] >= 2).all()
    assert t.steroids.sum() == yes(P.corticosteroid_counts, n)
    assert t.neutropenia.sum() == yes(P.neutropenia_g4_counts, n)
    assert (t.severe & t.tocilizumab & t.steroids & t.neutropenia)[hlh].all()
    assert np.array_equal(t.anc < P.anc_g4_threshold, t.neutropenia)
    assert (t.anc.min(), t.anc.max()) == (P.anc_min, P.anc_max)
    inf = scaled(P.infection_counts, n)
    assert np.bincount(t.infection + 1, minlength=5)[1:].tolist() == inf[:4]


def test_il6_pins_and_forced_patients(cohort):
    n, t, il6 = cohort.n, cohort.tox, cohort.il6
    el = il6.elevated
    assert el.sum() == yes(P.il6_elevated_counts, n)
    assert el[t.severe | (t.icans >= 1) | cohort.mrd.hlh].all()
    peaks = np.sort(il6.peak[el])
    assert (peaks[0], peaks[-1]) == (P.il6_min_elevated, P.il6_uloq)
    assert il6.above_uloq.sum() == 1 and peaks[-2] < P.il6_uloq
    lo, hi = P.il6_nonelevated_range
    assert ((il6.peak[~el] >= lo) & (il6.peak[~el] <= hi)).all()
    assert (il6.peak_day.min(), il6.peak_day.max()) == (P.il6_day_min, P.il6_day_max)
    assert np.median(il6.peak_day) == P.il6_day_median


# --------------------------------------------------------------------------------------------
# Stage 7: CAR-T kinetics
# --------------------------------------------------------------------------------------------

def observed_peaks(kin) -> np.ndarray:
    return np.where(kin.kept & ~kin.blq, np.nan_to_num(kin.conc), 0.0).max(axis=1)


def test_fixed_peaks_floor_and_median(cohort):
    """The non-responders peak at exactly 1,602 and the non-expander at 124 copies/µg, both
    on day 7; every other patient peaks above the 1,602 floor; the median observed Cmax is
    the published 30,860 (to the 4 significant digits of the levels)."""
    k, r = cohort.kin, cohort.resp
    peak = observed_peaks(k)
    day7 = int(np.flatnonzero(k.days == 7)[0])
    for who, level in ((r.nr, P.nr_cmax), (r.nonexpander, P.nonexpander_cmax)):
        assert (peak[who] == level).all() and (k.conc[who, day7] == level).all()
    free = ~(r.nr | r.nonexpander)
    assert (peak[free] > P.cmax_floor).all()
    assert np.median(peak[peak > 0]) == pytest.approx(P.cmax_median_target, rel=5e-4)


def test_kinetic_samples_and_tlast(cohort):
    """Samples are taken on scheduled days only, always on the core days until monitoring
    stops, never before infusion with a measurable level; Tlast is the last day measured."""
    k = cohort.kin
    assert (k.kept[:, 0]).all() and k.blq[:, 0].all()  # the pre-infusion sample
    measured = k.kept & ~k.blq
    assert np.isnan(k.conc[k.blq]).all() and (k.conc[measured] >= P.lloq).all()
    last = np.array([k.days[row].max() if row.any() else 0 for row in measured])
    assert np.array_equal(k.tlast, last.astype(float))
    # the first extra visit (day 4) comes before any stop: a random subset has it
    first_extra = int(np.flatnonzero(k.days == min(P.extra_days))[0])
    assert 0 < k.kept[:, first_extra].mean() < 1


# --------------------------------------------------------------------------------------------
# Stage 8 and 12: B-cell aplasia
# --------------------------------------------------------------------------------------------

def test_bca_who_and_pins(cohort):
    n, b, r = cohort.n, cohort.bca0, cohort.resp
    assert b.bca.sum() == yes(P.bca_counts, n)
    # the non-responders and the non-expanders are the first without BCA
    forced = r.nr | r.nonexpander
    if forced.sum() <= n - b.bca.sum():
        assert not b.bca[forced].any()
    else:  # more of them than patients without BCA (n = 137: 6 for 5)
        assert forced[~b.bca].all()
    onset, dur = b.onset[b.bca], b.duration[b.bca]
    assert (onset.min(), onset.max()) == (P.bca_onset_min, P.bca_onset_max)
    assert np.median(onset) == P.bca_onset_median
    assert (dur.min(), dur.max()) == (P.bca_duration_min, P.bca_duration_max)
    assert np.median(dur) == P.bca_duration_median
    assert (b.onset[~b.bca] == -1).all() and np.isnan(b.duration[~b.bca]).all()
    assert not b.ongoing.any()  # set only by censor_bca


def test_rank_correlated_assignment():
    """The values are only reordered; a latent correlation of 1 orders them as x; from a
    grid, the realised Spearman correlation comes near the target."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    values = np.sort(rng.lognormal(size=300))
    exact = stages._rank_correlated(np.random.default_rng(2), values, x, 0.5, (1.0,))
    assert np.array_equal(np.sort(exact), values)
    assert np.array_equal(np.argsort(exact), np.argsort(x))
    grid = tuple(np.round(np.arange(0.3, 0.96, 0.05), 2))
    got = stages._rank_correlated(np.random.default_rng(2), values, x, 0.57, grid)
    assert np.corrcoef(np.argsort(np.argsort(got)), np.argsort(np.argsort(x)))[0, 1] == \
        pytest.approx(0.57, abs=0.05)


def test_censor_bca_at_last_followup(cohort):
    """Ongoing episodes end exactly at the last follow-up; the others end by it; the drawn
    long episodes are among patients alive without relapse or HSCT."""
    b, fu = cohort.bca, cohort.fu
    assert np.array_equal(b.bca, cohort.bca0.bca) and np.array_equal(b.onset, cohort.bca0.onset)
    on = b.ongoing
    assert not on[~b.bca].any()
    assert np.array_equal(b.duration[on], np.maximum(fu.last - b.onset, 0)[on].astype(float))
    done = b.bca & ~on
    assert (b.onset[done] + b.duration[done] <= fu.last[done]).all()
    assert np.array_equal(b.duration[done], cohort.bca0.duration[done])
    long_free = (b.bca & ~(cohort.rel.relapse | fu.death | cohort.hsct.hsct)
                 & (cohort.bca0.duration > P.bca_duration_median))
    assert (on & long_free).sum() >= min(yes(P.bca_ongoing_counts, cohort.n), long_free.sum())


# --------------------------------------------------------------------------------------------
# Stages 9-11: relapse, HSCT, death and follow-up
# --------------------------------------------------------------------------------------------

def test_relapse_counts_and_the_non_responders(cohort):
    n, rel, nr = cohort.n, cohort.rel, cohort.resp.nr
    c = P.relapse_counts
    total = scaled((c[0] + c[1], c[2]), n)[0]
    neg, pos = scaled(c[:2], total, base=c[0] + c[1])
    assert rel.relapse.sum() == total
    assert (rel.cd19neg.sum(), rel.cd19pos.sum()) == (neg, pos)
    assert rel.relapse[nr].all() and rel.cd19pos[nr].all()  # progression counts as relapse
    assert (rel.day[nr] <= P.nr_progression_day_max).all()
    assert (rel.day[~nr & rel.relapse] >= P.relapse_pos_first_responder_day).all()
    assert (rel.day[~rel.relapse] == -1).all()


@pytest.mark.parametrize("n,seed", [(50, 1), (97, 4), (400, 7)])
def test_relapse_by_sex_when_pinned(n, seed):
    """With relapse_sex_counts set, the relapses split by sex as the pinned pair scaled to
    the number of relapses (a branch the shipped defaults do not use)."""
    p = replace(P, relapse_sex_counts=(11, 4))
    s = run(n, seed, p)
    n_rel = int(s.rel.relapse.sum())
    male = s.base.male
    assert [int(s.rel.relapse[male].sum()), int(s.rel.relapse[~male].sum())] == \
        scaled((11, 4), n_rel, base=15)


def test_hsct_eligibility_and_order(cohort):
    n, h, rel = cohort.n, cohort.hsct, cohort.rel
    assert h.hsct.sum() == yes(P.hsct_counts, n)
    assert not h.hsct[cohort.resp.nr].any()
    assert (~rel.relapse | (rel.day > P.hsct_day_max))[h.hsct].all()
    both = h.hsct & rel.relapse
    assert (h.day[both] < rel.day[both]).all()
    assert (h.day[~h.hsct] == -1).all()
    assert (h.day[h.hsct].min(), h.day[h.hsct].max()) == (P.hsct_day_min, P.hsct_day_max)


def test_death_causes_and_followup(cohort):
    """Leukaemia deaths only after relapse or non-response (every non-responder dies),
    transplant-related deaths only after HSCT without relapse, in the scaled numbers;
    follow-up ends at death or the cut-off."""
    n, fu, rel, h = cohort.n, cohort.fu, cohort.rel, cohort.hsct
    leuk, trm = fu.cause == 0, fu.cause == 1
    counts = scaled(P.death_counts, n)
    assert (leuk.sum(), trm.sum()) == tuple(counts[:2])
    assert (rel.relapse | cohort.resp.nr)[leuk].all() and leuk[cohort.resp.nr].all()
    assert (h.hsct & ~rel.relapse)[trm].all() and (fu.day[trm] > h.day[trm]).all()
    assert np.array_equal(fu.death, fu.day >= 0)
    assert np.array_equal(fu.last, np.where(fu.death, fu.day, cohort.admin_fu))
    assert (fu.day[fu.death] <= cohort.admin_fu[fu.death]).all()
