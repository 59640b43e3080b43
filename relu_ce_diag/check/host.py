"""Where a user's function runs: the one way relu-diag calls user code.

A host evaluates the function at W (loss and gradient) and at batches of stencil points
(loss only), counting the calls. ``InProcess`` calls the function in this process, through
its ``UserCode`` adapter (fresh copies of W, X and Y every time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from relu_ce_diag.check.calling import Call, UserCode

Array = np.ndarray


class InProcess:
    """Call a user's function in this process; ``calls`` counts the calls."""

    def __init__(self, code: UserCode) -> None:
        self.code, self.label = code, code.label
        self.calls = 0

    def value_and_grad(self, W: Array, where: str = "at W") -> Call:
        """Return f and df (P,) at W (P,)."""
        self.calls += 1
        return self.code.value_and_grad(W, where)

    def loss(self, W: Array, where: str) -> float:
        """Return f at W (P,)."""
        self.calls += 1
        return self.code.loss(W, where)[0]

    def losses(self, points: Iterable[tuple[Array, str]],
               done: Callable[[int], None] | None = None) -> Array:
        """Return f at every point (W, where) in order; ``done(n)`` after each."""
        out = []
        for W, where in points:
            out.append(self.loss(W, where))
            if done is not None:
                done(1)
        return np.array(out, dtype=np.float64)
