"""Commands over the law objects: `laws`, `predict LAW`, `derive LAW`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from commands.common import JSON_OPTION_HELP, Apps, CLIError, emit, parse_float, parse_key_values, stdout_console


def laws_command(json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False) -> None:
    """List the built-in laws: inputs, parameters, expression and source."""
    from theory.laws import builtin_laws

    described = [law.describe() for law in builtin_laws()]
    if json_out:
        emit({"laws": [{k: d[k] for k in ("name", "inputs", "params", "expression", "source", "param_sets")} for d in described]})
        return
    from rich.table import Table

    table = Table(title="Built-in laws")
    for col in ("name", "inputs", "expression", "source"):
        table.add_column(col)
    for d in described:
        table.add_row(d["name"], ", ".join(d["inputs"]), d["expression"], d["source"])
    stdout_console.print(table)


def _make_law_predict(law_name: str):
    def predict_law(
        N: Annotated[Optional[str], typer.Option("--N", help="Parameters.")] = None,
        D: Annotated[Optional[str], typer.Option("--D", help="Training tokens.")] = None,
        U: Annotated[Optional[str], typer.Option("--U", help="Unique training tokens (data-constrained laws).")] = None,
        x: Annotated[Optional[str], typer.Option("--x", help="Generic scale (power-law, bnsl).")] = None,
        param: Annotated[list[str], typer.Option("--param", help="Override a parameter: NAME=VALUE (repeatable).")] = [],
        param_set: Annotated[Optional[str], typer.Option("--param-set", help="A built-in parameter set of the law.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
    ) -> None:
        from theory.laws import get_law

        law = get_law(law_name)
        given = {k: v for k, v in {"N": N, "D": D, "U": U, "x": x}.items() if v is not None}
        inputs = {k: parse_float(v, f"--{k}", positive=True) for k, v in given.items()}
        overrides = parse_key_values(param, "--param")
        missing = [n for n in law.input_names if n not in inputs]
        if missing:
            raise CLIError(f"--{missing[0]}", f"law {law_name!r} needs {', '.join('--' + m for m in missing)}")
        loss = float(law.evaluate(inputs, overrides, param_set=param_set))
        if json_out:
            emit({"law": law_name, "inputs": inputs, "loss": loss})
        else:
            stdout_console.print(f"{law_name}: loss = {loss:.6g} at " + ", ".join(f"{k} = {v:.4g}" for k, v in inputs.items()))

    predict_law.__doc__ = f"Loss predicted by the built-in law {law_name!r}."
    return predict_law


def register(apps: Apps) -> None:
    from theory.laws import builtin_law_names

    apps.root.command("laws")(laws_command)
    for name in builtin_law_names():
        apps.predict.command(name)(_make_law_predict(name))
