"""The data dictionary is generated from the schema and documents every column and rule."""

from analysis_lib.core.formatting import prose
from analysis_lib.data import schema
from analysis_lib.data.datadict import field_table, rules_table
from analysis_lib.data.validation import RULES


def test_every_schema_field_is_documented_with_type_and_allowed_values():
    for table in schema.TABLES:
        t = field_table(table)
        assert t["Column"].tolist() == [f"`{f.name}`" for f in table.fields]
        for f, (_, row) in zip(table.fields, t.iterrows()):
            assert row["Description"].startswith(prose(f.description))
            # units as the book writes them (10^6 -> 10⁶)
            assert (f"({prose(f.unit)})" in row["Type (unit)"]) == bool(f.unit)
            assert row["Allowed values"].endswith("; may be empty") == f.nullable
            for c in f.categories:
                assert f"`{c}`" in row["Allowed values"]


def test_bounds_are_shown():
    row = field_table(schema.PATIENTS).set_index("Column").loc["`age_years`"]
    assert row["Allowed values"] == "0 to 25"


def test_every_rule_is_in_the_rules_table():
    assert rules_table()["Rule"].tolist() == [f"`{r}`" for r in RULES]


def test_rules_are_listed_by_level_of_severity():
    from analysis_lib.data.validation import SEVERITIES

    levels = rules_table()["Level"].tolist()
    assert set(levels) == set(SEVERITIES)
    assert [SEVERITIES.index(v) for v in levels] == sorted(SEVERITIES.index(v) for v in levels)
    table = rules_table().set_index("Rule")["Level"]
    assert table["`header_not_found`"] == "files and structure"
    assert table["`field_count`"] == "records"
    assert table["`unknown_patient`"] == "across tables"
