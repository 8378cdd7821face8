"""The shortcut catalogue validates; a tiny end-to-end `shortcut` run on one cheap trick writes report.md,
plots and valid JSON, and a rerun resumes without rerunning finished runs; refusals exit 2."""

from __future__ import annotations

import dataclasses
import json

import pytest

import cli
from theory.errors import InputError
from validate.shortcut import catalogue as cat
from validate.shortcut.catalogue import Arm, Protocol, TrickEntry, catalogue, validate_catalogue, validate_entry
from validate.shortcut.entries_kernel import representation_theory
from validate.store import Store

TINY = "test-tiny-representation"


def _tiny_entry() -> TrickEntry:
    common = {"spectrum_decay": 2.0, "noise": 0.0, "ridge": 1e-5, "modes": 4000, "data": "synthetic"}
    base = Arm("target ∝ k^-1.5", "kernel", ({**common, "target_decay": 1.5, "P": (8, 16, 32, 64, 128)},),
               (8, 16, 32, 64, 128))
    trick = Arm("target ∝ k^-2", "kernel", ({**common, "target_decay": 2.0, "P": (2, 4, 8, 16, 32)},),
                (2, 4, 8, 16, 32))
    proto = Protocol(base, trick, seeds=(0, 1, 2), resample="seed", n_bootstrap=30,
                     params={**common, "target_decay": 1.5, "target_decay_trick": 2.0})
    return TrickEntry(
        name=TINY, kind="representation", setting="tiny kernel task (test)", description="better-aligned kernel",
        scale_axis="P", scale_unit="training examples", scale_why="test", quick=proto, full=proto,
        theory=representation_theory, theory_source="theory/spectral.py",
    )


@pytest.fixture
def tiny():
    entry = cat.register(_tiny_entry())
    try:
        yield entry
    finally:
        cat._ENTRIES.pop(TINY, None)


def test_catalogue_validates():
    entries = catalogue()
    validate_catalogue(entries)
    names = [e.name for e in entries]
    assert len(names) == len(set(names))
    for required in ("perceptron-pruning-perfect", "perceptron-pruning-imperfect", "kernel-representation",
                     "kernel-label-noise-filter", "kernel-pruning"):
        assert required in names
    for e in entries:
        assert e.theory is not None or e.theory_source.startswith("none")
        for mode in ("quick", "full"):
            proto = e.protocol(mode)
            assert len(proto.seeds) >= 3
            for arm in proto.arms().values():
                s = sorted(arm.nominal_scales)
                assert len(s) >= 4 and s[-1] / s[0] >= 16


def test_a_bad_entry_is_refused():
    entry = _tiny_entry()
    short = dataclasses.replace(entry.quick.baseline, nominal_scales=(8, 16, 32))
    bad = dataclasses.replace(entry, quick=dataclasses.replace(entry.quick, baseline=short))
    with pytest.raises(InputError, match="nominal scales"):
        validate_entry(bad)
    unknown = dataclasses.replace(entry.quick.trick, configs=({"no_such_option": 1},))
    bad = dataclasses.replace(entry, quick=dataclasses.replace(entry.quick, trick=unknown))
    with pytest.raises(InputError, match="no option"):
        validate_entry(bad)
    bad = dataclasses.replace(entry, quick=dataclasses.replace(entry.quick, seeds=(0, 1)))
    with pytest.raises(InputError, match="seeds"):
        validate_entry(bad)


def test_tiny_shortcut_run_writes_report_and_resumes(tiny, tmp_path, capsys):
    db, out = tmp_path / "runs.db", tmp_path / "report"
    rc = cli.main(["shortcut", "--quick", "--only", TINY, "--store", str(db), "--out", str(out), "--workers", "1",
                   "--json"])
    stdout, _ = capsys.readouterr()
    assert rc == 0
    data = json.loads(stdout)
    assert json.loads((out / "report.json").read_text()) == data
    assert (out / "report.md").read_text().startswith("# Shortcut report (quick mode)")
    assert (out / f"{TINY}-frontier.png").stat().st_size > 0 and (out / f"{TINY}-multiplier.png").stat().st_size > 0
    assert isinstance(data["summary"], str) and data["store"] == str(db)
    (trick,) = data["tricks"]
    assert set(trick) >= {"name", "setting", "theory", "measured", "agrees", "verdict"}
    assert set(trick["theory"]) >= {"multiplier", "class", "crosses_10x_at", "crosses_100x_at"}
    assert set(trick["measured"]) >= {"multiplier", "ci95", "trend", "seeds", "scales"}
    assert trick["name"] == TINY and trick["measured"]["seeds"] == 3
    assert trick["measured"]["trend"] in ("constant", "growing", "shrinking")
    lo, hi = trick["measured"]["ci95"]
    assert lo <= trick["measured"]["multiplier"] <= hi and lo > 1  # a better-aligned kernel helps
    assert trick["theory"]["class"] == "growing" and isinstance(trick["agrees"], bool)
    assert data["runs"] == {"planned": 6, "ran_now": 6, "already_in_store": 0, "failed": 0}
    with Store(db, create=False) as s:
        assert len(s.runs()) == 6
        assert {sw["name"] for sw in s.sweeps()} >= {f"shortcut/quick/{TINY}/baseline", f"shortcut/quick/{TINY}/trick"}
        created = {r.key: r.created for r in s.runs()}

    rc = cli.main(["shortcut", "--quick", "--only", TINY, "--store", str(db), "--out", str(out), "--workers", "1",
                   "--json"])
    again = json.loads(capsys.readouterr()[0])
    assert rc == 0
    assert again["runs"] == {"planned": 6, "ran_now": 0, "already_in_store": 6, "failed": 0}
    assert again["tricks"][0]["measured"]["multiplier"] == trick["measured"]["multiplier"]
    with Store(db, create=False) as s:
        assert {r.key: r.created for r in s.runs()} == created  # nothing was rerun


def test_refusals_exit_2_with_one_line(tmp_path, capsys):
    for args, field in ((["--only", "no-such-trick"], "--only"), (["--workers", "0"], "--workers"),
                        (["--device", "tpu"], "--device")):
        rc = cli.main(["shortcut", "--quick", "--store", str(tmp_path / "r.db"), "--out", str(tmp_path / "o"), *args])
        out, err = capsys.readouterr()
        assert rc == 2 and out == "" and err.startswith(f"error: {field}:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.db").exists() and not (tmp_path / "o").exists()
    rc = cli.main(["shortcut", "--list", "--json"])
    listed = json.loads(capsys.readouterr()[0])
    assert rc == 0 and "kernel-representation" in {t["name"] for t in listed["tricks"]}
