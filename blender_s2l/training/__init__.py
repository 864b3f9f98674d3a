"""Corpus generation, datasets, training and evaluation. Excluded from the extension zip."""
