"""Known wrong backprop formulas in the user's own layout: every delta bug with every layout
bug, and the one the user's df equals.

Candidates are built one at a time (never all held in memory) in the order of their number of
bugs, so a match with fewer bugs wins over a combination that happens to fit as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.diagnostics.bugs import KnownBug, delta_bugs
from relu_ce_diag.diagnostics.fixes import Coder
from relu_ce_diag.model.described import Described
from relu_ce_diag.model.network import forward, pack

Array = np.ndarray


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


def _penalties(d: Described, W: Array, code: Coder) -> list[tuple[tuple[KnownBug, ...], Array]]:
    """The L2 gradient as it should be, and its usual mistakes (on every layer or one)."""
    right = d.penalty(W)[1]
    if not d.l2:
        return [((), right)]
    fix = code.all_weight_grads()
    every = 2 * d.l2_scale * d.l2 * np.asarray(W, dtype=np.float64).reshape(-1)

    def bug(kind: str, what: str) -> tuple[KnownBug, ...]:
        return (KnownBug(kind, what, f"the L2 term of {d.l2_form} adds: {fix}", fix),)

    out = [((), right), (bug("l2-missing", "the gradient without its L2 term"), 0 * right),
           (bug("l2-factor", "the L2 term's gradient twice too large"), 2 * right),
           (bug("l2-factor", "the L2 term's gradient half too small"), 0.5 * right),
           (bug("l2-on-biases", "the L2 term's gradient on the biases too" + (
               " (each Theta's first column regularised)" if d.layout == "theta" else "")),
            every)]
    if d.net.last > 0:
        for layer in range(d.net.last + 1):
            idx = layer_entries(d, layer)
            for factor, what in ((0.0, "without its L2 term"), (2.0, "with twice its L2 term"),
                                 (0.5, "with half its L2 term")):
                g = right.copy()
                g[idx] *= factor
                out.append((bug("l2-factor" if factor else "l2-missing",
                                f"layer {layer + 1}'s gradient {what}"), g))
    return out


def layer_entries(d: Described, layer: int) -> Array:
    """Return the user's flat indices of weight layer ``layer`` (0-based), bias included."""
    start = d.net.layer_start(layer)
    r, c = d.net.shapes[layer]
    return d.perm[start:start + r * c]


def _reduction_variants(d: Described, data: Array, red_fix: str,
                        ) -> Iterator[tuple[tuple[KnownBug, ...], Array]]:
    """The data term with the reduction's bug: a mean for a sum, a sum for a mean, or (for
    np.mean over every element) a division by N alone."""
    N = d.samples
    if d.reduction == "sum":
        yield (KnownBug("mean-instead-of-sum", f"the gradient divided by N = {N} (a mean)",
                        f"the loss sums over the samples, so its gradient does too: {red_fix}",
                        red_fix),), data / N
    elif d.reduction == "mean-all":
        C = d.outputs
        yield (KnownBug("mean-over-samples-only",
                        f"the gradient divided by N = {N} where np.mean divides the loss by N x "
                        f"C = {N * C}",
                        f"the loss is a mean over every output element, so is its gradient: "
                        f"{red_fix}", red_fix),), data * C
        yield (KnownBug("sum-instead-of-mean", f"the gradient not divided by N x C = {N * C}",
                        f"the loss is a mean over every output element, so is its gradient: "
                        f"{red_fix}", red_fix),), data * (N * C)
    else:
        yield (KnownBug("sum-instead-of-mean", f"the gradient not divided by N = {N}",
                        f"the loss is a mean over the samples, so is its gradient: {red_fix}",
                        red_fix),), data * N


def _data_variants(d: Described, mats: list[Array], code: Coder,
                   ) -> Iterator[tuple[tuple[KnownBug, ...], Array]]:
    """The data term (P,) in the user's layout, right and with each layout bug."""
    scale, N = d.data_scale, d.samples
    data = scale * d.to_user(pack(mats))
    yield (), data
    if d.layout == "seed" and len(d.perm) and np.array_equal(d.perm, np.arange(d.perm.size)):
        yield ((KnownBug("row-major", "the right matrices flattened row-major (NumPy's default "
                         "ravel(), MATLAB's reshape of a transpose)",
                         f"flatten column-major: {code.flatten()}", code.flatten()),),
               scale * np.concatenate([m.ravel(order="C") for m in mats]))
    no_bias = np.where(d.weights, data, 0.0)
    fix = code.all_weight_grads()
    yield (KnownBug("dropped-bias", "the gradient with every bias gradient missing (0)",
                    f"keep the bias gradients: {fix}", fix),), no_bias
    if d.net.last > 0:  # every bias off by N alone (db = sum(dZ) without the 1/m, say)
        for factor, what in ((1.0 / N, f"divided by N = {N}"), (float(N), f"times N = {N}")):
            g = np.where(d.weights, data, data * factor)
            yield (KnownBug("biases-scaled", f"every bias gradient {what}",
                            f"scale the bias gradients as the weights': {fix}", fix),), g
    delta = code.output_delta()
    red_fix = fix if d.layout in ("columns", "theta") else delta
    if d.reduction == "mean-all":  # a gradient C x too large: N alone, before a factor of 2
        yield from _reduction_variants(d, data, red_fix)
    for factor, words in ((2.0, "twice"), (0.5, "half")):
        yield (KnownBug("factor-2", f"{words} the gradient", f"drop the extra factor: {delta}",
                        delta),), factor * data
    if d.reduction != "mean-all":
        yield from _reduction_variants(d, data, red_fix)
    for start, n, layer in d.square:
        g = data.copy()
        g[start:start + n * n] = g[start:start + n * n].reshape(n, n).T.ravel()
        fix = code.weight_grads(layer)
        yield (KnownBug("transposed-block", f"layer {layer}'s weight gradient transposed",
                        f"multiply in the order that gives the weights' own layout: {fix}",
                        fix),), g
    for layer in range(d.net.last + 1):
        idx, grads_fix = layer_entries(d, layer), code.weight_grads(layer + 1)
        delta = code.hidden_delta(layer + 1) if layer < d.net.last else code.output_delta()
        w_idx, b_idx = idx[d.weights[idx]], idx[~d.weights[idx]]
        parts = (("layer", idx), ("weights", w_idx), ("bias", b_idx)) if d.net.last > 0 \
            else (("weights", w_idx), ("bias", b_idx))
        for part, where in parts:
            fix = code.join(delta, grads_fix) if part == "layer" else grads_fix
            for factor, what in ((1.0 / N, f"divided by N = {N}"), (float(N), f"times N = {N}")):
                g = data.copy()
                g[where] *= factor
                name = f"layer {layer + 1}'s" if part == "layer" else f"layer {layer + 1}'s {part}"
                yield (KnownBug("one-block-scaled", f"{name} gradient {what}",
                                f"scale every block alike: {fix}", fix),), g


def candidates(d: Described, W: Array, lang: str = "numpy") -> Iterator[Candidate]:
    """Yield the exact gradient of the described user network at its flat parameters W (P,)
    first, then every catalogued wrong one; fixes are written in ``lang`` (numpy|matlab)."""
    Ws = d.to_seed(W)
    with np.errstate(all="ignore"):
        fw = forward(d.net, Ws, d.X, d.Y)
        code = Coder(d, lang)
        pens = _penalties(d, W, code)
        for bugs, mats in delta_bugs(d, Ws, fw, lang):
            for lbugs, data in _data_variants(d, mats, code):
                for pbugs, pen in pens:
                    yield Candidate(bugs + lbugs + pbugs, data + pen)


def _distance(u: Array, c: Array) -> float:
    """Return ||u - c|| / max(||u||, ||c||) (0 when both are zero, inf when not finite)."""
    with np.errstate(invalid="ignore", over="ignore"):
        den = max(float(np.linalg.norm(u)), float(np.linalg.norm(c)))
        num = float(np.linalg.norm(u - c))
    if not np.isfinite(num) or not np.isfinite(den):
        return float("inf")
    return num / den if den > 0 else 0.0


def closest(df: Array, cands: Iterator[Candidate], match_tol: float) -> Match:
    """Name the candidate closest to the user's df (P,): among those within ``match_tol``
    the one with the fewest bugs, else the nearest (a hint)."""
    u = df.astype(np.float64)
    best: tuple[int, float, Candidate] | None = None
    nearest: tuple[float, Candidate] | None = None
    exact = float("inf")
    for c in cands:
        dist = _distance(u, c.grad)
        if not c.bugs:
            exact = dist
        if nearest is None or dist < nearest[0]:
            nearest = (dist, c)
        if dist <= match_tol and (best is None or (len(c.bugs), dist) < best[:2]):
            best = (len(c.bugs), dist, c)
    assert nearest is not None
    if best is not None:
        return Match(best[2], best[1], exact, True)
    return Match(nearest[1], nearest[0], exact, False)
