"""The structure-aware central differences: every entry of the reference network, no loop.

Routes, each exact for the loss as computed (clamp included), chosen per layer by
``layer_differences``:

* per (sample, unit) pair (``pairs``), for a layer whose activation and those above it (the
  output's aside) are piecewise linear: a pair farther from every kink than the step moves
  the output pre-activations by exactly ``slope * h * x`` times a fixed direction, and a relu
  pair inactive on both sides of the stencil changes nothing, so it is skipped;
* per (sample, unit) pair too (``smooth``), for a smooth hidden layer (tanh, sigmoid,
  softplus) below more smooth layers or a canonical log-likelihood output: the loss of each
  sample is a function of the one pre-activation the entry moves, and its Taylor polynomial
  (``taylor``), built once per pair with a bound on what it leaves out, gives every entry of
  the pair; with a closed-form head the sum over samples is one matrix product per order;
* for the output layer of softmax/cce, and for samples clear of the clamp under a canonical
  log-likelihood output, the loss difference comes in closed form from ``series`` (one
  ``expm1`` per output), which is also far more accurate than subtracting two losses;
* everything else (pairs near a kink, samples near the clamp or with a non-finite loss, other
  layers and outputs) is evaluated exactly as computed, in blocks of entries (``evaluator``).

Definitions the flags follow (the plain loop in ``numeric.plain`` agrees with each): an entry
straddles when the two ends z +- h x of some pre-activation have different signs about a
kink, one end exactly on it included; a pre-activation the entry does not move (both ends
equal, even on the kink) does not count. The clamp flag looks at every output, whatever its
target, and with eps = 0 an output moving onto or off 0 counts (``max(y, 0)`` switching). The
step is exactly h: a loop's ``fl(W_p + h) - W_p`` differs from h where |W_p| is large next
to h (float32).
"""

from __future__ import annotations

import numpy as np

from relu_ce_diag.model.network import Forward, Net
from relu_ce_diag.numeric.fast import pairs, smooth
from relu_ce_diag.numeric.fast.evaluator import Evaluator

Array = np.ndarray
DEFAULT_BLOCK_ELEMENTS = 1 << 18  # elements per (block, N, width) array: ~2 MB in float64
DIRECTION_BUDGET = 8  # the (N, n_out, rows) directions of a deeper layer, in blocks


def layer_differences(ev: Evaluator, layer: int, h: float, block_elements: int,
                      ) -> tuple[Array, Array, Array]:
    """Return (f(+h) - f(-h), straddle, clamp), each (rows, cols), for every entry of
    ``layer``, by the cheapest exact route for its position and activations."""
    net = ev.net
    if layer == ev.last and ev.softmax_cce:
        return ev.softmax_output(h, block_elements)
    N = ev.fw.z[layer].shape[0]
    linear_above = all(net.layer_act(q).piecewise_linear for q in range(layer, ev.last))
    if layer < ev.last and linear_above and (
            layer + 1 == ev.last
            or N * net.sizes[-1] * net.sizes[layer + 1] <= DIRECTION_BUDGET * block_elements):
        return pairs.linear_pairs(ev, layer, h, block_elements)
    if layer < ev.last and net.hidden_act.analytic is not None and (
            layer + 1 < ev.last or ev.closed_form):
        return smooth.smooth_pairs(ev, layer, h, block_elements)
    return ev.blocks(layer, h, block_elements)


def differences(net: Net, W: Array, Y: Array, fw: Forward, h: float,
                block_elements: int = DEFAULT_BLOCK_ELEMENTS, ev: Evaluator | None = None,
                ) -> tuple[Array, Array, Array]:
    """Return (f(W + h e_p) - f(W - h e_p), straddle, clamp), each (P,), for every entry p.

    Memory stays bounded by ``block_elements`` elements per temporary array at any size.
    ``ev``: the ``Evaluator`` of (net, W, fw, Y), which no step changes, when the caller
    takes several steps at the same point."""
    ev = ev if ev is not None else Evaluator(net, W, fw, Y)
    out: tuple[list[Array], list[Array], list[Array]] = ([], [], [])
    for layer in range(len(net.shapes)):
        with np.errstate(invalid="ignore"):  # summing per-sample inf - inf = NaN, as a loop does
            parts = layer_differences(ev, layer, h, block_elements)
        for acc, part in zip(out, parts, strict=True):
            acc.append(part.ravel(order="F"))
    diff, straddle, clamp = (np.concatenate(a) for a in out)
    return diff, straddle, clamp
