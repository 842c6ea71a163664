"""Survival benchmark: Kaplan–Meier, log-rank, Cox (5 covariates, Efron ties) and cumulative
incidence with Gray's test on 100,000 simulated patients, in Python (``analysis_lib``) and in
R (``survival``, ``cmprsk``) on the same data in the same run.

Run: ``.venv/bin/python benchmarks/bench_survival.py`` (options: ``--patients``, ``--seed``,
``--repeats``, ``--no-r``).

Data: 5 covariates (two binary, three standard normal), exponential event times with log
hazard ``0.4 a + 0.3 b - 0.2 c + 0.1 d + 0.05 e``, uniform censoring, times in whole days (so
ties occur, as in real data and as Efron's method must handle); a competing-risk status
(cause 1 or 2 with probabilities 0.6/0.4 among events) and a two-level group.

Each task is timed ``--repeats`` times and the median wall time reported. Python memory is the
peak of allocations traced by ``tracemalloc`` during one run of the task (numpy arrays
included; the input data are not counted); R memory is the "max used" of ``gc()`` (Ncells +
Vcells, MB) during the task minus what was in use before it (the data). BLAS threads are
limited to 1. The R time excludes R's start-up and reading the CSV; ``R/Python`` is R time
divided by Python time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis_lib.stats import competing_risks as cr
from analysis_lib.stats import cox
from analysis_lib.stats import survival as sv

TASKS = ("kaplan_meier", "logrank", "cox_5_covariates", "cumulative_incidence")


def simulate(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.integers(0, 2, n), "b": rng.integers(0, 2, n),
                      "c": rng.normal(size=n), "d": rng.normal(size=n), "e": rng.normal(size=n)})
    lp = X.to_numpy(float) @ np.array([0.4, 0.3, -0.2, 0.1, 0.05])
    t_event = rng.exponential(900.0 * np.exp(-lp))
    t_cens = rng.uniform(30.0, 3000.0, n)
    time_ = np.ceil(np.minimum(t_event, t_cens))
    event = (t_event <= t_cens).astype(int)
    cause = np.where(event == 1, np.where(rng.random(n) < 0.6, 1, 2), 0)
    group = rng.integers(0, 2, n)
    return pd.concat([pd.DataFrame({"time": time_, "event": event, "cause": cause,
                                    "group": group}), X], axis=1)


def python_tasks(d: pd.DataFrame) -> dict:
    X = d[["a", "b", "c", "d", "e"]]
    return {
        "kaplan_meier": lambda: sv.kaplan_meier(d["time"], d["event"]).confidence_interval("log"),
        "logrank": lambda: sv.survdiff(d["time"], d["event"], d["group"]),
        "cox_5_covariates": lambda: cox.coxph(X, d["time"], d["event"]),
        "cumulative_incidence": lambda: cr.cuminc(d["time"], d["cause"], d["group"]),
    }


def run_python(d: pd.DataFrame, repeats: int) -> dict[str, tuple[float, float]]:
    out = {}
    for name, fn in python_tasks(d).items():
        fn()  # warm-up (imports, caches)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        fn()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[name] = (float(np.median(times)), peak / 2**20)
    return out


R_SCRIPT = r"""
suppressMessages({library(survival); library(cmprsk)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[2])
tasks <- list(
  kaplan_meier = function() survfit(Surv(time, event) ~ 1, data = d),
  logrank = function() survdiff(Surv(time, event) ~ group, data = d),
  cox_5_covariates = function() coxph(Surv(time, event) ~ a + b + c + d + e, data = d),
  cumulative_incidence = function() cuminc(d$time, d$cause, d$group))
for (nm in names(tasks)) {
  f <- tasks[[nm]]; invisible(f())
  tt <- replicate(reps, system.time(f())[["elapsed"]])
  g0 <- gc(reset = TRUE); invisible(f()); g <- gc()
  mb <- sum(g[, 6]) - sum(g0[, 2])  # "max used" since the reset minus what was in use
  cat(sprintf("%s %.6f %.1f\n", nm, median(tt), mb))
}
"""


def run_r(d: pd.DataFrame, repeats: int) -> dict[str, tuple[float, float]] | None:
    exe = os.environ.get("RSCRIPT") or shutil.which("Rscript")
    if not exe:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        d.to_csv(csv, index=False)
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        proc = subprocess.run([exe, "--vanilla", str(script), str(csv), str(repeats)],
                              capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return None
    out = {}
    for line in proc.stdout.splitlines():
        name, secs, mb = line.split()
        out[name] = (float(secs), float(mb))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-r", action="store_true")
    a = ap.parse_args()
    d = simulate(a.patients, a.seed)
    print(f"{a.patients:,} patients, {int(d['event'].sum()):,} events, "
          f"{d['time'].nunique():,} distinct times; median of {a.repeats} runs")
    py = run_python(d, a.repeats)
    r = None if a.no_r else run_r(d, a.repeats)
    head = (f"{'task':<22}{'Python s':>10}{'Python MiB':>12}"
            + (f"{'R s':>10}{'R MB':>10}{'R/Python':>10}" if r else ""))
    print(head)
    for name in TASKS:
        t, m = py[name]
        line = f"{name:<22}{t:>10.3f}{m:>12.1f}"
        if r:
            rt, rm = r[name]
            line += f"{rt:>10.3f}{rm:>10.1f}{rt / t:>10.2f}"
        print(line)
    if r is None and not a.no_r:
        print("(R not available: R columns omitted)")


if __name__ == "__main__":
    main()
