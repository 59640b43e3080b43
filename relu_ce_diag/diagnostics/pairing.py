"""Static pairing rules: is the shortcut delta the true gradient, does the output fit the loss?

These depend only on the (output activation, loss, backprop) names and, for softmax + cce,
on whether every target row sums to 1; the findings add counts from the cell's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relu_ce_diag.activations import ACTIVATIONS
from relu_ce_diag.diagnostics.context import DiagContext
from relu_ce_diag.losses import LOSSES
from relu_ce_diag.results import Finding

# act'(z) written with y = act(z), as a hand-written backprop would.
DERIVATIVE = {"sigmoid": "y .* (1 - y)", "tanh": "(1 - y.^2)", "relu": "(z > 0)",
              "leaky-relu": "((z > 0) + slope * (z <= 0))", "softplus": "1 ./ (1 + exp(-z))",
              "identity": "1"}
# dL/dy of each loss as computed (terms inside the clamp contribute 0).
LOSS_DY = {"se": "(y - Y)", "ce": "(y - Y) ./ (y .* (1 - y))", "cce": "(-Y ./ y)"}
SHORTCUT = {"se": "(y - Y) .* act'(z)", "ce": "y - Y", "cce": "y - Y"}


@dataclass(frozen=True)
class Pairing:
    """The static verdict on one (output, loss) pair.

    ``shortcut_exact``: the shortcut delta equals dL/dz; ``delta``: the correct dL/dz;
    ``range_problem``: why the output range does not fit the loss ('' when it does).
    """

    out: str
    loss: str
    shortcut_exact: bool
    delta: str
    range_problem: str


def shortcut_is_exact(out: str, loss: str, rows_sum_to_one: bool = True) -> bool:
    """Return whether the shortcut delta is the true dL/dz for this output and loss."""
    if loss == "se":
        return not ACTIVATIONS[out].rowwise  # (y - Y) .* act'(z) is the chain rule elementwise
    if loss == "ce":
        return out == "sigmoid"
    return out == "softmax" and rows_sum_to_one


def correct_delta(out: str, loss: str) -> str:
    """Return the formula of the true output delta dL/dz for this pair."""
    if (out, loss) in (("sigmoid", "ce"), ("identity", "se")):
        return "d = y - Y"
    if (out, loss) == ("softmax", "cce"):
        return "d = y .* sum(Y, 2) - Y  (= y - Y when every row of Y sums to 1)"
    g = LOSS_DY[loss]
    if ACTIVATIONS[out].rowwise:
        return f"d = y .* (g - sum(g .* y, 2)) with g = {g}  (the softmax Jacobian)"
    if out == "identity":
        return f"d = {g}"
    return f"d = {g} .* {DERIVATIVE[out]}"


def range_problem(out: str, loss: str, clamped: bool = True) -> str:
    """Return why ``out``'s range does not fit ``loss``'s domain, or '' when it does.

    ``clamped``: the loss has its eps clamp (else the logarithms give NaN instead).
    """
    act, ls = ACTIVATIONS[out], LOSSES[loss]
    if loss == "se":
        return ""
    parts = []
    if act.high > ls.high:
        where = f"log(1 - y) {'is clamped' if clamped else 'is NaN'}" if loss == "ce" \
            else "they are no probabilities"
        parts.append(f"{out} outputs can exceed 1, so {where}")
    if act.low < ls.low:
        parts.append(f"{out} outputs can go negative, so log(y) "
                     f"{'is clamped' if clamped else 'is NaN'}")
    if not parts and out == "softmax" and loss == "ce":
        parts.append("softmax outputs sum to 1 but ce treats them as independent "
                     "probabilities (use cce)")
    if not parts and out != "softmax" and loss == "cce":
        parts.append(f"cce expects outputs that sum to 1 (softmax); {out} outputs do not, "
                     "and outputs with target 0 get no gradient")
    return "; ".join(parts)


def pairing(out: str, loss: str, rows_sum_to_one: bool = True, clamped: bool = True,
            ) -> Pairing:
    """Return the static verdict on the output activation ``out`` with ``loss``."""
    return Pairing(out, loss, shortcut_is_exact(out, loss, rows_sum_to_one),
                   correct_delta(out, loss), range_problem(out, loss, clamped))


def _rows_sum_to_one(Y: np.ndarray) -> bool:
    return bool(np.all(np.abs(Y.sum(axis=1) - 1) <= 1e-6))


def pairing_findings(ctx: DiagContext) -> list[Finding]:
    """Return the ``pairing`` and ``output-range`` findings of a cell."""
    net, spec = ctx.net, ctx.prep.spec
    y, Y = ctx.fw.y, ctx.prep.arrays.Y
    sums = _rows_sum_to_one(Y)
    pr = pairing(net.out, net.loss, sums, net.eps > 0)
    found = []
    if spec.backprop == "shortcut" and not pr.shortcut_exact:
        why = (" (the rows of Y do not all sum to 1)"
               if net.out == "softmax" and net.loss == "cce" else "")
        found.append(Finding(
            "pairing", "error",
            f"shortcut delta {SHORTCUT[net.loss]} is not dL/dz for {net.out} + {net.loss}"
            f"{why}; the true delta is {pr.delta}",
            fix=f"use {pr.delta}, or --out {LOSSES[net.loss].canonical}",
            data=(("out", net.out), ("loss", net.loss), ("shortcut", SHORTCUT[net.loss]),
                  ("correct_delta", pr.delta))))
    if pr.range_problem:
        above = int((y > 1).sum())
        below = int((y < 0).sum())
        found.append(Finding(
            "output-range", "warning",
            f"{pr.range_problem} (here {above} of {y.size} outputs > 1, {below} < 0; range "
            f"{float(y.min()):.3g} .. {float(y.max()):.3g})",
            fix=f"--out {LOSSES[net.loss].canonical} for {net.loss}, or a loss that fits "
                f"{net.out} outputs (se)",
            data=(("above_one", above), ("below_zero", below), ("y_min", float(y.min())),
                  ("y_max", float(y.max())))))
    return found
