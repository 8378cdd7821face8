"""The one boundary between sympy and numbers.

Every symbolic expression in `theory/` that is evaluated numerically goes through `lambdify_cached`:
it is lambdified once per (expressions, arguments, backend) with common-subexpression elimination and
cached. Lambdified functions are never pickled or shipped between processes (standard pickle fails on
them): ship the law (plain data, see `Law.spec`) and rebuild here on the other side (symfit's rule).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import sympy as sp

BACKENDS = ("numpy", "cupy")


def array_module(backend: str):
    """The array module for a backend name: numpy, or cupy when asked for (imported lazily)."""
    if backend == "numpy":
        import numpy

        return numpy
    if backend == "cupy":
        import cupy  # noqa: F401  (only on the gpu extra)

        return cupy
    raise ValueError(f"unknown numeric backend {backend!r}; expected one of {BACKENDS}")


@functools.lru_cache(maxsize=512)
def _lambdify(exprs: tuple, args: tuple, backend: str) -> Callable:
    modules = [backend] if backend == "numpy" else ["cupy", "numpy"]
    single = len(exprs) == 1
    target = exprs[0] if single else list(exprs)
    return sp.lambdify(args, target, modules=modules, cse=True, dummify=False)


def lambdify_cached(
    exprs: sp.Expr | Sequence[sp.Expr], args: Sequence[sp.Symbol], backend: str = "numpy"
) -> Callable:
    """A cached numeric function of ``args`` computing ``exprs`` (one expression or a list).

    The function broadcasts like the array module does, so parameters may be arrays too (a grid of
    fits evaluates in one call).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown numeric backend {backend!r}; expected one of {BACKENDS}")
    if isinstance(exprs, sp.Basic):
        key = (exprs,)
    else:
        key = tuple(exprs)
        if not all(isinstance(e, sp.Basic) for e in key):
            raise TypeError("lambdify_cached takes sympy expressions, never text")
    return _lambdify(key, tuple(args), backend)
