"""Reading runs: CSV and JSON layouts, column mapping, D = C/(6N), and bad files refused with one
`InputError` naming the problem."""

import json

import numpy as np
import pytest

from theory.errors import InputError
from validate.runs_io import drop_highest, load_runs, runs_from_arrays


def write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return path


ROWS = [(1e8 * (i + 1), 1e18 * (i + 2), 3.0 - 0.1 * i) for i in range(8)]


def test_csv_with_chinchilla_names_and_derived_tokens(tmp_path):
    f = write_csv(tmp_path / "r.csv", ["Model Size", "Training FLOP", "loss", "hex_color"],
                  [r + ("#faebdd",) for r in ROWS])
    runs = load_runs(f, need=("N", "D"))
    assert runs.column_names == {"N": "Model Size", "C": "Training FLOP", "loss": "loss"}
    np.testing.assert_allclose(runs.get("D"), runs.get("C") / (6 * runs.get("N")))
    assert runs.n == 8


def test_json_layouts_agree(tmp_path):
    recs = [{"N": n, "C": c, "loss": l} for n, c, l in ROWS]
    (tmp_path / "a.json").write_text(json.dumps(recs))
    (tmp_path / "b.json").write_text(json.dumps({"runs": recs}))
    (tmp_path / "c.json").write_text(json.dumps({k: [r[k] for r in recs] for k in ("N", "C", "loss")}))
    loaded = [load_runs(tmp_path / n, need=("N", "D")) for n in ("a.json", "b.json", "c.json")]
    for r in loaded[1:]:
        np.testing.assert_array_equal(r.get("D"), loaded[0].get("D"))
        np.testing.assert_array_equal(r.loss, loaded[0].loss)


def test_chosen_columns(tmp_path):
    f = write_csv(tmp_path / "r.csv", ["params", "flops", "tokens", "val"], [(n, c, c / (6 * n), l) for n, c, l in ROWS])
    runs = load_runs(f, columns={"N": "params", "D": "tokens"}, loss_col="val", need=("N", "D"))
    assert runs.column_names["D"] == "tokens" and runs.column_names["loss"] == "val"


def test_drop_highest_loss():
    runs = runs_from_arrays({"N": [1, 2, 3, 4]}, [4.0, 1.0, 3.0, 2.0])
    kept = drop_highest(runs, 2)
    assert sorted(kept.loss) == [1.0, 2.0] and kept.dropped == 2
    with pytest.raises(InputError, match="leaves none"):
        drop_highest(runs, 4)


@pytest.mark.parametrize("case, match", [
    ("missing_loss", "no loss column"),
    ("missing_chosen", "'size' is not in"),
    ("missing_input", "no column for input D"),
    ("negative", "must be positive"),
    ("zero", "must be positive"),
    ("nan", "NaN"),
    ("text", "expected a number"),
    ("empty_cell", "missing value"),
    ("empty_file", "is empty"),
    ("header_only", "no runs"),
    ("bad_json", "not valid JSON"),
    ("absent", "does not exist"),
])
def test_bad_files_refused_with_one_named_problem(tmp_path, case, match):
    header = ["N", "C", "loss"]
    rows = [list(r) for r in ROWS]
    kwargs = {"need": ("N", "D")}
    f = tmp_path / "r.csv"
    if case == "missing_loss":
        write_csv(f, ["N", "C", "val"], rows)
    elif case == "missing_chosen":
        write_csv(f, header, rows)
        kwargs["columns"] = {"N": "size"}
    elif case == "missing_input":
        write_csv(f, ["N", "loss"], [[r[0], r[2]] for r in rows])
    elif case in ("negative", "zero", "nan", "text", "empty_cell"):
        rows[3][2] = {"negative": -1.0, "zero": 0, "nan": "nan", "text": "abc", "empty_cell": ""}[case]
        write_csv(f, header, rows)
    elif case == "empty_file":
        f.write_text("")
    elif case == "header_only":
        f.write_text("N,C,loss\n")
    elif case == "bad_json":
        f = tmp_path / "r.json"
        f.write_text("[{\"N\": 1,")
    elif case == "absent":
        f = tmp_path / "nope.csv"
    with pytest.raises(InputError, match=match) as info:
        load_runs(f, **kwargs)
    assert "\n" not in str(info.value)
    if case in ("negative", "nan", "text"):
        assert info.value.field == "loss" and "row 4" in info.value.problem
