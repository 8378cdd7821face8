"""The transformer tricks of the shortcut report: allocation theory (theory/allocation.py), effective data
(theory/effective_data.py), the catalogue entries, and a tiny end-to-end run of one transformer entry."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import cli
from theory.allocation import (
    AllocationRule, K_RATIO, allocation_analysis, allocation_multiplier, loss_along, misallocation_loss_factor,
    misallocation_multiplier,
)
from theory.effective_data import (
    MUENNIGHOFF_R_D, corrupted_data_multiplier, effective_data, repetition_limit, repetition_multiplier,
)
from theory.laws import get_law, param_symbol
from theory.optimal import compute_optimal
from validate.shortcut import catalogue as cat
from validate.shortcut.catalogue import TrickEntry, validate_entry
from validate.store import Store

CHINCHILLA = get_law("chinchilla")
TRANSFORMER_TRICKS = ("transformer-allocation", "transformer-repetition", "transformer-repetition-16-epochs",
                      "transformer-corrupt-filter", "transformer-lr-tuning", "transformer-wsd",
                      "transformer-probe-pruning")


def _optimal_rule(C0: float = 1e21) -> AllocationRule:
    opt = compute_optimal(CHINCHILLA, None, C0)
    return AllocationRule.power("optimum", opt.a, C0, opt.N_opt)


# --- allocation theory ---------------------------------------------------------------------------------

def test_the_optimal_rule_has_multiplier_one_and_any_other_more():
    C = np.geomspace(1e18, 1e26, 9)
    m_opt = allocation_multiplier(CHINCHILLA, None, _optimal_rule(), None, C)
    np.testing.assert_allclose(m_opt, 1.0, rtol=1e-9)
    for exponent in (0.3, 0.6, 0.73):
        rule = AllocationRule.power("other", exponent, 1e21, compute_optimal(CHINCHILLA, None, 1e21).N_opt)
        m = allocation_multiplier(CHINCHILLA, None, rule, None, C)
        away = np.abs(np.log(C / 1e21)) > 1.0  # off the anchor, where the rule meets the optimum
        assert np.all(m[away] > 1.0 + 1e-6)
        assert np.all(m >= 1.0 - 1e-9)


def test_kaplan_against_chinchilla_grows_with_scale_under_the_chinchilla_law():
    opt = compute_optimal(CHINCHILLA, None, 1e20)
    kaplan = AllocationRule.kaplan(1e20, opt.N_opt)
    C = np.geomspace(1e20, 1e28, 9)
    m = allocation_multiplier(CHINCHILLA, None, kaplan, None, C)
    assert np.all(np.diff(m) > 0) and m[0] == pytest.approx(1.0, rel=1e-6) and m[-1] > 10
    twenty = AllocationRule.tokens_per_param(20.0)
    m20 = allocation_multiplier(CHINCHILLA, None, kaplan, twenty, C[2:])
    assert np.all(np.diff(m20) > 0)
    a = allocation_analysis(CHINCHILLA, None, kaplan, None, (1e20, 1e28))
    assert a["multiplier_class"] == "growing"
    assert a["crosses_10x_at"] is not None and a["crosses_100x_at"] > a["crosses_10x_at"] > 1e20
    # the crossing is where M = 10 (at the optimum's compute)
    assert allocation_multiplier(CHINCHILLA, None, kaplan, None, a["crosses_10x_at"]) == pytest.approx(10.0, rel=1e-6)
    # the baseline's loss along its rule is above the optimum's everywhere off the anchor
    assert np.all(loss_along(CHINCHILLA, None, kaplan, C[1:]) > loss_along(CHINCHILLA, None, None, C[1:]))


def test_closed_form_matches_sympy_and_the_numeric_multiplier():
    alpha, beta = param_symbol("alpha"), param_symbol("beta")
    k = K_RATIO
    h = misallocation_loss_factor(CHINCHILLA)
    assert sp.simplify(h - (beta * k ** (-alpha) + alpha * k ** beta) / (alpha + beta)) == 0
    M = sp.lambdify([k] + list(CHINCHILLA.params), misallocation_multiplier(CHINCHILLA))
    values = CHINCHILLA.param_values()
    opt = compute_optimal(CHINCHILLA, None, 1e21)
    kaplan = AllocationRule.kaplan(1e21, opt.N_opt)
    for C_base in (1e23, 1e25):
        ratio = float(kaplan.params(C_base) / compute_optimal(CHINCHILLA, None, C_base).N_opt)
        m = M(ratio, *[values[p] for p in CHINCHILLA.param_names])
        # M(k) is C_base / C_opt(L_A(C_base)): the numeric multiplier at the optimum's compute C_base / M
        assert allocation_multiplier(CHINCHILLA, None, kaplan, None, C_base / m) == pytest.approx(m, rel=1e-6)


@given(st.floats(0.05, 1.0), st.floats(0.05, 1.0), st.floats(-3.0, 3.0))
def test_misallocation_never_beats_the_optimum(alpha, beta, log_k):
    k = math.exp(log_k)
    h = (beta * k ** (-alpha) + alpha * k ** beta) / (alpha + beta)
    assert h >= 1.0 - 1e-12
    if abs(log_k) > 1e-3:
        assert h > 1.0


def test_allocation_rules_refuse_bad_values():
    from theory.errors import InputError

    with pytest.raises(InputError):
        AllocationRule.power("bad", 1.2, 1e21, 1e9)
    with pytest.raises(InputError):
        AllocationRule.power("bad", 0.5, 1e9, 1e9)  # no token left
    with pytest.raises(InputError):
        allocation_multiplier(get_law("power-law"), {"E": 1, "A": 1, "alpha": 0.3}, None, None, 1e21)


# --- effective data ------------------------------------------------------------------------------------

def test_effective_data_matches_the_muennighoff_law_and_closed_form():
    law = get_law("muennighoff2023")
    v = law.param_values()
    D = np.array([1e9, 4e9, 1.6e10, 6.4e10, 1e12])
    U = np.full_like(D, 1e9)
    # N = 1e6 is below N_opt(U) (~5e7 for U = 1e9), so N' = N and L = E + A/N^alpha + B/D'^beta:
    # read D' back out of the law and compare
    N = 1e6
    loss = law.evaluate({"N": np.full_like(D, N), "D": D, "U": U})
    d_prime_law = (v["B"] / (loss - v["E"] - v["A"] * N ** -v["alpha"])) ** (1.0 / v["beta"])
    np.testing.assert_allclose(effective_data(D, U), d_prime_law, rtol=1e-9)
    R = D / U
    np.testing.assert_allclose(repetition_multiplier(R),
                               (1 + MUENNIGHOFF_R_D * (1 - np.exp(-(R - 1) / MUENNIGHOFF_R_D))) / R, rtol=1e-12)
    assert repetition_multiplier(1.0) == pytest.approx(1.0)
    assert repetition_multiplier(4.0) == pytest.approx(0.9314, abs=1e-4)  # "nearly free" up to ~4 epochs
    assert effective_data(1e15, 1e6) / 1e6 == pytest.approx(repetition_limit(), rel=1e-9)  # ≈ 16.4 U at most
    assert corrupted_data_multiplier(0.2, 0.0) == pytest.approx(1.25)


# --- the catalogue entries -----------------------------------------------------------------------------

def test_transformer_entries_validate():
    entries = {e.name: e for e in cat.catalogue()}
    for name in TRANSFORMER_TRICKS:
        assert name in entries
        e = entries[name]
        validate_entry(e)  # >= 4 scales spanning >= 16x, >= 3 seeds, every config accepted by the simulator
        assert e.cpu_only is False and e.quick.baseline.simulator in ("transformer", "transformer-models")
        for mode in ("quick", "full"):  # one seed per run only where each seed has its own corpus
            for a in e.protocol(mode).arms().values():
                assert a.seeds_per_run == (a.simulator == "transformer-models")
                assert a.seeds_per_run != any(c.get("reseed_data") for c in a.configs)
    alloc = entries["transformer-allocation"].quick
    assert alloc.baseline.nominal_scales == alloc.trick.nominal_scales  # equal compute
    kap, chi = alloc.baseline.configs, alloc.trick.configs
    assert kap[0] == chi[0]  # both rules meet at the smallest budget
    assert kap[-1]["d_model"] > chi[-1]["d_model"] and kap[-1]["tokens"] < chi[-1]["tokens"]
    rep = entries["transformer-repetition"].quick
    for b, t in zip(rep.baseline.configs, rep.trick.configs):
        assert b["tokens"] == t["tokens"] == b["unique_tokens"] == 4 * t["unique_tokens"]
    # Muennighoff's regime: tokens far above the parameters (near Chinchilla's 20 per parameter at the least)
    for mode in ("quick", "full"):
        q = entries["transformer-repetition"].protocol(mode).params
        assert q["tokens_per_param"][0] >= 16 and q["unique_tokens_per_param"][0] >= 4


# --- a tiny end-to-end run ---------------------------------------------------------------------------------

TINY = "test-tiny-transformer-repetition"


@pytest.fixture
def tiny():
    from validate.shortcut.entries_transformer import _repetition, repetition_theory

    p = {"model": {"d_model": 8, "layers": 1, "heads": 2, "context": 16, "batch": 4},
         "tokens": (1024, 2048, 4096, 8192, 16384), "seeds": (0, 1, 2), "n_bootstrap": 30, "lr": 1e-2}
    proto = _repetition(p, 4, TINY)
    small = lambda arm: dataclasses.replace(arm, configs=tuple({**c, "eval_tokens": 1024} for c in arm.configs))  # noqa: E731
    proto = dataclasses.replace(proto, baseline=small(proto.baseline), trick=small(proto.trick))
    entry = TrickEntry(name=TINY, kind="repetition", setting="tiny GPT (test)", description="4 epochs of D/4",
                       scale_axis="D", scale_unit="tokens", scale_why="test", quick=proto, full=proto,
                       theory=repetition_theory, theory_source="theory/effective_data.py")
    cat.register(entry)
    try:
        yield entry
    finally:
        cat._ENTRIES.pop(TINY, None)


def test_tiny_transformer_entry_writes_a_report(tiny, tmp_path, capsys):
    db, out = tmp_path / "runs.db", tmp_path / "report"
    rc = cli.main(["shortcut", "--quick", "--only", TINY, "--store", str(db), "--out", str(out), "--workers", "1",
                   "--json"])
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    data = json.loads(stdout)
    assert (out / "report.md").read_text().startswith("# Shortcut report (quick mode)")
    assert (out / f"{TINY}-frontier.png").stat().st_size > 0
    (trick,) = data["tricks"]
    assert trick["measured"]["seeds"] == 3 and trick["measured"]["runs"]["baseline"]["ok"] == 15
    # the theory was calibrated on the stored runs and predicts Muennighoff's constant D'/D at 4 epochs
    assert trick["theory"]["available"] and trick["theory"]["class"] == "constant"
    assert trick["theory"]["multiplier"] == pytest.approx(float(repetition_multiplier(4.0)), rel=1e-3)
    assert data["runs"]["failed"] == 0
    with Store(db, create=False) as s:
        runs = s.runs()
        assert len(runs) == 30 and all(r.status == "ok" for r in runs)
        assert all(r.results["final_val_loss"] < math.log(256) for r in runs)


# --- many models in one run (validate/shortcut/transformer_models.py) ----------------------------------------

def test_models_in_one_run_equal_the_same_models_alone():
    from sim.transformer.config import TransformerConfig
    from sim.transformer.train import run as run_one
    from validate.shortcut.transformer_models import TransformerModelsConfig, run as run_models

    shape = {"d_model": 8, "layers": 1, "heads": 2, "context": 16, "batch": 4, "tokens": 1024, "eval_points": 1,
             "eval_tokens": 512}
    out = run_models(TransformerModelsConfig(**shape, seeds=(3, 5), lrs=(1e-2, 3e-3)))
    models = out["models"]
    assert [(m["seed"], m["lr"]) for m in models] == [(3, 1e-2), (3, 3e-3), (5, 1e-2), (5, 3e-3)]
    alone = run_one(TransformerConfig(**shape, seed=5, lr=3e-3))
    assert models[3]["final_val_loss"] == alone["final_val_loss"]  # bit for bit (train.py's contract)
    assert models[0]["final_val_loss"] != models[2]["final_val_loss"]  # the seeds differ
    with pytest.raises(ValueError, match="seeds"):
        TransformerModelsConfig(**shape, seeds=(1, 2), reseed_data=True).validate()
    with pytest.raises(ValueError, match="seeds"):
        TransformerModelsConfig(**shape, seeds=(1, 1)).validate()


TINY_LR = "test-tiny-transformer-lr-tuning"


@pytest.fixture
def tiny_lr():
    from validate.shortcut.entries_transformer import _lr_tuning

    p = {"model": {"d_model": 8, "layers": 1, "heads": 2, "context": 16, "batch": 4},
         "tokens": (1024, 2048, 4096, 8192, 16384), "seeds": (0, 1, 2), "n_bootstrap": 30, "lr": 1e-2,
         "lr_grid": (3e-3, 1e-2, 3e-2)}
    proto = _lr_tuning(p)
    small = lambda arm: dataclasses.replace(arm, configs=tuple({**c, "eval_tokens": 512} for c in arm.configs))  # noqa: E731
    proto = dataclasses.replace(proto, baseline=small(proto.baseline), trick=small(proto.trick))
    entry = TrickEntry(name=TINY_LR, kind="optimiser", setting="tiny GPT (test)", description="best lr",
                       scale_axis="D", scale_unit="tokens", scale_why="test", quick=proto, full=proto,
                       theory=None, theory_source="none: test")
    cat.register(entry)
    try:
        yield entry
    finally:
        cat._ENTRIES.pop(TINY_LR, None)


def test_a_learning_rate_grid_trains_in_one_run_per_budget(tiny_lr, tmp_path, capsys):
    from validate.shortcut.run import plan

    p = plan([tiny_lr], "quick")
    assert p.n_runs == 5  # one run per budget: 3 seeds x 4 rates in each
    assert all(t.config["seeds"] == (0, 1, 2) and t.config["lrs"] == (1e-3, 3e-3, 1e-2, 3e-2)
               for t in p.by_simulator["transformer-models"])
    db, out = tmp_path / "runs.db", tmp_path / "report"
    rc = cli.main(["shortcut", "--quick", "--only", TINY_LR, "--store", str(db), "--out", str(out), "--workers", "1",
                   "--json"])
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    (trick,) = json.loads(stdout)["tricks"]
    me = trick["measured"]
    assert me["seeds"] == 3 and me["runs"]["baseline"]["ok"] == 5
    # the baseline is the default rate's models only; the trick picks the best rate per budget
    assert me["scales"]["baseline"] == me["scales"]["trick"] and len(me["scales"]["baseline"]) == 5
    chosen = [c["setting"]["lr"] for c in me["frontier_choice"]["trick"]]
    assert len(chosen) == 5 and set(chosen) <= {1e-3, 3e-3, 1e-2, 3e-2}
    with Store(db, create=False) as s:
        (rec,) = [r for r in s.runs() if r.config["tokens"] == 16384]
        models = rec.results["models"]
        assert len(models) == 12
        by_lr = {}
        for m in models:
            by_lr.setdefault(m["lr"], []).append(m["final_val_loss"])
        best = min(by_lr, key=lambda lr: np.mean(np.log(by_lr[lr])))
        assert chosen[-1] == best  # the frontier keeps the rate with the lowest geometric-mean loss
