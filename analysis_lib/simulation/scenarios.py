"""Data-generating scenarios of the simulation study and how one SYNTHETIC trial is drawn.

A *scenario* is the calibrated generator (:mod:`analysis_lib.synthetic.generator`) with some
of its parameters changed: ``calibrated`` keeps them all, each null scenario removes one
effect the paper reports (sets its log relative weight or log shift to 0). Every simulated
trial ("replicate") of a scenario is a cohort of ``n`` made-up patients.

Counts at random
----------------
The generator works *conditionally on the published counts*: for 50 patients it produces
exactly 15 relapses, 12 deaths and 8 severe CRS in every cohort, and for other sizes the same
proportions. A real trial of 50 patients would not: its counts vary from trial to trial, and
that variation is most of the uncertainty the paper's intervals and tests are meant to
describe. Simulating with fixed counts would make every estimate look more precise than it
is (intervals would over-cover, tests would be too conservative or too powerful). So each
replicate first draws its counts as a random sample of ``n`` patients from a population with
the published proportions (:func:`draw_counts`), then lets the generator build the cohort
around them (``SyntheticParams.counts_base_n = n``):

===================================  =========================================================
counts                               drawn as
===================================  =========================================================
sex, age group, reason for CAR-T,    multinomial(n, published proportions), each on its own
prior HSCT, prior CAR-T, genetic
risk, pre- and post-LD MRD strata,
day-28 response, CRS grade, ICANS
grade, corticosteroids, grade 4
neutropenia, infections, HLH,
IL-6 elevated, B-cell aplasia
(BCA), ongoing BCA, HSCT
tocilizumab                          binomial(patients with CRS grade >= 2, 14/18): it is given
                                     for grade >= 2 only
relapses; CD19-negative among them   binomial(n, 15/50); binomial(relapses, 4/15)
leukaemia deaths; transplant deaths  binomial(relapses, 10/15); binomial(transplanted, 2/32)
===================================  =========================================================

(Proportions are those of :class:`~analysis_lib.synthetic.generator.SyntheticParams`, i.e.
the paper's counts out of 50.) ``counts="exact"`` keeps the generator's fixed counts instead,
for comparison. Medians and ranges the generator pins (dose, relapse times, B-cell aplasia
duration...) stay pinned in every replicate: those summaries vary less than in real trials.

Seeds
-----
Replicate ``i`` of a study with seed ``s`` uses ``SeedSequence(s).spawn(...)[i]``, obtained
directly as ``SeedSequence(s, spawn_key=(i,))`` (:func:`replicate_seed`): its results depend
only on ``(scenario, n, s, i)``, never on which worker ran it or in which order replicates
finished. The same ``s`` and ``i`` give every scenario the same random numbers (common random
numbers), so scenarios are compared on the same simulated patients as far as their
parameters allow.

Reference for the design of the study: Morris TP, White IR, Crowther MJ (2019). Using
simulation studies to evaluate statistical methods. Stat Med 38:2074-2102 (aims,
data-generating mechanisms, estimands, methods, performance measures; Monte Carlo SEs).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal, Mapping

import numpy as np

from ..synthetic.generator import SyntheticCohort, SyntheticParams, generate_cohort

__all__ = [
    "Scenario", "SCENARIOS", "COMPONENTS", "CountsMode", "scenario", "draw_counts",
    "replicate_seed", "replicate_params", "replicate_cohort", "DEFAULT_STUDY_SEED",
]

#: Default seed of a study (the paper's article number).
DEFAULT_STUDY_SEED: int = 1672509

#: The parts of the paper's analysis plan (:mod:`analysis_lib.simulation.plan`):
#: ``cox_lfs``, ``cox_os``: univariate screen at p < 0.2, then the multivariable Cox model,
#: for LFS and for OS;
#: ``hsct``: bridging HSCT as a fixed (published), time-dependent and 6-month landmark
#: covariate; ``km``: 5-year OS and LFS with plain, log and log-log intervals; ``logistic``:
#: Table 2's two severe-CRS models by maximum likelihood and by Firth; ``table3``: Table 3's
#: Mann-Whitney comparisons of CAR-T kinetics by clinical factor.
COMPONENTS: tuple[str, ...] = ("cox_lfs", "cox_os", "hsct", "km", "logistic", "table3")

CountsMode = Literal["random", "exact"]


@dataclass(frozen=True)
class Scenario:
    """One data-generating mechanism.

    Attributes
    ----------
    name : identifier (``calibrated``, ``null_female``...).
    title : a short description for tables.
    description : what is changed and what stays, in words.
    changes : parameter name -> value, applied to the calibrated
        :class:`~analysis_lib.synthetic.generator.SyntheticParams`.
    components : the parts of the plan (:data:`COMPONENTS`) evaluated in this scenario; a null
        scenario runs only those its removed effect can change.
    """
    name: str
    title: str
    description: str
    changes: Mapping[str, float] = field(default_factory=dict)
    components: tuple[str, ...] = COMPONENTS

    def __post_init__(self) -> None:
        known = {f.name for f in fields(SyntheticParams)}
        bad = sorted(set(self.changes) - known)
        if bad:
            raise ValueError(f"scenario {self.name!r}: unknown parameter(s) {bad}")
        unknown = sorted(set(self.components) - set(COMPONENTS))
        if unknown:
            raise ValueError(f"scenario {self.name!r}: unknown component(s) {unknown}")

    def params(self, base: SyntheticParams | None = None) -> SyntheticParams:
        """The generator's parameters under this scenario."""
        return replace(base or SyntheticParams(), **dict(self.changes))


#: The scenarios, by name. Each null scenario sets one effect to 0 and keeps everything else.
SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("calibrated", "As calibrated",
             "The generator as calibrated to the paper: every effect it builds in is present "
             "(female sex and long B-cell aplasia protect against relapse; pre- and post-LD "
             "MRD, dose, male sex and prior HSCT raise the risk of severe CRS; "
             "corticosteroids, severe CRS and post-LD MRD raise CAR-T expansion)."),
    Scenario("null_female", "Female sex without effect",
             "Female sex has no effect on anything: its two paths in the generator are removed "
             "(relapse_logw_male = 0, severe_crs_logw_male = 0). Sex is then independent of "
             "every outcome, so every true hazard and odds ratio of female sex is exactly 1.",
             {"relapse_logw_male": 0.0, "severe_crs_logw_male": 0.0},
             ("cox_lfs", "logistic")),
    Scenario("null_bca", "B-cell aplasia without effect",
             "The duration of B-cell aplasia (BCA) no longer affects relapse "
             "(relapse_logw_per_log_bca = 0, relapse_logw_no_bca = 0). BCA duration stays "
             "associated with LFS by construction, not by effect: day-28 non-responders have "
             "no aplasia and progress early, and an aplasia still ongoing at the last visit "
             "(long, censored) can only belong to a patient who did not relapse. The true "
             "value of its hazard ratio is therefore not 1 (see the truth table).",
             {"relapse_logw_per_log_bca": 0.0, "relapse_logw_no_bca": 0.0},
             ("cox_lfs",)),
    Scenario("null_steroids", "Corticosteroids without effect on expansion",
             "Corticosteroids no longer raise the CAR-T peak (cmax_logshift_steroids = 0); "
             "they still go with severe CRS, which does.",
             {"cmax_logshift_steroids": 0.0},
             ("table3",)),
    Scenario("null_expansion", "No clinical factor affects expansion",
             "No clinical factor shifts the CAR-T peak (cmax_logshift_steroids, "
             "cmax_logshift_severe_crs and cmax_logshift_post_ld_high = 0). Only the two "
             "patients the paper describes with low peaks (the day-28 non-responder and the "
             "MRD-positive responder without expansion) keep them, so the comparison by "
             "MRD-CR on day 28 stays different by construction.",
             {"cmax_logshift_steroids": 0.0, "cmax_logshift_severe_crs": 0.0,
              "cmax_logshift_post_ld_high": 0.0},
             ("table3",)),
)}


def scenario(name: str) -> Scenario:
    """The scenario called ``name`` (a clear error listing the known ones otherwise)."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


def replicate_seed(study_seed: int, replicate: int) -> np.random.SeedSequence:
    """The seed sequence of replicate ``replicate``: the child ``replicate`` of
    ``SeedSequence(study_seed)``, made directly (``spawn_key=(replicate,)``) so no other
    replicate's seed is needed."""
    if replicate < 0:
        raise ValueError("replicate must be >= 0")
    return np.random.SeedSequence(int(study_seed), spawn_key=(int(replicate),))


def _binomial(rng: np.random.Generator, n: int, k: int, base: int) -> int:
    return int(rng.binomial(n, k / base)) if base > 0 and n > 0 else 0


def _multinomial(rng: np.random.Generator, n: int, counts: tuple[int, ...]) -> tuple[int, ...]:
    c = np.asarray(counts, dtype=float)
    return tuple(int(v) for v in rng.multinomial(n, c / c.sum()))


def draw_counts(rng: np.random.Generator, n: int, params: SyntheticParams | None = None
                ) -> dict[str, tuple[int, ...]]:
    """The count vectors of one simulated trial of ``n`` patients, drawn at random from a
    population with the proportions of ``params`` (see the module docstring for how each is
    drawn). Returns parameter name -> counts for ``n`` patients (adding up to ``n``)."""
    p = params or SyntheticParams()
    base = p.counts_base_n
    out: dict[str, tuple[int, ...]] = {}
    for name in ("sex_counts", "age_group_counts", "enrolment_reason_counts",
                 "prior_hsct_counts", "prior_cart_counts", "genetic_risk_counts",
                 "mrd_pre_ld_counts", "mrd_post_ld_counts", "d28_mrd_counts",
                 "crs_grade_counts", "icans_grade_counts", "corticosteroid_counts",
                 "neutropenia_g4_counts", "infection_counts", "hlh_counts",
                 "il6_elevated_counts", "bca_counts", "bca_ongoing_counts", "hsct_counts"):
        out[name] = _multinomial(rng, n, getattr(p, name))
    crs = p.crs_grade_counts
    k2 = sum(out["crs_grade_counts"][2:])
    toci = _binomial(rng, k2, p.tocilizumab_counts[0], sum(crs[2:]))
    out["tocilizumab_counts"] = (toci, n - toci)
    rel = p.relapse_counts
    n_rel = _binomial(rng, n, rel[0] + rel[1], base)
    neg = _binomial(rng, n_rel, rel[0], rel[0] + rel[1])
    out["relapse_counts"] = (neg, n_rel - neg, n - n_rel)
    d = p.death_counts
    leuk = _binomial(rng, n_rel, d[0], rel[0] + rel[1])
    trm = _binomial(rng, out["hsct_counts"][0], d[1], p.hsct_counts[0])
    out["death_counts"] = (leuk, trm, n - leuk - trm)
    return out


def replicate_params(scen: Scenario, n: int, seed: np.random.SeedSequence,
                     counts: CountsMode = "random") -> tuple[SyntheticParams, int]:
    """The generator's parameters and seed for one replicate: the scenario's parameters with
    the replicate's counts (drawn from the first child of ``seed``; ``counts="exact"`` keeps
    the generator's fixed counts) and the generator's integer seed (from the second child)."""
    if counts not in ("random", "exact"):
        raise ValueError("counts must be 'random' or 'exact'")
    counts_ss, cohort_ss = seed.spawn(2)
    params = scen.params()
    if counts == "random":
        drawn = draw_counts(np.random.default_rng(counts_ss), n, params)
        params = replace(params, counts_base_n=n, **drawn)
    cohort_seed = int(cohort_ss.generate_state(1, np.uint64)[0])
    return params, cohort_seed


def replicate_cohort(scen: Scenario | str, n: int, study_seed: int, replicate: int,
                     counts: CountsMode = "random") -> SyntheticCohort:
    """The SYNTHETIC cohort of replicate ``replicate`` of a study (a pure function of its
    arguments): draws its counts and calls
    :func:`analysis_lib.synthetic.generator.generate_cohort`."""
    scen = scenario(scen) if isinstance(scen, str) else scen
    if n < 1:
        raise ValueError("n must be at least 1")
    params, cohort_seed = replicate_params(scen, n, replicate_seed(study_seed, replicate),
                                           counts)
    cohort = generate_cohort(n=n, seed=cohort_seed, params=params)
    cohort.metadata["simulation"] = (f"scenario {scen.name}, replicate {replicate} of study "
                                     f"seed {study_seed}, counts {counts}")
    return cohort
