"""Write examples/seed_case.npz: the point the README's walkthrough checks the seed at.

16 samples of 5 normalised inputs, one-hot targets over 3 classes, and W for the seed's
5-100-3 relu network drawn N(0, 1/fan_in), laid out [w1(:); w2(:)] column-major. Run it
from the repository root: ``python examples/make_seed_case.py``.
"""

from pathlib import Path

import numpy as np


def make(seed: int = 0, samples: int = 16, inputs: int = 5, hidden: int = 100,
         outputs: int = 3) -> dict[str, np.ndarray]:
    """Return the arrays W (P,), X (N, n_in) and Y (N, n_out) of the walkthrough."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((samples, inputs))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    Y = np.zeros((samples, outputs))
    Y[np.arange(samples), rng.integers(outputs, size=samples)] = 1.0
    w1 = rng.standard_normal((hidden, inputs + 1)) / np.sqrt(inputs + 1)
    w2 = rng.standard_normal((outputs, hidden + 1)) / np.sqrt(hidden + 1)
    W = np.concatenate([w1.ravel(order="F"), w2.ravel(order="F")])
    return {"W": W, "X": X, "Y": Y}


if __name__ == "__main__":
    out = Path(__file__).with_name("seed_case.npz")
    np.savez(out, **make())
    print(f"wrote {out.name}")
