"""Every page that shows the analysed cohort writes its counts as text glued through the
book's formatter (``suppression.count_text``/``formatting.count``), never with myst-nb's
``{glue:text}`key:d``` (an int: no thousands separator, and it cannot read "<5" under
small-cell suppression).

The own-data and parameters pages are exempt: their integers describe the worked example
files and the options registry (fields, exit codes, options), not the analysed cohort.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXEMPT = {"own_data", "parameters"}
INTEGER_GLUE = re.compile(r"\{glue:text\}`[^`:]+:[^`]*d`")


@pytest.mark.parametrize("name", sorted(p.stem for p in NOTEBOOKS.glob("*.py")
                                        if p.stem not in EXEMPT))
def test_no_page_of_the_cohort_shows_a_count_as_an_integer_glue(name):
    text = (NOTEBOOKS / f"{name}.py").read_text(encoding="utf-8")
    assert INTEGER_GLUE.findall(text) == []


def test_the_pattern_finds_integer_glues():
    assert INTEGER_GLUE.findall("{glue:text}`n_patients:d` and {glue:text}`x:,d`") == [
        "{glue:text}`n_patients:d`", "{glue:text}`x:,d`"]
    assert INTEGER_GLUE.findall("{glue:md}`n_patients_text` {glue:text}`r:.2f`") == []
