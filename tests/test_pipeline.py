"""The pipeline's own behaviour on tiny notebooks: parameters, caching, failures, cleaning."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from analysis_lib.book import pipeline
from analysis_lib.book.pipeline import (
    BuildError,
    InvalidDataError,
    build_book,
    clean_executed,
    declared_parameters,
    run_notebooks,
)

VALID = Path(__file__).parent / "data" / "valid"

GOOD = '''\
# %% tags=["parameters", "remove-cell"]
data_dir = "x"
threshold = 1.0

# %%
from myst_nb import glue
glue("doubled", 2 * threshold, display=False)
print("threshold is", threshold)
'''

BAD = '''\
# %% tags=["parameters", "remove-cell"]
data_dir = "x"

# %%
x = 1

# %%
def explode():
    raise ValueError("deliberate failure for the test")

explode()
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A minimal project root with two notebooks and an (empty) analysis_lib."""
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "analysis_lib").mkdir()
    (root / "analysis_lib" / "__init__.py").write_text("")
    (root / "notebooks" / "good.py").write_text(GOOD)
    (root / "notebooks" / "bad.py").write_text(BAD)
    return root


def test_declared_parameters_reads_the_parameters_cell(project: Path):
    assert declared_parameters(project / "notebooks" / "good.py") == ["data_dir", "threshold"]


def test_only_declared_parameters_are_passed(project: Path):
    params = pipeline.notebook_parameters("good", project / "notebooks" / "good.py", VALID,
                                          {"threshold": 3.0, "unrelated": 1})
    assert params == {"data_dir": str(VALID.resolve()), "threshold": 3.0}
    # as the build runs them: never a path, the kernel reads the directory from its environment
    params = pipeline.notebook_parameters("good", project / "notebooks" / "good.py", VALID,
                                          {"threshold": 3.0}, by_reference=True)
    assert params == {"data_dir": "$CARTBOOK_DATA_DIR", "threshold": 3.0}


LEAKY = '''\
# %% tags=["parameters", "remove-cell"]
data_dir = "x"

# %%
import os, sys, warnings
from analysis_lib.data.validation import data_label, load_dataset, resolve_data_dir
data = load_dataset(data_dir)
print("rows", len(data.tables["patients"]), "label", data_label(data_dir))
print("the data are in", resolve_data_dir(data_dir))
print("the cwd is", os.getcwd(), file=sys.stderr)
warnings.warn("a library warning from " + sys.prefix + "/lib/x.py")
'''


def test_kernels_find_the_data_through_their_environment_and_no_path_is_kept(
        project: Path, tmp_path: Path):
    """The notebook loads the data through $CARTBOOK_DATA_DIR, shows the label, and every path
    of the build machine it prints (data, build directory, Python prefix) is replaced by a
    placeholder before the notebook is cached."""
    import sys

    shutil.copytree(Path(pipeline.ROOT) / "analysis_lib", project / "analysis_lib",
                    dirs_exist_ok=True)
    (project / "notebooks" / "leaky.py").write_text(LEAKY)
    data = tmp_path / "PRIVATE-PARENT-XYZ" / "study data"
    shutil.copytree(VALID, data)
    build = tmp_path / "b"
    res, _ = run_notebooks(["leaky"], data, build, root=project, label="My <b>label</b>")
    assert [r.status for r in res] == ["executed"], res[0].error
    text = (build / "cache" / "leaky" / "leaky.ipynb").read_text()
    assert "rows 6 label My <b>label</b>" in text
    assert "the data are in <data>" in text and "the cwd is <build>/work/leaky" in text
    assert "<python>/lib/x.py" in text
    for private in ("PRIVATE-PARENT-XYZ", str(build), sys.prefix, str(project)):
        assert private not in text, private
    assert pipeline.find_private(build, pipeline.private_paths(data, build, project)) == []


def test_private_paths_and_find_private(tmp_path: Path):
    data = tmp_path / "PARENT" / "data"
    paths = pipeline.private_paths(data, tmp_path / "b", tmp_path / "repo")
    assert paths[str(data)] == "<data>" and paths[str(data.parent)] == "<data-parent>"
    assert list(paths) == sorted(paths, key=len, reverse=True)  # longest first
    assert "/" not in paths and "/usr" not in paths
    site = tmp_path / "site"
    (site / "a").mkdir(parents=True)
    (site / "a" / "page.html").write_text(f"<p>{data}</p>")
    (site / "nb.ipynb").write_text(json.dumps({"x": str(data / "é")}, ensure_ascii=True))
    (site / "ok.html").write_text("<p>data</p>")
    hits = pipeline.find_private(site, paths)
    assert any(h.startswith("a/page.html") for h in hits)
    assert any(h.startswith("nb.ipynb") for h in hits)
    assert not any(h.startswith("ok.html") for h in hits)


def test_execution_hides_injected_parameters_and_is_deterministic(project: Path, tmp_path: Path):
    build = tmp_path / "b"
    res, keys = run_notebooks(["good"], VALID, build, root=project, overrides={"threshold": 4.0})
    assert [r.status for r in res] == ["executed"]
    nb_path = build / "cache" / "good" / "good.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata["tags"]
    assert "threshold = 4.0" in injected[0].source
    defaults = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert "remove-cell" in defaults[0].metadata["tags"]
    # the parameters actually used are recorded for display
    assert nb.metadata["papermill"]["parameters"]["threshold"] == 4.0
    text = nb_path.read_text()
    for volatile in ("start_time", "end_time", "duration", "\"execution\""):
        assert volatile not in text, volatile
    from analysis_lib.book.report import glued_values
    assert glued_values(nb_path)["doubled"] == 8.0
    first = nb_path.read_bytes()
    run_notebooks(["good"], VALID, build, root=project, overrides={"threshold": 4.0}, force=True)
    assert nb_path.read_bytes() == first  # same inputs, same bytes


def test_unchanged_inputs_are_not_executed_again(project: Path, tmp_path: Path):
    build = tmp_path / "b"
    calls: list[str] = []

    def counting(job):
        calls.append(job[0])
        return pipeline._execute_job(job)

    run_notebooks(["good"], VALID, build, root=project, executor=counting, jobs=1)
    run_notebooks(["good"], VALID, build, root=project, executor=counting, jobs=1)
    assert calls == ["good"]
    # a parameter change re-executes
    run_notebooks(["good"], VALID, build, root=project, overrides={"threshold": 2.0},
                  executor=counting, jobs=1)
    # a change to the library code re-executes
    (project / "analysis_lib" / "extra.py").write_text("X = 1\n")
    run_notebooks(["good"], VALID, build, root=project, overrides={"threshold": 2.0},
                  executor=counting, jobs=1)
    # a change to the notebook source re-executes
    (project / "notebooks" / "good.py").write_text(GOOD + "\n# %%\nprint('more')\n")
    run_notebooks(["good"], VALID, build, root=project, overrides={"threshold": 2.0},
                  executor=counting, jobs=1)
    assert calls == ["good"] * 4


def test_data_change_re_executes(project: Path, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(VALID, data)
    build = tmp_path / "b"
    res1, k1 = run_notebooks(["good"], data, build, root=project)
    with open(data / "kinetics.csv", "a") as fh:
        fh.write("")  # no change
    res2, k2 = run_notebooks(["good"], data, build, root=project)
    assert k1 == k2 and res2[0].status == "cached"
    (data / "patients.csv").write_text((data / "patients.csv").read_text() + "\n")
    res3, k3 = run_notebooks(["good"], data, build, root=project)
    assert k3 != k1 and res3[0].status == "executed"


def test_failing_notebook_reports_the_failing_cell(project: Path, tmp_path: Path):
    build = tmp_path / "b"
    res, _ = run_notebooks(["good", "bad"], VALID, build, root=project, jobs=2)
    status = {r.name: r for r in res}
    assert status["good"].status == "executed"
    bad = status["bad"]
    assert bad.status == "failed"
    assert "ValueError: deliberate failure for the test" in bad.error
    assert "explode()" in bad.error  # the failing cell's source
    assert "\x1b[" not in bad.error  # no terminal colour codes
    assert not (build / "cache" / "bad").exists()  # a failure is never cached


def test_invalid_data_stops_before_writing_anything(tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(VALID, data)
    text = (data / "patients.csv").read_text().splitlines()
    header = text[0].split(",")
    row = text[1].split(",")
    row[header.index("sex")] = "unknown"
    (data / "patients.csv").write_text("\n".join([text[0], ",".join(row), *text[2:]]) + "\n")
    build = tmp_path / "never"
    with pytest.raises(InvalidDataError) as exc:
        build_book(data, build)
    assert not build.exists()
    assert "category" in str(exc.value) and "sex" in str(exc.value)


def test_failing_notebook_leaves_previous_book_in_place(project: Path, tmp_path: Path):
    build = tmp_path / "b"
    html = build / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("previous good book")
    with pytest.raises(BuildError) as exc:
        build_book(VALID, build, root=project, notebooks=["good", "bad"])
    assert "deliberate failure" in str(exc.value)
    assert (html / "index.html").read_text() == "previous good book"


def test_clean_executed_strips_wall_clock_metadata():
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "t", "end_time": "t", "duration": 1.0,
                                "parameters": {"a": 1}, "input_path": "/x", "output_path": "/y"}
    cell = nbformat.v4.new_code_cell("a = 1", metadata={"tags": ["injected-parameters"],
                                                        "execution": {"x": "t"},
                                                        "papermill": {"duration": 1}})
    nb.cells.append(cell)
    out = clean_executed(nb)
    assert out.metadata["papermill"] == {"parameters": {"a": 1}}
    # paths of the build machine are replaced, only where a whole path component ends
    nb2 = nbformat.v4.new_notebook()
    nb2.cells.append(nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output(
        "stream", name="stderr", text="/home/u/proj/analysis_lib/stats/cox.py:7: Warning\n"
                                      "/home/u/projects/x\n")]))
    out2 = clean_executed(nb2, {"/home/u/proj": "<repository>"})
    assert out2.cells[0].outputs[0]["text"] == ("<repository>/analysis_lib/stats/cox.py:7: Warning\n"
                                                "/home/u/projects/x\n")
    assert out.cells[0].metadata == {"tags": ["injected-parameters", "remove-cell"]}
    assert json.dumps(out)  # still serialisable
