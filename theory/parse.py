"""User-defined laws from text, by a whitelist: never eval, exec or sympify.

``parse_law("E + A/N**alpha + B/D**beta")`` reads the text with Python's own parser in ``eval`` mode
(`ast.parse` only builds a syntax tree; nothing is run), then walks the tree and builds the sympy
expression node by node. Only these nodes are accepted:

- numbers (finite ints and floats), names, parentheses (they leave no node);
- binary ``+ - * / **`` and unary ``-`` / ``+``;
- calls ``exp(x)``, ``log(x)``, ``sqrt(x)``, ``min(x, y, ...)``, ``max(x, y, ...)``, positional only.

Names N, D, C, P, U, x are the inputs of `theory.laws.INPUTS`; every other name is a parameter (a
positive symbol). Anything else (attributes, subscripts, strings, lambdas, comparisons, other
functions, keyword arguments, ``^``) raises ``InputError("law", ...)`` with one line saying why.
"""

from __future__ import annotations

import ast
import functools
import math

import sympy as sp

from theory.errors import InputError
from theory.laws import INPUTS, SPEC_BUILDERS, Law, param_symbol

MAX_LAW_CHARS = 500  # a law is a formula, not a program; also bounds the parser's recursion
MAX_PARAMS = 32
MAX_NAME_CHARS = 32
# Integers up to this size stay exact; larger ones become floats, so a power of two literals can
# never ask sympy for an exact integer with billions of digits.
_EXACT_INT_LIMIT = 10**6

_FUNCTIONS_ONE_ARG = {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt}
_FUNCTIONS_MANY_ARGS = {"min": sp.Min, "max": sp.Max}
_FUNCTION_NAMES = set(_FUNCTIONS_ONE_ARG) | set(_FUNCTIONS_MANY_ARGS)
_ALLOWED_FUNCTIONS_TEXT = "exp, log, sqrt, min, max"

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_OPERATOR_HINTS = {
    ast.BitXor: "'^' is not a power here; write ** (e.g. N**alpha)",
    ast.FloorDiv: "'//' is not allowed; use /",
    ast.Mod: "'%' is not allowed",
    ast.MatMult: "'@' is not allowed",
    ast.LShift: "'<<' is not allowed",
    ast.RShift: "'>>' is not allowed",
    ast.BitOr: "'|' is not allowed",
    ast.BitAnd: "'&' is not allowed",
}


def _refuse(problem: str) -> InputError:
    return InputError("law", problem)


class _Builder:
    """Walks an `ast` tree of an expression and builds sympy from the whitelisted nodes only."""

    def __init__(self) -> None:
        self.params: dict[str, sp.Symbol] = {}  # in order of first appearance
        self.inputs_used: set[str] = set()

    def build(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant):
            return self._number(node.value)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.build(node.operand)
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand)
            raise _refuse("only unary minus and plus are allowed (no 'not', no '~')")
        if isinstance(node, ast.Call):
            return self._call(node)
        raise _refuse(f"{_describe(node)} is not allowed; use numbers, names, + - * / **, parentheses and {_ALLOWED_FUNCTIONS_TEXT}")

    def _number(self, value: object) -> sp.Expr:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refuse(f"only numbers are allowed as constants, not {type(value).__name__} {value!r}"[:160])
        if isinstance(value, int) and abs(value) <= _EXACT_INT_LIMIT:
            return sp.Integer(value)
        as_float = float(value) if abs(value) < 1e308 else math.inf
        if not math.isfinite(as_float):
            raise _refuse("numbers must be finite")
        return sp.Float(as_float)

    def _name(self, name: str) -> sp.Expr:
        if name in _FUNCTION_NAMES:
            raise _refuse(f"{name} is a function; call it as {name}(...)")
        if name.startswith("_"):
            raise _refuse(f"names must not start with '_': {name[:MAX_NAME_CHARS]!r}")
        if len(name) > MAX_NAME_CHARS:
            raise _refuse(f"names are at most {MAX_NAME_CHARS} characters")
        if not name.isascii():
            raise _refuse(f"names must be ASCII: {name!r}")
        if name in INPUTS:
            self.inputs_used.add(name)
            return INPUTS[name]
        if name not in self.params:
            if len(self.params) >= MAX_PARAMS:
                raise _refuse(f"at most {MAX_PARAMS} parameters")
            self.params[name] = param_symbol(name)
        return self.params[name]

    def _binary(self, node: ast.BinOp) -> sp.Expr:
        op = type(node.op)
        if op in _OPERATOR_HINTS:
            raise _refuse(_OPERATOR_HINTS[op])
        left, right = self.build(node.left), self.build(node.right)
        if op is ast.Pow:
            if left.is_number and right.is_number:
                # Evaluate numeric powers in floating point: an exact 999999**999999 would hang.
                try:
                    value = float(left) ** float(right)
                except (OverflowError, ZeroDivisionError, TypeError, ValueError):
                    raise _refuse("a power of two numbers is not a finite real number") from None
                if isinstance(value, complex) or not math.isfinite(value):
                    raise _refuse("a power of two numbers is not a finite real number")
                return sp.Float(value)
            return left**right
        if op is ast.Div and right.is_zero:
            raise _refuse("division by zero")
        return _BINARY[op](left, right)

    def _call(self, node: ast.Call) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            raise _refuse(f"only calls of {_ALLOWED_FUNCTIONS_TEXT} by name are allowed")
        name = node.func.id
        if name not in _FUNCTION_NAMES:
            raise _refuse(f"unknown function {name[:MAX_NAME_CHARS]!r}; allowed: {_ALLOWED_FUNCTIONS_TEXT}")
        if node.keywords:
            raise _refuse(f"{name}() takes no keyword arguments")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise _refuse(f"{name}() takes no *arguments")
        args = [self.build(a) for a in node.args]
        if name in _FUNCTIONS_ONE_ARG:
            if len(args) != 1:
                raise _refuse(f"{name}() takes exactly one argument, got {len(args)}")
            return _FUNCTIONS_ONE_ARG[name](args[0])
        if len(args) < 2:
            raise _refuse(f"{name}() takes at least two arguments, got {len(args)}")
        return _FUNCTIONS_MANY_ARGS[name](*args)


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access (a.b)",
        ast.Subscript: "subscripting (a[b])",
        ast.Lambda: "lambda",
        ast.Compare: "a comparison",
        ast.BoolOp: "and/or",
        ast.IfExp: "an if-expression",
        ast.List: "a list",
        ast.Tuple: "a tuple (a comma)",
        ast.Dict: "a dict",
        ast.Set: "a set",
        ast.JoinedStr: "an f-string",
        ast.NamedExpr: "an assignment (:=)",
        ast.Starred: "a starred expression",
        ast.ListComp: "a comprehension",
        ast.GeneratorExp: "a generator",
        ast.Await: "await",
        ast.Slice: "a slice",
    }
    return names.get(type(node), type(node).__name__)


def parse_law(text: str, *, name: str = "custom") -> Law:
    """A `Law` from formula text such as ``"E + A/N**alpha + B/D**beta"`` (whitelist; see module doc).

    The law has no built-in parameter values (give them with ``--param``); its ``builder`` is
    ``("text", text, name)`` so `theory.laws.law_from_spec` rebuilds it in another process.
    Cached: the same text and name give the same object.
    """
    if not isinstance(text, str) or not isinstance(name, str):
        raise _refuse("the law and its name must be text")
    return _parse_law_cached(text, name)


@functools.lru_cache(maxsize=256)
def _parse_law_cached(text: str, name: str) -> Law:
    stripped = text.strip()
    if not stripped:
        raise _refuse("empty law text; write a formula such as 'E + A/N**alpha + B/D**beta'")
    if len(stripped) > MAX_LAW_CHARS:
        raise _refuse(f"law text is {len(stripped)} characters; at most {MAX_LAW_CHARS}")
    if "\x00" in stripped:
        raise _refuse("law text contains a NUL character")
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise _refuse(f"not a formula ({exc.msg}{where})") from None
    except (RecursionError, MemoryError, ValueError):
        raise _refuse("the formula is nested too deeply") from None
    builder = _Builder()
    try:
        expr = builder.build(tree.body)
    except RecursionError:
        raise _refuse("the formula is nested too deeply") from None
    if not builder.inputs_used:
        raise _refuse(f"the law uses none of the inputs {', '.join(INPUTS)}")
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise _refuse("the formula is not finite (division by zero or an infinite constant)")
    inputs = tuple(sym for key, sym in INPUTS.items() if key in builder.inputs_used)
    return Law(
        name=name,
        expr=expr,
        inputs=inputs,
        params=tuple(builder.params.values()),
        param_sets=(),
        description=f"user law {stripped!r}",
        source="user text (whitelist-parsed)",
        builder=("text", text, name),
    )


def _rebuild_text_law(text: str, name: str = "custom") -> Law:
    return parse_law(text, name=name)


SPEC_BUILDERS["text"] = _rebuild_text_law
