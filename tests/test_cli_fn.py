"""`relu-diag check --fn`: every example function through the CLI, with its exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).parent / "examples"
sys.path.insert(0, str(EXAMPLES))
import nets  # noqa: E402  (the examples' own network, to make their data)
from test_catalogue import BUGS  # noqa: E402

CORRECT = {  # function in correct.py -> (hidden, output, loss)
    "relu_sigmoid_ce": ("relu", "sigmoid", "ce"),
    "tanh_softmax_cce": ("tanh", "softmax", "cce"),
    "sigmoid_tanh_se": ("sigmoid", "tanh", "se"),
    "leaky_identity_se": ("leaky-relu", "identity", "se"),
    "relu_relu_ce_exact": ("relu", "relu", "ce"),
    "float32_net": ("relu", "sigmoid", "ce"),
    "float32_hidden": ("relu", "sigmoid", "ce"),
    "mutates_inputs": ("relu", "sigmoid", "ce"),
}


def run(*args: str):
    """Invoke the CLI in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(main, ["check", *args])


def _npz(folder: Path, arrays: tuple[np.ndarray, ...], name: str = "case.npz", **drop) -> str:
    W, X, Y = arrays
    keep = {k: v for k, v in {"W": W, "X": X, "Y": Y}.items() if k not in drop}
    np.savez(folder / name, **keep)
    return str(folder / name)


def _describe(act: str, out: str, loss: str) -> list[str]:
    return ["--act", act, "--out", out, "--loss", loss]


@pytest.mark.parametrize("name", sorted(CORRECT))
@pytest.mark.parametrize("described", [False, True])
def test_correct_functions_pass(tmp_path: Path, name: str, described: bool) -> None:
    """Every correct example passes (exit 0), described or not."""
    act, out, loss = CORRECT[name]
    data = _npz(tmp_path, nets.case(1, onehot=loss != "ce"))
    args = ["--fn", f"{EXAMPLES / 'correct.py'}:{name}", "--data", data]
    r = run(*args, *(_describe(act, out, loss) if described else []))
    assert r.exit_code == 0, r.output
    assert "pass" in r.stdout and "calls" in r.stderr


def test_kinked_network_is_kink_and_strict_fails(tmp_path: Path) -> None:
    """A correct relu net with a unit exactly on its kink: kink, exit 0; --strict: exit 1."""
    data = _npz(tmp_path, nets.kinked_case())
    args = ["--fn", f"{EXAMPLES / 'correct.py'}:relu_sigmoid_ce", "--data", data,
            *_describe("relu", "sigmoid", "ce"), "--format", "json"]
    r = run(*args)
    assert r.exit_code == 0, r.output
    cell = json.loads(r.stdout)["cells"][0]
    assert cell["status"] == "kink" and "b1[2]" in cell["set_aside"]
    assert run(*args, "--strict").exit_code == 1


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_buggy_functions_fail_with_the_right_name(tmp_path: Path, bug: str) -> None:
    """Every buggy example fails (exit 1) and the described network names its mistake."""
    act, out, loss = BUGS[bug]
    data = _npz(tmp_path, nets.case(1, onehot=loss != "ce"))
    r = run("--fn", f"{EXAMPLES / 'buggy.py'}:{bug.replace('-', '_')}", "--data", data,
            *_describe(act, out, loss), "--format", "json")
    assert r.exit_code == 1, r.output
    found = {f["id"]: f for f in json.loads(r.stdout)["cells"][0]["findings"]}
    assert found["known-bug"]["data"]["match"] == bug


@pytest.mark.parametrize("name, words", [
    ("raises", "bad.py:12: ValueError: matmul"),
    ("wrong_shape", "df has shape (6, 5) but W has shape (51,)"),
    ("not_scalar", "f must be a real scalar loss; got an array of shape (10,)"),
    ("only_f", "must return (f, df); got a float"),
    ("string_grad", "df must hold real numbers"),
    ("nan_loss", "f is nan at W"),
    ("dropout", "is not deterministic"),
    ("no_such_function", "has no 'no_such_function'"),
])
def test_bad_functions_exit_2_with_one_line(tmp_path: Path, name: str, words: str) -> None:
    """Unusable functions exit 2 with one line naming the problem, no traceback."""
    data = _npz(tmp_path, nets.case(1))
    r = run("--fn", f"{EXAMPLES / 'bad.py'}:{name}", "--data", data)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert words in lines[-1] and lines[-1].startswith("relu-diag: error:")
    assert "Traceback" not in r.stderr and r.stdout == ""
    if name != "dropout":  # found at the first call: no forecast of calls said before it
        assert len(lines) == 1, r.stderr


def test_nan_entries_fail_and_are_named(tmp_path: Path) -> None:
    """NaN entries in df: exit 1, naming them in the seed layout."""
    data = _npz(tmp_path, nets.case(1))
    r = run("--fn", f"{EXAMPLES / 'bad.py'}:nan_entries", "--data", data,
            *_describe("relu", "sigmoid", "ce"))
    assert r.exit_code == 1, r.output
    assert "df holds 2 NaN or infinite entries: b1[0], b2[2]" in r.stdout


@pytest.mark.parametrize("drop, words", [({"W": 1}, "has no array W"),
                                         ({"Y": 1}, "missing array(s) Y")])
def test_missing_npz_keys_exit_2(tmp_path: Path, drop: dict, words: str) -> None:
    """An .npz without W (or Y) is refused in one line."""
    data = _npz(tmp_path, nets.case(1), **drop)
    r = run("--fn", f"{EXAMPLES / 'correct.py'}:relu_sigmoid_ce", "--data", data)
    assert r.exit_code == 2 and words in r.stderr


def test_fn_without_data_exits_2() -> None:
    """--fn needs --data."""
    r = run("--fn", f"{EXAMPLES / 'correct.py'}:relu_sigmoid_ce")
    assert r.exit_code == 2 and "--data" in r.stderr


def test_hidden_that_does_not_fit_w_exits_2(tmp_path: Path) -> None:
    """A description whose size does not match W is refused, naming --hidden."""
    data = _npz(tmp_path, nets.case(1))
    r = run("--fn", f"{EXAMPLES / 'correct.py'}:relu_sigmoid_ce", "--data", data,
            "--hidden", "7")
    assert r.exit_code == 2 and "--hidden: got 7" in r.stderr


def test_worked_example_names_the_seeds_mistake() -> None:
    """The shipped seed port fails, names w2 entries, and calls d3 = y - Y the culprit."""
    r = run("--fn", str(ROOT / "examples" / "seed_backprop.py") + ":backprop",
            "--data", str(ROOT / "examples" / "seed_case.npz"), "--act", "relu", "--loss", "ce",
            "--format", "json")
    assert r.exit_code == 1
    cell = json.loads(r.stdout)["cells"][0]
    ids = [f["id"] for f in cell["findings"]]
    assert ids[0] == "known-bug" and "flat-loss" in ids
    assert cell["worst"]["name"].startswith(("w1", "b1", "w2", "b2"))
    fixed = run("--fn", str(ROOT / "examples" / "seed_backprop.py") + ":backprop_fixed",
                "--data", str(ROOT / "examples" / "seed_case.npz"))
    assert fixed.exit_code == 0, fixed.output


def test_directions_with_fn(tmp_path: Path) -> None:
    """--directions K with --fn checks K directions and says so."""
    data = _npz(tmp_path, nets.case(1))
    r = run("--fn", f"{EXAMPLES / 'buggy.py'}:row_major", "--data", data, "--directions", "5")
    assert r.exit_code == 1 and "[5 directions]" in r.stdout and "10 calls" in r.stderr


def test_seed_case_script_reproduces_the_shipped_file() -> None:
    """examples/make_seed_case.py makes exactly the arrays in examples/seed_case.npz."""
    sys.path.insert(0, str(ROOT / "examples"))
    from make_seed_case import make
    with np.load(ROOT / "examples" / "seed_case.npz") as z:
        for k, v in make().items():
            assert np.array_equal(z[k], v)


def test_json_settings_and_saved_gradients(tmp_path: Path) -> None:
    """An undescribed function's settings say unknown; --save-grads holds df and numeric."""
    data = _npz(tmp_path, nets.case(1))
    out = tmp_path / "grads.npz"
    r = run("--fn", f"{EXAMPLES / 'correct.py'}:relu_sigmoid_ce", "--data", data,
            "--format", "json", "--save-grads", str(out))
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)["cells"][0]["settings"]
    assert (s["act"], s["loss"], s["backprop"], s["hidden"]) == ("unknown", "unknown", "user", [])
    with np.load(out) as z:
        W = nets.case(1)[0]
        assert np.array_equal(z["W"], W) and "exact" not in z.files
        assert np.allclose(z["analytic"], z["numeric"], rtol=1e-5, atol=1e-7)


def test_the_json_settings_name_the_function_checked() -> None:
    """A function cell's JSON settings carry ``fn``: the file and function, as checked."""
    r = run("--fn", "examples/seed_backprop.py:backprop", "--data", "examples/seed_case.npz",
            "--format", "json")
    assert r.exit_code == 1, r.output
    settings = json.loads(r.stdout)["cells"][0]["settings"]
    assert settings["fn"] == "examples/seed_backprop.py:backprop"


SATURATED = '''
import numpy as np

def _forward(params, X):
    z1 = X @ params["W1"] + params["b1"]
    h1 = np.maximum(z1, 0)
    return z1, h1, h1 @ params["W2"] + params["b2"]

def _grads(params, X, z1, h1, dz2):
    dz1 = dz2 @ params["W2"].T * (z1 > 0)
    return {"W1": X.T @ dz1, "b1": dz1.sum(0), "W2": h1.T @ dz2, "b2": dz2.sum(0)}

def probs(params, X, Y):
    z1, h1, z2 = _forward(params, X)
    out = 1 / (1 + np.exp(-z2))
    loss = -np.sum(Y * np.log(out) + (1 - Y) * np.log(1 - out))
    return loss, _grads(params, X, z1, h1, out - Y)

def logits(params, X, Y):
    z1, h1, z2 = _forward(params, X)
    out = 1 / (1 + np.exp(-z2))
    loss = np.sum(np.logaddexp(0, z2) - Y * z2)
    return loss, _grads(params, X, z1, h1, out - Y)
'''


def test_a_nan_loss_from_saturated_outputs_says_why_and_its_advice_works(tmp_path: Path) -> None:
    """Weights large enough that a sigmoid output is exactly 1 make log(1 - y) = -inf and the
    loss nan: exit 2, one line that names log(0) of a saturated output; the loss computed
    from the pre-activations, as advised, with the same gradient y - Y, then passes."""
    (tmp_path / "sat.py").write_text(SATURATED)
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "sat.npz", X=rng.standard_normal((16, 5)),
             Y=(rng.random((16, 3)) < 0.5) * 1.0, W1=10 * rng.standard_normal((5, 10)),
             b1=np.zeros(10), W2=10 * rng.standard_normal((10, 3)), b2=np.zeros(3))
    r = run("--fn", f"{tmp_path / 'sat.py'}:probs", "--data", str(tmp_path / "sat.npz"))
    assert r.exit_code == 2, r.output
    assert "f is nan at W" in r.stderr and "log(0)" in r.stderr and "np.logaddexp" in r.stderr
    assert "Traceback" not in r.stderr
    ok = run("--fn", f"{tmp_path / 'sat.py'}:logits", "--data", str(tmp_path / "sat.npz"))
    assert ok.exit_code == 0, ok.output
