"""The data dictionary and template files, derived from :mod:`analysis_lib.schema`."""

from __future__ import annotations

import pandas as pd

from .schema import TableSchema
from .validation import RULES

_KIND = {"id": "identifier", "string": "text", "integer": "whole number", "number": "number",
         "boolean": "true/false", "category": "category"}


def field_table(table: TableSchema) -> pd.DataFrame:
    """One row per column of ``table``: name, type, unit, allowed values, whether it may be
    empty, description and where the paper uses it."""
    return pd.DataFrame({
        "Column": [f"`{f.name}`" for f in table.fields],
        "Type": [_KIND[f.kind] for f in table.fields],
        "Unit": [f.unit for f in table.fields],
        "Allowed values": [f.allowed() for f in table.fields],
        "Empty allowed": ["yes" if f.nullable else "no" for f in table.fields],
        "Description": [f.description for f in table.fields],
        "Used in": [f.paper for f in table.fields],
    })


def rules_table() -> pd.DataFrame:
    """The validator's rules and their meaning."""
    return pd.DataFrame({"Rule": [f"`{k}`" for k in RULES], "Meaning": list(RULES.values())})
