"""analysis_lib: shared helpers for the re-analysis of Wang et al. 2025 (Front. Immunol.
16:1672509), CD19 CAR-T in paediatric B-ALL with MRD positivity or chemotherapy intolerance.

Modules are named after the domain: :mod:`schema` (data model), :mod:`io` (readers and
writers), :mod:`validation`, :mod:`synthetic` (the labelled synthetic cohort), :mod:`cohort`
(descriptive statistics), :mod:`survival`, :mod:`report` (tables and glue for the book) and
:mod:`pipeline` (papermill execution and the book build).
"""

__version__ = "0.1.0"
