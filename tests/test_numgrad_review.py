"""Review of the structured central differences against an independent plain-loop oracle.

The oracle below uses ``network.forward`` only: for every entry p it runs two full forward
passes at W + h e_p and W - h e_p (in the working dtype, like a user's loop), takes
``(f+ - f-) / 2h``, and flags the entry when some pre-activation of the two passes lies on
different sides of (or on) a kink, or some output on different sides of the eps clamp.

Tolerance. The loop's result is only as good as its own round-off, which the structured route
does not share (it recomputes only what moved, and for softmax/cce and sigmoid/ce takes the
difference in closed form). Both are compared to the exact difference of the loss as computed;
the loop's error is bounded by

* the rounding of the two losses: ``eps_m * (|f+| + |f-|) / h``;
* the rounding of each forward quantity that moves: a pre-activation z = x . w carries an
  error of about ``eps_m * |x| . |w|``, which moves the loss by ``|dL/dz|`` times that; an
  output y carries ``eps_m * |y|`` (and, for ce, ``1 - y`` carries ``eps_m`` absolute),
  which moves the terms by ``|dterm/dy|`` times that; all divided by h;
* the rounding of the step itself: the loop's ``fl(W_p + h) - W_p`` differs from h by up to
  ``eps_m * |W_p|``, a relative error ``eps_m * |W_p| / h`` of its quotient.

The allowed difference is C times that sum (C = 8) plus a few ulps of the result.

Flags. The loop's pre-activations are ``fl((w + h) x)`` while the structured route uses
``fl(z + h x)``: the two agree to rounding but can differ on which side of a kink a value
that lands within rounding of it falls. So an entry counts as definitely crossing when the
two ends lie on different sides by more than the rounding margin, possibly crossing when
either end is within that margin (or on the kink); the structured flag must be set for every
definite crossing and only for possible ones. Where no end is within the margin (almost
always), this is an exact comparison. Step values below the dtype's machine epsilon are not
drawn: ``validate`` refuses them (W + h rounds to W). Where the loop's own step
``fl(W_p +- h) - W_p`` is off h by more than 1% (large W_p in float32) its flags are not
judged at all, and its value only within that relative error of the gradient.

Definitions (documented in ``numgrad``): an end landing exactly on a kink straddles; a
pre-activation the entry does not move never does, even on the kink; the clamp flag looks at
every output whatever its target, and with eps = 0 at outputs moving onto or off 0.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st
from test_numgrad import _structured  # the system under test, run as the runner runs it

from relu_ce_diag.model.activations import ACTIVATIONS, HIDDEN_NAMES
from relu_ce_diag.model.losses import LOSSES, MATLAB_EPS
from relu_ce_diag.model.network import Net, backprop, deltas, forward, pack

C = 8
EPS_VALUES = (0.0, MATLAB_EPS, 1e-8, 0.3)
CANONICAL = (("softmax", "cce"), ("sigmoid", "ce"))


@st.composite
def problems(draw, dtypes=("float64", "float32"), width=4, samples=5, heads=None,
             dyadic=False, acts=None, depth=(1, 3)):
    """Draw (net, W, X, Y, h) of a small network with awkward data; ``heads`` restricts the
    (output, loss) pairs, ``acts`` the hidden activation, ``depth`` the number of hidden
    layers; ``dyadic`` draws small multiples of powers of two for W, X and h, so that
    z +- h x is exact and lands exactly on a kink often."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    act = draw(st.sampled_from(acts or (("relu", "leaky-relu", "identity") if dyadic
                                        else HIDDEN_NAMES)))
    if heads is None:
        out = draw(st.sampled_from(tuple(ACTIVATIONS)))
        loss = draw(st.sampled_from(tuple(LOSSES)))
    else:
        out, loss = draw(st.sampled_from(heads))
    eps = draw(st.sampled_from(EPS_VALUES))
    hidden = tuple(draw(st.lists(st.integers(1, width), min_size=depth[0], max_size=depth[1])))
    n_in, n_out, N = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, samples))
    onehot = draw(st.booleans())
    lo_exp = math.log10(max(1e-8, float(np.finfo(dtype).eps) * 2))
    h = 10.0 ** draw(st.floats(lo_exp, -1.0))
    scale = 10.0 ** draw(st.floats(-1.0, math.log10(30.0)))
    slope = draw(st.sampled_from((0.0, 0.5) if dyadic else (0.01, 0.0, 0.5)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, n_in))
    X[rng.random(X.shape) < draw(st.sampled_from((0.0, 0.3)))] = 0.0  # exact zeros
    if draw(st.booleans()) and N > 1:
        X[-1] = X[0]  # a repeated row
    if draw(st.booleans()):
        X[:, rng.integers(n_in)] = draw(st.sampled_from((0.0, 1.0, -2.5)))  # constant column
    if onehot:
        Y = np.eye(n_out)[rng.integers(n_out, size=N)]
    else:
        Y = (rng.random((N, n_out)) < 0.5).astype(float)
    net = Net(sizes=(n_in, *hidden, n_out), act=act, out=out, loss=loss, eps=eps,
              leaky_slope=slope)
    W = rng.standard_normal(net.n_params) * scale
    if dyadic:
        X = rng.integers(-2, 3, size=X.shape) / 2.0
        W = rng.integers(-4, 5, size=W.shape) / 4.0
        h = 2.0 ** -draw(st.integers(1, 6))
    if draw(st.booleans()):  # zero biases: a zero input row gives z exactly 0 (on the kink)
        for name, block in net.blocks():
            if name.startswith("b"):
                W[block] = 0.0
    note(f"{net}, h={h!r}, dtype={dtype}, seed={seed}")
    return net, W.astype(dtype), X.astype(dtype), Y.astype(dtype), h


@st.composite
def landings(draw):
    """Draw a float32 problem with two or three hidden layers where a hidden pre-activation
    above the first, and (for the closed-form heads) the clamp, sit within a few float32 ulps
    of their terms (|x| . |w|) of a crossing, where rounding decides the side: the two
    margins the structured route sizes by the dtype's epsilon."""
    net, W, X, Y, h = draw(problems(dtypes=("float32",), depth=(2, 3), width=3))
    mats = [m.copy() for m in net.unpack(W)]
    fw = forward(net, W, X, Y)
    q = draw(st.integers(1, net.last - 1))
    n, k = draw(st.integers(0, X.shape[0] - 1)), draw(st.integers(0, mats[q].shape[0] - 1))
    terms = float(np.abs(fw.inputs[q][n]) @ np.abs(mats[q][k]))
    kink = (net.layer_act(q).kinks or (0.0,))[0]
    target = kink + draw(st.integers(-4, 4)) * float(np.finfo(np.float32).eps) * terms
    mats[q][k, -1] += np.float32(target - float(fw.z[q][n, k]))  # move the bias: z lands there
    # Keep the outputs off 0 (zero biases pass a landing on to them, where eps 0 and se's
    # stationary point make the loop's result a matter of second-order rounding).
    mats[-1][:, -1] += np.float32(draw(st.sampled_from((0.75, -0.5))))
    W = pack(mats).astype(np.float32)
    if (net.out, net.loss) in CANONICAL:
        y = float(forward(net, W, X, Y).y[n].min())
        room = draw(st.integers(-8, 8)) * float(np.finfo(np.float32).eps) * (1 + terms)
        if 0 < y * (1 + room) <= 0.5:
            net = dataclasses.replace(net, eps=y * (1 + room))
    note(f"landing: layer {q}, unit {k}, sample {n}, eps {net.eps!r}")
    return net, W, X, Y, h


def _side(v, k):
    """Return -1, 0, +1 for v below, on, above k."""
    return np.sign(v - k)


def _cross(vp, vm, k, margin, inexact_step=False):
    """Return (definite, possible) crossing of point k by the two ends vp, vm; with a zero
    margin (exact values) both are "on different sides of, or one end on, k"."""
    if not np.any(margin):
        hit = bool((_side(vp, k) != _side(vm, k)).any())
        return hit, hit
    definite = ((vp - k > margin) & (vm - k < -margin)) | ((vp - k < -margin) & (vm - k > margin))
    # Both ends exactly equal: the stencil did not move this value in the loop (x = 0, or
    # h x below its ulp) and does not in the structured route either.
    # (unless the loop's step was inexact).
    near = ((np.abs(vp - k) <= margin) | (np.abs(vm - k) <= margin)) & (
        (vp != vm) | inexact_step)
    possible = (_side(vp, k) != _side(vm, k)) | near
    return bool(definite.any()), bool(possible.any())


def _rounding(net: Net, fw, W, Y, dtype) -> float:
    """Return the loss change (at eps_m = 1) of a relative rounding of every moving quantity:
    sum |dL/dz| |x| . |w| over layers and sum |dterm/dy| (|y| + [ce]) over outputs."""
    mats = net.unpack(W)
    ds = deltas(net, W, fw, Y, "exact")
    total = 0.0
    for d, x, w, z in zip(ds, fw.inputs, mats, fw.z, strict=True):
        mag = np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64).T
        total += float(np.nansum(np.abs(d) * (mag + np.abs(z))))
    gy = np.abs(net.loss_fn.dy(fw.y, Y, net.eps)).astype(np.float64)
    extra = 1.0 if net.loss == "ce" else 0.0
    total += float(np.nansum(gy * (np.abs(fw.y) + extra)))
    return total


def _oracle(net: Net, W, X, Y, h: float, exact: bool = False):
    """Return the plain loop's numeric (P,), its tolerance (P,) and flags (4, P): straddle
    definite, straddle possible, clamp definite, clamp possible."""
    dtype = W.dtype
    em = float(np.finfo(dtype).eps)
    P = W.size
    numeric = np.empty(P)
    tol = np.empty(P)
    flags = np.zeros((4, P), dtype=bool)
    pts = (net.eps,) if net.loss in ("ce", "cce") else ()
    with np.errstate(all="ignore"):
        grad = np.abs(backprop(net, W, X, Y, "exact")[1]).astype(np.float64)
    for p in range(P):
        Wp, Wm = W.copy(), W.copy()
        Wp[p] += dtype.type(h)
        Wm[p] -= dtype.type(h)
        # The loop's actual steps: fl(W_p + h) - W_p need not be h (a large W_p in float32).
        rel = (abs(float(Wp[p]) - float(W[p]) - h) + abs(float(W[p]) - float(Wm[p]) - h)) / h
        with np.errstate(all="ignore"):
            fp, fm = forward(net, Wp, X, Y), forward(net, Wm, X, Y)
            numeric[p] = (fp.f - fm.f) / (2 * h)
            r = max(_rounding(net, fp, Wp, Y, dtype), _rounding(net, fm, Wm, Y, dtype))
            g = max(abs(numeric[p]), grad[p])
        step_err = rel * g if np.isfinite(g) else 0.0
        tol[p] = C * em * (abs(fp.f) + abs(fm.f) + r) / (2 * h) + 2 * step_err
        if rel > 1e-2:  # the loop did not take the step asked for: its flags say nothing
            flags[1, p] = flags[3, p] = True
            continue
        for layer, (zp, zm) in enumerate(zip(fp.z, fm.z, strict=True)):
            zp, zm = zp.astype(np.float64), zm.astype(np.float64)
            mag = (np.abs(fp.inputs[layer]).astype(np.float64)
                   @ np.abs(net.unpack(Wp)[layer]).astype(np.float64).T)
            margin = 8 * em * (mag + np.abs(zp) + np.abs(zm)) * (layer + 1) + rel * np.abs(zp - zm)
            if exact:  # dyadic data through piecewise-linear layers: every z is exact
                margin = 0.0 * margin
            for k in net.layer_act(layer).kinks:
                d, q = _cross(zp, zm, k, margin, rel > 0)
                flags[0, p] |= d
                flags[1, p] |= q
        yp, ym = fp.y.astype(np.float64), fm.y.astype(np.float64)
        # y is off by its slope times the rounding of z_out, a few ulps of its terms
        terms = (np.abs(fp.inputs[-1]).astype(np.float64)
                 @ np.abs(net.unpack(Wp)[-1]).astype(np.float64).T)
        ymargin = 8 * em * (np.abs(yp) + np.abs(ym)) * (
            1 + np.abs(fp.z[-1]).max() + np.abs(fm.z[-1]).max() + terms.max()
        ) + rel * np.abs(yp - ym)
        for k in pts:
            d, q = _cross(yp, ym, k, ymargin, rel > 0)
            flags[2, p] |= d
            flags[3, p] |= q
            if net.loss == "ce":
                d, q = _cross(1 - yp, 1 - ym, k, ymargin + 8 * em, rel > 0)
                flags[2, p] |= d
                flags[3, p] |= q
    return numeric, tol, flags


def _kind(v):
    """Classify each value: 0 finite, 1 NaN, 2 +inf, 3 -inf."""
    return np.where(np.isnan(v), 1, np.where(np.isposinf(v), 2, np.where(np.isneginf(v), 3, 0)))


def _check(net: Net, W, X, Y, h: float, block_elements: int | None = None,
           exact: bool = False, method: str = "fast") -> None:
    """Assert the structured result (or the package's plain loop, ``method``) equals the
    oracle to its round-off, flags included (``exact``: the pre-activations carry no
    rounding, so the straddle flags have no margin)."""
    ng = _structured(net, W, X, Y, h, block_elements, method)
    loop, tol, flags = _oracle(net, W, X, Y, h, exact)
    ours = ng.numeric.astype(np.float64)
    np.testing.assert_array_equal(_kind(ours), _kind(loop), err_msg="non-finite pattern")
    fin = np.isfinite(loop)
    ulps = 8 * float(np.finfo(W.dtype).eps) * np.abs(loop)
    with np.errstate(invalid="ignore"):
        err = np.where(fin, np.abs(ours - loop), 0.0)
    bad = fin & ~(err <= tol + ulps)
    assert not bad.any(), (
        f"entries {np.flatnonzero(bad)}: ours {ours[bad]}, loop {loop[bad]}, tol {tol[bad]}")
    sd, sp, cd, cp = flags
    assert not (sd & ~ng.straddle).any(), f"missed straddle {np.flatnonzero(sd & ~ng.straddle)}"
    assert not (ng.straddle & ~sp).any(), f"false straddle {np.flatnonzero(ng.straddle & ~sp)}"
    assert not (cd & ~ng.clamp).any(), f"missed clamp {np.flatnonzero(cd & ~ng.clamp)}"
    assert not (ng.clamp & ~cp).any(), f"false clamp {np.flatnonzero(ng.clamp & ~cp)}"


@settings(max_examples=300)
@given(prob=problems(), block_elements=st.sampled_from([None, 5, 64]))
def test_structured_differences_equal_the_plain_loop(prob, block_elements) -> None:
    """Match a plain loop of full forward passes, value and flags, on random awkward cells
    (default and tiny blocks)."""
    _check(*prob, block_elements=block_elements)


SMOOTH_ACTS = ("tanh", "sigmoid", "softplus")


@settings(max_examples=120)
@given(prob=problems(acts=SMOOTH_ACTS, depth=(2, 3), width=5, samples=6),
       block_elements=st.sampled_from([None, 1, 7, 64]))
def test_deep_smooth_nets_equal_the_plain_loop(prob, block_elements) -> None:
    """Two or three smooth hidden layers (the Taylor route for every hidden layer, with
    closed-form heads, other heads, samples near the clamp and its exact fallback) match the
    loop, value and flags, with default and tiny blocks."""
    _check(*prob, block_elements=block_elements)


@settings(max_examples=80)
@given(prob=landings(), block_elements=st.sampled_from([None, 1, 64]))
def test_float32_landings_within_rounding_equal_the_plain_loop(prob, block_elements) -> None:
    """Float32 nets with a pre-activation or the clamp within a few ulps of a crossing: the
    margins sized by float32's epsilon keep value and flags within the loop's rounding."""
    _check(*prob, block_elements=block_elements)


@settings(max_examples=100)
@given(prob=problems())
def test_the_plain_route_equals_the_oracle(prob) -> None:
    """``--numeric plain`` (the package's own loop, the reference beside the fast route)
    matches this independent oracle too, values and flags."""
    _check(*prob, method="plain")


@settings(max_examples=60)
@given(prob=problems(dyadic=True, width=3, samples=4))
def test_the_plain_route_flags_exact_kink_landings(prob) -> None:
    """The plain loop's flags follow the same definitions where the stencil lands on a kink."""
    _check(*prob, exact=True, method="plain")


def test_a_large_common_move_of_the_softmax_outputs_keeps_its_digits():
    """Both outputs of a softmax move down by 16 together: the loss is unchanged (shift
    invariance), so w1's gradient is exactly 0 in the loop; log1p(sum y expm1(-16)) had lost
    7 digits (1.3e-9 instead of 0)."""
    net = Net(sizes=(1, 1, 2), act="relu", out="softmax", loss="cce")
    W = pack([np.array([[1.0, 10.0]]), np.array([[-8.0, 0.0], [-8.0, 1.0]])])
    X, Y = np.array([[20.0]]), np.array([[0.0, 1.0]])
    ng = _structured(net, W, X, Y, 0.1)
    assert ng.numeric[0] == 0.0
    _check(net, W, X, Y, 0.1)


@settings(max_examples=200)
@given(prob=problems(heads=CANONICAL, width=5, samples=8))
def test_closed_form_heads_equal_the_plain_loop(prob) -> None:
    """Match the loop for softmax/cce and sigmoid/ce, whose fast routes skip the clamp."""
    _check(*prob)


@settings(max_examples=100)
@given(prob=problems(dyadic=True, width=3, samples=4))
def test_flags_are_exact_when_the_stencil_lands_on_a_kink(prob) -> None:
    """With dyadic W, X and h every z +- h x is exact and often exactly 0: a stencil that
    ends on the kink counts as a straddle, as in the loop (no rounding ambiguity here)."""
    _check(*prob, exact=True)


def test_float32_series_coefficients_do_not_overflow():
    """A float32 softmax/cce net three layers deep has output directions |V| ~ 2e4, whose
    9th power overflowed float32 in the series coefficients: NaN where the loop gives 0."""
    net = Net(sizes=(2, 1, 1, 3, 1), act="leaky-relu", out="softmax", loss="cce", eps=0.0)
    W = np.array([6.3195195, -11.6269, -2.3048925, 13.941275, 26.557379, -22.389704,
                  26.921795, 23.933426, 13.8939, 4.70276, -5.5824246, 25.927681, 34.85887,
                  32.0381, 23.386219], dtype=np.float32)
    X = np.array([[0.12573022, -0.13210486], [0.64042264, 0.10490011], [-0.5356694, 0.36159506],
                  [1.304, 0.94708097], [-0.70373523, -1.2654215], [-0.62327445, 0.04132598],
                  [-2.3250308, -0.21879166]], dtype=np.float32)
    Y = np.array([[0], [0], [0], [1], [1], [0], [0]], dtype=np.float32)
    assert np.isfinite(_structured(net, W, X, Y, 1e-6).numeric).all()
    _check(net, W, X, Y, 1e-6)


def test_non_finite_losses_propagate_without_warnings():
    """eps 0 with a tanh output under ce: inf and NaN terms give NaN entries like the loop,
    with no RuntimeWarning from summing inf - inf (warnings are errors in this suite)."""
    net = Net(sizes=(3, 1, 2), act="leaky-relu", out="tanh", loss="ce", eps=0.0, leaky_slope=0.5)
    W = np.array([0.0, 0.5, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    X = np.array([[1.0, -1.0, 0.0], [0.5, 1.0, 0.0], [-0.5, -0.5, 0.0]])
    Y = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    assert np.isnan(_structured(net, W, X, Y, 0.5).numeric).all()
    _check(net, W, X, Y, 0.5)
