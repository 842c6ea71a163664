"""Synthetic-cohort generation benchmark: time and peak memory for large cohorts.

Run with the environment installed: `.venv/bin/python benchmarks/bench_generate.py`.
Goal (issue 3): 100,000 patients in under 30 s on one core.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from analysis_lib.synthetic.generator import generate_cohort, write_cohort


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[50, 1_000, 10_000, 100_000])
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    generate_cohort(n=50, seed=1)  # warm imports (scipy, pandas) outside the timings
    print(f"{'patients':>9} {'samples':>10} {'generate s':>11} {'write CSV s':>12} "
          f"{'peak MB (traced)':>17}")
    for n in args.sizes:
        tracemalloc.start()
        t0 = time.perf_counter()
        c = generate_cohort(n=n, seed=args.seed)
        gen = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_cohort(c, Path(tmp))
            wr = time.perf_counter() - t0
        print(f"{n:>9,} {len(c.kinetics):>10,} {gen:>11.2f} {wr:>12.2f} {peak:>17.0f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS: {rss:.0f} MB; goal: 100,000 patients generated in < 30 s "
          "on one core")


if __name__ == "__main__":
    main()
