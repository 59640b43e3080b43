"""Backprop as people write it in public code: course notebooks (CS231n's dict of W1 b1 ...,
the deep-learning course's L-layer net with samples as columns, the ML course's unrolled
Theta1 Theta2 with the bias as the first column) and "from scratch" blog nets. Each test
writes the style's code itself, with one classic mistake, and holds relu-diag's words to an
independent oracle: the closed-form gradient, and the fixed code passing."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag import check_function
from relu_ce_diag.cli import main
from relu_ce_diag.errors import UserFunctionError

sys.path.insert(0, str(Path(__file__).parent))
from test_octave_matfile import NEEDS_OCTAVE, matrix, write_mat  # noqa: E402


def _finding(r, fid: str):
    return next(f for f in r.findings if f.id == fid)


def _ids(r) -> set[str]:
    return {f.id for f in r.findings}


# --- a CS231n-style two-layer net, hidden activation of choice ------------------------------

def _cs231n_case(seed: int = 1, N: int = 10, D: int = 4, H: int = 6, C: int = 3):
    rng = np.random.default_rng(seed)
    params = {"W1": 0.5 * rng.standard_normal((D, H)), "b1": 0.1 * rng.standard_normal(H),
              "W2": 0.5 * rng.standard_normal((H, C)), "b2": np.zeros(C)}
    return params, rng.standard_normal((N, D)), rng.integers(C, size=N)


def _two_layer(act: str, with_derivative: bool, bias_axis: int = 0, half: bool = False):
    """A softmax classifier with one hidden layer (relu or tanh), mean loss, reg*sum(W*W)
    (or 0.5*reg*sum(W*W))."""
    reg, k = 0.1, 0.5 if half else 1.0

    def fn(params, X, y):
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        N = X.shape[0]
        z1 = X @ W1 + b1
        h1 = np.maximum(0, z1) if act == "relu" else np.tanh(z1)
        scores = h1 @ W2 + b2
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(N), y]).mean() + k * reg * (np.sum(W1 * W1)
                                                                   + np.sum(W2 * W2))
        dscores = probs
        dscores[np.arange(N), y] -= 1
        dscores /= N
        dh = dscores @ W2.T
        if with_derivative:
            dh = dh * ((z1 > 0) if act == "relu" else 1 - h1 ** 2)
        return loss, {"W1": X.T @ dh + 2 * k * reg * W1, "b1": dh.sum(axis=bias_axis),
                      "W2": h1.T @ dscores + 2 * k * reg * W2, "b2": dscores.sum(axis=0)}
    return fn


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_a_missing_hidden_derivative_is_named_by_its_activation(act: str) -> None:
    """The hidden delta without its derivative: the finding names relu's mask for relu and
    tanh' for tanh (never a relu mask in a tanh net); the same code with it passes."""
    params, X, y = _cs231n_case()
    desc = {"act": act, "loss": "cce", "l2": 0.1}
    r = check_function(_two_layer(act, False), params, X, y, **desc)
    kb = _finding(r, "known-bug")
    assert dict(kb.data)["match"] == "missing-hidden-derivative"
    assert ("no relu mask" in kb.message) == (act == "relu")
    assert ("no tanh' factor" in kb.message) == (act == "tanh")
    assert check_function(_two_layer(act, True), params, X, y, **desc).status == "pass"


def test_the_fitted_reduction_and_l2_form_are_said_once() -> None:
    """The description says once what it fitted to the loss, not 'fitted to your loss' twice."""
    params, X, y = _cs231n_case()
    r = check_function(_two_layer("relu", True, half=True), params, X, y, act="relu",
                       loss="cce", l2=0.1)
    assert r.status == "pass"
    msg = _finding(r, "description").message
    assert msg.count("fitted to your loss") == 1, msg
    assert "(fitted to your loss: the reduction and the L2 term 0.5*lam*sum(W^2))" in msg


def test_a_bias_summed_over_the_wrong_axis_is_refused_with_the_likely_cause() -> None:
    """db1 = dh.sum(axis=1) gives one value per sample: refused in one line that says so."""
    params, X, y = _cs231n_case()
    with pytest.raises(UserFunctionError, match=r"grads\['b1'\] has shape \(10,\) but "
                       r"params\['b1'\] has shape \(6,\); its 10 values are one per sample: a "
                       r"sum over the wrong axis\?"):
        check_function(_two_layer("relu", True, bias_axis=1), params, X, y)


def test_a_gradient_of_the_wrong_size_that_is_not_per_sample_gets_no_axis_hint() -> None:
    """A bias gradient with as many values as X has features is not called per sample."""
    params, X, y = _cs231n_case()

    def fn(p, X, y):
        loss, g = _two_layer("relu", True)(p, X, y)
        return loss, {**g, "b1": np.zeros(X.shape[1])}

    with pytest.raises(UserFunctionError) as info:
        check_function(fn, params, X, y)
    assert "has shape (4,) but params['b1'] has shape (6,)" in str(info.value)
    assert "per sample" not in str(info.value)


# --- the deep-learning course's L-layer net: samples as columns, caches, dW1 db1 ------------

def _columns_case(seed: int = 3, dims=(4, 5, 3, 1), m: int = 9):
    rng = np.random.default_rng(seed)
    params = {}
    for k in range(1, len(dims)):
        params[f"W{k}"] = 0.6 * rng.standard_normal((dims[k], dims[k - 1]))
        params[f"b{k}"] = 0.05 * rng.standard_normal((dims[k], 1))
    X = rng.standard_normal((dims[0], m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    return params, X, Y


def _l_model(db_times_m: tuple[int, ...] = (), sigmoid_backward: bool = True):
    """L_model_forward / L_model_backward: relu hidden, sigmoid output, cost -1/m sum(...).
    ``db_times_m`` lists the layers whose db forgets the 1/m."""

    def fn(parameters, X, Y):
        L = len(parameters) // 2
        m = X.shape[1]
        A, caches = X, []
        for k in range(1, L + 1):
            Z = parameters[f"W{k}"] @ A + parameters[f"b{k}"]
            caches.append((A, Z))
            A = 1 / (1 + np.exp(-Z)) if k == L else np.maximum(0, Z)
        AL = A
        cost = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m
        dA = -(Y / AL - (1 - Y) / (1 - AL))
        grads = {}
        for k in range(L, 0, -1):
            A_prev, Z = caches[k - 1]
            if k == L:
                dZ = dA * AL * (1 - AL) if sigmoid_backward else dA
            else:
                dZ = np.where(Z > 0, dA, 0.0)
            grads[f"dW{k}"] = dZ @ A_prev.T / m
            db = np.sum(dZ, axis=1, keepdims=True)
            grads[f"db{k}"] = db if k in db_times_m else db / m
            dA = parameters[f"W{k}"].T @ dZ
        return cost, grads
    return fn


COLS = {"act": "relu", "out": "sigmoid", "loss": "ce"}


def test_every_db_without_its_1_over_m_is_named_and_localised_by_m() -> None:
    """db = np.sum(dZ, axis=1, keepdims=True) without / m in every layer: the localisation
    reads the factor as N (= m, the samples are X's columns) and the catalogue names it; the
    closed form holds (db is m times the right one) and the fixed code passes."""
    params, X, Y = _columns_case()
    m = X.shape[1]
    right = _l_model()(params, X, Y)[1]
    wrong = _l_model(db_times_m=(1, 2, 3))(params, X, Y)[1]
    for k in (1, 2, 3):
        np.testing.assert_allclose(wrong[f"db{k}"], m * right[f"db{k}"])
    plain = check_function(_l_model(db_times_m=(1, 2, 3)), params, X, Y)
    loc = _finding(plain, "localisation").message
    assert f"b1 is N (N = {m}) x the numerical gradient" in loc, loc
    r = check_function(_l_model(db_times_m=(1, 2, 3)), params, X, Y, **COLS)
    kb = _finding(r, "known-bug")
    assert dict(kb.data)["match"] == "biases-scaled", kb.message
    assert "db1 = np.sum(dZ1, axis=1, keepdims=True) / m" in kb.fix
    assert check_function(_l_model(), params, X, Y, **COLS).status == "pass"


def test_one_output_bias_is_not_called_off_by_a_constant_factor() -> None:
    """The output delta without sigmoid' makes every block wrong; the one-entry b3 always
    fits some factor, so the localisation must not single it out as 'x the numerical
    gradient'."""
    params, X, Y = _columns_case()
    r = check_function(_l_model(sigmoid_backward=False), params, X, Y)
    assert r.status == "fail"
    loc = _finding(r, "localisation").message
    assert "x the numerical gradient" not in loc, loc
    assert "b3 (1 of 1)" in loc


def test_with_a_right_output_layer_no_known_bug_does_not_point_at_the_output_delta() -> None:
    """db without 1/m in the hidden layers only: not catalogued; the advice then says the
    output layer is right and prints the layers below it, not the output delta as the fix."""
    params, X, Y = _columns_case()
    r = check_function(_l_model(db_times_m=(1, 2)), params, X, Y, **COLS)
    assert "known-bug" not in _ids(r)
    nb = _finding(r, "no-known-bug")
    assert nb.fix.startswith("the output layer is right"), nb.fix
    assert "db1 = np.sum(dZ1, axis=1, keepdims=True) / m" in nb.fix
    loc = _finding(r, "localisation").message
    assert "right: W1, W2, W3, b3" in loc and f"b2 is N (N = {X.shape[1]})" in loc


# --- the ML course's Theta1 Theta2: the bias as the first column ----------------------------

def _theta_case(seed: int = 4, m: int = 10, n_in: int = 4, n_h: int = 5, K: int = 3):
    rng = np.random.default_rng(seed)
    params = {"Theta1": 0.5 * rng.standard_normal((n_h, n_in + 1)),
              "Theta2": 0.5 * rng.standard_normal((K, n_h + 1))}
    return params, rng.standard_normal((m, n_in)), np.arange(m) % K + 1  # 1-based labels


def _nn_cost(regularise_bias: bool, lam: float = 1.0):
    """nnCostFunction in NumPy: sigmoid layers, one-hot Y, the L2 term skipping column 0."""

    def sig(z):
        return 1 / (1 + np.exp(-z))

    def fn(params, X, y):
        T1, T2 = params["Theta1"], params["Theta2"]
        m, K = X.shape[0], T2.shape[0]
        a1 = np.hstack([np.ones((m, 1)), X])
        z2 = a1 @ T1.T
        a2 = np.hstack([np.ones((m, 1)), sig(z2)])
        h = sig(a2 @ T2.T)
        Y = np.eye(K)[y - 1]
        J = np.sum(-Y * np.log(h) - (1 - Y) * np.log(1 - h)) / m
        J += lam / (2 * m) * (np.sum(T1[:, 1:] ** 2) + np.sum(T2[:, 1:] ** 2))
        d3 = h - Y
        d2 = (d3 @ T2[:, 1:]) * sig(z2) * (1 - sig(z2))
        g1, g2 = d2.T @ a1 / m, d3.T @ a2 / m
        if regularise_bias:
            g1, g2 = g1 + lam / m * T1, g2 + lam / m * T2
        else:
            g1[:, 1:] += lam / m * T1[:, 1:]
            g2[:, 1:] += lam / m * T2[:, 1:]
        return J, {"Theta1": g1, "Theta2": g2}
    return fn


def test_a_regularised_bias_column_is_localised_to_column_0() -> None:
    """The L2 gradient on the bias column too: exactly column 0 of each Theta is wrong (the
    closed form: off by lam/m * Theta[:, 0]), and the localisation says so."""
    params, X, y = _theta_case()
    good, bad = _nn_cost(False)(params, X, y)[1], _nn_cost(True)(params, X, y)[1]
    for k in ("Theta1", "Theta2"):
        np.testing.assert_allclose(bad[k][:, 0] - good[k][:, 0], params[k][:, 0] / X.shape[0])
    assert check_function(_nn_cost(False), params, X, y).status == "pass"
    r = check_function(_nn_cost(True), params, X, y)
    loc = _finding(r, "localisation")
    assert "Theta1 (5 of 25: column 0 only), Theta2 (3 of 18: column 0 only)" in loc.message
    assert "the bias column" in loc.message and "2:end" in loc.fix


def test_described_theta_blocks_are_read_as_the_theta_layout() -> None:
    """Theta1 Theta2 (bias first) described as sigmoid + ce with lambda: the right function
    matches the exact gradient (mean over m, lam/(2m) over every column but the bias), and
    the bias column regularised too is named, with the NumPy fix in ex4's names."""
    params, X, y = _theta_case()
    ok = check_function(_nn_cost(False), params, X, y, act="sigmoid", loss="ce", l2=1.0)
    assert ok.status == "pass" and "matches-exact" in _ids(ok)
    words = _finding(ok, "description").message
    assert "theta layout" in words and "the bias as the first column" in words
    assert "mean over the 10 samples" in words and "lam/(2N)*sum(W^2)" in words
    bad = check_function(_nn_cost(True), params, X, y, act="sigmoid", loss="ce", l2=1.0)
    kb = _finding(bad, "known-bug")
    assert dict(kb.data)["match"] == "l2-on-biases", kb.message
    assert "Theta1_grad = (d2.T @ a1) / m + (1 / m) * np.hstack(" in dict(kb.data)["code"]


def test_theta_blocks_described_as_another_layout_is_exit_2(tmp_path: Path) -> None:
    """--layout seed for Theta1 Theta2: exit 2, one line naming --layout theta, no
    traceback."""
    params, X, y = _theta_case()
    (tmp_path / "nn.py").write_text(
        "import numpy as np\n"
        "def cost(params, X, y):\n"
        "    T1, T2 = params['Theta1'], params['Theta2']\n"
        "    return float(np.sum(T1 ** 2) + np.sum(T2 ** 2)), {'Theta1': 2 * T1, "
        "'Theta2': 2 * T2}\n", encoding="utf-8")
    np.savez(tmp_path / "case.npz", X=X, y=y, **params)
    res = CliRunner().invoke(main, ["check", "--fn", str(tmp_path / "nn.py:cost"), "--data",
                                    str(tmp_path / "case.npz"), "--act", "sigmoid", "--loss",
                                    "ce", "--layout", "seed"])
    assert res.exit_code == 2
    err = [line for line in res.stderr.splitlines() if "error" in line]
    assert len(err) == 1 and "Traceback" not in res.output + res.stderr
    assert re.search(r"Theta1 Theta2 \(bias as the first column\) are the theta layout: "
                     r"--layout theta", err[0])


# --- the same through GNU Octave: nnCostFunction.m with the sizes saved in the .mat ---------

EXAMPLES = Path(__file__).parent / "examples"


def _octave_case(tmp_path: Path, sizes: bool) -> str:
    """Theta1 (5x5), Theta2 (3x6), X (20x4), labels y in 1..3, lambda, and (``sizes``) the
    course's scalars input_layer_size hidden_layer_size num_labels, as save -v7 writes them."""
    rng = np.random.default_rng(7)
    arrays = {"Theta1": 0.5 * rng.standard_normal((5, 5)),
              "Theta2": 0.5 * rng.standard_normal((3, 6)),
              "X": rng.standard_normal((20, 4)), "y": (np.arange(20) % 3 + 1.0)[:, None],
              "lambda": np.array([[1.5]])}
    if sizes:
        arrays.update(input_layer_size=np.array([[4.0]]), hidden_layer_size=np.array([[5.0]]),
                      num_labels=np.array([[3.0]]))
    return write_mat(tmp_path / "ex4.mat", [matrix(k, v) for k, v in arrays.items()])


@NEEDS_OCTAVE
def test_sizes_saved_but_not_used_in_call_are_named_when_w_does_not_fit(tmp_path: Path) -> None:
    """The course's sizes saved in the .mat while --call writes the numbers: they become
    entries of W and the reshape fails at W (the first timing call). The one line names how
    W was unrolled and those scalars; --call with their names, as the line says, passes."""
    data = _octave_case(tmp_path, sizes=True)
    fn = str(EXAMPLES / "nnCostFunction.m")
    r = CliRunner().invoke(main, ["check", "--fn", fn, "--data", data, "--call",
                                  "nnCostFunction(W, 4, 5, 3, X, y, lambda)"])
    assert r.exit_code == 2, r.output
    line = r.stderr.strip().splitlines()[-1]
    assert "W = [Theta1(:); Theta2(:); input_layer_size(:); hidden_layer_size(:); " \
           "num_labels(:)], 46 entries" in line, line
    assert "scalars of the data file the expression does not use" in line
    ok = CliRunner().invoke(main, ["check", "--fn", fn, "--data", data, "--call",
                                   "nnCostFunction(W, input_layer_size, hidden_layer_size, "
                                   "num_labels, X, y, lambda)"])
    assert ok.exit_code == 0, ok.output


@NEEDS_OCTAVE
def test_a_regularised_bias_column_in_matlab_is_column_0_of_each_theta(tmp_path: Path) -> None:
    """nnCostFunction.m regularising the bias columns too (the loss skips them): W is
    unrolled column-major, and the localisation still reads column 0 of each Theta."""
    source = (EXAMPLES / "nnCostFunction.m").read_text()
    buggy = re.sub(r"Theta([12])_grad\(:, 2:end\) = Theta[12]_grad\(:, 2:end\) \+ "
                   r"\(lambda / m\) \* Theta[12]\(:, 2:end\);",
                   r"Theta\1_grad = Theta\1_grad + (lambda / m) * Theta\1;", source)
    assert buggy.count("(lambda / m) * Theta") == 2 and buggy != source, buggy
    (tmp_path / "nnCostFunction.m").write_text(buggy)
    r = CliRunner().invoke(main, ["check", "--fn", str(tmp_path / "nnCostFunction.m"),
                                  "--data", _octave_case(tmp_path, sizes=False), "--call",
                                  "nnCostFunction(W, 4, 5, 3, X, y, lambda)"])
    assert r.exit_code == 1, r.output
    flat = " ".join(r.stdout.split())
    assert "Theta1 (5 of 25: column 0 only), Theta2 (3 of 18: column 0 only)" in flat, flat
