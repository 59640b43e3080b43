"""What the diagnostics see of a checked cell: the internals of the forward pass and the check."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relu_ce_diag.cells import Prepared
from relu_ce_diag.compare import Comparison
from relu_ce_diag.network import Forward, Net
from relu_ce_diag.numgrad import NumGrad

Array = np.ndarray


@dataclass(frozen=True)
class DiagContext:
    """One checked cell with everything the runner computed.

    ``analytic``, ``exact`` (the true chain rule, clamp included) and the central differences
    ``ng.numeric`` (step h) and ``numeric_half`` (step h/2) are (P,); ``tol`` (P,) is the
    per-entry tolerance, ``cmp`` the comparison, ``set_aside`` (P,) the mismatching entries
    whose step straddles a kink or the clamp, ``status`` the verdict.
    """

    prep: Prepared
    fw: Forward
    analytic: Array
    exact: Array
    ng: NumGrad
    numeric_half: Array
    tol: Array
    cmp: Comparison
    set_aside: Array
    status: str

    @property
    def net(self) -> Net:
        return self.prep.net

    @property
    def h(self) -> float:
        return self.ng.step

    @property
    def eps_machine(self) -> float:
        return float(np.finfo(self.prep.arrays.W.dtype).eps)


def unit_name(net: Net, layer: int, unit: int) -> str:
    """Name unit ``unit`` of 0-based weight layer ``layer``: ``h1[3]`` or ``out[0]``."""
    return f"out[{unit}]" if layer == len(net.sizes) - 2 else f"h{layer + 1}[{unit}]"


def listing(items: list[str], limit: int = 4) -> str:
    """Join the first ``limit`` items with commas and say how many more there are."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def clamp_masks(y: Array, Y: Array, loss: str, eps: float) -> tuple[Array, Array, Array]:
    """Return (y <= eps, 1 - y <= eps, clamp active in the loss), each (N, n_out) bool.

    Active means the clamped term has a non-zero target weight, so the loss is flat there.
    """
    none = np.zeros(y.shape, dtype=bool)
    if loss not in ("ce", "cce") or eps <= 0:
        return none, none, none
    low = y <= eps
    high = (1 - y) <= eps if loss == "ce" else none
    active = (low & (Y != 0)) | (high & (Y != 1))
    return low, high, active
