"""Line counts of the statistical method modules, now or at a git revision.

    python scripts/method_lines.py              # the working tree
    python scripts/method_lines.py --rev main   # another revision, for a before/after table

Counts every line (``wc -l``) of the modules that implement the statistical methods (and
the analyses built directly on them). A module missing at a revision counts 0.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("survival", "cox", "competing_risks", "regression", "toxicity", "kinetics",
           "cohort")


def count(module: str, rev: str | None) -> int:
    path = f"analysis_lib/{module}.py"
    if rev is None:
        p = ROOT / path
        return len(p.read_text().splitlines()) if p.exists() else 0
    out = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True,
                         text=True)
    return len(out.stdout.splitlines()) if out.returncode == 0 else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", help="git revision (default: the working tree)")
    ap.add_argument("--before", help="also count at this revision and show the change")
    args = ap.parse_args()
    rows = [(m, count(m, args.rev), count(m, args.before) if args.before else None)
            for m in MODULES]
    head = f"{'module':<18}{'lines':>7}" + (f"{'before':>8}{'change':>8}" if args.before else "")
    print(head)
    for m, n, b in rows:
        print(f"{m:<18}{n:>7}" + (f"{b:>8}{n - b:>+8}" if b is not None else ""))
    total = sum(r[1] for r in rows)
    line = f"{'total':<18}{total:>7}"
    if args.before:
        tb = sum(r[2] for r in rows)
        line += f"{tb:>8}{total - tb:>+8}"
    print(line)


if __name__ == "__main__":
    main()
