"""Bottom layer: units, number formatting and small-cell suppression, importable by every other layer."""
