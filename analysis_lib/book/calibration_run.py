"""The calibration's stage 3: candidate synthetic cohorts scored by the book's own scorecard, by
executing the result chapters on each as the book does
(:mod:`analysis_lib.synthetic.calibration` holds stages 1–2 and the record).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from ..synthetic.calibration import (
    N_PUBLISHED,
    SCORECARD_CHAPTERS,
    SHIPPED_CARD_COLUMNS,
    targets_met,
)


def cohort_scorecard(patients_dir: Path, build_dir: Path, *, jobs: int | None = None,
                     root: Path | None = None) -> pd.DataFrame:
    """Execute the result chapters on the cohort in ``patients_dir`` (as the book does, with
    the book's default parameters) and return its scorecard, claims included."""
    from ..paper import scorecard as sc
    from ..paper.registry import load_registry
    from . import report
    from .pipeline import ROOT, run_notebooks

    for attempt in range(2):  # a kernel that dies at start-up under load gets one retry
        res, _ = run_notebooks(SCORECARD_CHAPTERS, Path(patients_dir), Path(build_dir),
                               root=root or ROOT, jobs=jobs)
        failed = [r for r in res if r.status == "failed"]
        if not failed or "Kernel died" not in failed[0].error:
            break
    if failed:
        raise RuntimeError(f"chapter {failed[0].name!r} failed on {patients_dir}:\n"
                           f"{failed[0].error}")
    return sc.scorecard(load_registry(), sc.load_map(),
                        report.collect_glued(Path(build_dir) / "cache", list(SCORECARD_CHAPTERS)),
                        sc.load_claims())


#: Order of stage 3: candidates that keep every active calibration target within sampling
#: error first (stage 2's promise), then the highest score, then most results agreeing in
#: direction and significance only, then the smallest stage-2 distance, then the seed.
STAGE3_ORDER: tuple[tuple[str, bool], ...] = (("targets_met", False), ("score", False),
                                               ("direction", False), ("distance", True),
                                               ("seed", True))


def score_candidate(seed: int, rank: int, distance: float, work_dir: Path | None = None, *,
                    jobs: int | None = 1,
                    scorer: Callable[..., pd.DataFrame] | None = None
                    ) -> tuple[dict, pd.DataFrame]:
    """One candidate of stage 3: its SYNTHETIC cohort (n = 50, seed ``seed``), the result
    chapters executed on it (``scorer``, default :func:`cohort_scorecard`, with ``jobs``
    notebooks at a time) in ``work_dir/seed_<seed>`` (a temporary directory when
    ``work_dir`` is None; removed afterwards), and its score. Returns the stage-3 row
    (``seed``, ``distance_rank``, ``distance``, ``targets_met`` and the score's columns) and
    the scorecard. A pure function of ``seed``: the same on any worker."""
    import shutil
    import tempfile

    from ..paper import scorecard as sc
    from ..synthetic.generator import SyntheticParams, generate_cohort, write_cohort

    scorer = scorer or cohort_scorecard
    tmp = None
    if work_dir is None:
        tmp = tempfile.mkdtemp(prefix="cartbook-candidate-")
        work_dir = Path(tmp)
    cand = Path(work_dir) / f"seed_{int(seed)}"
    try:
        if cand.exists():
            shutil.rmtree(cand)
        cohort = generate_cohort(n=N_PUBLISHED, seed=int(seed), params=SyntheticParams())
        write_cohort(cohort, cand / "data")
        card = scorer(cand / "data", cand / "build", jobs=jobs)
        row = {"seed": int(seed), "distance_rank": int(rank), "distance": float(distance),
               "targets_met": targets_met(cohort.patients, cohort.kinetics), **sc.score(card)}
    finally:
        shutil.rmtree(cand, ignore_errors=True)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return row, card


def _candidates(seed_search: pd.DataFrame, candidates: int) -> list[tuple[int, int, float]]:
    top = seed_search.sort_values(["distance", "seed"], kind="stable").head(candidates)
    return [(int(seed), rank, float(dist))
            for rank, (seed, dist) in enumerate(zip(top["seed"], top["distance"]), start=1)]


def _stage3_table(rows: list[dict]) -> pd.DataFrame:
    cols, asc = zip(*STAGE3_ORDER)
    return pd.DataFrame(rows).sort_values(list(cols), ascending=list(asc),
                                          kind="stable").reset_index(drop=True)


def _progress_line(row: dict, done: int, total: int) -> str:
    return (f"seed {row['seed']} ({done}/{total}): {row['score']} of {row['eligible']} "
            "results reproduced")


def search_seeds_by_scorecard(seed_search: pd.DataFrame, candidates: int, work_dir: Path, *,
                              jobs: int | None = None,
                              progress: Callable[[str], None] | None = None,
                              scorer: Callable[..., pd.DataFrame] | None = None
                              ) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """Stage 3, one candidate after the other in this process: the scorecard score
    (:func:`analysis_lib.paper.scorecard.score`) of the ``candidates`` best seeds of
    ``seed_search`` (stage 2's table), best first (:data:`STAGE3_ORDER`), and each
    candidate's scorecard by seed. :func:`search_seeds_by_scorecard_on_dask` gives the same
    result with the candidates spread over a Dask cluster."""
    rows, cards = [], {}
    todo = _candidates(seed_search, candidates)
    for i, (seed, rank, dist) in enumerate(todo, start=1):
        row, card = score_candidate(seed, rank, dist, Path(work_dir), jobs=jobs, scorer=scorer)
        rows.append(row)
        cards[seed] = card
        if progress:
            progress(_progress_line(row, i, len(todo)))
    return _stage3_table(rows), cards


def _score_task(seed: int, rank: int, distance: float,
                scorer: Callable[..., pd.DataFrame] | None = None
                ) -> tuple[dict, pd.DataFrame]:
    """A Dask task of stage 3: one candidate in a temporary directory of the worker, its
    chapters one at a time (the worker is one core; parallelism is across candidates)."""
    return score_candidate(seed, rank, distance, None, jobs=1, scorer=scorer)


def search_seeds_by_scorecard_on_dask(seed_search: pd.DataFrame, candidates: int, *,
                                      scheduler: str | None = None,
                                      workers: int | None = None, client: object = None,
                                      progress: Callable[[str], None] | None = None,
                                      scorer: Callable[..., pd.DataFrame] | None = None
                                      ) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """Stage 3 on Dask distributed: each candidate is a task (:func:`score_candidate` in a
    temporary directory of its worker), on ``client``, the cluster at ``scheduler`` or a
    local cluster of ``workers`` processes (:func:`analysis_lib.simulation.cluster.dask_client`),
    with a progress bar. Candidates finish in any order; the table is sorted as the serial
    :func:`search_seeds_by_scorecard` sorts it, so both give the same result."""
    from ..simulation.cluster import dask_client, map_tasks

    todo = _candidates(seed_search, candidates)
    rows: list[dict] = []
    cards: dict[int, pd.DataFrame] = {}

    def handle(i: int, result: tuple[dict, pd.DataFrame]) -> None:
        row, card = result
        rows.append(row)
        cards[int(row["seed"])] = card
        if progress:
            progress(_progress_line(row, len(rows), len(todo)))

    tasks = [(seed, rank, dist, scorer) for seed, rank, dist in todo]
    keys = [f"scorecard-seed-{seed}" for seed, _, _ in todo]
    if client is not None:
        map_tasks(client, _score_task, tasks, handle, unit="candidate", desc="scorecard",
                  keys=keys)
    else:
        with dask_client(scheduler, workers) as c:
            map_tasks(c, _score_task, tasks, handle, unit="candidate", desc="scorecard",
                      keys=keys)
    return _stage3_table(rows), cards


def write_scorecard_search(out_dir: Path, candidates: int = 60, *, jobs: int | None = None,
                           progress: Callable[[str], None] | None = None,
                           serial: bool = True, scheduler: str | None = None,
                           workers: int | None = None) -> Path:
    """Stage 3 record: ``scorecard_search.csv``, the scorecard score of the best
    ``candidates`` seeds of ``seed_search.csv`` (its first row is the shipped cohort's seed,
    :data:`analysis_lib.synthetic.generator.DEFAULT_SEED`), and ``shipped_scorecard.csv``, the winner's
    scorecard (status of every number and claim), which the synthetic-data chapter shows.
    ``serial`` scores the candidates one after the other here (``jobs`` notebooks at a
    time); otherwise they are Dask tasks (:func:`search_seeds_by_scorecard_on_dask`, on the
    cluster at ``scheduler`` or a local cluster of ``workers``)."""
    import tempfile

    from ..data.io import write_table
    from ..paper import scorecard as sc

    seeds = pd.read_csv(Path(out_dir) / "seed_search.csv", comment="#")
    if serial:
        with tempfile.TemporaryDirectory(prefix="cartbook-scorecard-") as tmp:
            table, cards = search_seeds_by_scorecard(seeds, candidates, Path(tmp), jobs=jobs,
                                                     progress=progress)
    else:
        table, cards = search_seeds_by_scorecard_on_dask(seeds, candidates,
                                                         scheduler=scheduler, workers=workers,
                                                         progress=progress)
    best = cards[int(table["seed"].iloc[0])]
    write_table(best[list(SHIPPED_CARD_COLUMNS)], Path(out_dir) / "shipped_scorecard.csv",
                {"synthetic": "true", "description": "scorecard of the shipped SYNTHETIC "
                 f"cohort (seed {int(table['seed'].iloc[0])}) under status rules version "
                 f"{sc.STATUS_RULES_VERSION}"})
    return write_table(table, Path(out_dir) / "scorecard_search.csv",
                       {"synthetic": "true", "description": "scorecard of the best candidate "
                        "SYNTHETIC cohorts (n = 50) of the seed search: score = published "
                        "numbers matched at the paper's precision or within sampling error "
                        "plus claims upheld, out of eligible; best first; status rules "
                        f"version {sc.STATUS_RULES_VERSION}"})
