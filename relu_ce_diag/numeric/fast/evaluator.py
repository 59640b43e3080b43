"""The block route of the structured central differences, and what every route shares.

Perturbing entry (j, i) of layer l moves only column j of that layer's pre-activation, by
``h * input[:, i]``. So each perturbed loss is recomputed from the cached forward pass: only
the layers above l are evaluated again, for a block of entries at once, and the loss
*difference* is summed per sample, so the unchanged samples cancel exactly. While doing so the
stencil's own pre-activations and outputs are at hand, which tells exactly which entries moved
a pre-activation across a kink or an output across the ``eps`` clamp.

``Evaluator`` holds one network and data set and evaluates loss differences exactly as
computed (``block``, ``output_diff``), or, for a canonical output with a log-likelihood loss
on samples clear of the clamp, in closed form (``fast_diff``, ``softmax_output``).

Every temporary array is bounded by ``block_elements`` (or the size of the forward cache).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from relu_ce_diag.model.network import Forward, Net
from relu_ce_diag.numeric.fast import series

Array = np.ndarray
T = TypeVar("T")
# Room for the rounding of a value computed again (here or in a loop's own forward passes):
# a few ulps, in the net's dtype, of the terms |x| . |w| it is summed from.
ROUNDING_ULPS = 8
# Largest move of a sample's output pre-activations the closed forms take: log1p(s) of
# s = sum_k y_k expm1(dz_k) is accurate to eps / (1 + s), and 1 + s >= exp(-move).
MAX_FAST_MOVE = 1.0


def crossed(zp: Array, zm: Array, points: tuple[float, ...]) -> Array:
    """Flag (B, N, ...) stencils whose two ends lie on different sides of (or on) a point."""
    hit = np.zeros(zp.shape, dtype=bool)
    for k in points:
        hit |= np.sign(zp - k) != np.sign(zm - k)
    return hit


def affine(a: Array, w: Array) -> Array:
    """Return with_bias(a) @ w.T for a (..., n) as one matrix product (one BLAS call)."""
    flat = a.reshape(-1, a.shape[-1])
    out = flat @ w[:, :-1].T + w[:, -1]
    return out.reshape(a.shape[:-1] + (w.shape[0],))


def _any_rows(mask: Array) -> Array:
    """Reduce a (B, N, ...) mask to (B,)."""
    return np.asarray(mask.reshape(mask.shape[0], -1).any(axis=1))


class Evaluator:
    """Loss differences for blocks of perturbed entries of one network and data set."""

    def __init__(self, net: Net, W: Array, fw: Forward, Y: Array) -> None:
        self.net, self.fw, self.Y = net, fw, Y
        self.mats = net.unpack(W)
        self.last = len(self.mats) - 1
        self.y_pts, self.one_minus_y_pts = net.loss_fn.clamp_points(net.eps)
        # A canonical output with a log-likelihood loss: loss differences in closed form,
        # log-sum-exp for a row-wise output (softmax/cce), softplus for an elementwise one.
        self.closed_form = net.canonical and net.loss_fn.from_logits
        self.softmax_cce = self.closed_form and net.out_act.rowwise
        self.sigmoid_ce = self.closed_form and not net.out_act.rowwise
        self.headroom = series.headroom(net, fw)  # (N,) log-distance from the clamp
        # Log-space room for the rounding of y when deciding "safely above the clamp": z_out
        # is off by a few ulps of its terms, which moves log y by up to twice that (softmax),
        # both in the cached pass and in the loop's passes.
        eps = float(np.finfo(fw.z[-1].dtype).eps)
        terms = np.abs(fw.inputs[-1]) @ np.abs(self.mats[-1]).T  # (N, n_out)
        with np.errstate(invalid="ignore", over="ignore"):
            self.slack = 4 * ROUNDING_ULPS * eps * (1.0 + terms.max(axis=1, initial=0.0))
        self.finite = np.isfinite(fw.terms).all(axis=1)
        self._kept: dict[tuple[object, ...], Any] = {}

    def keep(self, key: tuple[object, ...], make: Callable[[], T]) -> T:
        """Return ``make()``, made once per ``key`` for this evaluator: arrays a route derives
        from the forward pass alone, the same for every step (read, never written)."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key]  # type: ignore[no-any-return]

    def _loss(self, y: Array, Y: Array) -> Array:
        """Per-sample loss (..., N) of a perturbed output (..., N, n_out)."""
        with np.errstate(invalid="ignore", over="ignore"):
            return self.net.loss_fn.terms(y, Y, self.net.eps).sum(axis=-1)

    def _clamp_flags(self, yp: Array, ym: Array) -> Array:
        """Flag (..., N, n_out) stencils whose outputs cross the clamp; reduce the last axis."""
        hit = crossed(yp, ym, self.y_pts)
        if self.one_minus_y_pts:
            hit |= crossed(1 - yp, 1 - ym, self.one_minus_y_pts)
        return np.asarray(hit.any(axis=-1))

    def safe(self, rows: Array, bound: Array) -> Array:
        """Flag samples ``rows`` whose softmax/cce or sigmoid/ce loss the fast formulas may
        take: finite, and every output stays clear of the clamp when the output
        pre-activations move by at most ``bound`` (same shape as rows), and by at most
        ``MAX_FAST_MOVE``: a larger common move (say every output down by 20) leaves
        1 + s ~ exp(-20), whose log1p has lost 20 / ln 10 digits to rounding."""
        if not (self.softmax_cce or self.sigmoid_ce):
            return np.zeros(np.broadcast(rows, bound).shape, dtype=bool)
        return (self.finite[rows] & (self.headroom[rows] > 2 * bound + self.slack[rows])
                & (bound <= MAX_FAST_MOVE))

    def fast_diff(self, rows: Array, t: Array, w: Array, reach: float | None = None) -> Array:
        """Return f(+) - f(-) (A, C) for safe samples ``rows`` (A,) whose output pre-activations
        move by +-t (A, C) times w (A, n_out); ``reach`` bounds |t|."""
        if self.softmax_cce:
            return series.softmax_cce(self.fw.y[rows], self.Y[rows], t, w, None, reach)
        return series.sigmoid_ce(self.fw.y[rows], self.Y[rows], t, w)

    def output_diff(self, rows: Array, Zp: Array, Zm: Array) -> tuple[Array, Array, Array]:
        """Evaluate the output layer exactly as computed for samples ``rows`` (A,) with output
        pre-activations Zp, Zm (A, ..., n_out); return (f(+) - f(-), straddle, clamp) (A, ...)."""
        out, net = self.net.out_act, self.net
        straddle = (np.asarray(crossed(Zp, Zm, out.kinks).any(axis=-1)) if out.kinks
                    else np.zeros(Zp.shape[:-1], dtype=bool))
        with np.errstate(over="ignore", invalid="ignore"):
            yp, ym = out.f(Zp, net.leaky_slope), out.f(Zm, net.leaky_slope)
            Y = self.Y[rows].reshape(rows.shape + (1,) * (Zp.ndim - 2) + (-1,))
            diff = self._loss(yp, Y) - self._loss(ym, Y)  # inf - inf = NaN, as in a plain loop
        return diff, straddle, self._clamp_flags(yp, ym)

    def block(self, layer: int, J: Array, I: Array, h: float) -> tuple[Array, Array, Array]:
        """Return (f(+h) - f(-h), straddle, clamp) for entries (J[b], I[b]) of ``layer``."""
        net, fw = self.net, self.fw
        N = fw.z[layer].shape[0]
        dz = h * fw.inputs[layer][:, I].T  # (B, N)
        zc = fw.z[layer][:, J].T
        zp, zm = zc + dz, zc - dz
        act = net.layer_act(layer)
        straddle = _any_rows(crossed(zp, zm, act.kinks)) if act.kinks else np.zeros(len(J), bool)
        if layer == self.last:
            if not act.rowwise:  # elementwise output and loss: only output J changes
                Yj = self.Y[:, J].T[..., None]
                with np.errstate(over="ignore", invalid="ignore"):
                    yp, ym = act.f(zp, net.leaky_slope), act.f(zm, net.leaky_slope)
                    diff = self._loss(yp[..., None], Yj) - self._loss(ym[..., None], Yj)
                clamp = self._clamp_flags(yp[..., None], ym[..., None])
                total = diff.sum(axis=1)
                # A non-finite term of another output stays in both losses: inf - inf = NaN.
                bad = (~np.isfinite(fw.terms)).any(axis=0)
                total[(bad.sum() - bad[J]) > 0] = np.nan
                return total, straddle, _any_rows(clamp)
            onehot = np.zeros((len(J), 1, fw.z[layer].shape[1]), dtype=dz.dtype)
            onehot[np.arange(len(J)), 0, J] = 1
            Zd = dz[:, :, None] * onehot
            d, _, cl = self.output_diff(np.arange(N), (fw.z[layer][None] + Zd).transpose(1, 0, 2),
                                        (fw.z[layer][None] - Zd).transpose(1, 0, 2))
            return d.sum(axis=0), straddle, np.asarray(cl.any(axis=0))
        a_base = fw.inputs[layer + 1][:, J].T
        with np.errstate(over="ignore", invalid="ignore"):
            dap = act.f(zp, net.leaky_slope) - a_base
            dam = act.f(zm, net.leaky_slope) - a_base
        col = self.mats[layer + 1][:, J].T[:, None, :]  # (B, 1, n_next)
        Zp = fw.z[layer + 1][None] + dap[:, :, None] * col
        Zm = fw.z[layer + 1][None] + dam[:, :, None] * col
        for upper in range(layer + 1, self.last):
            up_act = net.layer_act(upper)
            if up_act.kinks:
                straddle |= _any_rows(crossed(Zp, Zm, up_act.kinks))
            w = self.mats[upper + 1]
            with np.errstate(over="ignore", invalid="ignore"):
                Zp = affine(up_act.f(Zp, net.leaky_slope), w)
                Zm = affine(up_act.f(Zm, net.leaky_slope), w)
        d, st, cl = self.output_diff(np.arange(N), Zp.transpose(1, 0, 2), Zm.transpose(1, 0, 2))
        return d.sum(axis=0), straddle | st.any(axis=0), np.asarray(cl.any(axis=0))

    def softmax_output(self, h: float, block_elements: int) -> tuple[Array, Array, Array]:
        """Return (f(+h) - f(-h), straddle, clamp), each (n_out, cols), for the output layer of
        a softmax output with cce: entry (k, i) moves only z[:, k], by dz = h * input[:, i], so
        lse moves by log1p(y_k expm1(dz)); expm1(+-dz) is computed once for all k."""
        fw, layer = self.fw, self.last
        dz = h * fw.inputs[layer]  # (N, cols)
        n_out, cols = fw.z[layer].shape[1], dz.shape[1]
        diff = np.zeros((n_out, cols), dtype=dz.dtype)
        clamp = np.zeros((n_out, cols), dtype=bool)
        ok = self.safe(np.arange(dz.shape[0]), np.abs(dz).max(axis=1))
        safe = np.flatnonzero(ok)
        step = max(1, block_elements // (n_out * cols))
        for s0 in range(0, safe.size, step):  # blocks of samples keep (samples, n_out, cols) small
            rows = safe[s0:s0 + step]
            diff += series.softmax_cce_output_layer(fw.y[rows], self.Y[rows], dz[rows])
        rows = np.flatnonzero(~ok)  # near the clamp or non-finite: exactly as computed
        if rows.size:
            bsize = max(1, block_elements // (rows.size * n_out))
            flat = np.arange(n_out * cols)
            for b0 in range(0, flat.size, bsize):
                idx = flat[b0:b0 + bsize]
                J, I = idx % n_out, idx // n_out
                Zd = dz[rows][:, I, None] * (np.arange(n_out) == J[:, None])[None]  # (R, B, K)
                Zc = fw.z[layer][rows][:, None, :]
                dd, _, cl = self.output_diff(rows, Zc + Zd, Zc - Zd)
                diff[J, I] += dd.sum(axis=0)
                clamp[J, I] |= cl.any(axis=0)
        return diff, np.zeros((n_out, cols), dtype=bool), clamp

    def blocks(self, layer: int, h: float, block_elements: int) -> tuple[Array, Array, Array]:
        """Return (f(+h) - f(-h), straddle, clamp), each (rows, cols), for every entry of
        ``layer`` by the block route: the layers above re-evaluated for blocks of entries."""
        net = self.net
        rows, cols = net.shapes[layer]
        diff = np.empty(rows * cols, dtype=self.fw.z[layer].dtype)
        straddle = np.zeros(rows * cols, dtype=bool)
        clamp = np.zeros(rows * cols, dtype=bool)
        width = max(net.sizes[layer + 1:])
        bsize = max(1, block_elements // max(1, self.fw.z[layer].shape[0] * width))
        for b0 in range(0, rows * cols, bsize):
            idx = np.arange(b0, min(b0 + bsize, rows * cols))
            diff[idx], straddle[idx], clamp[idx] = self.block(layer, idx % rows, idx // rows, h)
        shape = (rows, cols)
        return (diff.reshape(shape, order="F"), straddle.reshape(shape, order="F"),
                clamp.reshape(shape, order="F"))
