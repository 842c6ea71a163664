"""The "Source" line of every chapter (report.source_links) and the Sphinx extension that
resolves its repository links (analysis_lib.book.sphinxext)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from analysis_lib.analyses import cohort
from analysis_lib.book import pipeline, report, sphinxext

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# report.source_links / report.notebook_modules
# --------------------------------------------------------------------------------------------

def test_source_links_explicit_modules():
    md = report.source_links("cohort", [cohort, "book.report", "analysis_lib.analyses.cohort"]).data
    assert md == ("**Source:** text notebook {repo}`notebooks/cohort.py` · executed notebook "
                  "{download}`cohort.ipynb` · library {repo}`analysis_lib/analyses/cohort.py`, "
                  "{repo}`analysis_lib/book/report.py`")


def test_source_links_without_modules():
    md = report.source_links("x", []).data
    assert "library" not in md
    assert "{repo}`notebooks/x.py`" in md


def test_source_links_reads_the_notebook_imports(tmp_path):
    for m in ("analyses/cohort", "book/report", "stats/survival", "data/validation", "data/io"):
        (tmp_path / "analysis_lib" / f"{m}.py").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "analysis_lib" / f"{m}.py").write_text("")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "demo.py").write_text(
        "# %%\nfrom analysis_lib.analyses import cohort\nfrom analysis_lib.book import report\n"
        "from analysis_lib.stats import survival as sv\n"
        "from analysis_lib.data.validation import load_dataset\n"
        "import analysis_lib.data.io\n"
        "from analysis_lib import __version__\n"      # not a module: left out
        "from pandas import DataFrame\n")
    assert report.notebook_modules(tmp_path / "notebooks" / "demo.py", tmp_path) == [
        "analyses.cohort", "book.report", "data.io", "data.validation", "stats.survival"]
    md = report.source_links("demo", root=tmp_path).data
    assert md.endswith("library {repo}`analysis_lib/analyses/cohort.py`, "
                       "{repo}`analysis_lib/book/report.py`, {repo}`analysis_lib/data/io.py`, "
                       "{repo}`analysis_lib/data/validation.py`, "
                       "{repo}`analysis_lib/stats/survival.py`")


@pytest.mark.parametrize("name", pipeline.NOTEBOOKS)
def test_every_book_notebook_shows_its_source(name):
    source = ROOT / "notebooks" / f"{name}.py"
    text = source.read_text()
    # directly, or through report.open_chapter (the header of every chapter showing data)
    assert "display(report.source_links(chapter))" in text or "report.open_chapter(" in text
    md = report.source_links(name).data
    assert f"{{repo}}`notebooks/{name}.py`" in md
    assert "{repo}`analysis_lib/book/report.py`" in md
    for m in report.notebook_modules(source):
        assert (ROOT / "analysis_lib" / (m.replace(".", "/") + ".py")).is_file()


def test_source_links_do_not_depend_on_the_repository(monkeypatch):
    before = report.source_links("cohort").data
    monkeypatch.setenv(sphinxext.ENV_URL, "https://example.org/fork")
    monkeypatch.setenv(sphinxext.ENV_REF, "0123abc")
    assert report.source_links("cohort").data == before
    assert "https://" not in before


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "co hort"])
def test_source_links_rejects_paths(bad):
    with pytest.raises(ValueError):
        report.source_links(bad, [])
    with pytest.raises(ValueError):
        report.source_links("cohort", [bad])


# --------------------------------------------------------------------------------------------
# analysis_lib.book.sphinxext
# --------------------------------------------------------------------------------------------

def test_repository_target_from_config():
    opts = {"repository_url": "https://github.com/o/r.git/", "repository_branch": "dev"}
    assert sphinxext.repository_target(opts, {}) == ("https://github.com/o/r", "dev")
    assert sphinxext.repository_target({"repository_url": "https://x/y"}, {}) == ("https://x/y",
                                                                                  "main")


def test_repository_target_environment_overrides():
    opts = {"repository_url": "https://github.com/o/r", "repository_branch": "main"}
    env = {sphinxext.ENV_URL: "https://github.com/fork/r", sphinxext.ENV_REF: "abc123"}
    assert sphinxext.repository_target(opts, env) == ("https://github.com/fork/r", "abc123")
    # empty variables (an unset GitHub expression) fall back to the configuration
    assert sphinxext.repository_target(opts, {sphinxext.ENV_URL: "", sphinxext.ENV_REF: ""}) == (
        "https://github.com/o/r", "main")


def test_without_a_repository_links_point_into_the_site():
    assert sphinxext.repository_target({}, {}) == ("", "main")
    # relative to the page: the copies live in _static/source at the site's root
    assert sphinxext.repo_uri("notebooks/cohort.py", "book/_generated/cohort", ("", "main")) == \
        "../../_static/source/notebooks/cohort.py"
    assert sphinxext.repo_uri("analysis_lib/book/report.py", "index", ("", "main")) == \
        "_static/source/analysis_lib/book/report.py"
    # a folder opens the listing the build writes into each shipped folder
    assert sphinxext.repo_uri("analysis_lib/", "book/methods", ("", "main")) == \
        "../_static/source/analysis_lib/index.html"


def test_shipped_folders_get_a_listing_with_escaped_names(tmp_path):
    out = tmp_path / "_static" / "source"
    (out / "analysis_lib" / "stats").mkdir(parents=True)
    (out / "analysis_lib" / "stats" / "cox.py").write_text("")
    (out / "analysis_lib" / "<b>odd.py").write_text("")
    sphinxext._write_indexes(out)
    top = (out / "analysis_lib" / "index.html").read_text()
    assert '<a href="stats/index.html">stats/</a>' in top
    assert "&lt;b&gt;odd.py" in top and "<b>" not in top
    assert '<a href="cox.py">cox.py</a>' in (out / "analysis_lib" / "stats" / "index.html").read_text()
    assert (out / "index.html").exists()


def test_configure_sets_role_and_theme(monkeypatch):
    monkeypatch.delenv(sphinxext.ENV_URL, raising=False)
    monkeypatch.delenv(sphinxext.ENV_REF, raising=False)
    config = types.SimpleNamespace(
        html_theme_options={"repository_url": "https://github.com/o/r", "repository_branch": "main"})
    sphinxext._configure(None, config)
    assert config.cartbook_repository == ("https://github.com/o/r", "main")
    assert sphinxext.repo_uri("notebooks/x.py", "book/_generated/x", config.cartbook_repository) \
        == "https://github.com/o/r/blob/main/notebooks/x.py"
    assert config.html_theme_options["use_download_button"] is True
    assert config.html_theme_options["use_repository_button"] is True
    config = types.SimpleNamespace(html_theme_options={"repository_url": ""})
    sphinxext._configure(None, config)
    assert config.html_theme_options["use_repository_button"] is False


def test_role_renders_in_sphinx(tmp_path, monkeypatch):
    """A minimal Sphinx build: {repo} links resolve to the configured repository."""
    from sphinx.application import Sphinx

    monkeypatch.setenv(sphinxext.ENV_URL, "https://github.com/someone/fork")
    monkeypatch.setenv(sphinxext.ENV_REF, "deadbeef")
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text("extensions = ['myst_parser', 'analysis_lib.book.sphinxext']\n")
    (src / "index.md").write_text("# T\n\n" + report.source_links("cohort", ["analyses.cohort"]).data
                                  .replace("{download}`cohort.ipynb`", "x") + "\n")
    app = Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctree"), "html",
                 status=None, warning=None, freshenv=True)
    app.build()
    html = (tmp_path / "out" / "index.html").read_text()
    assert 'href="https://github.com/someone/fork/blob/deadbeef/notebooks/cohort.py"' in html
    assert 'href="https://github.com/someone/fork/blob/deadbeef/analysis_lib/analyses/cohort.py"' in html


def test_repeated_page_scripts_are_dropped_once_each():
    from types import SimpleNamespace

    from analysis_lib.book.sphinxext import dedupe_scripts

    def js(name, **attrs):
        return SimpleNamespace(filename=name, attributes=attrs)

    a, b = js(None, body="const X = 1"), js("x.js")
    # Sphinx 7.4 keeps the same inline script once with filename None and once with ''
    scripts = [a, b, js("", body="const X = 1"), js("x.js", defer="defer"), js("x.js")]
    out = dedupe_scripts(scripts)
    assert out == [a, b, scripts[3]]


def test_without_a_repository_the_site_ships_the_files_it_links_to(tmp_path, monkeypatch):
    """A minimal Sphinx build with no repository configured: the Source links point at
    copies inside the site, and the copies are there."""
    from sphinx.application import Sphinx

    monkeypatch.delenv(sphinxext.ENV_URL, raising=False)
    monkeypatch.delenv(sphinxext.ENV_REF, raising=False)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "conf.py").write_text("extensions = ['myst_parser', 'analysis_lib.book.sphinxext']\n")
    (src / "index.md").write_text("# T\n\n```{toctree}\nsub/page\n```\n")
    (src / "sub" / "page.md").write_text("# P\n\n" + report.source_links(
        "cohort", ["analyses.cohort"]).data.replace("{download}`cohort.ipynb`", "x") + "\n")
    app = Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctree"), "html",
                 status=None, warning=None, freshenv=True)
    app.build()
    html = (tmp_path / "out" / "sub" / "page.html").read_text()
    assert 'href="../_static/source/notebooks/cohort.py"' in html
    assert 'href="../_static/source/analysis_lib/analyses/cohort.py"' in html
    for f in ("notebooks/cohort.py", "analysis_lib/analyses/cohort.py"):
        assert (tmp_path / "out" / "_static" / "source" / f).read_bytes() == (ROOT / f).read_bytes()


def test_paper_labels_replace_the_chapter_numbers_of_what_reproduces_the_paper():
    numbers = {"book/_generated/kinetics": {"table": {"tbl-a": (4, 1), "tbl-table3": (4, 2),
                                                      "tbl-b": (4, 3)},
                                            "figure": {"fig-x": (4, 1)}},
               "book/_generated/index": {"table": {"tbl-key": (1,), "tbl-score": (2,)}}}
    out = sphinxext.renumber(numbers, {"tbl-table3": "3", "fig-x": "S4"})
    assert out["book/_generated/kinetics"]["table"] == {"tbl-a": (4, 1), "tbl-table3": ("3",),
                                                         "tbl-b": (4, 2)}
    assert out["book/_generated/kinetics"]["figure"] == {"fig-x": ("S4",)}
    # the landing page's own tables are chapter 0: never "Table 1"
    assert out["book/_generated/index"]["table"] == {"tbl-key": (0, 1), "tbl-score": (0, 2)}


def test_a_build_is_suppressed_when_any_executed_chapter_ran_with_min_cell_count(tmp_path):
    import json

    gen = tmp_path / "book" / "_generated"
    gen.mkdir(parents=True)

    def chapter(name: str, k: object) -> None:
        nb = {"cells": [], "metadata": {"papermill": {"parameters": {"min_cell_count": k}}},
              "nbformat": 4, "nbformat_minor": 5}
        (gen / f"{name}.ipynb").write_text(json.dumps(nb), encoding="utf-8")

    chapter("cohort", 0)
    chapter("index", 1)
    assert not sphinxext.suppressed_build(tmp_path)
    chapter("toxicity", 5)
    assert sphinxext.suppressed_build(tmp_path)
