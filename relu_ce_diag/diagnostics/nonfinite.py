"""Non-finite values: a loss or gradient that is -inf or NaN (log(0), 0 * log(0), overflow)."""

from __future__ import annotations

import math

import numpy as np

from relu_ce_diag.diagnostics.context import Context, listing
from relu_ce_diag.diagnostics.registry import Finding, diagnostic
from relu_ce_diag.model.losses import MATLAB_EPS

Array = np.ndarray
SHOWN = 8


def _outputs(mask: Array, y: Array, Y: Array, limit: int = 3) -> list[str]:
    """Describe the first outputs where ``mask`` (N, n_out) is set: sample, unit, y, Y."""
    rows, cols = np.nonzero(mask)
    return [f"sample {s} out[{k}] (y = {y[s, k]:.3g}, Y = {Y[s, k]:g})"
            for s, k in list(zip(rows, cols, strict=True))[:limit]]


def _white(ctx: Context) -> list[Finding]:
    """The built-in network: which outputs made the loss or gradients -inf/NaN."""
    j, n = ctx.judged, ctx.ng.numeric
    if n is j.numeric and math.isfinite(ctx.fw.f) and j.finite.all():
        return []  # the judged values (ctx.analytic is j.analytic) are these, all finite
    net, Y, y, t = ctx.net, ctx.prep.arrays.Y, ctx.fw.y, ctx.fw.terms
    a = ctx.analytic
    bad_a = a.size - int(np.count_nonzero(np.isfinite(a)))
    bad_n = n.size - int(np.count_nonzero(np.isfinite(n)))
    bad_t = ~np.isfinite(t)
    if np.isfinite(ctx.fw.f) and not bad_a and not bad_n:
        return []
    causes = []
    loss = net.loss_fn
    if loss.clamped:
        lo = (y < 0) | (y > 1) if loss.clamp_high else y < 0
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
    if loss.clamped:
        fix += f" and an output in (0, 1): --out {loss.canonical}"
    return [Finding(
        "non-finite", "error",
        f"{head}: of {y.size} outputs {body}; non-finite gradient entries: {bad_a} analytic, "
        f"{bad_n} numerical" + (" (no clamp: --eps 0)" if net.eps == 0 else ""),
        fix=fix,
        data=(("loss", ctx.fw.f), ("nonfinite_terms", int(bad_t.sum())),
              ("nonfinite_analytic", bad_a), ("nonfinite_numeric", bad_n),
              ("eps", net.eps), ("default_eps", MATLAB_EPS)))]


def _black(ctx: Context) -> list[Finding]:
    """A user's function: the df entries that are not finite, and the checks whose
    stencil reached a non-finite loss."""
    found = []
    names = [ctx.name(k) for k in range(ctx.checks)]
    entry = ctx.layout.name if ctx.layout is not None else (lambda p: f"W[{p}]")
    bad_df = np.flatnonzero(~np.isfinite(ctx.df))
    if bad_df.size:
        found.append(Finding("non-finite", "error",
                             f"df holds {bad_df.size} NaN or infinite entries: "
                             f"{listing([entry(int(p)) for p in bad_df], SHOWN)}",
                             "look for log(0), 0/0 or an overflow in the backprop",
                             (("entries", [entry(int(p)) for p in bad_df[:50]]),)))
    j = ctx.judged
    stencil = np.flatnonzero(~np.isfinite(j.numeric) & np.isfinite(j.analytic))
    if stencil.size:
        found.append(Finding("non-finite", "error",
                             "the loss is not finite at W +/- h along "
                             f"{listing([names[k] for k in stencil], SHOWN)}",
                             "the step reaches a log(0) or overflow; clamp the loss or "
                             "use a smaller --step"))
    return found


@diagnostic(
    "non-finite", "the loss or the gradients are -inf or NaN",
    "Without a clamp (--eps 0) log(0) is -inf and 0 * log(0) is NaN; an output above 1 gives "
    "log(1 - y) of a negative number, NaN. One non-finite term makes the loss and every "
    "central difference through it NaN, so nothing can be compared. The finding names the "
    "outputs (sample, unit, value, target) that produced it.",
    "Keep the clamp (the default eps 2.2e-16) and an output in (0, 1) for the cross-entropies: "
    "sigmoid for ce, softmax for cce.")
def nonfinite_finding(ctx: Context) -> list[Finding]:
    """Return the ``non-finite`` findings: what made the loss or the gradients -inf/NaN."""
    if ctx.white_entries:
        return _white(ctx)
    if ctx.black is not None:
        return _black(ctx)
    return []
