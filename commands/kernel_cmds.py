"""Kernel and random-feature regression: `simulate kernel`, `simulate rf`, `predict kernel`, `validate kernel`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from commands.common import (
    DEVICE_OPTION_HELP, JSON_OPTION_HELP, Apps, CLIError, emit, parse_float, parse_int_list, progress,
    stdout_console,
)

_B = "Spectrum decay b: kernel eigenvalues eta_k ~ k^-b (normalised to trace 1)."
_A = "Target decay a: target power in mode k ~ k^-a (normalised to variance 1)."
_NOISE = "Label-noise variance sigma^2."
_RIDGE = "Ridge lambda in (K + lambda I) alpha = y (K the unnormalised P x P Gram matrix)."
_P = "Training-set sizes, comma-separated (nested: one factorisation serves all)."
_SPECTRUM = ("finite: M modes, normalised over them; infinite: eta_k = k^-b/zeta(b), v_k^2 = k^-a/zeta(a) for all "
             "k (b, a > 1); simulate keeps M explicit modes and the tail as extra ridge and label noise, predict "
             "sums all modes.")


def _nonneg(text: str, field: str) -> float:
    return parse_float(text, field, nonnegative=True)


def _auto_note(device: str, used: str) -> Optional[str]:
    return f"--device auto ran on {used}" if device == "auto" else None


def simulate_kernel(
    spectrum_decay: Annotated[str, typer.Option("--spectrum-decay", help=_B)] = "1.5",
    target_decay: Annotated[str, typer.Option("--target-decay", help=_A)] = "2.0",
    noise: Annotated[str, typer.Option("--noise", help=_NOISE)] = "0",
    ridge: Annotated[str, typer.Option("--ridge", help=_RIDGE)] = "1e-3",
    P: Annotated[str, typer.Option("--P", help=_P)] = "16,64,256,1024",
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds to average (mean and standard error).")] = 10,
    modes: Annotated[int, typer.Option("--modes", help="Modes M of the synthetic spectrum (explicit modes with --spectrum infinite).")] = 10000,
    spectrum: Annotated[str, typer.Option("--spectrum", help=_SPECTRUM)] = "finite",
    data: Annotated[str, typer.Option("--data", help="synthetic (eigenbasis task), digits or gaussian (real inputs).")] = "synthetic",
    kernel: Annotated[str, typer.Option("--kernel", help="rbf, laplace or relu_ntk (real inputs).")] = "rbf",
    lengthscale: Annotated[str, typer.Option("--lengthscale", help="RBF/Laplace length scale; 0: the data set's default.")] = "0",
    depth: Annotated[int, typer.Option("--depth", help="Hidden layers of relu_ntk.")] = 1,
    pool: Annotated[int, typer.Option("--pool", help="Population size for --data gaussian.")] = 4000,
    input_dim: Annotated[int, typer.Option("--input-dim", help="Input dimension for --data gaussian.")] = 16,
    seed: Annotated[int, typer.Option("--seed", help="First seed (seeds seed, seed+1, ...).")] = 0,
    device: Annotated[str, typer.Option("--device", help=DEVICE_OPTION_HELP)] = "cpu",
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Kernel ridge regression learning curve E_g(P): mean and standard error over seeds."""
    from sim.backend import get_backend
    from sim.kernel import KernelConfig, simulate, validate_config
    from sim.provenance import run_metadata

    if seeds < 1:
        raise CLIError("--seeds", f"must be at least 1, got {seeds}")
    config = KernelConfig(
        spectrum_decay=parse_float(spectrum_decay, "--spectrum-decay", positive=True),
        target_decay=parse_float(target_decay, "--target-decay"),
        noise=_nonneg(noise, "--noise"), ridge=_nonneg(ridge, "--ridge"),
        P=tuple(parse_int_list(P, "--P")), modes=modes, spectrum=spectrum, data=data, kernel=kernel,
        lengthscale=_nonneg(lengthscale, "--lengthscale"), depth=depth, pool=pool, input_dim=input_dim,
        seed=seed, device=device,
    )
    validate_config(config)
    backend = get_backend(device)
    with progress() as bar:
        task = bar.add_task("kernel regression seeds", total=seeds)
        curve = simulate(config, seeds=seeds, backend=backend, on_seed=lambda s: bar.advance(task))
    result = curve.as_dict()
    note = _auto_note(device, backend.name)
    if note:
        result["device_note"] = note
    result["provenance"] = run_metadata(list(range(seed, seed + seeds)), _config_dict(config), backend.description)
    if json_out:
        emit(result)
        return
    _curve_table(f"kernel regression ({data}) on {backend.description}", result["P"],
                 [("E_g (simulation)", result["test_error"]), ("s.e.m.", result["test_error_sem"])])


def predict_kernel(
    spectrum_decay: Annotated[str, typer.Option("--spectrum-decay", help=_B)] = "1.5",
    target_decay: Annotated[str, typer.Option("--target-decay", help=_A)] = "2.0",
    noise: Annotated[str, typer.Option("--noise", help=_NOISE)] = "0",
    ridge: Annotated[str, typer.Option("--ridge", help=_RIDGE)] = "1e-3",
    P: Annotated[str, typer.Option("--P", help="Sample sizes, comma-separated (0 allowed: the target's variance).")] = "16,64,256,1024",
    modes: Annotated[int, typer.Option("--modes", help="Modes M of the power-law spectrum (with --spectrum infinite: the explicit modes of the simulation whose truncation error is reported).")] = 10000,
    spectrum: Annotated[str, typer.Option("--spectrum", help=_SPECTRUM)] = "finite",
    data: Annotated[str, typer.Option("--data", help="synthetic (power law), digits or gaussian (spectrum from K/N).")] = "synthetic",
    kernel: Annotated[str, typer.Option("--kernel", help="rbf, laplace or relu_ntk (real inputs).")] = "rbf",
    lengthscale: Annotated[str, typer.Option("--lengthscale", help="RBF/Laplace length scale; 0: the data set's default.")] = "0",
    depth: Annotated[int, typer.Option("--depth", help="Hidden layers of relu_ntk.")] = 1,
    pool: Annotated[int, typer.Option("--pool", help="Population size for --data gaussian.")] = 4000,
    input_dim: Annotated[int, typer.Option("--input-dim", help="Input dimension for --data gaussian.")] = 16,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Spectral theory (Bordelon-Canatar-Pehlevan): E_g(P), kappa, gamma and the power-law exponent."""
    from theory import spectral

    b = parse_float(spectrum_decay, "--spectrum-decay", positive=True)
    a = parse_float(target_decay, "--target-decay")
    s2 = _nonneg(noise, "--noise")
    lam = _nonneg(ridge, "--ridge")
    sizes = parse_int_list(P, "--P", minimum=0)
    if modes < 1:
        raise CLIError("--modes", f"must be at least 1, got {modes}")
    if spectrum not in spectral.SPECTRA:
        raise CLIError("--spectrum", f"must be one of {', '.join(spectral.SPECTRA)}, got {spectrum!r}")
    if spectrum == "infinite" and data != "synthetic":
        raise CLIError("--spectrum", "an infinite spectrum is a synthetic power law (use --data synthetic)")
    result: dict = {"data": data}
    if data == "synthetic" and spectrum == "infinite":
        return _predict_infinite(b, a, s2, lam, sizes, modes, json_out)
    if data == "synthetic":
        eta = spectral.power_law_spectrum(b, modes)
        power = spectral.power_law_target(a, modes)
        result.update({"spectrum_decay": b, "target_decay": a, "spectrum": "finite", "modes": modes})
    elif data in ("digits", "gaussian"):
        from sim.kernel import dataset_kernel

        if lam == 0:
            raise CLIError("--ridge", "real-input curves sample with replacement and need a positive ridge")
        ell = _nonneg(lengthscale, "--lengthscale")
        with progress() as bar:  # the eigendecomposition of an N x N kernel takes seconds
            task = bar.add_task(f"spectrum of the {data} kernel", total=2)
            K, Y = dataset_kernel(data, kernel=kernel, lengthscale=ell, depth=depth, pool=pool, input_dim=input_dim)
            bar.advance(task)
            eta, power = spectral.spectrum_from_kernel(K, Y)
            bar.advance(task)
        result["kernel"] = kernel
    else:
        raise CLIError("--data", f"must be synthetic, digits or gaussian, got {data!r}")
    curve = spectral.learning_curve(eta, power, sizes, ridge=lam, noise=s2)
    result.update({
        "P": sizes, "test_error": curve.test_error.tolist(), "kappa": curve.kappa.tolist(),
        "gamma": curve.gamma.tolist(), "noise": s2, "ridge": lam,
    })
    positive = [p for p in sizes if p > 0]
    local = spectral.local_exponent(eta, power, positive, ridge=lam, noise=s2) if positive else []
    result["local_exponent"] = [None] * (len(sizes) - len(positive)) + list(map(float, local))
    if data == "synthetic":
        result["exponent"] = spectral.power_law_exponent(b, a)
        result["exponent_note"] = ("E_g ~ P^-exponent with exponent = min(a - 1, 2b) as P -> infinity for lambda -> 0, "
                                   "sigma^2 = 0 and an infinite spectrum (derived symbolically); local_exponent is "
                                   "-dlog E_g/dlog P of this finite, regularised case")
    else:
        result["exponent"] = None
        result["exponent_note"] = "no power law assumed for a measured spectrum; see local_exponent"
    if json_out:
        emit(result)
        return
    _curve_table("spectral theory", sizes, [("E_g (theory)", result["test_error"]), ("kappa", result["kappa"]),
                                             ("local exponent", result["local_exponent"])])
    if result["exponent"] is not None:
        stdout_console.print(f"asymptotic exponent min(a-1, 2b) = {result['exponent']:.4g}")


def _predict_infinite(b: float, a: float, s2: float, lam: float, sizes: list[int], modes: int, json_out: bool) -> None:
    """`predict kernel --spectrum infinite`: the theory summed over all modes (tail by zeta series)."""
    import numpy as np

    from theory import spectral

    spectral.check_infinite_decays(b, a)  # bad input fails before any progress bar or work
    positive = [p for p in sizes if p > 0]
    local: list = []
    trunc: list = []
    with progress() as bar:  # ~5p explicit modes: seconds at P ~ 10^6
        task = bar.add_task("infinite-spectrum theory", total=4)
        curve = spectral.infinite_power_law_curve(b, a, sizes, ridge=lam, noise=s2)
        bar.advance(task)
        if positive:
            P = np.asarray(positive, dtype=np.float64)
            up = spectral.infinite_power_law_curve(b, a, P * 1.001, ridge=lam, noise=s2).test_error
            bar.advance(task)
            down = spectral.infinite_power_law_curve(b, a, P / 1.001, ridge=lam, noise=s2).test_error
            bar.advance(task)
            local = list(map(float, -(np.log(up) - np.log(down)) / (2 * np.log(1.001))))
            trunc = list(spectral.truncation_error(b, a, positive, modes=modes, ridge=lam, noise=s2))
        bar.advance(task)
    result = {
        "data": "synthetic", "spectrum": "infinite", "spectrum_decay": b, "target_decay": a,
        "P": sizes, "test_error": curve.test_error.tolist(), "kappa": curve.kappa.tolist(),
        "gamma": curve.gamma.tolist(), "noise": s2, "ridge": lam,
        "local_exponent": [None] * (len(sizes) - len(positive)) + local,
        "exponent": spectral.power_law_exponent(b, a),
        "exponent_note": ("E_g ~ P^-exponent with exponent = min(a - 1, 2b) as P -> infinity for lambda -> 0 and "
                          "sigma^2 = 0 (derived symbolically); this spectrum has all modes, so local_exponent "
                          "tends to it"),
        "modes": modes,
        "truncation_rel_error": [None] * (len(sizes) - len(positive)) + list(map(float, trunc)),
        "truncation_note": (f"relative error of `simulate kernel --spectrum infinite --modes {modes}` (explicit modes, "
                            "tail as extra ridge and noise) against this curve, according to the theory"),
    }
    if json_out:
        emit(result)
        return
    _curve_table("spectral theory (infinite power-law spectrum)", sizes,
                 [("E_g (theory)", result["test_error"]), ("kappa", result["kappa"]),
                  ("local exponent", result["local_exponent"]),
                  (f"truncation error, M = {modes}", result["truncation_rel_error"])])
    stdout_console.print(f"asymptotic exponent min(a-1, 2b) = {result['exponent']:.4g}")


def simulate_rf(
    features: Annotated[str, typer.Option("--features", help="Random-feature counts N, comma-separated (nested).")] = "64,256,1024",
    P: Annotated[str, typer.Option("--P", help="Training-set sizes, comma-separated (nested).")] = "64,256,1024",
    steps: Annotated[Optional[str], typer.Option("--steps", help="Gradient-descent checkpoints t, comma-separated; omit for the ridge solution.")] = None,
    spectrum_decay: Annotated[str, typer.Option("--spectrum-decay", help="Input covariance decay b: Lambda_k ~ k^-b.")] = "1.5",
    target_decay: Annotated[str, typer.Option("--target-decay", help=_A)] = "2.0",
    noise: Annotated[str, typer.Option("--noise", help=_NOISE)] = "0",
    ridge: Annotated[str, typer.Option("--ridge", help="Ridge lambda (weight decay under gradient descent).")] = "1e-4",
    latent_dim: Annotated[int, typer.Option("--latent-dim", help="Latent dimensions M of the power-law data.")] = 4096,
    learning_rate: Annotated[str, typer.Option("--learning-rate", help="Gradient-descent step size.")] = "0.5",
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds to average.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="First seed.")] = 0,
    device: Annotated[str, typer.Option("--device", help=DEVICE_OPTION_HELP)] = "cpu",
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Random-feature regression on power-law data: test loss L(N, P), or L(N, P, t) with --steps."""
    from sim.backend import get_backend
    from sim.provenance import run_metadata
    from sim.rf import RFConfig, simulate, validate_config

    if seeds < 1:
        raise CLIError("--seeds", f"must be at least 1, got {seeds}")
    config = RFConfig(
        features=tuple(parse_int_list(features, "--features")), P=tuple(parse_int_list(P, "--P")),
        steps=tuple(parse_int_list(steps, "--steps", minimum=0)) if steps is not None else (),
        spectrum_decay=parse_float(spectrum_decay, "--spectrum-decay", positive=True),
        target_decay=parse_float(target_decay, "--target-decay"), noise=_nonneg(noise, "--noise"),
        ridge=_nonneg(ridge, "--ridge"), latent_dim=latent_dim,
        learning_rate=parse_float(learning_rate, "--learning-rate", positive=True), seed=seed, device=device,
    )
    validate_config(config)
    backend = get_backend(device)
    with progress() as bar:
        task = bar.add_task("random-feature seeds", total=seeds)
        surface = simulate(config, seeds=seeds, backend=backend, on_seed=lambda s: bar.advance(task))
    result = surface.as_dict()
    note = _auto_note(device, backend.name)
    if note:
        result["device_note"] = note
    result["provenance"] = run_metadata(list(range(seed, seed + seeds)), _config_dict(config), backend.description)
    if json_out:
        emit(result)
        return
    from rich.table import Table

    mean = surface.mean
    title = "random-feature test loss" + (" (ridge)" if surface.steps is None else f" after t = {surface.steps[-1]} GD steps")
    table = Table(title=f"{title} on {backend.description}")
    table.add_column("N \\ P")
    for p in surface.P:
        table.add_column(str(p), justify="right")
    for i, n in enumerate(surface.features):
        row = mean[i] if surface.steps is None else mean[i, :, -1]
        table.add_row(str(n), *[f"{x:.4g}" for x in row])
    stdout_console.print(table)
    if surface.diverged.any():
        stdout_console.print("[yellow]gradient descent diverged for some (N, P): lower --learning-rate[/yellow]")


def validate_kernel_command(
    plot: Annotated[Optional[str], typer.Option("--plot", help="Folder for kernel_validation.json and one PNG per case.")] = None,
    cases: Annotated[Optional[str], typer.Option("--cases", help="Comma-separated case names (default: all).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes and few seeds (a smoke run; the figures do not apply).")] = False,
    device: Annotated[str, typer.Option("--device", help=DEVICE_OPTION_HELP)] = "cpu",
    json_out: Annotated[bool, typer.Option("--json", help=JSON_OPTION_HELP)] = False,
) -> None:
    """Spectral theory against kernel-regression simulation on the built-in cases."""
    from sim.backend import get_backend
    from validate.kernel_validation import select_cases, validate_kernel
    from validate.runs_io import check_output_dir

    names = [c.strip() for c in cases.split(",")] if cases is not None else None
    if names is not None and any(n == "" for n in names):
        raise CLIError("--cases", f"expected comma-separated case names, got {cases!r}")
    chosen = select_cases(names, quick)
    check_output_dir(plot, "plot")
    get_backend(device)
    total = sum(max(c.seeds) for c in chosen)
    with progress() as bar:
        task = bar.add_task("validate kernel", total=total)
        report = validate_kernel(chosen, device=device, plot_dir=plot, targets_apply=not quick,
                                 on_case=lambda c: bar.update(task, description=f"case {c.name}"),
                                 on_seed=lambda s: bar.advance(task))
    report["quick"] = quick
    if json_out:
        emit(report)
        return
    from rich.table import Table

    table = Table(title="spectral theory vs kernel regression" + (" (quick)" if quick else ""))
    for col in ("case", "kind", "P", "mean |rel err|", "max |rel err|", "target", "passed"):
        table.add_column(col, no_wrap=True)
    for r in report["cases"]:
        table.add_row(r["name"], r["kind"], f"{r['P'][0]}..{r['P'][-1]}", f"{100 * r['mean_rel_err']:.2f}%",
                      f"{100 * r['max_rel_err']:.2f}%", f"<= {100 * r['target_mean_rel_err']:.0f}%",
                      "n/a (quick)" if r["passed"] is None else ("yes" if r["passed"] else "NO"))
    stdout_console.print(table)
    for path in report.get("plots", []):
        stdout_console.print(f"wrote {path}")


def _config_dict(config) -> dict:
    from dataclasses import asdict

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}


def _curve_table(title: str, P, columns) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("P", justify="right")
    for name, _ in columns:
        table.add_column(name, justify="right")
    for i, p in enumerate(P):
        table.add_row(str(p), *["-" if col[i] is None else f"{col[i]:.5g}" for _, col in columns])
    stdout_console.print(table)


def register(apps: Apps) -> None:
    apps.simulate.command("kernel")(simulate_kernel)
    apps.simulate.command("rf")(simulate_rf)
    apps.predict.command("kernel")(predict_kernel)
    apps.validate.command("kernel")(validate_kernel_command)
