"""Random unit directions for a sampled check: df . v against (f(W + h v) - f(W - h v)) / 2h.

For a large network, K seeded directions cost 2K evaluations instead of 2P. The directions
are never stored together: ``Directions`` draws row k when asked, from a generator seeded by
the run's seed and k alone, so any row is reproducible on its own and memory stays one row
(P,) whatever K is.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

Array = np.ndarray


class Directions:
    """K unit-norm Rademacher directions of length P, drawn row by row on demand.

    ``V[k]`` is row k (P,) float64, entries +-1/sqrt(P): every entry of W moves by the same
    amount, so a wrong entry shifts df . v by |error| / sqrt(P). ``V.shape`` is (K, P). The
    last row drawn is kept, since a check reads each row a few times in a row."""

    def __init__(self, key: tuple[int, ...], K: int, P: int) -> None:
        self.key, self.shape = key, (K, P)
        self._last: tuple[int, Array] | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, k: int) -> Array:
        K, P = self.shape
        k = int(k)
        if not -K <= k < K:
            raise IndexError(f"direction {k} is outside 0..{K - 1}")
        k %= K
        if self._last is None or self._last[0] != k:
            self._last = (k, self._draw(k))
        return self._last[1]

    def _draw(self, k: int) -> Array:
        P = self.shape[1]
        rng = np.random.default_rng([*self.key, k])
        bits = np.unpackbits(np.frombuffer(rng.bytes(P // 8 + 1), dtype=np.uint8))[:P]
        row = bits * (2.0 / np.sqrt(P))  # one random bit per entry: cheap for large P
        row -= 1.0 / np.sqrt(P)
        row.flags.writeable = False  # the kept row is shared by every reader
        return row

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        """Return all K rows as one (K, P) array (for tests and small K only)."""
        V = np.array([self[k] for k in range(self.shape[0])]).reshape(self.shape)
        return V if dtype is None else V.astype(dtype)


def random_directions(rng: np.random.Generator, K: int, P: int) -> Array:
    """Return K unit-norm Rademacher directions (K, P), drawn lazily: the key of row k is
    taken once from ``rng``, then row k depends on that key and k only.

    The result is a ``Directions``; it is typed as the (K, P) array it stands for, whose
    interface (``V[k]``, ``V.shape``, ``np.asarray(V)``) its callers use."""
    key = tuple(int(w) for w in rng.integers(0, 2**63, size=2))
    return cast(Array, Directions(key, K, P))


def direction_rng(seed: int) -> np.random.Generator:
    """Return the generator of the directions: seeded, independent of the data's stream."""
    return np.random.default_rng([seed, 0xD1])
