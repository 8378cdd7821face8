"""Catalogue entries: kernel ridge regression on synthetic power-law tasks (REFERENCES.md §6).

Scale axis: P, the examples trained on. Each run is one seed's whole learning curve (nested sizes),
so the bootstrap resamples whole seeds (``resample="seed"``): the points of one curve share data.

- representation: a kernel whose eigenbasis is better aligned with the target (Canatar, Bordelon &
  Pehlevan 2021, "task-model alignment"): the same spectrum η_k ∝ k^(−b), but the target's power
  decays as k^(−a′) in the new kernel's eigenbasis instead of k^(−a), a′ > a. Theory: the spectral
  learning curves (theory/spectral.py); E_g ∝ P^(−min(a−1, 2b)), so the exponent changes from
  a − 1 to a′ − 1 and M ∝ x_base^(1 − (a−1)/(a′−1)) grows without bound.
- data quality: a fraction ρ of labels corrupted, filtered out by a probe's residuals
  (sim/kernel_pruning.py); theory: effective sample size and noise after filtering fed to the
  spectral equations (theory/data_filtering.py).
- data pruning: clean labels, keep the examples a probe fits worst (hard) at the best keep fraction;
  no theory applies (theory/data_filtering.py says why): the prediction is empirical.

The arms of a trick may run over different sample sizes: a trick that is much better needs smaller
sizes for its losses to overlap the baseline's (targets are only read inside both ranges).
"""

from __future__ import annotations

import numpy as np

import sim.kernel_pruning  # noqa: F401  (registers the "kernel-pruning" simulator with sim.registry)
from validate.shortcut.catalogue import Arm, Protocol, TrickEntry, register

BASE_P = (32, 64, 128, 256, 512, 1024)
SMALL_P = (4, 8, 16, 32, 64, 128)
MID_P = (8, 16, 32, 64, 128, 256)
# modes: the synthetic spectrum's length M. Far above the largest P, so the finite spectrum bends the
# learning curves little (at P = M/4 the local exponent already departs from its asymptote). The
# representation runs use sim/kernel.py (one Cholesky per seed, cheap in M); the filter and pruning
# runs draw their features three times per seed, so they get fewer modes in quick mode.
QUICK = {"modes": 16384, "modes_selection": 8192, "seeds": tuple(range(6)), "n_bootstrap": 200}
FULL = {"modes": 65536, "modes_selection": 32768, "seeds": tuple(range(16)), "n_bootstrap": 1000}


def _theory_grid(protocol: Protocol) -> np.ndarray:
    """Sample sizes for theory curves: from 1 to a quarter of the task's number of modes M (towards
    P = M a finite spectrum is learned exactly and the curves leave their power laws), plus the run sizes."""
    modes = protocol.params["modes"]
    runs = set(protocol.baseline.nominal_scales) | set(protocol.trick.nominal_scales)
    return np.unique(np.concatenate([np.geomspace(1.0, modes / 4.0, 81), np.array(sorted(runs), float)]))


# --- representation: a kernel better aligned with the target -----------------------------------------

def _representation(p: dict) -> Protocol:
    common = {"spectrum_decay": 2.0, "noise": 0.0, "ridge": 1e-5, "modes": p["modes"], "data": "synthetic"}
    baseline = Arm(
        label="kernel with target power ∝ k^(−1.5) in its eigenbasis", simulator="kernel",
        configs=({**common, "target_decay": 1.5, "P": BASE_P},), nominal_scales=BASE_P,
        scale="results.P", loss="results.test_error",
    )
    trick = Arm(
        label="better-aligned kernel: target power ∝ k^(−2.0) in its eigenbasis", simulator="kernel",
        configs=({**common, "target_decay": 2.0, "P": SMALL_P},), nominal_scales=SMALL_P,
        scale="results.P", loss="results.test_error",
    )
    return Protocol(baseline, trick, seeds=p["seeds"], resample="seed", n_bootstrap=p["n_bootstrap"],
                    params={**common, "target_decay": 1.5, "target_decay_trick": 2.0})


def representation_theory(protocol: Protocol, runs=None):
    from theory.spectral import power_law_curve, power_law_exponent
    from validate.multiplier import TheoryCurves

    q = protocol.params
    grid = _theory_grid(protocol)
    base = power_law_curve(q["spectrum_decay"], q["target_decay"], grid, modes=q["modes"], ridge=q["ridge"]).test_error
    trick = power_law_curve(q["spectrum_decay"], q["target_decay_trick"], grid, modes=q["modes"], ridge=q["ridge"]).test_error
    eb = power_law_exponent(q["spectrum_decay"], q["target_decay"])
    et = power_law_exponent(q["spectrum_decay"], q["target_decay_trick"])
    return TheoryCurves(grid, base, trick,
                        source=(f"theory/spectral.py learning curves (Bordelon, Canatar & Pehlevan 2020), {q['modes']} modes; "
                                f"asymptotic exponents {eb:g} → {et:g}, so M ∝ x_base^{1 - eb / et:.3g}"))


# --- data quality: filtering corrupted labels ------------------------------------------------------------

_NOISY = {"spectrum_decay": 2.0, "target_decay": 2.0, "ridge": 0.03, "corrupt_fraction": 0.2,
          "corrupt_variance": 2.0, "noise": 0.0, "probe_size": 256}


def _label_noise(p: dict) -> Protocol:
    common = {**_NOISY, "modes": p["modes_selection"]}
    baseline = Arm(
        label="train on every example (20% corrupted labels)", simulator="kernel-pruning",
        configs=({**common, "keep": 1.0, "prune": "easy", "P": BASE_P},), nominal_scales=BASE_P,
    )
    trick = Arm(
        label="drop the 20% of a pool the probe fits worst (keep f = 0.8)", simulator="kernel-pruning",
        configs=({**common, "keep": 0.8, "prune": "easy", "P": MID_P},), nominal_scales=MID_P,
    )
    return Protocol(baseline, trick, seeds=p["seeds"], resample="seed", n_bootstrap=p["n_bootstrap"],
                    params={**common, "keep": 0.8, "prune": "easy"})


def label_noise_theory(protocol: Protocol, runs=None):
    from theory.data_filtering import power_law_filtered_curve
    from validate.multiplier import TheoryCurves

    q = dict(protocol.params)
    grid = _theory_grid(protocol)
    kw = {k: q[k] for k in ("corrupt_fraction", "corrupt_variance", "noise", "probe_size", "ridge")}
    base = power_law_filtered_curve(q["spectrum_decay"], q["target_decay"], grid, modes=q["modes"], keep=1.0,
                                    rule="random", **kw)
    trick = power_law_filtered_curve(q["spectrum_decay"], q["target_decay"], grid, modes=q["modes"], keep=q["keep"],
                                     rule=q["prune"], **kw)
    return TheoryCurves(grid, np.array(base["test_error"]), np.array(trick["test_error"]),
                        source=(f"theory/data_filtering.py: kept noise variance {trick['noise_variance']:.3g} "
                                f"(pool {base['noise_variance']:.3g}), kept corrupted share {trick['kept_corrupt_fraction']:.3f}, "
                                f"probe error {trick['probe_error']:.3g}, fed to theory/spectral.py"),
                        note=trick["note"])


# --- data pruning by a probe's residuals (clean labels) -------------------------------------------------

_CLEAN = {"spectrum_decay": 2.0, "target_decay": 1.5, "ridge": 1e-5, "corrupt_fraction": 0.0, "noise": 0.0,
          "probe_size": 64}
PRUNE_P = (32, 64, 128, 256, 512)


def _pruning(p: dict) -> Protocol:
    common = {**_CLEAN, "modes": p["modes_selection"]}
    baseline = Arm(
        label="train on every example", simulator="kernel-pruning",
        configs=({**common, "keep": 1.0, "prune": "hard", "P": PRUNE_P},), nominal_scales=PRUNE_P,
    )
    trick = Arm(
        label="Pareto-best keep fraction f ∈ {1, 0.5, 0.25}, keeping the examples a probe fits worst",
        simulator="kernel-pruning",
        configs=tuple({**common, "keep": k, "prune": "hard", "P": PRUNE_P} for k in (1.0, 0.5, 0.25)),
        nominal_scales=PRUNE_P, frontier_over=("keep",),
    )
    return Protocol(baseline, trick, seeds=p["seeds"], resample="seed", n_bootstrap=p["n_bootstrap"],
                    params=common)


register(TrickEntry(
    name="kernel-representation", kind="representation",
    setting="kernel ridge regression, synthetic power-law task, b = 2 (sim/kernel.py)",
    description="a kernel whose eigenbasis is better aligned with the target: target power ∝ k^(−2) instead of k^(−1.5)",
    scale_axis="P", scale_unit="training examples",
    scale_why="the examples the regression is fitted on (its data; its compute grows as P³)",
    quick=_representation(QUICK), full=_representation(FULL),
    theory=representation_theory,
    theory_source="theory/spectral.py (Bordelon, Canatar & Pehlevan 2020; REFERENCES.md §6)",
    theory_note="an exponent change: E_g ∝ P^(−(a−1)) goes from P^(−0.5) to P^(−1), so M grows as x_base^0.5",
))

register(TrickEntry(
    name="kernel-label-noise-filter", kind="data quality",
    setting="kernel ridge regression, 20% of labels corrupted (+N(0, 2)), ridge 0.03 (sim/kernel_pruning.py)",
    description="score a 1.25× larger pool by the residuals of a probe (256 separate examples) and drop the worst-fitting 20%",
    scale_axis="P", scale_unit="training examples (kept)",
    scale_why="the examples trained on; the pool scanned is 1/0.8 = 1.25× larger, plus the probe's 256 examples",
    quick=_label_noise(QUICK), full=_label_noise(FULL),
    theory=label_noise_theory,
    theory_source="theory/data_filtering.py + theory/spectral.py (effective sample size and noise after filtering)",
    theory_note=("the theory treats the kept inputs as unshifted; the filter also prefers inputs the probe already "
                 "fits, which it ignores"),
))

register(TrickEntry(
    name="kernel-pruning", kind="data pruning",
    setting="kernel ridge regression, clean labels, b = 2, target power ∝ k^(−1.5) (sim/kernel_pruning.py)",
    description="keep the examples a probe (64 separate examples) fits worst, at the best keep fraction f ∈ {1, 0.5, 0.25}",
    scale_axis="P", scale_unit="training examples (kept)",
    scale_why="the examples trained on; the pool scanned is larger by 1/f",
    quick=_pruning(QUICK), full=_pruning(FULL),
    theory=None,
    theory_source="none: the effective-noise theory (theory/data_filtering.py) predicts no change for clean labels; "
                  "the effect comes from the shift of the kept inputs, which no theory here models",
))
