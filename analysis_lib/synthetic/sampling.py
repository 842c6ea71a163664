"""Sampling primitives of the synthetic-cohort stages (:mod:`analysis_lib.synthetic.stages`).

Exact counts (:func:`scale_counts`, :func:`exact_shuffle`), weighted draws of exactly ``k``
patients (:func:`choose`, Gumbel-top-k), sorted samples with pinned order statistics
(:func:`pinned_sorted`), rank-based assignment and rounding; the references are in
:mod:`analysis_lib.synthetic.generator`. Every function that draws takes the
``numpy.random.Generator`` to draw from; none uses global state.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: Log-weight that forces a patient into a weighted draw (ahead of everyone else).
FORCE: float = 1.0e6


def scale_counts(counts: Sequence[int], n: int, base_n: int | None = None) -> np.ndarray:
    """Scale a count vector published for ``base_n`` patients to ``n`` patients.

    Largest-remainder (Hamilton) rounding: every category gets the floor of its quota
    ``count * n / base_n`` and the seats left over go to the largest remainders; ties go to the
    category listed first. The result adds up to ``n`` when ``counts`` adds up to ``base_n``.

    Parameters
    ----------
    counts : sequence of int
        Published counts (they should add up to ``base_n``).
    n : int
        Target cohort size.
    base_n : int, optional
        Size the counts refer to; the sum of ``counts`` by default.

    Returns
    -------
    numpy.ndarray of int64
    """
    c = np.asarray(counts, dtype=np.int64)
    total = int(c.sum()) if base_n is None else int(base_n)
    if total <= 0:
        return np.zeros_like(c)
    target = (int(c.sum()) * n) // total if base_n is not None else n
    base = (c * n) // total
    rem = (c * n) % total
    short = int(target - base.sum())
    order = np.lexsort((np.arange(len(c)), -rem))  # largest remainder first, then list order
    base[order[:short]] += 1
    return base


def round_sig(x: np.ndarray, digits: int = 3) -> np.ndarray:
    """Round positive finite values to ``digits`` significant digits (nearest double to the
    decimal, so the shortest repr is the rounded decimal); other values are unchanged."""
    x = np.asarray(x, dtype=float)
    out = x.copy()
    ok = np.isfinite(x) & (x > 0)
    if not ok.any():
        return out
    v = x[ok]
    k = digits - 1 - np.floor(np.log10(v)).astype(np.int64)
    scale = 10.0 ** np.abs(k)
    out[ok] = np.where(k >= 0, np.round(v * scale) / scale, np.round(v / scale) * scale)
    return out


def round_dec(x: np.ndarray, decimals: int) -> np.ndarray:
    """Round to ``decimals`` decimal places (half to even, as ``numpy.round``)."""
    scale = 10.0 ** decimals
    return np.round(np.asarray(x, dtype=float) * scale) / scale


def choose(rng: np.random.Generator, k: int, logw: np.ndarray) -> np.ndarray:
    """Indices of ``k`` items drawn without replacement with weights ``exp(logw)``, in draw
    order (Gumbel-top-k; ``-inf`` excludes an item, ``FORCE`` forces it in first)."""
    logw = np.asarray(logw, dtype=float)
    keys = logw + rng.gumbel(size=logw.shape)
    keys[np.isneginf(logw)] = -np.inf
    k = int(min(max(k, 0), np.isfinite(keys).sum()))
    order = np.argsort(-keys, kind="stable")
    return order[:k]


def mask(n: int, idx: np.ndarray) -> np.ndarray:
    """Boolean vector of length ``n``, true at ``idx``."""
    m = np.zeros(n, dtype=bool)
    m[idx] = True
    return m


def exact_shuffle(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Category codes 0..k-1 with exactly ``counts[j]`` of code ``j``, in random order."""
    codes = np.repeat(np.arange(len(counts)), counts)
    return rng.permutation(codes)


def median_positions(m: int) -> list[int]:
    """0-based positions of the median in a sorted sample of ``m`` (two when ``m`` is even)."""
    if m <= 0:
        return []
    return [(m - 1) // 2] if m % 2 else [m // 2 - 1, m // 2]


def pinned_sorted(rng: np.random.Generator, m: int, pins: dict[int, float], *,
                   log: bool = True, center: float | None = None,
                   power: float = 1.0) -> np.ndarray:
    """A sorted sample of size ``m`` whose order statistics at the positions in ``pins`` are
    the pinned values; the others are drawn between their neighbouring pins.

    Between two pins a value is ``lo + (hi - lo) * u`` on the log (``log=True``) or linear
    scale, with ``u`` uniform raised to ``power`` above ``center`` and to ``1/power`` below it
    (``power > 1`` piles values up near ``center``, giving a unimodal, skewed shape). Pins at
    positions 0 and ``m - 1`` are required; a pin outside ``0..m-1`` is ignored.
    """
    if m <= 0:
        return np.empty(0)
    pins = {int(p): float(v) for p, v in pins.items() if 0 <= int(p) < m}
    pos = np.array(sorted(pins), dtype=np.int64)
    val = np.array([pins[p] for p in pos])
    if pos[0] != 0 or pos[-1] != m - 1:
        raise ValueError("pins at the first and last positions are required")
    val = np.maximum.accumulate(val)  # guard: pins must not decrease
    out = np.empty(m)
    out[pos] = val
    free = np.setdiff1d(np.arange(m), pos)
    if len(free):
        seg = np.searchsorted(pos, free)
        lo, hi = val[seg - 1], val[seg]
        u = rng.random(len(free))
        if center is not None and power != 1.0:
            above = lo >= center
            u = np.where(above, u ** power, 1.0 - (1.0 - u) ** power)
        if log and np.all(lo > 0):
            out[free] = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
        else:
            out[free] = lo + u * (hi - lo)
    return np.sort(out)


def mmm_pins(m: int, lo: float, med: float, hi: float) -> dict[int, float]:
    """Pins for a sample whose minimum, median and maximum are ``lo``, ``med``, ``hi``."""
    if m == 1:
        return {0: med}
    pins = {0: lo, m - 1: hi}
    for p in median_positions(m):
        pins.setdefault(p, med)
    return pins


def assign_by_key(sorted_values: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Give the smallest value to the smallest key, etc. (rank-based assignment)."""
    out = np.empty(len(key))
    out[np.argsort(key, kind="stable")] = sorted_values
    return out


def normal_scores(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normal scores of the ranks of ``x`` (ties broken at random)."""
    from scipy.special import ndtri

    m = len(x)
    if m == 0:
        return np.empty(0)
    order = np.lexsort((rng.random(m), x))
    ranks = np.empty(m)
    ranks[order] = np.arange(1, m + 1)
    return ndtri(ranks / (m + 1))


def stratified_normal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Standard-normal draws stratified on ``n`` equal-probability strata (one per stratum,
    in random order): a one-dimensional Latin-hypercube sample."""
    from scipy.special import ndtri

    u = (rng.permutation(n) + rng.random(n)) / n
    return ndtri(np.clip(u, 1e-12, 1 - 1e-12))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def trunc_lognormal(rng: np.random.Generator, median: float, sigma: float,
                     lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Log-normal draws (median, log-SD) truncated to ``[lo, hi]`` by inverting the CDF."""
    from scipy.special import ndtr, ndtri

    lo = np.asarray(lo, dtype=float)
    hi = np.maximum(np.asarray(hi, dtype=float), lo)
    a = ndtr((np.log(lo) - math.log(median)) / sigma)
    b = ndtr((np.log(hi) - math.log(median)) / sigma)
    u = a + (b - a) * rng.random(lo.shape)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    return np.clip(np.exp(math.log(median) + sigma * ndtri(u)), lo, hi)
