"""Validation benchmark: 200,000-row exports, including duplicated ids (issue 13).

Run with the environment installed: `.venv/bin/python benchmarks/bench_validate.py`.
Goal: 200,000 rows, including 200,000 duplicated ids, validate in under 5 s on one core
(before issue 13 the duplicate search compared each duplicate with every row: 20,000
duplicates took 85 s, and 200,000 would take hours).

Cases (patients.csv of N rows built from a synthetic cohort, kinetics.csv of that cohort):

* ``unique``: N distinct patients (a large clean export);
* ``appended twice``: the export appended to itself, N/2 patients twice (N/2 duplicates);
* ``one id``: every row has the same code (N - 1 duplicates, the worst case for the old
  pairwise search);
* ``N duplicated``: N/4 codes each used four times, so every one of the N rows carries an
  id that is duplicated elsewhere (3N/4 duplicates reported).

Each case is timed once after a warm-up, in this process (one core), and prints the number
of problems found and the length of the default text report (bounded per rule).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from analysis_lib.data.io import to_text_frame
from analysis_lib.data.validation import validate_dir
from analysis_lib.synthetic.generator import generate_cohort


def code(i: int) -> str:
    """A study code with no run of six digits (which would look like a record number)."""
    return f"C{i // 1000}-{i % 1000:03d}"


def _patients(n: int, ids: list[str]) -> pd.DataFrame:
    base = to_text_frame(generate_cohort(n=1000, seed=11).patients)
    rows = base.iloc[[i % len(base) for i in range(n)]].reset_index(drop=True)
    rows["patient_id"] = ids
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    n = args.rows
    cases = {
        "unique": [code(i) for i in range(n)],
        "appended twice": [code(i % (n // 2)) for i in range(n)],
        "one id": [code(0)] * n,
        "N duplicated": [code((i // 2) % (n // 4)) for i in range(n)],
    }
    cohort = generate_cohort(n=1000, seed=11)
    kin = to_text_frame(cohort.kinetics)  # samples of the first 1,000 codes
    kin["patient_id"] = kin["patient_id"].map(
        {c: code(i) for i, c in enumerate(cohort.patients["patient_id"])})
    print(f"{'case':<16} {'rows':>9} {'duplicates':>11} {'validate s':>11} {'problems':>9} "
          f"{'report lines':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "data"
        d.mkdir()
        kin.to_csv(d / "kinetics.csv", index=False)
        _patients(2000, [code(i) for i in range(2000)]).to_csv(d / "patients.csv", index=False)
        validate_dir(d)  # warm-up: imports, regex compilation
        for name, ids in cases.items():
            frame = _patients(n, ids)
            dups = int(frame["patient_id"].duplicated().sum())
            frame.to_csv(d / "patients.csv", index=False)
            t0 = time.perf_counter()
            report = validate_dir(d)
            elapsed = time.perf_counter() - t0
            lines = len(report.to_text().splitlines())
            print(f"{name:<16} {n:>9,} {dups:>11,} {elapsed:>11.2f} {len(report.problems):>9,} "
                  f"{lines:>13,}")
    print("goal: under 5 s for 200,000 rows including 200,000 duplicated ids, one core")


if __name__ == "__main__":
    main()
