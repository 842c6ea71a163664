"""Running simulation studies: batches of replicates as Dask tasks, results in partitioned
Parquet written atomically, interrupted runs resumed.

A *study* is one scenario at one cohort size (:class:`StudySpec`). Its replicates are cut
into batches of ``batch_size`` consecutive replicates; one batch is one task, and one task's
results are one Parquet file ("partition"):

``<out>/replicates/scenario=<name>/n=<n>/part-<first>-<last>.parquet``

next to the study's manifest ``study.json``; the true values of the estimands are in
``<out>/truth/scenario=<name>.parquet`` (:mod:`analysis_lib.simulation.truth`). The layout is
Hive-style, so ``pyarrow.dataset.dataset(<out>/replicates, partitioning="hive")`` reads every
study at once with ``scenario`` and ``n`` as columns.

Guarantees
----------
* **Bit-identical results** whatever the number of workers and the order tasks finish:
  replicate ``i`` depends only on ``(scenario, n, seed, i)`` (:mod:`.scenarios`), every task
  limits BLAS to one thread (so floating-point reductions do not depend on the machine's
  load), and a partition's bytes depend only on its replicates (no time stamps). This holds
  on one software stack (:func:`study_fingerprint` records the versions) and one kind of CPU.
* **Atomic partitions**: a partition is written to a temporary file in its directory and
  renamed into place, so it is either complete or absent; a run that is killed leaves
  complete partitions and, at worst, a temporary file that the next run deletes.
* **Resumption**: a run computes only the partitions that are missing (or that a change of
  ``--replicates`` or ``--batch-size`` made obsolete, which it then deletes). Partitions
  and manifest carry the study's fingerprint; results of another study (other seed,
  scenario definition, code or versions) in the same directory are an error, not a mix.

Batch size
----------
Scheduling costs the Dask scheduler a few milliseconds per task (``benchmarks/bench_simulate.py``
measures it); a replicate costs between about a tenth of a second (Table 3 alone, n = 50)
and several seconds (the whole plan, n = 500). The default (:func:`default_batch_size`)
aims at tasks of tens of seconds (scheduling well under 0.1 % of the work, a few files per
study) while keeping many tasks per worker for balance: ``2000 // n`` replicates, between 1
and 50. It depends on ``n`` only, never on the number of workers, so every cluster writes the
same partitions.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .plan import RESULT_COLUMNS, PlanOptions, run_plan
from .scenarios import DEFAULT_STUDY_SEED, CountsMode, replicate_cohort, scenario
from .truth import TRUTH_N, TRUTH_SEED, compute_truth

__all__ = ["StudySpec", "StudyMismatch", "default_batch_size", "study_fingerprint",
           "run_batch", "run_studies", "load_results", "load_truth", "study_status",
           "RESULT_SCHEMA", "PLAN_VERSION", "RunReport"]

#: Version of the per-replicate record (bump when the plan or its rows change).
PLAN_VERSION: int = 1

#: Arrow schema of a partition.
RESULT_SCHEMA: pa.Schema = pa.schema([(c, pa.bool_() if t == "bool" else getattr(pa, t)())
                                      for c, t in RESULT_COLUMNS.items()])

_SYNTHETIC_NOTE = ("SYNTHETIC simulation results: replicates drawn from the calibrated "
                   "generator of analysis_lib.synthetic (not real patients)")
_PART = re.compile(r"^part-(\d{7})-(\d{7})\.parquet$")
#: Layers whose code computes a replicate (their source is part of the fingerprint).
_COMPUTING = ("core", "data", "stats", "analyses", "synthetic")
_COMPUTING_FILES = ("__init__.py", "scenarios.py", "plan.py", "truth.py", "engine.py")


class StudyMismatch(Exception):
    """The output directory holds results of another study (nothing was changed)."""


def default_batch_size(n: int) -> int:
    """Replicates per task for cohorts of ``n`` patients: ``2000 // n``, between 1 and 50."""
    return int(min(50, max(1, 2000 // max(int(n), 1))))


@dataclass(frozen=True)
class StudySpec:
    """One study: ``replicates`` trials of ``n`` patients under ``scenario``, replicate seeds
    spawned from ``seed``, counts ``"random"`` (default) or ``"exact"``
    (:mod:`.scenarios`), run in batches of ``batch_size`` (default
    :func:`default_batch_size`)."""
    scenario: str
    n: int
    replicates: int
    batch_size: int = 0
    seed: int = DEFAULT_STUDY_SEED
    counts: CountsMode = "random"
    options: PlanOptions = field(default_factory=PlanOptions)

    def __post_init__(self) -> None:
        scenario(self.scenario)  # a clear error for an unknown name
        if self.n < 2:
            raise ValueError("n must be at least 2 patients")
        if self.replicates < 1:
            raise ValueError("replicates must be at least 1")
        if self.batch_size < 0:
            raise ValueError("batch_size must be positive")
        if self.batch_size == 0:
            object.__setattr__(self, "batch_size", default_batch_size(self.n))
        if self.counts not in ("random", "exact"):
            raise ValueError("counts must be 'random' or 'exact'")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")

    @property
    def batches(self) -> list[tuple[int, int]]:
        """(first, last) replicate of every batch, last inclusive."""
        b = self.batch_size
        return [(s, min(s + b, self.replicates) - 1) for s in range(0, self.replicates, b)]

    def directory(self, out: Path) -> Path:
        return Path(out) / "replicates" / f"scenario={self.scenario}" / f"n={self.n}"

    @staticmethod
    def part_name(first: int, last: int) -> str:
        return f"part-{first:07d}-{last:07d}.parquet"

    def describe(self) -> str:
        return (f"{self.scenario}, n = {self.n}: {self.replicates} replicates in "
                f"{len(self.batches)} batches of {self.batch_size}")


def _code_hash() -> str:
    root = Path(__file__).resolve().parent.parent
    files = sorted(p for layer in _COMPUTING for p in (root / layer).rglob("*.py"))
    files += [root / "simulation" / f for f in _COMPUTING_FILES]
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("numpy", "scipy", "pandas", "statsmodels", "firthmodels", "pyarrow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = "missing"
    return out


def study_fingerprint(spec: StudySpec) -> str:
    """What a replicate's results depend on, hashed: the scenario's definition, ``n``, the
    seed, the counts mode, the plan's options and version, the computing code and the
    versions of the numerical libraries. Not the number of replicates or the batch size
    (a study can be extended or re-batched without recomputing what it has)."""
    scen = scenario(spec.scenario)
    payload = {"scenario": scen.name, "changes": dict(scen.changes),
               "components": list(scen.components), "n": spec.n, "seed": spec.seed,
               "counts": spec.counts, "options": asdict(spec.options),
               "plan_version": PLAN_VERSION, "code": _code_hash(), "versions": _versions()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _truth_fingerprint(name: str) -> str:
    scen = scenario(name)
    payload = {"scenario": scen.name, "changes": dict(scen.changes),
               "components": list(scen.components), "truth_n": TRUTH_N,
               "truth_seed": TRUTH_SEED, "options": asdict(PlanOptions()),
               "plan_version": PLAN_VERSION, "code": _code_hash(), "versions": _versions()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# The task: one batch of replicates
# --------------------------------------------------------------------------------------------

def run_batch(spec: StudySpec, first: int, last: int) -> pa.Table:
    """Replicates ``first`` to ``last`` (inclusive) of ``spec``: each cohort drawn
    (:func:`.scenarios.replicate_cohort`) and analysed (:func:`.plan.run_plan`), BLAS limited
    to one thread. Returns the rows as an Arrow table with :data:`RESULT_SCHEMA`."""
    from threadpoolctl import threadpool_limits

    scen = scenario(spec.scenario)
    parts = []
    with threadpool_limits(limits=1):
        for i in range(first, last + 1):
            cohort = replicate_cohort(scen, spec.n, spec.seed, i, spec.counts)
            rows = run_plan(cohort, scen.components, spec.options)
            rows.insert(0, "replicate", pd.array(np.full(len(rows), i), dtype="Int32"))
            parts.append(rows)
    frame = pd.concat(parts, ignore_index=True)
    return pa.Table.from_pandas(frame, schema=RESULT_SCHEMA, preserve_index=False)


def run_truth(name: str) -> pa.Table:
    """The truth table of scenario ``name`` (:func:`.truth.compute_truth`), BLAS limited to one
    thread, as an Arrow table."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        frame = compute_truth(name)
    return pa.Table.from_pandas(frame, preserve_index=False)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

def _atomic_parquet(table: pa.Table, path: Path, metadata: dict[str, str]) -> Path:
    """Write ``table`` to ``path`` through a temporary file in the same directory and a
    rename: the file is complete or absent. Deterministic bytes (no time stamps)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {**(table.schema.metadata or {}),
            **{k.encode(): v.encode() for k, v in metadata.items()}}
    meta.pop(b"pandas", None)  # pandas' block holds versions and index details: not needed
    table = table.replace_schema_metadata(meta)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp, compression="zstd", write_statistics=True)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _atomic_json(obj: Any, path: Path) -> None:
    from ..data.io import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def _file_fingerprint(path: Path) -> str:
    meta = pq.read_schema(path).metadata or {}
    return meta.get(b"study", b"").decode()


@dataclass
class StudyStatus:
    """What a study's directory holds: partitions ``done`` and ``todo`` ((first, last)
    pairs), ``stale`` files (partitions of another batching, temporary files)."""
    spec: StudySpec
    fingerprint: str
    done: list[tuple[int, int]]
    todo: list[tuple[int, int]]
    stale: list[Path]


def study_status(spec: StudySpec, out: Path, fingerprint: str | None = None) -> StudyStatus:
    """Which partitions of ``spec`` exist in ``out`` and which are still to compute.

    Raises :class:`StudyMismatch` when the directory's manifest or a partition belongs to
    another study (nothing is changed)."""
    fp = fingerprint or study_fingerprint(spec)
    d = spec.directory(out)
    manifest = d / "study.json"
    if manifest.is_file():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        if old.get("fingerprint") != fp:
            raise StudyMismatch(
                f"{d} holds results of another study ({_difference(old, spec)}); use another "
                "--out, or delete that directory to start again")
    planned = set(spec.batches)
    done, stale = [], []
    for p in sorted(d.glob("*")) if d.is_dir() else []:
        m = _PART.match(p.name)
        if p.name == "study.json":
            continue
        if not m:
            if p.name.startswith(".part-"):
                stale.append(p)  # a temporary file of an interrupted write
            continue
        rng = (int(m.group(1)), int(m.group(2)))
        if _file_fingerprint(p) != fp:
            raise StudyMismatch(f"{p} was computed for another study; use another --out, or "
                                "delete that directory to start again")
        if rng in planned:
            done.append(rng)
        else:
            stale.append(p)  # a partition of another batching: recomputed in this one
    todo = [b for b in spec.batches if b not in set(done)]
    return StudyStatus(spec, fp, sorted(done), todo, stale)


def _difference(old: dict, spec: StudySpec) -> str:
    diffs = []
    for key in ("scenario", "n", "seed", "counts"):
        if key in old.get("spec", {}) and old["spec"][key] != getattr(spec, key):
            diffs.append(f"{key} {old['spec'][key]} instead of {getattr(spec, key)}")
    return "; ".join(diffs) or "other code, library versions or scenario definition"


def _manifest(spec: StudySpec, fp: str) -> dict[str, Any]:
    scen = scenario(spec.scenario)
    return {"synthetic": True, "description": _SYNTHETIC_NOTE, "fingerprint": fp,
            "spec": {"scenario": spec.scenario, "n": spec.n, "replicates": spec.replicates,
                     "batch_size": spec.batch_size, "seed": spec.seed, "counts": spec.counts},
            "scenario": {"title": scen.title, "changes": dict(scen.changes),
                         "components": list(scen.components)},
            "options": asdict(spec.options), "plan_version": PLAN_VERSION,
            "versions": _versions(),
            "command": (f"cartbook simulate --scenario {spec.scenario} --n {spec.n} "
                        f"--replicates {spec.replicates} --batch-size {spec.batch_size} "
                        f"--seed {spec.seed} --counts {spec.counts}")}


def _truth_path(out: Path, name: str) -> Path:
    return Path(out) / "truth" / f"scenario={name}.parquet"


def truth_present(out: Path, name: str) -> bool:
    """Whether ``out`` holds the truth of scenario ``name`` for the current code."""
    p = _truth_path(out, name)
    return p.is_file() and _file_fingerprint(p) == _truth_fingerprint(name)


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------

@dataclass
class RunReport:
    """What a run did, per study: partitions ``computed`` and ``reused`` (already present),
    the paths written, and the truths computed."""
    computed: dict[tuple[str, int], list[tuple[int, int]]] = field(default_factory=dict)
    reused: dict[tuple[str, int], list[tuple[int, int]]] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    truths: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = []
        for key in sorted(set(self.computed) | set(self.reused)):
            c, r = len(self.computed.get(key, [])), len(self.reused.get(key, []))
            lines.append(f"{key[0]}, n = {key[1]}: {c} partition(s) computed, {r} reused")
        if self.truths:
            lines.append("truth computed for: " + ", ".join(self.truths))
        return "\n".join(lines)


def run_studies(specs: Sequence[StudySpec], out: Path, *, scheduler: str | None = None,
                workers: int | None = None, serial: bool = False, truth: bool = True,
                progress: bool | None = None, client: Any = None,
                log: Callable[[str], None] = lambda m: None) -> RunReport:
    """Run ``specs`` into ``out``: every missing partition (and, with ``truth``, every missing
    truth table of their scenarios) as a task on Dask; see the module docstring.

    Where: ``client`` (an existing :class:`distributed.Client`), else the cluster at
    ``scheduler``, else a local cluster of ``workers`` processes
    (:func:`.cluster.dask_client`); ``serial`` runs the tasks one after the other in this
    process instead (no Dask; same results). Partitions are written here, as tasks finish.
    Raises :class:`StudyMismatch` before any work when ``out`` holds another study's results.
    """
    out = Path(out)
    keys = [(s.scenario, s.n) for s in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("each (scenario, n) may appear once in a run")
    statuses = [study_status(s, out) for s in specs]  # all checked before anything is written
    report = RunReport()
    tasks: list[tuple[Any, ...]] = []
    meta: list[tuple[str, Any]] = []
    for st in statuses:
        key = (st.spec.scenario, st.spec.n)
        report.reused[key] = list(st.done)
        report.computed[key] = []
        for p in st.stale:
            if isinstance(p, Path):
                p.unlink(missing_ok=True)
        _atomic_json(_manifest(st.spec, st.fingerprint), st.spec.directory(out) / "study.json")
        for first, last in st.todo:
            tasks.append((st.spec, first, last))
            meta.append(("batch", (st, first, last)))
        log(f"{st.spec.describe()}: {len(st.done)} partition(s) present, {len(st.todo)} to "
            "compute")
    if truth:
        for tmp in (out / "truth").glob(".scenario=*"):
            tmp.unlink(missing_ok=True)  # temporary files of an interrupted write
        for name in dict.fromkeys(s.scenario for s in specs):
            if not truth_present(out, name):
                tasks.append((name,))
                meta.append(("truth", name))
                log(f"truth of {name}: to compute ({TRUTH_N:,} patients)")
    weights = [t[2] - t[1] + 1 if kind == "batch" else 1 for (kind, _), t in zip(meta, tasks)]

    def handle(i: int, table: pa.Table) -> None:
        kind, what = meta[i]
        if kind == "batch":
            st, first, last = what
            path = st.spec.directory(out) / st.spec.part_name(first, last)
            _atomic_parquet(table, path, {
                "synthetic": "true", "description": _SYNTHETIC_NOTE, "study": st.fingerprint,
                "scenario": st.spec.scenario, "n": str(st.spec.n), "seed": str(st.spec.seed),
                "first": str(first), "last": str(last), "plan_version": str(PLAN_VERSION)})
            report.computed[(st.spec.scenario, st.spec.n)].append((first, last))
        else:
            path = _truth_path(out, what)
            _atomic_parquet(table, path, {"synthetic": "true", "description": _SYNTHETIC_NOTE,
                                          "study": _truth_fingerprint(what),
                                          "scenario": what, "truth_n": str(TRUTH_N),
                                          "truth_seed": str(TRUTH_SEED)})
            report.truths.append(what)
        report.written.append(path)

    if not tasks:
        return report
    if serial:
        from .cluster import progress_bar

        bar = progress_bar(sum(weights), "replicate", "simulate", progress)
        try:
            for i, args in enumerate(tasks):
                handle(i, _task(*args))
                bar.update(weights[i])
        finally:
            bar.close()
        return report
    from .cluster import dask_client, map_tasks

    names = [f"truth-{t[0]}" if len(t) == 1 else
             f"batch-{t[0].scenario}-n{t[0].n}-{t[1]}-{t[2]}" for t in tasks]
    if client is not None:
        map_tasks(client, _task, tasks, handle, weights=weights, unit="replicate",
                  desc="simulate", progress=progress, keys=names)
    else:
        with dask_client(scheduler, workers) as c:
            map_tasks(c, _task, tasks, handle, weights=weights, unit="replicate",
                      desc="simulate", progress=progress, keys=names)
    return report


def _task(*args: Any) -> pa.Table:
    """A task of :func:`run_studies`: a truth table (one argument, the scenario) or a batch."""
    return run_truth(*args) if len(args) == 1 else run_batch(*args)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def _studies(out: Path) -> list[tuple[Path, dict]]:
    base = Path(out) / "replicates"
    found = []
    for m in sorted(base.glob("scenario=*/n=*/study.json")):
        found.append((m.parent, json.loads(m.read_text(encoding="utf-8"))))
    return found


def load_results(out: Path, scenarios: Iterable[str] | None = None,
                 sizes: Iterable[int] | None = None, *, complete_only: bool = True
                 ) -> pd.DataFrame:
    """Every replicate's rows in ``out`` (the studies' planned partitions, in replicate
    order), with ``scenario`` and ``n`` columns first. With ``complete_only`` a study with
    missing partitions is left out (its rates would describe a partial, possibly ordered
    subset)."""
    want_s = set(scenarios) if scenarios is not None else None
    want_n = set(int(x) for x in sizes) if sizes is not None else None
    frames = []
    for d, manifest in _studies(out):
        sp = manifest["spec"]
        if (want_s is not None and sp["scenario"] not in want_s) or \
                (want_n is not None and int(sp["n"]) not in want_n):
            continue
        spec = StudySpec(sp["scenario"], int(sp["n"]), int(sp["replicates"]),
                         int(sp["batch_size"]), int(sp["seed"]), sp["counts"])
        files = [d / spec.part_name(a, b) for a, b in spec.batches]
        present = [f for f in files if f.is_file()]
        if complete_only and len(present) < len(files):
            continue
        for f in present:
            t = pq.read_table(f).to_pandas(types_mapper=_types_mapper)
            t.insert(0, "n", int(sp["n"]))
            t.insert(0, "scenario", sp["scenario"])
            frames.append(t)
    if not frames:
        return pd.DataFrame(columns=["scenario", "n", *RESULT_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def _types_mapper(t: pa.DataType) -> Any:
    if pa.types.is_string(t):
        return pd.StringDtype()
    if pa.types.is_boolean(t):
        return pd.BooleanDtype()
    if pa.types.is_int32(t):
        return pd.Int32Dtype()
    return None


def load_truth(out: Path) -> pd.DataFrame:
    """Every truth table in ``out`` (one frame, a ``scenario`` column)."""
    files = sorted((Path(out) / "truth").glob("scenario=*.parquet"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def studies_table(out: Path) -> pd.DataFrame:
    """One row per study in ``out``: scenario, n, replicates planned and present, batch size,
    seed, counts mode."""
    rows = []
    for d, manifest in _studies(out):
        sp = manifest["spec"]
        spec = StudySpec(sp["scenario"], int(sp["n"]), int(sp["replicates"]),
                         int(sp["batch_size"]), int(sp["seed"]), sp["counts"])
        present = sum(b - a + 1 for a, b in spec.batches
                      if (d / spec.part_name(a, b)).is_file())
        rows.append({"scenario": spec.scenario, "n": spec.n, "replicates": spec.replicates,
                     "present": present, "batch_size": spec.batch_size, "seed": spec.seed,
                     "counts": spec.counts})
    return pd.DataFrame(rows, columns=["scenario", "n", "replicates", "present", "batch_size",
                                       "seed", "counts"])


def total_batches(specs: Iterable[StudySpec]) -> int:
    return sum(math.ceil(s.replicates / s.batch_size) for s in specs)
