"""Saturation: outputs inside the eps clamp, outputs rounded to 0 or 1, and -inf/NaN losses."""

from __future__ import annotations

import numpy as np

from relu_ce_diag.diagnostics.attribution import attribute
from relu_ce_diag.diagnostics.context import DiagContext, clamp_masks, listing
from relu_ce_diag.diagnostics.rounding import saturated_units
from relu_ce_diag.losses import LOSSES, MATLAB_EPS
from relu_ce_diag.results import Finding

Array = np.ndarray


def _outputs(mask: Array, y: Array, Y: Array, limit: int = 3) -> list[str]:
    """Describe the first outputs where ``mask`` (N, n_out) is set: sample, unit, y, Y."""
    rows, cols = np.nonzero(mask)
    return [f"sample {s} out[{k}] (y = {y[s, k]:.3g}, Y = {Y[s, k]:g})"
            for s, k in list(zip(rows, cols, strict=True))[:limit]]


def clamp_finding(ctx: DiagContext) -> list[Finding]:
    """Return the ``clamp-saturation`` finding: outputs in the clamp and their share."""
    net, Y, y = ctx.net, ctx.prep.arrays.Y, ctx.fw.y
    low, high, active = clamp_masks(y, Y, net.loss, net.eps)
    crossed = int(ctx.ng.clamp.sum())
    if not active.any() and not crossed:
        return []
    part = next(p for p in attribute(ctx).parts if p.id == "clamp-saturation")
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
             if net.out == LOSSES[net.loss].canonical else f"--out {LOSSES[net.loss].canonical}")
            + ", or the exact chain rule (--backprop exact), which includes the clamp",
        data=(("clamped", int(active.sum())), ("y_le_eps", int(low.sum())),
              ("one_minus_y_le_eps", int(high.sum())), ("steps_crossing", crossed),
              ("share", share), ("mismatched_without", part.remaining)))]


def float_finding(ctx: DiagContext) -> list[Finding]:
    """Return the ``float-saturation`` finding: bounded activations (outputs and hidden)
    rounded to or near a bound, and the attribution's share of the rounding error on the
    weights into those units."""
    sat = saturated_units(ctx.net, ctx.fw, ctx.eps_machine, ctx.h)
    if not sat.units:
        return []
    part = next((p for p in attribute(ctx).parts if p.id == "float-saturation"), None)
    share = part.share if part is not None else 0.0
    without = part.remaining if part is not None else int((~ctx.cmp.ok & ~ctx.set_aside).sum())
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


def nonfinite_finding(ctx: DiagContext) -> list[Finding]:
    """Return the ``non-finite`` finding: which outputs made the loss or gradients -inf/NaN."""
    net, Y, y, t = ctx.net, ctx.prep.arrays.Y, ctx.fw.y, ctx.fw.terms
    a, n = ctx.analytic, ctx.ng.numeric
    bad_a, bad_n = int((~np.isfinite(a)).sum()), int((~np.isfinite(n)).sum())
    bad_t = ~np.isfinite(t)
    if np.isfinite(ctx.fw.f) and not bad_a and not bad_n:
        return []
    causes = []
    if net.loss in ("ce", "cce"):
        lo = y < 0 if net.loss == "cce" else (y < 0) | (y > 1)
        kinds = (
            ("log(0) = -inf", bad_t & ~np.isnan(t)),
            ("0 * log(0) = NaN", bad_t & np.isnan(t) & ((y == 0) | (y == 1)) & ~lo),
            ("log of a negative number = NaN (y outside [0, 1])", bad_t & np.isnan(t) & lo))
        for what, mask in kinds:
            if mask.any():
                causes.append(f"{int(mask.sum())} give {what}, e.g. "
                              f"{listing(_outputs(mask, y, Y), 2)}")
    elif bad_t.any():
        causes.append(f"{int(bad_t.sum())} loss terms overflow, e.g. "
                      f"{listing(_outputs(bad_t, y, Y), 2)}")
    if not np.isfinite(y).all():
        causes.append(f"{int((~np.isfinite(y)).sum())} outputs are themselves non-finite")
    head = f"loss is {ctx.fw.f}" if not np.isfinite(ctx.fw.f) else "loss is finite"
    body = "; ".join(causes) if causes else "no single output term is non-finite"
    fix = ("keep the clamp (--eps 2.2e-16)" if net.eps == 0 else "smaller weights or inputs")
    if net.loss in ("ce", "cce"):
        fix += f" and an output in (0, 1): --out {LOSSES[net.loss].canonical}"
    return [Finding(
        "non-finite", "error",
        f"{head}: of {y.size} outputs {body}; non-finite gradient entries: {bad_a} analytic, "
        f"{bad_n} numerical" + (" (no clamp: --eps 0)" if net.eps == 0 else ""),
        fix=fix,
        data=(("loss", ctx.fw.f), ("nonfinite_terms", int(bad_t.sum())),
              ("nonfinite_analytic", bad_a), ("nonfinite_numeric", bad_n),
              ("eps", net.eps), ("default_eps", MATLAB_EPS)))]
