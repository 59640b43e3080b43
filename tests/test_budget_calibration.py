"""The time estimate of check/budget.py errs long: cells on every route run faster than
estimated. Run as a script to print measured and estimated seconds side by side:
``python tests/test_budget_calibration.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from relu_ce_diag.check.budget import estimate, estimate_directions, estimate_function
from relu_ce_diag.run.api import check_function
from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec, network, validate

# (act, loss, sizes, samples, how): every route of numeric.fast, the plain loop, directions
CELLS = [
    ("tanh", "se", (20, 20, 20, 20, 5), 32, "fast"),  # blocks, three layers above
    ("softplus", "ce", (2, 1000, 2), 16, "fast"),  # blocks of one entry each
    ("relu", "ce", (100, 60, 10), 64, "fast"),  # pairs evaluated as computed
    ("sigmoid", "ce", (50, 100, 10), 64, "fast"),  # pairs in closed form
    ("relu", "cce", (300, 200, 10), 64, "fast"),  # linear pairs, closed-form output
    ("identity", "se", (3, 30, 4), 1024, "fast"),  # many samples
    ("tanh", "cce", (5, 20, 3), 16, "plain"),  # the loop: 2P forward passes
    ("relu", "ce", (100, 400, 10), 64, "directions"),  # 10 directions
]


def _spec(act: str, loss: str, sizes: tuple[int, ...], samples: int) -> CellSpec:
    return validate(CellSpec(act=act, loss=loss, inputs=sizes[0], hidden=tuple(sizes[1:-1]),
                             outputs=sizes[-1], samples=samples))


def _best_of(runs: int, fn: Callable[[], object]) -> float:
    """The least CPU time of ``runs`` runs of ``fn``: the machine's speed, not its load (other
    processes on a busy machine stretch the wall-clock time, not this)."""
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        with np.errstate(all="ignore"):
            fn()
        times.append(time.process_time() - t0)
    return min(times)


def measure(act: str, loss: str, sizes: tuple[int, ...], samples: int, how: str
            ) -> tuple[float, float]:
    """Return (measured, estimated) seconds of one cell's check."""
    spec = _spec(act, loss, sizes, samples)
    net = network(spec, sizes[0], tuple(sizes[1:-1]), sizes[-1])
    if how == "directions":
        est = estimate_directions(net, samples, 10).seconds
        return _best_of(2, lambda: run_cell(spec, directions=10)), est
    return _best_of(2, lambda: run_cell(spec, method=how)), estimate(net, samples,
                                                                     method=how).seconds


@pytest.mark.parametrize("cell", CELLS, ids=[f"{c[0]}-{c[1]}-{c[4]}" for c in CELLS])
def test_a_check_runs_faster_than_estimated(cell: tuple) -> None:  # type: ignore[type-arg]
    """Each route's measured CPU time (best of two) is below the budget's estimate."""
    measured, estimated = measure(*cell)
    assert measured < estimated, (cell, measured, estimated)


def test_a_user_functions_check_runs_faster_than_estimated() -> None:
    """A user's function checked entry by entry (2P calls and more) beats the estimate."""
    W = np.linspace(-0.5, 0.5, 30)
    X, Y = np.linspace(-1, 1, 40).reshape(8, 5), np.linspace(0, 1, 48).reshape(8, 6)

    def f(W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        z = X @ W.reshape(5, 6)
        return float(0.5 * np.sum((z - Y) ** 2)), (X.T @ (z - Y)).ravel()

    measured = _best_of(2, lambda: check_function(f, W, X, Y, label="f"))
    assert measured < estimate_function(30, 8, 11, 30, 4 * 30).seconds


if __name__ == "__main__":
    for cell in CELLS:
        m, e = measure(*cell)
        print(f"{'-'.join(map(str, cell[2])):>18} {cell[0]:>9}/{cell[1]:<3} {cell[4]:<10} "
              f"N={cell[3]:<5} measured {m:7.3f} s  estimated {e:7.3f} s  ({e / m:4.1f}x)")
