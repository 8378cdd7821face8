"""Array backend selection for the simulators: `--device cpu|gpu|auto`.

CPU: numpy plus Numba CPU kernels. GPU: CuPy arrays plus Numba CUDA kernels that receive CuPy arrays
through the CUDA array interface. Simulators receive a `Backend`; they do not import cupy themselves.

`import cupy` can succeed on a machine without a GPU (then any allocation raises), so availability is
checked by actually allocating, not by ImportError (../shared/PERF_NOTES.md, GPU facts).
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from sim.errors import DeviceUnavailable, InputError

DEVICES = ("cpu", "gpu", "auto")


@dataclass(frozen=True)
class Backend:
    name: str  # "cpu" or "gpu"
    xp: ModuleType  # numpy or cupy
    description: str  # what ran, for run records ("cpu: x86_64, numpy 2.4.6" / "gpu: NVIDIA H200, cupy 13")

    @property
    def is_gpu(self) -> bool:
        return self.name == "gpu"

    def asarray(self, a, dtype=None):
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a) -> np.ndarray:
        """A numpy copy of an array of this backend (a no-op view for numpy arrays)."""
        if self.is_gpu and not isinstance(a, np.ndarray):
            return self.xp.asnumpy(a)
        return np.asarray(a)

    def synchronize(self) -> None:
        if self.is_gpu:
            self.xp.cuda.Device().synchronize()


@functools.lru_cache(maxsize=1)
def gpu_status() -> tuple[bool, str]:
    """(True, device name) when CuPy and Numba CUDA both work here; else (False, why not)."""
    try:
        import cupy
    except Exception as exc:  # not installed (the `gpu` extra) or broken install
        return False, f"CuPy is not importable ({type(exc).__name__}); install the 'gpu' extra"
    try:
        if not cupy.cuda.is_available():
            return False, "CuPy finds no CUDA device"
        x = cupy.arange(4, dtype=cupy.float32)
        float((x * 2).sum())  # exercises NVRTC: the wheel without its ctk extra fails here
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception as exc:
        return False, f"CuPy cannot use the GPU ({type(exc).__name__}: {exc})".splitlines()[0]
    try:
        from numba import cuda

        if not cuda.is_available():
            return False, "Numba CUDA finds no usable device"
    except Exception as exc:
        return False, f"Numba CUDA is not usable ({type(exc).__name__})"
    return True, name


def cpu_backend() -> Backend:
    return Backend("cpu", np, f"cpu: {platform.machine()}, numpy {np.__version__}")


def get_backend(device: str = "cpu") -> Backend:
    """The backend for ``device``: cpu, gpu (an error if none works) or auto (gpu when one works)."""
    if device not in DEVICES:
        raise InputError("device", f"must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return cpu_backend()
    ok, info = gpu_status()
    if not ok:
        if device == "gpu":
            raise DeviceUnavailable("device", f"gpu was asked for but none works here: {info}")
        return cpu_backend()
    import cupy

    return Backend("gpu", cupy, f"gpu: {info}, cupy {cupy.__version__}")
