"""Saturation: outputs inside the eps clamp, and activations rounded to (or near) 0 or 1."""

from __future__ import annotations

import numpy as np

from relu_ce_diag.diagnostics.attribution import attribute
from relu_ce_diag.diagnostics.context import Context, listing
from relu_ce_diag.diagnostics.registry import Finding, diagnostic
from relu_ce_diag.diagnostics.rounding import saturated

Array = np.ndarray


@diagnostic(
    "clamp-saturation", "outputs sit inside the log(max(., eps)) clamp",
    "With log(max(y, eps)) the loss as computed is flat wherever y <= eps (or 1 - y <= eps for "
    "ce), so its true gradient there is 0, while a hand-written delta such as y - Y is not. "
    "Also a step that carries an output across eps mixes two slopes. The attribution says how "
    "much of the mismatch the clamped outputs explain, by recomputing the exact gradient "
    "without the clamp.",
    "Keep outputs away from the clamp: the canonical output for the loss (sigmoid + ce, "
    "softmax + cce), smaller initial weights, or the exact chain rule (--backprop exact), "
    "which includes the clamp.")
def clamp_finding(ctx: Context) -> list[Finding]:
    """Return the ``clamp-saturation`` finding: outputs in the clamp and their share."""
    if not ctx.white_entries:
        return []
    net, y = ctx.net, ctx.fw.y
    low, high, active = ctx.clamp
    crossed = int(ctx.ng.clamp.sum())
    if not active.any() and not crossed:
        return []
    part = next(p for p in ctx.once(attribute).parts if p.id == "clamp-saturation")
    share = part.share
    text = (f"{int(active.sum())} of {y.size} outputs sit inside the eps clamp where it counts "
            f"({int(low.sum())} with y <= eps, {int(high.sum())} with 1 - y <= eps), so the "
            f"loss is flat there; {crossed} entries' steps cross the clamp")
    if ctx.status != "pass":
        text += (f"; the clamp explains {round(100 * share)}% of the error (without it "
                 f"{part.remaining} of {ctx.analytic.size} entries mismatch)")
    return [Finding(
        "clamp-saturation", "info" if ctx.status == "pass" else "warning", text,
        fix=("smaller weights or a larger distance from the clamp"
             if net.canonical else f"--out {net.loss_fn.canonical}")
            + ", or the exact chain rule (--backprop exact), which includes the clamp",
        data=(("clamped", int(active.sum())), ("y_le_eps", int(low.sum())),
              ("one_minus_y_le_eps", int(high.sum())), ("steps_crossing", crossed),
              ("share", share), ("mismatched_without", part.remaining)))]


@diagnostic(
    "float-saturation", "activations round to (or too near) their bound of 0 or 1",
    "sigmoid(z) rounds to exactly 1 for z > 37 in float64 (z > 17 in float32), and a softmax "
    "or tanh output can round to its bound as well. Then 1 - y is 0, log(1 - y) is clamped (or "
    "-inf without a clamp), and y (1 - y) is 0, so the loss is flat and gradients vanish. "
    "Short of that, floats next to 1 are spaced eps_machine apart, so when 1 - y is below "
    "about eps_machine / (1e-3 h) the step's effect on the unit is lost in rounding and the "
    "central difference is wrong, in hidden layers as well. The units are named with the "
    "number of samples, and the share of the error on the weights into them is given.",
    "Scale the weights or inputs down (large pre-activations), or compute the loss from the "
    "logits (log-sigmoid / log-softmax) instead of from y.")
def float_finding(ctx: Context) -> list[Finding]:
    """Return the ``float-saturation`` finding: bounded activations (outputs and hidden)
    rounded to or near a bound, and the attribution's share of the rounding error on the
    weights into those units."""
    if not ctx.white_entries:
        return []
    sat = ctx.once(saturated)
    if not sat.units:
        return []
    part = next((p for p in ctx.once(attribute).parts if p.id == "float-saturation"), None)
    share = part.share if part is not None else 0.0
    without = part.remaining if part is not None else int(ctx.mismatched.sum())
    text = (f"{sat.rounded} activations round to exactly their bound and {sat.coarse} lie so "
            f"close to 1 that rounding swamps the step's effect (|z| up to {sat.max_abs_z:.3g}; "
            f"units with sample counts: {listing(list(sat.units), 4)}); the rounding error on "
            f"the {int(sat.into.sum())} weights into these units is {round(100 * share)}% of "
            f"the error (without it {without} of {sat.into.size} entries mismatch)")
    return [Finding(
        "float-saturation", "info" if ctx.status == "pass" else "warning", text,
        fix="smaller weights or inputs, or a loss computed from the logits",
        data=(("rounded", sat.rounded), ("coarse", sat.coarse), ("units", list(sat.units[:50])),
              ("entries", int(sat.into.sum())), ("max_abs_z", sat.max_abs_z), ("share", share),
              ("mismatched_without", without)))]
