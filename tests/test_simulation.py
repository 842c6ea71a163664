"""The simulation study's pieces without a cluster: seeds, random counts, scenarios, the plan
(same numbers as the chapters' functions), partitions and resumption, the summary's rates,
Monte Carlo SEs and sample sizes. The real-cluster runs are in ``test_simulation_cluster.py``.
"""

from __future__ import annotations

import ast
import hashlib
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis_lib.analyses import survival as sa
from analysis_lib.analyses import toxicity as tox
from analysis_lib.simulation import engine, plan, scenarios, summary
from analysis_lib.stats import cox
from analysis_lib.synthetic.generator import SyntheticParams, generate_cohort

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Seeds and counts

def test_replicate_seed_is_the_spawned_child():
    root = np.random.SeedSequence(1234)
    children = root.spawn(6)
    for i in (0, 3, 5):
        mine = scenarios.replicate_seed(1234, i)
        assert mine.entropy == children[i].entropy and mine.spawn_key == children[i].spawn_key
        assert np.array_equal(mine.generate_state(4), children[i].generate_state(4))


def test_replicates_are_pure_functions_of_their_index():
    a = scenarios.replicate_cohort("calibrated", 30, 7, 4)
    b = scenarios.replicate_cohort("calibrated", 30, 7, 4)
    c = scenarios.replicate_cohort("calibrated", 30, 7, 5)
    pd.testing.assert_frame_equal(a.patients, b.patients)
    assert not a.patients.equals(c.patients)


def test_drawn_counts_add_up_and_respect_nesting():
    rng = np.random.default_rng(3)
    p = SyntheticParams()
    for _ in range(200):
        c = scenarios.draw_counts(rng, 37, p)
        for name, v in c.items():
            assert sum(v) == 37 and min(v) >= 0, name
        assert c["tocilizumab_counts"][0] <= sum(c["crs_grade_counts"][2:])
        assert c["relapse_counts"][0] <= c["relapse_counts"][0] + c["relapse_counts"][1]
        assert c["death_counts"][0] <= c["relapse_counts"][0] + c["relapse_counts"][1]
        assert c["death_counts"][1] <= c["hsct_counts"][0]


def test_drawn_counts_have_the_published_proportions_on_average():
    rng = np.random.default_rng(5)
    draws = [scenarios.draw_counts(rng, 50) for _ in range(4000)]
    relapses = np.array([d["relapse_counts"][0] + d["relapse_counts"][1] for d in draws])
    female = np.array([d["sex_counts"][1] for d in draws])
    # binomial(50, 15/50): mean 15, SD sqrt(50 * 0.3 * 0.7) = 3.24; SE of the mean 0.051
    assert abs(relapses.mean() - 15) < 4 * 3.24 / math.sqrt(4000)
    assert abs(relapses.std() - 3.24) < 0.15
    # multinomial sex 23/50 female
    assert abs(female.mean() - 23) < 4 * math.sqrt(50 * 0.46 * 0.54) / math.sqrt(4000)


def test_generator_uses_drawn_counts_exactly():
    params, seed = scenarios.replicate_params(scenarios.scenario("calibrated"), 40,
                                              scenarios.replicate_seed(9, 2))
    p = generate_cohort(40, seed, params).patients
    assert params.counts_base_n == 40
    assert int((p["sex"] == "female").sum()) == params.sex_counts[1]
    assert int(p["hsct_after"].astype(bool).sum()) == params.hsct_counts[0]
    assert int((p["crs_grade"].astype(int) >= 3).sum()) == sum(params.crs_grade_counts[3:])
    rel = params.relapse_counts
    assert int(p["relapse"].astype(bool).sum()) == rel[0] + rel[1]


def test_exact_counts_mode_keeps_the_generators_proportions():
    params, _ = scenarios.replicate_params(scenarios.scenario("calibrated"), 50,
                                           scenarios.replicate_seed(9, 2), counts="exact")
    assert params == SyntheticParams()


def test_scenarios_change_only_their_effect():
    base = SyntheticParams()
    nf = scenarios.scenario("null_female").params()
    assert nf.relapse_logw_male == 0 and nf.severe_crs_logw_male == 0
    assert replace(nf, relapse_logw_male=base.relapse_logw_male,
                   severe_crs_logw_male=base.severe_crs_logw_male) == base
    with pytest.raises(ValueError, match="unknown scenario"):
        scenarios.scenario("nope")
    with pytest.raises(ValueError, match="unknown parameter"):
        scenarios.Scenario("x", "x", "x", {"no_such_parameter": 0.0})


# --------------------------------------------------------------------------------------------
# The plan

def _parameters_cell(name: str) -> dict[str, object]:
    src = (ROOT / "notebooks" / f"{name}.py").read_text(encoding="utf-8")
    cell = src.split('# %% tags=["parameters", "remove-cell"]', 1)[1].split("# %%", 1)[0]
    out = {}
    for node in ast.parse(cell).body:
        if isinstance(node, ast.Assign):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def test_plan_options_are_the_chapters_defaults():
    o = plan.PlanOptions()
    s, t = _parameters_cell("survival"), _parameters_cell("toxicity")
    assert o.conf_level == s["conf_level"] == t["conf_level"]
    assert o.screen_p == s["screen_p"]
    assert o.age_cut_years == s["age_cut_years"] == t["age_cut_years"]
    assert o.dose_cut == s["dose_cut"] == t["dose_cut"]
    assert list(o.mrd_cuts) == s["mrd_cuts"]
    assert o.mrd_negative_below == s["mrd_negative_below"]
    assert o.bca_unit_days == s["bca_unit_days"]
    assert o.model_mrd_cut == t["model_mrd_cut"]
    assert o.landmark_months == s["main_landmark_months"]
    assert o.horizon_months == 12 * 5 and 5 in s["horizons_years"]


@pytest.fixture(scope="module")
def trial():
    return scenarios.replicate_cohort("calibrated", 50, 21, 0)


def test_plan_records_the_chapters_screen_and_model(trial):
    rows = plan.run_plan(trial, ["cox_lfs", "cox_os"])
    ep = sa.endpoints(trial.patients)
    d = sa.candidate_covariates(trial.patients, trial.kinetics)
    screen = sa.univariate_screen(d, ep["lfs_time"], ep["lfs_event"])
    got = rows[rows["analysis"] == "lfs_screen"]
    assert list(got["coef"]) == [sa.slug(c) for c in screen["column"]]
    np.testing.assert_array_equal(got["estimate"].to_numpy(float), screen["hr"].to_numpy(float))
    np.testing.assert_array_equal(got["p_term"].to_numpy(float),
                                  screen["term_p"].to_numpy(float))
    assert list(got["selected"]) == list(screen["selected"])
    fit = sa.multivariable_cox(d, sa.select_terms(screen), ep["lfs_time"], ep["lfs_event"])
    mv = rows[rows["analysis"] == "lfs_mv"]
    np.testing.assert_array_equal(mv["estimate"].to_numpy(float), np.exp(fit.coef))
    assert (mv["events"] == fit.n_events).all()


def test_logistic_model_matches_risk_model():
    for i in range(4):
        c = scenarios.replicate_cohort("calibrated", 50, 2, i)
        factors, _ = tox.risk_factors(c.patients)
        y = tox.outcomes(c.patients)["crs_severe"].astype(float).to_numpy()
        mine, facts = plan.logistic_model(factors, y, tox.MODEL_1)
        try:
            theirs = tox.risk_model(factors, y, tox.MODEL_1)
        except np.linalg.LinAlgError:  # the chapter's function cannot fit this trial
            assert not facts["ml_converged"] and mine["wald_p"].isna().all()
            continue
        ref = theirs.odds_ratios()
        for col in ("or_ml", "wald_lower", "wald_upper", "wald_p", "or_firth", "firth_lower",
                    "firth_upper", "firth_p"):
            np.testing.assert_array_equal(mine[col].to_numpy(float), ref[col].to_numpy(float))
        assert list(mine["infinite"]) == list(ref["infinite"])
        assert facts["separation"] == theirs.separation.kind and facts["epv"] == theirs.epv


def test_plan_rows_have_the_schema_and_every_component(trial):
    rows = plan.run_plan(trial)
    assert list(rows.columns) == [c for c in plan.RESULT_COLUMNS if c != "replicate"]
    assert {"cohort", "lfs_screen", "lfs_mv", "os_screen", "hsct_lfs", "hsct_os", "km_os",
            "km_lfs", "crs_model1_ml", "crs_model1_firth", "crs_model2_ml",
            "table3"} <= set(rows["analysis"])
    assert not (rows["term"] == "(error)").any()
    km = rows[rows["analysis"] == "km_os"].set_index("term")
    # the three intervals share the estimate; log-log is inside (0, 1)
    assert km["estimate"].nunique() == 1 and 0 < km.loc["log-log", "lower"] < 1


def test_a_failing_component_is_recorded_and_the_others_run(trial, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(plan, "_table3_rows", boom)
    rows = plan.run_plan(trial, ["km", "table3"])
    err = rows[rows["term"] == "(error)"]
    assert list(err["analysis"]) == ["table3"] and err["note"].iloc[0] == "RuntimeError: boom"
    assert (rows["analysis"] == "km_os").sum() == 3


def test_univariate_screen_survives_a_constant_covariate():
    # every patient MRD-CR: the term has no information; it is reported, not fitted into an
    # error, and it cannot pass the screen
    t = np.array([1.0, 2, 3, 4, 5, 6])
    e = np.array([1, 0, 1, 1, 0, 1])
    d = cox.design_frame({"x": pd.Series([0.0, 1, 0, 1, 1, 0]),
                          "const": pd.Series(np.ones(6))}, {"x": "x", "const": "const"})
    s = sa.univariate_screen(d, t, e)
    row = s.set_index("term").loc["const"]
    assert math.isnan(row["term_p"]) and not row["selected"]
    assert s.set_index("term").loc["x", "selected"] in (True, False)


# --------------------------------------------------------------------------------------------
# Partitions and resumption (serial: the same tasks as on a cluster)

def _hashes(d: Path) -> dict[str, str]:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*.parquet"))}


def test_resume_recomputes_only_missing_partitions(tmp_path: Path):
    spec = engine.StudySpec("null_expansion", 30, 6, 2, seed=5)
    engine.run_studies([spec], tmp_path / "a", serial=True, truth=False, progress=False)
    first = _hashes(tmp_path / "a")
    d = spec.directory(tmp_path / "a")
    parts = sorted(d.glob("part-*.parquet"))
    assert [p.name for p in parts] == ["part-0000000-0000001.parquet",
                                       "part-0000002-0000003.parquet",
                                       "part-0000004-0000005.parquet"]
    stat_before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts}
    parts[1].unlink()
    (d / ".part-0000002-0000003.parquet.tmp-999").write_bytes(b"half")  # a killed write
    report = engine.run_studies([spec], tmp_path / "a", serial=True, truth=False,
                                progress=False)
    assert report.computed[("null_expansion", 30)] == [(2, 3)]
    assert report.reused[("null_expansion", 30)] == [(0, 1), (4, 5)]
    for p in (parts[0], parts[2]):
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stat_before[p.name]
    assert not list(d.glob(".part-*"))
    assert _hashes(tmp_path / "a") == first


def test_extension_and_rebatching_keep_results_identical(tmp_path: Path):
    small = engine.StudySpec("null_expansion", 30, 3, 2, seed=5)
    engine.run_studies([small], tmp_path / "a", serial=True, truth=False, progress=False)
    more = engine.StudySpec("null_expansion", 30, 6, 3, seed=5)
    engine.run_studies([more], tmp_path / "a", serial=True, truth=False, progress=False)
    engine.run_studies([more], tmp_path / "b", serial=True, truth=False, progress=False)
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    res = engine.load_results(tmp_path / "a")
    assert sorted(res["replicate"].unique()) == list(range(6))


def test_another_study_in_the_directory_is_an_error(tmp_path: Path):
    spec = engine.StudySpec("null_expansion", 30, 2, 2, seed=5)
    engine.run_studies([spec], tmp_path, serial=True, truth=False, progress=False)
    before = _hashes(tmp_path)
    other = engine.StudySpec("null_expansion", 30, 2, 2, seed=6)
    with pytest.raises(engine.StudyMismatch, match="seed 5 instead of 6"):
        engine.run_studies([other], tmp_path, serial=True, truth=False, progress=False)
    assert _hashes(tmp_path) == before


def test_partitions_are_marked_synthetic(tmp_path: Path):
    import pyarrow.parquet as pq

    spec = engine.StudySpec("null_expansion", 30, 2, 2, seed=5)
    engine.run_studies([spec], tmp_path, serial=True, truth=False, progress=False)
    part = next(spec.directory(tmp_path).glob("part-*.parquet"))
    meta = pq.read_schema(part).metadata
    assert meta[b"synthetic"] == b"true" and b"SYNTHETIC" in meta[b"description"]
    assert pq.read_schema(part).names == list(plan.RESULT_COLUMNS)


def test_study_spec_validates_its_input():
    with pytest.raises(ValueError, match="unknown scenario"):
        engine.StudySpec("nope", 50, 10)
    with pytest.raises(ValueError, match="replicates"):
        engine.StudySpec("calibrated", 50, 0)
    assert engine.StudySpec("calibrated", 50, 10).batch_size == engine.default_batch_size(50) == 40
    assert engine.default_batch_size(500) == 4 and engine.default_batch_size(10) == 50


# --------------------------------------------------------------------------------------------
# The summary

def test_rate_mcse():
    assert summary.rate_mcse(5, 100) == pytest.approx(math.sqrt(0.05 * 0.95 / 100))
    assert summary.rate_mcse(0, 100) == 0.0 and math.isnan(summary.rate_mcse(0, 0))


def _cox_rows(rep: int, sel: bool, p_mv: float | None, hr: float, infinite: bool = False
              ) -> list[dict]:
    rows = [{"replicate": rep, "analysis": "lfs_screen", "term": "female", "coef": "female",
             "estimate": hr, "p": 0.1, "p_term": 0.1, "selected": sel, "infinite": False}]
    if p_mv is None:
        rows.append({"replicate": rep, "analysis": "lfs_mv", "term": "(none selected)"})
    else:
        rows.append({"replicate": rep, "analysis": "lfs_mv", "term": "female", "coef": "female",
                     "estimate": hr, "p": p_mv, "p_term": p_mv, "selected": True,
                     "infinite": infinite, "converged": True, "epv": 5.0})
    return rows


def test_declared_rates_by_hand():
    # 4 replicates: declared protective (p 0.01, HR 0.3); selected but p 0.2; not selected;
    # selected, p 0.001 but infinite (monotone): only the first is declared
    rows = (_cox_rows(0, True, 0.01, 0.3) + _cox_rows(1, True, 0.2, 0.5)
            + _cox_rows(2, False, None, 0.9) + _cox_rows(3, True, 0.001, 0.0, True))
    res = pd.DataFrame(rows).assign(scenario="s", n=50)
    res["coef"] = res["coef"].fillna("")
    s = summary.summarise(res, pd.DataFrame())
    assert s.rate("s", 50, "selected", "lfs_mv", "female")[:1] == (0.75,)
    assert s.rate("s", 50, "declared", "lfs_mv", "female")[:1] == (0.25,)
    assert s.rate("s", 50, "declared_protective", "lfs_mv", "female")[0] == 0.25
    assert s.rate("s", 50, "monotone_likelihood", "lfs_mv")[0] == 0.25
    assert s.rate("s", 50, "none_selected", "lfs_mv")[0] == 0.25
    r, se, n = s.rate("s", 50, "declared", "lfs_mv", "female")
    assert n == 4 and se == pytest.approx(math.sqrt(0.25 * 0.75 / 4))


def test_sample_size_interpolates_probit_power_in_log_n():
    # power = Phi(-2 + 1.5 log(n / 25)) reaches 0.8 where log(n / 25) = (2 + z80) / 1.5,
    # between n = 100 (power 0.53) and 200 (0.87); probit power is linear in log n, so the
    # interpolation is exact
    z80 = stats.norm.ppf(0.8)
    truth = 25 * math.exp((2 + z80) / 1.5)
    sizes = [50, 100, 200, 500]
    power = [stats.norm.cdf(-2 + 1.5 * math.log(n / 25)) for n in sizes]
    est, lo, hi, status = summary.sample_size_for_power(sizes, power, [10**6] * 4)
    assert status == "reached" and est == pytest.approx(truth, rel=1e-9)
    assert lo <= est <= hi
    assert summary.sample_size_for_power(sizes, [0.9] * 4, [100] * 4)[3] == "at or below"
    est, *_, status = summary.sample_size_for_power(sizes, [0.1, 0.2, 0.3, 0.4], [100] * 4)
    assert status == "above" and math.isnan(est)


def test_commands_reproduce_the_studies_table():
    """The chapter's commands: one ``cartbook simulate`` per size and number of replicates,
    and parsing them back gives exactly the studies of the table (scenarios in the
    scenarios' order)."""
    import argparse
    import shlex

    from analysis_lib.simulation import study
    from analysis_lib.simulation.command import add_arguments

    table = pd.DataFrame({"scenario": ["null_bca", "calibrated", "calibrated", "null_bca",
                                       "calibrated"],
                          "n": [50, 50, 100, 100, 500],
                          "replicates": [200, 200, 100, 50, 50]})
    cmds = study.commands(table, out="results")
    assert cmds[0] == ("cartbook simulate --replicates 200 --n 50 --scenario calibrated "
                       "--scenario null_bca --out results")
    assert len(cmds) == 4
    p = argparse.ArgumentParser()
    add_arguments(p)
    parsed = set()
    for c in cmds:
        a = p.parse_args(shlex.split(c)[2:])
        assert a.out == "results"
        parsed |= {(s, n, a.replicates) for s in a.scenario for n in a.n}
    assert parsed == set(zip(table["scenario"], table["n"], table["replicates"]))
    # the default: the full study of FULL_STUDY
    full = {(s, n, r) for n, r, scen in study.FULL_STUDY for s in scen}
    parsed = set()
    for c in study.commands():
        a = p.parse_args(shlex.split(c)[2:])
        parsed |= {(s, n, a.replicates) for s in a.scenario for n in a.n}
    assert parsed == full
