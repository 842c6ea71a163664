"""The simulation chapter on its fallback path: without a stored full study it runs a quick
study (here 3 trials per scenario) while the book builds, says so, and glues every number
it shows. The full-study path is built with the book (``test_book.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analysis_lib.book.pipeline import execute_notebook
from analysis_lib.book.report import glued_values

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_study_chapter(tmp_path: Path):
    results = tmp_path / "results"
    (results / "truth").mkdir(parents=True)
    for f in (ROOT / "data" / "simulation" / "truth").glob("*.parquet"):
        shutil.copy(f, results / "truth" / f.name)  # the stored truths; no summary
    res = execute_notebook("simulation", ROOT / "notebooks" / "simulation.py",
                           {"simulation_dir": str(results), "quick_replicates": 3},
                           tmp_path / "work")
    assert res.status == "executed", res.error
    glued = glued_values(tmp_path / "work" / "simulation.ipynb")
    source = str(glued["sim_source"])
    assert "quick study" in source and "3 simulated trials per scenario" in source
    assert "against the stored truths" in source
    for key in ("sim_fp_female_first", "sim_cover_os_plain_first", "sim_sep_model1_first",
                "sim_hsct_lfs_fixed_median_first", "sim_steroids_power_first"):
        assert key in glued and str(glued[key]) not in ("", "nan"), key
    assert "% (MC SE " in str(glued["sim_fp_female_first"])
    import nbformat

    nb = nbformat.read(tmp_path / "work" / "simulation.ipynb", as_version=4)
    outputs = str([c.get("outputs", []) for c in nb.cells])
    assert "Synthetic data" in outputs and "fig_sim_hsct" in outputs
    assert str(results) not in outputs  # the results folder's path is never shown
    # without a stored study, the commands of the recommended full study, wrapped per option
    from analysis_lib.simulation.study import commands

    assert "The recommended full study" in outputs and "The stored study" not in outputs
    first = commands()[0].split(" --scenario ")[0]
    assert first in outputs


@pytest.mark.slow
def test_stored_study_chapter(tmp_path: Path):
    """A study stored with the engine (two sizes, 2 trials each; the stored truths) is what
    the chapter shows: it says so and how many trials, and prints the study's commands and
    those of the recommended full study, which is larger."""
    from analysis_lib.simulation import engine
    from analysis_lib.simulation.scenarios import SCENARIOS
    from analysis_lib.simulation.summary import write_summary

    results = tmp_path / "results"
    (results / "truth").mkdir(parents=True)
    for f in (ROOT / "data" / "simulation" / "truth").glob("*.parquet"):
        shutil.copy(f, results / "truth" / f.name)
    specs = [engine.StudySpec(s, n, 2, 2) for s in SCENARIOS for n in (30, 60)]
    engine.run_studies(specs, results, serial=True, truth=False, progress=False,
                       log=lambda m: None)
    write_summary(results)
    res = execute_notebook("simulation", ROOT / "notebooks" / "simulation.py",
                           {"simulation_dir": str(results)}, tmp_path / "work")
    assert res.status == "executed", res.error
    glued = glued_values(tmp_path / "work" / "simulation.ipynb")
    source = str(glued["sim_source"])
    assert "stored in the project's results folder" in source and "quick study" not in source
    assert "2 simulated trials per scenario and cohort size (n = 30 and 60)" in source
    assert "smaller study than the recommended one" in source
    assert glued["sim_n_first"] == "30" and glued["sim_n_max"] == "60"
    import nbformat

    nb = nbformat.read(tmp_path / "work" / "simulation.ipynb", as_version=4)
    outputs = str([c.get("outputs", []) for c in nb.cells])
    assert "The stored study" in outputs and "The recommended full study" in outputs
    assert "cartbook simulate --replicates 2 --n 30" in outputs
    assert str(results) not in outputs


def test_ratio_axis_labels():
    from analysis_lib.book.simulation_plots import _ratio_label

    assert [_ratio_label(t) for t in (1 / 64, 1 / 8, 0.05, 0.25, 1, 4, 64)] == [
        "1/64", "0.125", "0.05", "0.25", "1", "4", "64"]
