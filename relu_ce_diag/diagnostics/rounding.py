"""Activations that round to (or too near) a bound of magnitude 1, and the entries they touch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relu_ce_diag.diagnostics.context import Context, unit_name
from relu_ce_diag.model.activations import ACTIVATIONS
from relu_ce_diag.model.network import Forward, Net
from relu_ce_diag.model.precision import default_step

Array = np.ndarray
COARSE = 1e-3  # relative error of a central difference that rounding near a bound may cause


def rounded_outputs(y: Array, act: str, eps_machine: float, h: float) -> tuple[Array, Array]:
    """Return (rounded to a bound, too close to a bound of magnitude 1), each shaped like y.

    Near 1 (and -1) floats are spaced eps_machine apart, so 1 - y carries a rounding error of
    about eps_machine; a central difference through such an output is off by about
    eps_machine / ((1 - y) h) relative, flagged when that exceeds COARSE.
    """
    a = ACTIVATIONS[act]
    if not a.rounds_to_bound:  # only bounded outputs that reach the bound by rounding
        none = np.zeros(y.shape, dtype=bool)
        return none, none
    rounded = (y == a.low) | (y == a.high)
    dist = a.high - y
    if a.low != 0:
        dist = np.minimum(dist, y - a.low)
    with np.errstate(divide="ignore", invalid="ignore"):
        coarse = ~rounded & (eps_machine / (dist * h) > COARSE)
    return rounded, coarse


def clear_of_bounds(y: Array, act: str, eps_machine: float, h: float) -> bool:
    """True when ``rounded_outputs`` finds nothing, told from the extremes of y: every value
    strictly inside its activation's bounds, and the one nearest a bound not coarse (the
    test of coarse falls with the distance to the bound, also as rounded)."""
    a = ACTIVATIONS[act]
    if not a.rounds_to_bound or y.size == 0:
        return True
    top, bottom = y.max(), y.min()
    if not (bottom > a.low and top < a.high):  # also False for NaN
        return False
    dist = a.high - top
    if a.low != 0:
        dist = min(dist, bottom - a.low)
    return not eps_machine / (dist * h) > COARSE


@dataclass(frozen=True)
class Saturated:
    """Saturated activations of one forward pass.

    ``into`` (P,) marks the entries w[u, :], b[u] of every unit u that saturates on some
    sample (their step moves that unit directly); ``units`` names them with sample counts.
    """

    rounded: int
    coarse: int
    units: tuple[str, ...]
    into: Array
    max_abs_z: float


def saturated_units(net: Net, fw: Forward, eps_machine: float, h: float) -> Saturated:
    """Find the units of every layer whose activation rounds to or near its bound at step h
    (or the dtype's default step, if larger)."""
    # Judge closeness at the dtype's default step or larger: a too small step is step-size's
    # finding, not saturation.
    h_eff = max(h, default_step(fw.y.dtype))
    into = np.zeros(net.n_params, dtype=bool)
    n_rounded = n_coarse = 0
    where: list[str] = []
    zmax = 0.0
    for layer in range(len(net.shapes)):
        act = net.layer_act(layer).name
        a = fw.y if layer == net.last else fw.inputs[layer + 1][:, :-1]
        if clear_of_bounds(a, act, eps_machine, h_eff):
            continue
        rounded, coarse = rounded_outputs(a, act, eps_machine, h_eff)
        sat = rounded | coarse
        if not sat.any():
            continue
        n_rounded, n_coarse = n_rounded + int(rounded.sum()), n_coarse + int(coarse.sum())
        zmax = max(zmax, float(np.abs(fw.z[layer][sat]).max()))
        units = np.flatnonzero(sat.any(axis=0))
        where += [f"{unit_name(net, layer, int(u))} ({int(sat[:, u].sum())})" for u in units]
        for u in units:
            into[net.unit_entries(layer, int(u))] = True
    return Saturated(n_rounded, n_coarse, tuple(where), into, zmax)


def saturated(ctx: Context) -> Saturated:
    """Return the saturated units of a checked cell (a fact the context keeps)."""
    return saturated_units(ctx.net, ctx.fw, ctx.eps_machine, ctx.h)
