"""Candidate formal models of learning, encoded symbolically (sympy) and evaluated numerically.

`theory/` imports neither `sim/` nor `validate/`.
"""

from theory.errors import InputError
from theory.laws import INPUTS, Law, ParamSet, builtin_law_names, builtin_laws, get_law, law_from_spec

__all__ = ["INPUTS", "InputError", "Law", "ParamSet", "builtin_law_names", "builtin_laws", "get_law", "law_from_spec"]
