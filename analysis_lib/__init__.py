"""analysis_lib: shared helpers for the re-analysis of Wang et al. 2025 (Front. Immunol.
16:1672509), CD19 CAR-T in paediatric B-ALL with MRD positivity or chemotherapy intolerance.

Subpackages by responsibility, each importing only the ones listed before it (enforced by
``tests/test_layers.py``):

1. :mod:`~analysis_lib.core`: units, number formatting, small-cell suppression, paths;
2. :mod:`~analysis_lib.data`: the data model, readers and writers, validation, pseudonyms,
   the data dictionary and the own-data templates;
3. :mod:`~analysis_lib.stats`: the thin method layer (survival, Cox, competing risks,
   logistic regression, rank tests, 2×2 tables, ROC, NCA);
4. :mod:`~analysis_lib.paper`: the published paper as data (registry, claims, audit,
   scorecard);
5. :mod:`~analysis_lib.analyses`: the paper's chapters (cohort, kinetics, survival, toxicity);
6. :mod:`~analysis_lib.synthetic`: the labelled synthetic cohort and its calibration;
7. :mod:`~analysis_lib.simulation`: the simulation study of the paper's analysis plan on
   synthetic trials, on Dask distributed;
8. :mod:`~analysis_lib.book`: the notebook pipeline, tables and glue, figures and the Sphinx
   extension;

and the command line, :mod:`analysis_lib.cli`, on top.
"""

__version__ = "0.1.0"
