"""Central differences for every parameter of the reference network, without a loop over them.

Perturbing entry (j, i) of layer l moves only column j of that layer's pre-activation, by
``h * input[:, i]``. So each perturbed loss is recomputed from the cached forward pass: only
the layers above l are evaluated again, for a block of entries at once, and the loss
*difference* is summed per sample, so the unchanged samples cancel exactly. While doing so the
stencil's own pre-activations and outputs are at hand, which tells exactly which entries moved
a pre-activation across a kink or an output across the ``eps`` clamp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.network import Forward, Net, with_bias

Array = np.ndarray
DEFAULT_BLOCK_ELEMENTS = 1 << 20  # elements per (block, N, width) array: ~8 MB in float64


@dataclass(frozen=True)
class NumGrad:
    """A central-difference gradient (P,) with what is needed to judge it.

    ``straddle``: the stencil moved a pre-activation across (or onto) a kink.
    ``clamp``: the stencil moved an output across the loss's ``eps`` clamp.
    ``scale``: sum of the magnitudes of the per-sample losses the stencil touched; the
    round-off of the difference is about ``eps_machine * scale / h``.
    """

    numeric: Array
    scale: Array
    straddle: Array
    clamp: Array
    step: float


def _crossed(zp: Array, zm: Array, points: tuple[float, ...]) -> Array:
    """Flag (B, N, ...) stencils whose two ends lie on different sides of (or on) a point."""
    hit = np.zeros(zp.shape, dtype=bool)
    for k in points:
        hit |= np.sign(zp - k) != np.sign(zm - k)
    return hit


def _clamp_points(net: Net) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Return the thresholds of y and of 1 - y where the loss's clamp switches on."""
    if net.loss == "ce":
        return (net.eps,), (net.eps,)
    if net.loss == "cce":
        return (net.eps,), ()
    return (), ()


def _any_rows(mask: Array) -> Array:
    """Reduce a (B, N, ...) mask to (B,)."""
    return mask.reshape(mask.shape[0], -1).any(axis=1)


class _Evaluator:
    """Loss differences for blocks of perturbed entries of one network and data set."""

    def __init__(self, net: Net, W: Array, fw: Forward, Y: Array) -> None:
        self.net, self.fw, self.Y = net, fw, Y
        self.mats = net.unpack(W)
        self.last = len(self.mats) - 1
        self.y_pts, self.one_minus_y_pts = _clamp_points(net)

    def _loss(self, y: Array, Y: Array) -> tuple[Array, Array]:
        """Per-sample loss (B, N) and clamp-side signature for a perturbed output."""
        with np.errstate(invalid="ignore", over="ignore"):
            t = self.net.loss_fn.terms(y, Y, self.net.eps)
            return t.sum(axis=-1) if t.ndim == 3 else t

    def _clamp_flags(self, yp: Array, ym: Array) -> Array:
        hit = _crossed(yp, ym, self.y_pts)
        if self.one_minus_y_pts:
            hit |= _crossed(1 - yp, 1 - ym, self.one_minus_y_pts)
        return _any_rows(hit)

    def block(self, layer: int, J: Array, I: Array, h: float) -> tuple[Array, Array, Array]:
        """Return (f(+h) - f(-h), straddle, clamp) for entries (J[b], I[b]) of ``layer``."""
        net, fw = self.net, self.fw
        dz = h * fw.inputs[layer][:, I].T  # (B, N)
        zc = fw.z[layer][:, J].T
        zp, zm = zc + dz, zc - dz
        act = net.layer_act(layer)
        straddle = _any_rows(_crossed(zp, zm, act.kinks)) if act.kinks else np.zeros(len(J), bool)
        if layer == self.last:
            if not act.rowwise:  # elementwise output and loss: only output J changes
                yp, ym = act.f(zp, net.leaky_slope), act.f(zm, net.leaky_slope)
                Yj = self.Y[:, J].T
                diff = self._loss(yp, Yj) - self._loss(ym, Yj)
                return diff.sum(axis=1), straddle, self._clamp_flags(yp, ym)
            onehot = np.zeros((len(J), 1, fw.z[layer].shape[1]), dtype=dz.dtype)
            onehot[np.arange(len(J)), 0, J] = 1
            Zp = fw.z[layer][None] + dz[:, :, None] * onehot
            Zm = fw.z[layer][None] - dz[:, :, None] * onehot
        else:
            a_base = fw.inputs[layer + 1][:, J].T
            dap = act.f(zp, net.leaky_slope) - a_base
            dam = act.f(zm, net.leaky_slope) - a_base
            col = self.mats[layer + 1][:, J].T[:, None, :]  # (B, 1, n_next)
            Zp = fw.z[layer + 1][None] + dap[:, :, None] * col
            Zm = fw.z[layer + 1][None] + dam[:, :, None] * col
            for upper in range(layer + 1, self.last + 1):
                up_act = net.layer_act(upper)
                if up_act.kinks:
                    straddle |= _any_rows(_crossed(Zp, Zm, up_act.kinks))
                if upper == self.last:
                    break
                w = self.mats[upper + 1]
                Zp = with_bias(up_act.f(Zp, net.leaky_slope)) @ w.T
                Zm = with_bias(up_act.f(Zm, net.leaky_slope)) @ w.T
        out = net.out_act
        yp, ym = out.f(Zp, net.leaky_slope), out.f(Zm, net.leaky_slope)
        diff = self._loss(yp, self.Y[None]) - self._loss(ym, self.Y[None])
        return diff.sum(axis=1), straddle, self._clamp_flags(yp, ym)


def sample_scale(net: Net, fw: Forward, ds: list[Array]) -> Array:
    """Return per-sample magnitudes (N,) that bound the round-off of a loss difference.

    ``ds`` are dL/dz per layer; |z * dL/dz| is how much a relative rounding of z moves the
    loss, |t| how much a relative rounding of the loss terms does.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.abs(fw.terms).sum(axis=1)
        for z, d in zip(fw.z, ds):
            s = s + np.abs(z * d).sum(axis=1)
    return np.where(np.isfinite(s), s, 0.0)


def central_differences(net: Net, W: Array, X: Array, Y: Array, fw: Forward, h: float,
                        per_sample_scale: Array,
                        block_elements: int = DEFAULT_BLOCK_ELEMENTS) -> NumGrad:
    """Return the central-difference gradient of the network's loss at W with step h."""
    ev = _Evaluator(net, W, fw, Y)
    P = net.n_params
    numeric = np.empty(P, dtype=W.dtype)
    scale = np.empty(P, dtype=np.float64)
    straddle = np.zeros(P, dtype=bool)
    clamp = np.zeros(P, dtype=bool)
    N = X.shape[0]
    start = 0
    for layer, (rows, cols) in enumerate(net.shapes):
        width = max(net.sizes[layer + 1:])
        bsize = max(1, block_elements // max(1, N * width))
        touched = (fw.inputs[layer] != 0).T.astype(np.float64) @ per_sample_scale  # (cols,)
        flat = np.arange(rows * cols)
        for b0 in range(0, flat.size, bsize):
            idx = flat[b0:b0 + bsize]
            J, I = idx % rows, idx // rows
            diff, st, cl = ev.block(layer, J, I, h)
            sl = slice(start + b0, start + b0 + idx.size)
            with np.errstate(invalid="ignore", over="ignore"):
                numeric[sl] = diff / (2 * h)
            straddle[sl], clamp[sl] = st, cl
            scale[sl] = touched[I]
        start += rows * cols
    return NumGrad(numeric, scale, straddle, clamp, h)


def loop_central_differences(fun: Callable[[Array], float], W: Array, h: float,
                             ) -> tuple[Array, Array]:
    """Return the central differences (P,) of a black-box ``fun`` with a plain loop, and the
    round-off scale (P,) ``|f(W+h)| + |f(W-h)|`` of each entry; 2P calls."""
    numeric = np.empty(W.size, dtype=np.float64)
    scale = np.empty(W.size, dtype=np.float64)
    for p in range(W.size):
        Wp, Wm = W.copy(), W.copy()
        Wp[p] += h
        Wm[p] -= h
        fp, fm = float(fun(Wp)), float(fun(Wm))
        numeric[p] = (fp - fm) / (2 * h)
        scale[p] = abs(fp) + abs(fm)
    return numeric, scale
