"""What every benchmark row shares: the cells, the row record, and how a time is taken."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.model.network import forward
from relu_ce_diag.settings.cells import Prepared

Array = np.ndarray
H = 1e-6
BATCH = 25  # entries per timed batch of a per-entry method


@dataclass(frozen=True)
class Size:
    """One benchmark cell: inputs, hidden widths, outputs, samples, loop subset (0: all)."""

    name: str
    inputs: int
    hidden: tuple[int, ...]
    outputs: int
    samples: int
    loop_subset: int = 0

    @property
    def label(self) -> str:
        return f"{self.inputs}-{'-'.join(map(str, self.hidden))}-{self.outputs}, N={self.samples}"

    @property
    def n_params(self) -> int:
        widths = (self.inputs, *self.hidden, self.outputs)
        return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:], strict=True))


SIZES = {
    "small": Size("small", 5, (100,), 3, 16),
    "medium": Size("medium", 32, (100,), 10, 128),
    "large": Size("large", 256, (256,), 10, 512, loop_subset=400),
    "deep": Size("deep", 32, (64, 32), 10, 128),
    "deep3": Size("deep3", 32, (64, 32, 16), 10, 128),
}
SMOKE = Size("smoke", 3, (4,), 2, 5)


@dataclass(frozen=True)
class Row:
    """One measured method on one size; ``seconds`` None when it could not run."""

    size: str
    method: str
    seconds: float | None
    accuracy: float | None
    peak_bytes: int | None
    note: str = ""


@dataclass(frozen=True)
class Case:
    """One prepared cell with what every method is measured against: the exact gradient
    (P,), the entries whose stencil crosses no kink or clamp (P,), the entries a per-entry
    method runs on (sorted; all, or a random subset on sizes with ``loop_subset``)."""

    size: Size
    prep: Prepared
    exact: Array
    smooth: Array
    idx: Array
    repeat: int
    budget: float

    @property
    def subset_note(self) -> str:
        P = self.exact.size
        return f"~ on {self.idx.size} of {P} entries" if self.idx.size < P else ""


def best(fn: Callable[[], object], repeat: int, budget: float = 2.0) -> float:
    """Return the best wall time (seconds) of at least ``repeat`` calls, repeating fast calls
    until ``budget`` seconds are spent (at most 200 calls), so a busy machine matters less."""
    least, spent, n = float("inf"), 0.0, 0
    while n < repeat or (spent < budget and n < 200):
        t = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t
        least, spent, n = min(least, elapsed), spent + elapsed, n + 1
    return least


def peak(fn: Callable[[], object]) -> int:
    """Return the peak traced allocation (bytes) of one call."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def accuracy(numeric: Array, exact: Array, keep: Array) -> float:
    """Return max |numeric - exact| / max |exact| over the entries ``keep`` (bool (P,))."""
    top = float(np.abs(exact).max())
    return float(np.abs(numeric[keep] - exact[keep]).max()) / top if keep.any() else 0.0


def subset_fun(prep: Prepared, idx: Array) -> tuple[Callable[[Array], float], Array]:
    """Return f(V) of the entries ``idx`` of W (the others fixed) and their values."""
    net, a = prep.net, prep.arrays
    W = a.W.copy()

    def fun(V: Array) -> float:
        W[idx] = V
        return forward(net, W, a.X, a.Y).f

    return fun, a.W[idx].copy()


def batched(case: Case, method: Callable[[Callable[[Array], float], Array], Array],
            ) -> tuple[Array, float]:
    """Run a per-entry ``method(fun, V)`` over the case's entries in batches of BATCH; return
    its gradient (len(idx),) and the fastest batch's seconds per entry (robust to a busy
    machine, and if anything in the method's favour)."""
    out = np.empty(case.idx.size)
    least = float("inf")
    for b0 in range(0, case.idx.size, BATCH):
        sub = case.idx[b0:b0 + BATCH]
        fun, V = subset_fun(case.prep, sub)
        start = time.perf_counter()
        out[b0:b0 + sub.size] = method(fun, V)
        least = min(least, (time.perf_counter() - start) / sub.size)
    return out, least
