"""Scale benchmark: the whole book built from synthetic cohorts of growing size.

    .venv/bin/python benchmarks/bench_scale.py                 # 50, 500, 5,000 and 50,000
    .venv/bin/python benchmarks/bench_scale.py --sizes 50 5000 --jobs 2

For each size, a cohort is generated (``cartbook generate --n N``, not timed) and the book is
built from it into a fresh folder (``cartbook build``, a clean build, as a subprocess). Prints
the time of each notebook, the total wall time of the build, the peak resident memory of the
build's process tree (the largest of the build and its notebook workers and kernels, from
``/proc``, sampled every 0.1 s), and the growth exponent of the total time, fitted by least
squares on log(time) against log(patients) over the sizes given (an exponent of 1 is linear;
the goals: 5,000 patients in at most twice the 50-patient time, 50,000 in under 3 minutes and
8 GB on 2 cores).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARTBOOK = [sys.executable, "-m", "analysis_lib.cli"]
_EXECUTED = re.compile(r"\[cartbook\]\s+(\w+): executed in ([\d.]+) s")


def _tree_rss(pid: int) -> int:
    """Resident memory (bytes) of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            ppid = int(stat[1])
            rss[int(d.name)] = int((d / "statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def build(n: int, jobs: int | None, tmp: Path) -> dict:
    load_before = os.getloadavg()[0]
    data = tmp / f"n{n}" / "data"
    subprocess.run([*CARTBOOK, "generate", "--n", str(n), "--seed", "2026", "--out", str(data)],
                   check=True, capture_output=True, cwd=ROOT)
    cmd = [*CARTBOOK, "build", "--data", str(data), "--build-dir", str(tmp / f"n{n}" / "_build")]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            done.wait(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    done.set()
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"build of {n} patients failed:\n{out[-3000:]}")
    return {"n": n, "seconds": seconds, "peak_bytes": peak[0],
            "load": (load_before, os.getloadavg()[0]), "cpu": cpu,
            "notebooks": {m.group(1): float(m.group(2)) for m in _EXECUTED.finditer(out)}}


def growth_exponent(rows: list[dict]) -> float:
    """Least-squares slope of log(seconds) on log(n)."""
    xs = [math.log(r["n"]) for r in rows]
    ys = [math.log(r["seconds"]) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000, 50000])
    ap.add_argument("--jobs", type=int, default=None, help="notebooks run in parallel")
    ap.add_argument("--keep", type=Path, default=None,
                    help="build into this folder (nN/data, nN/_build) and keep it, e.g. to "
                         "look at the pages or snapshot the glued values")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cartbook-scale-") as tmp:
        where = args.keep.resolve() if args.keep else Path(tmp)
        for n in args.sizes:
            r = build(n, args.jobs, where)
            rows.append(r)
            nbs = ", ".join(f"{k} {v:.1f} s" for k, v in r["notebooks"].items())
            print(f"n = {n:>6}: total {r['seconds']:7.1f} s, peak memory "
                  f"{r['peak_bytes'] / 2**30:5.2f} GB, CPU {r['cpu']:7.1f} s, load {r['load'][0]:.2f} -> "
                  f"{r['load'][1]:.2f}; {nbs}", flush=True)
    if len(rows) > 1:
        print(f"growth exponent of the total time: {growth_exponent(rows):.2f}")
        base = rows[0]
        for r in rows[1:]:
            print(f"  {r['n']:>6} patients: {r['seconds'] / base['seconds']:.2f} × the "
                  f"{base['n']}-patient build (CPU time: {r['cpu'] / base['cpu']:.2f} ×)")


if __name__ == "__main__":
    main()
