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


def search_seeds_by_scorecard(seed_search: pd.DataFrame, candidates: int, work_dir: Path, *,
                              jobs: int | None = None,
                              progress: Callable[[str], None] | None = None
                              ) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """Stage 3: the scorecard score (:func:`analysis_lib.paper.scorecard.score`) of the
    ``candidates`` best seeds of ``seed_search`` (stage 2's table), best first
    (:data:`STAGE3_ORDER`), and each candidate's scorecard by seed."""
    import shutil

    from ..paper import scorecard as sc
    from ..synthetic.generator import SyntheticParams, generate_cohort, write_cohort

    rows, cards = [], {}
    top = seed_search.sort_values(["distance", "seed"], kind="stable").head(candidates)
    for rank, (seed, dist) in enumerate(zip(top["seed"], top["distance"]), start=1):
        cand = Path(work_dir) / f"seed_{int(seed)}"
        if cand.exists():
            shutil.rmtree(cand)
        cohort = generate_cohort(n=N_PUBLISHED, seed=int(seed), params=SyntheticParams())
        write_cohort(cohort, cand / "data")
        card = cohort_scorecard(cand / "data", cand / "build", jobs=jobs)
        cards[int(seed)] = card
        row = {"seed": int(seed), "distance_rank": rank, "distance": float(dist),
               "targets_met": targets_met(cohort.patients, cohort.kinetics), **sc.score(card)}
        rows.append(row)
        shutil.rmtree(cand, ignore_errors=True)
        if progress:
            progress(f"seed {int(seed)} ({rank}/{len(top)}): {row['score']} of "
                     f"{row['eligible']} results reproduced")
    cols, asc = zip(*STAGE3_ORDER)
    table = pd.DataFrame(rows).sort_values(list(cols), ascending=list(asc),
                                           kind="stable").reset_index(drop=True)
    return table, cards


def write_scorecard_search(out_dir: Path, candidates: int = 60, *, jobs: int | None = None,
                           progress: Callable[[str], None] | None = None) -> Path:
    """Stage 3 record: ``scorecard_search.csv``, the scorecard score of the best
    ``candidates`` seeds of ``seed_search.csv`` (its first row is the shipped cohort's seed,
    :data:`analysis_lib.synthetic.generator.DEFAULT_SEED`), and ``shipped_scorecard.csv``, the winner's
    scorecard (status of every number and claim), which the synthetic-data chapter shows."""
    import tempfile

    from ..data.io import write_table
    from ..paper import scorecard as sc

    seeds = pd.read_csv(Path(out_dir) / "seed_search.csv", comment="#")
    with tempfile.TemporaryDirectory(prefix="cartbook-scorecard-") as tmp:
        table, cards = search_seeds_by_scorecard(seeds, candidates, Path(tmp), jobs=jobs,
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
