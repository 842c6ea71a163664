"""Build pipeline: validate the data, execute the notebooks with papermill, build the book.

Steps, each of which must succeed before anything is published:

1. **Validate** the data directory (:func:`analysis_lib.data.validation.validate_dir`). On any
   problem the build stops with the full report and writes nothing at all.
2. **Execute** the text notebooks (jupytext py:percent in ``notebooks/``) with papermill, in
   parallel worker processes. A notebook whose inputs are unchanged (its source, its
   parameters, the data files, the ``analysis_lib`` code and the lock file, hashed together)
   is taken from the cache in ``<build>/cache`` instead of being executed again. A failing
   notebook stops the build and its failing cell's traceback is printed.
3. **Assemble** a staging copy of the book sources with the executed notebooks, and build it
   with ``jupyter-book build --all -W -n --keep-going`` (warnings are errors).
4. **Publish** by renaming the staged site over ``<build>/html``. Until this last step the
   previous good book stays in place.

Executed notebooks are stripped of wall-clock metadata, so the same inputs give the same
outputs.

Faults
------
- One build per build folder: the build holds an exclusive lock on it from the moment the
  data are valid (:mod:`analysis_lib.book.buildlock`); another build waits, or stops with
  ``wait=False``.
- Each notebook runs in a worker process of its own that dies with the build, even when the
  build is killed with SIGKILL, and stops its kernel when it is stopped
  (:mod:`analysis_lib.book.processes`); a finished notebook enters the cache whole (one rename) at
  once, so an interrupted build loses only the notebooks still running.
- SIGINT, SIGTERM and SIGHUP raise :class:`~analysis_lib.book.processes.Interrupted` once the
  workers, kernels and jupyter-book are stopped; the renames that publish are never cut in half.
- The book and cache entries are replaced by an atomic exchange of two folders.
- A build folder that is deleted, read-only or not writable, or whose disk is full, is
  reported as such in one line (:class:`FolderFault`); the previous book stays.

Nothing of the build machine is published
------------------------------------------
The notebooks never receive a path: their ``data_dir`` parameter is the reference
``$CARTBOOK_DATA_DIR`` (:data:`analysis_lib.data.validation.DATA_DIR_REF`), resolved in the kernel
from the environment, and later stages get the executed chapters' directory as a relative
path. The book names the data by a label (``cartbook build --label``, default: the data
folder's own name), shown escaped. Paths of the build machine that a library still prints into
a notebook (a warning names the file that raised it) are replaced by placeholders
(``<repository>``, ``<python>``, ``<data>``…) before a notebook is cached, and the staged site
is scanned for them before it is published: a build that would publish one fails instead
(:class:`BuildError`), and the previous book stays.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..core.paths import ROOT as REPO_ROOT
from ..data.schema import TABLES
from . import processes
from .buildlock import BuildLock, Fault, busy_message, exchange

#: Repository root (the directory holding ``_config.yml``).
ROOT = REPO_ROOT
#: Notebooks in stages. The notebooks of a stage are independent of one another and run in
#: parallel; a later stage reads the executed notebooks of the earlier ones (their glued
#: values), receives their directory as the parameter ``notebooks_dir``, and is re-executed
#: whenever any of them changes.
STAGES: tuple[tuple[str, ...], ...] = (
    ("cohort", "kinetics", "survival", "toxicity", "data_dictionary", "synthetic_data",
     "own_data", "simulation"),
    ("scorecard", "index", "parameters"),
)
#: Every notebook of the book, in build order.
NOTEBOOKS: tuple[str, ...] = tuple(n for stage in STAGES for n in stage)
#: Where executed notebooks sit inside the book sources.
GENERATED = Path("book") / "_generated"


def default_parameters() -> dict[str, Any]:
    """The default of every analysis option (:mod:`analysis_lib.analyses.options`), passed to
    every notebook that declares it."""
    from ..analyses import options

    return options.defaults()

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_VOLATILE_NB_META = ("start_time", "end_time", "duration", "exception")


class BuildError(Exception):
    """The build failed (a notebook or the book build); nothing was published."""


class InvalidDataError(BuildError):
    """The data directory failed validation; nothing was written."""
    def __init__(self, report: Any):
        self.report = report
        super().__init__(report.to_text())


@dataclass
class NotebookResult:
    name: str
    status: str  # "executed" | "cached" | "failed"
    seconds: float = 0.0
    error: str = ""
    #: errno of a failure that was an ``OSError`` (in papermill or in a cell), else None:
    #: lets the build tell a full or read-only build folder from a notebook's own error
    errno: int | None = None


@dataclass
class BuildResult:
    index_html: Path
    notebooks: list[NotebookResult] = field(default_factory=list)
    book_built: bool = True
    seconds: float = 0.0


def _log(msg: str) -> None:
    print(f"[cartbook] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# Hashing and parameters
# --------------------------------------------------------------------------------------------

def _sha(items: Iterable[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for name, data in items:
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def data_files(data_dir: Path) -> list[Path]:
    """The table files of ``data_dir`` (the inputs that define a dataset), found as the
    validator finds them (:func:`analysis_lib.data.io.find_table_files`)."""
    from ..data.io import find_table_files

    return sorted(p for t in TABLES for p in find_table_files(data_dir, t) if p.is_file())


def code_fingerprint(root: Path = ROOT) -> str:
    """Hash of the library code, the calibration record and the lock file: a change to any of
    them re-executes the notebooks."""
    files = sorted((root / "analysis_lib").rglob("*.py"))
    files += sorted((root / "data" / "calibration").glob("*"))  # read by the data chapter
    # the simulation study's stored summary and truths (read by the simulation chapter)
    files += sorted(p for sub in ("summary", "truth")
                    for p in (root / "data" / "simulation" / sub).glob("*") if p.is_file())
    lock = root / "requirements.lock"
    items = [(str(p.relative_to(root)), p.read_bytes()) for p in files]
    if lock.is_file():
        items.append(("requirements.lock", lock.read_bytes()))
    items.append(("python", sys.version.encode()))
    return _sha(items)


def notebook_key(source: Path, params: Mapping[str, Any], data_dir: Path, code: str,
                 resolved: Mapping[str, Any] | None = None) -> str:
    """Cache key of one notebook: source, parameters (as given, and ``resolved``: the numbers
    that cohort-relative values such as ``dose_cut=median`` resolved to), data bytes and code
    fingerprint."""
    items = [("source", source.read_bytes()),
             ("params", json.dumps(params, sort_keys=True, default=str).encode()),
             ("resolved", json.dumps(dict(resolved or {}), sort_keys=True, default=str).encode()),
             ("code", code.encode())]
    items += [(f"data/{p.name}", p.read_bytes()) for p in data_files(data_dir)]
    return _sha(items)


def declared_parameters(source: Path) -> list[str]:
    """Names assigned in the cell tagged ``parameters`` of a py:percent notebook."""
    import jupytext

    nb = jupytext.read(source)
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return re.findall(r"^([A-Za-z_]\w*)\s*(?::[^=]+)?=", cell.source, flags=re.M)
    return []


def notebook_parameters(name: str, source: Path, data_dir: Path,
                        overrides: Mapping[str, Any] | None = None, *,
                        by_reference: bool = False) -> dict[str, Any]:
    """The parameters passed to notebook ``name``: those its parameters cell declares, each
    from ``overrides`` (``"NAME"`` for every notebook, ``"CHAPTER.NAME"`` for notebook
    ``CHAPTER`` only, which wins), else the option's default
    (:func:`default_parameters`), else the plumbing (``data_dir``, ``output_dir``, ``chapter``).
    ``overrides`` are used as given: :func:`build_book` checks them first
    (:func:`analysis_lib.analyses.options.check_overrides`).

    With ``by_reference`` (as the build runs every notebook: :func:`run_notebooks`),
    ``data_dir`` is the reference :data:`~analysis_lib.data.validation.DATA_DIR_REF`, never a path:
    the kernel finds the directory in its environment (:func:`kernel_environment`). Without
    it, the absolute path (for executing one notebook by hand, nothing published).
    """
    from ..data.validation import DATA_DIR_REF

    where = DATA_DIR_REF if by_reference else str(Path(data_dir).resolve())
    over = dict(overrides or {})
    plain = {k: v for k, v in over.items() if "." not in k}
    scoped = {k.split(".", 1)[1]: v for k, v in over.items() if k.startswith(name + ".")}
    values = {**default_parameters(), **plain, **scoped,
              "data_dir": where, "output_dir": f"outputs/{name}", "chapter": name}
    declared = declared_parameters(source)
    return {k: values[k] for k in declared if k in values}


def resolved_parameters(params: Mapping[str, Any], data_dir: Path, csv_dialect: str = "auto",
                        _patients: list[Any] | None = None) -> dict[str, Any]:
    """The numbers that the cohort-relative values among ``params`` (``dose_cut="median"``)
    resolve to in the data of ``data_dir`` (:func:`analysis_lib.analyses.options.resolve`);
    empty when there are none. ``_patients`` caches the loaded patients table."""
    from ..analyses import options

    relative = {k: v for k, v in params.items()
                if k in options.OPTIONS and options.OPTIONS[k].cohort_relative
                and isinstance(v, str) and v == options.MEDIAN}
    if not relative:
        return {}
    cache = _patients if _patients is not None else []
    if not cache:
        from ..data.validation import load_dataset

        cache.append(load_dataset(data_dir, csv_dialect=csv_dialect).tables["patients"])
    return options.resolve_all(relative, cache[0])


def kernel_environment(data_dir: Path, label: str, csv_dialect: str = "auto") -> dict[str, str]:
    """Environment variables of the notebook kernels: where the data are, the label the book
    shows for them and the CSV dialect (:mod:`analysis_lib.data.validation`)."""
    from ..data.validation import CSV_DIALECT_ENV, DATA_DIR_ENV, DATA_LABEL_ENV

    return {DATA_DIR_ENV: str(Path(data_dir).resolve()), DATA_LABEL_ENV: label,
            CSV_DIALECT_ENV: csv_dialect}


# --------------------------------------------------------------------------------------------
# Keeping the build machine's paths out of what is published
# --------------------------------------------------------------------------------------------

def private_paths(data_dir: Path, build_dir: Path, root: Path = ROOT) -> dict[str, str]:
    """Paths of the build machine that must never be published, longest first, each with
    the placeholder that replaces it in executed notebooks: the data directory (as given and
    resolved) and its parent, the build directory, the repository, the Python environment and
    the home directory. Paths with fewer than three parts (``/``, ``/usr``, ``/tmp``,
    ``/root``) are left out: they identify nobody and are too common to replace."""
    candidates: list[tuple[Path, str]] = []
    for d in (Path(data_dir).absolute(), Path(data_dir).resolve()):
        candidates += [(d, "<data>"), (d.parent, "<data-parent>")]
    candidates += [(Path(build_dir).absolute(), "<build>"), (Path(build_dir).resolve(), "<build>"),
                   (Path(root).absolute(), "<repository>"), (Path(root).resolve(), "<repository>"),
                   (Path(sys.prefix), "<python>"), (Path(sys.base_prefix), "<python>"),
                   (Path.home(), "~")]
    out: dict[str, str] = {}
    for path, placeholder in candidates:
        if len(path.parts) >= 3:
            out.setdefault(str(path), placeholder)
    return dict(sorted(out.items(), key=lambda kv: -len(kv[0])))


def _scrub(obj: Any, paths: Mapping[str, str]) -> Any:
    """``obj`` (JSON-like) with every occurrence of ``paths`` replaced by its placeholder."""
    if isinstance(obj, str):
        for path, placeholder in paths.items():
            if path in obj:
                obj = re.sub(re.escape(path) + r"(?![\w.-])", placeholder, obj)
        return obj
    if isinstance(obj, list):
        return [_scrub(v, paths) for v in obj]
    if isinstance(obj, dict):
        return type(obj)({k: _scrub(v, paths) for k, v in obj.items()})
    return obj


def find_private(root_dir: Path, needles: Iterable[str]) -> list[str]:
    """Files under ``root_dir`` that contain any of ``needles`` (as text in UTF-8, or
    JSON-escaped), as ``relative/path: needle``."""
    encoded = []
    for n in needles:
        forms = {n.encode("utf-8"), json.dumps(n)[1:-1].encode("utf-8")}
        encoded += [(n, f) for f in forms if f]
    hits = []
    for p in sorted(root_dir.rglob("*")):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            hits += [f"{p.relative_to(root_dir)}: {n}" for n, f in encoded if f in data]
    return sorted(set(hits))


# --------------------------------------------------------------------------------------------
# Executing one notebook (runs in a worker process)
# --------------------------------------------------------------------------------------------

_ERRNO = re.compile(r"\[Errno (\d+)\]")


def _errno_of(text: str) -> int | None:
    """The errno in an ``OSError``'s text (``[Errno 28] No space left on device``), if any."""
    m = _ERRNO.search(text or "")
    return int(m.group(1)) if m else None


def _format_failure(nb: Any) -> str:
    """The failing cell's source and traceback, from an executed notebook."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                tb = "\n".join(_ANSI.sub("", line) for line in out.get("traceback", []))
                return (f"cell {i} failed:\n{cell.source}\n{'-' * 60}\n{tb}\n"
                        f"{out.get('ename')}: {out.get('evalue')}")
    return "the notebook failed before any cell reported an error"


def clean_executed(nb: Any, paths: Mapping[str, str] | None = None) -> Any:
    """Hide the injected-parameters cell, drop wall-clock metadata and give cells stable ids
    (nbformat and papermill draw random ones), so the same inputs give the same bytes; replace
    the build machine's ``paths`` (:func:`private_paths`) by their placeholders everywhere in
    the notebook (sources, outputs such as warnings, metadata)."""
    if paths:
        nb.cells = _scrub(nb.cells, paths)
        nb.metadata = _scrub(nb.metadata, paths)
    pm = nb.metadata.get("papermill", {})
    for k in _VOLATILE_NB_META:
        pm.pop(k, None)
    for k in ("input_path", "output_path", "environment_variables"):
        pm.pop(k, None)
    for i, cell in enumerate(nb.cells):
        if "id" in cell:
            cell["id"] = f"cell-{i:03d}"
        cell.metadata.pop("execution", None)
        cmeta = cell.metadata.get("papermill")
        if cmeta is not None:
            cell.metadata.pop("papermill")
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    return nb


def execute_notebook(name: str, source: Path, params: Mapping[str, Any], work_dir: Path,
                     timeout: int = 1800, env: Mapping[str, str] | None = None,
                     paths: Mapping[str, str] | None = None, *,
                     create_parents: bool = True) -> NotebookResult:
    """Execute ``source`` (py:percent) with papermill in ``work_dir``.

    Writes ``work_dir/<name>.ipynb`` and whatever the notebook writes under ``work_dir``.
    ``env`` is added to the kernel's environment (:func:`kernel_environment`); ``paths`` are
    scrubbed from the executed notebook (:func:`clean_executed`). Without ``create_parents``
    (as the build runs it) a missing parent of ``work_dir`` is a failure: a build folder
    deleted during the build is never silently created again.
    Returns a failed result carrying the failing cell's traceback instead of raising; a
    failure that is an ``OSError`` carries its errno.
    """
    try:
        return _execute_notebook(name, source, params, work_dir, timeout, env, paths,
                                 create_parents)
    except OSError as exc:  # writing the work folder (full, read-only, deleted)
        return NotebookResult(name, "failed", 0.0, f"{type(exc).__name__}: {exc}", exc.errno)


def _execute_notebook(name: str, source: Path, params: Mapping[str, Any], work_dir: Path,
                      timeout: int, env: Mapping[str, str] | None,
                      paths: Mapping[str, str] | None, create_parents: bool) -> NotebookResult:
    import jupytext
    import nbformat
    import papermill as pm

    t0 = time.perf_counter()
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=create_parents)
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.pop("jupytext", None)
    src_ipynb = work_dir / f".{name}.source.ipynb"
    out_ipynb = work_dir / f"{name}.ipynb"
    nbformat.write(nb, src_ipynb)
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})  # the kernel inherits this process's environment
    try:
        pm.execute_notebook(str(src_ipynb), str(out_ipynb), parameters=dict(params),
                            cwd=str(work_dir), kernel_name="python3", progress_bar=False,
                            log_output=False, execution_timeout=timeout,
                            # the kernel's own log is not the reader's concern: at shutdown
                            # jupyter_client interrupts the kernel before asking it to stop,
                            # which ipykernel logs as an ERROR ("KeyboardInterrupt caught in
                            # kernel") on a build that succeeded; a cell's error still reaches
                            # the executed notebook and the build's failure report
                            extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    except pm.PapermillExecutionError as exc:
        try:
            error = _format_failure(nbformat.read(out_ipynb, as_version=4))
        except Exception:  # the executed notebook could not be written (a full disk)
            error = f"{exc.ename}: {exc.evalue}"
        code = _errno_of(exc.evalue) if "Error" in exc.ename else None
        return NotebookResult(name, "failed", time.perf_counter() - t0, error, code)
    except Exception as exc:  # kernel death, missing kernel, bad notebook, a full disk
        return NotebookResult(name, "failed", time.perf_counter() - t0,
                              f"{type(exc).__name__}: {exc}", getattr(exc, "errno", None))
    finally:
        src_ipynb.unlink(missing_ok=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    executed = clean_executed(nbformat.read(out_ipynb, as_version=4), paths)
    nbformat.write(executed, out_ipynb)
    return NotebookResult(name, "executed", time.perf_counter() - t0)


Job = tuple[str, str, dict, str, dict, dict]


def _execute_job(job: Job) -> NotebookResult:
    name, source, params, work, env, paths = job
    return execute_notebook(name, Path(source), params, Path(work), env=env, paths=paths,
                            create_parents=False)


def _worker(writer: Any, parent: int, executor: Callable[[Job], NotebookResult],
            job: Job) -> None:
    """A worker process: run one job and send its result to the build (``parent``).

    The worker dies with the build and stops its kernel when told to
    (:func:`analysis_lib.book.processes.become_worker`); any error becomes a failed result."""
    processes.become_worker(parent)
    try:
        res = executor(job)
    except BaseException as exc:  # a result for the build, never a traceback on its terminal
        res = NotebookResult(job[0], "failed", 0.0, f"{type(exc).__name__}: {exc}",
                             getattr(exc, "errno", None))
    writer.send(res)
    writer.close()


def _ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _run_jobs(todo: list[Job], executor: Callable[[Job], NotebookResult], workers: int,
              done: Callable[[NotebookResult], None]) -> None:
    """Run ``executor(job)`` for each job in a worker process of its own, ``workers`` at a
    time, and call ``done(result)`` here as each one finishes (so a finished notebook is
    cached even if the build is stopped later). However this ends (an error, an interrupt),
    no worker and no kernel outlives it (:func:`analysis_lib.book.processes.stop_workers`)."""
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    queue = list(todo)
    running: dict[Any, tuple[Any, Job]] = {}  # result pipe -> (process, job)
    try:
        while queue or running:
            processes.checkpoint()
            while queue and len(running) < workers:
                job = queue.pop(0)
                reader, writer = ctx.Pipe(duplex=False)
                with processes.critical():  # a started worker is always in `running`
                    proc = ctx.Process(target=_worker, name=f"cartbook-{job[0]}",
                                       args=(writer, os.getpid(), executor, job))
                    proc.start()
                    running[reader] = (proc, job)
                writer.close()
            for reader in wait(list(running)):
                proc, job = running.pop(reader)
                try:
                    res = reader.recv()
                except (EOFError, OSError):  # the worker died (out of memory, killed)
                    proc.join()
                    res = NotebookResult(job[0], "failed", 0.0, "the worker process ended "
                                         f"without a result ({_ended(proc.exitcode)})")
                reader.close()
                proc.join()
                done(res)
    finally:
        if running:
            processes.stop_workers([proc for proc, _ in running.values()])
            for reader in running:
                reader.close()


# --------------------------------------------------------------------------------------------
# The whole build
# --------------------------------------------------------------------------------------------

def _replace_dir(src: Path, dst: Path) -> Path | None:
    """Put ``src`` at ``dst`` so that ``dst`` is never half-written and never missing: by one
    atomic exchange where the system can (:func:`analysis_lib.book.buildlock.exchange`), else by
    two renames (a build stopped between them is repaired by :func:`_recover`). Returns where
    the previous ``dst`` now is, for the caller to remove (None if there was none)."""
    if not dst.exists():
        os.replace(src, dst)
        return None
    if exchange(src, dst):
        return src
    old = dst.with_name(dst.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    os.replace(dst, old)
    try:
        os.replace(src, dst)
    except BaseException:
        os.replace(old, dst)
        raise
    return old


def _recover(dst: Path) -> None:
    """Undo a two-rename :func:`_replace_dir` that was stopped half-way (``dst`` missing,
    ``dst.old`` present), or remove a leftover ``dst.old``."""
    old = dst.with_name(dst.name + ".old")
    if old.is_dir():
        if dst.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, dst)


def _stage_mathjax(src: Path) -> None:
    """Copy MathJax 3 (from the pinned django-static-mathjax wheel) into the staged book's
    ``_static``, so equations render without a CDN (``mathjax_path`` in ``_config.yml``)."""
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("MathJax is missing: install the pinned requirements "
                         "(django-static-mathjax)")
    es5 = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    dst = src / "book" / "_static" / "mathjax"
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / "tex-chtml.js", dst / "tex-chtml.js")
    shutil.copytree(es5 / "output" / "chtml" / "fonts" / "woff-v2",
                    dst / "output" / "chtml" / "fonts" / "woff-v2", dirs_exist_ok=True)


def _book_sources(root: Path) -> list[Path]:
    files = [root / "_config.yml", root / "_toc.yml"]
    files += sorted(p for p in (root / "book").rglob("*")
                    if p.is_file() and GENERATED.as_posix() not in p.relative_to(root).as_posix())
    return [p for p in files if p.is_file()]


def run_notebooks(names: Iterable[str], data_dir: Path, build_dir: Path, *, root: Path = ROOT,
                  overrides: Mapping[str, Any] | None = None, jobs: int | None = None,
                  force: bool = False, upstream: Mapping[str, str] | None = None,
                  executor: Callable[[Job], NotebookResult] = _execute_job,
                  label: str | None = None, csv_dialect: str = "auto"
                  ) -> tuple[list[NotebookResult], dict[str, str]]:
    """Execute (or take from cache) each notebook; returns results and cache keys.

    ``upstream`` holds the cache keys of earlier stages' notebooks: they become part of each
    key here, so a notebook that reads them re-executes when any of them changed. ``label``
    (default: the data folder's name) and ``csv_dialect`` reach the kernels through their
    environment (:func:`kernel_environment`) and are part of the keys.
    """
    from ..data.validation import default_label

    cache = build_dir / "cache"
    code = code_fingerprint(root)
    label = label or default_label(data_dir)
    env = kernel_environment(data_dir, label, csv_dialect)
    paths = private_paths(data_dir, build_dir, root)
    keys: dict[str, str] = {}
    results: dict[str, NotebookResult] = {}
    todo: list[Job] = []
    patients: list[Any] = []  # loaded once, only if a value is cohort-relative
    for name in names:
        source = root / "notebooks" / f"{name}.py"
        params = notebook_parameters(name, source, data_dir, overrides, by_reference=True)
        keys[name] = notebook_key(source, params, data_dir,
                                  code + json.dumps(dict(upstream or {}), sort_keys=True)
                                  + json.dumps([label, csv_dialect]),
                                  resolved_parameters(params, data_dir, csv_dialect, patients))
        entry = cache / name
        if not force and (entry / ".key").is_file() and (entry / ".key").read_text() == keys[name]:
            results[name] = NotebookResult(name, "cached")
            continue
        todo.append((name, str(source), params, str(build_dir / "work" / name), env, paths))
    def done(res: NotebookResult) -> None:
        results[res.name] = res
        if res.status == "executed":
            with processes.critical():  # the cache holds whole results only
                (build_dir / "work" / res.name / ".key").write_text(keys[res.name])
                cache.mkdir(exist_ok=True)
                previous = _replace_dir(build_dir / "work" / res.name, cache / res.name)
                if previous is not None:
                    shutil.rmtree(previous)
        _log(f"  {res.name}: {res.status} in {res.seconds:.1f} s")

    if todo:
        workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
        _log(f"executing {len(todo)} notebook(s), {workers} at a time: "
             + ", ".join(t[0] for t in todo))
        (build_dir / "work").mkdir(parents=True, exist_ok=True)
        if workers == 1 and executor is not _execute_job:
            for t in todo:  # a test's executor, in this process
                processes.checkpoint()
                done(executor(t))
        else:
            _run_jobs(todo, executor, workers, done)
    ordered = [results[n] for n in keys]
    for r in ordered:
        if r.status == "cached":
            _log(f"  {r.name}: unchanged, taken from cache")
    return ordered, keys


def build_book(data_dir: Path | str, build_dir: Path | str | None = None, *,
               root: Path = ROOT, jobs: int | None = None, force: bool = False,
               overrides: Mapping[str, Any] | None = None,
               notebooks: Iterable[str] | None = None, label: str | None = None,
               csv_dialect: str = "auto", wait: bool = True) -> BuildResult:
    """Validate, execute and build; returns the path of the published ``index.html``.

    ``overrides`` are the analysis options a user set (``{"dose_cut": "median",
    "survival.screen_p": 0.1}``: a name for every chapter that uses it, ``CHAPTER.NAME`` for
    one chapter); they are checked before anything else
    (:func:`analysis_lib.analyses.options.check_overrides`): an unknown name, a wrong type or an
    impossible value raises :class:`~analysis_lib.analyses.options.ParameterError` (a
    ``ValueError``) and nothing is read, locked or written.

    ``notebooks`` (default: the :data:`STAGES` of the book) runs the given notebooks as a
    single stage instead. ``label`` is how the book names the data (default: the data folder's
    own name; never a path); ``csv_dialect`` as in :func:`analysis_lib.data.validation.validate_dir`.

    One build at a time per build folder (:class:`~analysis_lib.book.buildlock.BuildLock`,
    taken once the data are valid): another build's folder is waited for, or with
    ``wait=False`` refused (:class:`~analysis_lib.book.buildlock.BuildBusy`). SIGINT, SIGTERM
    and SIGHUP stop the build, its workers and their kernels and raise
    :class:`~analysis_lib.book.processes.Interrupted`; notebooks that had finished stay cached.

    Raises :class:`InvalidDataError` (nothing written), :class:`FolderFault` (the build folder
    was deleted, is read-only or not writable, or its disk is full) or :class:`BuildError`
    (the previous book left in place).
    """
    overrides = checked_overrides(overrides)
    given = Path(data_dir).absolute()
    shown = str(build_dir) if build_dir else "_build"
    build_dir = Path(build_dir).resolve() if build_dir else root / "_build"
    with processes.interrupts():
        return _build(given, build_dir, shown, root=root, jobs=jobs, force=force,
                      overrides=overrides, notebooks=notebooks, label=label,
                      csv_dialect=csv_dialect, wait=wait)


def checked_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options a user set, checked and coerced
    (:func:`analysis_lib.analyses.options.check_overrides`), as ``{"CHAPTER.NAME": value}``
    for every chapter that uses each (what :func:`notebook_parameters` reads)."""
    from ..analyses import options

    per_chapter = options.check_overrides(dict(overrides or {}))
    return {f"{ch}.{k}": v for ch, values in per_chapter.items() for k, v in values.items()}


class FolderFault(BuildError):
    """The build folder changed under the build: deleted, read-only or not writable, or its
    disk full. The message says which, in one line, with the folder as the user named it."""

    def __init__(self, fault: Fault, kept: str):
        self.fault = fault
        super().__init__(f"{fault.text}; {kept}")


def _kept(build_dir: Path, fault: Fault | None = None) -> str:
    """What became of the previous book, for the end of an error message."""
    if fault is not None and fault.kind in ("deleted", "recreated", "replaced", "emptied"):
        return "nothing was published"
    if (build_dir / "html" / "index.html").is_file():
        return "the previous book is unchanged"
    return "no book was published (there was none before)"


def _validated(data_dir: Path, csv_dialect: str, label: str) -> Any:
    from ..data.validation import validate_dir

    _log(f"validating {data_dir}")
    report = validate_dir(data_dir, csv_dialect=csv_dialect, label=label)
    if not report.ok:
        raise InvalidDataError(report)
    n_pat = len(report.tables["patients"])
    n_smp = len(report.tables["kinetics"])
    _log(f"  ok: {n_pat} patients, {n_smp} CAR-T samples"
         + (" (synthetic)" if report.synthetic else ""))
    return report


def _where(exc: OSError, build_dir: Path, shown: str) -> tuple[str, bool]:
    """The file an ``OSError`` names (inside the build folder: as ``shown/relative``) and
    whether it is inside the build folder."""
    for name in (exc.filename, exc.filename2):
        if name is None:
            continue
        path = Path(os.fsdecode(name)).absolute()
        if path.is_relative_to(build_dir):
            return str(Path(shown) / path.relative_to(build_dir)), True
    name = exc.filename if exc.filename is not None else exc.filename2
    return (os.fsdecode(name) if name is not None else ""), False


def _folder_error(lock: BuildLock, exc: OSError, build_dir: Path) -> BuildError:
    """The one-line error for an ``OSError`` met while writing the build."""
    where, inside = _where(exc, build_dir, lock.shown)
    fault = lock.fault(exc.errno, where, confirm=not inside)
    if fault is not None:
        return FolderFault(fault, _kept(build_dir, fault))
    return BuildError(f"{exc.strerror or exc}: {where or 'unknown file'}; {_kept(build_dir)}")


def _build(given: Path, build_dir: Path, shown: str, *, root: Path, jobs: int | None,
           force: bool, overrides: Mapping[str, Any] | None, notebooks: Iterable[str] | None,
           label: str | None, csv_dialect: str, wait: bool) -> BuildResult:
    from ..data.validation import default_label

    t0 = time.perf_counter()
    data_dir = given.resolve()
    label = label or default_label(given)
    _validated(data_dir, csv_dialect, label)
    processes.checkpoint()

    lock = BuildLock(build_dir, shown)
    try:
        lock.acquire(wait, on_wait=lambda pid: _log(
            f"{busy_message(shown, pid)}; waiting for it to finish "
            "(cartbook build --no-wait stops instead)"))
    except OSError as exc:
        raise _folder_error(lock, exc, build_dir) from None
    published = False
    try:
        try:
            processes.checkpoint()
            if lock.waited:
                _log("the other build has finished")
                _validated(data_dir, csv_dialect, label)  # the data may have changed meanwhile
            result = _locked_build(lock, data_dir, given, build_dir, t0, root=root, jobs=jobs,
                                   force=force, overrides=overrides, notebooks=notebooks,
                                   label=label, csv_dialect=csv_dialect)
            published = result.book_built
        except OSError as exc:
            raise _folder_error(lock, exc, build_dir) from None
        finally:
            with processes.critical():
                _tidy(lock, build_dir)
                lock.release()
    except processes.Interrupted as exc:
        exc.published = exc.published or published
        raise
    return result


def _tidy(lock: BuildLock, build_dir: Path) -> None:
    """Remove the build's scratch folders (``work``, ``stage``), never another build's.

    If the build folder was deleted during the build, a helper's writes (jupyter-book creates
    its output folders with their parents) may have created it again: a folder with no lock
    file is no other build's, so what this build put there is removed, and the folder too if
    that leaves it empty."""
    fault = lock.changed()
    if fault is not None and fault.kind in ("deleted", "replaced"):
        return  # nothing to tidy, or another build's folder now
    for scratch in ("work", "stage"):
        shutil.rmtree(build_dir / scratch, ignore_errors=True)
    if fault is not None and fault.kind == "recreated":
        try:
            build_dir.rmdir()
        except OSError:
            pass


def _check(lock: BuildLock, build_dir: Path) -> None:
    """Stop if the build folder is no longer the one locked (deleted, or created anew)."""
    fault = lock.changed()
    if fault is not None:
        raise FolderFault(fault, _kept(build_dir, fault))


def _locked_build(lock: BuildLock, data_dir: Path, given: Path, build_dir: Path, t0: float, *,
                  root: Path, jobs: int | None, force: bool,
                  overrides: Mapping[str, Any] | None, notebooks: Iterable[str] | None,
                  label: str, csv_dialect: str) -> BuildResult:
    html = build_dir / "html"
    _recover(html)
    for old in sorted((build_dir / "cache").glob("*.old")):
        _recover(old.with_suffix(""))

    stages = STAGES if notebooks is None else (tuple(notebooks),)
    names = [n for stage in stages for n in stage]
    results: list[NotebookResult] = []
    keys: dict[str, str] = {}
    failed: list[NotebookResult] = []
    for i, stage in enumerate(stages):
        processes.checkpoint()
        _check(lock, build_dir)
        later = dict(overrides or {})
        if i > 0:  # relative to the kernel's working directory <build>/work/<name>
            later["notebooks_dir"] = os.path.join("..", "..", "cache")
        res, k = run_notebooks(stage, data_dir, build_dir, root=root, overrides=later,
                               jobs=jobs, force=force, upstream=keys if i > 0 else None,
                               label=label, csv_dialect=csv_dialect)
        results += res
        keys.update(k)
        failed = [r for r in results if r.status == "failed"]
        if failed:
            break
    if failed:
        code = next((r.errno for r in failed if r.errno is not None), None)
        fault = lock.fault(code, confirm=True)
        if fault is not None:
            raise FolderFault(fault, _kept(build_dir, fault))
        msg = "\n\n".join(f"notebook {r.name!r} failed.\n{r.error}" for r in failed)
        raise BuildError(f"{msg}\n\nThe book was not rebuilt; {_kept(build_dir)}.")

    # the repository links are filled in at book-build time from these (analysis_lib.book.sphinxext)
    link_env = {k: os.environ.get(k, "") for k in ("CARTBOOK_REPOSITORY_URL",
                                                   "CARTBOOK_REPOSITORY_REF")}
    book_key = _sha([("notebooks", json.dumps(keys, sort_keys=True).encode()),
                     ("links", json.dumps(link_env, sort_keys=True).encode())]
                    + [(str(p.relative_to(root)), p.read_bytes()) for p in _book_sources(root)])
    stamp = html / ".cartbook-key"
    if not force and stamp.is_file() and stamp.read_text() == book_key and (html / "index.html").is_file():
        _log("book unchanged; nothing to rebuild")
        return BuildResult(html / "index.html", results, False, time.perf_counter() - t0)

    processes.checkpoint()
    _check(lock, build_dir)
    stage = build_dir / "stage"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    src = stage / "src"
    for p in _book_sources(root):
        dst = src / p.relative_to(root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst)
    for name in names:
        shutil.copytree(build_dir / "cache" / name, src / GENERATED, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".key"))
    _stage_mathjax(src)
    processes.checkpoint()
    _log("building the book (jupyter-book build --all -W -n --keep-going)")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", "--all", "-W", "-n", "--keep-going", str(src)]
    # its own session (Ctrl-C is the build's to handle), killed with the build, and holding
    # the lock file open so that the folder stays locked until it has ended
    proc = processes.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           cwd=src, pass_fds=() if lock.fd is None else (lock.fd,))
    try:
        stdout, stderr = proc.communicate()
    finally:
        if proc.returncode is None:
            processes.kill([processes.Proc(proc.pid)])
            proc.wait()
    if proc.returncode != 0 or not (src / "_build" / "html" / "index.html").is_file():
        out = _ANSI.sub("", stdout + stderr)
        fault = lock.fault(_errno_of(out), confirm=True)
        if fault is not None:
            raise FolderFault(fault, _kept(build_dir, fault))
        problems = [ln for ln in out.splitlines() if "WARNING" in ln or "ERROR" in ln]
        detail = "\n".join(problems) if problems else out[-4000:]
        raise BuildError(f"jupyter-book failed (exit {proc.returncode}):\n{detail}\n\n"
                         f"{_kept(build_dir).capitalize()}.")
    _check(lock, build_dir)
    built = src / "_build" / "html"
    leaks = find_private(built, private_paths(given, build_dir, root))
    if leaks:
        raise BuildError("the book would publish paths of this machine; nothing was published "
                         f"and {_kept(build_dir)}:\n  " + "\n  ".join(leaks[:20]))
    (built / ".cartbook-key").write_text(book_key)
    processes.checkpoint()
    _check(lock, build_dir)
    try:
        with processes.critical():  # the one step that publishes: whole, or not at all
            _replace_dir(built, html)
        shutil.rmtree(stage, ignore_errors=True)  # with it, the previous book
    except processes.Interrupted as exc:  # raised only once the new book is in place
        exc.published = True
        raise
    return BuildResult(html / "index.html", results, True, time.perf_counter() - t0)
