"""Saturation: outputs inside the eps clamp, activations rounded to (or near) 0 or 1, and the
checks whose step such rounding swamps (set aside by the verdict)."""

from __future__ import annotations

import numpy as np

from relu_ce_diag.check.onesided import excess_jitter
from relu_ce_diag.check.pipeline import OK, ROUNDING
from relu_ce_diag.diagnostics.attribution import attribute
from relu_ce_diag.diagnostics.context import Context, listing, unit_name
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
    crossed = int(np.count_nonzero(ctx.ng.clamp))
    if not crossed and not active.any():
        return []
    part = next(p for p in ctx.once(attribute).parts if p.id == "clamp-saturation")
    share = part.share
    sides = [f"{n} with {where} <= eps" for n, where in ((int(low.sum()), "y"),
                                                          (int(high.sum()), "1 - y")) if n]
    crossing = (f"{'no' if not crossed else 1} entry's step crosses the clamp" if crossed < 2
                else f"{crossed} entries' steps cross the clamp")
    text = (f"{int(active.sum())} of {y.size} outputs sit inside the eps clamp where the loss "
            f"uses them ({', '.join(sides)}), so the loss is flat there; {crossing}")
    if ctx.status != "pass":
        text += (f"; the clamp explains {round(100 * share)}% of the error (without it "
                 f"{part.remaining} of {ctx.analytic.size} entries mismatch)")
    return [Finding(
        "clamp-saturation", "info" if ctx.status == "pass" else "warning", text,
        fix=("smaller weights or a larger distance from the clamp"
             if net.canonical else f"--out {net.loss_fn.canonical}")
            + (", or the exact chain rule (--backprop exact), which includes the clamp"
               if ctx.prep.spec.backprop != "exact" else ""),
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


def _swamped_units(ctx: Context) -> list[str]:
    """Name the units whose own rounding exceeds all the error model counts for a sample,
    with those samples: ``out[1] (samples 4, 12)``."""
    assert ctx.white is not None
    names = []
    for layer, mask in enumerate(ctx.white.rounding.swamped_units()):
        for u in np.flatnonzero(mask.any(axis=0)):
            samples = np.flatnonzero(mask[:, u]).tolist()
            shown = ", ".join(map(str, samples[:6])) + (" ..." if len(samples) > 6 else "")
            names.append(f"{unit_name(ctx.net, layer, int(u))} "
                         f"(sample{'s' if len(samples) > 1 else ''} {shown})")
    return names


@diagnostic(
    "rounding-swamp", "checks set aside: rounding swamps their step",
    "The error model bounds the round-off of a central difference by the losses and "
    "pre-activations it moves. It leaves out the rounding of an activation next to its bound: "
    "a sigmoid output a few ulps from 1 under cross-entropy moves the loss by eps/(1 - y), so "
    "a step's effect on the unit is lost (float-saturation); a user's function shows it as "
    "jitter of f beyond a few ulps. A mismatching check that this rounding explains agrees "
    "when the rounding is small against its value, and is set aside when it is not: no "
    "central difference at this point can tell that value from 0. The built-in network "
    "judges such an entry again per sample, on the samples rounding does not swamp, so a "
    "wrong gradient still fails where it can be resolved. The entries set aside are named, "
    "with the units and samples; a check that sets aside most entries is not a check (status "
    "error, see docs/verdicts.md).",
    "Move the point: smaller weights or inputs (saturated units), or a loss computed from the "
    "logits (log-sigmoid, log-softmax), so that outputs stay away from their bounds.")
def rounding_finding(ctx: Context) -> list[Finding]:
    """Return the ``rounding-swamp`` finding: checks set aside because rounding swamps their
    step, how many more agree only within that rounding, and where it comes from."""
    j = ctx.judged
    if not j.explained:  # no kind is ROUNDING, and every OK check is within its tolerance
        return []
    aside = np.flatnonzero(j.kind == ROUNDING)
    within = np.flatnonzero((j.kind == OK) & (j.error > j.tol) & ~j.straddle)
    if not aside.size and not within.size:
        return []
    names = [ctx.name(int(k)) for k in aside]
    where: list[str] = []
    if ctx.black is not None:
        b = ctx.black
        extra = excess_jitter(b.noise, b.eps, ctx.f)
        source = (f"f jitters by {b.noise:.2g} near W, {extra:.2g} beyond its own rounding"
                  if extra > 0 else "the round-off of the smaller steps tried is as large as "
                  "their mismatch")
    else:
        where = _swamped_units(ctx) if ctx.white_entries else []
        source = "activations next to their bound round" + (
            f" ({listing(where, 4)}, with the samples where that rounding exceeds everything "
            "else the error model counts)" if where else "")
    what = "directions" if ctx.mode == "directions" else "entries"
    text = (f"{aside.size} {what} are set aside"
            + (f" ({listing(names, 6)})" if names else "")
            + f", as rounding swamps their step: {source}"
            + (f"; {within.size} more agree only within that rounding" if within.size else ""))
    return [Finding(
        "rounding-swamp", "warning" if aside.size else "info", text,
        fix="smaller weights or inputs, or a loss computed from the logits, to check them",
        data=(("set_aside", int(aside.size)), ("entries", names[:50]),
              ("agree_within_rounding", int(within.size)), ("units", where[:50])))]
