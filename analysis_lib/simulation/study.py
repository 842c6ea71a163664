"""Where the book's simulation chapter gets its results: the full study stored in the
project's results folder when it is there, else a modest study run on the spot.

* **Full study**: ``cartbook simulate ... --out data/simulation`` writes the partitions, the
  truths and the summary tables (``data/simulation/summary/*.csv``); the repository keeps
  the summary and the truths (the partitions are large and can be regenerated). When the
  summary is present, the chapter shows it and says so.
* **Quick study**: otherwise the chapter runs :data:`QUICK_SCENARIOS` with a few replicates
  at n = 50 in its own process (the same code, tasks run one after the other; results are
  identical to a distributed run of the same replicates), using the stored truths when
  present and else a smaller truth population (:data:`QUICK_TRUTH_N`), and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd
import pyarrow.parquet as pq

from ..core.paths import ROOT
from .scenarios import DEFAULT_STUDY_SEED, SCENARIOS
from .summary import Summary, load_summary, summarise

__all__ = ["RESULTS_DIR", "QUICK_SCENARIOS", "QUICK_TRUTH_N", "StudySource", "load_or_run",
           "FULL_STUDY", "commands"]

#: The project's results folder (relative to the repository root).
RESULTS_DIR: Path = Path("data") / "simulation"
#: Scenarios of the quick study (all of them).
QUICK_SCENARIOS: tuple[str, ...] = tuple(SCENARIOS)
#: Population size of a truth computed for the quick study when none is stored.
QUICK_TRUTH_N: int = 20_000

#: The full study the repository's results come from: (patients per trial, trials,
#: scenarios), one ``cartbook simulate`` command each (:func:`commands`).
FULL_STUDY: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (50, 2000, tuple(SCENARIOS)),
    (100, 1000, tuple(SCENARIOS)),
    (200, 1000, ("calibrated", "null_steroids", "null_expansion")),
    (200, 500, ("null_female", "null_bca")),
    (500, 500, tuple(SCENARIOS)),
)


def commands(studies: pd.DataFrame | None = None, out: str = RESULTS_DIR.as_posix()
             ) -> list[str]:
    """The ``cartbook simulate`` commands that produce ``studies`` (a studies table: one row
    per scenario and size with its replicates; default :data:`FULL_STUDY`), one per size and
    number of replicates."""
    if studies is None:
        rows = [(n, r, s) for n, r, scen in FULL_STUDY for s in scen]
    else:
        rows = [(int(x.n), int(x.replicates), str(x.scenario)) for x in studies.itertuples()]
    groups: dict[tuple[int, int], list[str]] = {}
    for n, r, s in rows:
        groups.setdefault((n, r), []).append(s)
    out_cmds = []
    for (n, r), scen in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        names = " ".join(f"--scenario {s}" for s in sorted(scen, key=list(SCENARIOS).index))
        out_cmds.append(f"cartbook simulate --replicates {r} --n {n} {names} --out {out}")
    return out_cmds


@dataclass
class StudySource:
    """The chapter's results: ``summary``, ``mode`` (``"full"`` or ``"quick"``), the
    ``truth_n`` of its truths and whether they were ``truth_stored``."""
    summary: Summary
    mode: str
    truth_n: int
    truth_stored: bool

    @property
    def full(self) -> bool:
        return self.mode == "full"


def _stored_truth(results_dir: Path, names: Sequence[str]) -> pd.DataFrame | None:
    files = [Path(results_dir) / "truth" / f"scenario={s}.parquet" for s in names]
    if not all(f.is_file() for f in files):
        return None
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def load_or_run(results_dir: Path | str | None = None, *, quick_replicates: int = 25,
                quick_sizes: Sequence[int] = (50,),
                quick_scenarios: Sequence[str] = QUICK_SCENARIOS,
                seed: int = DEFAULT_STUDY_SEED) -> StudySource:
    """The full study's summary from ``results_dir`` (default :data:`RESULTS_DIR` under the
    repository root) when present, else a quick study of ``quick_replicates`` replicates
    per scenario in ``quick_scenarios`` and size in ``quick_sizes``."""
    from threadpoolctl import threadpool_limits

    from .engine import StudySpec, run_batch
    from .truth import TRUTH_N, compute_truth

    d = Path(results_dir) if results_dir else ROOT / RESULTS_DIR
    full = load_summary(d)
    if full is not None:
        return StudySource(full, "full", TRUTH_N, True)
    truth = _stored_truth(d, quick_scenarios)
    stored = truth is not None
    if truth is None:
        with threadpool_limits(limits=1):
            truth = pd.concat([compute_truth(s, QUICK_TRUTH_N) for s in quick_scenarios],
                              ignore_index=True)
    parts, studies = [], []
    for name in quick_scenarios:
        for n in quick_sizes:
            spec = StudySpec(name, int(n), int(quick_replicates), int(quick_replicates), seed)
            t = run_batch(spec, 0, spec.replicates - 1).to_pandas()
            t.insert(0, "n", int(n))
            t.insert(0, "scenario", name)
            parts.append(t)
            studies.append({"scenario": name, "n": int(n), "replicates": spec.replicates,
                            "batch_size": spec.batch_size, "seed": seed, "counts": spec.counts})
    results = pd.concat(parts, ignore_index=True)
    for col in ("term", "coef", "analysis", "note"):
        results[col] = results[col].astype("string")
    summary = summarise(results, truth, pd.DataFrame(studies))
    return StudySource(summary, "quick", TRUTH_N if stored else QUICK_TRUTH_N, stored)
