"""``cartbook``: command-line entry point.

Exit codes (stable, for scripts): 0 success; 1 a notebook or the book build failed, or the
build folder was deleted, is read-only or its disk is full (the previous book is unchanged
unless the folder itself was deleted); 2 command-line usage error, or ``--no-wait`` and another
build is using the build folder; 3 the input data are invalid (nothing was written);
128 + the signal number when the build was stopped by a signal (SIGINT 130, SIGTERM 143,
SIGHUP 129): one line says what became of the book, and no worker or kernel is left running.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from .synthetic.centres import parse_overrides

EXIT_OK, EXIT_BUILD, EXIT_USAGE, EXIT_INVALID = 0, 1, 2, 3
#: A build stopped by a signal exits with this plus the signal's number (Ctrl-C: 130).
EXIT_SIGNAL = 128


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


def _stderr(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:  # the terminal is gone (SIGHUP)
        pass


def _build_folder(args: argparse.Namespace) -> tuple[str, Path]:
    """The build folder as the user named it (for messages) and its path."""
    if args.build_dir:
        return args.build_dir, Path(args.build_dir)
    from .core.paths import ROOT

    return "_build", ROOT / "_build"


def interrupted_message(shown: str, folder: Path, published: bool) -> str:
    """The one line printed when a build is stopped by a signal (the folder ``shown`` as the
    user gave it: this goes to the terminal, never into the book)."""
    if published:
        return f"interrupted: the new book in {shown} had already been published"
    if (folder / "html" / "index.html").is_file():
        return f"interrupted: the previous book in {shown} is unchanged"
    return f"interrupted: no book was published in {shown} (there was none before)"


def build_overrides(args: argparse.Namespace) -> dict:
    """The analysis options of ``cartbook build``: ``--params FILE`` first, then each
    ``-p NAME=VALUE`` (later ones win), then ``--min-cell-count`` unless ``-p`` set it;
    checked and coerced (:func:`analysis_lib.book.pipeline.checked_overrides`). Raises
    :class:`analysis_lib.analyses.options.ParameterError` (exit code 2)."""
    from .analyses import options
    from .book.pipeline import checked_overrides

    given: dict = {}
    if args.params:
        given.update(options.load_params_file(args.params))
    for item in args.param or []:
        name, value = options.parse_assignment(item)
        given[name] = value
    if args.min_cell_count and "min_cell_count" not in given:
        given["min_cell_count"] = args.min_cell_count
    return checked_overrides(given)


def _params(args: argparse.Namespace) -> int:
    """Print every analysis option: default, type, unit, chapters, meaning (and source)."""
    from .analyses import options

    frame = options.parameters_frame()
    if args.format == "csv":
        sys.stdout.write(frame.to_csv(index=False))
        return EXIT_OK
    cols = ["parameter", "default", "type", "unit", "chapters", "meaning"]
    if args.source:
        cols.append("source")
    rows = [cols] + frame[cols].astype(str).values.tolist()
    width = [max(len(r[i]) for r in rows) for i in range(len(cols) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, width)) + "  " + r[-1])
    print("\nSet with: cartbook build -p NAME=VALUE (all chapters using it), "
          "-p CHAPTER.NAME=VALUE (one chapter), or --params FILE.yml")
    return EXIT_OK


def _build(args: argparse.Namespace) -> int:
    from .book.processes import Interrupted, checkpoint, interrupts

    result = None
    try:
        with interrupts():  # from here on, a signal stops the build in order
            from .book.buildlock import BuildBusy
            from .book.pipeline import BuildError, InvalidDataError, build_book

            checkpoint()  # a signal whose exception an import lost (processes.checkpoint)

            if args.min_cell_count < 0:
                print("cartbook build: --min-cell-count must be >= 0", file=sys.stderr)
                return EXIT_USAGE
            from .analyses.options import ParameterError

            try:
                overrides = build_overrides(args)
            except ParameterError as exc:
                print(f"cartbook build: {exc}\nNothing was built.", file=sys.stderr)
                return EXIT_USAGE
            try:
                result = build_book(Path(args.data),
                                    Path(args.build_dir) if args.build_dir else None,
                                    jobs=args.jobs, force=args.force, overrides=overrides,
                                    label=args.label, csv_dialect=args.csv_dialect,
                                    wait=not args.no_wait)
            except InvalidDataError as exc:
                print(exc.report.to_text(), file=sys.stderr)
                print("Build stopped: the data are invalid. Nothing was written.",
                      file=sys.stderr)
                return EXIT_INVALID
            except BuildBusy as exc:
                print(f"cartbook build: {exc}; not waiting (--no-wait)", file=sys.stderr)
                return EXIT_USAGE
            except BuildError as exc:
                print(str(exc), file=sys.stderr)
                return EXIT_BUILD
            print(f"[cartbook] done in {result.seconds:.1f} s")
            print(result.index_html)
            return EXIT_OK
    except (Interrupted, KeyboardInterrupt) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else 2
        published = (getattr(exc, "published", False)
                     or (result is not None and result.book_built))
        _stderr(interrupted_message(*_build_folder(args), published))
        return EXIT_SIGNAL + signum


def _clean(args: argparse.Namespace) -> int:
    """Delete a build folder, after any build still using it has finished."""
    import shutil

    from .book.buildlock import BuildBusy, BuildLock, busy_message
    from .book.processes import Interrupted, checkpoint, interrupts

    shown, folder = _build_folder(args)
    if not folder.exists():
        return EXIT_OK
    try:
        with interrupts():
            checkpoint()
            lock = BuildLock(folder, shown)
            try:
                lock.acquire(not args.no_wait, on_wait=lambda pid: print(
                    f"[cartbook] {busy_message(shown, pid)}; waiting for it to finish",
                    flush=True))
            except BuildBusy as exc:
                print(f"cartbook clean: {exc}; not waiting (--no-wait)", file=sys.stderr)
                return EXIT_USAGE
            try:
                shutil.rmtree(folder)  # the lock file last of all goes with it
            finally:
                lock.release()
    except Interrupted as exc:
        _stderr(f"interrupted: {shown} may be partly deleted")
        return exc.exit_code
    except OSError as exc:
        print(f"cartbook clean: cannot delete {shown}: {exc.strerror}", file=sys.stderr)
        return EXIT_BUILD
    print(f"deleted {shown}")
    return EXIT_OK


def _dialect_option(p: argparse.ArgumentParser) -> None:
    from .data.io import CSV_DIALECTS

    p.add_argument("--csv-dialect", choices=list(CSV_DIALECTS), default="auto",
                   help="CSV separator and decimal mark: auto (separator from the header, "
                        "decimal point; default), comma, semicolon, tab, or "
                        "semicolon-decimal-comma (European-locale spreadsheet exports)")


#: Commands that a signal stops in order, with one line (:func:`main`).
STOPPABLE = ("build", "clean")


def _folder_in(argv: list[str]) -> tuple[str, Path]:
    """The build folder named by ``--build-dir``/``--out`` in ``argv`` (before parsing)."""
    for i, arg in enumerate(argv):
        for flag in ("--build-dir", "--out"):
            if arg == flag and i + 1 < len(argv):
                return argv[i + 1], Path(argv[i + 1])
            if arg.startswith(flag + "="):
                return arg[len(flag) + 1:], Path(arg[len(flag) + 1:])
    return _build_folder(argparse.Namespace(build_dir=None))


def run(argv: list[str] | None = None) -> NoReturn:
    """The ``cartbook`` program: :func:`main`, then exit with its code. Once the command has
    finished, the stop signals are ignored: a SIGHUP or SIGTERM that arrives while the
    interpreter shuts down cannot turn a finished build's exit code into -signal."""
    sys.exit(main(argv, program=True))


def main(argv: list[str] | None = None, program: bool = False) -> int:
    """Run one ``cartbook`` command; return its exit code (callable from Python: the signal
    handlers are restored afterwards unless ``program``, see :func:`run`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in STOPPABLE:
        return _main(argv)
    import signal

    from .book.processes import Interrupted, interrupts, settled

    try:
        # from the first moment: parsing already imports pandas
        with interrupts(then=signal.SIG_IGN if program else None):
            code = _main(argv)
            settled()
            return code
    except (Interrupted, KeyboardInterrupt) as exc:  # before the command itself had started
        signum = exc.signum if isinstance(exc, Interrupted) else 2
        shown, folder = _folder_in(argv)
        _stderr(interrupted_message(shown, folder, False) if argv[0] == "build"
                else f"interrupted: {shown} was not touched")
        return EXIT_SIGNAL + signum


def _main(argv: list[str]) -> int:
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
    p.add_argument("--no-wait", action="store_true",
                   help="if another build is using the build folder, stop at once (exit code 2) "
                        "instead of waiting for it to finish")
    p.add_argument("-p", "--param", action="append", metavar="[CHAPTER.]NAME=VALUE",
                   help="set an analysis parameter (repeatable), e.g. -p dose_cut=median or "
                        "-p survival.screen_p=0.1 for one chapter; cartbook params lists them")
    p.add_argument("--params", metavar="FILE.yml", default=None,
                   help="a YAML file of parameters (NAME: VALUE, or CHAPTER: {NAME: VALUE}); "
                        "-p values win over it")
    p.set_defaults(func=_build)

    p = sub.add_parser("params", help="list every analysis parameter: default, type, unit, "
                       "chapters using it and meaning")
    p.add_argument("--format", choices=["text", "csv"], default="text")
    p.add_argument("--source", action="store_true", help="also show each default's source")
    p.set_defaults(func=_params)

    p = sub.add_parser("clean", help="delete a build folder, waiting for a build that is "
                       "still using it")
    p.add_argument("--build-dir", "--out", dest="build_dir", default=None,
                   help="the build folder (default _build)")
    p.add_argument("--no-wait", action="store_true",
                   help="if a build is using the folder, stop at once (exit code 2)")
    p.set_defaults(func=_clean)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    run()
