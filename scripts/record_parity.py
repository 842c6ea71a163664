"""Record the R parity suite's measured differences and build the methods page's tables.

    python scripts/record_parity.py            # run the parity suite (needs R), then build
    python scripts/record_parity.py --tables   # rebuild the tables from the recorded file

1. Runs ``pytest -m r_parity`` with ``RPARITY_RECORD`` set: tests/conftest.py writes the
   largest relative difference from R of every compared quantity to
   ``data/validation/r_parity.csv``.
2. Joins it with ``data/validation/engines.csv`` (method -> library call, the quantities
   that test it, why a part is hand-written) into ``book/_tables/methods.csv``, and writes
   the library gaps (quantities named ``gap: ...``, tests/test_library_gaps.py) and R's own
   imprecisions into ``book/_tables/library_gaps.csv``. book/methods.md shows both.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from analysis_lib.core.formatting import prose

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "data" / "validation" / "r_parity.csv"
ENGINES = ROOT / "data" / "validation" / "engines.csv"
TABLES = ROOT / "book" / "_tables"
#: Differences that are R's, not a library's: quantity pattern -> what R does.
R_SIDE = {"Fisher conditional MLE*": "R fisher.test: uniroot stops at about 1e-4",
          "Fisher exact CI*": "R fisher.test: uniroot stops at about 1e-4",
          "profile CI (MASS*": "R confint(glm): MASS interpolates a spline through the profile"}


def _fmt(x: float) -> str:
    """A measured relative difference as the book writes numbers (``1.3×10⁻¹⁴``)."""
    from analysis_lib.core.formatting import sci

    return "0" if x == 0 else sci(x, 2)


def methods_table(engines: pd.DataFrame, record: pd.DataFrame) -> pd.DataFrame:
    """One row per method: its library call, the largest relative difference from R over
    its quantities, how many quantities, and why a part is hand-written."""
    rec = dict(zip(record["quantity"], record["max_rel_diff"]))
    rows = []
    for r in engines.fillna("").itertuples():
        pats = [p for p in r.quantities.split(";") if p]
        hits = sorted({q for p in pats for q in rec if fnmatch.fnmatchcase(q, p)})
        missing = [p for p in pats if not any(fnmatch.fnmatchcase(q, p) for q in rec)]
        if missing:
            raise ValueError(f"{r.method}: no recorded quantity matches {missing}")
        rows.append({"Method": r.method, "Computed by": r.computed_by,
                     "Max. rel. diff. from R": _fmt(max(rec[q] for q in hits)) if hits
                     else "–",
                     "Compared": len(hits),
                     "Hand-written because / note": prose(r.why_hand_written_or_note)})
    return pd.DataFrame(rows)


def gaps_table(record: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for q, v in zip(record["quantity"], record["max_rel_diff"]):
        if q.startswith("gap: "):
            rows.append({"Gap": prose(q.removeprefix("gap: ")), "Whose": q.split()[1],
                         "Measured rel. difference": _fmt(v)})
        for pat, what in R_SIDE.items():
            if fnmatch.fnmatchcase(q, pat):
                rows.append({"Gap": prose(f"{q}: {what}"), "Whose": "R",
                             "Measured rel. difference": _fmt(v)})
    return pd.DataFrame(rows)


def write_tables() -> None:
    record = pd.read_csv(RECORD)
    TABLES.mkdir(parents=True, exist_ok=True)
    methods_table(pd.read_csv(ENGINES), record).to_csv(TABLES / "methods.csv", index=False)
    gaps_table(record).to_csv(TABLES / "library_gaps.csv", index=False)
    print(f"wrote {TABLES / 'methods.csv'} and {TABLES / 'library_gaps.csv'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", action="store_true", help="only rebuild the tables")
    args = ap.parse_args()
    if not args.tables:
        env = {**os.environ, "RPARITY_RECORD": str(RECORD), "CI": "true"}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "-m", "r_parity", "tests"], cwd=ROOT, env=env)
        if proc.returncode != 0:
            print("the parity suite failed; nothing recorded", file=sys.stderr)
            return proc.returncode
    write_tables()
    return 0


if __name__ == "__main__":
    sys.exit(main())
