"""Text data quality and repetition (validate/data_quality.py): the R*_D fit recovers a planted value,
effective data is read back from a clean curve, the probe ranks corrupted documents hardest, the designs
are what issue 7 asks for, and a tiny `validate repetition` run goes end to end through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cli
from theory.effective_data import effective_data
from validate import data_quality as dq


def _power(E, A, alpha, x):
    return E + A * np.asarray(x, float) ** (-alpha)


def test_r_star_fit_recovers_a_planted_value():
    E, A, alpha, planted = 1.1, 25.0, 0.3, 6.0
    rng = np.random.default_rng(1)
    rows = []
    for D in (262144, 1048576):
        for R in (1, 2, 4, 8, 16, 32):
            U = D // R
            for s in range(3):
                noise = np.exp(0.003 * rng.standard_normal(2))
                rows.append({"kind": "repeated", "tokens": D, "unique_tokens": U, "epochs": R, "seed": s,
                             "loss": float(_power(E, A, alpha, effective_data(D, U, planted)) * noise[0])})
                rows.append({"kind": "fresh", "tokens": U, "unique_tokens": U, "epochs": 1, "seed": s,
                             "loss": float(_power(E, A, alpha, U) * noise[1])})
    out = dq.analyse_repetition(rows, n_bootstrap=40, seed=0)
    rs = out["R_star"]
    assert rs["estimate"] == pytest.approx(planted, rel=0.1)
    assert rs["ci95"][0] <= planted <= rs["ci95"][1]
    assert rs["muennighoff_inside_ci"] is False and rs["n_valid"] >= 36
    for c in out["cells"]:  # the cells' effective data follows the planted law
        assert c["effective_data_ratio"] == pytest.approx(effective_data(c["tokens"], c["unique_tokens"], planted) / c["tokens"], rel=0.1)


def test_effective_data_of_a_corrupted_cell_is_read_off_the_clean_curve():
    E, A, alpha, D = 0.9, 12.0, 0.15, 262144
    (cell,) = [c for c in dq.quality_cells(True) if c["name"] == "documents 0.2"]
    phi = dq.corpus_effects(cell)["corrupted_share"]
    assert 0.1 < phi < 0.25  # 20% of the documents, about 16% of the bytes
    rng = np.random.default_rng(2)
    rows = [{"kind": "clean", "tokens": x, "cell": "clean", "seed": s,
             "loss": float(_power(E, A, alpha, x) * np.exp(0.002 * rng.standard_normal()))}
            for x in (32768, 65536, 131072, 262144) for s in range(3)]
    rows += [{"kind": cell["kind"], "tokens": D, "cell": cell["name"], "seed": s,
              "loss": float(_power(E, A, alpha, (1 - phi) * D) * np.exp(0.002 * rng.standard_normal()))}
             for s in range(3)]
    out = dq.analyse_quality(rows, [cell], D, n_bootstrap=30)
    (c,) = out["cells"]
    assert c["theory"] == pytest.approx(1 - phi)
    assert c["effective_data_ratio"] == pytest.approx(1 - phi, rel=0.05)
    assert c["theory_inside_ci"] is True and not c["extrapolated"]
    assert dq.invert_power_law(E, A, alpha, _power(E, A, alpha, 12345.0)) == pytest.approx(12345.0)


def test_the_probe_ranks_random_byte_documents_hardest():
    from sim.text import load_corpus
    from sim.transformer.config import TransformerConfig
    from sim.transformer.probe import document_scores, document_windows, selected_corpus

    corpus = load_corpus("stdlib", corrupt_fraction=0.1)
    cfg = TransformerConfig(context=32, batch=16, select_by="probe", select_keep="highest", select_fraction=0.1,
                            probe_tokens=16384)
    scores = document_scores(corpus, cfg)
    assert scores.shape == (corpus.n_documents,) and np.all(np.isfinite(scores))
    bad = corpus.corrupted
    # random bytes are the hardest text a probe has seen: every corrupted document outscores the clean median
    assert scores[bad].min() > np.median(scores[~bad])
    assert np.mean(scores[bad]) > np.mean(scores[~bad]) + 1.0
    kept = selected_corpus(corpus, cfg)
    assert kept.n_documents == round(0.1 * corpus.n_documents)
    assert kept.corrupted.mean() > 0.8  # the hardest tenth is nearly all corrupted documents
    starts, owner = document_windows(corpus.documents, corpus.train.size, 32, 4)
    assert np.all(np.diff(owner) >= 0) and np.all(starts >= corpus.documents[owner])
    assert np.all(starts <= corpus.train.size - 33)


def test_designs_follow_the_issue():
    runs = dq.repetition_plan(True)
    rep = [r for r in runs if r.role["kind"] == "repeated"]
    assert max(r.role["epochs"] for r in rep) >= 16 and min(r.role["epochs"] for r in rep) == 1
    assert {r.values["tokens"] for r in rep} == set(dq.REPETITION["quick"]["totals"])  # fixed total tokens
    for r in rep:
        assert r.values["unique_tokens"] * r.role["epochs"] == r.values["tokens"]
        assert "shuffle_documents=true" in r.values["corpus_knobs"] and r.values["reseed_data"]
    fresh = {r.values["tokens"] for r in runs if r.role["kind"] == "fresh"}
    assert fresh == {r.values["unique_tokens"] for r in rep}
    cells = dq.quality_cells(True)
    kinds = {(c["kind"], c["cleaned"]) for c in cells}
    assert kinds == {(k, f) for k in ("corrupt-documents", "corrupt-bytes", "duplicates") for f in (False, True)}


def test_refusals_exit_2_with_one_line(tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    for args, field in ((["--bootstrap", "5"], "--bootstrap"), (["--workers", "0"], "--workers"),
                        (["--device", "tpu"], "--device"), (["--plot", str(a_file / "plots")], "--plot")):
        rc = cli.main(["validate", "repetition", "--quick", "--store", str(tmp_path / "r.db"), *args])
        out, err = capsys.readouterr()
        assert rc == 2 and out == "" and err.startswith(f"error: {field}:") and err.count("\n") == 1
    assert not (tmp_path / "r.db").exists()


def test_tiny_repetition_study_through_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(dq.MODEL, "quick", {"d_model": 8, "layers": 1, "heads": 2, "context": 16, "batch": 4})
    monkeypatch.setitem(dq.REPETITION, "quick", {"totals": (4096,), "epochs": (1, 2, 4, 8, 16), "seeds": (0, 1, 2),
                                                  "n_bootstrap": 20})
    monkeypatch.setattr(dq, "EVAL", {"eval_points": 1, "eval_tokens": 1024})
    db, plots = tmp_path / "runs.db", tmp_path / "plots"
    rc = cli.main(["validate", "repetition", "--quick", "--store", str(db), "--workers", "1", "--plot", str(plots),
                   "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    data = json.loads(out)
    assert data["runs"]["planned"] == 27 and data["runs"]["ok"] == 27 and data["runs"]["failed"] == 0
    rs = data["R_star"]
    assert rs["muennighoff"] == pytest.approx(15.387756) and rs["n_bootstrap"] == 20
    assert rs["estimate"] > 0 and len(data["cells"]) == 5
    assert [c["epochs"] for c in data["cells"]] == [1, 2, 4, 8, 16]
    for name in ("repetition-effective-data.png", "repetition-loss.png"):
        assert (plots / name).stat().st_size > 1000
