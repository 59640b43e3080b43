"""What a rule sees: the checked cell, plus facts several rules share, each computed once."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from relu_ce_diag.check.checked import Checked
from relu_ce_diag.model.network import Net

Array = np.ndarray
T = TypeVar("T")


class Context:
    """A checked cell as the rules read it: every attribute of the ``Checked`` record, and
    the facts more than one rule needs (the attribution, the saturated units, the clamp
    masks), computed on first use and kept for the other rules of the same cell. The
    context is the diagnostics' own object: the checked record is never changed."""

    def __init__(self, checked: Checked) -> None:
        self.checked = checked
        self._facts: dict[Callable[[Context], Any], Any] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.checked, name)
        self.__dict__[name] = value  # the record is frozen: the next look-up is a plain one
        return value

    @property
    def white_entries(self) -> bool:
        """True for the built-in network checked entry by entry (its internals are known)."""
        return self.checked.white is not None and self.checked.entries

    def once(self, fact: Callable[[Context], T]) -> T:
        """Return ``fact(self)``, computed on the first call for this cell only (the
        attribution, say, which several rules quote)."""
        if fact not in self._facts:
            self._facts[fact] = fact(self)
        return self._facts[fact]  # type: ignore[no-any-return]

    @cached_property
    def clamp(self) -> tuple[Array, Array, Array]:
        """(y <= eps, 1 - y <= eps, clamp active in the loss), each (N, n_out)."""
        net = self.net
        return net.loss_fn.clamp_masks(self.fw.y, self.prep.arrays.Y, net.eps)


def unit_name(net: Net, layer: int, unit: int) -> str:
    """Name unit ``unit`` of 0-based weight layer ``layer``: ``h1[3]`` or ``out[0]``."""
    return f"out[{unit}]" if layer == net.last else f"h{layer + 1}[{unit}]"


def listing(items: list[str], limit: int = 4) -> str:
    """Join the first ``limit`` items with commas and say how many more there are."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")

