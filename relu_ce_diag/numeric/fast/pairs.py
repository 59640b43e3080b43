"""The per-(sample, unit) pair route of the structured central differences.

For a layer whose activation and those above it (the output's aside) are piecewise linear,
perturbing entry (j, i) moves unit j of each sample n by ``slope * h * x[n, i]`` as long as
no pre-activation crosses a kink: the output pre-activations then move by exactly that times
a fixed direction. So the work is per (sample, unit) pair, all inputs i at once; a relu pair
inactive on both sides of the stencil changes nothing and is skipped; pairs near a kink or
the clamp are evaluated exactly as computed. (Smooth layers take ``smooth``.)
"""

from __future__ import annotations

import numpy as np

from relu_ce_diag.numeric.fast import series
from relu_ce_diag.numeric.fast.evaluator import ROUNDING_ULPS, Evaluator, affine, crossed

Array = np.ndarray
FAST_CHUNK = 1 << 15  # elements per (pairs, cols) array of the fast path: stays in cache


def directions(ev: Evaluator, layer: int, tmax: Array, block_elements: int) -> tuple[Array, Array]:
    """Return V (N, n_out, rows) and ``linear`` (N, rows) for unit activations of
    ``layer``: when unit j of sample n moves by t, |t| <= tmax[n], and every unit above it
    stays on its side of its kink (``linear``), the output pre-activations move by exactly
    t V[n, :, j], the piecewise-linear layers between acting as their slopes."""
    net, fw = ev.net, ev.fw
    w = ev.mats[layer + 1][:, :-1]
    N, rows = fw.z[layer].shape
    if layer + 1 == ev.last:
        return np.broadcast_to(w, (N,) + w.shape), np.ones((N, rows), dtype=bool)
    V = np.empty((N, ev.mats[-1].shape[0], rows), dtype=w.dtype)
    linear = np.ones((N, rows), dtype=bool)
    step = max(1, block_elements // (max(net.sizes[layer + 2:]) * rows))
    ulps = ROUNDING_ULPS * float(np.finfo(w.dtype).eps)
    for s0 in range(0, N, step):  # blocks of samples bound the (S, n_q, rows) maps
        s = slice(s0, s0 + step)
        U = np.broadcast_to(w, (min(step, N - s0),) + w.shape)  # t -> change of z_{l+1}
        for q in range(layer + 1, ev.last):
            act = net.layer_act(q)
            zq = fw.z[q][s]
            if act.kinks:
                # Room for the rounding of the layers re-evaluated up to q (here and in a
                # loop's passes): a few ulps of their terms, in the net's dtype.
                mag = np.abs(fw.inputs[q][s]) @ np.abs(ev.mats[q]).T  # (S, n_q)
                reach = (tmax[s, None, None] * np.abs(U) * (1 + ulps)
                         + (q - layer) * ulps * mag[..., None])
                linear[s] &= (np.abs(zq)[:, :, None] > reach).all(axis=1)
            lo, hi = act.slopes(net.leaky_slope)
            U = ev.mats[q + 1][:, :-1] @ (np.where(zq > 0, hi, lo)[:, :, None] * U)
        V[s] = U
    return V, linear

def linear_pairs(ev: Evaluator, layer: int, h: float, block_elements: int,
                 ) -> tuple[Array, Array, Array]:
    """Return (f(+h) - f(-h), straddle, clamp), each (rows, cols), for every entry of a
    layer whose activation, and every one above it but the output's, is piecewise linear.

    Work is per (sample, unit) pair: a pair far from every kink moves the outputs by
    exactly slope * h * x times a fixed direction (one expm1 per output for softmax/cce);
    a relu pair inactive on both sides of the stencil changes nothing and is skipped; the
    rest are evaluated exactly as computed.

    (One function: the fast and exact pairs share the per-layer arrays and one scatter
    loop; it is the hot path, kept flat for speed.)"""
    net, fw = ev.net, ev.fw
    act = net.layer_act(layer)
    lo, hi = act.slopes(net.leaky_slope)
    inp, z = fw.inputs[layer], fw.z[layer]  # (N, cols), (N, rows)
    dz = h * inp  # (N, cols): exactly the dz of the stencil
    reach = np.abs(dz).max(axis=1)  # (N,) largest |dz| of each sample
    # Far from the kink (|z| > |dz| for floats) neither side crosses: exact slope.
    far = (np.abs(z) > reach[:, None]) if act.kinks else np.ones(z.shape, dtype=bool)
    slope = np.where(z > 0, hi, lo)
    live = ~far | (slope != 0) | ~ev.finite[:, None]  # a dead pair changes nothing
    tmax = reach * max(abs(lo), abs(hi)) * (1 + ROUNDING_ULPS * float(np.finfo(dz.dtype).eps))
    V, linear = directions(ev, layer, tmax, block_elements)  # (N, n_out, rows)
    if layer + 1 == ev.last:  # V is w_out for every sample: no (N, n_out, rows) pass
        bound = tmax[:, None] * np.abs(ev.mats[ev.last][:, :-1]).max(axis=0)
    else:
        bound = tmax[:, None] * np.abs(V).max(axis=1)
    fast = far & linear & live & ev.safe(np.arange(z.shape[0])[:, None], bound)
    n_rows, n_cols = z.shape[1], inp.shape[1]
    diff = np.zeros((n_rows, n_cols), dtype=dz.dtype)
    straddle = np.zeros((n_rows, n_cols), dtype=bool)
    clamp = np.zeros((n_rows, n_cols), dtype=bool)
    width = n_cols * max(net.sizes[layer + 2:])
    # softmax/cce, piecewise linear: one series for every pair at once
    pair_series: series.PairSeries | None = None
    if ev.softmax_cce and layer + 1 == ev.last and fast.any():
        w_out = ev.mats[ev.last][:, :-1]
        order = series.series_order(float(tmax.max()) * float(np.abs(w_out).max()),
                                    float(np.finfo(dz.dtype).eps))
        if order is not None:  # the series of an order is the same at every step
            pair_series = ev.keep(("pair series", order), lambda: series.PairSeries.of_order(
                fw.y, ev.Y, w_out, order))
    rest = live & ~fast
    for which in (fast, rest) if rest.any() else (fast,):
        J, n = np.nonzero(which.T)  # pairs sorted by unit
        chunk = max(1, min(FAST_CHUNK, block_elements) // n_cols if which is fast
                    else block_elements // width)
        for c0 in range(0, J.size, chunk):
            Jc, nc = J[c0:c0 + chunk], n[c0:c0 + chunk]
            if which is fast:
                slopes = slope[nc, Jc]
                t = dz[nc] if (slopes == 1).all() else slopes[:, None] * dz[nc]  # (A, cols)
                if pair_series is not None:
                    d = pair_series.diff(nc, Jc, t)
                else:
                    d = ev.fast_diff(nc, t, V[nc, :, Jc], reach=float(tmax[nc].max()))
            else:
                d, st, cl = exact_pairs(ev, layer, nc, Jc, dz[nc])
                scatter_or(straddle, Jc, st)
                scatter_or(clamp, Jc, cl)
            scatter_add(diff, Jc, d)
    return diff, straddle, clamp


def exact_pairs(ev: Evaluator, layer: int, n: Array, J: Array, dz: Array,
                ) -> tuple[Array, Array, Array]:
    """Evaluate pairs (n[a], J[a]) for every input i exactly as computed: return
    (f(+) - f(-), straddle, clamp), each (A, cols); dz (A, cols) is h * input[n]."""
    net, fw = ev.net, ev.fw
    act = net.layer_act(layer)
    zc = fw.z[layer][n, J][:, None]
    zp, zm = zc + dz, zc - dz
    a0 = fw.inputs[layer + 1][n, J][:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        dap = act.f(zp, net.leaky_slope) - a0
        dam = act.f(zm, net.leaky_slope) - a0
    straddle = crossed(zp, zm, act.kinks) if act.kinks else np.zeros(zp.shape, bool)
    Zc = fw.z[layer + 1][n][:, None, :]
    col = ev.mats[layer + 1][:, J].T[:, None, :]  # (A, 1, n_{l+1})
    Zp, Zm = Zc + dap[..., None] * col, Zc + dam[..., None] * col
    for upper in range(layer + 1, ev.last):
        up_act = net.layer_act(upper)
        if up_act.kinks:
            straddle |= crossed(Zp, Zm, up_act.kinks).any(axis=-1)
        w = ev.mats[upper + 1]
        with np.errstate(over="ignore", invalid="ignore"):
            Zp = affine(up_act.f(Zp, net.leaky_slope), w)
            Zm = affine(up_act.f(Zm, net.leaky_slope), w)
    d, st, cl = ev.output_diff(n, Zp, Zm)
    return d, straddle | st, cl


def _segments(J: Array) -> tuple[Array, Array]:
    """Return the start of each run of equal values in sorted J (A,) and the run's value."""
    new = np.empty(J.size, dtype=bool)
    new[:1] = True
    np.not_equal(J[1:], J[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return starts, J[starts]


def scatter_add(target: Array, J: Array, rows: Array) -> None:
    """Add the rows (A, cols) into target[J] for sorted unit indices J (A,)."""
    starts, units = _segments(J)
    target[units] += np.add.reduceat(rows, starts, axis=0)


def scatter_or(target: Array, J: Array, rows: Array) -> None:
    """Or the flag rows (A, cols) into target[J] for sorted unit indices J (A,)."""
    starts, units = _segments(J)
    target[units] |= np.logical_or.reduceat(rows, starts, axis=0)
