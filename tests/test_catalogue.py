"""The catalogue of known wrong formulas names each mistake of an independent implementation."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from relu_ce_diag import check_function
from relu_ce_diag.diagnostics.catalogue import candidates, closest
from relu_ce_diag.model.described import seed_described
from relu_ce_diag.model.network import Net, backprop, delta_code

sys.path.insert(0, str(Path(__file__).parent / "examples"))
import nets  # noqa: E402  (the examples' own plain-NumPy network, an independent oracle)

BUGS = {  # bug -> (hidden, output, loss) it is shown on
    "shortcut-delta": ("relu", "relu", "ce"),
    "missing-output-derivative": ("tanh", "sigmoid", "se"),
    "row-major": ("relu", "sigmoid", "ce"),
    "dropped-bias": ("relu", "sigmoid", "ce"),
    "factor-2": ("tanh", "identity", "se"),
    "mean-instead-of-sum": ("sigmoid", "sigmoid", "ce"),
    "wrong-leaky-slope": ("leaky-relu", "identity", "se"),
    "shifted-threshold": ("relu", "sigmoid", "ce"),
    "softmax-elementwise": ("tanh", "softmax", "cce"),
}


def _net(W: np.ndarray, X: np.ndarray, Y: np.ndarray, act: str, out: str, loss: str) -> Net:
    n_hid = (W.size - Y.shape[1]) // (X.shape[1] + 1 + Y.shape[1])
    return Net((X.shape[1], n_hid, Y.shape[1]), act, out, loss)


@pytest.mark.parametrize("bug", sorted(BUGS))
@pytest.mark.parametrize("seed", [0, 1])
def test_each_bug_is_named(bug: str, seed: int) -> None:
    """df with each catalogued mistake (from independent code) is matched to that mistake."""
    act, out, loss = BUGS[bug]
    W, X, Y = nets.case(seed, onehot=loss != "ce")
    _, df = nets.backprop(W, X, Y, act, out, loss, bug=bug)
    m = closest(df, candidates(seed_described(_net(W, X, Y, act, out, loss), X, Y), W), 1e-6)
    assert m.matched and m.candidate.name == bug, (m.candidate.name, m.distance)
    assert m.distance < 1e-12 and m.exact_distance > 1e-3


@pytest.mark.parametrize("pair", sorted(set(BUGS.values())))
def test_exact_gradient_is_the_first_candidate(pair: tuple[str, str, str]) -> None:
    """Candidate 0 is the exact gradient: it equals the independent correct backprop."""
    W, X, Y = nets.case(3, onehot=pair[2] != "ce")
    _, df = nets.backprop(W, X, Y, *pair)
    c = next(iter(candidates(seed_described(_net(W, X, Y, *pair), X, Y), W)))
    assert c.name == "exact" and np.allclose(c.grad, df, rtol=1e-12, atol=1e-14)


def test_two_bugs_at_once_are_both_named() -> None:
    """The seed's shortcut delta flattened row-major is named as both."""
    W, X, Y = nets.case(4)
    net = _net(W, X, Y, "relu", "relu", "ce")
    mats = [m for m in net.unpack(backprop(net, W, X, Y, "shortcut")[1])]
    df = np.concatenate([m.ravel(order="C") for m in mats])
    m = closest(df, candidates(seed_described(net, X, Y), W), 1e-6)
    assert m.candidate.name == "shortcut-delta + row-major"


def test_unknown_bug_is_not_forced_into_a_match() -> None:
    """A gradient wrong in a way the catalogue does not know matches nothing."""
    W, X, Y = nets.case(5)
    _, df = nets.backprop(W, X, Y, "relu", "sigmoid", "ce")
    df = df * (1 + 0.3 * np.sin(np.arange(df.size)))
    net = _net(W, X, Y, "relu", "sigmoid", "ce")
    m = closest(df, candidates(seed_described(net, X, Y), W), 1e-6)
    assert not m.matched


@pytest.mark.parametrize("out, loss, text", [
    ("sigmoid", "ce", "d3 = y - Y;"),
    ("relu", "ce", "(-Y ./ max(y, eps) .* (y > eps) + (1 - Y) ./ max(1 - y, eps) "
                   ".* (1 - y > eps)) .* (z3 > 0)"),
    ("softmax", "se", "dLdy = (y - Y); d3 = y .* (dLdy - sum(dLdy .* y, 2))"),
    ("tanh", "cce", "(-Y ./ max(y, eps) .* (y > eps)) .* (1 - y.^2)"),
])
def test_correct_delta_formula(out: str, loss: str, text: str) -> None:
    """The correct output delta is spelled out for the pair (in MATLAB, the seed's names)."""
    assert text in delta_code(Net((2, 3, 2), "relu", out, loss), "matlab")


def test_finding_names_the_match_and_the_correct_formula() -> None:
    """check_function on the seed's mistake says what df equals and the right delta."""
    W, X, Y = nets.case(0)
    r = check_function(lambda W, X, Y: nets.backprop(W, X, Y, "relu", "relu", "ce",
                                                      bug="shortcut-delta"),
                       W, X, Y, act="relu", loss="ce")
    kb = r.findings[0]
    assert r.status == "fail" and kb.id == "known-bug" and kb.severity == "error"
    assert kb.message.startswith("your df equals the shortcut delta d_out = y - Y exactly")
    assert "for a relu output with ce the correct delta is" in kb.fix
    assert dict(kb.data)["match"] == "shortcut-delta"


def test_wrong_description_is_flagged() -> None:
    """Describing the wrong network warns that the loss does not match."""
    W, X, Y = nets.case(0)
    r = check_function(lambda W, X, Y: nets.backprop(W, X, Y, "relu", "sigmoid", "ce"),
                       W, X, Y, act="tanh", out="sigmoid", loss="ce")
    assert r.status == "pass"
    assert any(f.id == "description-mismatch" for f in r.findings)
