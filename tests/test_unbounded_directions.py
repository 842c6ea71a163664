"""The one-LP shortcut of ``unbounded_directions`` (no direction of the cone: skip the 2p
programmes) gives the same answer as the programmes themselves, on cones that are trivial,
that hold directions, and on the designs of simulated trials (Cox monotone likelihood)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from analysis_lib.analyses import survival as sa
from analysis_lib.simulation import scenarios
from analysis_lib.stats import cox
from analysis_lib.stats.logistic import unbounded_directions


def exhaustive(M: np.ndarray, tol: float = 1e-6) -> tuple[list[bool], list[bool]]:
    """The definition: max ±d_j over {d: M d >= 0, |d| <= 1}, for every coordinate."""
    p = M.shape[1]
    out: tuple[list[bool], list[bool]] = ([], [])
    for j in range(p):
        for sign, store in ((1.0, out[0]), (-1.0, out[1])):
            c = np.zeros(p)
            c[j] = -sign
            r = optimize.linprog(c, A_ub=-M, b_ub=np.zeros(len(M)), bounds=[(-1.0, 1.0)] * p,
                                 method="highs")
            store.append(bool(-r.fun > tol))
    return out


def test_trivial_cone_skips_to_no_direction():
    M = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert unbounded_directions(M) == exhaustive(M) == ([False, False], [False, False])


def test_cone_with_directions():
    M = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.5]])  # the whole positive quadrant
    assert unbounded_directions(M) == exhaustive(M) == ([True, True], [False, False])


def test_rank_deficient_matrix_is_not_shortcut():
    M = np.array([[1.0, 1.0], [-1.0, -1.0]])  # d = (1, -1) gives M d = 0: both unbounded
    assert unbounded_directions(M) == exhaustive(M) == ([True, True], [True, True])


@pytest.mark.parametrize("seed", range(40))
def test_random_cones(seed: int):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(rng.integers(2, 12), rng.integers(1, 4)))
    if seed % 3 == 0:  # rows all on one side of a random direction: a non-trivial cone
        d = rng.normal(size=M.shape[1])
        M = M * np.sign(M @ d)[:, None]
    assert unbounded_directions(M) == exhaustive(M)


def test_monotone_likelihood_on_simulated_trials():
    """Cox designs of small simulated trials (some monotone): the shortcut changes nothing."""
    seen = monotone = 0
    for i in range(6):
        c = scenarios.replicate_cohort("calibrated", 30, 11, i)
        ep = sa.endpoints(c.patients)
        d = sa.candidate_covariates(c.patients, c.kinetics)
        for label in ("Female", "BCA duration", "Bridging HSCT", "MRD-CR on day 28"):
            fit = cox.coxph(d.frame[list(d.terms[label])], ep["lfs_time"], ep["lfs_event"])
            X, t, e = fit._X / np.max(np.abs(fit._X), axis=0).clip(min=1e-300), fit._time, \
                fit._event
            D = np.vstack([X[k] - X[t >= t[k]] for k in np.flatnonzero(e)])
            D = np.unique(np.round(D, 12), axis=0)
            D = D[np.any(D != 0, axis=1)]
            if not D.size:
                continue
            fast, slow = unbounded_directions(D), exhaustive(D)
            assert fast == slow, (i, label)
            seen += 1
            monotone += any(slow[0]) or any(slow[1])
    assert seen >= 20 and monotone >= 1  # both kinds were exercised
