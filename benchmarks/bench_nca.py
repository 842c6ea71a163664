"""NCA benchmark: the vectorised :func:`analysis_lib.stats.nca.nca` on 1,000,000 synthetic CAR-T
profiles (about 15 samples each), then the per-profile reference ``nca_loop`` (tests/nca_reference.py) on the
same data. Both compute every parameter, including the terminal phase (λz by best fit, AUCinf,
AUMC, MRT).

Run: ``.venv/bin/python benchmarks/bench_nca.py`` (options: ``--profiles``, ``--seed``,
``--loop-profiles N`` to time the loop on the first N profiles only and extrapolate).

Profiles follow the piecewise cellular-kinetic model of Stein et al. (2019, CPT Pharmacometrics
Syst Pharmacol 8:285-295): exponential expansion to Tmax, then a bi-exponential decline,
with log-normal between-profile variability and log-normal residual error (SD 0.56), sampled
on the paper's schedule (pre-infusion day 0; days 7, 14, 28; weeks 12, 26, 39, 54, 104) plus
random extra visits (days 4, 10, 21, 35, 42, 56, 112, 140) and an occasional pre-infusion
sample on day -7; values below the LLOQ of 100 copies/µg DNA are BLQ. The day-0 pre-infusion
sample is always BLQ.

Reports wall time and memory of the vectorised run (Python allocations traced by
``tracemalloc`` in a second run, and the process peak resident set ``ru_maxrss``, which also
includes the generated data), next to the goals: under 20 s on one core and under 4 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

# One core: keep any threaded numerical library to a single thread and pin the process to
# one CPU where the platform allows it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis_lib.stats.nca import COLUMNS, PK_PARAMETERS, nca  # noqa: E402

# the per-profile reference implementation is the tests' oracle (tests/nca_reference.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from nca_reference import nca_loop  # noqa: E402

LLOQ = 100.0
CORE_DAYS = (0, 7, 14, 28, 84, 182, 273, 378, 728)
EXTRA_DAYS = (4, 10, 21, 35, 42, 56, 112, 140)
EXTRA_PROB = 0.75
PRE_DAY, PRE_PROB = -7, 0.3
GOAL_SECONDS, GOAL_GB = 20.0, 4.0
LOOP_BUDGET_SECONDS = 600.0


def synthetic_kinetics(n_profiles: int, seed: int, chunk: int = 100_000) -> pd.DataFrame:
    """Long kinetics table (schema of ``analysis_lib.data.schema.KINETICS``), sorted by id and day.

    Generated in chunks of ``chunk`` profiles to keep the generator's own memory small."""
    rng = np.random.default_rng(seed)
    parts = [_chunk(rng, first, min(chunk, n_profiles - first))
             for first in range(0, n_profiles, chunk)]
    return pd.concat(parts, ignore_index=True)


def _chunk(rng: np.random.Generator, first: int, n_profiles: int) -> pd.DataFrame:
    days = np.array(sorted((PRE_DAY, *CORE_DAYS, *EXTRA_DAYS)), dtype=float)
    prob = np.array([PRE_PROB if d == PRE_DAY else (1.0 if d in CORE_DAYS else EXTRA_PROB)
                     for d in days])
    take = rng.random((n_profiles, days.size)) < prob
    # Stein-type typical values with between-profile variability (log-normal).
    cmax = 24_000 * np.exp(rng.normal(0, 1.5, n_profiles))
    tmax = np.clip(9.3 * np.exp(rng.normal(0, 0.35, n_profiles)), 3, 21)
    foldx = 3_900 * np.exp(rng.normal(0, 0.5, n_profiles))
    alpha = 0.16 * np.exp(rng.normal(0, 0.3, n_profiles))
    fb = 0.002 * np.exp(rng.normal(0, 1.0, n_profiles))
    beta = 0.0032 * np.exp(rng.normal(0, 0.5, n_profiles))
    rows, cols = np.nonzero(take)
    t = days[cols]
    rho = np.log(foldx[rows]) / tmax[rows]
    dt_after = np.maximum(t - tmax[rows], 0)
    rise = cmax[rows] / foldx[rows] * np.exp(rho * np.minimum(t, tmax[rows]))
    fall = cmax[rows] * ((1 - fb[rows]) * np.exp(-alpha[rows] * dt_after)
                         + fb[rows] * np.exp(-beta[rows] * dt_after))
    level = np.where(t <= tmax[rows], rise, fall) * np.exp(rng.normal(0, 0.56, rows.size))
    blq = (level < LLOQ) | (t <= 0)
    level = np.where(blq, np.nan, np.round(level, 1))
    numbers = np.arange(first + 1, first + n_profiles + 1).astype(str)
    ids = np.char.add("P", np.char.zfill(numbers, 7))
    return pd.DataFrame({
        "patient_id": ids.astype(object)[rows],
        "day": t,
        "copies_per_ug_dna": level,
        "below_lloq": blq,
        "lloq_copies_per_ug_dna": np.full(rows.size, LLOQ),
    })


def maxrss_gb() -> float:
    """Process peak resident set size, GB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def rss_gb() -> float:
    """Current resident set size, GB (Linux ``/proc/self/status`` VmRSS; NaN elsewhere)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset this process's peak-RSS mark (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``),
    so that ``ru_maxrss`` afterwards is the peak of what follows; False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def same_results(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if len(a) != len(b) or not (a.iloc[:, 0].to_numpy() == b.iloc[:, 0].to_numpy()).all():
        return False
    for col in COLUMNS:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if col in PK_PARAMETERS:
            if not np.allclose(x, y, rtol=1e-12, atol=0, equal_nan=True):
                return False
        elif not (x == y).all():
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20251006)
    ap.add_argument("--loop-profiles", type=int, default=None,
                    help="time nca_loop on the first N profiles and extrapolate (default: all "
                         "profiles if a 10,000-profile estimate says that takes under 10 min)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    data = synthetic_kinetics(args.profiles, args.seed)
    gen = time.perf_counter() - t0
    n_rows = len(data)
    print(f"data: {args.profiles:,} profiles, {n_rows:,} samples "
          f"({n_rows / args.profiles:.1f} per profile, {data['below_lloq'].mean():.1%} BLQ, "
          f"{(data['day'] < 0).mean():.1%} pre-infusion); generated in {gen:.1f} s")
    peak_gen = maxrss_gb()
    rss_before = rss_gb()
    was_reset = reset_peak_rss()

    t0 = time.perf_counter()
    res = nca(data)
    vec = time.perf_counter() - t0
    rss_after = maxrss_gb()
    tracemalloc.start()
    nca(data)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    w = res.wide
    print(f"nca (vectorised), {args.profiles:,} profiles:")
    print(f"  wall time                            {vec:8.2f} s   "
          f"(goal < {GOAL_SECONDS:g} s, one core)")
    print(f"  peak Python allocations (tracemalloc) {traced_peak / 1024**3:7.2f} GB  "
          f"(goal < {GOAL_GB:g} GB; second run, traced)")
    scope = ("peak during nca, data included" if was_reset
             else "peak of the whole process so far, data generation included")
    print(f"  process peak RSS (ru_maxrss)         {rss_after:8.2f} GB  "
          f"(goal < {GOAL_GB:g} GB; {scope}; RSS before nca {rss_before:.2f} GB, "
          f"peak while generating {peak_gen:.2f} GB)")
    print(f"  results: {w['expanded'].mean():.1%} expanded; median Cmax {w['cmax'].median():,.0f}; "
          f"median Tmax {w['tmax'].median():g} d; median Tlast {w['tlast'].median():g} d; "
          f"median AUC0-28 {w['auc_interval'].median():,.0f}; "
          f"{w['persistence_ended'].mean():.1%} persistence ended")
    print(f"  terminal phase (best fit): lambda_z estimable in {w['lambda_z'].notna().mean():.1%};"
          f" median half-life {w['half_life'].median():.1f} d; median points "
          f"{w.loc[w['lambda_z'].notna(), 'lambda_z_n_points'].median():g}; median "
          f"AUC %extrapolated {w['auc_pct_extrap_obs'].median():.1f}%")

    # The same data with the rows in random order (nca sorts them first).
    shuffled = data.sample(frac=1, random_state=args.seed)
    t0 = time.perf_counter()
    res_shuffled = nca(shuffled)
    shuf = time.perf_counter() - t0
    del shuffled
    print(f"  wall time, same rows shuffled         {shuf:7.2f} s   (goal < {GOAL_SECONDS:g} s; "
          f"includes the sort; same results: {res_shuffled.wide.equals(w)})")
    del res_shuffled

    # Reference loop on the same data.
    ids = w["patient_id"].to_numpy()

    def run_loop(n: int) -> tuple[float, pd.DataFrame]:
        sub = data if n >= args.profiles else data[data["patient_id"].isin(set(ids[:n]))]
        t0 = time.perf_counter()
        out = nca_loop(sub).wide
        return time.perf_counter() - t0, out

    n_est = min(10_000, args.profiles)
    est_s, est_w = run_loop(n_est)
    per = est_s / n_est
    print(f"nca_loop (reference), quick estimate on the first {n_est:,} profiles: {est_s:.2f} s "
          f"({per * 1e6:.1f} µs/profile) -> about {per * args.profiles:.0f} s for all")
    if args.loop_profiles is not None:
        n_loop = min(args.loop_profiles, args.profiles)
    else:
        n_loop = args.profiles if per * args.profiles <= LOOP_BUDGET_SECONDS else n_est
    loop_s, loop_w = (est_s, est_w) if n_loop == n_est else run_loop(n_loop)
    ok = same_results(loop_w, w.iloc[:n_loop].reset_index(drop=True))
    if n_loop == args.profiles:
        print(f"nca_loop, all {args.profiles:,} profiles, same data (MEASURED): {loop_s:.2f} s "
              f"({loop_s / n_loop * 1e6:.1f} µs/profile); results equal to nca: {ok}")
        print(f"speed-up of nca over nca_loop: {loop_s / vec:.1f}x")
    else:
        per = loop_s / n_loop
        print(f"nca_loop, first {n_loop:,} profiles (MEASURED): {loop_s:.2f} s "
              f"({per * 1e6:.1f} µs/profile); results equal to nca: {ok}")
        print(f"nca_loop, all {args.profiles:,} profiles: EXTRAPOLATED {per * args.profiles:.0f} s "
              f"(not measured); speed-up of nca about {per * args.profiles / vec:.1f}x")

if __name__ == "__main__":
    main()
