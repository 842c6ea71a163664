"""Simulation-study benchmark: replicates per second per core, scaling from 1 to 2 local Dask
workers, the scheduler's overhead per task, and a projection of 1,000,000 replicates on 100
workers from those measured figures.

Run with the environment installed: `.venv/bin/python benchmarks/bench_simulate.py`
(about two minutes at the defaults on an idle 2-core machine; other load on the machine
lowers every figure, the scaling efficiency most). Goal (issue 17): scaling efficiency from 1
to 2 workers of at least 80%.

What is measured
----------------
* **Per core**: replicates of the whole plan (scenario ``calibrated``, ``--n`` patients) run
  one after the other in this process, BLAS on one thread, as a worker runs them (the first
  replicate, which pays the imports, is left out).
* **Scaling**: the same ``--replicates`` (in batches of ``--batch-size``) on a local cluster
  of 1 worker, then of 2, each timed from submission to the last result with the workers
  already started and warmed (one replicate each first). Efficiency = T(1) / (2 T(2)).
* **Scheduler overhead per task**: ``--tasks`` empty tasks through the 2-worker cluster,
  wall time divided by their number (submission, scheduling, running, result back).
* **Projection** for ``R`` replicates on ``W`` workers in batches of ``B``: the compute,
  ``R · t / (W · e)`` with ``t`` the per-replicate time and ``e`` the measured efficiency
  (assumed to hold at ``W``, optimistic: the scheduler and the client writing partitions
  are shared), plus the scheduling of ``R / B`` tasks, ``(R / B) · o`` with ``o`` the
  overhead per task (serial on the scheduler, so added, not divided).
"""

from __future__ import annotations

import argparse
import os
import time

from analysis_lib.simulation.cluster import dask_client


def _noop(i: int) -> int:
    return i


def _timed_run(client, spec, batches) -> float:
    from distributed import wait

    from analysis_lib.simulation.engine import run_batch

    t0 = time.perf_counter()
    futures = [client.submit(run_batch, spec, a, b, pure=False) for a, b in batches]
    wait(futures)
    for f in futures:
        f.result()
    return time.perf_counter() - t0


def _warm(client, spec) -> None:
    """One replicate on every worker, so imports and caches are not timed."""
    from analysis_lib.simulation.engine import run_batch

    workers = list(client.scheduler_info()["workers"])
    futures = [client.submit(run_batch, spec, 0, 0, workers=[w], pure=False) for w in workers]
    for f in futures:
        f.result()


def main() -> None:
    from threadpoolctl import threadpool_limits

    from analysis_lib.simulation.engine import StudySpec, default_batch_size, run_batch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="patients per trial")
    ap.add_argument("--serial-replicates", type=int, default=10)
    ap.add_argument("--replicates", type=int, default=24, help="replicates of the scaling runs")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=2000, help="empty tasks for the overhead")
    ap.add_argument("--project-replicates", type=int, default=1_000_000)
    ap.add_argument("--project-workers", type=int, default=100)
    args = ap.parse_args()

    print(f"cores: {os.cpu_count()}; load average at start: "
          f"{os.getloadavg()[0]:.1f} (above 0 means other processes share the cores)")
    spec = StudySpec("calibrated", args.n, max(args.replicates, args.serial_replicates + 1),
                     args.batch_size)
    with threadpool_limits(limits=1):
        run_batch(spec, 0, 0)  # imports
        t0 = time.perf_counter()
        run_batch(spec, 1, args.serial_replicates)
        per_rep = (time.perf_counter() - t0) / args.serial_replicates
    print(f"whole plan, calibrated, n = {args.n}: {per_rep:.3f} s per replicate on one core "
          f"= {1 / per_rep:.2f} replicates per second per core "
          f"({args.serial_replicates} replicates, in this process)")

    batches = [(a, min(a + args.batch_size, args.replicates) - 1)
               for a in range(0, args.replicates, args.batch_size)]
    times = {}
    for w in (1, 2):
        with dask_client(workers=w) as client:
            _warm(client, spec)
            times[w] = _timed_run(client, spec, batches)
            if w == 2:
                t0 = time.perf_counter()
                futs = client.map(_noop, range(args.tasks), pure=False)
                client.gather(futs)
                overhead = (time.perf_counter() - t0) / args.tasks
        print(f"{w} worker(s): {args.replicates} replicates in {len(batches)} tasks: "
              f"{times[w]:.1f} s ({args.replicates / times[w]:.2f} replicates/s)")
    eff = times[1] / (2 * times[2])
    print(f"scaling efficiency 1 -> 2 workers: {100 * eff:.0f}% (goal >= 80%)")
    print(f"scheduler overhead: {1000 * overhead:.2f} ms per task ({args.tasks} empty tasks, "
          "2 workers)")

    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    R, W = args.project_replicates, args.project_workers
    B = default_batch_size(args.n)
    compute = R * per_rep / (W * min(eff, 1.0))
    sched = (R / B) * overhead
    total = compute + sched
    print(f"projection: {R:,} replicates (n = {args.n}) on {W} workers, batches of {B} "
          f"(the default at this n): compute {R:,} x {per_rep:.3f} s / ({W} x "
          f"{min(eff, 1.0):.2f}) = {compute / 3600:.2f} h, plus scheduling {R // B:,} tasks "
          f"x {1000 * overhead:.2f} ms = {sched / 60:.1f} min: about {total / 3600:.1f} h")


if __name__ == "__main__":
    main()
