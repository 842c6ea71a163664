"""Publishing: the GitHub Pages workflow and the bibliography.

The workflow must build the book with exactly the README's command, upload ``_build/html``,
deploy it with ``actions/deploy-pages`` and run the Python the project requires. Every entry
of ``book/references.bib`` must be cited in ``book/`` or ``notebooks/`` (Sphinx would silently
leave it out) and every citation must have an entry (Sphinx would warn, which fails the
build).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from analysis_lib.book import sphinxext

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "pages.yml"
BIB = ROOT / "book" / "references.bib"


# --------------------------------------------------------------------------------------------
# The workflow
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def _uses(workflow: dict, job: str, action: str) -> dict:
    found = [s for s in _steps(workflow, job) if s.get("uses", "").split("@")[0] == action]
    assert len(found) == 1, f"job {job!r} must use {action} once"
    return found[0]


def readme_build_command() -> str:
    """The build command of the README's "Two commands" block (``make book``)."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    book = [c for c in commands if c.startswith("make book")]
    assert book, "README.md has no `make book` command in a bash block"
    return book[0]


def test_triggers(workflow):
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert on["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in on


def test_build_runs_the_readme_command(workflow):
    build = workflow["jobs"]["build"]
    assert build["runs-on"] == "ubuntu-latest"
    runs = [s["run"].strip() for s in build["steps"] if "run" in s]
    assert runs == [readme_build_command()], "the build job must run exactly the README's command"
    assert _steps(workflow, "build")[0]["uses"].startswith("actions/checkout@")


def test_python_version_matches_pyproject(workflow):
    setup = _uses(workflow, "build", "actions/setup-python")["with"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = re.fullmatch(r">=\s*(\d+\.\d+)", requires.strip())
    assert minimum, f"unexpected requires-python {requires!r}"
    assert str(setup["python-version"]) == minimum.group(1)
    assert setup["cache"] == "pip"
    assert setup["cache-dependency-path"] == "requirements.lock"


def test_uploads_the_built_html(workflow):
    make = (ROOT / "Makefile").read_text()
    build_dir = re.search(r"^BUILD\s*\?=\s*(\S+)", make, flags=re.M).group(1)
    upload = _uses(workflow, "build", "actions/upload-pages-artifact")
    assert upload["with"]["path"] == f"{build_dir}/html" == "_build/html"


def test_deploys_with_deploy_pages(workflow):
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    step = _uses(workflow, "deploy", "actions/deploy-pages")
    assert "steps.deployment.outputs.page_url" in deploy["environment"]["url"]
    assert step["id"] == "deployment"
    assert workflow["concurrency"]["group"]


def test_actions_pinned_by_major_version(workflow):
    uses = [s["uses"] for job in workflow["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses
    for u in uses:
        assert re.fullmatch(r"actions/[\w-]+@v\d+", u), u


def test_source_links_point_at_the_built_commit(workflow):
    env = [s.get("env", {}) for s in _steps(workflow, "build") if "run" in s][0]
    assert env[sphinxext.ENV_URL] == "${{ github.server_url }}/${{ github.repository }}"
    assert env[sphinxext.ENV_REF] == "${{ github.sha }}"


# --------------------------------------------------------------------------------------------
# The bibliography
# --------------------------------------------------------------------------------------------

_ENTRY = re.compile(r"^@(\w+)\s*\{\s*([^,\s]+)\s*,", flags=re.M)
_CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def bib_keys() -> list[str]:
    return [key for kind, key in _ENTRY.findall(BIB.read_text()) if kind.lower() != "comment"]


def cited_keys() -> dict[str, set[str]]:
    """Cited key -> files citing it, over book/**/*.md and notebooks/*.py."""
    files = sorted((ROOT / "book").rglob("*.md")) + sorted((ROOT / "notebooks").glob("*.py"))
    out: dict[str, set[str]] = {}
    for f in files:
        for group in _CITE.findall(f.read_text()):
            for key in group.split(","):
                out.setdefault(key.strip(), set()).add(str(f.relative_to(ROOT)))
    return out


def test_bib_keys_unique():
    keys = bib_keys()
    assert len(keys) > 30
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


def test_every_bib_entry_is_cited():
    missing = set(bib_keys()) - set(cited_keys())
    assert not missing, f"entries of references.bib never cited: {sorted(missing)}"


def test_every_citation_has_an_entry():
    unknown = {k: sorted(v) for k, v in cited_keys().items() if k not in set(bib_keys())}
    assert not unknown, f"cited keys missing from references.bib: {unknown}"


def test_entries_are_complete():
    text = BIB.read_text()
    starts = [m.start() for m in _ENTRY.finditer(text)] + [len(text)]
    for a, b in zip(starts, starts[1:]):
        entry = text[a:b]
        key = _ENTRY.match(entry).group(2)
        for field in ("author", "title", "year"):
            assert re.search(rf"^\s*{field}\s*=", entry, flags=re.M), f"{key}: no {field}"
        doi = re.search(r"^\s*doi\s*=\s*\{([^}]*)\}", entry, flags=re.M)
        if doi:
            assert re.fullmatch(r"10\.\d{4,}/\S+", doi.group(1)), f"{key}: bad DOI {doi.group(1)}"


def test_paper_is_in_the_bibliography():
    text = BIB.read_text()
    assert "10.3389/fimmu.2025.1672509" in text
    assert "wang2025" in bib_keys()


def test_bibliography_is_configured():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    assert "analysis_lib.book.sphinxext" in config["sphinx"]["extra_extensions"]
    assert config["repository"]["url"] == ""  # none by default: Source links into the site
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    methods_part = [p for p in toc["parts"] if p["caption"] == "Methods and data"][0]
    assert methods_part["chapters"][-1] == {"file": "book/references"}
    page = (ROOT / "book" / "references.md").read_text()
    assert page.count("```{bibliography}") == 1
