"""The methods page's tables are generated, never edited: they equal what
scripts/record_parity.py makes from the recorded parity differences and the list of methods."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import record_parity as rp  # noqa: E402


def test_tables_are_generated_from_the_record_and_the_list_of_methods():
    record = pd.read_csv(rp.RECORD)
    engines = pd.read_csv(rp.ENGINES)
    shown = pd.read_csv(rp.TABLES / "methods.csv", dtype=str, keep_default_na=False)
    fresh = rp.methods_table(engines, record).astype(str)
    pd.testing.assert_frame_equal(shown.astype(str), fresh, check_dtype=False)
    gaps = pd.read_csv(rp.TABLES / "library_gaps.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(gaps.astype(str), rp.gaps_table(record).astype(str))


def test_every_method_names_its_engine_and_the_page_shows_the_tables():
    engines = pd.read_csv(rp.ENGINES).fillna("")
    assert (engines["computed_by"] != "").all() and engines["method"].is_unique
    hand = engines["computed_by"].str.startswith("hand-written")
    assert (engines.loc[hand, "why_hand_written_or_note"] != "").all()
    page = (ROOT / "book" / "methods.md").read_text()
    assert ":file: _tables/methods.csv" in page and ":file: _tables/library_gaps.csv" in page
    assert (pd.read_csv(rp.RECORD)["quantity"].str.startswith("gap: ")).sum() >= 9
