"""Torch models (S2L, S2D, upper face) and their safe checkpoint format."""
