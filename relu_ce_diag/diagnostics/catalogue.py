"""Known wrong backprop formulas: rebuild each on the described network and name the closest.

Every entry is a way hand-written gradients of the seed's network go wrong. A *base* bug
changes a delta (the shortcut ``y - Y``, a missing output derivative, element-wise softmax, a
wrong leaky slope, relu' on a shifted threshold); a *layout* bug changes how the right
matrices end up in ``df`` (row-major flattening, a dropped bias gradient, a factor of 2, a
mean instead of a sum). Candidates are every base with every layout, so a port that has two
bugs at once is still named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from relu_ce_diag.model.network import (
    Forward,
    Net,
    backprop_delta,
    delta_code,
    forward,
    output_delta,
    pack,
    weight_grads,
)

Array = np.ndarray


@dataclass(frozen=True)
class KnownBug:
    """One catalogued mistake: stable id, what the user's df then is, and the fix."""

    id: str
    what: str
    fix: str


@dataclass(frozen=True)
class Candidate:
    """A gradient (P,) built with zero or more known bugs (``bugs`` empty: the exact one)."""

    bugs: tuple[KnownBug, ...]
    grad: Array

    @property
    def name(self) -> str:
        return " + ".join(b.id for b in self.bugs) or "exact"


@dataclass(frozen=True)
class Match:
    """The closest candidate to a user's df and how close (normwise relative distance)."""

    candidate: Candidate
    distance: float
    exact_distance: float
    matched: bool


def _grads(net: Net, W: Array, fw: Forward, d_out: Array,
           hidden_df: Callable[[int, Array, Array], Array]) -> list[Array]:
    """Backpropagate an output delta (N, n_out); return dL/dw_l as matrices (n_l, n_{l-1}+1)."""
    return weight_grads(backprop_delta(net, W, fw, d_out, hidden_df), fw)


def _shift(t: float) -> Callable[[int, Array], Array]:
    """Return a pre-activation shift z -> z - t (relu'(z - t) is (z > t))."""
    return lambda layer, z: z - t


def _bases(net: Net, W: Array, fw: Forward, Y: Array, lang: str,
           ) -> list[tuple[tuple[KnownBug, ...], list[Array]]]:
    """Return (bugs, matrices) for the exact gradient and every applicable base bug."""
    def hdf(n: Net, shift: Callable[[int, Array], Array] | None = None,
            ) -> Callable[[int, Array, Array], Array]:
        def f(layer: int, z: Array, a: Array) -> Array:
            zz = z if shift is None else shift(layer, z)
            return n.layer_act(layer).df(zz, a, n.leaky_slope, n.at_zero)
        return f

    exact = output_delta(net, fw, Y, "exact")
    out: list[tuple[tuple[KnownBug, ...], list[Array]]] = [((), _grads(net, W, fw, exact,
                                                                        hdf(net)))]
    correct = delta_code(net, lang)
    pair = f"a {net.out} output with {net.loss}"
    out_act = net.out_act
    if not net.loss_fn.shortcut_chain:
        bug = KnownBug("shortcut-delta", "the shortcut delta d_out = y - Y",
                       f"y - Y is dL/dz only for a canonical pair; for {pair} the correct "
                       f"delta is {correct}")
        out.append(((bug,), _grads(net, W, fw, output_delta(net, fw, Y, "shortcut"), hdf(net))))
    g = net.loss_fn.dy(fw.y, Y, net.eps)
    if not (out_act.piecewise_linear and out_act.slopes(net.leaky_slope) == (1.0, 1.0)):
        bug = KnownBug("missing-output-derivative",
                       "the output delta without the output activation's derivative "
                       "(d_out = dL/dy)",
                       f"multiply by the output derivative: for {pair} the correct delta is "
                       f"{correct}")
        out.append(((bug,), _grads(net, W, fw, g, hdf(net))))
    if out_act.rowwise:
        bug = KnownBug("softmax-elementwise",
                       "softmax differentiated element-wise (d_out = dL/dy .* y .* (1 - y))",
                       f"use the softmax Jacobian, not its diagonal: {correct}")
        out.append(((bug,), _grads(net, W, fw, g * fw.y * (1 - fw.y), hdf(net))))
    acts = [net.layer_act(k) for k in range(len(net.sizes) - 1)]
    if any(a.uses_slope for a in acts):
        for s in sorted({0.0, 1.0, net.leaky_slope * 10, net.leaky_slope / 10} - {net.leaky_slope}):
            n2 = replace(net, leaky_slope=s)
            bug = KnownBug("wrong-leaky-slope", f"leaky-relu derivatives with slope {s:g} "
                           f"for z <= 0 instead of {net.leaky_slope:g}",
                           f"use {net.leaky_slope:g} where z <= 0 (the slope of the forward pass)")
            out.append(((bug,), _grads(n2, W, fw, output_delta(n2, fw, Y, "exact"), hdf(n2))))
    if any(a.kinks for a in acts):
        mats = net.unpack(W)
        shifts: list[tuple[str, Callable[[int, Array], Array]]] = [
            ("z without its bias (z - b)", lambda k, z: z - mats[k][:, -1])]
        shifts += [(f"(z > {t:g})", _shift(t)) for t in (-1.0, -0.5, 0.5, 1.0)]
        for text, sh in shifts:
            bug = KnownBug("shifted-threshold", f"relu'(z) evaluated as {text}" if "(" in text[:1]
                           else f"relu'(z) evaluated on {text}",
                           "evaluate relu'(z) = (z > 0) on the full pre-activation "
                           "z = [a 1] * w', bias included")
            out.append(((bug,), _grads(net, W, fw, exact, hdf(net, sh))))
    return out


def _layouts(net: Net, N: int) -> list[tuple[tuple[KnownBug, ...], Callable[[list[Array]], Array]]]:
    """Return (bugs, packer) for the right layout and every layout bug."""
    def scaled(c: float) -> Callable[[list[Array]], Array]:
        return lambda ms: c * pack(ms)

    def no_bias(ms: list[Array]) -> Array:
        return pack([np.concatenate([m[:, :-1], np.zeros_like(m[:, -1:])], axis=1) for m in ms])

    return [
        ((), pack),
        ((KnownBug("row-major", "the right matrices flattened row-major (NumPy's default "
                   "ravel(), MATLAB's reshape of a transpose)",
                   "flatten each weight gradient column-major: df1(:) in MATLAB, "
                   "df1.ravel(order='F') in NumPy"),),
         lambda ms: np.concatenate([m.ravel(order="C") for m in ms])),
        ((KnownBug("dropped-bias", "the gradient with every bias gradient missing (0)",
                   "keep the bias column: df1 = d2' * [X 1], whose last column is the bias "
                   "gradient"),), no_bias),
        ((KnownBug("factor-2", "twice the gradient", "drop the extra factor 2 (the squared "
                   "error is 0.5 * sum((y - Y)^2))"),), scaled(2.0)),
        ((KnownBug("factor-2", "half the gradient", "drop the extra factor 1/2"),), scaled(0.5)),
        ((KnownBug("mean-instead-of-sum", f"the gradient divided by N = {N} (a mean)",
                   "the loss sums over samples, so its gradient does too: do not divide df "
                   "by N (or divide f as well)"),), scaled(1.0 / N)),
    ]


def candidates(net: Net, W: Array, X: Array, Y: Array, lang: str = "numpy") -> list[Candidate]:
    """Build the exact gradient and every catalogued wrong one (each (P,)) at W, X, Y; the
    fixes are written in ``lang`` (numpy|matlab)."""
    fw = forward(net, W, X, Y)
    found: list[Candidate] = []
    for bugs, mats in _bases(net, W, fw, Y, lang):
        for lbugs, packer in _layouts(net, X.shape[0]):
            g = packer(mats)
            if not any(_distance(g, c.grad) < 1e-13 for c in found):
                found.append(Candidate(bugs + lbugs, g))
    return found


def _distance(u: Array, c: Array) -> float:
    """Return ||u - c|| / max(||u||, ||c||) (0 when both are zero, inf when not finite)."""
    with np.errstate(invalid="ignore", over="ignore"):
        den = max(float(np.linalg.norm(u)), float(np.linalg.norm(c)))
        num = float(np.linalg.norm(u - c))
    if not np.isfinite(num) or not np.isfinite(den):
        return float("inf")
    return num / den if den > 0 else 0.0


def closest(df: Array, cands: list[Candidate], match_tol: float) -> Match:
    """Name the candidate closest to the user's df (P,); matched when within ``match_tol``."""
    dists = [_distance(df.astype(np.float64), c.grad) for c in cands]
    best = int(np.argmin(dists))
    return Match(cands[best], dists[best], dists[0], dists[best] <= match_tol)
