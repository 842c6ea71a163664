"""The data dictionary and template files, derived from :mod:`analysis_lib.data.schema`."""

from __future__ import annotations

import pandas as pd

from ..core.formatting import prose
from .schema import TableSchema
from .validation import RULES, SEVERITIES, severity

#: Readable names of the schema's field kinds (data dictionary page and Excel template).
KIND_NAMES = {"id": "identifier", "string": "text", "integer": "whole number", "number": "number",
         "boolean": "true/false", "category": "category"}


def field_table(table: TableSchema) -> pd.DataFrame:
    """One row per column of ``table`` (four columns, readable on a laptop screen): name;
    type and unit; allowed values and whether the cell may be empty; description and where
    the paper uses it."""
    return pd.DataFrame({
        "Column": [f"`{f.name}`" for f in table.fields],
        "Type (unit)": [KIND_NAMES[f.kind] + (f" ({prose(f.unit)})" if f.unit else "")
                        for f in table.fields],
        "Allowed values": [f.allowed() + ("; may be empty" if f.nullable else "")
                           for f in table.fields],
        "Description": [prose(f.description) + (f" *Paper: {f.paper}.*" if f.paper else "")
                        for f in table.fields],
    })


def rules_table() -> pd.DataFrame:
    """The validator's rules, in order of severity: the level each is checked at (a problem
    at one level stops the checks that depend on it) and its meaning."""
    return pd.DataFrame({"Rule": [f"`{k}`" for k in RULES],
                         "Level": [SEVERITIES[severity(k, 1)] for k in RULES],
                         "Meaning": list(RULES.values())})
