"""Fast, real training: kernel and random-feature regression, teacher-student perceptrons, toy
byte-level transformers. numpy + Numba on CPU, CuPy + Numba CUDA on GPU.

`sim/` imports neither `theory/` nor `validate/`.
"""
