"""The thin method layer: each statistical method the book uses, on the design's libraries (statsmodels, scipy, firthmodels, comprisk) where they meet R, hand-written where none does."""
