"""The book: notebook pipeline, tables and glue, figures, and the Sphinx extension."""
