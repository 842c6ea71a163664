"""The book's figures: one module per chapter, one style (:mod:`.style`)."""
