"""Snapshot and compare every value glued by the book's notebooks.

    python scripts/glued_values.py snapshot _build glued.json
    python scripts/glued_values.py compare before.json after.json [--rtol 1e-9]

``snapshot`` reads every executed notebook of a build (``BUILD_DIR/cache/*/*.ipynb``) with
:func:`analysis_lib.book.report.glued_values` and writes ``{notebook: {key: value}}`` as JSON
(numbers as numbers, ``nan``/``inf`` as JSON's NaN/Infinity, phrases as text, figures as
``"<figure>"``). ``compare`` prints every key whose value differs, with the relative difference
for numbers, and exits 1 when a key is missing on one side, a text differs, or a number
differs by more than ``--rtol`` relative (``--atol`` absolute near zero).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def snapshot(build_dir: Path) -> dict[str, dict[str, object]]:
    """``{notebook: {key: value}}`` for every executed notebook of ``build_dir``."""
    from analysis_lib.book.report import glued_values

    out: dict[str, dict[str, object]] = {}
    for nb in sorted((build_dir / "cache").glob("*/*.ipynb")):
        out[nb.stem] = dict(sorted(glued_values(nb).items()))
    if not out:
        raise SystemExit(f"no executed notebooks under {build_dir / 'cache'}")
    return out


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def relative_difference(a: float, b: float, atol: float = 0.0) -> float:
    """|a - b| / |b| (0 for equal values, including two nan or the same infinity; inf when
    only one side is finite or nan); the absolute difference where |b| <= atol."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    diff = abs(a - b)
    return diff if abs(b) <= atol else diff / abs(b)


def compare(before: dict, after: dict, rtol: float, atol: float = 0.0
            ) -> tuple[list[str], int]:
    """Lines describing every difference, and how many exceed the tolerance."""
    lines, bad = [], 0
    for nb in sorted(set(before) | set(after)):
        b, a = before.get(nb, {}), after.get(nb, {})
        for key in sorted(set(b) | set(a)):
            where = f"{nb}::{key}"
            if key not in a or key not in b:
                lines.append(f"{where}: only in {'before' if key in b else 'after'}")
                bad += 1
            elif _is_number(b[key]) and _is_number(a[key]):
                rel = relative_difference(float(a[key]), float(b[key]), atol)
                if rel > 0:
                    over = rel > rtol
                    bad += over
                    lines.append(f"{where}: {b[key]!r} -> {a[key]!r} (rel. diff {rel:.3g})"
                                 + ("" if over else " within tolerance"))
            elif a[key] != b[key]:
                lines.append(f"{where}: {b[key]!r} -> {a[key]!r}")
                bad += 1
    return lines, bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot", help="write the glued values of a build as JSON")
    s.add_argument("build_dir", type=Path)
    s.add_argument("out", type=Path)
    c = sub.add_parser("compare", help="print differing values; exit 1 above --rtol")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--rtol", type=float, default=1e-9)
    c.add_argument("--atol", type=float, default=0.0)
    args = ap.parse_args(argv)
    if args.cmd == "snapshot":
        values = snapshot(args.build_dir)
        args.out.write_text(json.dumps(values, indent=1, ensure_ascii=False) + "\n")
        print(f"{sum(map(len, values.values()))} values from {len(values)} notebooks "
              f"written to {args.out}")
        return 0
    before = json.loads(args.before.read_text())
    after = json.loads(args.after.read_text())
    lines, bad = compare(before, after, args.rtol, args.atol)
    print("\n".join(lines) if lines else "no differences")
    n = sum(map(len, before.values()))
    print(f"{n} values compared; {len(lines)} differ, {bad} beyond rtol={args.rtol:g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
