"""The scorecard: each status on a case that must land in it and a near miss that must not,
the claims, the map (pairing by identity, what each p-value tests, anchors) and the pairing
invariant on Table 3 (with a deliberately shifted pairing that it must catch)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_lib.analyses import kinetics as K
from analysis_lib.paper import registry as rg
from analysis_lib.paper import scorecard as sc

ROOT = Path(__file__).resolve().parent.parent


def row(**kw):
    base = {"value": np.nan, "value_text": "", "statistic": "", "unit": "", "n": None,
            "lower": np.nan, "upper": np.nan, "interval_type": "none"}
    base.update(kw)
    return base


HR_FEMALE = row(value=0.235, value_text="0.235", statistic="hazard_ratio", unit="ratio",
                lower=0.062, upper=0.884, interval_type="ci95")
SIG_BELOW = sc.Evidence(published_direction=(-1,), reproduced_direction=(-1,),
                        published_significant=True, reproduced_significant=True)


def test_printed_precision():
    assert sc.printed_decimals("74.9") == 1
    assert sc.printed_decimals("30,860") == 0
    assert sc.printed_decimals("0.032") == 3
    assert sc.matches_precision("74.9", 74.94) and not sc.matches_precision("74.9", 74.96)
    assert sc.matches_precision("30,860", 30860.4)
    assert sc.matches_precision("<0.001", 0.0004) and not sc.matches_precision("<0.001", 0.002)


# --------------------------------------------------------------------------------------------
# One test per status: a case that lands in it and a near miss that does not
# --------------------------------------------------------------------------------------------

def test_matches_at_the_papers_precision():
    pct = row(value=74.9, value_text="74.9", statistic="percent", unit="%", n=50)
    assert sc.classify(pct, 74.94) == sc.MATCH
    assert sc.classify(pct, 74.96) != sc.MATCH  # rounds to 75.0
    count = row(value=49.0, value_text="Forty-nine", statistic="count")
    assert sc.classify(count, 49) == sc.MATCH
    assert sc.classify(count, 48) == sc.DIFFERS  # counts must be exact


def test_within_sampling_error():
    # 74.9% at n = 50: SE = sqrt(0.749 * 0.251 / 50) * 100 = 6.133 points; 1.96 SE = 12.0
    r = row(value=74.9, value_text="74.9", statistic="percent", unit="%", n=50)
    assert sc.sampling_z(r, 80.0) == pytest.approx(
        (80.0 - 74.9) / (math.sqrt(0.749 * 0.251 / 50) * 100))
    assert sc.classify(r, 86.9) == sc.WITHIN       # z = 1.96 - a hair
    assert sc.classify(r, 87.1) == sc.DIFFERS      # z = 1.99
    # ratios use the published CI on the log scale: SE = (ln 0.884 - ln 0.062) / 3.92
    se = (math.log(0.884) - math.log(0.062)) / 3.92
    assert sc.sampling_z(HR_FEMALE, 0.5) == pytest.approx((math.log(0.5) - math.log(0.235)) / se)
    assert sc.classify(HR_FEMALE, 0.5) == sc.WITHIN
    assert sc.classify(HR_FEMALE, 0.99) != sc.WITHIN  # z = 2.12


def test_an_infeasible_interval_marks_the_interval_not_its_point_estimate():
    # 5-year OS 74.9% (64.8-85.1): the interval is too narrow for 50 patients (audit
    # os_5y_ci). Its SE (5.18) would put 86.0 outside sampling error (z = 2.14); scored without
    # it, on the binomial SE (6.13), 86.0 lies within (z = 1.81).
    r = row(value=74.9, value_text="74.9", statistic="survival_rate", unit="%", n=50,
            lower=64.8, upper=85.1, interval_type="ci95")
    assert sc.classify(r, 86.0) == sc.DIFFERS
    assert sc.classify(r, 86.0, sc.Evidence(interval_infeasible=True)) == sc.WITHIN
    assert sc.classify(r, 86.0, sc.Evidence(interval_infeasible=True)) != sc.INCONSISTENT


def test_same_direction_and_significance_needs_both():
    # outside sampling error (z = 2.12), below 1 and significant in both: direction
    assert sc.classify(HR_FEMALE, 0.99, SIG_BELOW) == sc.DIRECTION
    # near misses: significance differs, or direction differs, or the paper's verdict unknown
    not_sig = sc.Evidence((-1,), (-1,), True, False)
    assert sc.classify(HR_FEMALE, 0.99, not_sig) == sc.DIFFERS
    assert sc.classify(HR_FEMALE, 3.0, sc.Evidence((-1,), (1,), True, True)) == sc.DIFFERS
    assert sc.classify(HR_FEMALE, 0.99, sc.Evidence((-1,), (-1,), None, True)) == sc.DIFFERS


def test_the_issues_two_lenient_credits_are_gone():
    # LFS HR for MRD-CR: paper 0.910 (0.148-5.578), p 0.919; reproduced 0.033, p 0.001
    hr = row(value=0.910, value_text="0.910", statistic="hazard_ratio", unit="ratio",
             lower=0.148, upper=5.578, interval_type="ci95")
    assert sc.classify(hr, 0.033, sc.Evidence((-1,), (-1,), False, True)) == sc.DIFFERS
    p = row(value=0.919, value_text="0.919", statistic="p_value")
    assert sc.classify(p, 0.001, sc.Evidence((-1,), (-1,), False, True)) == sc.DIFFERS
    # OS HR for no CAR-T history: paper 0.128, p 0.057; reproduced 2.8e10 (no events in one
    # group): not estimable, never reproduced
    hr2 = row(value=0.128, value_text="0.128", statistic="hazard_ratio", unit="ratio",
              lower=0.015, upper=1.059, interval_type="ci95")
    why = sc.Evidence((-1,), (1,), False, False, not_estimable="no events in one group")
    assert sc.classify(hr2, 2.8e10, why) == sc.NOT_ESTIMABLE
    assert sc.NOT_ESTIMABLE not in sc.REPRODUCED


def test_not_estimable():
    assert sc.classify(HR_FEMALE, math.inf) == sc.NOT_ESTIMABLE
    assert sc.classify(HR_FEMALE, 0.0) == sc.NOT_ESTIMABLE
    assert sc.classify(HR_FEMALE, 0.2, sc.Evidence(not_estimable="separation")) == \
        sc.NOT_ESTIMABLE
    # near miss: a large but finite estimate with no reason is an estimate (it differs)
    assert sc.classify(HR_FEMALE, 50.0) == sc.DIFFERS


def test_differs():
    p = row(value=0.032, value_text="0.032", statistic="p_value")
    assert sc.classify(p, 0.0324) == sc.MATCH
    assert sc.classify(p, 0.30, sc.Evidence((-1,), (-1,), True, False)) == sc.DIFFERS
    assert sc.classify(p, 0.004, sc.Evidence((-1,), (-1,), True, True)) == sc.DIRECTION


def test_paper_inconsistent():
    r = row(value=319016.0, value_text="319,016", statistic="geometric_mean")
    assert sc.classify(r, 30000.0, sc.Evidence(value_inconsistent=True)) == sc.INCONSISTENT
    # near miss: only the interval is impugned
    assert sc.classify(r, 319016.0, sc.Evidence(interval_infeasible=True)) == sc.MATCH


def test_not_computed():
    assert sc.classify(row(value=1.0, value_text="1"), float("nan")) == sc.NOT_COMPUTED
    # near miss: a Kaplan-Meier median not reached is a value (it differs from a reached one)
    r = {"statistic": "median", "value": 43.3, "value_text": "43.3", "unit": "months"}
    assert sc.classify(r, math.inf) == sc.DIFFERS
    assert sc.classify(r, 43.3) == sc.MATCH


def test_design_not_scored_and_unmapped_need_no_data():
    reg = rg.load_registry()
    card = sc.scorecard(reg, sc.load_map().iloc[0:0], {})
    canon = rg.canonical(reg).set_index("key")
    design = card[card["status"] == sc.DESIGN]
    assert len(design) > 0
    assert set(canon.loc[design["key"], "statistic"]) <= sc.DESIGN_STATISTICS
    unmapped = card[card["status"] == sc.UNMAPPED]
    assert len(unmapped) > 0 and not set(canon.loc[unmapped["key"], "statistic"]) & \
        sc.DESIGN_STATISTICS
    card = sc.scorecard(reg, sc.load_map(), {})
    aside = card[card["status"] == sc.NOT_SCORED]
    assert set(aside["key"]) == {"bca_onset", "hlh_pre_ld_mrd"}
    assert (aside["reason"].str.len() > 20).all()


def test_every_status_has_a_definition_and_a_badge():
    assert set(sc.DEFINITIONS) == set(sc.STATUSES) == set(sc.BADGES)
    assert all(len(d) > 30 for d in sc.DEFINITIONS.values())
    b = sc.badge(sc.MATCH)
    assert 'class="sc-badge sc-match"' in b and "title=" in b and "&#x27;" in b  # escaped '


# --------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------

def _claim(**kw):
    base = {"key": "c", "section": "Toxicity", "claim": "x", "chapter": "ch", "anchor": "",
            "p_keys": "p1", "effect_keys": "", "null": "", "expected_direction": "",
            "expected_significance": "not significant", "note": ""}
    base.update(kw)
    return base


def test_claims_hold_only_when_every_test_agrees():
    glued = {"ch": {"p1": 0.30, "p2": 0.04, "a": 5.0, "b": 3.0, "or": 2.5}}
    assert sc.claim_row(_claim(), glued, 0.05)["status"] == sc.DIRECTION
    # near miss: one of two tests significant where the paper says none is
    assert sc.claim_row(_claim(p_keys="p1;p2"), glued, 0.05)["status"] == sc.DIFFERS
    # a stated direction must hold too
    up = _claim(p_keys="p2", effect_keys="a vs b", expected_direction="higher",
                expected_significance="significant")
    assert sc.claim_row(up, glued, 0.05)["status"] == sc.DIRECTION
    down = dict(up, expected_direction="lower")
    assert sc.claim_row(down, glued, 0.05)["status"] == sc.DIFFERS
    vs_null = _claim(p_keys="p2", effect_keys="or", null="1", expected_direction="higher",
                     expected_significance="significant")
    assert sc.claim_row(vs_null, glued, 0.05)["status"] == sc.DIRECTION
    # not estimable, and not computed
    glued["ch"]["p1__not_estimable"] = "no events in one group"
    r = sc.claim_row(_claim(), glued, 0.05)
    assert r["status"] == sc.NOT_ESTIMABLE and "no events" in r["reason"]
    assert sc.claim_row(_claim(p_keys="missing"), glued, 0.05)["status"] == sc.NOT_COMPUTED


def test_claims_registry_loads_and_validates(tmp_path):
    c = sc.load_claims()
    assert c["key"].is_unique and len(c) >= 30
    assert set(c["chapter"]) <= {"cohort", "kinetics", "survival", "toxicity"}
    assert c["claim"].str.len().min() > 30
    bad = c.iloc[:1].assign(expected_significance="maybe")
    path = tmp_path / "claims.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(ValueError, match="expected_significance"):
        sc.load_claims(path)


# --------------------------------------------------------------------------------------------
# The map
# --------------------------------------------------------------------------------------------

def test_map_refers_to_registry_keys_once():
    reg = rg.load_registry()
    m = sc.load_map()
    assert m["key"].is_unique
    assert set(m["key"]) <= set(rg.canonical(reg)["key"])
    assert set(m["chapter"]) <= {"cohort", "kinetics", "survival", "toxicity", ""}
    assert (m["scale"] > 0).all()


def test_map_scales_are_unit_conversions_not_cohort_sizes():
    # a scale that converts a count to a percentage would only be right for n = 50
    assert set(sc.load_map()["scale"]) <= {1.0, 100.0}


def test_table3_is_mapped_by_identity():
    reg = rg.canonical(rg.load_registry())
    m = sc.load_map().set_index("key")
    t3 = reg.loc[reg["section"] == "Table 3", "key"]
    assert len(t3) == 187 and set(t3) <= set(m.index)
    # every Table 3 cell is glued under its own registry key
    assert (m.loc[t3, "glue_key"] == t3.to_numpy()).all()
    assert (m.loc[t3, "chapter"] == "kinetics").all()


def test_every_mapped_p_value_says_what_it_tests():
    reg = rg.canonical(rg.load_registry()).set_index("key")
    m = sc.load_map()
    for r in m[m["chapter"] != ""].itertuples():
        keys, vs = sc.tested_keys(r.tests)
        if reg.loc[r.key, "statistic"] == "p_value":
            assert keys, f"{r.key}: a p-value needs 'tests'"
            assert set(keys) <= set(reg.index), r.key
            if vs:
                assert len(keys) == 2
                assert {reg.loc[k, "statistic"] for k in keys} == {"median"}
            else:
                assert {reg.loc[k, "statistic"] for k in keys} <= {
                    "hazard_ratio", "odds_ratio", "correlation"}, r.key
        else:
            assert not keys, f"{r.key}: only p-values test something"


def test_table3_p_values_compare_their_own_factor_and_cut():
    m = sc.load_map().set_index("key")
    for key in m.index[m.index.str.contains(r"^t3_.*_p_")]:
        factor, param = re.match(r"t3_(.+)_p_(cmax|auc28|tlast)$", key).groups()
        a, b = sc.tested_keys(m.loc[key, "tests"])[0]
        for k in (a, b):
            assert k.startswith(f"t3_{factor}_") and k.endswith(f"_{param}_median"), (key, k)


def test_every_anchor_is_a_label_of_its_chapter():
    sources = {ch: (ROOT / "notebooks" / f"{ch}.py").read_text(encoding="utf-8")
               for ch in ("cohort", "kinetics", "survival", "toxicity")}

    def defined(ch: str, label: str) -> bool:
        src = sources[ch]
        return (f":name: {label}\n" in src or f'"{label}")' in src or f"({label})=" in src
                or f'tables["{label}"]' in src  # a table the library labels, shown by name
                or (label.startswith("tbl-model-") and '"tbl-model-{m}")' in src))

    m = sc.load_map()
    missing = [(r.key, r.anchor) for r in m[m["chapter"] != ""].itertuples()
               if not r.anchor or not defined(r.chapter, r.anchor)]
    assert not missing, missing
    claims = sc.load_claims()
    missing = [(r.key, r.anchor) for r in claims.itertuples() if not defined(r.chapter, r.anchor)]
    assert not missing, missing


def test_every_published_result_is_mapped_or_left_aside_with_a_reason():
    card = sc.scorecard(rg.load_registry(), sc.load_map(), {})
    assert (card["status"] != sc.UNMAPPED).all(), \
        sorted(card.loc[card["status"] == sc.UNMAPPED, "key"])


def test_map_rows_need_a_chapter_or_a_reason_but_not_both(tmp_path):
    for line in ("x,,,,,,", "x,survival,k,1,,,because"):
        p = tmp_path / "map.csv"
        p.write_text("key,chapter,glue_key,scale,anchor,tests,not_scored\n" + line + "\n")
        with pytest.raises(ValueError, match="not_scored"):
            sc.load_map(p)


# --------------------------------------------------------------------------------------------
# The pairing invariant, on a small cohort (the built-book version is in test_book.py)
# --------------------------------------------------------------------------------------------

#: The paper's Table 3 factor names -> the kinetics table's labels; an oracle independent of
#: the identity keys (it reads the registry's printed row labels).
PAPER_FACTORS = {"Age, y": "Age, years", "Sex": "Sex", "HSCT history": "HSCT history",
                 "CAR-T history": "CAR-T history", "CAR-T dose": "CAR-T dose, ×10⁶ cells/kg",
                 "CRS": "CRS grade", "ICANS": "ICANS", "Grade 4 neutropenia": "Grade 4 neutropenia",
                 "Tocilizumab": "Tocilizumab", "Steroids": "Steroids",
                 "MRD-CR on Day 28": "MRD-CR on day 28"}
_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def paper_row(table_row: str) -> tuple[str, str]:
    """(label, level) of the kinetics table for a registry Table 3 row label."""
    factor, level = table_row.split(" | ")
    level = level.split(" vs ")[0]
    if factor in ("Pre-LD MRD", "Post-LD MRD"):
        exp = re.search(r"10\^(-\d+)", level).group(1)
        return f"{factor} (cut 10{exp.translate(_SUP)})", level.replace(
            f"10^{exp}", f"10{exp.translate(_SUP)}")
    level = {"0-10": "0–10", "0-2": "0–2", "3-4": "≥3", "≥3.68×10^6 cells/kg": "≥3.68",
             "<3.68×10^6 cells/kg": "<3.68"}.get(level, level)
    return PAPER_FACTORS[factor], level


_COLUMN = {"N": "n", "Median Cmax": "cmax_median", "Median AUC0-28d": "auc_median",
           "Median Tlast": "tlast_median", "p Cmax": "p_cmax", "p AUC0-28d": "p_auc",
           "p Tlast": "p_tlast"}


def pairing_mismatches(card: pd.DataFrame, table3: pd.DataFrame) -> list[tuple]:
    """Table 3 numbers whose scorecard value is not the value of the chapter's table row that
    the paper's printed label names."""
    reg = rg.canonical(rg.load_registry()).set_index("key")
    shown = table3.set_index(["label", "level"])
    out = []
    for r in card[card["section"] == "Table 3"].itertuples():
        label, level = paper_row(reg.loc[r.key, "table_row"])
        want = float(shown.loc[(label, level), _COLUMN[reg.loc[r.key, "table_column"]]])
        got = r.reproduced
        if not (got == want or (math.isnan(got) and math.isnan(want))):
            out.append((r.key, got, want))
    return out


def _params(n: int = 60, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "patient_id": [f"p{i}" for i in range(n)], "age_years": rng.uniform(1, 18, n),
        "sex": rng.choice(["male", "female"], n), "prior_hsct": rng.random(n) < 0.2,
        "prior_cart": rng.random(n) < 0.1, "mrd_pre_ld": 10 ** rng.uniform(-6, -1, n),
        "mrd_post_ld": 10 ** rng.uniform(-6, -1, n), "cart_dose_1e6_per_kg": rng.uniform(0.5, 6, n),
        "crs_grade": rng.integers(0, 5, n), "icans_grade": rng.integers(0, 2, n),
        "neutropenia_grade4": rng.random(n) < 0.5, "tocilizumab": rng.random(n) < 0.3,
        "corticosteroids": rng.random(n) < 0.2, "mrd_cr": rng.random(n) < 0.9,
        "cmax": 10 ** rng.uniform(3, 6, n), "auc_0_28": 10 ** rng.uniform(4, 7, n),
        "tlast": rng.choice([14.0, 28.0, 84.0, 182.0], n)})


def test_pairing_invariant_holds_and_catches_a_shifted_pairing():
    t3 = K.table3(_params())
    glued = {"kinetics": K.table3_cells(t3)}
    reg = rg.load_registry()
    card = sc.scorecard(reg, sc.load_map(), glued)
    assert pairing_mismatches(card, t3) == []
    # shift the pairing by one factor, as the old label matching did after "Pre-LD MRD"
    factors = list(dict.fromkeys(t3["factor"]))
    shift = dict(zip(factors, factors[1:] + factors[:1]))
    shifted = {}
    for key, v in glued["kinetics"].items():
        f = next(f for f in sorted(factors, key=len, reverse=True) if key.startswith(f"t3_{f}_"))
        level_ids = dict(zip(t3.loc[t3["factor"] == f, "level_id"],
                             t3.loc[t3["factor"] == shift[f], "level_id"]))
        rest = key[len(f"t3_{f}_"):]
        lid = next((x for x in level_ids if rest.startswith(x + "_")), None)
        rest = rest if lid is None else level_ids[lid] + rest[len(lid):]
        shifted[f"t3_{shift[f]}_{rest}"] = v
    bad = pairing_mismatches(sc.scorecard(reg, sc.load_map(), {"kinetics": shifted}), t3)
    assert len(bad) > 150  # nearly every Table 3 number is caught
