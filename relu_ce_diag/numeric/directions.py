"""Random unit directions for a sampled check: df . v against (f(W + h v) - f(W - h v)) / 2h.

For a large network, K seeded directions cost 2K evaluations instead of 2P.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def random_directions(rng: np.random.Generator, K: int, P: int) -> Array:
    """Draw K unit-norm Rademacher directions (K, P): entries +-1/sqrt(P), so every entry of
    W moves by the same amount and a wrong entry shifts df . v by |error| / sqrt(P)."""
    bits = np.unpackbits(np.frombuffer(rng.bytes(K * P // 8 + 1), dtype=np.uint8))[:K * P]
    V = bits.reshape(K, P) * (2.0 / np.sqrt(P))  # one random bit per entry: cheap for large P
    V -= 1.0 / np.sqrt(P)
    return V


def direction_rng(seed: int) -> np.random.Generator:
    """Return the generator of the directions: seeded, independent of the data's stream."""
    return np.random.default_rng([seed, 0xD1])
