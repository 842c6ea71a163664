"""``cartbook simulate``: the command line of the simulation study (its arguments and what
runs; :mod:`analysis_lib.cli` registers it).

Examples::

    cartbook simulate --scenario calibrated --n 50 --replicates 2000 --out data/simulation
    cartbook simulate --scenario calibrated --scenario null_female --n 50 --n 100 \\
        --replicates 1000 --out data/simulation --scheduler tcp://127.0.0.1:8786
    cartbook simulate --list-scenarios

Running the same command again resumes an interrupted run (only missing partitions are
computed); raising ``--replicates`` extends a study. After the run, the summary tables the
book's chapter reads are rewritten from every complete study in ``--out``
(:func:`analysis_lib.simulation.summary.write_summary`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``cartbook simulate``."""
    p.add_argument("--replicates", type=int, default=None,
                   help="simulated trials per scenario and cohort size")
    p.add_argument("--n", type=int, action="append", metavar="PATIENTS",
                   help="patients per trial (repeatable: one study per size; default 50)")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="data-generating scenario (repeatable; default calibrated); "
                        "--list-scenarios lists them")
    p.add_argument("--out", default="data/simulation",
                   help="results folder (default data/simulation, which the book reads)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing Dask cluster: the scheduler's address "
                            "(tcp://host:8786) or its scheduler file")
    where.add_argument("--workers", type=int, default=None,
                       help="workers of the local Dask cluster (default: one per core)")
    where.add_argument("--serial", action="store_true",
                       help="run in this process without Dask (same results, for debugging)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="replicates per task and per Parquet partition (default 2000 // n, "
                        "1 to 50; when resuming, the study's own)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the study's SeedSequence (default 1672509)")
    p.add_argument("--counts", choices=["random", "exact"], default="random",
                   help="counts of each trial drawn at random (default) or the generator's "
                        "fixed published proportions")
    p.add_argument("--no-truth", action="store_true",
                   help="do not compute the scenarios' true values (a 100,000-patient "
                        "population each)")
    p.add_argument("--no-summary", action="store_true",
                   help="do not rewrite the summary tables after the run")
    p.add_argument("--progress", choices=["auto", "always", "never"], default="auto",
                   help="progress bar on the terminal (auto: when stderr is one)")
    p.add_argument("--list-scenarios", action="store_true", help="list the scenarios and exit")


def _batch_size(out: Path, scenario: str, n: int, given: int | None) -> int:
    """The batch size: the one given, else the existing study's (so its partitions are
    reused), else the default."""
    import json

    from .engine import StudySpec, default_batch_size

    if given is not None:
        return given
    manifest = StudySpec(scenario, n, 1, 1).directory(out) / "study.json"
    if manifest.is_file():
        return int(json.loads(manifest.read_text(encoding="utf-8"))["spec"]["batch_size"])
    return default_batch_size(n)


def run(args: argparse.Namespace) -> int:
    """Run ``cartbook simulate``; returns the exit code."""
    from .scenarios import DEFAULT_STUDY_SEED, SCENARIOS

    if args.list_scenarios:
        for s in SCENARIOS.values():
            print(f"{s.name}: {s.title}. {s.description} (plan: {', '.join(s.components)})")
        return EXIT_OK
    if args.replicates is None:
        print("cartbook simulate: --replicates is required", file=sys.stderr)
        return EXIT_USAGE
    from .engine import StudyMismatch, StudySpec, run_studies
    from .summary import write_summary

    out = Path(args.out)
    names = list(dict.fromkeys(args.scenario or ["calibrated"]))
    sizes = list(dict.fromkeys(args.n or [50]))
    try:
        specs = [StudySpec(s, n, args.replicates, _batch_size(out, s, n, args.batch_size),
                           args.seed if args.seed is not None else DEFAULT_STUDY_SEED,
                           args.counts)
                 for s in names for n in sizes]
    except (ValueError, OSError) as exc:
        print(f"cartbook simulate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    progress = {"auto": None, "always": True, "never": False}[args.progress]
    try:
        report = run_studies(specs, out, scheduler=args.scheduler, workers=args.workers,
                             serial=args.serial, truth=not args.no_truth, progress=progress,
                             log=lambda m: print(m, flush=True))
    except StudyMismatch as exc:
        print(f"cartbook simulate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cartbook simulate: interrupted; the partitions written so far are complete. "
              "Run the same command again to compute only the missing ones.", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(report.text())
    if not args.no_summary:
        for path in write_summary(out):
            print(f"wrote {path}")
    return EXIT_OK
