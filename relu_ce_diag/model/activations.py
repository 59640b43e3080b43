"""Activation registry: each record keeps its derivative, range, kinks and slopes together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.errors import unknown_name
from relu_ce_diag.model import jets

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    """One activation: forward rule, elementwise derivative, output range, kinks and slopes.

    ``f(z, slope)`` maps pre-activations (N, n) to activations of the same shape.
    ``df(z, a, slope, at_zero)`` is the elementwise derivative; at a kink it returns
    ``at_zero`` for relu (the seed's ``z > 0`` gives 0) and the matching blend for
    leaky-relu. For softmax it is the diagonal ``y (1 - y)`` of the Jacobian, which is
    what a hand-written elementwise backprop uses; the exact backprop uses the full
    Jacobian instead.

    ``pieces(slope)`` gives the slopes (below, above) the kink of a piecewise-linear
    activation (None for a smooth one); ``max_slope`` bounds |f'| of a smooth hidden
    activation. ``rounds_to_bound``: bounded, and reaches its bound only by rounding (so a
    unit there is saturated in floating point). ``derivative`` is f'(z) as a hand-written
    backprop spells it, in MATLAB and NumPy, with ``{y}``/``{z}`` for the unit's names;
    ``derivative_z`` the same from the pre-activation ``{z}`` alone. ``slip`` is a wrong
    derivative people often write instead, in words and as a function of the activation.
    """

    name: str
    f: Callable[[Array, float], Array]
    df: Callable[[Array, Array, float, float], Array]
    low: float
    high: float
    kinks: tuple[float, ...] = ()
    pieces: Callable[[float], tuple[float, float]] | None = None
    max_slope: float | None = None
    output_only: bool = False
    rowwise: bool = False
    rounds_to_bound: bool = False
    uses_slope: bool = False
    derivative: tuple[str, str] = ("", "")
    derivative_z: tuple[str, str] = ("", "")
    slip: tuple[str, Callable[[Array], Array]] | None = None
    analytic: jets.Analytic | None = None

    @property
    def piecewise_linear(self) -> bool:
        return self.pieces is not None

    def slopes(self, leaky_slope: float) -> tuple[float, float]:
        """Return the slopes (below, above) the kink; a smooth activation has none."""
        if self.pieces is None:
            raise ValueError(f"{self.name} is not piecewise linear")
        return self.pieces(leaky_slope)

    def kink_average(self, leaky_slope: float) -> float:
        """Return what a central difference sees at the kink: the mean of both slopes."""
        lo, hi = self.slopes(leaky_slope)
        return (lo + hi) / 2

    def derivative_code(self, lang: str, y: str, z: str, leaky_slope: float,
                        from_z: bool = False) -> str:
        """Return f'(z) as code in ``lang`` (matlab|numpy), naming the unit's y and z (only z
        with ``from_z``)."""
        text = (self.derivative_z if from_z else self.derivative)[0 if lang == "matlab" else 1]
        return text.format(y=y, z=z, s=f"{leaky_slope:g}")


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
        Activation("sigmoid", _sigmoid, lambda z, a, s, g: a * (1 - a), 0.0, 1.0,
                   max_slope=0.25, rounds_to_bound=True, analytic=jets.SIGMOID,
                   derivative=("{y} .* (1 - {y})", "{y} * (1 - {y})"),
                   derivative_z=("(1 ./ (1 + exp(-{z})) .* (1 - 1 ./ (1 + exp(-{z}))))",
                                 "(1 / (1 + np.exp(-{z})) * (1 - 1 / (1 + np.exp(-{z}))))")),
        Activation("tanh", lambda z, s: np.tanh(z), lambda z, a, s, g: 1 - a * a, -1.0, 1.0,
                   max_slope=1.0, rounds_to_bound=True, analytic=jets.TANH,
                   derivative=("(1 - {y}.^2)", "(1 - {y} ** 2)"),
                   derivative_z=("(1 - tanh({z}).^2)", "(1 - np.tanh({z}) ** 2)"),
                   slip=("1 - tanh(z) instead of 1 - tanh(z)^2", lambda a: 1 - a)),
        Activation("relu", lambda z, s: np.maximum(z.dtype.type(0), z), _relu_df,
                   0.0, np.inf, kinks=(0.0,), pieces=lambda s: (0.0, 1.0),
                   derivative=("({z} > 0)", "({z} > 0)"),
                   derivative_z=("({z} > 0)", "({z} > 0)")),
        Activation("leaky-relu", lambda z, s: np.where(z > 0, z, z * z.dtype.type(s)),
                   _leaky_df, -np.inf, np.inf, kinks=(0.0,), pieces=lambda s: (s, 1.0),
                   uses_slope=True,
                   derivative=("(({z} > 0) + {s} * ({z} <= 0))",
                               "(({z} > 0) + {s} * ({z} <= 0))"),
                   derivative_z=("(({z} > 0) + {s} * ({z} <= 0))",
                                 "(({z} > 0) + {s} * ({z} <= 0))")),
        Activation("softplus", lambda z, s: np.logaddexp(z.dtype.type(0), z),
                   lambda z, a, s, g: _sigmoid(z, s), 0.0, np.inf, max_slope=1.0,
                   analytic=jets.SOFTPLUS,
                   derivative=("1 ./ (1 + exp(-{z}))", "1 / (1 + np.exp(-{z}))"),
                   derivative_z=("(1 ./ (1 + exp(-{z})))", "(1 / (1 + np.exp(-{z})))")),
        Activation("identity", lambda z, s: z.copy(), lambda z, a, s, g: np.ones_like(z),
                   -np.inf, np.inf, pieces=lambda s: (1.0, 1.0), derivative=("1", "1"),
                   derivative_z=("1", "1")),
        Activation("softmax", _softmax, lambda z, a, s, g: a * (1 - a), 0.0, 1.0,
                   output_only=True, rowwise=True, rounds_to_bound=True,
                   derivative=("{y} .* (1 - {y})", "{y} * (1 - {y})")),
    )
}

HIDDEN_NAMES = tuple(n for n, a in ACTIVATIONS.items() if not a.output_only)
DEFAULT_ACT = "relu"  # the seed's hidden (and output) activation


def get_activation(name: str, *, key: str = "--act", hidden: bool = False) -> Activation:
    """Look up an activation by name, refusing output-only ones for hidden layers."""
    allowed = HIDDEN_NAMES if hidden else tuple(ACTIVATIONS)
    if name not in allowed:
        raise unknown_name(key, name, allowed)
    return ACTIVATIONS[name]
