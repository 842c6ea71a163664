"""Every page of the built book, opened in headless Chromium (Debian's ``chromium``).

The pages are found from the built site itself (the landing page, every page linked from it,
every other ``*.html`` outside ``_static``), so new chapters are covered without editing this
file. Each page is loaded at 1280 px and must show no script or console error, no resource
that failed to load, no request to the internet, no broken image, no horizontal scrolling, no
table wider than its column outside a scroll container, and figures at a readable size.
Relative links (and their ``#fragments``) are checked statically on every page.

A full-page screenshot of the landing page and of each chapter is written to
``$CARTBOOK_ARTIFACTS`` (default ``artifacts/screenshots/``). Locally the tests are skipped
without Chromium; in CI (``CI=true``) they fail instead (see ``tests/conftest.py``).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
import yaml
from browser import (
    PNG_SIGNATURE,
    Chromium,
    PageAudit,
    audit_page,
    check_links,
    discover_pages,
    png_size,
    screenshot_name,
    site_pages,
)

from analysis_lib.book.pipeline import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WIDTH = 1280
MIN_SCREENSHOT_BYTES = 20_000


def artifacts_dir() -> Path:
    """Where screenshots go: ``$CARTBOOK_ARTIFACTS``, else ``<repo>/artifacts/screenshots``."""
    env = os.environ.get("CARTBOOK_ARTIFACTS", "").strip()
    return Path(env) if env else ROOT / "artifacts" / "screenshots"


#: Causes found for problems seen in this book, shown next to the failure.
HINTS = {
    "Identifier 'THEBE_JS_URL' has already been declared":
        "Sphinx 7.4 + sphinx-thebe 0.3.1 (and sphinx-togglebutton 0.4.5) emit their inline "
        "<script> bodies twice in every page's <head> (reproduced with a bare sphinx-build "
        "of one page); the second 'const THEBE_JS_URL' throws.",
    "Got invalid theme mode: .":
        "pydata-sphinx-theme sets data-mode from localStorage or html_context['default_mode'], "
        "which is empty: every first visit logs this. Fix: `html_context: {default_mode: "
        "auto}` under sphinx.config in _config.yml.",
}


def _report(problems: list[str], what: str) -> str:
    """Problems grouped by message, with the pages showing each and any known cause."""
    by_message: dict[str, list[str]] = {}
    for p in problems:
        page, message = p.split(": ", 1)
        message = message.replace(page, "<page>")
        by_message.setdefault(message, []).append(page)
    lines = [f"{len(problems)} {what}:"]
    for message, pages in by_message.items():
        lines.append(f"- {message}\n    on {len(pages)} page(s): {', '.join(pages)}")
        lines += [f"    cause: {hint}" for key, hint in HINTS.items() if key in message]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def chromium():
    with Chromium(width=WIDTH) as browser:
        yield browser


@pytest.fixture(scope="module")
def site(built_book: Path) -> tuple[Path, Path, list[Path]]:
    """(html root, landing page, content pages) of the session's build."""
    html = built_book / "html"
    landing, pages = discover_pages(html)
    return html, landing, pages


@pytest.fixture(scope="module")
def audits(site, chromium) -> dict[str, PageAudit]:
    """Every content page loaded once at 1280 px; screenshots written as a side effect."""
    html, _, pages = site
    out_dir = artifacts_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for page in pages:
        audit = audit_page(chromium, page, root=html, width=WIDTH)
        (out_dir / screenshot_name(html, page)).write_bytes(audit.screenshot)
        results[audit.path] = audit
    return results


# -- the built book ----------------------------------------------------------------------------

def test_pages_are_discovered_from_the_table_of_contents(site):
    html, landing, pages = site
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))

    def files(node) -> list[str]:
        """Every ``root``/``file`` entry of the table of contents, at any depth."""
        if isinstance(node, dict):
            own = [node[k] for k in ("root", "file") if k in node]
            return own + [f for v in node.values() for f in files(v)]
        if isinstance(node, list):
            return [f for item in node for f in files(item)]
        return []

    expected = {(html / f).with_suffix(".html").resolve() for f in files(toc)}
    assert landing.resolve() == (html / toc["root"]).with_suffix(".html").resolve()
    missing = sorted(str(p.relative_to(html)) for p in expected - set(pages))
    assert not missing, f"pages in _toc.yml not found from the landing page: {missing}"


def test_internal_links_and_fragments_resolve(site):
    html, _, _ = site
    problems = check_links(html, site_pages(html))
    assert not problems, _report(problems, "broken internal links")


def test_no_script_or_console_errors(audits):
    problems = [p for a in audits.values() for p in a.problems()
                if ": script error: " in p or ": console error: " in p]
    assert not problems, _report(problems, "script/console errors")


def test_every_image_and_resource_loads_offline(audits):
    problems = [p for a in audits.values() for p in a.problems()
                if ": failed to load: " in p or ": image not shown: " in p
                or ": external request" in p]
    assert not problems, _report(problems, "missing images or resources")
    assert sum(a.n_images for a in audits.values()) > 0, "no figure at all in the book?"


def test_tables_and_figures_are_readable_at_1280_px(audits):
    problems = [p for a in audits.values() for p in a.problems() if ": layout at " in p]
    assert not problems, _report(problems, f"layout problems at {WIDTH} px")
    assert sum(a.n_tables for a in audits.values()) > 0, "no table at all in the book?"


def test_screenshots_of_landing_page_and_chapters(site, audits):
    html, landing, pages = site
    out_dir = artifacts_dir()
    assert landing in pages
    for page in pages:
        png = out_dir / screenshot_name(html, page)
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE), png
        width, height = png_size(data)
        assert width == WIDTH and height >= 600, (png, width, height)
        assert len(data) > MIN_SCREENSHOT_BYTES, (png, len(data))


def test_scorecard_filters_by_status_and_section(site, chromium):
    """The scorecard's tables filter by status and by section of the paper (book/_static/
    scorecard.js), and every status badge carries its definition as a tooltip."""
    html, _, _ = site
    page = html / "book" / "_generated" / "scorecard.html"
    chromium.navigate(page.as_uri())
    js = """(() => {
      const t = document.getElementById('tbl-scorecard-numbers');
      const bar = document.getElementById('sc-filters-tbl-scorecard-numbers');
      const [status, section] = bar.querySelectorAll('select');
      const visible = () => Array.from(t.tBodies[0].rows).filter(r => r.style.display !== 'none');
      const all = t.tBodies[0].rows.length;
      status.value = 'differs'; status.dispatchEvent(new Event('change'));
      const differs = visible().map(r => r.querySelector('.sc-badge').textContent);
      section.value = 'Table 3'; section.dispatchEvent(new Event('change'));
      const both = visible().map(r => [r.cells[0].textContent.trim(),
                                       r.querySelector('.sc-badge').textContent]);
      status.value = ''; section.value = ''; status.dispatchEvent(new Event('change'));
      const titles = Array.from(document.querySelectorAll('.sc-badge')).filter(b => !b.title).length;
      return {all, differs, both, restored: visible().length, untitled: titles,
              count: bar.querySelector('.sc-count').textContent};
    })()"""
    r = chromium.evaluate(js)
    assert r["all"] > 300 and r["restored"] == r["all"]
    assert r["differs"] and set(r["differs"]) == {"differs"}
    assert len(r["both"]) < len(r["differs"]) and all(
        sec == "Table 3" and st == "differs" for sec, st in r["both"])
    assert r["untitled"] == 0 and r["count"] == f"showing {r['all']} of {r['all']}"


# -- the checker itself ------------------------------------------------------------------------

def _png(width: int, height: int) -> bytes:
    """A grey PNG of the given size, made with the standard library."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


BAD_PAGE = """<!DOCTYPE html><html><head><title>bad</title>
<script>window.addEventListener('load', () => { throw new Error('boom on load'); });</script>
<script>console.error('something went wrong');</script>
</head><body><main>
<h1 id="top">Bad page</h1>
<p><a href="good.html#present">fine</a> <a href="good.html#absent">missing fragment</a>
   <a href="nowhere.html">missing page</a> <a href="#top">same page</a>
   <a href="https://example.org/">external, ignored</a></p>
<figure><img src="missing.png" alt="missing"></figure>
<figure><img src="wide.png" alt="tiny" style="width: 120px"></figure>
<table style="width: 2400px"><tr><td>a table far wider than the page</td></tr></table>
<img src="http://192.0.2.1/tracker.png" alt="external">
</main></body></html>
"""

GOOD_PAGE = """<!DOCTYPE html><html><head><title>good</title></head><body><main>
<h1 id="present">Good page</h1><p><a href="bad.html#top">back</a></p>
<figure><img src="wide.png" alt="figure"></figure>
<table><tr><td>small</td></tr></table>
</main></body></html>
"""

SCROLLING_PAGE = """<!DOCTYPE html><html><head><title>scrolling</title></head><body><main>
<h1 id="present">A table in a scroll container</h1>
<div style="overflow-x: auto"><table style="width: 2400px"><tr><td>scrolls</td></tr></table></div>
</main></body></html>
"""


def test_checker_reports_each_kind_of_problem(tmp_path: Path, chromium):
    (tmp_path / "bad.html").write_text(BAD_PAGE, encoding="utf-8")
    (tmp_path / "good.html").write_text(GOOD_PAGE, encoding="utf-8")
    (tmp_path / "wide.png").write_bytes(_png(800, 300))

    links = check_links(tmp_path)
    assert any("good.html#absent" in p and "no id 'absent'" in p for p in links), links
    assert any("nowhere.html" in p and "does not exist" in p for p in links), links
    assert any("missing.png" in p and "does not exist" in p for p in links), links
    assert not any("#present" in p or "#top" in p or "example.org" in p for p in links), links
    assert len(links) == 3, links

    bad = audit_page(chromium, tmp_path / "bad.html", root=tmp_path)
    problems = "\n".join(bad.problems())
    assert any("boom on load" in e for e in bad.script_errors), problems
    assert any("something went wrong" in e for e in bad.console_errors), problems
    assert any("missing.png" in f for f in bad.failed_loads), problems
    assert any("missing.png" in b for b in bad.broken_images), problems
    assert any("192.0.2.1" in r for r in bad.external_requests), problems
    assert any("scrolls horizontally" in p for p in bad.layout_problems), problems
    assert any("2400 px wide" in p and "not in a scroll container" in p
               for p in bad.layout_problems), problems
    assert any("wide.png shown 120 px" in p for p in bad.layout_problems), problems
    assert png_size(bad.screenshot)[0] == WIDTH

    good = audit_page(chromium, tmp_path / "good.html", root=tmp_path)
    assert good.problems() == [], good.problems()
    assert good.n_images == 1 and good.n_tables == 1
    # in a scroll container the page does not overflow, but the table hides columns: a failure
    (tmp_path / "scrolling.html").write_text(SCROLLING_PAGE, encoding="utf-8")
    scrolling = audit_page(chromium, tmp_path / "scrolling.html", root=tmp_path)
    assert len(scrolling.scrolling_tables) == 1
    assert [p for p in scrolling.problems() if "table hides columns" in p] == \
        scrolling.problems() and len(scrolling.problems()) == 1, scrolling.problems()
