"""Structured central differences against a plain loop and a brute-force kink/clamp oracle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from relu_ce_diag.model.activations import ACTIVATIONS, HIDDEN_NAMES
from relu_ce_diag.model.losses import LOSSES, MATLAB_EPS
from relu_ce_diag.model.network import Net, deltas, forward
from relu_ce_diag.numeric import NumGrad, central_differences, sample_scale
from relu_ce_diag.numeric.plain import loop_central_differences
from relu_ce_diag.settings.cells import CellSpec, prepare, validate

COMBOS = list(itertools.product(HIDDEN_NAMES, ACTIVATIONS, LOSSES))


def _case(act: str, out: str, loss: str, *, hidden: tuple[int, ...] = (5,), eps: float = MATLAB_EPS,
          dtype: str = "float64", seed: int = 0, targets: str | None = None, samples: int = 7):
    """Return (net, W, X, Y) of a small generated cell."""
    if targets is None:
        targets = "multilabel" if loss == "ce" else "onehot"
    spec = CellSpec(act=act, out=out, loss=loss, hidden=hidden, inputs=4, outputs=3,
                    samples=samples, eps=eps, dtype=dtype, seed=seed, targets=targets)
    prep = prepare(validate(spec))
    return prep.net, prep.arrays.W, prep.arrays.X, prep.arrays.Y


def _structured(net: Net, W, X, Y, h: float, block_elements: int | None = None,
                method: str = "fast") -> NumGrad:
    """Run central_differences the way the runner does (``method``: fast or plain)."""
    with np.errstate(all="ignore"):
        fw = forward(net, W, X, Y)
        scale = sample_scale(net, fw, deltas(net, W, fw, Y, "exact"))
    if block_elements is None:
        return central_differences(net, W, X, Y, fw, h, scale, method=method)
    return central_differences(net, W, X, Y, fw, h, scale, block_elements, method=method)


def _loop(net: Net, W, X, Y, h: float) -> tuple[np.ndarray, float]:
    """Return the plain-loop central differences (P,) and |f| at W."""
    def fun(V):
        return forward(net, V, X, Y).f
    with np.errstate(all="ignore"):
        numeric, _ = loop_central_differences(fun, W, h)
        return numeric, abs(forward(net, W, X, Y).f)


def _brute_flags(net: Net, W, X, Y, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flag each entry whose two perturbed full forward passes put some pre-activation on
    different sides of (or on) a kink, or some output on different sides of the clamp; also
    return the central differences (P,) of those passes."""
    numeric = np.zeros(W.size)
    straddle = np.zeros(W.size, dtype=bool)
    clamp = np.zeros(W.size, dtype=bool)

    def side(v, k):
        return np.sign(v - k)

    for p in range(W.size):
        Wp, Wm = W.copy(), W.copy()
        Wp[p] += h
        Wm[p] -= h
        with np.errstate(all="ignore"):
            fp, fm = forward(net, Wp, X, Y), forward(net, Wm, X, Y)
            numeric[p] = (fp.f - fm.f) / (2 * h)
        for layer, (zp, zm) in enumerate(zip(fp.z, fm.z, strict=True)):
            for k in net.layer_act(layer).kinks:
                straddle[p] |= bool((side(zp, k) != side(zm, k)).any())
        if net.loss in ("ce", "cce"):
            clamp[p] |= bool((side(fp.y, net.eps) != side(fm.y, net.eps)).any())
        if net.loss == "ce":
            clamp[p] |= bool((side(1 - fp.y, net.eps) != side(1 - fm.y, net.eps)).any())
    return numeric, straddle, clamp


def _assert_close(ours: np.ndarray, loop: np.ndarray, f: float, h: float) -> None:
    """Assert agreement within a few times the loop's own round-off, eps * |f| / h."""
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(loop))
    fin = np.isfinite(loop)
    eps_m = np.finfo(np.float64).eps
    tol = 64 * eps_m * (1 + f) / h + 1e-9 * np.abs(loop[fin])
    err = np.abs(ours[fin] - loop[fin])
    assert (err <= tol).all(), f"worst entry {int(np.argmax(err - tol))}: {err.max():.3g}"


@pytest.mark.parametrize(("act", "out", "loss"), COMBOS)
def test_matches_plain_loop_every_combination(act, out, loss):
    """Agree with 2P full forward passes for every activation, output and loss."""
    net, W, X, Y = _case(act, out, loss)
    ng = _structured(net, W, X, Y, 1e-6)
    loop, f = _loop(net, W, X, Y, 1e-6)
    _assert_close(ng.numeric, loop, f, 1e-6)
    assert ng.numeric.shape == (net.n_params,) and ng.step == 1e-6


@pytest.mark.parametrize(("act", "out", "loss"), COMBOS)
def test_matches_plain_loop_two_hidden_layers(act, out, loss):
    """Agree with the plain loop on a deeper network (hidden 5,4)."""
    net, W, X, Y = _case(act, out, loss, hidden=(5, 4), seed=1)
    loop, f = _loop(net, W, X, Y, 1e-6)
    _assert_close(_structured(net, W, X, Y, 1e-6).numeric, loop, f, 1e-6)


@pytest.mark.parametrize("act", HIDDEN_NAMES)
def test_matches_plain_loop_three_hidden_layers(act):
    """Agree with the plain loop on hidden 4,4,3 with softmax and cce."""
    net, W, X, Y = _case(act, "softmax", "cce", hidden=(4, 4, 3), seed=2)
    loop, f = _loop(net, W, X, Y, 1e-6)
    _assert_close(_structured(net, W, X, Y, 1e-6).numeric, loop, f, 1e-6)


@pytest.mark.parametrize(("act", "out", "loss"), COMBOS)
@pytest.mark.parametrize(("h", "eps", "hidden"), [
    (1e-6, MATLAB_EPS, (5,)), (0.05, 0.05, (5,)), (0.3, 0.01, (5,)), (0.05, 0.05, (5, 4))])
def test_flags_match_brute_force_oracle(act, out, loss, h, eps, hidden):
    """Flag exactly the entries whose perturbed forward passes cross a kink or the clamp."""
    net, W, X, Y = _case(act, out, loss, eps=eps, seed=3, hidden=hidden)
    ng = _structured(net, W, X, Y, h)
    numeric, straddle, clamp = _brute_flags(net, W, X, Y, h)
    np.testing.assert_array_equal(ng.straddle, straddle)
    np.testing.assert_array_equal(ng.clamp, clamp)
    _assert_close(ng.numeric, numeric, abs(forward(net, W, X, Y).f), h)


def test_flags_see_a_pre_activation_exactly_on_the_kink():
    """A hidden unit whose pre-activation is exactly 0 straddles for every nonzero input."""
    net, W, X, Y = _case("relu", "softmax", "cce")
    mats = net.unpack(W)
    mats[0][0, :] = 0.0  # unit 0 of the hidden layer: z = 0 on every sample
    W = np.concatenate([m.ravel(order="F") for m in mats])
    ng = _structured(net, W, X, Y, 1e-6)
    _, straddle, clamp = _brute_flags(net, W, X, Y, 1e-6)
    np.testing.assert_array_equal(ng.straddle, straddle)
    np.testing.assert_array_equal(ng.clamp, clamp)
    rows = net.shapes[0][0]
    assert ng.straddle[0:rows * 5:rows].all()  # w1[0, i] for every input and the bias
    loop, f = _loop(net, W, X, Y, 1e-6)
    _assert_close(ng.numeric, loop, f, 1e-6)


@pytest.mark.parametrize(("act", "out", "loss"), [
    ("relu", "relu", "ce"), ("sigmoid", "sigmoid", "ce"), ("relu", "softmax", "cce"),
    ("tanh", "softmax", "cce"), ("leaky-relu", "sigmoid", "ce"), ("relu", "relu", "cce")])
def test_eps_zero_propagates_non_finite_values(act, out, loss):
    """With eps 0 and saturated outputs, log(0) gives NaN/inf where the loop does, no crash."""
    net, W, X, Y = _case(act, out, loss, eps=0.0, seed=4)
    W = W * 400.0  # saturate: outputs round to exactly 0 or 1
    assert not np.isfinite(forward(net, W, X, Y).terms).all()
    ng = _structured(net, W, X, Y, 1e-6)
    loop, f = _loop(net, W, X, Y, 1e-6)
    assert not np.isfinite(loop).all()
    np.testing.assert_array_equal(np.isfinite(ng.numeric), np.isfinite(loop))


@pytest.mark.parametrize(("act", "out", "loss"), COMBOS[::5])
def test_eps_zero_finite_cells_match(act, out, loss):
    """With eps 0 but unsaturated outputs the result equals the loop's."""
    net, W, X, Y = _case(act, out, loss, eps=0.0, seed=5)
    loop, f = _loop(net, W, X, Y, 1e-6)
    _assert_close(_structured(net, W, X, Y, 1e-6).numeric, loop, f, 1e-6)


@pytest.mark.parametrize(("act", "out", "loss"), [
    ("relu", "softmax", "cce"), ("relu", "sigmoid", "ce"), ("tanh", "identity", "se"),
    ("leaky-relu", "softmax", "cce"), ("softplus", "relu", "se")])
def test_float32_at_least_as_accurate_as_the_float32_loop(act, out, loss):
    """In float32 the error against a float64 loop at the same step is within the float32
    loop's own error."""
    h = 1e-2
    net, W, X, Y = _case(act, out, loss, dtype="float32", seed=6)
    ng = _structured(net, W, X, Y, h)
    assert ng.numeric.dtype == np.float32
    loop32, _ = _loop(net, W, X, Y, h)
    loop64, _ = _loop(net, W.astype(np.float64), X.astype(np.float64), Y.astype(np.float64), h)
    ours = np.abs(ng.numeric.astype(np.float64) - loop64).max()
    theirs = np.abs(loop32 - loop64).max()
    assert ours <= 2 * theirs + 1e-9 * np.abs(loop64).max()


def test_softmax_cce_multilabel_targets_match_loop():
    """The softmax/cce shortcut handles target rows that do not sum to 1."""
    net, W, X, Y = _case("relu", "softmax", "cce", targets="multilabel", samples=11)
    loop, f = _loop(net, W, X, Y, 1e-6)
    _assert_close(_structured(net, W, X, Y, 1e-6).numeric, loop, f, 1e-6)


@pytest.mark.parametrize(("act", "out", "loss", "hidden"), [
    ("relu", "softmax", "cce", (5,)), ("tanh", "sigmoid", "ce", (5,)),
    ("relu", "softmax", "cce", (5, 4)), ("relu", "softmax", "cce", (5,))])
def test_blocking_does_not_change_the_result(act, out, loss, hidden):
    """Tiny blocks (many iterations) give the same results as the default blocks."""
    net, W, X, Y = _case(act, out, loss, hidden=hidden, eps=0.05)
    a = _structured(net, W, X, Y, 0.05)
    b = _structured(net, W, X, Y, 0.05, block_elements=3)
    np.testing.assert_allclose(a.numeric, b.numeric, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(a.straddle, b.straddle)
    np.testing.assert_array_equal(a.clamp, b.clamp)


def test_a_wrong_loss_difference_would_be_caught():
    """The loop comparison is sharp: a gradient off by one part in 1e4 in one entry fails."""
    net, W, X, Y = _case("relu", "softmax", "cce")
    ng = _structured(net, W, X, Y, 1e-6)
    loop, f = _loop(net, W, X, Y, 1e-6)
    bad = ng.numeric.copy()
    p = int(np.argmax(np.abs(bad)))
    bad[p] *= 1 + 1e-4
    with pytest.raises(AssertionError):
        _assert_close(bad, loop, f, 1e-6)


@pytest.mark.parametrize("hidden", [(100,), (40, 30)])
def test_peak_memory_is_bounded_by_the_block_size(hidden):
    """With small blocks the traced peak stays near the size of the forward cache (an
    unblocked (pairs, inputs, outputs) array would be ~70 MB here)."""
    import tracemalloc

    spec = CellSpec(act="relu", loss="cce", inputs=32, hidden=hidden, outputs=10, samples=512)
    prep = prepare(validate(spec))
    net, a = prep.net, prep.arrays
    fw = forward(net, a.W, a.X, a.Y)
    scale = sample_scale(net, fw, deltas(net, a.W, fw, a.Y, "exact"))
    tracemalloc.start()
    try:
        central_differences(net, a.W, a.X, a.Y, fw, 1e-6, scale, block_elements=1 << 12)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    cache = sum(z.nbytes + x.nbytes for z, x in zip(fw.z, fw.inputs, strict=True))
    assert peak < 8 * cache + (1 << 20)
