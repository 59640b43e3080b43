"""Jets of the smooth activations: truncated Taylor series pushed through tanh, sigmoid and
softplus, and the facts their truncation bounds rest on (each activation's record holds its
``Analytic``).

A jet is an array ``c`` (M + 1, ...) of Taylor coefficients in one variable t: ``c[0]`` the
value, ``c[m]`` the coefficient of t^m. Each activation here satisfies a small differential
equation, a' = F(a) p' for an input jet p (tanh: F = 1 - a^2, sigmoid: F = a - a^2;
softplus: a' = sigmoid(p) p'), so its jet follows from p by the recurrence
``m a_m = sum_k k p_k F_{m-k}``: O(M^2) array operations, whatever the width of the layer.

How far a jet is right: each of these activations is analytic in a strip about the real
line, and on a complex move |v| <= ``cap`` of its input it changes by at most
``lipschitz * |v|`` (tanh: |tanh'(x + iy)| = 1 / (sinh^2 x + cos^2 y) <= 1 / cos^2 y;
sigmoid(x) = (1 + tanh(x / 2)) / 2; softplus' = sigmoid, and |tanh(a + ib)| <= max(1,
|tan b|)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


def quad(a: Array, i: int) -> Array:
    """Return coefficient i of the jet a * a (uses a[0..i])."""
    out = a[0] * a[i]
    for t in range(1, i + 1):
        out = out + a[t] * a[i - t]
    return out


def ode(p: Array, a0: Array, rule: Callable[[Array, int], Array]) -> Array:
    """Return the jet (M + 1, ...) of a with a(0) = a0 and a' = F(a) p', where
    ``rule(a, i)`` is coefficient i of F(a) (it reads a[0..i] only)."""
    M = p.shape[0] - 1
    a = np.empty(np.broadcast_shapes(p.shape, (1,) + np.shape(a0)), dtype=np.float64)
    a[0] = a0
    f = []
    for m in range(1, M + 1):
        f.append(rule(a, m - 1))
        acc = p[1] * f[m - 1]
        for k in range(2, m + 1):
            acc = acc + k * p[k] * f[m - k]
        a[m] = acc / m
    return a


def tanh_jet(p: Array) -> Array:
    """Return the jet of tanh(p) for an input jet p (M + 1, ...)."""
    return ode(p, np.tanh(p[0]), lambda a, i: (1.0 if i == 0 else 0.0) - quad(a, i))


def sigmoid_jet(p: Array) -> Array:
    """Return the jet of sigmoid(p) for an input jet p (M + 1, ...)."""
    with np.errstate(over="ignore"):  # exp(-z) = inf for z < -709: sigmoid 0, as in the model
        s0 = 1.0 / (1.0 + np.exp(-p[0]))
    return ode(p, s0, lambda a, i: a[i] - quad(a, i))


def softplus_jet(p: Array) -> Array:
    """Return the jet of softplus(p) for an input jet p (M + 1, ...): a' = sigmoid(p) p'."""
    s = sigmoid_jet(p)
    out = np.empty(s.shape, dtype=np.float64)
    out[0] = np.logaddexp(0.0, p[0])
    for m in range(1, p.shape[0]):
        acc = p[1] * s[m - 1]
        for k in range(2, m + 1):
            acc = acc + k * p[k] * s[m - k]
        out[m] = acc / m
    return out


@dataclass(frozen=True)
class Analytic:
    """Taylor-mode facts of one smooth activation: ``jet`` maps an input jet to the output
    jet; on complex input moves |v| <= ``cap`` (inside its strip of analyticity) the output
    moves by at most ``lipschitz * |v|``."""

    jet: Callable[[Array], Array]
    cap: float
    lipschitz: float


TANH = Analytic(tanh_jet, 0.5, 1.0 / math.cos(0.5) ** 2)
SIGMOID = Analytic(sigmoid_jet, 1.0, 0.25 / math.cos(0.5) ** 2)
SOFTPLUS = Analytic(softplus_jet, 1.0, (1.0 + max(1.0, math.tan(0.5))) / 2)
