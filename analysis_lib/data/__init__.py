"""The data model and its input: schema, readers and writers, validation, pseudonyms, the data dictionary and the own-data templates."""
