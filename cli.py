#!/usr/bin/env python3
"""shortcut-lab: do tricks beat plain scaling by 10-100x, or is every shortcut a constant factor?

A thin shell over `theory/` (what laws predict), `sim/` (what real training does) and `validate/`
(fits, comparisons, multipliers, sweeps). Commands live in `commands/`, one module per area.
Bad input: one line on stderr and exit code 2. ``--json``: one JSON object on stdout.
"""

from __future__ import annotations

import importlib
import sys

import typer

try:  # typer >= 0.20 vendors click as typer._click; older releases use click itself
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc

from commands.common import Apps, CLIError

app = typer.Typer(
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Scaling laws, fast learning simulators, and the measurement of effective-compute multipliers.",
)
predict_app = typer.Typer(no_args_is_help=True, help="What a law or a theory predicts (LAW is a built-in law name, custom, kernel, pruning).")
simulate_app = typer.Typer(no_args_is_help=True, help="Run real training: kernel, rf, transformer, perceptron.")
validate_app = typer.Typer(no_args_is_help=True, help="Theory against simulation, and fits against held-out runs.")
runs_app = typer.Typer(no_args_is_help=True, help="Inspect and export a results store.")
app.add_typer(predict_app, name="predict")
app.add_typer(simulate_app, name="simulate")
app.add_typer(validate_app, name="validate")
app.add_typer(runs_app, name="runs")

# One module per area; each defines register(apps).
COMMAND_MODULES = [
    "commands.theory_cmds",  # laws, derive, predict LAW / custom
    "commands.fit_cmds",  # fit, validate extrapolation
    "commands.kernel_cmds",  # simulate kernel/rf, predict kernel, validate kernel
    "commands.transformer_cmds",  # simulate transformer
    "commands.pruning_cmds",  # simulate perceptron, predict pruning, validate pruning
    "commands.sweep_cmds",  # sweep, runs list/show/export
    "commands.shortcut_cmds",  # shortcut
    "commands.data_cmds",  # validate repetition, validate text-quality
]

APPS = Apps(root=app, predict=predict_app, simulate=simulate_app, validate=validate_app, runs=runs_app)
for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(APPS)


def _input_error_types() -> tuple[type[BaseException], ...]:
    import sim.errors
    import theory.errors

    return (CLIError, theory.errors.InputError, sim.errors.InputError)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every input error to one line on stderr and exit code 2."""
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="cli.py")
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("error: interrupted", file=sys.stderr)
        return 130
    except click_exc.NoArgsIsHelpError as exc:  # a bare group: show its help, as typer would
        from typer import rich_utils

        rich_utils.rich_format_error(exc)
        return exc.exit_code
    except click_exc.ClickException as exc:
        message = " ".join(exc.format_message().split())
        print(f"error: {message}", file=sys.stderr)
        return 2 if isinstance(exc, click_exc.UsageError) else exc.exit_code
    except _input_error_types() as exc:
        print(f"error: {exc.field}: {exc.problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished work is kept", file=sys.stderr)
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
