"""Precision and step size: float32 cells re-run in float64, and round-off/truncation advice."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from relu_ce_diag.cells import DEFAULT_STEP
from relu_ce_diag.compare import (
    ROUNDOFF_FACTOR,
    TRUNCATION_FACTOR,
    compare,
    max_relative,
    tolerance,
)
from relu_ce_diag.diagnostics.context import DiagContext
from relu_ce_diag.network import backprop, deltas, forward, pack
from relu_ce_diag.numgrad import central_differences, sample_scale
from relu_ce_diag.results import Finding

Array = np.ndarray
RESOLUTION_LIMIT = 1e-3  # a check whose median relative tolerance exceeds this misses 0.1% errors


@dataclass(frozen=True)
class Recheck:
    """The verdict of the same point in another dtype or on a subset of the samples.

    ``error`` (P,) is analytic - numeric in float64 (0 where either is non-finite).
    """

    dtype: str
    step: float
    mismatched: int
    set_aside: int
    max_rel: float
    error: Array = field(compare=False, repr=False)


def recheck(ctx: DiagContext, dtype: str | None = None, rows: Array | None = None) -> Recheck:
    """Re-run the cell's check at the same point, in ``dtype`` (with that dtype's default
    step; None: the cell's own dtype and step) and on the samples ``rows`` (None: all)."""
    net, arr, spec = ctx.net, ctx.prep.arrays, ctx.prep.spec
    dt = np.dtype(dtype) if dtype is not None else arr.W.dtype
    keep = slice(None) if rows is None else rows
    W, X, Y = arr.W.astype(dt), arr.X[keep].astype(dt), arr.Y[keep].astype(dt)
    h = DEFAULT_STEP[dtype] if dtype is not None else ctx.h
    with np.errstate(all="ignore"):
        fw = forward(net, W, X, Y)
        ds = deltas(net, W, fw, Y, "exact")
        exact = pack([d.T @ ab for d, ab in zip(ds, fw.inputs, strict=True)])
        analytic = exact if spec.backprop == "exact" else backprop(net, W, X, Y, spec.backprop,
                                                                   fw=fw)[1]
        scale = sample_scale(net, fw, ds)
        ng = central_differences(net, W, X, Y, fw, h, scale)
        half = central_differences(net, W, X, Y, fw, h / 2, scale)
    kinked = ng.straddle | ng.clamp | half.straddle | half.clamp  # as the runner: no excuse
    tol = tolerance(analytic, ng.numeric, np.where(kinked, ng.numeric, half.numeric), ng.scale,
                    h, float(np.finfo(dt).eps))
    cmp = compare(analytic, ng.numeric, tol)
    bad = ~cmp.ok
    aside = bad & (ng.straddle | ng.clamp) & cmp.finite
    a64, n64 = analytic.astype(np.float64), ng.numeric.astype(np.float64)
    return Recheck(str(dt), h, int((bad & ~aside).sum()), int(aside.sum()),
                   max_relative(a64, n64), np.where(cmp.finite, a64 - n64, 0.0))


def precision_finding(ctx: DiagContext) -> list[Finding]:
    """Return the ``precision`` finding of a float32 cell: its verdict beside float64's."""
    if ctx.prep.arrays.W.dtype != np.float32:
        return []
    a = ctx.analytic.astype(np.float64)
    n = ctx.ng.numeric.astype(np.float64)
    own_bad = int((~ctx.cmp.ok & ~ctx.set_aside).sum())
    own = Recheck("float32", ctx.h, own_bad, int(ctx.set_aside.sum()), max_relative(a, n),
                  a - n)
    other = recheck(ctx, "float64")
    if own.mismatched and not other.mismatched:
        verdict = "the float32 mismatch is precision"
    elif own.mismatched:
        verdict = "the mismatch persists in float64, so it is not precision"
    elif other.mismatched:
        verdict = "float64 resolves errors that float32 cannot see"
    else:
        verdict = "both agree"
    P = a.size
    return [Finding(
        "precision", "warning" if own.mismatched and not other.mismatched else "info",
        f"float32 (step {own.step:g}): {own.mismatched} of {P} entries mismatch, max rel error "
        f"{own.max_rel:.2e} | float64 (step {other.step:g}): {other.mismatched} mismatch, max "
        f"rel error {other.max_rel:.2e}; {verdict}",
        fix="check gradients with --dtype float64",
        data=(("float32_mismatched", own.mismatched), ("float32_max_rel", own.max_rel),
              ("float64_mismatched", other.mismatched), ("float64_max_rel", other.max_rel),
              ("float64_set_aside", other.set_aside)))]


def step_parts(ctx: DiagContext) -> tuple[Array, Array]:
    """Return the round-off and truncation parts (P,) of each entry's tolerance."""
    roundoff = ROUNDOFF_FACTOR * ctx.eps_machine * ctx.ng.scale / ctx.h
    with np.errstate(invalid="ignore", over="ignore"):
        trunc = TRUNCATION_FACTOR * (4.0 / 3.0) * np.abs(
            ctx.ng.numeric.astype(np.float64) - ctx.numeric_half.astype(np.float64))
    return roundoff, np.where(np.isfinite(trunc), trunc, 0.0)


def step_finding(ctx: DiagContext) -> list[Finding]:
    """Return the ``step-size`` finding when the tolerance is large against the gradient."""
    a = np.abs(ctx.analytic.astype(np.float64))
    n = np.abs(ctx.ng.numeric.astype(np.float64))
    big = np.maximum(a, n)
    live = np.isfinite(big) & (big > 0) & ~ctx.ng.straddle & ~ctx.ng.clamp
    if live.sum() == 0:
        return []
    rel = float(np.median(ctx.tol[live] / big[live]))
    if rel <= RESOLUTION_LIMIT:
        return []
    roundoff, trunc = step_parts(ctx)
    R, T = float(np.median(roundoff[live])), float(np.median(trunc[live]))
    kind = "round-off" if R >= T else "truncation"
    # R h0 / h + T (h / h0)^2 is smallest at h = h0 (R / 2T)^(1/3).
    best = ctx.h * (R / (2 * T)) ** (1 / 3) if T > 0 and R > 0 else (
        ctx.h * 10 if kind == "round-off" else ctx.h / 10)
    best = float(min(max(best, 1e-10), 0.1))
    return [Finding(
        "step-size", "info",
        f"the comparison is {kind} dominated at step {ctx.h:g}: the median tolerance is "
        f"{100 * rel:.2g}% of the gradient (round-off {R:.1e}, truncation {T:.1e}), so smaller "
        f"errors go unseen; a step near {best:.1e} balances both",
        fix=f"--step {best:.0e}",
        data=(("step", ctx.h), ("median_rel_tolerance", rel), ("roundoff", R),
              ("truncation", T), ("dominated_by", kind), ("suggested_step", best)))]
