"""Closed-form loss differences against the losses evaluated directly and subtracted."""

from __future__ import annotations

import numpy as np
import pytest

from relu_ce_diag.model.activations import ACTIVATIONS
from relu_ce_diag.model.losses import LOSSES
from relu_ce_diag.model.network import forward
from relu_ce_diag.numeric.fast import series as lossdiff
from relu_ce_diag.settings.cells import CellSpec, prepare, validate

RNG = np.random.default_rng(11)


def _direct(out: str, loss: str, z: np.ndarray, Y: np.ndarray, dzp, dzm) -> np.ndarray:
    """Per-sample f(z + dzp) - f(z + dzm), both losses evaluated as computed (A, C)."""
    f = ACTIVATIONS[out].f
    terms = LOSSES[loss].terms
    zz = z[:, None, :]
    Yb = Y[:, None, :]
    return (terms(f(zz + dzp, 0.0), Yb, 0.0).sum(-1) - terms(f(zz + dzm, 0.0), Yb, 0.0).sum(-1))


@pytest.mark.parametrize(("out", "loss", "fn"), [("softmax", "cce", lossdiff.softmax_cce),
                                                 ("sigmoid", "ce", lossdiff.sigmoid_ce)])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("size", [0.3, 1e-3])
def test_closed_form_matches_direct_subtraction(out, loss, fn, symmetric, size):
    """Equal the subtraction of two directly computed losses for moderate and small moves
    (the power series route and the expm1 route)."""
    A, C, K = 6, 4, 5
    z = RNG.standard_normal((A, K))
    y = ACTIVATIONS[out].f(z, 0.0)
    Y = (RNG.random((A, K)) < 0.4).astype(float)
    t = RNG.standard_normal((A, C)) * size
    tm = None if symmetric else RNG.standard_normal((A, C)) * size
    w = RNG.standard_normal((A, K))
    got = fn(y, Y, t, w, tm)
    minus = -t if tm is None else tm
    want = _direct(out, loss, z, Y, t[..., None] * w[:, None, :], minus[..., None] * w[:, None, :])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_softmax_output_layer_sums_match_direct():
    """The output-layer form equals per-entry direct differences summed over samples."""
    S, C, K = 7, 3, 4
    z = RNG.standard_normal((S, K))
    y = ACTIVATIONS["softmax"].f(z, 0.0)
    Y = np.eye(K)[RNG.integers(K, size=S)]
    dz = RNG.standard_normal((S, C)) * 0.2
    got = lossdiff.softmax_cce_output_layer(y, Y, dz)
    for k in range(K):
        move = np.zeros((S, C, K))
        move[:, :, k] = dz
        want = _direct("softmax", "cce", z, Y, move, -move).sum(axis=0)
        np.testing.assert_allclose(got[k], want, rtol=1e-12, atol=1e-13)


def test_small_moves_are_more_accurate_than_subtraction():
    """For a 1e-7 move the closed form keeps ~all digits where subtraction keeps ~half."""
    z = np.array([[0.3, -1.2, 2.0]])
    y = ACTIVATIONS["softmax"].f(z, 0.0)
    Y = np.array([[0.0, 1.0, 0.0]])
    w = np.array([[0.7, -0.4, 1.1]])
    t = np.array([[1e-7]])
    got = lossdiff.softmax_cce(y, Y, t, w)[0, 0]
    exact = 2 * 1e-7 * float((y * w).sum() - w[0, 1])  # odd part; the t^3 term is ~1e-22
    assert abs(got - exact) <= 1e-20
    sub = _direct("softmax", "cce", z, Y, (t[..., None] * w[:, None, :]),
                  -(t[..., None] * w[:, None, :]))[0, 0]
    assert abs(sub - exact) > abs(got - exact)


@pytest.mark.parametrize(("out", "loss"), [("softmax", "cce"), ("sigmoid", "ce")])
def test_headroom_is_the_log_distance_from_the_clamp(out, loss):
    """Headroom is log(min y / eps) (and of 1 - y for sigmoid), -inf at an exact 0."""
    spec = CellSpec(act="relu", out=out, loss=loss, eps=1e-3, samples=5)
    prep = prepare(validate(spec))
    a = prep.arrays
    fw = forward(prep.net, a.W, a.X, a.Y)
    room = lossdiff.headroom(prep.net, fw)
    want = np.log(fw.y.min(axis=1) / 1e-3)
    if out == "sigmoid":
        want = np.minimum(want, np.log((1 - fw.y).min(axis=1) / 1e-3))
    np.testing.assert_allclose(room, want, rtol=1e-12)
    fw.y[0, 0] = 0.0
    with np.errstate(divide="ignore"):
        assert lossdiff.headroom(prep.net, fw)[0] == -np.inf


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("size", [1e-6, 1e-3, 1e-2])
def test_power_series_equals_expm1_to_rounding(monkeypatch, symmetric, size):
    """The power-series evaluation of sum y expm1(t w) gives the expm1 route's values."""
    A, C, K = 9, 5, 10
    y = ACTIVATIONS["softmax"].f(RNG.standard_normal((A, K)), 0.0)
    Y = np.eye(K)[RNG.integers(K, size=A)]
    t = RNG.standard_normal((A, C)) * size
    tm = None if symmetric else -t * (1 + RNG.standard_normal((A, C)) * 0.1)
    w = RNG.standard_normal((A, K))
    assert lossdiff.series_order(float(np.abs(t).max() * np.abs(w).max()) * 1.2, 2.2e-16)
    series = lossdiff.softmax_cce(y, Y, t, w, tm)
    monkeypatch.setattr(lossdiff, "MAX_ORDER", 0)  # force one expm1 per output
    direct = lossdiff.softmax_cce(y, Y, t, w, tm)
    scale = np.abs(t) * np.abs(w).max(axis=1)[:, None]  # the size of the loss difference
    assert (np.abs(series - direct) <= 1e-14 * scale).all()


def test_series_order_bounds_the_remainder():
    """The chosen order makes r^M e^r / (M+1)! tiny, and large moves get no order."""
    import math

    for r in (1e-8, 1e-5, 1e-3, 0.1):
        M = lossdiff.series_order(r, 2.2e-16)
        assert M is not None
        assert r ** M * math.exp(r) / math.factorial(M + 1) <= 2.2e-16 / 8
        assert M == 1 or r ** (M - 1) * math.exp(r) / math.factorial(M) > 2.2e-16 / 8
    assert lossdiff.series_order(5.0, 2.2e-16) is None
