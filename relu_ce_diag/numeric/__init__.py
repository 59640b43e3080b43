"""The numerical core: central differences of the reference network, and their error model.

Two routes with one signature: ``plain`` (a loop over the entries, the oracle) and ``fast``
(structure-aware, the default; its tests hold it equal to the plain one). The numeric core
imports only NumPy and the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from relu_ce_diag.model.network import Forward, Net
from relu_ce_diag.numeric import fast, plain
from relu_ce_diag.numeric.fast import DEFAULT_BLOCK_ELEMENTS
from relu_ce_diag.numeric.fast.evaluator import Evaluator

Array = np.ndarray
METHODS = ("fast", "plain")


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


def sample_scale(net: Net, fw: Forward, ds: list[Array]) -> Array:
    """Return per-sample magnitudes (N,) that bound the round-off of a loss difference.

    ``ds`` are dL/dz per layer; |z * dL/dz| is how much a relative rounding of z moves the
    loss, |t| how much a relative rounding of the loss terms does. (Rounding of outputs next
    to a saturated unit is not bounded here: ``check/swamp.py`` bounds it and re-judges
    such entries sample by sample.)
    """
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.abs(fw.terms).sum(axis=1)
        for z, d in zip(fw.z, ds, strict=True):
            s = s + np.abs(z * d).sum(axis=1)
    return np.where(np.isfinite(s), s, 0.0)


def entry_scale(net: Net, fw: Forward, per_sample_scale: Array, method: str) -> Array:
    """Return the round-off scale (P,) of each entry's loss difference: the samples it
    touches (a nonzero input to its column) for the fast route, which sums per-sample
    differences; every sample for a loop, which subtracts two whole losses."""
    if method == "plain":
        return np.full(net.n_params, float(per_sample_scale.sum()))
    parts = []
    for layer, (rows, _) in enumerate(net.shapes):
        touched = (fw.inputs[layer] != 0).T.astype(np.float64) @ per_sample_scale  # (cols,)
        parts.append(np.repeat(touched, rows))
    return np.concatenate(parts)


class Stencils:
    """Central differences of the network's loss at one point (W, X, Y and its forward pass
    ``fw``), at any step, by the ``fast`` route (memory bounded by ``block_elements`` per
    temporary array) or the ``plain`` loop. What no step changes, the round-off scale of
    every entry and the fast route's evaluator of the forward pass, is computed once."""

    def __init__(self, net: Net, W: Array, X: Array, Y: Array, fw: Forward,
                 per_sample_scale: Array, block_elements: int = DEFAULT_BLOCK_ELEMENTS,
                 method: str = "fast") -> None:
        self.net, self.W, self.X, self.Y, self.fw = net, W, X, Y, fw
        self.per_sample_scale, self.block_elements, self.method = (per_sample_scale,
                                                                   block_elements, method)

    @cached_property
    def scale(self) -> Array:
        """The round-off scale (P,) of every entry (``entry_scale``)."""
        return entry_scale(self.net, self.fw, self.per_sample_scale, self.method)

    @cached_property
    def evaluator(self) -> Evaluator:
        return Evaluator(self.net, self.W, self.fw, self.Y)

    def at(self, h: float) -> NumGrad:
        """Return the central-difference gradient at step h."""
        net, W = self.net, self.W
        if self.method == "plain":
            diff, straddle, clamp = plain.differences(net, W, self.X, self.Y, h)
        else:
            diff, straddle, clamp = fast.differences(net, W, self.Y, self.fw, h,
                                                     self.block_elements, self.evaluator)
        with np.errstate(invalid="ignore", over="ignore"):
            numeric = (diff / (2 * h)).astype(W.dtype, copy=False)
        return NumGrad(numeric, self.scale, straddle, clamp, h)


def central_differences(net: Net, W: Array, X: Array, Y: Array, fw: Forward, h: float,
                        per_sample_scale: Array,
                        block_elements: int = DEFAULT_BLOCK_ELEMENTS,
                        method: str = "fast") -> NumGrad:
    """Return the central-difference gradient of the network's loss at W with step h, by the
    ``fast`` route (memory bounded by ``block_elements`` per temporary array) or the
    ``plain`` loop."""
    return Stencils(net, W, X, Y, fw, per_sample_scale, block_elements, method).at(h)


__all__ = ["DEFAULT_BLOCK_ELEMENTS", "METHODS", "NumGrad", "Stencils", "central_differences",
           "entry_scale", "sample_scale"]
