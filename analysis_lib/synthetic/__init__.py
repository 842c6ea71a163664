"""The labelled synthetic cohort: the generator and its calibration to the published aggregates."""
