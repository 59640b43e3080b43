"""Truncated Taylor series (jets) for the smooth route, and how far they hold (the jets of
the smooth activations themselves are facts of their records: ``model.jets``).

A jet is an array ``c`` (M + 1, ...) of Taylor coefficients in one variable t: ``c[0]`` the
value, ``c[m]`` the coefficient of t^m. Each activation here satisfies a small differential
equation, a' = F(a) p' for an input jet p (tanh: F = 1 - a^2, sigmoid: F = a - a^2, exp:
F = a; softplus: a' = sigmoid(p) p'), so its jet follows from p by the recurrence
``m a_m = sum_k k p_k F_{m-k}``: O(M^2) array operations, whatever the width of the layer.

How far a jet is right: each smooth activation is analytic in a strip about the real line, and
on a complex move |v| <= ``cap`` of its input it changes by at most ``lipschitz * |v|``
(tanh: |tanh'(x + iy)| = 1 / (sinh^2 x + cos^2 y) <= 1 / cos^2 y; sigmoid(x) =
(1 + tanh(x / 2)) / 2; softplus' = sigmoid, and |tanh(a + ib)| <= max(1, |tan b|)). So a
function of t bounded by B on the disc |t| <= R has Taylor coefficients |c_m| <= B / R^m
(Cauchy), and its order-M polynomial is off by at most B q^(M+1) / (1 - q) at |t| = q R.
"""

from __future__ import annotations

import functools

import numpy as np

from relu_ce_diag.model.jets import ode

Array = np.ndarray
MAX_ORDER = 12
# Truncation allowed, relative to the first-order size of the move (see ``order``): a
# sixteenth of a rounding after the constants of the bounds in ``smooth`` (at most 8).
TRUNCATION = 1.0 / 128


def exp_shift_jet(p: Array) -> Array:
    """Return the jet of exp(p - p(0)) for an input jet p (M + 1, ...): value 1."""
    return ode(p, np.ones(p.shape[1:]), lambda a, i: a[i])


def log1p_jet(s: Array) -> Array:
    """Return the jet of log1p(s) for a jet s (M + 1, ...) with s(0) = 0: (1 + s) L' = s'."""
    out = np.zeros(s.shape, dtype=np.float64)
    for m in range(1, s.shape[0]):
        acc = m * s[m]
        for k in range(1, m):
            acc = acc - k * out[k] * s[m - k]
        out[m] = acc / m
    return out


# Complex moves of the output pre-activations the heads' bounds allow: exp, log1p of
# s = sum_k y_k expm1(dz_k) (|s| <= expm1(1/2) = 0.65 < 1) and softplus stay analytic.
HEAD_CAP = 0.5


def order(q: float, eps: float) -> int | None:
    """Return the smallest order M whose truncation q^M / (1 - q) is at most
    ``TRUNCATION * eps``, or None past MAX_ORDER; q < 1 is |t| / R."""
    if not q < 1.0:
        return None
    for M in range(1, MAX_ORDER + 1):
        if q ** M / (1.0 - q) <= TRUNCATION * eps:
            return M
    return None


@functools.lru_cache(maxsize=8)
def q_limit(eps: float) -> float:
    """Return the largest q (to 1%) that ``order`` serves within MAX_ORDER."""
    q = 1.0
    while order(q, eps) is None:
        q *= 0.99
    return q


def compose(g: Array, c: Array) -> Array:
    """Return the jet of g(c(t)) for jets g (M + 1, ...) and c (M + 1, ...) with c(0) = 0:
    sum_m g_m c^m, truncated at order M (exact to that order)."""
    out = np.zeros(np.broadcast_shapes(g.shape, c.shape))
    out[0] = g[0]
    power = np.array(c, dtype=np.float64)  # c^m; its coefficients below m are 0
    M = g.shape[0] - 1
    for m in range(1, M + 1):
        out[m:] += g[m] * power[m:]
        if m < M:
            nxt = np.zeros(power.shape)
            for i in range(m + 1, M + 1):  # (c^m c)_i = sum_k c^m_k c_{i-k}, k >= m, i-k >= 1
                for k in range(m, i):
                    nxt[i] = nxt[i] + power[k] * c[i - k]
            power = nxt
    return out


def horner(c: Array, t: Array) -> Array:
    """Return sum_{m >= 1} c[m] t^m for coefficients c (M + 1, ...) broadcast against t."""
    acc = c[-1] * t
    for m in range(c.shape[0] - 2, 0, -1):
        acc += c[m]
        acc *= t
    return acc
