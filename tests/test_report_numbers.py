"""Numbers of the audit, the simulation chapter and the synthetic-data chapter go through the
book's one formatter (:mod:`analysis_lib.core.formatting`), and the notebooks of the
scorecard, landing page, data dictionary, simulation and synthetic-data chapters glue their
numbers instead of typing them or formatting them with ``:d``."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest

from analysis_lib.core import formatting
from analysis_lib.core.paths import ROOT
from analysis_lib.paper import audit
from analysis_lib.paper import feasibility as fz

FINDINGS = {f.key: f for f in fz.FINDINGS}


# --------------------------------------------------------------------------------------------
# The audit's texts (feasibility findings and consistency checks)
# --------------------------------------------------------------------------------------------

def test_the_il6_findings_write_the_attainable_odds_ratio_as_a_number():
    crs, icans = FINDINGS["il6_or_severe_crs"], FINDINGS["il6_or_icans"]
    assert "jump from 2.188 straight" in crs.reason and "2.1875" not in crs.reason
    assert "jump from 1.143 straight" in icans.reason and "1.1429" not in icans.reason
    # the smallest Fisher p by the p-value rule
    assert "(smallest 0.174)" in crs.reason and "(smallest 0.573)" in icans.reason


def test_table2_findings_write_computed_p_values_by_the_p_rule_and_keep_printed_ones():
    female = FINDINGS["or_severe_crs_female"]
    assert "The CI also implies p = 0.004, not 0.055." in female.reason  # 0.055: printed
    assert "0.0037" not in female.reason + female.arithmetic
    assert "Wald p = 0.004 vs printed 0.055" in female.arithmetic
    pre = FINDINGS["or_severe_crs_pre_ld_low"]
    assert "implies p < 0.001, not 0.007" in pre.reason
    assert "Wald p < 0.001 vs printed 0.007" in pre.arithmetic


def test_no_finding_prints_a_computed_number_with_four_decimals_or_e_notation():
    for f in fz.FINDINGS:
        assert not re.search(r"\d\.\d{4,}", f.reason), (f.key, f.reason)
        assert "e-0" not in f.reason + f.arithmetic, f.key
        for m in re.finditer(r"p (=|>=) (\d\.\d+)", f.arithmetic):
            if len(m.group(2).split(".")[1]) > 3:  # only where the text says why
                assert "decimals show the rounding" in f.arithmetic, (f.key, m.group())
    mwu = FINDINGS["cmax_mwu_mrd_cr"].arithmetic
    assert "p = 0.01748 (prints 0.017)" in mwu and "1.63×10⁻³" in mwu


@pytest.mark.parametrize("p, text", [(0.0205, "0.0205"), (0.01748, "0.0175"),
                                     (0.0036, "0.0036"), (1.6e-4, "1.6×10⁻⁴"),
                                     (2e-6, "2×10⁻⁶"), (0.0, "0")])
def test_audit_p_values_in_a_rounding_interval(p, text):
    assert audit._fmt_p(p) == text


def test_audit_signed_numbers_never_read_minus_zero():
    # the audit writes its signed differences with the book's one helper
    assert audit.signed is formatting.signed
    assert audit.signed(-0.00001, 4) == "0.0000"
    assert audit.signed(0.0157, 4) == "+0.0157" and audit.signed(-0.0321, 4) == "-0.0321"


def test_audit_checks_write_p_values_by_the_p_rule():
    checks = audit.run_audit()
    text = " ".join(checks["recomputed"]) + " ".join(checks["arithmetic"])
    assert "e-0" not in text and "0.0000" not in text and "-0.0000" not in text
    for rec in checks["recomputed"]:
        for m in re.finditer(r"\bp(\(n=\d+\))? = (\d\.\d+)", rec):
            assert len(m.group(2).split(".")[1]) == 3, rec  # a p on its own: 3 decimals
    wald = checks[checks["check"] == "p_from_ratio_ci"]
    with_p = wald[wald["recomputed"].str.startswith("p ")]
    assert len(with_p) > 10
    assert with_p["arithmetic"].str.contains("one decimal more than printed").all()
    row = with_p[with_p["key"] == "or_severe_crs_pre_ld_low"].iloc[0]
    assert row["recomputed"].startswith("p < 0.001 (over the printed rounding: 1.49×10⁻⁴")


# --------------------------------------------------------------------------------------------
# The simulation chapter
# --------------------------------------------------------------------------------------------

def test_signed_differences_never_read_minus_zero():
    from analysis_lib.book import simulation_report as sr

    assert sr.signed(-0.001) == "0.00" and sr.signed(0.004) == "0.00"
    assert sr.signed(0.123) == "+0.12" and sr.signed(-0.126) == "-0.13"
    assert sr.signed(-0.04, 1) == "0.0" and sr.signed(-12.34, 1) == "-12.3"
    assert sr.signed(float("nan")) == "–"
    assert sr.bias_text(-0.001, 0.02) == "0.00 (0.02)"
    assert sr.bias_text(0.31, 0.05, label="MC SE ") == "+0.31 (MC SE 0.05)"


@pytest.fixture(scope="module")
def big_source():
    """The stored simulation study with its largest cohort size renamed to 5,000 (a size
    that needs a thousands separator)."""
    from analysis_lib.simulation import study

    source = study.load_or_run(None, quick_replicates=2, quick_sizes=[50])
    top = source.summary.sizes()[-1]

    def renamed(frame: pd.DataFrame) -> pd.DataFrame:
        if frame is None or "n" not in frame.columns:
            return frame
        return frame.assign(n=frame["n"].where(frame["n"] != top, 5000))

    summary = dataclasses.replace(source.summary, **{
        f.name: renamed(getattr(source.summary, f.name))
        for f in dataclasses.fields(source.summary)})
    return dataclasses.replace(source, summary=summary)


def test_trial_sizes_are_written_as_counts(big_source):
    from analysis_lib.book import simulation_report as sr

    s = big_source.summary
    assert sr.sizes_text([50, 1000, 2000]) == "50, 1,000 and 2,000"
    text = sr.phrases(big_source)
    assert text["n_first"] == "50" and text["n_max"] == "5,000"
    assert text["sizes"].endswith("and 5,000")
    assert "n = 5,000" in sr.cox_table(s).columns
    assert "n = 5,000" in sr.coverage_table(s).columns
    assert "5,000" in set(sr.crs_table(s)["n"]) and "5,000" in set(sr.hsct_table(s)["n"])
    size = sr.sample_size_table(s)
    assert "Power at n = 5,000, %" in size.columns
    assert "n = 5000" not in " ".join(map(str, size.columns))


def test_simulation_tables_have_no_raw_floats_nor_minus_zero(big_source):
    from analysis_lib.book import simulation_report as sr

    s = big_source.summary
    tables = [sr.cox_table(s), sr.coverage_table(s), sr.hsct_table(s), sr.crs_table(s),
              sr.table3_power(s), sr.table3_null(s), sr.sample_size_table(s),
              sr.truth_table(s), sr.scenario_table(s)]
    cells = [str(v) for t in tables for v in t.to_numpy().ravel()]
    cells += list(sr.phrases(big_source).values())
    for c in cells:
        assert not re.search(r"(?<![\d.])-0\.0+(?!\d*[1-9])", c), c   # "-0.00"
        assert "nan" not in c.lower().split(), c
        assert not re.search(r"(?<![\d.,])\d{4,}(?![\d,.])", c) or "`" in c, c  # 5000


# --------------------------------------------------------------------------------------------
# The synthetic-data chapter and the calibration
# --------------------------------------------------------------------------------------------

def test_the_calibration_reads_its_published_counts_from_the_registry(monkeypatch):
    from analysis_lib.paper.registry import load_registry
    from analysis_lib.synthetic import calibration as cal

    reg = load_registry().drop_duplicates("key").set_index("key")["value"]
    assert cal.N_PUBLISHED == reg["n_patients"]
    assert cal.N_SEVERE_CRS_PUBLISHED == reg["t3_crs_grade3_4_n"]
    monkeypatch.setattr(cal, "N_PUBLISHED", 1200)
    monkeypatch.setattr(cal, "N_SEVERE_CRS_PUBLISHED", 190)
    basis = cal._or_target("x", "female", 600, 0.5).se_basis
    assert "margins 600/1,200 exposed, 190/1,200 events" in basis
    assert "/50" not in basis


NOTEBOOKS = ("scorecard", "index", "data_dictionary", "simulation", "synthetic_data")


def _markdown(name: str) -> str:
    """The Markdown cells of a py:percent notebook (the text a reader sees)."""
    text = (ROOT / "notebooks" / f"{name}.py").read_text(encoding="utf-8")
    cells = re.split(r"^# %%", text, flags=re.M)
    return "\n".join(c for c in cells if c.startswith(" [markdown]"))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_glue_counts_as_text_not_with_d(name):
    text = (ROOT / "notebooks" / f"{name}.py").read_text(encoding="utf-8")
    assert not re.search(r"\{glue:text\}`[^`]*:d`", text), name
    assert not re.search(r"\{glue:text\}`[^`]*:\.4f`", text), name


def test_the_synthetic_data_chapter_types_no_numbers_it_can_glue():
    md = _markdown("synthetic_data")
    for typed in ("20,000", "n = 50", "50-patient", "for 50 patients", "3.22", "3.68",
                  "June 2017", "March 2021", "30 June 2025"):
        assert typed not in md, typed
    for glued in ("n_population_text", "n_published_text", "n_shipped_text",
                  "paper_hlh_pre_ld_mrd", "paper_dose_median", "paper_enrolment",
                  "paper_cutoff", "p_beta_typical_text"):
        assert f"{{glue:md}}`{glued}`" in md, glued
    code = (ROOT / "notebooks" / "synthetic_data.py").read_text(encoding="utf-8")
    assert "+.2f" not in code and "n = 50" not in code
