"""Disclosure control for books built from real cohorts.

Two safeguards, both applied by the library so that no notebook has to remember them:

1. **Pseudonymised patient codes.** When the data are not marked synthetic,
   :func:`analysis_lib.data.validation.load_dataset` replaces every ``patient_id`` (in both tables,
   consistently) by a pseudonym ``P001``, ``P002``, … before any analysis sees the data. The
   numbering is a keyed permutation: patients are ranked by HMAC-SHA256 of their code under a
   key derived from the bytes of the data files themselves, so the pseudonyms are stable for
   the same input, reveal neither the codes nor the order of the rows or of the codes, and
   cannot be inverted by someone who guesses the coding scheme but lacks the data (the data
   fingerprint shown in the book is a different hash and does not give the key). Listings,
   figure orderings and downloadable tables therefore never carry a real code.
2. **Small-cell suppression** (optional; ``cartbook build --min-cell-count K``). Counts from 1
   to K-1 in the book's tables, in "n (%)" phrases and in the numbers at risk under
   Kaplan–Meier curves are shown as ``<K`` (zeros are shown: an empty cell discloses nothing
   about a patient). This follows the usual rule of statistical disclosure control for
   aggregate tables (e.g. a threshold of 5 or 10; Hundepool et al. 2012, *Statistical
   Disclosure Control*, Wiley, ch. 5). Estimates (medians, hazard ratios, p-values) and
   counts glued into sentences are not suppressed: choose which chapters to publish with
   that in mind.

Reference: Hundepool A, Domingo-Ferrer J, Franconi L, et al. (2012) *Statistical Disclosure
Control*. Wiley. doi:10.1002/9781118348239.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Iterable, Mapping

import pandas as pd

#: Name of the identifier column in every table of the data model.
ID_COLUMN = "patient_id"


def pseudonym_key(data: Iterable[bytes]) -> bytes:
    """The secret key of the pseudonym permutation: SHA-256 over the data files' bytes
    (with a domain prefix, so it differs from the published data fingerprint)."""
    h = hashlib.sha256(b"cartbook pseudonym key v1\0")
    for chunk in data:
        h.update(hashlib.sha256(chunk).digest())
    return h.digest()


def pseudonym_map(codes: Iterable[str], key: bytes) -> dict[str, str]:
    """Map each distinct patient code to ``P001``, ``P002``, … in the order of
    HMAC-SHA256(key, code); the width grows with the number of patients (at least 3)."""
    distinct = sorted({str(c) for c in codes if not pd.isna(c)})
    ranked = sorted(distinct, key=lambda c: hmac.new(key, c.encode("utf-8"),
                                                     hashlib.sha256).digest())
    width = max(3, len(str(len(ranked))))
    return {c: f"P{i:0{width}d}" for i, c in enumerate(ranked, start=1)}


def pseudonymise(tables: Mapping[str, pd.DataFrame], key: bytes,
                 column: str = ID_COLUMN) -> dict[str, pd.DataFrame]:
    """Copies of ``tables`` with ``column`` replaced by pseudonyms, one mapping for all tables
    (a code that appears only in a secondary table still gets a pseudonym)."""
    codes = [c for t in tables.values() if column in t.columns for c in t[column]]
    mapping = pseudonym_map(codes, key)
    out = {}
    for name, t in tables.items():
        t = t.copy()
        if column in t.columns:
            t[column] = t[column].map(lambda c: mapping.get(str(c), c) if not pd.isna(c) else c)
        out[name] = t
    return out
