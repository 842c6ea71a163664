"""Sphinx extension of the book: links from every page to its sources in the repository.

Pages link to files in the repository with the role ``{repo}`path```, for example
``{repo}`notebooks/cohort.py``` (see :func:`analysis_lib.book.report.source_links`). The link
is resolved when the book is built, not when the notebooks are executed, so the executed
notebooks stay the same whichever repository or commit they are published from:

* the repository URL is ``repository.url`` of ``_config.yml`` (Jupyter Book passes it on as
  the theme option ``repository_url``), overridden by the environment variable
  ``CARTBOOK_REPOSITORY_URL`` (the GitHub Pages workflow sets it to the repository being built);
* the revision is ``repository.branch`` (theme option ``repository_branch``), overridden by
  ``CARTBOOK_REPOSITORY_REF`` (the workflow sets the commit SHA, so links are permanent);
* with no repository configured (the default of a local build), the files are copied into the
  site (``_static/source/``) and the links point at those copies, so they always work.

The extension also keeps the theme's download button on (``use_download_button``): every
notebook page offers its executed ``.ipynb``, unless small-cell suppression is on
(:func:`suppressed_build`): an executed notebook holds the glued numbers behind the page's
suppressed text (the scorecard reads them), so such a site ships no notebook and no
``_sources`` copy of one (``html_copy_source`` off).

**The paper's labels.** Tables and figures that reproduce one of the paper's
(``data/published/artefacts.csv``, :mod:`analysis_lib.paper.artefacts`) are numbered with the
paper's own label ("Table 3", "Figure S2"), in captions and in every ``{numref}``; the book's
other tables and figures keep the chapter numbering ("Table 3.2", chapters numbered in
``_toc.yml``), renumbered without gaps, so the two cannot be confused. The directive
``{paper-artefacts}`` lists the paper's tables and figures with a link to each reproduction.

Enabled in ``_config.yml`` with ``sphinx: extra_extensions: [analysis_lib.book.sphinxext]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

#: Name of the role (``{repo}`path```) that links to a file of the repository.
ROLE = "repo"
ENV_URL = "CARTBOOK_REPOSITORY_URL"
ENV_REF = "CARTBOOK_REPOSITORY_REF"
DEFAULT_REF = "main"


def repository_target(theme_options: Mapping[str, Any],
                      environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The repository URL and revision the book links to: the environment variables
    ``CARTBOOK_REPOSITORY_URL`` / ``CARTBOOK_REPOSITORY_REF`` when set and not empty, otherwise
    the theme options ``repository_url`` / ``repository_branch`` (from ``_config.yml``). The
    URL is ``""`` when none is configured: the book then links to copies of the files shipped
    inside the site (:data:`LOCAL_DIR`)."""
    env = os.environ if environ is None else environ
    url = (env.get(ENV_URL) or str(theme_options.get("repository_url") or "")).strip()
    ref = (env.get(ENV_REF) or str(theme_options.get("repository_branch") or "")).strip()
    url = url.rstrip("/").removesuffix(".git")
    return url, ref or DEFAULT_REF


def file_url_pattern(url: str, ref: str) -> str:
    """The pattern of a file at revision ``ref`` of a GitHub repository."""
    return f"{url}/blob/{ref}/%s"


#: Where the site keeps copies of the files its Source lines name when no repository is
#: configured (relative to the site's root).
LOCAL_DIR = "_static/source"
#: Repository files copied into the site in that case (glob patterns from the root).
LOCAL_FILES: tuple[str, ...] = ("notebooks/*.py", "analysis_lib/**/*.py", "book/*.md",
                                 "book/references.bib")


def suppressed_build(srcdir: Path | str) -> bool:
    """Whether any executed chapter of the book in ``srcdir`` (``book/_generated/*.ipynb``)
    ran with small-cell suppression (papermill parameter ``min_cell_count`` above 1)."""
    import json

    for nb in sorted(Path(srcdir).glob("book/_generated/*.ipynb")):
        meta = json.loads(nb.read_text(encoding="utf-8")).get("metadata", {})
        k = meta.get("papermill", {}).get("parameters", {}).get("min_cell_count", 0)
        if isinstance(k, (int, float)) and k > 1:
            return True
    return False


def _withhold_notebooks(app: Any, doctree: Any) -> None:
    """In a suppressed build, a ``{download}`` of an executed notebook (the Source line's
    "executed notebook") becomes plain text saying why it is not published; it runs before
    Sphinx collects the downloads, so the file is never copied into the site."""
    from docutils import nodes
    from sphinx import addnodes

    if not app.config.cartbook_suppressed:
        return
    for node in list(doctree.findall(addnodes.download_reference)):
        if str(node.get("reftarget", "")).endswith(".ipynb"):
            node.replace_self(nodes.inline(
                text=f"{node.astext()} (not published: small-cell suppression is on)",
                classes=["withheld"]))


def _configure(app: Any, config: Any) -> None:
    options = dict(config.html_theme_options or {})
    url, ref = repository_target(options)
    options["repository_url"] = url
    options["repository_branch"] = ref
    options["use_repository_button"] = bool(url)
    options.setdefault("use_download_button", True)
    srcdir = getattr(app, "srcdir", None)
    config.cartbook_suppressed = srcdir is not None and suppressed_build(srcdir)
    if config.cartbook_suppressed:  # the notebooks hold the unsuppressed numbers
        options["use_download_button"] = False
        config.html_copy_source = False
    config.html_theme_options = options
    config.cartbook_repository = (url, ref)


def repo_uri(target: str, docname: str, repository: tuple[str, str]) -> str:
    """Where ``{repo}`target``` points from page ``docname``: the file in the configured
    repository at its revision, or, with none configured, its copy in the site (a link
    relative to the page)."""
    url, ref = repository
    if url:
        return file_url_pattern(url, ref) % target
    local = target + "index.html" if target.endswith("/") else target
    return "../" * docname.count("/") + f"{LOCAL_DIR}/{local}"


def _repo_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
               options: dict | None = None, content: list | None = None) -> tuple[list, list]:
    from docutils import nodes

    env = inliner.document.settings.env
    uri = repo_uri(text, env.docname, env.config.cartbook_repository)
    return [nodes.reference(rawtext, text, refuri=uri, classes=["repo-link"])], []


def _copy_sources(app: Any, exception: Exception | None) -> None:
    """With no repository configured, ship the files the Source lines name inside the site."""
    import shutil

    from ..core.paths import ROOT

    if exception is not None or app.builder.format != "html" or app.config.cartbook_repository[0]:
        return
    out = Path(app.outdir) / LOCAL_DIR
    for pattern in LOCAL_FILES:
        for f in sorted(ROOT.glob(pattern)):
            dest = out / f.relative_to(ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
    if out.is_dir():
        _write_indexes(out)


def _write_indexes(out: Path) -> None:
    """An ``index.html`` in every folder of the shipped copies, listing its files and
    folders, so that a Source line naming a folder (``{repo}`analysis_lib/```) opens a page."""
    import html

    for folder in sorted([out, *(d for d in out.rglob("*") if d.is_dir())]):
        entries = sorted(folder.iterdir(), key=lambda p: (p.is_file(), p.name))
        items = "".join(
            f'<li><a href="{html.escape(e.name)}{"/index.html" if e.is_dir() else ""}">'
            f'{html.escape(e.name)}{"/" if e.is_dir() else ""}</a></li>\n'
            for e in entries if e.name != "index.html" and e.name != "__pycache__")
        rel = folder.relative_to(out).as_posix()
        name = html.escape("the project's files" if rel == "." else rel + "/")
        (folder / "index.html").write_text(
            f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{name}</title></head>"
            f"<body><h1>{name}</h1>\n<ul>\n{items}</ul></body></html>\n", encoding="utf-8")


def _script_key(script: Any) -> tuple:
    attrs = getattr(script, "attributes", {}) or {}
    name = str(getattr(script, "filename", script))
    if "body" in attrs and name in ("", "None"):
        name = ""  # an inline script: Sphinx stores its filename as None or as ''
    return (name, tuple(sorted((str(k), str(v)) for k, v in attrs.items())))


def dedupe_scripts(scripts: list[Any]) -> list[Any]:
    """``scripts`` without repeats (same file or inline body, same attributes), first kept.

    sphinx-thebe 0.3.1 and sphinx-togglebutton 0.4.5 add their inline configuration script
    to a page twice (once when the extension is set up, once per page); the second
    ``const THEBE_JS_URL`` then throws a SyntaxError in the browser on every page."""
    seen: set[tuple] = set()
    out = []
    for s in scripts:
        key = _script_key(s)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _page_context(app: Any, pagename: str, templatename: str, context: dict,
                  doctree: Any) -> None:
    if "script_files" in context:
        context["script_files"] = dedupe_scripts(list(context["script_files"]))


def renumber(fignumbers: dict[str, dict[str, dict[str, tuple]]],
             paper: Mapping[str, str]) -> dict[str, dict[str, dict[str, tuple]]]:
    """Figure and table numbers with the paper's labels: an id in ``paper`` gets the paper's
    number (``("3",)``, ``("S2",)``); every other item keeps its chapter prefix and is
    counted again within its chapter without the paper's ones (no gaps); an item of a page
    that has no chapter number gets chapter 0 (``Table 0.1``)."""
    out: dict[str, dict[str, dict[str, tuple]]] = {}
    for doc, types in fignumbers.items():
        out[doc] = {}
        for figtype, ids in types.items():
            counters: dict[tuple, int] = {}
            new: dict[str, tuple] = {}
            for fid, num in ids.items():  # in document order
                if fid in paper:
                    new[fid] = (paper[fid],)
                    continue
                # a page outside the numbered chapters (the landing page) counts as chapter 0,
                # so its "Table 1" can never be taken for the paper's Table 1
                prefix = tuple(num[:-1]) or (0,)
                counters[prefix] = counters.get(prefix, 0) + 1
                new[fid] = (*prefix, counters[prefix])
            out[doc][figtype] = new
    return out


def _paper_numbers(app: Any, env: Any) -> list[str]:
    from ..paper.artefacts import paper_numbers

    new = renumber(env.toc_fignumbers, paper_numbers())
    changed = [d for d in new if new[d] != env.toc_fignumbers.get(d)]
    env.toc_fignumbers = new
    return changed


def _artefacts_directive() -> Any:
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList

    class PaperArtefacts(Directive):
        """``{paper-artefacts}``: a table of the paper's tables and figures, each with a link
        (``{numref}``) to its reproduction and to its chapter."""

        has_content = False

        def run(self) -> list[Any]:
            from docutils import nodes

            from ..paper.artefacts import load_artefacts

            lines = ["| The paper's | In the book | Chapter | What it shows |", "|---|---|---|---|"]
            for r in load_artefacts().itertuples():
                lines.append(f"| {r.paper_label} | {{numref}}`{r.book_label}` | "
                             f"{{doc}}`/book/_generated/{r.chapter}` | {r.reproduces} |")
            container = nodes.container()
            self.state.nested_parse(StringList(lines), self.content_offset, container)
            return container.children

    return PaperArtefacts


#: The metadata sidecar a table download carries (``report.write_output``): ``x.csv.json``.
SIDECAR_SUFFIX = ".json"


def _copy_sidecars(app: Any, exception: Exception | None) -> None:
    """Publish each downloadable file's metadata sidecar beside it: Sphinx copies only the
    file a ``{download}`` role names (``x.csv``), so its ``x.csv.json`` (synthetic or not,
    description, columns) is copied to the same folder of ``_downloads``."""
    import shutil

    if exception is not None or app.builder.format != "html":
        return
    for source, (_docs, dest) in sorted(app.env.dlfiles.items()):
        sidecar = Path(app.srcdir) / (source + SIDECAR_SUFFIX)
        if sidecar.is_file():
            target = Path(app.outdir) / "_downloads" / (dest + SIDECAR_SUFFIX)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sidecar, target)


def setup(app: Any) -> dict[str, Any]:
    app.connect("env-get-updated", _paper_numbers, priority=900)  # after the toctree numbers
    app.add_directive("paper-artefacts", _artefacts_directive())
    app.add_config_value("cartbook_repository", ("", DEFAULT_REF), "env")
    app.add_config_value("cartbook_suppressed", False, "env")
    # before Sphinx's download collector (priority 500)
    app.connect("doctree-read", _withhold_notebooks, priority=400)
    app.add_role(ROLE, _repo_role)
    app.connect("build-finished", _copy_sources)
    app.connect("build-finished", _copy_sidecars)
    # late, after the extensions that add page scripts have run
    app.connect("html-page-context", _page_context, priority=900)
    # before the theme reads its options
    app.connect("config-inited", _configure, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
