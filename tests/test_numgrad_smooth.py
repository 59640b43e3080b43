"""The smooth-layers route and the float32 margins, against the plain-loop oracle of the review."""

from __future__ import annotations

import numpy as np
import pytest
from test_numgrad import _case, _structured
from test_numgrad_review import _check

from relu_ce_diag.model.network import Net, forward, pack
from relu_ce_diag.numeric.fast import DEFAULT_BLOCK_ELEMENTS, pairs, smooth, taylor
from relu_ce_diag.numeric.fast.evaluator import ROUNDING_ULPS, Evaluator


def _spy(monkeypatch, module, name: str) -> list[tuple]:
    """Record the arguments of every call of ``module.name`` (the call still runs)."""
    calls: list[tuple] = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


@pytest.mark.parametrize(("act", "out", "loss", "eps", "h", "route"), [
    ("tanh", "softmax", "cce", 1e-8, 1e-4, "_odd_sum"),  # closed form: one product per order
    ("sigmoid", "sigmoid", "ce", 1e-8, 1e-3, "_odd_sum"),
    ("softplus", "tanh", "se", 1e-8, 1e-4, "_output_pairs"),  # another head: output exactly
    ("tanh", "softmax", "cce", 0.2, 1e-3, "_output_pairs"),  # samples near the clamp
    ("tanh", "softmax", "cce", 1e-8, 0.5, "exact_pairs"),  # steps beyond the polynomials
])
def test_each_part_of_the_smooth_route_runs_and_equals_the_loop(monkeypatch, act, out, loss,
                                                                 eps, h, route):
    """Each of the smooth route's three ways (closed-form sum, exact output from the jets,
    exact pairs) is taken on its kind of cell, and the result matches the oracle."""
    net, W, X, Y = _case(act, out, loss, hidden=(4, 3), eps=eps, seed=8)
    if route == "exact_pairs":
        W = W * 3.0
    calls = _spy(monkeypatch, pairs if route == "exact_pairs" else smooth, route)
    blocks = _spy(monkeypatch, Evaluator, "block")
    _check(net, W, X, Y, h)
    assert calls, f"{route} was not taken"
    assert all(args[1] >= net.last - 1 for args in blocks)  # no smooth layer re-evaluated


def test_the_review_catches_polynomials_cut_short(monkeypatch):
    """A mutant that keeps only the first order of every polynomial (the derivative, not
    the central difference) is caught by the oracle: the review can fail."""
    net, W, X, Y = _case("tanh", "softmax", "cce", hidden=(4, 3), seed=9)
    _check(net, W, X, Y, 1e-2)
    real = taylor.order
    monkeypatch.setattr(taylor, "order", lambda q, eps: None if real(q, eps) is None else 1)
    with pytest.raises(AssertionError):
        _check(net, W, X, Y, 1e-2)


def _cancelling_relu_net(dtype: str, gap: float):
    """Return (net, W, X, Y, h) of relu 1-1-1-1 whose second hidden pre-activation is about
    0.01 as 1000 - 999.99 (terms 2000) and moves by 1000 h = (1 - gap) times itself when
    w1[0, 0] steps: a crossing ``gap`` short of the kink, within float32's rounding."""
    w1, w2 = np.array([[1.0, 0.0]]), np.array([[1000.0, -999.99]])
    net = Net(sizes=(1, 1, 1, 1), act="relu", out="identity", loss="se")
    W = pack([w1, w2, np.array([[1.0, 0.0]])]).astype(dtype)
    X, Y = np.ones((1, 1), dtype=dtype), np.zeros((1, 1), dtype=dtype)
    z2 = float(forward(net, W, X, Y).z[1][0, 0])
    return net, W, X, Y, z2 * (1 - gap) / 1000.0


@pytest.mark.parametrize(("dtype", "linear"), [("float32", False), ("float64", True)])
def test_an_upper_kink_within_float32_rounding_takes_the_exact_route(dtype, linear):
    """A relu unit above the stepped layer, 1e-5 of its value short of crossing, is within
    float32's rounding of its terms (a 1e-12 margin called it safely linear): in float32 it
    is left to the exact evaluation, in float64 it stays on the linear pair route."""
    net, W, X, Y, h = _cancelling_relu_net(dtype, 1e-5)
    fw = forward(net, W, X, Y)
    ev = Evaluator(net, W, fw, Y)
    ulps = ROUNDING_ULPS * float(np.finfo(W.dtype).eps)
    tmax = np.abs(h * fw.inputs[0]).max(axis=1) * (1 + ulps)
    _, lin = pairs.directions(ev, 0, tmax, DEFAULT_BLOCK_ELEMENTS)
    assert bool(lin[0, 0]) is linear
    _check(net, W, X, Y, h)


def _near_clamp(dtype: str, room: float):
    """Return (net, W, X, Y, h) of a softmax/cce net whose smallest output sits ``room``
    (log-space) above the clamp after a step h, its logits 1000 - 999 (terms 2000)."""
    w1 = np.array([[1.0, 0.0]])
    w2 = np.array([[1000.0, -999.0], [0.0, 3.0]])
    X, Y = np.ones((1, 1)), np.array([[0.0, 1.0]])
    probe = Net(sizes=(1, 1, 2), act="relu", out="softmax", loss="cce")
    W = pack([w1, w2]).astype(dtype)
    X, Y = X.astype(dtype), Y.astype(dtype)
    h = 1e-3
    y = float(forward(probe, W, X, Y).y.min())
    net = Net(sizes=(1, 1, 2), act="relu", out="softmax", loss="cce",
              eps=y * float(np.exp(-(2 * h + room))))
    return net, W, X, Y, h


@pytest.mark.parametrize(("dtype", "safe"), [("float32", False), ("float64", True)])
def test_the_clamp_within_float32_rounding_is_not_taken_as_safe(dtype, safe):
    """An output 1e-5 (log-space) above the clamp after the step, with logits whose float32
    rounding is far larger (a 1e-6 slack called it safe): in float32 the closed form is
    refused and the output is evaluated as computed; in float64 it is safe."""
    net, W, X, Y, h = _near_clamp(dtype, 1e-5)
    fw = forward(net, W, X, Y)
    ev = Evaluator(net, W, fw, Y)
    assert bool(ev.safe(np.array([0]), np.array([h]))[0]) is safe
    _check(net, W, X, Y, h)
    assert _structured(net, W, X, Y, h).numeric.dtype == np.dtype(dtype)
