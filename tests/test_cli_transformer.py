"""`simulate transformer` through the real CLI entry point (`cli.main`)."""

import json
import math

import cli

SMALL = ["simulate", "transformer", "--d-model", "16", "--layers", "1", "--heads", "2", "--context", "16",
         "--batch", "4", "--tokens", "2048", "--eval-points", "2", "--eval-tokens", "256"]


def run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_one_record_per_seed_and_rate(capsys, tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_bytes(b"the quick brown fox jumps over the lazy dog.\n" * 400)
    code, out, err = run(capsys, *SMALL, "--corpus", str(text), "--models", "2", "--lr", "1e-3,3e-3",
                         "--out", str(tmp_path / "res"), "--json")
    assert code == 0, err
    assert out.count("\n") == 1  # exactly one JSON object on stdout
    data = json.loads(out)
    runs = data["runs"]
    assert [(r["seed"], r["lr"]) for r in runs] == [(0, 1e-3), (0, 3e-3), (1, 1e-3), (1, 3e-3)]
    keys = {"seed", "params", "params_nonembedding", "flops_per_token", "tokens", "compute", "final_val_loss",
            "loss_curve", "tokens_per_second", "diverged"}
    for r in runs:
        assert keys <= set(r)
        assert r["tokens"] == 2048 and not r["diverged"]
        assert math.isclose(r["compute"], r["flops_per_token"] * r["tokens"])
        assert 0 < r["final_val_loss"] < math.log(256)
        assert [e["tokens"] for e in r["loss_curve"]] == [1024, 2048]
    assert data["corpus"]["name"] == "corpus.txt" and len(data["corpus"]["content_hash"]) >= 16
    assert data["device"].startswith("cpu") and data["code_version"]
    assert data["provenance"]["config"]["d_model"] == 16
    assert json.loads((tmp_path / "res" / "result.json").read_text())["runs"] == runs
    assert (tmp_path / "res" / "loss_curves.png").stat().st_size > 1000


def test_table_output(capsys, tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_bytes(b"abcdefgh" * 500)
    code, out, err = run(capsys, *SMALL, "--corpus", str(text))
    assert code == 0, err
    assert "tok/s" in out and "corpus hash" in out


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path):
    for args, field in [
        (["--heads", "3"], "heads"),
        (["--tokens", "lots"], "--tokens"),
        (["--lr", "-1"], "--lr"),
        (["--schedule", "sometimes"], "--schedule"),
        (["--corpus", str(tmp_path / "missing.txt")], "corpus"),
        (["--device", "tpu"], "device"),
        (["--warmup", "2"], "--warmup"),
        (["--knob", "colour=blue"], "corpus"),
        (["--knob", "unique_tokens=5"], "--knob"),
    ]:
        code, out, err = run(capsys, *SMALL, *args, "--json")
        assert code == 2, (args, err)
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and field in lines[0], (args, err)


def test_data_knobs_reach_the_corpus(capsys, tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_bytes(b"".join(b"line %d of a small text file\n" % i for i in range(3000)))
    hashes = []
    for extra in ([], ["--unique-tokens", "5000"], ["--knob", "corrupt_mode=bytes", "--corrupt-fraction", "0.1"]):
        code, out, err = run(capsys, *SMALL, "--corpus", str(text), *extra, "--json")
        assert code == 0, err
        hashes.append(json.loads(out)["corpus"]["content_hash"])
    assert len(set(hashes)) == 3  # each knob changes the training text, and so its hash
