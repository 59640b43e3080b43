"""Where a user's function runs: the one way relu-diag calls user code.

A host evaluates the function at W (loss and gradient) and at batches of stencil points
(loss only), counting the calls. ``InProcess`` calls a Python callable directly, on fresh
copies of W, X and Y every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from relu_ce_diag.check.userfn import Call, GradFn, call

Array = np.ndarray


class InProcess:
    """Call a Python ``f, df = fn(W, X, Y)`` in this process; ``calls`` counts them."""

    def __init__(self, fn: GradFn, X: Array, Y: Array, label: str) -> None:
        self.fn, self.X, self.Y, self.label = fn, X, Y, label
        self.calls = 0

    def value_and_grad(self, W: Array, where: str = "at W") -> Call:
        """Return f and df (P,) at W."""
        self.calls += 1
        return call(self.fn, W, self.X, self.Y, self.label, where)

    def loss(self, W: Array, where: str) -> float:
        """Return f at W."""
        self.calls += 1
        return call(self.fn, W, self.X, self.Y, self.label, where, need_grad=False).f

    def losses(self, points: Iterable[tuple[Array, str]],
               done: Callable[[int], None] | None = None) -> Array:
        """Return f at every point (W, where) in order; ``done(n)`` after each."""
        out = []
        for W, where in points:
            out.append(self.loss(W, where))
            if done is not None:
                done(1)
        return np.array(out, dtype=np.float64)
