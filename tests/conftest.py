"""Shared pytest configuration.

R-parity tests (``@pytest.mark.r_parity``) compare the Python results with R computed live.
Without a working ``Rscript`` (with the ``survival`` package) they are skipped locally, but in
CI (environment variable ``CI`` set to anything other than ``""``, ``0``, ``false``, ``no``)
they fail instead: a skipped parity test must never count as a pass there. Browser tests
(``@pytest.mark.browser``, headless Debian ``chromium``) follow the same rule.

``built_book`` builds the book from the shipped data once per test session.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # make tests/rparity.py importable

from browser import chromium_available, chromium_path  # noqa: E402
from rparity import r_available, rscript_path  # noqa: E402


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to a true-ish value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def _r_missing_reason() -> str:
    exe = rscript_path()
    if exe is None:
        return "Rscript not found (install R or set RSCRIPT)"
    return f"{exe} cannot load the required R package(s) (survival)"


@functools.lru_cache(maxsize=1)
def _chromium_ok() -> bool:
    return chromium_available()


def _chromium_missing_reason() -> str:
    exe = chromium_path()
    if exe is None:
        return "chromium not found (apt-get install chromium, or set CHROMIUM)"
    return f"{exe} --version fails"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    browser = [item for item in items if item.get_closest_marker("browser") is not None]
    if browser and not in_ci() and not _chromium_ok():
        skip = pytest.mark.skip(reason=f"browser: {_chromium_missing_reason()}")
        for item in browser:
            item.add_marker(skip)  # in CI, pytest_runtest_setup below fails them instead

    parity = [item for item in items if item.get_closest_marker("r_parity") is not None]
    if not parity or r_available():
        return
    if in_ci():
        return  # pytest_runtest_setup below turns each of them into a failure
    skip = pytest.mark.skip(reason=f"R parity: {_r_missing_reason()}")
    for item in parity:
        item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Runs before any fixture (some of which call R) is set up.
    if item.get_closest_marker("r_parity") is not None and in_ci() and not r_available():
        pytest.fail(f"R parity test cannot run in CI: {_r_missing_reason()}. "
                    "CI must provide R; these tests are not allowed to be skipped there.",
                    pytrace=False)
    if item.get_closest_marker("browser") is not None and in_ci() and not _chromium_ok():
        pytest.fail(f"Browser test cannot run in CI: {_chromium_missing_reason()}. "
                    "CI must provide chromium; these tests are not allowed to be skipped there.",
                    pytrace=False)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The book built once per session from the shipped synthetic data (``<tmp>/_build``).

    ``CARTBOOK_TEST_BUILD=<build folder>`` checks an existing build instead (e.g. one of
    ``benchmarks/bench_scale.py --keep``: the browser checks of a 5,000-patient book)."""
    from analysis_lib.book.pipeline import ROOT, build_book

    given = os.environ.get("CARTBOOK_TEST_BUILD", "").strip()
    if given:
        build = Path(given).resolve()
        assert (build / "html" / "index.html").is_file(), f"no built book in {build}"
        return build
    build = tmp_path_factory.mktemp("book") / "_build"
    result = build_book(ROOT / "data" / "synthetic", build, force=True)
    assert result.book_built
    assert {r.status for r in result.notebooks} == {"executed"}
    return build


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    from rparity import MAX_REL_DIFF

    if not MAX_REL_DIFF:
        return
    record = os.environ.get("RPARITY_RECORD")
    if record:  # scripts/record_parity.py: the measured differences for the methods page
        lines = ["quantity,max_rel_diff"] + [f'"{q}",{v:.3e}'
                                            for q, v in sorted(MAX_REL_DIFF.items())]
        Path(record).write_text("\n".join(lines) + "\n", encoding="utf-8")
    terminalreporter.section("R parity: max relative difference from R (finite values)")
    width = max(map(len, MAX_REL_DIFF))
    for quantity, rel in sorted(MAX_REL_DIFF.items()):
        terminalreporter.write_line(f"{quantity:<{width}}  {rel:.3e}")
