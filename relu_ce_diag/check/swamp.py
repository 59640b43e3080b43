"""Rounding the error model leaves out: activations whose own rounding swamps a step.

``numeric.sample_scale`` bounds the round-off of a sample's loss difference by its loss terms
and the rounding of every pre-activation, |z dL/dz|. It leaves out the rounding of an
activation a itself, which moves the loss by about eps |a dL/da|: small for most units, but a
sigmoid output a few ulps from 1 under cross-entropy has dL/dy = 1/(1 - y), and then a step's
effect on the unit is lost in rounding (``float-saturation``). Only the units a stencil moves
round differently at its two ends: for an entry, its own unit and every unit above it on the
samples it touches; for a direction, every unit.

A (check, sample) pair is *swamped* when that rounding exceeds everything the model counts
for the sample; a check is compared again on its other samples (``Split``), with the per-sample
slopes of the backprop under test and per-sample central differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relu_ce_diag.model.network import Forward, Net, with_bias
from relu_ce_diag.numeric.compare import tolerance

Array = np.ndarray


@dataclass(frozen=True)
class Rounding:
    """Activation rounding of one forward pass: ``units[l]`` (N, n_l) is |a dL/da| of every
    (sample, unit) of weight layer l, ``above[l]`` (N,) its sum over the layers above l, and
    ``scale`` (N,) what the error model counts for each sample."""

    units: list[Array]
    above: list[Array]
    scale: Array

    def path(self, layer: int, unit: int) -> Array:
        """Return the rounding (N,) a step of a weight into ``unit`` of ``layer`` moves."""
        return self.units[layer][:, unit] + self.above[layer]

    @property
    def everywhere(self) -> Array:
        """Return the rounding (N,) of every unit of each sample (what a direction moves)."""
        return self.units[0].sum(axis=1) + self.above[0]

    def swamped_units(self) -> list[Array]:
        """Return per layer the (sample, unit) pairs (N, n_l) whose own rounding exceeds
        everything the error model counts for the sample."""
        return [u > self.scale[:, None] for u in self.units]


def activation_rounding(net: Net, W: Array, fw: Forward, Y: Array, exact: list[Array],
                        scale: Array) -> Rounding:
    """Measure |a dL/da| of every activation (``exact`` are dL/dz per layer, clamp included,
    so a clamped output, flat in the loss, rounds harmlessly) against ``scale`` (N,)."""
    mats = net.unpack(W)
    units = []
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for layer in range(len(mats)):
            if layer == net.last:
                a, g = fw.y, net.loss_fn.dy(fw.y, Y, net.eps)
            else:
                a, g = fw.inputs[layer + 1][:, :-1], exact[layer + 1] @ mats[layer + 1][:, :-1]
            r = np.abs(a.astype(np.float64) * g)
            units.append(np.where(np.isfinite(r), r, 0.0))
    above = [np.zeros(fw.y.shape[0]) for _ in units]
    for layer in range(len(units) - 2, -1, -1):
        above[layer] = above[layer + 1] + units[layer + 1].sum(axis=1)
    return Rounding(units, above, scale)


def entry_rounding(net: Net, fw: Forward, r: Rounding) -> Array:
    """Return the rounding (P,) each entry's step moves: the path of its unit summed over the
    samples with a nonzero input to its column."""
    parts = []
    for layer in range(len(net.shapes)):
        path = r.units[layer] + r.above[layer][:, None]              # (N, rows)
        touched = (fw.inputs[layer] != 0).astype(np.float64)          # (N, cols)
        parts.append((path.T @ touched).ravel(order="F"))
    return np.concatenate(parts)


def entry_losses(net: Net, W: Array, fw: Forward, Y: Array, p: int, t: float) -> Array:
    """Return the per-sample losses (N,) at W + t e_p, recomputing only what entry p moves
    (its unit's pre-activation, then every layer above); ``t`` is taken in W's dtype."""
    mats = net.unpack(W)
    layer, j, i = net.position(p)
    w = mats[layer][j].copy()
    w[i] += W.dtype.type(t)
    z = fw.z[layer].copy()
    z[:, j] = fw.inputs[layer] @ w
    with np.errstate(all="ignore"):  # a non-finite loss is a finding, as in the forward pass
        a = net.layer_act(layer).f(z, net.leaky_slope)
        for upper in range(layer + 1, len(mats)):
            a = net.layer_act(upper).f(with_bias(a) @ mats[upper].T, net.leaky_slope)
        return net.loss_fn.terms(a, Y, net.eps).sum(axis=1)


@dataclass(frozen=True)
class Split:
    """One check cut by samples: the per-sample slopes of the backprop under test
    ``analytic`` (N,), the per-sample central differences at h and h/2, the samples it
    ``touched`` and their modelled scale plus rounding ``scale`` (N,), and the ``swamped``
    ones (N,)."""

    analytic: Array
    numeric: Array
    half: Array
    touched: Array
    scale: Array
    swamped: Array

    def clean_agrees(self, h: float, eps: float) -> bool:
        """True when, on the samples the check touches and rounding does not swamp, the
        analytic and numeric slopes agree within the error model."""
        keep = self.touched & ~self.swamped
        a, n, n2 = (np.array([x[keep].sum()]) for x in (self.analytic, self.numeric, self.half))
        tol = tolerance(a, n, n2, np.array([self.scale[keep].sum()]), h, eps)
        return bool(np.abs(a - n)[0] <= tol[0])


def entry_split(net: Net, W: Array, fw: Forward, Y: Array, ds: list[Array], r: Rounding,
                p: int, h: float) -> Split:
    """Cut entry p by samples: ``ds`` are dL/dz per layer of the backprop under test."""
    layer, j, i = net.position(p)
    x = fw.inputs[layer][:, i]
    path = r.path(layer, j)
    diffs = [(entry_losses(net, W, fw, Y, p, t) - entry_losses(net, W, fw, Y, p, -t)) / (2 * t)
             for t in (h, h / 2)]
    return Split(ds[layer][:, j] * x, diffs[0], diffs[1], x != 0, r.scale + path,
                 path > r.scale)


def per_sample_slopes(net: Net, fw: Forward, ds: list[Array], v: Array) -> Array:
    """Return the per-sample slopes (N,) of the backprop under test along a direction v (P,)."""
    return sum((d * (ab @ m.T)).sum(axis=1)
               for d, ab, m in zip(ds, fw.inputs, net.unpack(v), strict=True))
