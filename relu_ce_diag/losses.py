"""Loss registry: elementwise terms, their exact derivative (clamp included), canonical output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.errors import unknown_name

Array = np.ndarray

MATLAB_EPS = 2.220446049250313e-16


@dataclass(frozen=True)
class Loss:
    """One loss: ``terms(y, Y, eps)`` (same shape as y, summed to the loss) and ``dy``.

    ``dy(y, Y, eps)`` is the exact derivative of the terms as computed: where the
    ``max(., eps)`` clamp is active the computed loss is flat, so its slope is 0 there.
    ``canonical`` is the output activation for which the shortcut delta ``y - Y`` is the
    true dL/dz.
    """

    name: str
    terms: Callable[[Array, Array, float], Array]
    dy: Callable[[Array, Array, float], Array]
    canonical: str
    formula: str
    low: float = -np.inf
    high: float = np.inf


def _clamped_log(x: Array, eps: float) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf is a finding, not a crash
        return np.log(np.maximum(x, x.dtype.type(eps)))


def _ce_terms(y: Array, Y: Array, eps: float) -> Array:
    with np.errstate(invalid="ignore"):  # 0 * -inf = NaN, as in the seed without a clamp
        return -(Y * _clamped_log(y, eps) + (1 - Y) * _clamped_log(1 - y, eps))


def _inverse_where(num: Array, den: Array, live: Array) -> Array:
    """Return num / den where live, else 0 (no warning where den is 0)."""
    safe = np.where(live, den, den.dtype.type(1))
    return np.where(live, num / safe, den.dtype.type(0))


def _ce_dy(y: Array, Y: Array, eps: float) -> Array:
    return -_inverse_where(Y, y, y > eps) + _inverse_where(1 - Y, 1 - y, (1 - y) > eps)


def _cce_terms(y: Array, Y: Array, eps: float) -> Array:
    with np.errstate(invalid="ignore"):
        return -(Y * _clamped_log(y, eps))


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("se", lambda y, Y, eps: 0.5 * (y - Y) ** 2, lambda y, Y, eps: y - Y,
             canonical="identity", formula="0.5 * sum((y - Y)^2)"),
        Loss("ce", _ce_terms, _ce_dy, canonical="sigmoid",
             formula="-sum(Y log(max(y, eps)) + (1 - Y) log(max(1 - y, eps)))",
             low=0.0, high=1.0),
        Loss("cce", _cce_terms, lambda y, Y, eps: -_inverse_where(Y, y, y > eps),
             canonical="softmax", formula="-sum(Y log(max(y, eps)))", low=0.0, high=1.0),
    )
}


def get_loss(name: str, *, key: str = "--loss") -> Loss:
    """Look up a loss by name."""
    if name not in LOSSES:
        raise unknown_name(key, name, LOSSES)
    return LOSSES[name]
