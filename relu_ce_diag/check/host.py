"""Where a user's function runs: the one way relu-diag calls user code.

A host evaluates the function at W (loss and gradient) and at batches of stencil points
(loss only), counting the calls, and knows the function's point, its label, the language its
fixes are written in, and how many values past (f, df) it returned. ``InProcess`` calls a
Python function in this process through its ``UserCode`` adapter (fresh copies of W, X and Y
every time): the Python API's way, for closures. ``process_host.InChild`` runs the same
adapter in supervised worker processes: the command line's way. Other hosts (GNU Octave)
implement the same ``Host`` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np

from relu_ce_diag.check.calling import Call, UserCode
from relu_ce_diag.settings.params import Point

Array = np.ndarray
Done = Callable[[int], None]


class Host(Protocol):
    """What the black-box check needs from wherever the user's function runs."""

    label: str
    point: Point
    language: str  # numpy | matlab: the language of printed fixes
    calls: int

    @property
    def extra_values(self) -> int:
        """How many values past (f, df) the function returned."""
        ...

    def value_and_grad(self, W: Array, where: str = "at W") -> Call:
        """Return f and df (P,) at the flat parameters W (P,)."""
        ...

    def loss(self, W: Array, where: str) -> float:
        """Return f at W (P,)."""
        ...

    def losses(self, points: Iterable[tuple[Array, str]], done: Done | None = None) -> Array:
        """Return f at every point (W, where), in order; ``done(n)`` as calls finish."""
        ...

    def close(self) -> None:
        """End whatever runs the function (worker processes, an Octave session); idempotent."""
        ...


class InProcess:
    """Call a user's Python function in this process; ``calls`` counts the calls."""

    language = "numpy"

    def __init__(self, code: UserCode) -> None:
        self.code, self.label, self.point = code, code.label, code.point
        self.calls = 0

    @property
    def extra_values(self) -> int:
        return self.code.extra_values

    def value_and_grad(self, W: Array, where: str = "at W") -> Call:
        """Return f and df (P,) at W (P,)."""
        self.calls += 1
        return self.code.value_and_grad(W, where)

    def loss(self, W: Array, where: str) -> float:
        """Return f at W (P,)."""
        self.calls += 1
        return self.code.loss(W, where)[0]

    def losses(self, points: Iterable[tuple[Array, str]], done: Done | None = None) -> Array:
        """Return f at every point (W, where) in order; ``done(n)`` after each."""
        out = []
        for W, where in points:
            out.append(self.loss(W, where))
            if done is not None:
                done(1)
        return np.array(out, dtype=np.float64)


    def close(self) -> None:
        """Nothing to end: the function runs in this process."""
