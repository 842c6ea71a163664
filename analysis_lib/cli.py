"""``cartbook``: command-line entry point.

Exit codes (stable, for scripts): 0 success; 1 a notebook or the book build failed (the
previous book is unchanged); 2 command-line usage error; 3 the input data are invalid
(nothing was written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .synthetic.centres import parse_overrides

EXIT_OK, EXIT_BUILD, EXIT_USAGE, EXIT_INVALID = 0, 1, 2, 3


def _validate(args: argparse.Namespace) -> int:
    from .data.validation import PER_RULE, validate_dir

    report = validate_dir(Path(args.data_dir), csv_dialect=args.csv_dialect)
    print(report.to_text(per_rule=None if args.all else PER_RULE))
    if not report.ok and not args.all and len(report.problems) > PER_RULE:
        print(f"(at most {PER_RULE} problems of each rule are listed; --all lists every one)")
    if report.ok:
        n = {k: len(v) for k, v in report.tables.items()}
        print(f"{n.get('patients', 0)} patients, {n.get('kinetics', 0)} CAR-T samples"
              + ("; files marked synthetic" if report.synthetic else ""))
    return EXIT_OK if report.ok else EXIT_INVALID


def _generate(args: argparse.Namespace) -> int:
    from .synthetic.generator import DEFAULT_SEED, PUBLISHED_N, generate_cohort, write_cohort

    n = args.n if args.n is not None else PUBLISHED_N
    seed = args.seed if args.seed is not None else DEFAULT_SEED
    try:
        params = parse_overrides(args.set or [])
    except ValueError as exc:
        print(f"cartbook generate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    paths = write_cohort(generate_cohort(n=n, seed=seed, params=params), Path(args.out))
    for p in paths:
        print(f"wrote {p}")
    return EXIT_OK


def _template(args: argparse.Namespace) -> int:
    from .data.templates import FORMATS, write_templates

    formats = FORMATS if args.format == "both" else (args.format,)
    try:
        paths = write_templates(Path(args.out), formats)
    except (ValueError, OSError) as exc:
        print(f"cartbook template: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for p in paths:
        print(f"wrote {p}")
    return EXIT_OK


def _calibrate(args: argparse.Namespace) -> int:
    from .book import calibration_run
    from .synthetic import calibration

    out = Path(args.out)
    if args.stage == "fit":
        print(f"wrote {calibration.write_population_fit(out, n=args.population)}")
    elif args.stage == "seeds":
        print(f"wrote {calibration.write_seed_search(out, range(1, args.seeds + 1))}")
    elif args.stage == "scorecard":
        print(f"wrote {calibration_run.write_scorecard_search(out, args.candidates, jobs=args.jobs, progress=lambda m: print(m, flush=True), serial=args.serial, scheduler=args.scheduler, workers=args.workers)}")
    print(f"wrote {calibration.write_report(out)}")
    return EXIT_OK


def _simulate(args: argparse.Namespace) -> int:
    from .simulation.command import run

    return run(args)


def _build(args: argparse.Namespace) -> int:
    from .book.pipeline import BuildError, InvalidDataError, build_book

    try:
        if args.min_cell_count < 0:
            print("cartbook build: --min-cell-count must be >= 0", file=sys.stderr)
            return EXIT_USAGE
        overrides = {"min_cell_count": args.min_cell_count} if args.min_cell_count else None
        result = build_book(Path(args.data), Path(args.build_dir) if args.build_dir else None,
                            jobs=args.jobs, force=args.force, overrides=overrides,
                            label=args.label, csv_dialect=args.csv_dialect)
    except InvalidDataError as exc:
        print(exc.report.to_text(), file=sys.stderr)
        print("Build stopped: the data are invalid. Nothing was written.", file=sys.stderr)
        return EXIT_INVALID
    except BuildError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BUILD
    print(f"[cartbook] done in {result.seconds:.1f} s")
    print(result.index_html)
    return EXIT_OK


def _dialect_option(p: argparse.ArgumentParser) -> None:
    from .data.io import CSV_DIALECTS

    p.add_argument("--csv-dialect", choices=list(CSV_DIALECTS), default="auto",
                   help="CSV separator and decimal mark: auto (separator from the header, "
                        "decimal point; default), comma, semicolon, tab, or "
                        "semicolon-decimal-comma (European-locale spreadsheet exports)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cartbook", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a data directory and list every problem")
    p.add_argument("data_dir")
    p.add_argument("--all", action="store_true",
                   help="list every problem (default: at most 10 of each rule)")
    _dialect_option(p)
    p.set_defaults(func=_validate)

    p = sub.add_parser("generate", help="write a synthetic cohort (CSV, marked synthetic)")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=None, help="number of patients (default 50)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a model parameter (repeatable), e.g. --set alpha_typical=0.2")
    p.set_defaults(func=_generate)

    p = sub.add_parser("template", help="write empty input files (CSV and/or Excel) generated "
                       "from the data model, to fill with your own cohort")
    p.add_argument("--out", required=True, help="directory to write the templates to")
    p.add_argument("--format", choices=["csv", "xlsx", "both"], default="both",
                   help="csv: patients.csv and kinetics.csv; xlsx: cartbook_template.xlsx "
                   "(default: both)")
    p.set_defaults(func=_template)

    p = sub.add_parser("calibrate", help="refit the synthetic generator (stage fit), search "
                       "seeds (stage seeds), score the best seeds with the book's scorecard "
                       "(stage scorecard) or rewrite the calibration report (stage report)")
    p.add_argument("--stage", choices=["fit", "seeds", "scorecard", "report"], default="report")
    p.add_argument("--out", default="data/calibration")
    p.add_argument("--population", type=int, default=20_000, help="population size (fit)")
    p.add_argument("--seeds", type=int, default=3000, help="candidate seeds 1..N (seeds)")
    p.add_argument("--candidates", type=int, default=60,
                   help="best seeds of the seed search scored by the book's scorecard (scorecard)")
    p.add_argument("--jobs", type=int, default=None,
                   help="notebooks run in parallel (scorecard with --serial)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="scorecard: score the candidates on an existing Dask cluster")
    where.add_argument("--workers", type=int, default=None,
                       help="scorecard: workers of the local Dask cluster (default: one per "
                            "core)")
    where.add_argument("--serial", action="store_true",
                       help="scorecard: one candidate after the other in this process")
    p.set_defaults(func=_calibrate)

    from .simulation.command import add_arguments as simulate_arguments

    p = sub.add_parser("simulate", help="simulation study of the paper's analysis plan on "
                       "synthetic trials, on Dask (local cluster or --scheduler)")
    simulate_arguments(p)
    p.set_defaults(func=_simulate)

    p = sub.add_parser("build", help="validate, execute the notebooks and build the book")
    p.add_argument("--data", default="data/synthetic", help="data directory")
    p.add_argument("--build-dir", "--out", dest="build_dir", default=None,
                   help="output directory (default _build)")
    p.add_argument("--jobs", type=int, default=None, help="notebooks run in parallel")
    p.add_argument("--force", action="store_true", help="ignore the cache")
    p.add_argument("--min-cell-count", type=int, default=0, metavar="K",
                   help="show counts from 1 to K-1 as <K in tables, n (%%) phrases, numbers at "
                        "risk and downloads (default 0: off); patient codes of data not marked "
                        "synthetic are always pseudonymised")
    p.add_argument("--label", default=None,
                   help="how the book names the data (default: the data folder's own name); "
                        "no path of this machine is ever published")
    _dialect_option(p)
    p.set_defaults(func=_build)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
