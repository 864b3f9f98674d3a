"""The networks (S2L, S2D), the upper-face basis and their runtime .npz format; load.py is the
one way a bake gets them, on the CPU with numpy or on CUDA with torch."""
