"""Commands over the law objects: `laws`, `predict LAW`, `predict custom`, `derive LAW`.

Thin typer shells over `theory.laws`, `theory.parse`, `theory.optimal` and `theory.tricks`; sympy and
numpy are imported inside the command functions so ``python cli.py --help`` stays fast.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from commands.common import JSON_OPTION_HELP, Apps, CLIError, emit, parse_float, parse_float_list, parse_key_values, stdout_console

# The built-in law names, spelled out so registering the commands does not import sympy;
# tests/test_cli_theory.py checks this list against theory.laws.builtin_law_names().
BUILTIN_LAW_NAMES = ("kaplan2020", "chinchilla", "chinchilla-rounded", "chinchilla-epoch", "muennighoff2023", "bnsl", "power-law")

# Mirrors theory.tricks.TRICK_SYNTAX (checked equal in tests) for the same reason.
TRICK_HELP = (
    "A trick, for its effective-compute multiplier M(C) (needs --C): "
    "compute:M (M x compute), params:M (effective N x M), data:M (effective D x M), "
    "alpha:+X / beta:+X (exponent of N / D changed by X), floor:-X (E lowered by X), "
    "unique-data:U (only U unique tokens, repeated per Muennighoff 2023), none"
)
TRICK_SYNTAX_TEXT = TRICK_HELP.split(": ", 1)[1]
REFERENCE_COMPUTE = 5.88e23  # Chinchilla's training compute (Hoffmann et al. 2022), the figures' reference

ParamOption = Annotated[list[str], typer.Option("--param", help="A parameter value NAME=VALUE (repeatable); overrides the parameter set.")]
ParamSetOption = Annotated[Optional[str], typer.Option("--param-set", help="A built-in parameter set of the law (default: its first).")]
JsonOption = Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)]


def laws_command(json_out: JsonOption = False) -> None:
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


# --- shared steps ----------------------------------------------------------------------------------

def _resolve_law(law_name: str, law_text: Optional[str]):
    """The law to use: a built-in by name, or 'custom' parsed from --law (whitelist, never eval)."""
    from theory.laws import get_law

    if law_name == "custom":
        if law_text is None:
            raise CLIError("--law", "predict custom needs --law, e.g. --law 'E + A/N**alpha + B/D**beta'")
        from theory.parse import parse_law

        return parse_law(law_text, name="custom")
    if law_text is not None:
        raise CLIError("--law", f"--law is for the custom law; {law_name!r} is built in")
    return get_law(law_name)


def _param_values(law, param: list[str], param_set: Optional[str]) -> dict[str, float]:
    overrides = parse_key_values(param, "--param")
    return law.param_values(param_set, overrides)


def _check_finite(value, what: str) -> None:
    import numpy as np

    if not np.all(np.isfinite(np.asarray(value, dtype=float))):
        raise CLIError("law", f"the law gives a non-finite {what} at these inputs and parameters")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return str(value)


def _table(title: str, rows: list[tuple[str, object]]):
    from rich.table import Table

    table = Table(title=title, show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in rows:
        table.add_row(key, _fmt(value))
    return table


def _predict(
    law_name: str, law_text: Optional[str], N, D, U, x, C, trick, C_range, param, param_set, plot, json_out,
) -> None:
    law = _resolve_law(law_name, law_text)
    values = _param_values(law, param, param_set)
    given = {k: v for k, v in {"N": N, "D": D, "U": U, "x": x}.items() if v is not None}
    inputs = {k: parse_float(v, f"--{k}", positive=True) for k, v in given.items()}
    for k in inputs:
        if k not in law.input_names:
            raise CLIError(f"--{k}", f"law {law.name!r} takes no input {k} (inputs: {', '.join(law.input_names)})")
    if C is None:
        if trick is not None:
            raise CLIError("--trick", "a multiplier is defined on the compute-optimal frontier; give --C")
        if C_range is not None or plot is not None:
            raise CLIError("--C-range" if C_range is not None else "--plot", "needs --C and --trick")
        missing = [n for n in law.input_names if n not in inputs]
        if missing:
            raise CLIError(f"--{missing[0]}", f"law {law.name!r} needs {', '.join('--' + m for m in missing)} (or --C for the compute-optimal point)")
        import numpy as np

        with np.errstate(all="ignore"):  # a user law may be undefined here: reported below, not warned
            loss = float(law.evaluate(inputs, values))
        _check_finite(loss, "loss")
        if json_out:
            emit({"law": law.name, "inputs": inputs, "params": values, "loss": loss})
        else:
            stdout_console.print(_table(f"{law.name}: predicted loss", [*inputs.items(), ("loss", loss)]))
        return

    compute = parse_float(C, "--C", positive=True)
    for k in ("N", "D", "x"):
        if k in inputs:
            raise CLIError(f"--{k}", "--C asks for the compute-optimal N and D; give either --C or the inputs")
    from theory.optimal import compute_optimal

    opt = compute_optimal(law, values, compute, U=inputs.get("U"))
    _check_finite([opt.loss, opt.N_opt, opt.D_opt], "compute-optimal point")
    result = {"law": law.name, "params": values, **opt.as_dict()}
    if "U" in inputs:
        result["U"] = inputs["U"]
    if trick is not None:
        from theory.tricks import multiplier, multiplier_analysis, parse_trick

        parsed = parse_trick(trick)
        curve_range = None
        if C_range is not None:
            curve_range = parse_float_list(C_range, "--C-range", positive=True)
            if len(curve_range) != 2 or not curve_range[0] < curve_range[1] or curve_range[0] <= 6:
                raise CLIError("--C-range", "expected LOW,HIGH FLOPs with 6 < LOW < HIGH")
        if plot is not None and Path(plot).exists() and not Path(plot).is_dir():
            raise CLIError("--plot", f"{plot} exists and is not a directory")
        analysis = multiplier_analysis(law, values, parsed, curve_range)
        result["trick"] = parsed.text
        result["multiplier"] = multiplier(law, values, parsed, compute)
        result.update({k: analysis[k] for k in (
            "multiplier_class", "crosses_10x_at", "crosses_100x_at", "crossing_range", "log_slope",
            "floor_change", "multiplier_curve")})
        if not math.isfinite(result["multiplier"]) or not all(math.isfinite(m) for m in analysis["multiplier_curve"]["multiplier"]):
            result["multiplier_note"] = (
                "null (JSON) or inf marks M = infinity: the trick reaches a loss below the baseline's "
                "floor, which no baseline compute reaches")
        if plot is not None:
            result["plot"] = _plot_multiplier(Path(plot), law.name, parsed.text, analysis)
    if json_out:
        emit(result)
        return
    rows = [("compute (FLOPs)", opt.compute), ("N_opt (parameters)", opt.N_opt), ("D_opt (tokens)", opt.D_opt),
            ("tokens per parameter", opt.tokens_per_param), ("loss", opt.loss), ("a (N_opt ∝ C^a)", opt.a),
            ("b (D_opt ∝ C^b)", opt.b), ("G", opt.G), ("closed form", "yes" if opt.closed_form else "no (numeric optimum)")]
    if trick is not None:
        rows += [("trick", result["trick"]), ("multiplier M(C)", result["multiplier"]),
                 ("multiplier class", result["multiplier_class"]), ("M >= 10 from (FLOPs)", result["crosses_10x_at"]),
                 ("M >= 100 from (FLOPs)", result["crosses_100x_at"])]
    stdout_console.print(_table(f"{law.name}: compute-optimal allocation", rows))
    if trick is not None:
        curve = result["multiplier_curve"]
        stdout_console.print(_table(f"multiplier curve of {result['trick']}", [
            (f"C = {c:.3g}", m) for c, m in zip(curve["compute"], curve["multiplier"])]))
        if "plot" in result:
            stdout_console.print(f"wrote {', '.join(result['plot'])}")


def _plot_multiplier(out_dir: Path, law_name: str, trick_text: str, analysis: dict) -> list[str]:
    """multiplier_curve.png and .json in ``out_dir``."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from commands.common import to_json

    out_dir.mkdir(parents=True, exist_ok=True)
    curve = analysis["multiplier_curve"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(curve["compute"], curve["multiplier"], marker="o")
    for level in (10, 100):
        ax.axhline(level, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("effective-compute multiplier M")
    ax.set_title(f"{law_name}, {trick_text}: {analysis['multiplier_class']}")
    fig.tight_layout()
    png, js = out_dir / "multiplier_curve.png", out_dir / "multiplier_curve.json"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    js.write_text(json.dumps(json.loads(to_json(analysis)), indent=2) + "\n")
    return [str(png), str(js)]


# --- predict ---------------------------------------------------------------------------------------

def _make_predict(law_name: str):
    def predict_law(
        N: Annotated[Optional[str], typer.Option("--N", help="Parameters.")] = None,
        D: Annotated[Optional[str], typer.Option("--D", help="Training tokens.")] = None,
        U: Annotated[Optional[str], typer.Option("--U", help="Unique training tokens (laws with U, e.g. muennighoff2023; with --C: the unique tokens available).")] = None,
        x: Annotated[Optional[str], typer.Option("--x", help="Generic scale (power-law, bnsl).")] = None,
        C: Annotated[Optional[str], typer.Option("--C", help="Training FLOPs: print the compute-optimal allocation under C = 6ND.")] = None,
        trick: Annotated[Optional[str], typer.Option("--trick", help=TRICK_HELP)] = None,
        C_range: Annotated[Optional[str], typer.Option("--C-range", help="LOW,HIGH FLOPs for the multiplier curve (default 1e18,1e28).")] = None,
        param: ParamOption = [],
        param_set: ParamSetOption = None,
        plot: Annotated[Optional[str], typer.Option("--plot", help="With --trick: write multiplier_curve.png and .json into this directory.")] = None,
        json_out: JsonOption = False,
    ) -> None:
        _predict(law_name, None, N, D, U, x, C, trick, C_range, param, param_set, plot, json_out)

    predict_law.__doc__ = (
        f"Loss predicted by the built-in law {law_name!r} at --N/--D (and --U/--x), or its "
        "compute-optimal allocation at --C, with a trick's effective-compute multiplier (--trick)."
    )
    return predict_law


def predict_custom(
    law: Annotated[Optional[str], typer.Option("--law", help="The law as a formula in N, D, C, P, U, x and parameters, e.g. 'E + A/N**alpha + B/D**beta' (numbers, names, + - * / **, parentheses, exp, log, sqrt, min, max).")] = None,
    N: Annotated[Optional[str], typer.Option("--N", help="Parameters.")] = None,
    D: Annotated[Optional[str], typer.Option("--D", help="Training tokens.")] = None,
    U: Annotated[Optional[str], typer.Option("--U", help="Unique training tokens.")] = None,
    x: Annotated[Optional[str], typer.Option("--x", help="Generic scale.")] = None,
    C: Annotated[Optional[str], typer.Option("--C", help="Training FLOPs: the compute-optimal allocation under C = 6ND.")] = None,
    trick: Annotated[Optional[str], typer.Option("--trick", help=TRICK_HELP)] = None,
    C_range: Annotated[Optional[str], typer.Option("--C-range", help="LOW,HIGH FLOPs for the multiplier curve (default 1e18,1e28).")] = None,
    param: Annotated[list[str], typer.Option("--param", help="A parameter value NAME=VALUE (repeatable); every parameter of the law needs one.")] = [],
    plot: Annotated[Optional[str], typer.Option("--plot", help="With --trick: write multiplier_curve.png and .json into this directory.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Loss, compute-optimal allocation or multiplier of a law given as text (--law), parsed by a whitelist."""
    _predict("custom", law, N, D, U, x, C, trick, C_range, param, None, plot, json_out)


# --- derive ----------------------------------------------------------------------------------------

def derive_command(
    law_name: Annotated[str, typer.Argument(metavar="LAW", help="A built-in law (see `laws`) or custom (with --law).")],
    law: Annotated[Optional[str], typer.Option("--law", help="For LAW = custom: the formula, e.g. 'E + A/N**alpha + B/D**beta'.")] = None,
    C: Annotated[Optional[str], typer.Option("--C", help="Also evaluate the optimum at this compute (FLOPs; default 5.88e23).")] = None,
    param: ParamOption = [],
    param_set: ParamSetOption = None,
    json_out: JsonOption = False,
) -> None:
    """The symbolic compute-optimal allocation under C = 6ND: N_opt(C), D_opt(C), L_opt(C), a, b, G,
    tokens per parameter; pretty-printed and as LaTeX, with numbers at the law's parameter values."""
    law_obj = _resolve_law(law_name, law)
    compute = parse_float(C, "--C", positive=True) if C is not None else REFERENCE_COMPUTE
    if compute <= 6:
        raise CLIError("--C", "compute must exceed 6 FLOPs")
    overrides = parse_key_values(param, "--param")
    values = None
    if law_obj.param_sets or set(overrides) == set(law_obj.param_names) or param_set is not None:
        values = law_obj.param_values(param_set, overrides)
    elif overrides:
        law_obj.param_values(None, overrides)  # raises: names the missing parameters
    from theory.optimal import derivation_values, derive

    derivation = derive(law_obj)
    numbers = derivation_values(law_obj, values, compute) if values is not None else None
    if numbers is not None:
        _check_finite([v for k, v in numbers["at_compute"].items() if k in ("N_opt", "D_opt", "loss")], "compute-optimal point")
    if json_out:
        out = {
            "law": law_obj.name,
            "closed_form": derivation.closed_form,
            "note": derivation.note,
            "expressions": derivation.strings(),
            "latex": derivation.latex(),
        }
        if numbers is not None:
            out["params"] = values
            out["values"] = {k: v for k, v in numbers.items() if k not in ("with_values", "at_compute")}
            out["with_values"] = numbers["with_values"]
            out["at_compute"] = numbers["at_compute"]
        emit(out)
        return
    stdout_console.print(derivation.text(), markup=False, highlight=False, soft_wrap=True)
    stdout_console.print("\nLaTeX:", markup=False, highlight=False)
    for key, tex in derivation.latex().items():
        stdout_console.print(f"  {key}: {tex}", markup=False, highlight=False, soft_wrap=True)
    if numbers is not None:
        rows = [(k, v) for k, v in numbers.items() if k not in ("with_values", "at_compute")]
        rows += [(f"{k} (with values)", v) for k, v in numbers["with_values"].items()]
        at = numbers["at_compute"]
        rows += [(f"{k} at C = {compute:.3g}", at[k]) for k in ("N_opt", "D_opt", "tokens_per_param", "loss")]
        stdout_console.print(_table(f"{law_obj.name}: values", rows))


def register(apps: Apps) -> None:
    apps.root.command("laws")(laws_command)
    apps.root.command("derive")(derive_command)
    for name in BUILTIN_LAW_NAMES:
        apps.predict.command(name)(_make_predict(name))
    apps.predict.command("custom")(predict_custom)
