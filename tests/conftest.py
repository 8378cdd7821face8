"""Test-suite settings.

- Numba CUDA kernels run under the CUDA simulator where no GPU is present (CI), so every kernel is
  checked against its numpy reference everywhere; set before anything imports numba.cuda.
- Hypothesis: no deadline (the first call of a Numba function compiles), derandomized in CI so a run
  is reproducible, a modest example count to keep the suite under ~15 minutes on 2 cores.
"""

import os
import shutil

if shutil.which("nvidia-smi") is None:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", deadline=None, max_examples=40, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "default")
