"""Catalogue entries: data pruning in the teacher–student perceptron (Sorscher et al. 2022; REFERENCES.md §5).

Scale axis: α_prune = P_kept/N, the examples the student is trained on per input dimension. Training
cost grows with the kept set; scoring the scanned pool with the probe is one dot product per example
(the simulator draws only two numbers per discarded example), so α_prune is what the trick saves, and
it is the axis of Sorscher et al.'s "beyond power-law" claim. The pool scanned, α_tot = α_prune/f, is
larger by 1/f and is recorded with every run: with a perfect probe the error beyond α_prune ≈ 2 is
ε ≈ 1/(2 α_tot) (REFERENCES.md §5), so measured on α_tot the same trick gains little.

Arms: the baseline keeps every example (f = 1); the trick arm is the Pareto frontier over the keep
fractions run (f = 1 included, so "do not prune" is one of its choices): at each α_prune the f with
the lowest mean test error. Two probes: a perfect one (θ = 0) and an imperfect one (θ = 15°).
Theory: theory/pruning.py (the replica solution, E's), the same discrete set of f, min over f.
"""

from __future__ import annotations

import functools

import numpy as np

from validate.shortcut.catalogue import Arm, Protocol, TrickEntry, register

# Keep fractions per probe. A perfect probe's best f keeps falling as α_prune grows (ε ≈ f/(2α_prune)
# beyond the cliff at α_prune ≈ 2), so its grid reaches f = 0.01 (α_tot = 1600 at α_prune = 16: cheap,
# discarded examples cost two random numbers). For θ = 15° small f only hurts (f_min(15°) ≈ 0.1).
KEEPS = {0.0: (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01), 15.0: (1.0, 0.5, 0.2, 0.1, 0.05)}
# N = 100 in quick mode: the exact solver's cost grows steeply with N; finite-size effects are
# largest at the θ = 0 cliff (REFERENCES.md §5: N <= 800 deviates there by up to 16%).
# Scales start at α_prune = 0.5, below the perfect probe's cliff (α_prune ≈ 2), so the frontier's shape test
# (validate.multiplier.frontier_shape_test) sees the local exponent before and across it. Full mode: N = 400 and
# 6 seeds up to α_prune = 16: the max-margin solver's cost grows steeply with P = α_prune·N (measured, one thread,
# shared machine: 9 s a run at N = 400, α = 16 unpruned; 16 s at α = 32, which the 40-minute budget leaves out).
QUICK = {"N": 100, "alpha_prune": (0.5, 1.0, 2.0, 4.0, 8.0, 16.0), "seeds": (0, 1, 2), "n_bootstrap": 200,
         "theory_points": {0.0: 41, 15.0: 8}}
FULL = {"N": 400, "alpha_prune": (0.5, 1.0, 2.0, 4.0, 8.0, 16.0), "seeds": tuple(range(6)), "n_bootstrap": 1000,
        "theory_points": {0.0: 61, 15.0: 25}}
THEORY_RANGE = (0.5, 64.0)  # α_prune grid of the theory (log-spaced points, plus the run scales)


def _config(N: int, alpha_prune: float, keep: float, angle: float) -> dict:
    # alpha_tot from whole example counts, so P_kept = f·P_tot = α_prune·N exactly in the simulator
    P_kept = int(round(alpha_prune * N))
    P_tot = int(round(P_kept / keep))
    return {"N": N, "alpha_tot": P_tot / N, "keep": keep, "prune": "hard",
            # f = 1 keeps everything: the probe is irrelevant, and angle 0 shares these runs with the baseline
            "probe_angle": float(angle) if keep < 1.0 else 0.0}


def _protocol(p: dict, angle: float) -> Protocol:
    N = p["N"]
    scales = tuple(p["alpha_prune"])
    keeps = KEEPS[angle]
    baseline = Arm(
        label="no pruning (maximum margin on every example)", simulator="perceptron",
        configs=tuple(_config(N, a, 1.0, 0.0) for a in scales), nominal_scales=scales,
        scale="results.alpha_prune", loss="results.test_error",
    )
    trick = Arm(
        label=f"Pareto-best keep fraction f ∈ {{{', '.join(f'{k:g}' for k in keeps)}}}, hardest kept, probe at {angle:g}°",
        simulator="perceptron",
        configs=tuple(_config(N, a, k, angle) for a in scales for k in keeps), nominal_scales=scales,
        scale="results.alpha_prune", loss="results.test_error", frontier_over=("keep",),
    )
    return Protocol(baseline=baseline, trick=trick, seeds=tuple(p["seeds"]), law="power-law", resample="run",
                    n_bootstrap=p["n_bootstrap"],
                    params={"N": N, "keeps": tuple(keeps), "probe_angle": float(angle), "prune": "hard",
                            "theory_points": p["theory_points"][angle]})


@functools.lru_cache(maxsize=16)
def _theory_errors(keep: float, angle: float, grid: tuple) -> np.ndarray:
    from theory import pruning

    sols = pruning.learning_curve(list(grid), keep=keep, probe_angle=angle, prune="hard")
    return np.array([s.test_error for s in sols])


def pruning_theory(protocol: Protocol, runs=None):
    """Replica theory (theory/pruning.py) for both arms on an α_prune grid: the baseline f = 1, the trick
    the minimum over the protocol's keep fractions (the same discrete set the runs use)."""
    from validate.multiplier import TheoryCurves

    lo, hi = THEORY_RANGE
    n = protocol.params["theory_points"]
    grid = np.unique(np.concatenate([np.geomspace(lo, hi, n), np.asarray(protocol.baseline.nominal_scales, float)]))
    g = tuple(float(x) for x in grid)
    angle = protocol.params["probe_angle"]
    base = _theory_errors(1.0, 0.0, g)
    trick = np.min(np.stack([_theory_errors(float(k), angle if k < 1 else 0.0, g) for k in protocol.params["keeps"]]), axis=0)
    return TheoryCurves(grid, base, trick,
                        source=f"theory/pruning.py replica solution (Sorscher et al. 2022 App. A), θ = {angle:g}°, "
                               f"min over f ∈ {{{', '.join(f'{k:g}' for k in protocol.params['keeps'])}}}")


def _entry(name: str, angle: float, what: str) -> TrickEntry:
    return TrickEntry(
        name=name, kind="data pruning",
        setting="teacher–student perceptron, maximum-margin student (sim/perceptron.py)",
        description=(f"keep the hardest fraction f of a larger scanned pool (smallest |margin| under a probe at "
                     f"θ = {angle:g}° to the teacher; {what}), choosing the best f at each scale"),
        scale_axis="alpha_prune", scale_unit="kept training examples per input dimension (α_prune = P_kept/N)",
        scale_why=("training cost grows with the examples trained on; scoring the scanned pool costs one dot product "
                   "per example. The pool scanned is larger by 1/f (α_tot = α_prune/f, recorded per run)"),
        quick=_protocol(QUICK, angle), full=_protocol(FULL, angle),
        theory=pruning_theory,
        theory_source="theory/pruning.py (replica saddle point of Sorscher et al. 2022, App. A; REFERENCES.md §5)",
        theory_note=("a perfect probe gives ε ≈ f/(2α_prune) beyond α_prune ≈ 2, so the best f runs to the smallest "
                     "f run and the frontier falls faster than any power law until f hits that floor"
                     if angle == 0 else
                     "an imperfect probe: below f_min(θ) pruning hurts, and the frontier reverts to a power law"),
        group="perceptron-pruning", cpu_only=True,
        # the figure (Sorscher et al. Fig. 1): faster than a power law with a perfect metric, back to a
        # power law with an imperfect one
        expected_shape="faster" if angle == 0 else "reverts",
    )


register(_entry("perceptron-pruning-perfect", 0.0, "a perfect metric"))
register(_entry("perceptron-pruning-imperfect", 15.0, "an imperfect metric"))
