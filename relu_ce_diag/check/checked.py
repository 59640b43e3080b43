"""The record every check produces, whatever its source: what the diagnostics and the result
builder read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from relu_ce_diag.check.pipeline import Judged
from relu_ce_diag.check.swamp import Rounding
from relu_ce_diag.model.described import Described
from relu_ce_diag.model.layout import Layout
from relu_ce_diag.model.network import Forward, Net
from relu_ce_diag.model.precision import eps_machine
from relu_ce_diag.numeric import NumGrad
from relu_ce_diag.settings.cells import CellSpec, Prepared
from relu_ce_diag.settings.function import FunctionSpec

Array = np.ndarray


@dataclass(frozen=True)
class WhiteBox:
    """The internals of a built-in network check, entry by entry: the prepared cell, its
    forward pass, the structured central differences at h and h/2, and the rounding of its
    activations (``check.swamp``)."""

    prep: Prepared
    fw: Forward
    ng: NumGrad
    half: NumGrad
    rounding: Rounding


@dataclass(frozen=True)
class BlackBoxInfo:
    """What a black-box check learned of the function: the precision it computes in (name,
    resolution ``eps``, why, the jitter ``noise`` of f), the one-sided derivatives taken at
    mismatching checks at the smallest step taken (NaN elsewhere), the number of calls, the
    network it was described
    as (None: not described) and that description fitted to its loss (None: it does not
    reproduce the loss), and how many values past (f, df) it returned."""

    precision: str
    eps: float
    reason: str
    noise: float
    left: Array
    right: Array
    calls: int
    described: Described | None = None
    extra_values: int = 0
    fitted: Described | None = None
    language: str = "numpy"


@dataclass(frozen=True)
class Checked:
    """One check of one source. ``df`` (P,) is the gradient under test, ``exact`` (P,) the
    true chain rule where relu-diag knows the network; ``judged`` holds the K compared checks
    (K = P entry by entry, named by ``layout``; K directions otherwise)."""

    id: str
    settings: CellSpec | FunctionSpec
    f: float
    df: Array
    exact: Array | None
    W: Array
    X: Array
    Y: Array
    layout: Layout | None
    mode: str
    judged: Judged
    status: str
    reason: str
    white: WhiteBox | None = None
    black: BlackBoxInfo | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def checks(self) -> int:
        """The number K of compared checks (P entries, or K directions)."""
        return int(self.judged.kind.size)

    def name(self, k: int) -> str:
        """Name check k: ``w1[3, 5]`` by the layout, or ``direction k``."""
        if self.mode == "directions" or self.layout is None:
            return f"direction {k}"
        return self.layout.name(k)

    # The built-in network's internals, as the diagnostics read them (entries mode only).
    @property
    def entries(self) -> bool:
        return self.mode == "entries"

    @property
    def prep(self) -> Prepared:
        assert self.white is not None
        return self.white.prep

    @property
    def net(self) -> Net:
        return self.prep.net

    @property
    def fw(self) -> Forward:
        assert self.white is not None
        return self.white.fw

    @property
    def ng(self) -> NumGrad:
        assert self.white is not None
        return self.white.ng

    @property
    def numeric_half(self) -> Array:
        assert self.white is not None
        return self.white.half.numeric

    @property
    def analytic(self) -> Array:
        return self.judged.analytic

    @property
    def tol(self) -> Array:
        return self.judged.tol

    @property
    def set_aside(self) -> Array:
        return self.judged.set_aside

    @property
    def mismatched(self) -> Array:
        return self.judged.mismatched

    @property
    def h(self) -> float:
        return self.judged.step

    @property
    def eps_machine(self) -> float:
        return eps_machine(self.W.dtype)
