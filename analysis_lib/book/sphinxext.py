"""Sphinx extension of the book: links from every page to its sources in the repository.

Pages link to files in the repository with the role ``{repo}`path```, for example
``{repo}`notebooks/cohort.py``` (see :func:`analysis_lib.book.report.source_links`). The role is an
``sphinx.ext.extlinks`` link whose base is resolved when the book is built, not when the
notebooks are executed, so the executed notebooks stay the same whichever repository or commit
they are published from:

* the repository URL is ``repository.url`` of ``_config.yml`` (Jupyter Book passes it on as
  the theme option ``repository_url``), overridden by the environment variable
  ``CARTBOOK_REPOSITORY_URL`` (the GitHub Pages workflow sets it to the repository being built);
* the revision is ``repository.branch`` (theme option ``repository_branch``), overridden by
  ``CARTBOOK_REPOSITORY_REF`` (the workflow sets the commit SHA, so links are permanent).

The extension also keeps the theme's download button on (``use_download_button``): every
notebook page offers its executed ``.ipynb``.

Enabled in ``_config.yml`` with ``sphinx: extra_extensions: [analysis_lib.book.sphinxext]``.
"""

from __future__ import annotations

import os
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
    the theme options ``repository_url`` / ``repository_branch`` (from ``_config.yml``)."""
    env = os.environ if environ is None else environ
    url = (env.get(ENV_URL) or str(theme_options.get("repository_url") or "")).strip()
    ref = (env.get(ENV_REF) or str(theme_options.get("repository_branch") or "")).strip()
    url = url.rstrip("/").removesuffix(".git")
    if not url:
        raise ValueError("no repository URL: set repository.url in _config.yml "
                         f"or the environment variable {ENV_URL}")
    return url, ref or DEFAULT_REF


def file_url_pattern(url: str, ref: str) -> str:
    """The ``extlinks`` pattern of a file at revision ``ref`` of a GitHub repository."""
    return f"{url}/blob/{ref}/%s"


def _configure(app: Any, config: Any) -> None:
    options = dict(config.html_theme_options or {})
    url, ref = repository_target(options)
    options["repository_url"] = url
    options["repository_branch"] = ref
    options.setdefault("use_download_button", True)
    config.html_theme_options = options
    config.extlinks = {**(config.extlinks or {}), ROLE: (file_url_pattern(url, ref), "%s")}


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


def setup(app: Any) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.extlinks")
    # late, after the extensions that add page scripts have run
    app.connect("html-page-context", _page_context, priority=900)
    # before sphinx.ext.extlinks registers its roles (builder-inited) and before the theme
    # reads its options
    app.connect("config-inited", _configure, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
