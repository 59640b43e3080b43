"""Where each entry of a flat parameter vector lives: named blocks and their index order."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Block:
    """One named array inside the flat vector: ``shape``, first flat index ``start`` and the
    order (``F`` column-major as MATLAB's ``(:)``, ``C`` row-major as NumPy's ``ravel()``)."""

    name: str
    shape: tuple[int, ...]
    start: int
    order: str = "C"

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def slice(self) -> slice:
        return slice(self.start, self.start + self.size)

    def index(self, q: int) -> tuple[int, ...]:
        """Return the multi-index of the block's q-th entry (0-based)."""
        if not self.shape:
            return ()
        order: Literal["C", "F"] = "F" if self.order == "F" else "C"
        return tuple(int(i) for i in np.unravel_index(q, self.shape, order=order))

    def flat(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Return the flat index in the whole vector of entries (i, j) of a 2-D block, in
        the block's own order (the inverse of ``index``, by arrays)."""
        order: Literal["C", "F"] = "F" if self.order == "F" else "C"
        return self.start + np.ravel_multi_index((i, j), self.shape, order=order)

    def entry(self, q: int) -> str:
        """Name the block's q-th entry: ``w1[3, 5]``, ``b2[1]``, or ``b`` for a scalar."""
        idx = self.index(q)
        return f"{self.name}[{', '.join(map(str, idx))}]" if idx else self.name


@dataclass(frozen=True)
class Layout:
    """The blocks of a parameter vector, in order and contiguous."""

    blocks: tuple[Block, ...]

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blocks)

    def block_of(self, p: int) -> Block:
        """Return the block holding flat index p."""
        starts = [b.start for b in self.blocks]
        k = bisect.bisect_right(starts, p) - 1
        if k < 0 or p >= self.size:
            raise IndexError(f"parameter index {p} is outside 0..{self.size - 1}")
        return self.blocks[k]

    def name(self, p: int) -> str:
        """Name flat index p by its block and index, e.g. ``w1[3, 5]`` (0-based)."""
        b = self.block_of(p)
        return b.entry(p - b.start)


def flat_layout(size: int, name: str = "W") -> Layout:
    """Return the layout of an unnamed vector: one block ``W`` of ``size`` entries."""
    return Layout((Block(name, (size,), 0),))
