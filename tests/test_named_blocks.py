"""A user's own code as written: named parameter blocks (CS231n-style, course-style columns, the
seed's matrices), labels, means and L2: verdicts, localisation and the known-bug catalogue."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag import check_function
from relu_ce_diag.cli import main
from relu_ce_diag.errors import UserFunctionError

EXAMPLES = Path(__file__).resolve().parent / "examples"
sys.path.insert(0, str(EXAMPLES))
import columns_net  # noqa: E402
import cs231n_net  # noqa: E402
import nets  # noqa: E402

CS_DESC = {"act": "relu", "loss": "cce", "l2": cs231n_net.REG}
COL_DESC = {"act": "relu", "out": "sigmoid", "loss": "ce", "l2": columns_net.LAMBD}
# bug -> (the catalogued bug it is, the blocks the localisation must call wrong)
CS_BUGS = {
    "missing_mask": ("missing-hidden-derivative", {"W1", "b1"}),
    "no_minus_one": ("softmax-missing-minus-one", {"W1", "b1", "W2", "b2"}),
    "l2_half": ("l2-factor", {"W1"}),
    "l2_missing": ("l2-missing", {"W1", "W2"}),
    "hidden_sign": ("hidden-sign", {"W1", "b1"}),
    "sum_not_mean": ("sum-instead-of-mean", {"W1", "b1", "W2", "b2"}),
    "layer1_over_n": ("one-block-scaled", {"W1", "b1"}),
    "bias_over_n": ("one-block-scaled", {"b1"}),
    "transposed": ("transposed-block", {"W2"}),
}
COL_BUGS = {
    "missing_mask": ("missing-hidden-derivative", {"W1", "b1"}),
    "sigmoid_derivative": ("output-derivative-twice", {"W1", "b1", "W2", "b2", "W3", "b3"}),
    "no_regularisation": ("l2-missing", {"W1", "W2", "W3"}),
}


def _wrong_blocks(r) -> set[str]:
    loc = next(f for f in r.findings if f.id == "localisation")
    return {b["name"] for b in dict(loc.data)["blocks"] if b["mismatched"]}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("described", [False, True])
def test_cs231n_correct_passes(seed: int, described: bool) -> None:
    """The right CS231n net (mean, L2, integer labels) passes, described or not."""
    params, X, y = cs231n_net.case(seed)
    r = check_function(cs231n_net.correct, params, X, y, **(CS_DESC if described else {}))
    assert r.status == "pass", r.reason
    assert r.worst is not None and r.worst.name.split("[")[0] in params
    if described:
        assert any(f.id == "matches-exact" for f in r.findings)
        desc = next(f for f in r.findings if f.id == "description")
        assert "cs231n" in desc.message and "mean" in desc.message


@pytest.mark.parametrize("bug", sorted(CS_BUGS))
def test_cs231n_bugs_fail_localised_and_named(bug: str) -> None:
    """Each bug fails; the localisation calls the right blocks wrong and, described, the
    catalogue names the bug."""
    params, X, y = cs231n_net.case(0)
    fn = getattr(cs231n_net, bug)
    name, blocks = CS_BUGS[bug]
    plain = check_function(fn, params, X, y)
    assert plain.status == "fail" and _wrong_blocks(plain) == blocks
    r = check_function(fn, params, X, y, **CS_DESC)
    kb = next(f for f in r.findings if f.id == "known-bug")
    assert dict(kb.data)["match"] == name, kb.message


@pytest.mark.parametrize("bug", sorted(COL_BUGS))
def test_columns_bugs_fail_localised_and_named(bug: str) -> None:
    """The course-style 3-layer net (samples as columns) with each bug: named and localised."""
    params, X, Y = columns_net.case(1)
    name, blocks = COL_BUGS[bug]
    r = check_function(getattr(columns_net, bug), params, X, Y, **COL_DESC)
    assert r.status == "fail" and _wrong_blocks(r) == blocks
    kb = next(f for f in r.findings if f.id == "known-bug")
    assert dict(kb.data)["match"] == name, kb.message


def test_columns_correct_passes_and_the_layout_is_detected() -> None:
    """The right columns net passes; the layout is detected from the shapes and stated."""
    params, X, Y = columns_net.case(2)
    r = check_function(columns_net.correct, params, X, Y, **COL_DESC)
    assert r.status == "pass"
    assert "columns layout" in next(f for f in r.findings if f.id == "description").message


def test_a_relu_unit_exactly_at_zero_is_a_kink() -> None:
    """A hidden unit at exactly 0 for one sample: the entries through it differ only at a kink."""
    params, X, y = cs231n_net.case(3, dead_unit=True)
    r = check_function(cs231n_net.correct, params, X, y, **CS_DESC)
    assert r.status == "kink", r.reason
    assert all(name.startswith("W1[") or name.startswith("b1[") for name in r.set_aside)


def test_dw_spelling_and_a_longer_tuple_are_accepted() -> None:
    """grads spelled dW1, db1 ... and returned with a cache: the same verdict as correct."""
    params, X, y = cs231n_net.case(0)
    r = check_function(cs231n_net.dgrads, params, X, y)
    assert r.status == "pass"


def test_a_list_of_gradients_in_the_params_order_is_accepted() -> None:
    """grads as a list in the order of params passes."""
    params, X, y = cs231n_net.case(0)

    def as_list(p, X, y):
        loss, g = cs231n_net.correct(p, X, y)
        return loss, [g[k] for k in p]

    assert check_function(as_list, params, X, y).status == "pass"


def test_a_wrong_gradient_shape_names_the_key_and_both_shapes() -> None:
    """db of shape (1, H) for b of shape (H,) is refused naming grads['b1'] and both shapes."""
    params, X, y = cs231n_net.case(0)
    with pytest.raises(UserFunctionError, match=r"grads\['b1'\] has shape \(1, 6\) but "
                                                r"params\['b1'\] has shape \(6,\)"):
        check_function(cs231n_net.bias_row, params, X, y)


def test_a_missing_gradient_key_is_named() -> None:
    """grads without W2 (nor dW2) is refused naming the key and what it holds."""
    params, X, y = cs231n_net.case(0)

    def missing(p, X, y):
        loss, g = cs231n_net.correct(p, X, y)
        del g["W2"]
        return loss, g

    with pytest.raises(UserFunctionError, match=r"grads has no 'W2' \(nor 'dW2'\); it holds"):
        check_function(missing, params, X, y)


def test_the_seed_layout_as_named_matrices() -> None:
    """w1 (H, D+1), w2 (C, H+1) with the bias as last column: the seed's shortcut is named."""
    W, X, Y = nets.case(0)
    n_in, n_out = X.shape[1], Y.shape[1]
    n_hid = (W.size - n_out) // (n_in + 1 + n_out)
    cut = n_hid * (n_in + 1)
    params = {"w1": W[:cut].reshape(n_hid, n_in + 1, order="F"),
              "w2": W[cut:].reshape(n_out, n_hid + 1, order="F")}

    def fn(p, X, Y, bug=None):
        flat = np.concatenate([p["w1"].ravel(order="F"), p["w2"].ravel(order="F")])
        f, df = nets.backprop(flat, X, Y, "relu", "relu", "ce", bug=bug)
        return f, {"w1": df[:cut].reshape(p["w1"].shape, order="F"),
                   "w2": df[cut:].reshape(p["w2"].shape, order="F")}

    r = check_function(lambda p, X, Y: fn(p, X, Y, "shortcut-delta"), params, X, Y,
                       act="relu", loss="ce")
    assert r.status == "fail"
    assert dict(next(f for f in r.findings if f.id == "known-bug").data)["match"] == \
        "shortcut-delta"
    assert check_function(fn, params, X, Y, act="relu", loss="ce").status == "pass"


def test_the_command_line_with_a_dict_npz_and_integer_labels(tmp_path: Path) -> None:
    """check --fn with an .npz of W1 b1 W2 b2, X and integer y: entries named by the user."""
    params, X, y = cs231n_net.case(0)
    data = tmp_path / "case.npz"
    np.savez(data, X=X, y=y, **params)
    ref = f"{EXAMPLES / 'cs231n_net.py'}:missing_mask"
    r = CliRunner().invoke(main, ["check", "--fn", ref, "--data", str(data), "--act", "relu",
                                  "--loss", "cce", "--l2", str(cs231n_net.REG)])
    assert r.exit_code == 1, r.output
    assert "W1[" in r.stdout and "known-bug" in r.stdout and "dz1 = (dz2 @ W2.T)" in r.stdout


def test_extra_arguments_by_name_and_a_separate_gradient(tmp_path: Path) -> None:
    """--arg binds an extra parameter by name; --grad takes the gradient from a second
    function (the loss function may return the loss alone)."""
    src = tmp_path / "course.py"
    src.write_text(
        "import numpy as np\n"
        "def cost(theta, n_in, X, y, lam):\n"
        "    return float(np.sum((X @ theta[:n_in] - y) ** 2) + lam * theta @ theta)\n"
        "def grad(theta, n_in, X, y, lam):\n"
        "    r = X @ theta[:n_in] - y\n"
        "    g = 2 * lam * theta\n"
        "    g[:n_in] += 2 * X.T @ r\n"
        "    return g\n")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "c.npz", W=rng.standard_normal(4), X=rng.standard_normal((6, 4)),
             y=rng.standard_normal(6))
    base = ["check", "--fn", f"{src}:cost", "--data", str(tmp_path / "c.npz"),
            "--grad", f"{src}:grad", "--arg", "n_in=4"]
    ok = CliRunner().invoke(main, [*base, "--arg", "lam=0.5"])
    assert ok.exit_code == 0, ok.output
    missing = CliRunner().invoke(main, base)
    assert missing.exit_code == 2 and "lam" in missing.stderr


def _keepdims_net(tanh_prime):
    """A cs231n-style tanh net whose biases are rows (1, H), as ``sum(axis=0, keepdims=True)``
    code keeps them; ``tanh_prime(h)`` is the derivative it writes."""
    def fn(params, X, y):
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        N = X.shape[0]
        h = np.tanh(X @ W1 + b1)
        s = h @ W2 + b2
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        ds = p.copy()
        ds[np.arange(N), y] -= 1
        ds /= N
        dz = (ds @ W2.T) * tanh_prime(h)
        return -np.log(p[np.arange(N), y]).mean(), {
            "W1": X.T @ dz, "b1": dz.sum(axis=0, keepdims=True),
            "W2": h.T @ ds, "b2": ds.sum(axis=0, keepdims=True)}
    return fn


def _keepdims_case():
    rng = np.random.default_rng(1)
    params = {"W1": 0.3 * rng.standard_normal((4, 7)), "b1": 0.1 * rng.standard_normal((1, 7)),
              "W2": 0.3 * rng.standard_normal((7, 3)), "b2": np.zeros((1, 3))}
    return params, rng.standard_normal((10, 4)), rng.integers(3, size=10)


def test_bias_rows_of_shape_1_by_h_are_the_cs231n_layout() -> None:
    """Biases kept as rows (1, H) are read as the cs231n layout: the right net passes
    described, and 1 - tanh instead of 1 - tanh^2 is named as the known bug."""
    params, X, y = _keepdims_case()
    ok = check_function(_keepdims_net(lambda h: 1 - h ** 2), params, X, y, act="tanh",
                        loss="cce")
    assert ok.status == "pass", ok.reason
    assert "cs231n" in next(f for f in ok.findings if f.id == "description").message
    bad = check_function(_keepdims_net(lambda h: 1 - h), params, X, y, act="tanh", loss="cce")
    assert bad.status == "fail"
    assert any(f.id == "known-bug" and "1 - tanh(z)^2" in f.message for f in bad.findings)


def test_shapes_that_fit_no_layout_say_so_without_a_value_never_given(tmp_path: Path) -> None:
    """W1 (4, 7) with b1 (7, 2) fits no layout: one line naming --layout and the shapes,
    not 'got None' for an option the user did not give."""
    params, X, y = _keepdims_case()
    params["b1"] = np.zeros((7, 2))
    np.savez(tmp_path / "c.npz", X=X, y=y, **params)
    src = tmp_path / "net.py"
    src.write_text("def f(params, X, y):\n    return 0.0, params\n")
    r = CliRunner().invoke(main, ["check", "--fn", f"{src}:f", "--data", str(tmp_path / "c.npz"),
                                  "--act", "tanh", "--loss", "cce"])
    assert r.exit_code == 2, r.output
    assert "got" not in r.stderr and "None" not in r.stderr
    assert "--layout" in r.stderr and "b1 (7, 2)" in r.stderr
    assert "fit none of the known layouts" in r.stderr
    undescribed = CliRunner().invoke(main, ["check", "--fn", f"{src}:f", "--data",
                                            str(tmp_path / "c.npz")])
    assert undescribed.exit_code in (0, 1), undescribed.output  # the advice, followed


def test_shapes_that_fit_two_layouts_name_both_options_and_either_works(tmp_path: Path) -> None:
    """X (4, 4), W1 (4, 4), b1 (4,) fit cs231n and columns: the message names both options,
    and the right net passes with --layout cs231n as printed."""
    rng = np.random.default_rng(0)
    params = {"W1": 0.5 * rng.standard_normal((4, 4)), "b1": np.zeros(4),
              "W2": 0.5 * rng.standard_normal((4, 3)), "b2": np.zeros(3)}
    np.savez(tmp_path / "c.npz", X=rng.standard_normal((4, 4)), y=rng.integers(3, size=4),
             **params)
    src = tmp_path / "net.py"
    src.write_text(
        "import numpy as np\n"
        "def f(params, X, y):\n"
        "    W1, b1, W2, b2 = params['W1'], params['b1'], params['W2'], params['b2']\n"
        "    h = np.tanh(X @ W1 + b1)\n"
        "    s = h @ W2 + b2\n"
        "    p = np.exp(s - s.max(axis=1, keepdims=True))\n"
        "    p /= p.sum(axis=1, keepdims=True)\n"
        "    ds = p.copy()\n"
        "    ds[np.arange(len(y)), y] -= 1\n"
        "    dz = (ds @ W2.T) * (1 - h ** 2)\n"
        "    return -np.log(p[np.arange(len(y)), y]).sum(), {'W1': X.T @ dz, 'b1': dz.sum(0),\n"
        "            'W2': h.T @ ds, 'b2': ds.sum(0)}\n")
    base = ["check", "--fn", f"{src}:f", "--data", str(tmp_path / "c.npz"), "--act", "tanh",
            "--loss", "cce"]
    r = CliRunner().invoke(main, base)
    assert r.exit_code == 2 and "--layout cs231n or --layout columns" in r.stderr, r.output
    ok = CliRunner().invoke(main, [*base, "--layout", "cs231n"])
    assert ok.exit_code == 0, ok.output


FLAT_LABELS = (
    "import numpy as np\n"
    "def cost(W, X, y):\n"
    "    N, D = X.shape\n"
    "    H, C = 6, 3\n"
    "    w1 = W[:H * (D + 1)].reshape(H, D + 1, order='F')\n"
    "    w2 = W[H * (D + 1):].reshape(C, H + 1, order='F')\n"
    "    Y = np.eye(C)[y - y.min()]\n"
    "    a1 = np.hstack([X, np.ones((N, 1))])\n"
    "    z2 = a1 @ w1.T\n"
    "    a2 = np.hstack([np.maximum(z2, 0), np.ones((N, 1))])\n"
    "    z3 = a2 @ w2.T\n"
    "    e = np.exp(z3 - z3.max(axis=1, keepdims=True))\n"
    "    out = e / e.sum(axis=1, keepdims=True)\n"
    "    d3 = out - Y\n"
    "    d2 = (d3 @ w2[:, :-1]) * (z2 > 0)\n"
    "    return -np.sum(Y * np.log(out)), np.concatenate([(d2.T @ a1).ravel(order='F'),\n"
    "                                                    (d3.T @ a2).ravel(order='F')])\n")


@pytest.mark.parametrize("first", [0, 1])
def test_a_flat_w_with_integer_labels_is_described_with_one_output_per_class(
        tmp_path: Path, first: int) -> None:
    """The seed's flat W with labels y (0- or 1-based): the classes are the outputs whose
    network fits W's size, so the right function matches the exact gradient (it was an
    internal error); a --hidden that fits no class count is one line naming --hidden."""
    (tmp_path / "flat.py").write_text(FLAT_LABELS)
    rng = np.random.default_rng(0)
    y = np.r_[0, 1, 2, rng.integers(3, size=6)] + first
    np.savez(tmp_path / "c.npz", W=0.5 * rng.standard_normal(6 * 5 + 3 * 7),
             X=rng.standard_normal((9, 4)), y=y)
    base = ["check", "--fn", f"{tmp_path / 'flat.py'}:cost", "--data", str(tmp_path / "c.npz"),
            "--act", "relu", "--out", "softmax", "--loss", "cce"]
    ok = CliRunner().invoke(main, base)
    assert ok.exit_code == 0, ok.output
    assert "matches-exact" in ok.stdout and "4-6-3" in ok.stdout
    bad = CliRunner().invoke(main, [*base, "--hidden", "7"])
    assert bad.exit_code == 2 and "--hidden" in bad.stderr and "classes" in bad.stderr, \
        bad.output
