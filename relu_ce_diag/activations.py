"""Activation registry: each record keeps its derivative, range and kinks together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.errors import unknown_name

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    """One activation: forward rule, elementwise derivative, output range and kinks.

    ``f(z, slope)`` maps pre-activations (N, n) to activations of the same shape.
    ``df(z, a, slope, at_zero)`` is the elementwise derivative; at a kink it returns
    ``at_zero`` for relu (the seed's ``z > 0`` gives 0) and the matching blend for
    leaky-relu. For softmax it is the diagonal ``y (1 - y)`` of the Jacobian, which is
    what a hand-written elementwise backprop uses; the exact backprop uses the full
    Jacobian instead.
    """

    name: str
    f: Callable[[Array, float], Array]
    df: Callable[[Array, Array, float, float], Array]
    low: float
    high: float
    kinks: tuple[float, ...] = ()
    output_only: bool = False
    rowwise: bool = False


def _sigmoid(z: Array, slope: float) -> Array:
    with np.errstate(over="ignore"):  # exp(-z) overflows to inf for z < -709; 1/inf is the right 0
        return 1.0 / (1.0 + np.exp(-z))


def _softmax(z: Array, slope: float) -> Array:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _relu_df(z: Array, a: Array, slope: float, at_zero: float) -> Array:
    return (z > 0).astype(z.dtype) + (z == 0).astype(z.dtype) * z.dtype.type(at_zero)


def _leaky_df(z: Array, a: Array, slope: float, at_zero: float) -> Array:
    d = np.where(z > 0, 1.0, slope).astype(z.dtype)
    return np.where(z == 0, slope + at_zero * (1.0 - slope), d).astype(z.dtype)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", _sigmoid, lambda z, a, s, g: a * (1 - a), 0.0, 1.0),
        Activation("tanh", lambda z, s: np.tanh(z), lambda z, a, s, g: 1 - a * a, -1.0, 1.0),
        Activation("relu", lambda z, s: np.maximum(z.dtype.type(0), z), _relu_df,
                   0.0, np.inf, kinks=(0.0,)),
        Activation("leaky-relu", lambda z, s: np.where(z > 0, z, z * z.dtype.type(s)),
                   _leaky_df, -np.inf, np.inf, kinks=(0.0,)),
        Activation("softplus", lambda z, s: np.logaddexp(z.dtype.type(0), z),
                   lambda z, a, s, g: _sigmoid(z, s), 0.0, np.inf),
        Activation("identity", lambda z, s: z.copy(), lambda z, a, s, g: np.ones_like(z),
                   -np.inf, np.inf),
        Activation("softmax", _softmax, lambda z, a, s, g: a * (1 - a), 0.0, 1.0,
                   output_only=True, rowwise=True),
    )
}

HIDDEN_NAMES = tuple(n for n, a in ACTIVATIONS.items() if not a.output_only)


def get_activation(name: str, *, key: str = "--act", hidden: bool = False) -> Activation:
    """Look up an activation by name, refusing output-only ones for hidden layers."""
    allowed = HIDDEN_NAMES if hidden else tuple(ACTIVATIONS)
    if name not in allowed:
        raise unknown_name(key, name, allowed)
    return ACTIVATIONS[name]
