"""Static pairing rules: is the shortcut delta the true gradient, does the output fit the loss?

These depend only on the (output activation, loss, backprop) records and, for a row-wise
output, on whether every target row sums to 1; the findings add counts from the cell's
outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from relu_ce_diag.diagnostics.context import Context
from relu_ce_diag.diagnostics.registry import Finding, diagnostic
from relu_ce_diag.model.activations import ACTIVATIONS
from relu_ce_diag.model.losses import LOSSES
from relu_ce_diag.model.network import Net, delta_code
from relu_ce_diag.model.network import shortcut_is_exact as _exact


@dataclass(frozen=True)
class Pairing:
    """The static verdict on one (output, loss) pair.

    ``shortcut_exact``: the shortcut delta equals dL/dz; ``delta``: the correct dL/dz as code;
    ``range_problem``: why the output range does not fit the loss ('' when it does).
    """

    out: str
    loss: str
    shortcut_exact: bool
    delta: str
    range_problem: str


def shortcut_is_exact(out: str, loss: str, rows_sum_to_one: bool = True) -> bool:
    """Return whether the shortcut delta is the true dL/dz for this output and loss."""
    return _exact(ACTIVATIONS[out], LOSSES[loss], rows_sum_to_one)


def shortcut_text(loss: str) -> str:
    """Return the seed's shortcut delta for ``loss`` as a formula."""
    return "(y - Y) .* act'(z)" if LOSSES[loss].shortcut_chain else "y - Y"


@cache  # a fact of the (output, loss) pair
def range_problem(out: str, loss: str, clamped: bool = True) -> str:
    """Return why ``out``'s range does not fit ``loss``'s domain, or '' when it does.

    ``clamped``: the loss has its eps clamp (else the logarithms give NaN instead).
    """
    act, ls = ACTIVATIONS[out], LOSSES[loss]
    if not ls.clamped:
        return ""
    parts = []
    if act.high > ls.high:
        where = f"log(1 - y) {'is clamped' if clamped else 'is NaN'}" if ls.clamp_high \
            else "they are no probabilities"
        parts.append(f"{out} outputs can exceed 1, so {where}")
    if act.low < ls.low:
        parts.append(f"{out} outputs can go negative, so log(y) "
                     f"{'is clamped' if clamped else 'is NaN'}")
    wants_rows = ACTIVATIONS[ls.canonical].rowwise
    if not parts and act.rowwise and not wants_rows:
        parts.append(f"{out} outputs sum to 1 but {loss} treats them as independent "
                     f"probabilities (use {_rowwise_loss()})")
    if not parts and not act.rowwise and wants_rows:
        parts.append(f"{loss} expects outputs that sum to 1 ({ls.canonical}); {out} outputs do "
                     "not, and outputs with target 0 get no gradient")
    return "; ".join(parts)


def _rowwise_loss() -> str:
    return next(n for n, ls in LOSSES.items() if ACTIVATIONS[ls.canonical].rowwise)


def pairing(out: str, loss: str, rows_sum_to_one: bool = True, clamped: bool = True,
            ) -> Pairing:
    """Return the static verdict on the output activation ``out`` with ``loss``."""
    net = Net((1, 1, 2), out=out, loss=loss)
    return Pairing(out, loss, shortcut_is_exact(out, loss, rows_sum_to_one),
                   delta_code(net, "numpy", rows_sum_to_one), range_problem(out, loss, clamped))


def rows_sum_to_one(Y: np.ndarray) -> bool:
    """True when every target row sums to 1 (one-hot or probability rows)."""
    return bool((np.abs(Y.sum(axis=1) - 1) <= 1e-6).all())


@diagnostic(
    "pairing", "the shortcut output delta is not the gradient of this output + loss",
    "The shortcut delta d = y - Y (and, for squared error, (y - Y) .* act'(z)) is the "
    "true dL/dz of the output layer only for canonical pairs: sigmoid + ce, softmax + cce "
    "when every target row sums to 1, and any elementwise output + se (y - Y alone only for "
    "identity + se). For any other pair it is a different formula, so the analytic "
    "gradient is wrong everywhere the output delta flows, however the numerical gradient "
    "is taken.",
    "Use the delta printed for the pair (the chain rule dL/dy .* act'(z), the softmax "
    "Jacobian for softmax), or change the output to the loss's canonical activation "
    "(--out sigmoid for ce, --out softmax for cce, --out identity for se).")
def pairing_finding(ctx: Context) -> list[Finding]:
    """Return the ``pairing`` finding: the shortcut delta under test is not dL/dz."""
    if not ctx.white_entries or ctx.prep.spec.backprop != "shortcut":
        return []
    net, Y = ctx.net, ctx.prep.arrays.Y
    if _exact(net.out_act, net.loss_fn, True) and _exact(net.out_act, net.loss_fn, False):
        return []  # exact whatever the targets' rows sum to
    sums = rows_sum_to_one(Y)
    if _exact(net.out_act, net.loss_fn, sums):
        return []
    why = " (the rows of Y do not all sum to 1)" if net.canonical else ""
    delta = delta_code(net, "numpy", sums)
    return [Finding(
        "pairing", "error",
        f"shortcut delta {shortcut_text(net.loss)} is not dL/dz for {net.out} + {net.loss}"
        f"{why}: the chain rule gives the delta in the fix",
        fix=f"use {delta} (what --backprop exact checks), or --out {net.loss_fn.canonical}",
        data=(("out", net.out), ("loss", net.loss), ("shortcut", shortcut_text(net.loss)),
              ("correct_delta", delta)))]


@diagnostic(
    "output-range", "the output activation's range does not fit the loss's domain",
    "Cross-entropies take logarithms of y (and of 1 - y for ce), so they need outputs in "
    "(0, 1). relu, softplus and identity outputs exceed 1, so log(1 - y) hits the "
    "max(., eps) clamp and the loss is flat there; tanh, leaky-relu and identity outputs "
    "go negative, so log(y) is clamped. softmax + ce treats coupled outputs as independent "
    "probabilities, and cce on a non-softmax output ignores the outputs whose target is 0.",
    "Pair the loss with an output of the right range: sigmoid + ce (multi-label), "
    "softmax + cce (one class per sample); keep relu/tanh for hidden layers; or use se.")
def range_finding(ctx: Context) -> list[Finding]:
    """Return the ``output-range`` finding: the output's range does not fit the loss."""
    if not ctx.white_entries:
        return []
    net, y = ctx.net, ctx.fw.y
    problem = range_problem(net.out, net.loss, net.eps > 0)
    if not problem:
        return []
    above, below = int((y > 1).sum()), int((y < 0).sum())
    outside = " and ".join(f"{n} {where}" for n, where in ((above, "above 1"),
                                                           (below, "below 0")) if n)
    return [Finding(
        "output-range", "warning",
        f"{problem}; at this point the {y.size} outputs range from {float(y.min()):.3g} to "
        f"{float(y.max()):.3g} ({outside or 'none outside [0, 1]'})",
        fix=f"--out {net.loss_fn.canonical} for {net.loss}, or a loss that fits "
            f"{net.out} outputs (se)",
        data=(("above_one", above), ("below_zero", below), ("y_min", float(y.min())),
              ("y_max", float(y.max()))))]
