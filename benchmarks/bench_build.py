"""Build benchmark: clean build, no-op rebuild, and one notebook executed alone.

Run with the environment installed (`make bench`, or `.venv/bin/python benchmarks/bench_build.py`).
Prints wall-clock seconds; the difference between the clean build and the sum of the
notebooks shows the pipeline's own overhead (validation, staging, Jupyter Book).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

from analysis_lib.book.pipeline import (
    ROOT,
    STAGES,
    build_book,
    execute_notebook,
    notebook_parameters,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "synthetic"))
    ap.add_argument("--notebook", default="cohort")
    args = ap.parse_args()
    data = Path(args.data).resolve()
    with tempfile.TemporaryDirectory(prefix="cartbook-bench-") as tmp:
        build = Path(tmp) / "_build"
        quiet = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(quiet):
            first = build_book(data, build, force=True)
        clean = time.perf_counter() - t0
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(quiet):
            second = build_book(data, build)
        noop = time.perf_counter() - t0
        assert not second.book_built and all(r.status == "cached" for r in second.notebooks)
        source = ROOT / "notebooks" / f"{args.notebook}.py"
        params = notebook_parameters(args.notebook, source, data)
        t0 = time.perf_counter()
        res = execute_notebook(args.notebook, source, params, Path(tmp) / "single")
        single = time.perf_counter() - t0
        assert res.status == "executed", res.error
    per_nb = {r.name: r.seconds for r in first.notebooks}
    print(f"data: {data.name}; notebooks: {', '.join(per_nb)}")
    print(f"clean build (validate, execute all, jupyter-book):  {clean:7.2f} s")
    for name, s in per_nb.items():
        print(f"  notebook {name:<20} (in parallel pool):  {s:7.2f} s")
    print(f"no-op rebuild (nothing changed):                    {noop:7.2f} s")
    print(f"one notebook alone ({args.notebook}, papermill only):        {single:7.2f} s")
    workers = max(1, min(os.cpu_count() or 1, max(len(s) for s in STAGES)))
    busy = sum(per_nb.values()) / workers
    print(f"notebook time spread over {workers} workers:              {busy:7.2f} s")
    print(f"pipeline overhead (validation, staging, Jupyter Book): {clean - busy:7.2f} s")


if __name__ == "__main__":
    main()
