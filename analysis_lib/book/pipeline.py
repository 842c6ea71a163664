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
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..core.paths import ROOT as REPO_ROOT
from ..data.schema import TABLES

#: Repository root (the directory holding ``_config.yml``).
ROOT = REPO_ROOT
#: Notebooks in stages. The notebooks of a stage are independent of one another and run in
#: parallel; a later stage reads the executed notebooks of the earlier ones (their glued
#: values), receives their directory as the parameter ``notebooks_dir``, and is re-executed
#: whenever any of them changes.
STAGES: tuple[tuple[str, ...], ...] = (
    ("cohort", "kinetics", "survival", "toxicity", "data_dictionary", "synthetic_data",
     "own_data", "simulation"),
    ("scorecard", "index"),
)
#: Every notebook of the book, in build order.
NOTEBOOKS: tuple[str, ...] = tuple(n for stage in STAGES for n in stage)
#: Where executed notebooks sit inside the book sources.
GENERATED = Path("book") / "_generated"

#: Default analysis parameters, passed to every notebook that declares them.
DEFAULT_PARAMETERS: dict[str, Any] = {
    "age_cut_years": 10.0,
    "mrd_cuts": [1e-4, 1e-3, 1e-2],
    "mrd_negative_below": 1e-4,
    "conf_level": 0.95,
    "min_cell_count": 0,
}

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


def notebook_key(source: Path, params: Mapping[str, Any], data_dir: Path, code: str) -> str:
    """Cache key of one notebook: source, parameters, data bytes and code fingerprint."""
    items = [("source", source.read_bytes()),
             ("params", json.dumps(params, sort_keys=True, default=str).encode()),
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
    """The parameters passed to notebook ``name``: those its parameters cell declares.

    With ``by_reference`` (as the build runs every notebook: :func:`run_notebooks`),
    ``data_dir`` is the reference :data:`~analysis_lib.data.validation.DATA_DIR_REF`, never a path:
    the kernel finds the directory in its environment (:func:`kernel_environment`). Without
    it, the absolute path (for executing one notebook by hand, nothing published).
    """
    from ..data.validation import DATA_DIR_REF

    where = DATA_DIR_REF if by_reference else str(Path(data_dir).resolve())
    values = {**DEFAULT_PARAMETERS, **(overrides or {}),
              "data_dir": where, "output_dir": f"outputs/{name}", "chapter": name}
    declared = declared_parameters(source)
    return {k: values[k] for k in declared if k in values}


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
                     paths: Mapping[str, str] | None = None) -> NotebookResult:
    """Execute ``source`` (py:percent) with papermill in ``work_dir``.

    Writes ``work_dir/<name>.ipynb`` and whatever the notebook writes under ``work_dir``.
    ``env`` is added to the kernel's environment (:func:`kernel_environment`); ``paths`` are
    scrubbed from the executed notebook (:func:`clean_executed`).
    Returns a failed result carrying the failing cell's traceback instead of raising.
    """
    import jupytext
    import nbformat
    import papermill as pm

    t0 = time.perf_counter()
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
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
                            # the kernel's own start-up chatter is not the reader's concern;
                            # its errors still reach the cell outputs and this log
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except pm.PapermillExecutionError:
        executed = nbformat.read(out_ipynb, as_version=4)
        return NotebookResult(name, "failed", time.perf_counter() - t0, _format_failure(executed))
    except Exception as exc:  # kernel death, missing kernel, bad notebook
        return NotebookResult(name, "failed", time.perf_counter() - t0,
                              f"{type(exc).__name__}: {exc}")
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
    return execute_notebook(name, Path(source), params, Path(work), env=env, paths=paths)


# --------------------------------------------------------------------------------------------
# The whole build
# --------------------------------------------------------------------------------------------

def _replace_dir(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` by renames, so ``dst`` is never half-written."""
    old = dst.with_name(dst.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    if old.exists():
        shutil.rmtree(old)


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
    for name in names:
        source = root / "notebooks" / f"{name}.py"
        params = notebook_parameters(name, source, data_dir, overrides, by_reference=True)
        keys[name] = notebook_key(source, params, data_dir,
                                  code + json.dumps(dict(upstream or {}), sort_keys=True)
                                  + json.dumps([label, csv_dialect]))
        entry = cache / name
        if not force and (entry / ".key").is_file() and (entry / ".key").read_text() == keys[name]:
            results[name] = NotebookResult(name, "cached")
            continue
        todo.append((name, str(source), params, str(build_dir / "work" / name), env, paths))
    if todo:
        workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
        _log(f"executing {len(todo)} notebook(s), {workers} at a time: "
             + ", ".join(t[0] for t in todo))
        if workers == 1:
            done = [executor(t) for t in todo]
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                done = list(pool.map(executor, todo))
        for res in done:
            results[res.name] = res
            if res.status == "executed":
                (build_dir / "work" / res.name / ".key").write_text(keys[res.name])
                cache.mkdir(parents=True, exist_ok=True)
                _replace_dir(build_dir / "work" / res.name, cache / res.name)
            _log(f"  {res.name}: {res.status} in {res.seconds:.1f} s")
    ordered = [results[n] for n in keys]
    for r in ordered:
        if r.status == "cached":
            _log(f"  {r.name}: unchanged, taken from cache")
    return ordered, keys


def build_book(data_dir: Path | str, build_dir: Path | str | None = None, *,
               root: Path = ROOT, jobs: int | None = None, force: bool = False,
               overrides: Mapping[str, Any] | None = None,
               notebooks: Iterable[str] | None = None, label: str | None = None,
               csv_dialect: str = "auto") -> BuildResult:
    """Validate, execute and build; returns the path of the published ``index.html``.

    ``notebooks`` (default: the :data:`STAGES` of the book) runs the given notebooks as a
    single stage instead. ``label`` is how the book names the data (default: the data folder's
    own name; never a path); ``csv_dialect`` as in :func:`analysis_lib.data.validation.validate_dir`.

    Raises :class:`InvalidDataError` (nothing written) or :class:`BuildError` (the previous
    book left in place).
    """
    from ..data.validation import default_label, validate_dir

    t0 = time.perf_counter()
    given = Path(data_dir).absolute()
    data_dir = Path(data_dir).resolve()
    label = label or default_label(given)
    build_dir = Path(build_dir).resolve() if build_dir else root / "_build"
    _log(f"validating {data_dir}")
    report = validate_dir(data_dir, csv_dialect=csv_dialect, label=label)
    if not report.ok:
        raise InvalidDataError(report)
    n_pat = len(report.tables["patients"])
    n_smp = len(report.tables["kinetics"])
    _log(f"  ok: {n_pat} patients, {n_smp} CAR-T samples"
         + (" (synthetic)" if report.synthetic else ""))

    stages = STAGES if notebooks is None else (tuple(notebooks),)
    names = [n for stage in stages for n in stage]
    results: list[NotebookResult] = []
    keys: dict[str, str] = {}
    failed: list[NotebookResult] = []
    for i, stage in enumerate(stages):
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
        msg = "\n\n".join(f"notebook {r.name!r} failed.\n{r.error}" for r in failed)
        raise BuildError(msg + "\n\nThe book was not rebuilt; the previous build is unchanged.")

    html = build_dir / "html"
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

    stage = build_dir / "stage"
    if stage.exists():
        shutil.rmtree(stage)
    src = stage / "src"
    for p in _book_sources(root):
        dst = src / p.relative_to(root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst)
    for name in names:
        shutil.copytree(build_dir / "cache" / name, src / GENERATED, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".key"))
    _stage_mathjax(src)
    _log("building the book (jupyter-book build --all -W -n --keep-going)")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", "--all", "-W", "-n", "--keep-going", str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=src)
    if proc.returncode != 0 or not (src / "_build" / "html" / "index.html").is_file():
        out = _ANSI.sub("", proc.stdout + proc.stderr)
        problems = [ln for ln in out.splitlines() if "WARNING" in ln or "ERROR" in ln]
        detail = "\n".join(problems) if problems else out[-4000:]
        raise BuildError(f"jupyter-book failed (exit {proc.returncode}):\n{detail}\n\n"
                         "The previous build is unchanged.")
    built = src / "_build" / "html"
    leaks = find_private(built, private_paths(given, build_dir, root))
    if leaks:
        raise BuildError("the book would publish paths of this machine; nothing was published "
                         "and the previous build is unchanged:\n  " + "\n  ".join(leaks[:20]))
    (built / ".cartbook-key").write_text(book_key)
    _replace_dir(built, html)
    shutil.rmtree(stage, ignore_errors=True)
    return BuildResult(html / "index.html", results, True, time.perf_counter() - t0)
