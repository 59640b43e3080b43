"""Write kink_at_zero.npz: a small relu network whose hidden pre-activations are exactly 0.

Every number is a multiple of 1/8, so the sums below are exact in floating point. Hidden unit
2 computes x0 - x1 and unit 4 computes x2 + x3 - 1; the samples with x0 == x1 (or
x2 + x3 == 1) put those pre-activations exactly on the ReLU kink. All other pre-activations
stay at least 1/16 away from 0, far beyond any finite-difference step.

Run from the repository root: ``python scripts/make_kink_at_zero.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_IN, N_HID, N_OUT, N = 4, 6, 3, 8
MARGIN = 1.0 / 16


def build(seed: int = 7) -> dict[str, np.ndarray]:
    """Return arrays X (8, 4), Y (8, 3) one-hot and W (51,) in the seed's layout."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-8, 9, size=(N, N_IN)) / 8.0
    X[[0, 3, 5], 1] = X[[0, 3, 5], 0]          # x0 == x1: unit 2 sits at 0
    X[[1, 6], 3] = 1.0 - X[[1, 6], 2]          # x2 + x3 == 1: unit 4 sits at 0
    Y = np.zeros((N, N_OUT))
    Y[np.arange(N), rng.integers(N_OUT, size=N)] = 1.0
    w1 = np.zeros((N_HID, N_IN + 1))
    w1[2] = [1.0, -1.0, 0.0, 0.0, 0.0]
    w1[4] = [0.0, 0.0, 1.0, 1.0, -1.0]
    for u in (0, 1, 3, 5):
        while True:  # redraw until every sample is clearly on one side of the kink
            w1[u] = rng.integers(-8, 9, size=N_IN + 1) / 8.0
            z = X @ w1[u, :-1] + w1[u, -1]
            if np.abs(z).min() >= MARGIN and (z > 0).any():
                break
    w2 = rng.integers(-8, 9, size=(N_OUT, N_HID + 1)) / 8.0
    w2[:, [2, 4]] = [[1.0, -1.0], [-1.0, 0.5], [0.5, 1.0]]  # the kinked units reach the loss
    W = np.concatenate([w1.ravel(order="F"), w2.ravel(order="F")])
    return {"X": X, "Y": Y, "W": W}


def main() -> None:
    """Write the arrays next to this script."""
    out = Path(__file__).resolve().parents[1] / "configs" / "data" / "kink_at_zero.npz"
    np.savez(out, **build())
    print(f"wrote {out.name}")


if __name__ == "__main__":
    main()
