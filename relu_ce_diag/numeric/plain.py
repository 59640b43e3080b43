"""The oracle: central differences by a plain loop over the entries, flags included.

For every entry p, two full forward passes at W + h e_p and W - h e_p give
``(f+ - f-) / 2h``, and comparing the two passes says whether the step carried some
pre-activation across a kink (or onto it) or some output across the ``eps`` clamp. Nothing
here knows the network's structure beyond ``forward``: it is slow (2P forward passes) and
obviously right, and the structure-aware route in ``numeric.fast`` is tested against it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from relu_ce_diag.model.network import Forward, Net, forward

Array = np.ndarray


def _sides_differ(a: Array, b: Array, points: tuple[float, ...]) -> bool:
    """True when some value moved (a != b) and its two ends lie on different sides of (or
    one end on) a point."""
    moved = a != b
    return any(bool((moved & (np.sign(a - k) != np.sign(b - k))).any()) for k in points)


def crossings(net: Net, plus: Forward, minus: Forward) -> tuple[bool, bool]:
    """Return (straddle, clamp) between the forward passes at the two ends of a stencil."""
    straddle = any(_sides_differ(zp, zm, net.layer_act(layer).kinks)
                   for layer, (zp, zm) in enumerate(zip(plus.z, minus.z, strict=True)))
    low, high = net.loss_fn.clamp_points(net.eps)
    clamp = _sides_differ(plus.y, minus.y, low) or _sides_differ(1 - plus.y, 1 - minus.y, high)
    return straddle, clamp


def differences(net: Net, W: Array, X: Array, Y: Array, h: float,
                ) -> tuple[Array, Array, Array]:
    """Return (f(W + h e_p) - f(W - h e_p), straddle, clamp), each (P,), by 2P forward
    passes; the arithmetic is in W's dtype, like a user's own loop."""
    P = W.size
    diff = np.empty(P, dtype=W.dtype)
    straddle = np.zeros(P, dtype=bool)
    clamp = np.zeros(P, dtype=bool)
    step = W.dtype.type(h)
    for p in range(P):
        Wp, Wm = W.copy(), W.copy()
        Wp[p] += step
        Wm[p] -= step
        with np.errstate(all="ignore"):  # -inf and NaN losses are findings, as in the fast route
            plus, minus = forward(net, Wp, X, Y), forward(net, Wm, X, Y)
            diff[p] = plus.f - minus.f
        straddle[p], clamp[p] = crossings(net, plus, minus)
    return diff, straddle, clamp


def loop_central_differences(fun: Callable[[Array], float], W: Array, h: float,
                             ) -> tuple[Array, Array]:
    """Return the central differences (P,) of a black-box ``fun`` with a plain loop, and the
    round-off scale (P,) ``|f(W+h)| + |f(W-h)|`` of each entry; 2P calls."""
    numeric = np.empty(W.size, dtype=np.float64)
    scale = np.empty(W.size, dtype=np.float64)
    for p in range(W.size):
        Wp, Wm = W.copy(), W.copy()
        Wp[p] += h
        Wm[p] -= h
        fp, fm = float(fun(Wp)), float(fun(Wm))
        numeric[p] = (fp - fm) / (2 * h)
        scale[p] = abs(fp) + abs(fm)
    return numeric, scale
