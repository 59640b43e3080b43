"""Findings about a user's own function (a black box): flat losses, kinks seen from one-sided
differences, and the precision it was judged in."""

from __future__ import annotations

import numpy as np

from relu_ce_diag.check.pipeline import FLAT, KINK
from relu_ce_diag.diagnostics.context import Context, listing
from relu_ce_diag.diagnostics.registry import Finding, diagnostic

SHOWN = 8
JITTER_SHOWN = 64  # mention the measured jitter of f when it exceeds this many eps |f|


def _names(ctx: Context, which: np.ndarray) -> list[str]:
    return [ctx.name(int(k)) for k in which]


@diagnostic(
    "flat-loss", "the loss does not move along an entry, but df is not 0 there",
    "f(W + h) = f(W) = f(W - h) exactly, so the loss as computed is flat along the entry and "
    "its gradient is 0, while the analytic value is not. This is never excused as a kink: a "
    "clamp such as log(max(y, eps)) or a saturated unit (a relu output at 0, a sigmoid "
    "rounding to 0 or 1) is the usual cause.",
    "Differentiate the loss as computed (0 where the clamp or the saturation is active), or "
    "keep outputs out of the clamp (the canonical output for the loss).")
def flat_finding(ctx: Context) -> list[Finding]:
    """Return the ``flat-loss`` finding: checks along which f does not move at all."""
    if ctx.black is None:
        return []
    flat = np.flatnonzero(ctx.judged.kind == FLAT)
    if not flat.size:
        return []
    return [Finding("flat-loss", "error",
                    "the loss does not move at all along "
                    f"{listing(_names(ctx, flat), SHOWN)} (f(W+h) = f(W) = f(W-h) exactly) but "
                    f"df is not 0 there (e.g. {ctx.judged.analytic[flat[0]]:.4g})",
                    "a clamp (log(max(y, eps))) or a saturated unit (relu output at 0, sigmoid "
                    "rounding to 0 or 1) is the usual cause: the loss as computed is flat, so "
                    "its gradient is 0 there",
                    (("entries", _names(ctx, flat[:50])),))]


@diagnostic(
    "fn-kink", "entries differ only at a kink of the function (a valid subgradient)",
    "For a black-box function the kink is detected from one-sided differences at the steps h, "
    "h/2, h/4, ...: an entry is set aside only when the gap between the left and right "
    "derivatives stays as the step halves (a kink; curvature's gap halves with the step, and "
    "then the mismatch stands) and stands above round-off, and the analytic value lies between "
    "them; or when the gap vanishes at smaller steps (a kink inside the step, not at W) and "
    "the central difference there agrees with the analytic value.",
    "Nothing is wrong if only these differ; a smaller --step or another W moves off the kink; "
    "--strict makes kinks fail.")
def kink_finding(ctx: Context) -> list[Finding]:
    """Return the ``fn-kink`` finding: checks set aside as valid subgradients."""
    if ctx.black is None:
        return []
    kinks = np.flatnonzero(ctx.judged.kind == KINK)
    if not kinks.size:
        return []
    return [Finding("fn-kink", "warning",
                    f"{kinks.size} entries differ only at a kink: the analytic value lies "
                    f"between the left and right derivatives "
                    f"({listing(_names(ctx, kinks), SHOWN)})",
                    "a valid subgradient; use a smaller --step to move off the kink, or "
                    "accept it",
                    (("entries", _names(ctx, kinks[:50])),))]


@diagnostic(
    "fn-precision", "the precision the function computes in, and the step chosen for it",
    "A function that returns float32 values, values that are all exactly float32, or a loss "
    "that moves only in steps of ~1e-7 relative is judged with float32's round-off (eps "
    "1.2e-7) and step 1e-2; otherwise with float64's (eps 2.2e-16) and step 1e-6, plus the "
    "jitter of f measured near W (e.g. 1 - y rounding at a saturated output).",
    "Pass --dtype to force a precision and --step to choose another step.")
def precision_finding(ctx: Context) -> list[Finding]:
    """Return the ``fn-precision`` finding: the precision, step and error model used."""
    b = ctx.black
    if b is None:
        return []
    jitter = (f"; f jitters by {b.noise:.1e} near W (rounding such as 1 - y at a saturated "
              "output), which the tolerance includes") \
        if b.noise > JITTER_SHOWN * b.eps * abs(ctx.f) else ""
    return [Finding("fn-precision", "info",
                    f"the function computes in {b.precision} ({b.reason}): step h = {ctx.h:g}, "
                    f"round-off model eps = {b.eps:.3g}{jitter}, {b.calls} calls",
                    "" if b.precision == "float64" else
                    "float32 gradients are checked with a coarser step and tolerance; "
                    "compute in float64 for a sharper check",
                    (("precision", b.precision), ("eps", b.eps), ("step", ctx.h),
                     ("calls", b.calls), ("jitter", b.noise)))]


@diagnostic(
    "directions", "random directions were checked, not every entry",
    "With --directions K the check compares df . v with (f(W + h v) - f(W - h v)) / 2h along K "
    "seeded unit directions: 2K evaluations instead of 2P. A pass means df is right along each "
    "direction; a wrong entry is caught with high probability but is not named.",
    "Run without --directions to check and name every entry.")
def directions_finding(ctx: Context) -> list[Finding]:
    """Return the ``directions`` note: K random directions were checked, not every entry."""
    if ctx.mode != "directions":
        return []
    extra = dict(ctx.extra)
    K, seed, P = extra["directions"], extra["seed"], ctx.df.size
    return [Finding("directions", "info",
                    f"checked {K} random directions (seed {seed}) instead of all {P} entries: "
                    "a pass says df . v matches along each, not that every entry is right",
                    "run without --directions to check and name every entry",
                    (("directions", K), ("seed", seed)))]
