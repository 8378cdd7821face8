"""Typer command definitions, one module per area; `cli.py` assembles them.

Each module exposes ``register(apps)`` where ``apps`` is `commands.common.Apps`. Commands are thin:
they parse and validate options, call one function of `theory/`, `sim/` or `validate/`, and print.
"""
