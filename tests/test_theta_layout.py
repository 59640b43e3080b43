"""The ML course's ex4 layout (``theta``): Theta1 (hidden, input + 1) and Theta2 (labels,
hidden + 1) with the bias as the FIRST column, unrolled as ``[Theta1(:); Theta2(:)]``, labels
1..K, the mean logistic cost plus lambda/(2m) over every column but the bias. Described, the
right function matches the exact gradient, its classic bugs are named, and the printed MATLAB
fix, pasted into the .m file, makes it pass through Octave."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag import check_function
from relu_ce_diag.check.octave_code import call_sizes
from relu_ce_diag.cli import main
from relu_ce_diag.errors import OptionError
from relu_ce_diag.settings.describe import describe_user, detect_layout
from relu_ce_diag.settings.function import Description
from relu_ce_diag.settings.params import flat_point, named_point

sys.path.insert(0, str(Path(__file__).parent))
from test_octave_matfile import NEEDS_OCTAVE, matrix, write_mat  # noqa: E402

EXAMPLES = Path(__file__).parent / "examples"
SIZES = "input_layer_size, hidden_layer_size, num_labels"
DESC = ["--act", "sigmoid", "--loss", "ce", "--l2", "1"]


def _case(seed: int = 3, m: int = 10, n: int = 4, h: int = 5, K: int = 3):
    rng = np.random.default_rng(seed)
    T1, T2 = 0.5 * rng.standard_normal((h, n + 1)), 0.5 * rng.standard_normal((K, h + 1))
    return T1, T2, rng.standard_normal((m, n)), (np.arange(m) % K + 1.0)


# --- reading the layout (no Octave) ----------------------------------------------------------

def test_the_flat_theta_vector_maps_onto_the_seed_layout() -> None:
    """[Theta1(:); Theta2(:)] is read as the seed's [w1(:); w2(:)] with w = [Theta(:, 2:end)
    Theta(:, 1)]; the L2 mask is every column but Theta's first."""
    T1, T2, X, y = _case()
    W = np.concatenate([T1.ravel(order="F"), T2.ravel(order="F")])
    d = describe_user(Description(act="sigmoid", loss="ce", layout="theta"),
                      flat_point(W, X, y))
    seed = np.concatenate([np.hstack([T[:, 1:], T[:, :1]]).ravel(order="F") for T in (T1, T2)])
    np.testing.assert_array_equal(d.to_seed(W), seed)
    mask = np.concatenate([(np.arange(T.size) >= T.shape[0]) for T in (T1, T2)])
    np.testing.assert_array_equal(d.weights, mask)
    assert d.net.sizes == (4, 5, 3) and d.Y.shape == (10, 3)
    np.testing.assert_array_equal(d.Y.argmax(axis=1) + 1, y)  # labels 1..K, one-hot


def test_named_theta_blocks_are_detected_in_either_order() -> None:
    """Theta1 Theta2 blocks are the theta layout whether raveled C (NumPy) or F (Octave)."""
    T1, T2, X, y = _case()
    point = named_point({"Theta1": T1, "Theta2": T2}, X, y)
    assert detect_layout(point) == "theta"
    d = describe_user(Description(act="sigmoid", loss="ce"), point)
    seed = np.concatenate([np.hstack([T[:, 1:], T[:, :1]]).ravel(order="F") for T in (T1, T2)])
    np.testing.assert_array_equal(d.to_seed(point.W), seed)


@pytest.mark.parametrize("expr, sizes", [
    ("nnCostFunction(W, 4, 5, 3, X, y, 1)", (4, 5, 3)),
    (f"nnCostFunction(W, {SIZES}, X, y, lambda)", (4, 5, 3)),
    ("backprop(W, X, Y)", ()), ("f(W, 3, X, y)", ()), ("f(W, 2.5, 3, X, y)", ())])
def test_call_sizes_are_read_from_the_course_signature(expr: str, sizes: tuple) -> None:
    """The layer sizes between W and X, as numbers or scalars of the data file."""
    data = {"input_layer_size": np.array([[4.0]]), "hidden_layer_size": np.array([[5.0]]),
            "num_labels": np.array([[3.0]])}
    assert call_sizes(expr, data) == sizes


def test_a_flat_vector_without_call_sizes_stays_the_seed_layout() -> None:
    """Nothing tells a flat W of the same size apart, so it is read as before (seed)."""
    T1, T2, X, y = _case()
    W = np.concatenate([T1.ravel(order="F"), T2.ravel(order="F")])
    assert detect_layout(flat_point(W, X, y)) == "seed"


def test_theta_blocks_beside_unused_scalars_say_which_and_what_to_do() -> None:
    """ex4.mat's sizes saved but written as numbers in --call are parameters too: one line
    names them and says to use them in --call (not a layout to give)."""
    T1, T2, X, y = _case()
    point = named_point({"Theta1": T1, "Theta2": T2, "num_labels": np.array([[3.0]])}, X, y)
    with pytest.raises(OptionError, match="num_labels are parameters too, as variables of "
                       "the data file the --call expression does not use: use them in --call"):
        describe_user(Description(act="sigmoid", loss="ce"), point)


# --- through GNU Octave: the fixtures tests/examples/ex4_*.m ---------------------------------

def _mat(tmp_path: Path, form: str) -> str:
    """The case as ex4 saves it: Theta blocks with the sizes and lambda, or a flat W."""
    T1, T2, X, y = _case()
    arrays: dict[str, np.ndarray] = {"X": X, "y": y[:, None]}
    if form == "blocks":
        arrays.update(Theta1=T1, Theta2=T2, lambda_=np.array([[1.0]]),
                      input_layer_size=np.array([[4.0]]), hidden_layer_size=np.array([[5.0]]),
                      num_labels=np.array([[3.0]]))
    else:
        arrays[form] = np.concatenate([T1.ravel(order="F"), T2.ravel(order="F")])[:, None]
    elements = [matrix(k.rstrip("_"), v) for k, v in arrays.items()]
    return write_mat(tmp_path / f"ex4_{form}.mat", elements)


def _check(fn: Path, data: str, form: str = "blocks") -> tuple[int, dict]:
    name = fn.stem
    call = (f"{name}(W, {SIZES}, X, y, lambda)" if form == "blocks"
            else f"{name}(W, 4, 5, 3, X, y, 1)")
    r = CliRunner().invoke(main, ["check", "--fn", str(fn), "--data", data, "--call", call,
                                  *DESC, "--format", "json"])
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout)


def _finding(doc: dict, fid: str) -> dict:
    return next(f for f in doc["cells"][0]["findings"] if f["id"] == fid)


def _statements(code: str) -> list[str]:
    """Split one line of MATLAB into statements at '; ' outside brackets."""
    out, depth, cur = [], 0, ""
    for i, ch in enumerate(code):
        depth += (ch in "([") - (ch in ")]")
        if ch == ";" and depth == 0 and code[i + 1:i + 2] in (" ", ""):
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [s for s in (*out, cur.strip()) if s]


def apply_fix_m(source: str, code: str) -> str:
    """Paste a printed MATLAB fix: each statement replaces the LAST line that assigns its name
    (``NAME = ...`` or ``NAME(...) = ...``), as a user replaces the lines computing it."""
    lines = source.splitlines()
    for statement in _statements(code):
        name = statement.partition("=")[0].strip()
        pattern = re.compile(rf"^\s*{re.escape(name)}\s*(\(.*?\))?\s*=(?!=)")
        hits = [i for i, ln in enumerate(lines) if pattern.match(ln)]
        assert hits, f"the fix {code!r} found no line assigning {name}"
        lines[hits[-1]] = statement + ";"
    return "\n".join(lines) + "\n"


@NEEDS_OCTAVE
@pytest.mark.parametrize("form", ["blocks", "W", "nn_params"])
def test_the_right_ex4_function_matches_the_exact_gradient(tmp_path: Path, form: str) -> None:
    """ex4_cost.m, described (sigmoid, ce, --l2 1), from Theta blocks with the sizes by name
    in --call, or a flat W / nn_params with the sizes written in: matches-exact, and the
    description says it read the theta layout, mean over m and lam/(2N)."""
    code, doc = _check(EXAMPLES / "ex4_cost.m", _mat(tmp_path, form), form)
    assert code == 0
    assert _finding(doc, "matches-exact")
    words = _finding(doc, "description")["message"]
    assert words.startswith("read as: theta layout (Theta_l (n_l, n_{l-1} + 1), the bias as "
                            "the first column"), words
    assert "4-5-3, sigmoid hidden, sigmoid output, ce as the mean over the 10 samples plus " \
           "lam/(2N)*sum(W^2) with lam = 1" in words
    assert doc["cells"][0]["settings"]["layout"] == "theta"


@NEEDS_OCTAVE
@pytest.mark.parametrize("fn, bug, form", [
    ("ex4_bias_reg.m", "l2-on-biases", "blocks"), ("ex4_bias_reg.m", "l2-on-biases", "W"),
    ("ex4_no_sig_grad.m", "missing-hidden-derivative", "blocks")])
def test_ex4_bugs_are_named_and_their_matlab_fix_passes_when_pasted(
        tmp_path: Path, fn: str, bug: str, form: str) -> None:
    """The bias column regularised, or sigmoidGradient forgotten: exit 1, known-bug names the
    mistake with a MATLAB fix in ex4's names; pasted in place of the lines assigning the same
    names, the file passes and matches the exact gradient."""
    data = _mat(tmp_path, form)
    code, doc = _check(EXAMPLES / fn, data, form)
    assert code == 1
    kb = _finding(doc, "known-bug")
    assert kb["data"]["match"] == bug, kb["message"]
    fix = kb["data"]["code"]
    assert fix in kb["fix"] and "np." not in fix and fix.endswith(";")
    if bug == "l2-on-biases":
        assert "first column regularised" in kb["message"]
        assert fix.startswith("Theta1_grad = (d2' * a1) / m + (1 / m) * "
                              "[zeros(size(Theta1, 1), 1) Theta1(:, 2:end)];"), fix
    else:
        assert fix == "d2 = (d3 * Theta2(:, 2:end)) .* sigmoidGradient(z2);"
    fixed = tmp_path / fn
    fixed.write_text(apply_fix_m((EXAMPLES / fn).read_text(), fix))
    assert fixed.read_text() != (EXAMPLES / fn).read_text()
    again, doc2 = _check(fixed, data, form)
    assert again == 0, fixed.read_text()
    assert _finding(doc2, "matches-exact")


@NEEDS_OCTAVE
def test_the_fixtures_differ_only_by_their_bug() -> None:
    """The buggy fixtures are ex4_cost.m with one mistake (and their names)."""
    right = (EXAMPLES / "ex4_cost.m").read_text().splitlines()
    for fn, n in (("ex4_bias_reg.m", 2), ("ex4_no_sig_grad.m", 1)):
        other = (EXAMPLES / fn).read_text().splitlines()
        body = [(a, b) for a, b in zip(right[8:], other[9:], strict=True) if a != b]
        assert len(body) == n, body


def test_theta_described_in_python_with_a_flat_vector(tmp_path: Path) -> None:
    """A NumPy port taking the flat [Theta1(:); Theta2(:)] with --layout theta: the right
    one passes with matches-exact, the sizes inferred from W, X and the labels."""
    T1, T2, X, y = _case()
    W = np.concatenate([T1.ravel(order="F"), T2.ravel(order="F")])

    def cost(W, X, y):
        n, K, m = X.shape[1], int(y.max()), X.shape[0]
        h = (W.size - K) // (n + 1 + K)
        A = W[:h * (n + 1)].reshape(h, n + 1, order="F")
        B = W[h * (n + 1):].reshape(K, h + 1, order="F")
        a1 = np.hstack([np.ones((m, 1)), X])
        s2 = 1 / (1 + np.exp(-(a1 @ A.T)))
        a2 = np.hstack([np.ones((m, 1)), s2])
        a3 = 1 / (1 + np.exp(-(a2 @ B.T)))
        Y = np.eye(K)[y.astype(int) - 1]
        J = -np.sum(Y * np.log(a3) + (1 - Y) * np.log(1 - a3)) / m
        J += (np.sum(A[:, 1:] ** 2) + np.sum(B[:, 1:] ** 2)) / (2 * m)
        d3 = a3 - Y
        d2 = (d3 @ B[:, 1:]) * s2 * (1 - s2)
        gA, gB = d2.T @ a1 / m, d3.T @ a2 / m
        gA[:, 1:] += A[:, 1:] / m
        gB[:, 1:] += B[:, 1:] / m
        return J, np.concatenate([gA.ravel(order="F"), gB.ravel(order="F")])

    r = check_function(cost, W, X, y, act="sigmoid", loss="ce", l2=1.0, layout="theta")
    assert r.status == "pass" and any(f.id == "matches-exact" for f in r.findings)
    assert r.worst is None or r.worst.name.startswith("Theta")
