"""The smooth-layers route: one Taylor polynomial per (sample, unit) pair of a smooth layer.

Perturbing entry (j, i) of a smooth hidden layer l moves one number per sample: the
pre-activation of unit j, by t = +-h x_i. Everything above sees only that, so sample n's loss
is a function Q_nj(t) of one variable, the same for every input i. Its Taylor polynomial is
built once per pair by pushing jets through the unit and the smooth layers above
(``taylor``). For a closed-form head (softmax/cce, sigmoid/ce) the stencil's difference is
then Q(t) - Q(-t) = 2 sum_(m odd) Q_m t^m, and its sum over samples is one matrix product
per odd order: no layer is evaluated again, and no activation per entry. Other heads, and
samples near the clamp, take the polynomials of the output pre-activations instead and
evaluate the output and the loss exactly as computed, flags included. Pairs the polynomials
cannot serve (a step too large for ``taylor.MAX_ORDER``, a non-finite sample) go the exact
route (``pairs.exact_pairs``). Smooth layers have no kinks: only the head can flag.

Exact to rounding, by a bound. For complex moves |t| <= rho_j of unit j (``radii``), every
hidden pre-activation above stays inside its activation's ``cap`` and the outputs move by at
most rho_j G_k <= ``HEAD_CAP`` (G = L gain_out, L the ``lipschitz`` of each layer). There the
loss moves by at most K rho_j T, where

* softmax/cce: T = sum_k (sum(Y) y_k + |Y_k|) G_k and K = 3.70 (|s| <= expm1(1/2) = 0.649
  for s = sum_k y_k expm1(dz_k), so |log1p(s)| <= |s| / 0.351, and expm1(x) <= 1.298 x);
* sigmoid/ce: T = sum_k (1 + |Y_k|) G_k and K = 1 (|sigmoid| <= 1 on the strip).

So at |t| <= D = q rho_j (Cauchy) the order-M polynomial is off by at most
2 K D T q^M / (1 - q) over both sides, and ``taylor.order`` keeps that below eps / 16 of
D T, the first-order size of the move; an output pre-activation is off by at most
D G_k q^M / (1 - q), eps / 128 of its move.
"""

from __future__ import annotations

import math

import numpy as np

from relu_ce_diag.model import jets
from relu_ce_diag.numeric.fast import pairs, taylor
from relu_ce_diag.numeric.fast.evaluator import Evaluator

Array = np.ndarray


def _analytic(ev: Evaluator) -> jets.Analytic:
    """Return the Taylor-mode facts of the net's smooth hidden activation."""
    analytic = ev.net.hidden_act.analytic
    assert analytic is not None, "the smooth route takes smooth hidden layers only"
    return analytic


def radii(ev: Evaluator, layer: int) -> tuple[Array, Array]:
    """Return the radius rho (rows,) of the complex moves t of each unit of ``layer`` on
    which the bounds hold, and L gain_out (n_out, rows): |change of z_out| <= |t| L gain_out
    for |t| <= rho."""
    sm = _analytic(ev)
    u = sm.lipschitz * np.ones(ev.mats[layer].shape[0])[None, :]  # |move of a_l| per |t|
    rho = np.full(u.shape[1], sm.cap)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for q in range(layer + 1, ev.last + 1):
            w = np.abs(ev.mats[q][:, :-1])
            u = w * u if q == layer + 1 else w @ (sm.lipschitz * u)  # (n_q, rows)
            cap = taylor.HEAD_CAP if q == ev.last else sm.cap
            rho = np.minimum(rho, cap / u.max(axis=0, initial=0.0))
    return rho, u


def unit_jets(ev: Evaluator, layer: int, s: slice, M: int) -> Array:
    """Return the jets (M + 1, S, rows) of the activation moves d(t) = f(z + t) - f(z) of
    every unit of ``layer`` for samples s, in float64; [0] is 0."""
    p = np.zeros((M + 1,) + ev.fw.z[layer][s].shape)
    p[0], p[1] = ev.fw.z[layer][s], 1.0
    c = _analytic(ev).jet(p)
    c[0] = 0.0
    return c


def output_jets(ev: Evaluator, layer: int, s: slice, M: int) -> Array:
    """Return the jets (M + 1, S, n_out, rows) of the output pre-activations of samples s
    in the activation move d of each unit of ``layer``, in float64; [0] is z_out.

    The layer above moves by d times column j of its weights, so its jets are those of
    f(z + t) (per unit, not per pair) times w^m; the ones above that need a jet per pair."""
    fw, last = ev.fw, ev.last
    w = ev.mats[layer + 1][:, :-1].astype(np.float64)  # (n_{l+1}, rows)
    P = np.zeros((M,) + (fw.z[layer + 1][s].shape[0],) + w.shape)
    P[0] = w
    for q in range(layer + 1, last):
        if q == layer + 1:
            c = unit_jets(ev, q, s, M)[1:, :, :, None]  # (M, S, n_q, 1)
            powers = np.cumprod(np.broadcast_to(w, (M,) + w.shape), axis=0)  # w^m
            a = c * powers[:, None]
        else:
            full = np.empty((M + 1,) + P.shape[1:])
            full[0] = fw.z[q][s].astype(np.float64)[:, :, None]
            full[1:] = P
            a = _analytic(ev).jet(full)[1:]
        P = np.matmul(ev.mats[q + 1][:, :-1].astype(np.float64), a)  # (M, S, n_{q+1}, rows)
    out = np.empty((M + 1,) + P.shape[1:])
    out[0] = fw.z[last][s].astype(np.float64)[:, :, None]
    out[1:] = P
    return out


def loss_jets(ev: Evaluator, s: slice, P: Array) -> Array:
    """Return the jets (M + 1, S, rows) of the per-sample loss of samples s (clear of the
    clamp) of a softmax/cce or sigmoid/ce head, from the output jets P (M + 1, S, n_out,
    rows); [0] is 0 (only differences are taken)."""
    Y = ev.Y[s].astype(np.float64)[None, :, :, None]  # (1, S, n_out, 1)
    if ev.softmax_cce:
        y = _softmax64(P[0, :, :, 0])[None, :, :, None]
        sj = (y * taylor.exp_shift_jet(P)).sum(axis=2)  # sum_k y_k exp(dz_k): s + 1
        sj[0] = 0.0
        g = ev.Y[s].astype(np.float64).sum(axis=1)[:, None] * taylor.log1p_jet(sj)
        g[1:] -= (Y * P[1:]).sum(axis=2)
        return g
    g = (jets.softplus_jet(P) - Y * P).sum(axis=2)  # ce as softplus(z) - Y z
    g[0] = 0.0
    return g


def linear_loss_jets(ev: Evaluator, s: slice, M: int) -> Array:
    """Return ``loss_jets`` for the layer just below the head, whose move d moves the
    output pre-activations by d w (w the output weights (n_out, rows)): each order is one
    matrix product over the outputs, sum_k coef_m(z_k) w_k^m."""
    w = ev.mats[ev.last][:, :-1].astype(np.float64)
    z = ev.fw.z[ev.last][s].astype(np.float64)  # (S, n_out)
    Y = ev.Y[s].astype(np.float64)
    g = np.zeros((M + 1, z.shape[0], w.shape[1]))
    power = np.ones_like(w)
    if ev.softmax_cce:  # s = sum_k y_k expm1(d w_k) = sum_m d^m (y . w^m) / m!
        y = _softmax64(z)
        for m in range(1, M + 1):
            power *= w
            g[m] = (y @ power) / math.factorial(m)
        g = Y.sum(axis=1)[:, None] * taylor.log1p_jet(g)
    else:
        p = np.zeros((M + 1,) + z.shape)
        p[0], p[1] = z, 1.0
        sp = jets.softplus_jet(p)  # softplus(z + t): (M + 1, S, n_out)
        for m in range(1, M + 1):
            power *= w
            g[m] = sp[m] @ power
    g[1] -= Y @ w
    return g


def _softmax64(z: Array) -> Array:
    """Return softmax(z) (S, n_out) in float64."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _routes(ev: Evaluator, layer: int, reach: Array) -> tuple[Array, Array, int]:
    """Return the pairs (N, rows) the polynomials serve, those of them whose head is in
    closed form, and the order M of the polynomials; ``reach`` (N,) is each sample's
    largest |t|."""
    N = reach.size
    eps = float(np.finfo(ev.fw.z[layer].dtype).eps)
    rho, gain = ev.keep(("radii", layer), lambda: radii(ev, layer))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = reach[:, None] / rho[None, :]
    finite = np.ones(N, dtype=bool)
    for zq in ev.fw.z[layer:]:
        finite &= np.isfinite(zq).all(axis=1)
    ok = (q <= taylor.q_limit(eps)) & finite[:, None]
    move = reach[:, None] * gain.max(axis=0, initial=0.0)[None, :]  # bounds |dz_out|
    closed = ok & ev.safe(np.arange(N)[:, None], move)
    M = taylor.order(float(q[ok].max(initial=0.0)), eps) or taylor.MAX_ORDER
    return ok, closed, M


def _output_pairs(ev: Evaluator, s0: int, P: Array, t: Array, which: Array,
                  block_elements: int) -> tuple[Array, Array, Array, Array]:
    """Evaluate the output and the loss exactly as computed for the pairs ``which`` (S,
    rows) of the block starting at sample s0, their output pre-activations from the jets P
    (M + 1, S, n_out, rows) at +-t (S, cols); return the units J (A,), sorted, and
    (f(+) - f(-), straddle, clamp), each (A, cols)."""
    J, si = np.nonzero(which.T)
    jets = P.transpose(1, 3, 0, 2)  # (S, rows, M + 1, n_out)
    dtype = ev.fw.z[ev.last].dtype
    n_out, cols = P.shape[2], t.shape[1]
    out = (np.empty((J.size, cols)), np.empty((J.size, cols), bool),
           np.empty((J.size, cols), bool))
    step = max(1, block_elements // (cols * n_out))
    for c0 in range(0, J.size, step):
        c = slice(c0, c0 + step)
        coef = jets[si[c], J[c]].transpose(1, 0, 2)[:, :, None, :]  # (M + 1, A, 1, n_out)
        tc = t[si[c]][..., None]  # (A, cols, 1)
        zp = (coef[0] + taylor.horner(coef, tc)).astype(dtype)
        zm = (coef[0] + taylor.horner(coef, -tc)).astype(dtype)
        for acc, part in zip(out, ev.output_diff(s0 + si[c], zp, zm), strict=True):
            acc[c] = part
    return (J, *out)


def _odd_sum(Q: Array, t: Array) -> Array:
    """Return the sum over samples of Q(t) - Q(-t) = 2 sum_(m odd) Q_m t^m, (rows, cols),
    for the odd coefficients Q (K, N, rows) (orders 1, 3, ...) and moves t (N, cols): one
    matrix product per odd order."""
    u = t * t
    power = 2.0 * t
    total = Q[0].T @ power
    for k in range(1, Q.shape[0]):
        power *= u
        total += Q[k].T @ power
    return total


def smooth_pairs(ev: Evaluator, layer: int, h: float, block_elements: int,
                 ) -> tuple[Array, Array, Array]:
    """Return (f(+h) - f(-h), straddle, clamp), each (rows, cols), for every entry of a
    smooth hidden layer, by one Taylor polynomial per (sample, unit) pair: of the loss
    (closed-form heads), of the output pre-activations (other heads, samples near the
    clamp), or exactly (the rest).

    (One function: the three routes share the blocks of samples and the scatter.)"""
    fw = ev.fw
    dz = h * fw.inputs[layer]
    t = dz.astype(np.float64)
    N, rows = fw.z[layer].shape
    cols = dz.shape[1]
    ok, closed, M = _routes(ev, layer, np.abs(t).max(axis=1))
    diff = np.zeros((rows, cols))
    odd = np.zeros(((M + 1) // 2, N, rows))  # the loss jets' odd orders, closed heads
    straddle = np.zeros((rows, cols), dtype=bool)
    clamp = np.zeros((rows, cols), dtype=bool)
    width = max(ev.net.sizes[layer + 2:])  # the widest jets: (M + 1, S, width, rows)
    step = max(1, block_elements // (rows * (M + 1) * width))
    for s0 in range(0, N, step):
        s = slice(s0, min(N, s0 + step))
        if not ok[s].any():
            continue
        # The jets of the pairs the polynomials do not serve may overflow: they are masked.
        with np.errstate(over="ignore", invalid="ignore"):
            c = unit_jets(ev, layer, s, M)
            P = None if layer + 1 == ev.last else output_jets(ev, layer, s, M)
            if closed[s].any():
                g = linear_loss_jets(ev, s, M) if P is None else loss_jets(ev, s, P)
                odd[:, s] = np.where(closed[s], taylor.compose(g, c)[1::2], 0.0)
            rest = ok[s] & ~closed[s]
            if rest.any():
                P = taylor.compose(output_jets(ev, layer, s, M) if P is None else P,
                                   c[:, :, None, :])
        if P is not None and rest.any():
            J, d, st, cl = _output_pairs(ev, s0, P, t[s], rest, block_elements)
            pairs.scatter_add(diff, J, d)
            pairs.scatter_or(straddle, J, st)
            pairs.scatter_or(clamp, J, cl)
    diff += _odd_sum(odd, t)
    J, n = np.nonzero(~ok.T)  # the exact route, pairs sorted by unit
    step = max(1, block_elements // (cols * width))
    for c0 in range(0, J.size, step):
        Jc, nc = J[c0:c0 + step], n[c0:c0 + step]
        d, st, cl = pairs.exact_pairs(ev, layer, nc, Jc, dz[nc])
        pairs.scatter_add(diff, Jc, d)
        pairs.scatter_or(straddle, Jc, st)
        pairs.scatter_or(clamp, Jc, cl)
    return diff.astype(dz.dtype, copy=False), straddle, clamp
