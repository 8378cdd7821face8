"""Fast, real training: kernel and random-feature regression, teacher-student perceptrons, toy
byte-level transformers. numpy + Numba on CPU, CuPy + Numba CUDA on GPU.

`sim/` imports neither `theory/` nor `validate/`.
"""

import os as _os
import sys as _sys

# One Numba threading layer for every simulator, chosen before any parallel launch fixes it for the
# process: "workqueue" sleeps between parallel regions, while the OpenMP layer spins and fights BLAS
# (and every other process) for the cores — about 10x slower on the toy transformer's config (a) on
# 2 cores (sim/transformer/kernels_cpu.py). numba.set_num_threads launches the layer, so a sweep worker
# that capped Numba's threads before importing the transformer kernels used to get OpenMP. Setting the
# variable also reaches worker processes; an explicit NUMBA_THREADING_LAYER from the user wins.
if "NUMBA_THREADING_LAYER" not in _os.environ:
    _os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
    if "numba" in _sys.modules:
        _sys.modules["numba"].config.THREADING_LAYER = "workqueue"
