"""The options registry (analysis_lib.analyses.options) and the parameters a researcher sets:
the notebooks agree with the registry, values are parsed, scoped and checked (a bad one stops
the build before anything is written), cohort-relative cuts resolve from the data, the cache
re-executes exactly the chapters that use a changed parameter, and the scorecard does not
score a number computed under another parameter as a mismatch."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_lib.analyses import options as O
from analysis_lib.book import report
from analysis_lib.book.pipeline import (NOTEBOOKS, ROOT, NotebookResult, STAGES,
                                        checked_overrides, declared_parameters,
                                        notebook_key, notebook_parameters, run_notebooks)
from analysis_lib.cli import main
from analysis_lib.data.validation import load_dataset
from analysis_lib.paper import scorecard as sc
from analysis_lib.paper.registry import load_registry

SHIPPED = ROOT / "data" / "synthetic"


def _cell_defaults(name: str) -> dict[str, object]:
    """The literal defaults of a notebook's parameters cell, parsed independently of the
    pipeline (ast of the cell's assignments)."""
    import jupytext

    nb = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    out = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


# --------------------------------------------------------------------------------------------
# The registry and the notebooks
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_parameters_cell_agrees_with_the_registry(name):
    cell = _cell_defaults(name)
    declared = [k for k in cell if k not in O.PLUMBING]
    assert declared == [k for k in declared]  # parsed in order
    assert set(declared) == set(O.chapter_options(name)), name
    for k in declared:
        default = O.OPTIONS[k].default
        assert O.is_default(k, cell[k]), (name, k, cell[k], default)
        # and the same type as the registry's (a list stays a list, an int an int)
        if default is not None:
            assert type(cell[k]) is type(default) or (
                isinstance(default, float) and isinstance(cell[k], float)), (name, k)
    assert declared_parameters(ROOT / "notebooks" / f"{name}.py") == list(cell)


def test_every_option_is_complete_and_its_default_passes_its_own_checks():
    chapters_with_options = {c for o in O.OPTIONS.values() for c in o.chapters}
    assert chapters_with_options == set(O.ANALYSIS_CHAPTERS)
    for name, opt in O.OPTIONS.items():
        assert opt.name == name and opt.unit is not None
        assert len(opt.description) > 15 and len(opt.source) > 5, name
        assert set(opt.chapters) <= set(NOTEBOOKS), name
        assert O.is_default(name, opt.coerce(opt.default)), name


def test_the_papers_numbers_are_read_from_the_published_registry():
    reg = load_registry().set_index("key")
    assert O.OPTIONS["dose_cut"].default == reg.loc["dose_median", "value"]
    assert O.OPTIONS["dose_cut_text"].default == reg.loc["dose_threshold_text", "value"]
    for key in ("table2_screening_p_threshold", "cox_screening_p_threshold"):
        assert O.OPTIONS["screen_p"].default == reg.loc[key, "value"]
    assert O.OPTIONS["mrd_negative_below"].default == reg.loc["methods_fcm_sensitivity",
                                                                "value"]
    # ... and never typed a second time in the registry's code
    source = (ROOT / "analysis_lib" / "analyses" / "options.py").read_text(encoding="utf-8")
    for printed in ("3.68", "3.66", "0.2,", "=0.2"):
        assert printed not in source.replace(" ", ""), printed


def test_disagreeing_published_thresholds_are_refused(monkeypatch):
    values = {"a": 0.2, "b": 0.1}
    monkeypatch.setattr(O, "_published", lambda k: values[k])
    with pytest.raises(ValueError, match="disagree"):
        O.published_default("a", "b")


def test_no_notebook_keeps_the_old_inconsistent_names():
    for path in (ROOT / "notebooks").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^(dose_threshold|screen_threshold)\s*=", text, re.M), path


# --------------------------------------------------------------------------------------------
# Parsing and scoping
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("item, expected", [
    ("conf_level=0.9", ("conf_level", 0.9)),
    ("survival.screen_p=0.1", ("survival.screen_p", 0.1)),
    ("mrd_cuts=[1e-4, 1e-2]", ("mrd_cuts", [1e-4, 1e-2])),
    ("dose_cut=median", ("dose_cut", "median")),
    ("expansion_threshold=none", ("expansion_threshold", None)),
    ("mw_correct=false", ("mw_correct", False)),
    ("auc_method=linear", ("auc_method", "linear")),
    (" age_cut_years = 12 ", ("age_cut_years", 12)),
])
def test_assignments_are_parsed_as_literals(item, expected):
    assert O.parse_assignment(item) == expected


def test_an_assignment_without_a_value_is_a_usage_error():
    with pytest.raises(O.ParameterError, match="NAME=VALUE"):
        O.parse_assignment("dose_cut")


def test_values_are_coerced_to_the_option_type():
    out = O.check_overrides({"age_cut_years": 12, "mrd_cuts": ["1e-4", "1e-2"],
                             "severe_crs_grade": "4", "survival.horizons_years": [2, 5]})
    assert out["cohort"]["age_cut_years"] == 12.0 and isinstance(out["cohort"]["age_cut_years"],
                                                                 float)
    assert out["kinetics"]["mrd_cuts"] == [1e-4, 1e-2]
    assert out["toxicity"]["severe_crs_grade"] == 4
    assert out["survival"]["horizons_years"] == [2.0, 5.0]


def test_an_unscoped_parameter_reaches_every_chapter_using_it_and_a_scoped_one_only_its_own():
    out = O.check_overrides({"dose_cut": "median", "screen_p": 0.1, "survival.screen_p": 0.05})
    assert set(out) == {"kinetics", "survival", "toxicity"}
    assert all(out[c]["dose_cut"] == "median" for c in out)
    assert out["survival"]["screen_p"] == 0.05  # the chapter's own value wins
    assert out["toxicity"]["screen_p"] == 0.1
    assert "screen_p" not in out["kinetics"]
    flat = checked_overrides({"survival.screen_p": 0.1})
    assert flat == {"survival.screen_p": 0.1}
    src = ROOT / "notebooks"
    surv = notebook_parameters("survival", src / "survival.py", SHIPPED, flat)
    tox = notebook_parameters("toxicity", src / "toxicity.py", SHIPPED, flat)
    assert surv["screen_p"] == 0.1 and tox["screen_p"] == O.OPTIONS["screen_p"].default


def test_params_file_accepts_plain_dotted_and_nested_names(tmp_path):
    f = tmp_path / "p.yml"
    f.write_text("dose_cut: median\nmrd_cuts: [1e-4, 1e-3]\ntoxicity.severe_crs_grade: 2\n"
                 "survival:\n  screen_p: 0.1\n", encoding="utf-8")
    given = O.load_params_file(f)
    assert given == {"dose_cut": "median", "mrd_cuts": ["1e-4", "1e-3"],  # YAML 1.1 strings
                     "toxicity.severe_crs_grade": 2, "survival.screen_p": 0.1}
    out = O.check_overrides(given)
    assert out["cohort"]["mrd_cuts"] == [1e-4, 1e-3]
    assert out["toxicity"]["severe_crs_grade"] == 2 and out["survival"]["screen_p"] == 0.1


# --------------------------------------------------------------------------------------------
# Validation errors
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given, message", [
    ({"conf_level": 1.5}, r"conf_level = 1.5: must lie strictly between 0 and 1"),
    ({"mrd_cuts": [1e-2, 1e-3]}, r"cut-points must be strictly increasing"),
    ({"mrd_cuts": [1e-3, 1e-3]}, r"cut-points must be strictly increasing"),
    ({"mrd_cuts": [1e-3, 2.0]}, r"a fraction in \(0, 1\)"),
    ({"dose_threshold": 3.0}, r"dose_threshold: unknown parameter"),
    ({"screen_p": "abc"}, r"screen_p: expected a number"),
    ({"dose_cut": "mean"}, r"dose_cut: expected a number or 'median'"),
    ({"severe_crs_grade": 2.5}, r"severe_crs_grade: expected a whole number"),
    ({"severe_crs_grade": 7}, r"must lie between 1 and 5"),
    ({"mw_correct": "maybe"}, r"mw_correct: expected true or false"),
    ({"auc_method": "log"}, r"auc_method: expected one of"),
    ({"conf_level": True}, r"conf_level: expected a number"),
    ({"cohort.dose_cut": 2.0}, r"the cohort chapter does not use dose_cut"),
    ({"nosuch.conf_level": 0.9}, r"no chapter 'nosuch'"),
    ({"survival.conf_level": 2}, r"survival\.conf_level = 2.0"),
    ({"data_dir": "/elsewhere"}, r"set by the build itself"),
    ({"main_landmark_months": 4.0}, r"must be one of landmarks_months"),
])
def test_impossible_values_are_usage_errors_listing_the_valid_parameters(given, message):
    with pytest.raises(O.ParameterError, match=message) as err:
        O.check_overrides(given)
    text = str(err.value)
    assert "valid parameters" in text
    for name in O.OPTIONS:
        assert f"\n  {name} (" in text


def test_every_problem_is_reported_at_once():
    with pytest.raises(O.ParameterError) as err:
        O.check_overrides({"conf_level": 1.5, "foo": 1, "mrd_cuts": [0.1, 0.01]})
    head = str(err.value).split("\nvalid parameters")[0]
    assert "conf_level" in head and "foo" in head and "mrd_cuts" in head


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("args", [
    ["-p", "conf_level=1.5"],
    ["-p", "survival.mrd_cuts=[1e-2, 1e-4]"],
    ["-p", "no_such_parameter=1"],
    ["-p", "screen_p"],
])
def test_cli_refuses_bad_parameters_with_exit_2_and_writes_nothing(tmp_path, capsys, args):
    fresh = tmp_path / "fresh"
    code = main(["build", "--data", str(SHIPPED), "--build-dir", str(fresh), *args])
    assert code == 2
    err = capsys.readouterr().err
    assert "valid parameters" in err and "Nothing was built." in err
    assert not fresh.exists()
    # an existing build folder is left exactly as it was
    old = tmp_path / "old"
    (old / "html").mkdir(parents=True)
    (old / "html" / "index.html").write_text("previous book", encoding="utf-8")
    before = _tree(old)
    assert main(["build", "--data", str(SHIPPED), "--build-dir", str(old), *args]) == 2
    assert _tree(old) == before


def test_cli_refuses_a_bad_params_file(tmp_path, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text("toxicity:\n  screen_p: 1.5\n", encoding="utf-8")
    assert main(["build", "--data", str(SHIPPED), "--build-dir", str(tmp_path / "b"),
                 "--params", str(bad)]) == 2
    assert "toxicity.screen_p = 1.5: must lie in (0, 1]" in capsys.readouterr().err
    (tmp_path / "list.yml").write_text("- dose_cut\n", encoding="utf-8")
    assert main(["build", "--data", str(SHIPPED), "--build-dir", str(tmp_path / "b"),
                 "--params", str(tmp_path / "list.yml")]) == 2
    assert main(["build", "--data", str(SHIPPED), "--build-dir", str(tmp_path / "b"),
                 "--params", str(tmp_path / "missing.yml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_cli_params_lists_every_parameter(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    for name, opt in O.OPTIONS.items():
        line = next(ln for ln in out.splitlines() if ln.startswith(name + " "))
        assert O.literal(opt.default) in line and opt.description in line, name
        assert ", ".join(opt.chapters) in line
    assert main(["params", "--format", "csv"]) == 0
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert list(frame["parameter"]) == list(O.OPTIONS)
    assert {"default", "type", "unit", "chapters", "meaning", "source"} <= set(frame.columns)


def test_cli_merges_the_file_then_p_then_min_cell_count(tmp_path):
    import argparse

    from analysis_lib.cli import build_overrides

    f = tmp_path / "p.yml"
    f.write_text("screen_p: 0.1\ndose_cut: 2.5\n", encoding="utf-8")
    args = argparse.Namespace(params=str(f), param=["dose_cut=median"], min_cell_count=5)
    out = build_overrides(args)
    assert out["survival.dose_cut"] == "median" and out["toxicity.screen_p"] == 0.1
    assert out["cohort.min_cell_count"] == 5 and out["index.min_cell_count"] == 5


# --------------------------------------------------------------------------------------------
# Cohort-relative values
# --------------------------------------------------------------------------------------------

def test_median_resolves_to_the_cohorts_median_dose():
    patients = pd.DataFrame({"cart_dose_1e6_per_kg": [1.0, 2.0, np.nan, 4.0, 10.0]})
    assert O.resolve("dose_cut", "median", patients) == 3.0  # of the four doses given
    assert O.resolve("dose_cut", 2.5, patients) == 2.5
    assert O.resolve("age_cut_years", 12.0, patients) == 12.0
    with pytest.raises(O.ParameterError, match="no cart_dose_1e6_per_kg"):
        O.resolve("dose_cut", "median", patients.assign(cart_dose_1e6_per_kg=np.nan))
    with pytest.raises(O.ParameterError, match="expected a number"):
        O.OPTIONS["age_cut_years"].coerce("median")  # only cohort-relative options take it


def test_the_shipped_cohort_median_and_its_display():
    patients = load_dataset(SHIPPED).tables["patients"]
    med = float(patients["cart_dose_1e6_per_kg"].dropna().median())
    assert O.resolve("dose_cut", "median", patients) == med
    table = report.parameters_table({"dose_cut": "median", "conf_level": 0.95,
                                     "mrd_cuts": [1e-4, 1e-2]}, None, patients)
    rows = table.set_index("Parameter")
    from analysis_lib.core import formatting

    assert f"median (= {formatting.number(med)})" in rows.loc["`dose_cut`", "Value"]
    assert "**changed**" in rows.loc["`dose_cut`", "Value"]
    assert "**changed**" in rows.loc["`mrd_cuts`", "Value"]
    assert "changed" not in rows.loc["`conf_level`", "Value"]
    assert rows.loc["`dose_cut`", "Default"] == f"`{O.literal(O.OPTIONS['dose_cut'].default)}`"


def test_changed_parameters_compare_the_resolved_value_with_the_papers():
    paper = O.OPTIONS["dose_cut"].default
    at_paper = pd.DataFrame({"cart_dose_1e6_per_kg": [paper - 1, paper, paper + 1]})
    elsewhere = pd.DataFrame({"cart_dose_1e6_per_kg": [1.0, 2.1, 3.0]})
    run = {"kinetics": {"dose_cut": "median", "conf_level": 0.9, "data_dir": "x"},
           "cohort": {"age_cut_years": 10.0}}
    assert O.changed_parameters(run, at_paper) == []  # conf_level changes no scored number
    (c,) = O.changed_parameters(run, elsewhere)
    assert (c.name, c.chapter, c.resolved) == ("dose_cut", "kinetics", 2.1)
    assert c.text() == f"computed with dose_cut = median (= 2.1); the paper's {paper!r}"


# --------------------------------------------------------------------------------------------
# The cache: a parameter change re-executes exactly the chapters that use it
# --------------------------------------------------------------------------------------------

def _executor(asked: list[str], params: dict[str, dict]):
    def run(job):
        name, _, p, work = job[:4]
        asked.append(name)
        params[name] = dict(p)
        Path(work).mkdir(parents=True, exist_ok=True)
        (Path(work) / f"{name}.ipynb").write_text("{}", encoding="utf-8")
        return NotebookResult(name, "executed")
    return run


@pytest.mark.parametrize("given, expected", [
    ({"survival.screen_p": 0.1}, {"survival"}),
    ({"screen_p": 0.1}, {"survival", "toxicity"}),
    ({"dose_cut": 2.0}, {"kinetics", "survival", "toxicity"}),
    ({"dose_cut": "median"}, {"kinetics", "survival", "toxicity"}),
    ({"age_cut_years": 12}, {"cohort", "kinetics", "survival", "toxicity"}),
    ({"auc_method": "linear"}, {"kinetics"}),
    ({"conf_level": 0.9}, {"cohort", "kinetics", "survival", "toxicity"}),
])
def test_changing_a_parameter_reruns_only_the_chapters_that_use_it(tmp_path, given, expected):
    build = tmp_path / "build"
    asked: list[str] = []
    seen: dict[str, dict] = {}
    stage = STAGES[0]
    run_notebooks(stage, SHIPPED, build, executor=_executor(asked, seen), jobs=1)
    assert set(asked) == set(stage)
    asked.clear()
    _, keys = run_notebooks(stage, SHIPPED, build, executor=_executor(asked, seen), jobs=1)
    assert asked == []  # nothing changed: everything from the cache
    over = checked_overrides(given)
    _, changed = run_notebooks(stage, SHIPPED, build, overrides=over,
                               executor=_executor(asked, seen), jobs=1)
    assert set(asked) == expected
    assert {n for n in stage if changed[n] != keys[n]} == expected
    # the later stage reads every chapter, so it re-executes whenever one of them changed
    for name in expected:
        for k, v in O.check_overrides(given)[name].items():
            assert seen[name][k] == v
    asked.clear()
    run_notebooks(stage, SHIPPED, build, overrides=over, executor=_executor(asked, seen), jobs=1)
    assert asked == []  # the same parameters again: cached


def test_the_cache_key_holds_the_resolved_cohort_relative_value():
    src = ROOT / "notebooks" / "kinetics.py"
    params = {"dose_cut": "median"}
    a = notebook_key(src, params, SHIPPED, "code", {"dose_cut": 3.5})
    b = notebook_key(src, params, SHIPPED, "code", {"dose_cut": 3.6})
    assert a != b and a == notebook_key(src, params, SHIPPED, "code", {"dose_cut": 3.5})
    from analysis_lib.book.pipeline import resolved_parameters

    patients = load_dataset(SHIPPED).tables["patients"]
    assert resolved_parameters({"dose_cut": "median", "conf_level": 0.9}, SHIPPED) == {
        "dose_cut": float(patients["cart_dose_1e6_per_kg"].dropna().median())}
    assert resolved_parameters({"dose_cut": 3.0}, SHIPPED) == {}


# --------------------------------------------------------------------------------------------
# The scorecard and changed parameters
# --------------------------------------------------------------------------------------------

def _keys_by_chapter() -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for frame in (sc.load_map(), sc.load_claims()):
        for key, ch in zip(frame["key"], frame["chapter"]):
            if ch:
                keys.setdefault(ch, []).append(key)
    return keys


def test_a_changed_dose_cut_marks_exactly_the_numbers_that_depend_on_it():
    changed = [O.Changed("dose_cut", ch, 2.1, 2.1, 3.68, O.OPTIONS["dose_cut"].affects)
               for ch in ("kinetics", "toxicity", "survival")]
    affected = O.affected_keys(changed, _keys_by_chapter())
    assert {k for k in affected if k.startswith("t3_dose_")} == {
        k for k in _keys_by_chapter()["kinetics"] if k.startswith("t3_dose_")}
    assert "or_severe_crs_dose_low" in affected and "claim_os_dose" in affected
    assert not any(k.startswith("t3_age_") or k.startswith("t3_sex_") for k in affected)
    assert "n_patients" not in affected and "os_5y" not in affected
    assert affected["t3_dose_ge368_n"] == "computed with dose_cut = 2.1; the paper's 3.68"


def test_scorecard_reports_numbers_under_a_changed_parameter_instead_of_a_mismatch():
    reg, mapping, claims = load_registry(), sc.load_map(), sc.load_claims()
    pub = reg.set_index("key")["value"]
    # reproduced values far from the paper's: under the paper's parameters they differ
    glued = {"kinetics": {"t3_dose_ge368_n": pub["t3_dose_ge368_n"] + 10,
                          "t3_age_0_10_n": pub["t3_age_0_10_n"] + 10}}
    plain = sc.scorecard(reg, mapping, glued, claims).set_index("key")
    assert plain.loc["t3_dose_ge368_n", "status"] == sc.DIFFERS
    why = {"t3_dose_ge368_n": "computed with dose_cut = 2.1; the paper's 3.68",
           "claim_os_dose": "computed with dose_cut = 2.1; the paper's 3.68"}
    card = sc.scorecard(reg, mapping, glued, claims, why).set_index("key")
    row = card.loc["t3_dose_ge368_n"]
    assert row["status"] == sc.CHANGED and row["reason"] == why["t3_dose_ge368_n"]
    assert row["reproduced"] == pub["t3_dose_ge368_n"] + 10  # still shown
    assert card.loc["t3_age_0_10_n", "status"] == sc.DIFFERS  # not under a changed parameter
    assert card.loc["claim_os_dose", "status"] == sc.CHANGED
    s0, s1 = sc.score(plain.reset_index()), sc.score(card.reset_index())
    assert s1["numbers_eligible"] == s0["numbers_eligible"] - 1  # not scorable
    assert s1["claims_eligible"] == s0["claims_eligible"]
    assert s1["n_changed"] == 1 and s1["claims_n_changed"] == 1
    assert s1["n_differs"] == s0["n_differs"] - 1
    shown = sc.display_table(card.reset_index()[lambda d: d["key"] == "t3_dose_ge368_n"])
    assert "dose_cut = 2.1" in shown.to_string()


def test_the_scorecard_reads_the_parameters_each_chapter_ran_with(tmp_path):
    import nbformat

    for ch, params in {"kinetics": {"dose_cut": 2.1, "conf_level": 0.95},
                       "cohort": {"age_cut_years": 10.0}}.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["papermill"] = {"parameters": params}
        (tmp_path / ch).mkdir()
        nbformat.write(nb, tmp_path / ch / f"{ch}.ipynb")
    patients = load_dataset(SHIPPED).tables["patients"]
    changed, affected = report.parameter_changes(tmp_path, ["cohort", "kinetics"], patients)
    assert [(c.name, c.chapter) for c in changed] == [("dose_cut", "kinetics")]
    assert set(affected) == {k for k in _keys_by_chapter()["kinetics"]
                             if k.startswith(("t3_dose_", "claim_dose_"))}
    assert "claim_dose_kinetics" in affected  # the claim Table 3's dose p-values test
    note = report.changed_note(changed, len(affected)).data
    assert "- kinetics: computed with dose\\_cut \\= 2\\.1" in note  # escaped text
    assert report.changed_note([], 0) is None


def test_the_parameters_table_of_the_book_marks_values_of_this_build():
    run = {"kinetics": {"dose_cut": "median"}, "survival": {"dose_cut": 3.68},
           "cohort": {"conf_level": 0.95}}
    frame = O.parameters_frame(run).set_index("parameter")
    assert frame.loc["dose_cut", "this build"] == "3.68, median (changed)"
    assert frame.loc["conf_level", "this build"] == "0.95"
    assert list(frame.index) == list(O.OPTIONS)
    assert math.isclose(float(frame.loc["dose_cut", "default"]), O.OPTIONS["dose_cut"].default)
