"""Exact attribution: split the discrepancy analytic - numeric into its causes.

E = analytic - numeric is the sum of
  * pairing:  G(d_shortcut - d_free), the wrong output delta against the unclamped loss;
  * clamp:    G(d_free - d_exact), the clamp the hand-written delta ignores, plus
              exact - numeric on entries whose step crosses the clamp;
  * kink:     exact - numeric on entries whose step straddles a kink;
  * float:    exact - numeric on the other entries into units that round to (or near) 1;
  * step:     exact - numeric elsewhere (round-off and truncation of the difference);
where G(d) backpropagates an output delta d (N, n_out) to a gradient (P,), d_exact is the
exact output delta of the loss as computed and d_free that of the loss without its clamp
(where that loss is finite). When the analytic gradient is not the built-in shortcut, the
part analytic - exact is reported whole as ``other``. Each part's share is its projection
on E, so the shares add up to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relu_ce_diag.diagnostics.context import Context
from relu_ce_diag.diagnostics.registry import Finding, diagnostic
from relu_ce_diag.diagnostics.rounding import saturated
from relu_ce_diag.model.network import Forward, Net, grad_from_delta, output_delta

Array = np.ndarray


@dataclass(frozen=True)
class Part:
    """One cause: diagnostic ``id``, its words, its share of the error, the number of entries
    that would still mismatch without it, and how many outputs or entries it is about
    (``count``, -1 when it is not a count)."""

    id: str
    label: str
    share: float
    remaining: int
    count: int = -1


@dataclass(frozen=True)
class Attribution:
    """The split of one cell's discrepancy over the finite entries."""

    parts: tuple[Part, ...]
    mismatched: int
    finite: int

    def share(self, part_id: str) -> float:
        """Return the share of the part ``part_id`` (0 when absent)."""
        return sum(p.share for p in self.parts if p.id == part_id)


def unclamped_delta(net: Net, fw: Forward, Y: Array) -> Array:
    """Return dL/dz (N, n_out) of the loss without its clamp, where that loss is finite.

    Canonical pairs use their closed form, finite even where y rounds to 0 or 1; elsewhere,
    and outside the loss's domain (log of 0 or of a negative number), the clamped exact delta
    is kept, since there is no unclamped loss to differentiate.
    """
    exact = output_delta(net, fw, Y, "exact")
    y, z, out, loss = fw.y, fw.z[-1], net.out_act, net.loss_fn
    if not loss.clamped:
        return exact
    if net.canonical:  # the log-likelihood of the logits: y - Y, or y sum(Y) - Y row-wise
        return y * Y.sum(axis=1, keepdims=True) - Y if out.rowwise else y - Y
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = -np.where(Y != 0, Y / y, 0.0)
        inside = (Y == 0) | (y > 0)
        if loss.clamp_high:
            g = g + np.where(Y != 1, (1 - Y) / (1 - y), 0.0)
            inside &= (Y == 1) | (y < 1)
        if out.rowwise:
            d = y * (g - (g * y).sum(axis=1, keepdims=True))
            inside = np.broadcast_to(inside.all(axis=1, keepdims=True), y.shape)
        else:
            slope = out.df(z, y, net.leaky_slope, net.at_zero)
            d = np.where(slope == 0, 0.0, g * slope)
    return np.where(inside & np.isfinite(d), d, exact).astype(exact.dtype)


def _share(part: Array, total: Array, norm2: float) -> float:
    return float(part @ total) / norm2 if norm2 > 0 else 0.0


def attribute(ctx: Context) -> Attribution:
    """Split the cell's discrepancy into pairing, clamp, kink and step parts (see module)."""
    net, arr, fw = ctx.net, ctx.prep.arrays, ctx.fw
    a = ctx.analytic.astype(np.float64)
    n = ctx.ng.numeric.astype(np.float64)
    ex = ctx.exact.astype(np.float64)
    fin = np.isfinite(a) & np.isfinite(n) & np.isfinite(ex)
    E = np.where(fin, a - n, 0.0)
    r = np.where(fin, ex - n, 0.0)
    straddle, clamp = ctx.ng.straddle, ctx.ng.clamp & ~ctx.ng.straddle
    parts: dict[str, tuple[str, Array]] = {}
    counts: dict[str, int] = {}
    deriv = np.where(fin, a - ex, 0.0)
    d_exact = output_delta(net, fw, arr.Y, "exact")
    # Only outputs inside the clamp belong to it; elsewhere the two exact formulas differ
    # by rounding alone, which stays with the pairing part.
    active = ctx.clamp[2]
    d_free = np.where(active, unclamped_delta(net, fw, arr.Y), d_exact)
    clamped = int(active.sum())
    clamp_part = np.zeros_like(E)
    if ctx.prep.spec.backprop == "shortcut":
        d_short = output_delta(net, fw, arr.Y, "shortcut")
        short = grad_from_delta(net, arr.W, fw, d_short).astype(np.float64)
        if np.allclose(short, a, rtol=1e-12, atol=0.0, equal_nan=True):
            pair = grad_from_delta(net, arr.W, fw, d_short - d_free).astype(np.float64)
            pair = np.where(fin, pair, 0.0)
            parts["pairing"] = (f"shortcut delta invalid for {net.out} + {net.loss}", pair)
            clamp_part = deriv - pair
            deriv = np.zeros_like(E)
    if np.any(deriv != 0):
        parts["other"] = ("analytic gradient differs from the exact chain rule", deriv)
    crossed = int(ctx.ng.clamp.sum())
    clamp_part = clamp_part + np.where(clamp, r, 0.0)
    parts["clamp-saturation"] = (
        f"{clamped} clamped outputs" + (f", {crossed} steps crossing the clamp" if crossed else ""),
        clamp_part)
    counts["clamp-saturation"] = clamped + crossed
    counts["kink-straddle"] = int(straddle.sum())
    parts["kink-straddle"] = (f"{int(straddle.sum())} kink-straddling entries",
                              np.where(straddle, r, 0.0))
    rest = ~(straddle | clamp)
    sat = ctx.once(saturated).into & rest
    counts["float-saturation"] = int(sat.sum())
    if sat.any():
        parts["float-saturation"] = (f"{int(sat.sum())} entries into saturated units",
                                     np.where(sat, r, 0.0))
    parts["step-size"] = ("finite-difference error", np.where(rest & ~sat, r, 0.0))
    norm2 = float(E @ E)
    bad = fin & (np.abs(E) > ctx.tol)
    out = []
    for pid, (label, vec) in parts.items():
        remaining = int((fin & (np.abs(E - vec) > ctx.tol)).sum())
        out.append(Part(pid, label, _share(vec, E, norm2), remaining, counts.get(pid, -1)))
    out.sort(key=lambda p: -abs(p.share))
    return Attribution(tuple(out), int(bad.sum()), int(fin.sum()))


def render(att: Attribution, total_entries: int) -> str:
    """Return the one-line attribution, largest share first, e.g. 'pairing ...: 97%; ...'.

    A part is shown when it explains at least 0.5% or when it is about some outputs or
    entries (a clamp that explains 0% is worth saying).
    """
    shown = [p for p in att.parts if abs(p.share) >= 0.005 or p.count > 0] \
        or list(att.parts[:1])
    items = []
    for k, p in enumerate(shown):
        text = f"{p.label}: {'explains ' if k == 0 else ''}{round(100 * p.share)}%"
        if k == 0:
            text += f" of the error (without it {p.remaining} of {total_entries} entries mismatch)"
        items.append(text)
    return "; ".join(items)


@diagnostic(
    "attribution", "how much of the mismatch each cause explains",
    "For a failing or kinked cell the discrepancy analytic - numeric is split exactly into "
    "parts: the wrong output delta (analytic minus the exact chain rule of the unclamped "
    "loss), the clamp (unclamped minus clamped exact gradient, plus steps that cross the "
    "clamp), the kink-straddling entries, the entries into units that round to (or too "
    "near) 1, and the remaining finite-difference error. Each "
    "part's share is its projection on the total error (the shares add up to 100%), and "
    "the number of entries that would still mismatch without it is given.",
    "Fix the cause with the largest share first; see relu-diag explain ID for each.")
def attribution_finding(ctx: Context) -> list[Finding]:
    """Return the ``attribution`` finding of a failing or kinked cell, or of one that could
    not be checked (most entries set aside)."""
    if not ctx.white_entries or ctx.status not in ("fail", "kink", "error"):
        return []
    att = ctx.once(attribute)
    if att.finite == 0 or not att.parts:
        return []
    P = ctx.analytic.size
    return [Finding(
        "attribution", "info", render(att, P),
        fix=f"start with {att.parts[0].id} (relu-diag explain {att.parts[0].id})",
        data=(("parts", [{"id": p.id, "label": p.label, "share": p.share,
                          "mismatched_without": p.remaining, "count": p.count}
                         for p in att.parts]),
              ("mismatched", att.mismatched), ("finite_entries", att.finite)))]
