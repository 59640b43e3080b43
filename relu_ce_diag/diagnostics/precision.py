"""Precision and step size: float32 cells re-run in float64, and round-off/truncation advice."""

from __future__ import annotations

import numpy as np

from relu_ce_diag.diagnostics.context import Context
from relu_ce_diag.diagnostics.registry import Finding, diagnostic
from relu_ce_diag.diagnostics.rerun import can_try, recheck
from relu_ce_diag.numeric.compare import ROUNDOFF_FACTOR, TRUNCATION_FACTOR, max_relative

Array = np.ndarray
RESOLUTION_LIMIT = 1e-3  # a check whose median relative tolerance exceeds this misses 0.1% errors
NEAR_BALANCE = 3.0  # a step within this factor of the balance is left as it is


@diagnostic(
    "precision", "a float32 check, re-run in float64 side by side",
    "In float32 the round-off of a central difference is about 1e-7 * |f| / h, so the "
    "comparison can resolve only large errors and saturates sooner. relu-diag re-runs the same "
    "cell in float64 and shows both verdicts: a mismatch that disappears in float64 is "
    "precision, one that stays is a real error.",
    "Check gradients in float64 (--dtype float64) and train in float32 afterwards.")
def precision_finding(ctx: Context) -> list[Finding]:
    """Return the ``precision`` finding of a float32 cell: its verdict beside float64's,
    with ``--dtype float64`` as the fix only where float64 judges differently."""
    if not ctx.white_entries or ctx.prep.arrays.W.dtype != np.float32:
        return []
    a = ctx.analytic.astype(np.float64)
    n = ctx.ng.numeric.astype(np.float64)
    own_bad = int(ctx.mismatched.sum())
    other = recheck(ctx, "float64")
    fix = "check gradients with --dtype float64"
    if own_bad and not other.mismatched:
        verdict = "the float32 mismatch is precision"
    elif own_bad:
        verdict, fix = "the mismatch persists in float64, so it is not precision", ""
    elif other.mismatched:
        verdict = "float64 resolves errors that float32 cannot see"
    else:
        verdict, fix = "both agree", ""
    P = a.size
    return [Finding(
        "precision", "warning" if own_bad and not other.mismatched else "info",
        f"float32 (step {ctx.h:g}): {own_bad} of {P} entries mismatch, max rel error "
        f"{max_relative(a, n):.2e} | float64 (step {other.step:g}): {other.mismatched} "
        f"mismatch, max rel error {other.max_rel:.2e}; {verdict}",
        fix=fix,
        data=(("float32_mismatched", own_bad), ("float32_max_rel", max_relative(a, n)),
              ("float64_mismatched", other.mismatched), ("float64_max_rel", other.max_rel),
              ("float64_set_aside", other.set_aside)))]


def median_at_most(x: Array, limit: float) -> bool:
    """True when ``np.median(x) <= limit`` is sure without sorting: no NaN, and more than half
    of the values are at most ``limit`` (then so are the one or two middle values, and their
    mean). False when it is not sure (the median decides)."""
    return not np.isnan(x).any() and int(np.count_nonzero(x <= limit)) > x.size // 2


def step_parts(ctx: Context) -> tuple[Array, Array]:
    """Return the round-off and truncation parts (P,) of each entry's tolerance."""
    roundoff = ROUNDOFF_FACTOR * ctx.eps_machine * ctx.ng.scale / ctx.h
    with np.errstate(invalid="ignore", over="ignore"):
        trunc = TRUNCATION_FACTOR * (4.0 / 3.0) * np.abs(
            ctx.ng.numeric.astype(np.float64) - ctx.numeric_half.astype(np.float64))
    return roundoff, np.where(np.isfinite(trunc), trunc, 0.0)


@diagnostic(
    "step-size", "the comparison is dominated by round-off or truncation",
    "The tolerance of each entry is its round-off (eps_machine * scale / h) plus its "
    "truncation (from a second step h/2). When these are large against the gradient the check "
    "cannot resolve errors below that level: a step too small is round-off dominated, a step "
    "too large truncation dominated. The step that balances both is printed.",
    "Use the suggested --step (about eps_machine^(1/3) times the scale of W: 6e-6 in float64, "
    "5e-3 in float32).")
def step_finding(ctx: Context) -> list[Finding]:
    """Return the ``step-size`` finding when the tolerance is large against the gradient.

    A step is suggested only if it is more than ``NEAR_BALANCE`` times away from the one in
    use and, when larger, does not make steps straddle kinks (it is tried first), so that
    following the suggestion does not bring another one."""
    if not ctx.white_entries:
        return []
    j = ctx.judged
    big = j.magnitude if ctx.ng.numeric is j.numeric else np.maximum(
        np.abs(ctx.analytic.astype(np.float64)), np.abs(ctx.ng.numeric.astype(np.float64)))
    live = np.isfinite(big) & (big > 0) & ~(ctx.ng.straddle | ctx.ng.clamp)
    if not live.any():
        return []
    ratios = ctx.tol[live] / big[live]
    if median_at_most(ratios, RESOLUTION_LIMIT):
        return []
    rel = float(np.median(ratios))
    if rel <= RESOLUTION_LIMIT:
        return []
    roundoff, trunc = step_parts(ctx)
    R, T = float(np.median(roundoff[live])), float(np.median(trunc[live]))
    kind = "round-off" if R >= T else "truncation"
    # R h0 / h + T (h / h0)^2 is smallest at h = h0 (R / 2T)^(1/3).
    best = ctx.h * (R / (2 * T)) ** (1 / 3) if T > 0 and R > 0 else (
        ctx.h * 10 if kind == "round-off" else ctx.h / 10)
    best = float(min(max(best, 1e-10), 0.1))
    words, fix = _step_advice(ctx, best)
    return [Finding(
        "step-size", "info",
        f"the comparison is {kind} dominated at step {ctx.h:g}: the median tolerance is "
        f"{100 * rel:.2g}% of the gradient (round-off {R:.1e}, truncation {T:.1e}), so smaller "
        f"errors go unseen; {words}",
        fix=fix,
        data=(("step", ctx.h), ("median_rel_tolerance", rel), ("roundoff", R),
              ("truncation", T), ("dominated_by", kind), ("suggested_step", best)))]


def _step_advice(ctx: Context, best: float) -> tuple[str, str]:
    """Say what to do about the step: (words, fix)."""
    sharper = "--dtype float64" if ctx.prep.arrays.W.dtype == np.float32 else ""
    instead = f"; {sharper} resolves smaller errors" if sharper else ""
    if 1 / NEAR_BALANCE <= best / ctx.h <= NEAR_BALANCE:
        return (f"the step is near the balance of both ({best:.1e}), so no step does much "
                f"better{instead}", sharper)
    if best > ctx.h and (ctx.ng.straddle.any() or (can_try(ctx)
                                                    and recheck(ctx, step=best).kinked)):
        return (f"a step near {best:.1e} would balance both, but a step that large "
                f"straddles kinks{instead}", sharper)
    return f"a step near {best:.1e} balances both", f"--step {best:.0e}"
