"""The built-in network as a source of f and df: one prologue, then every entry or K directions.

relu-diag sees inside its own network, so its central differences know exactly which steps
straddle a kink or cross the clamp, and the exact chain rule is at hand beside the backprop
under test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relu_ce_diag.check.checked import Checked, WhiteBox
from relu_ce_diag.check.pipeline import (
    Differences,
    Judged,
    flagged_kinds,
    judge,
    verdict,
)
from relu_ce_diag.model.network import (
    Forward,
    backprop,
    deltas,
    forward,
    pack,
    weight_grads,
)
from relu_ce_diag.model.precision import eps_machine
from relu_ce_diag.numeric import NumGrad, central_differences, sample_scale
from relu_ce_diag.numeric.directions import direction_rng, random_directions
from relu_ce_diag.numeric.plain import crossings
from relu_ce_diag.settings.cells import Prepared

Array = np.ndarray
ASIDE_WORDS = "where the step straddles a kink or the clamp"


@dataclass(frozen=True)
class Prologue:
    """The forward pass at W, the exact gradient (P,), the gradient under test (P,) and the
    per-sample round-off scale (N,) of a prepared cell."""

    fw: Forward
    exact: Array
    analytic: Array
    scale: Array


def prologue(prep: Prepared, analytic: Array | None = None) -> Prologue:
    """Run the forward pass and both backprops of a prepared cell; ``analytic`` (P,) replaces
    the cell's own backprop (a user's gradient checked on the built-in network)."""
    spec, net, arr = prep.spec, prep.net, prep.arrays
    W, X, Y = arr.W, arr.X, arr.Y
    fw = forward(net, W, X, Y)
    exact_ds = deltas(net, W, fw, Y, "exact")
    exact = pack(weight_grads(exact_ds, fw))
    if analytic is not None:
        analytic = np.asarray(analytic, dtype=W.dtype)
    elif spec.backprop == "exact":
        analytic = exact
    else:
        analytic = backprop(net, W, X, Y, spec.backprop, fw=fw)[1]
    return Prologue(fw, exact, analytic, sample_scale(net, fw, exact_ds))


class _Entries:
    """Every entry of the built-in network, by structured central differences (cheap, so
    the second step is taken for all of them)."""

    refine_all = True

    def __init__(self, prep: Prepared, pro: Prologue, method: str) -> None:
        self.prep, self.pro, self.method = prep, pro, method
        self.eps_machine = eps_machine(prep.arrays.W.dtype)
        self.steps: dict[float, NumGrad] = {}

    def numgrad(self, h: float) -> NumGrad:
        if h not in self.steps:
            arr = self.prep.arrays
            self.steps[h] = central_differences(self.prep.net, arr.W, arr.X, arr.Y,
                                                self.pro.fw, h, self.pro.scale,
                                                method=self.method)
        return self.steps[h]

    def first(self, h: float) -> Differences:
        ng = self.numgrad(h)
        return Differences(ng.numeric, ng.scale, ng.straddle, ng.clamp, self.pro.analytic)

    def again(self, h: float, which: Array) -> Differences:
        ng = self.numgrad(h)
        return Differences(ng.numeric[which], ng.scale[which], ng.straddle[which],
                           ng.clamp[which])

    def explain(self, which: Array, judged: Judged) -> Array:
        # set aside only where the check's own step crossed (h/2 alone does not excuse)
        return flagged_kinds(judged.straddle[which], judged.clamp[which])


def check_entries(prep: Prepared, cell_id: str, analytic: Array | None = None,
                  method: str = "fast") -> Checked:
    """Check the backprop of a prepared cell (or a given ``analytic`` (P,)) entry by entry."""
    pro = prologue(prep, analytic)
    src = _Entries(prep, pro, method)
    h = prep.spec.h
    j = judge(src, h)
    status, reason = verdict(j, pro.fw.f, "entries", ASIDE_WORDS)
    arr = prep.arrays
    return Checked(cell_id, prep.spec, pro.fw.f, pro.analytic, pro.exact, arr.W, arr.X, arr.Y,
                   prep.net.layout, "entries", j, status, reason,
                   white=WhiteBox(prep, pro.fw, src.numgrad(h), src.numgrad(h / 2)))


class _Directions:
    """K seeded random directions of the built-in network: two forward passes each, which
    also tell whether the stencil crossed a kink or the clamp."""

    refine_all = False

    def __init__(self, prep: Prepared, pro: Prologue, V: Array) -> None:
        self.prep, self.pro, self.V = prep, pro, V
        W = prep.arrays.W
        self.eps_machine = eps_machine(W.dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            self.scale = 2.0 * float(pro.scale.sum())
        self.a64 = pro.analytic.astype(np.float64)
        # reused buffers: no page faults for a large W
        self.Wp, self.Wm, self.disp = np.empty_like(W), np.empty_like(W), np.empty(W.size)

    def _measure(self, k: int, t: float) -> tuple[float, float, bool, bool]:
        net, arr = self.prep.net, self.prep.arrays
        np.multiply(self.V[k], t, out=self.disp)
        np.add(arr.W, self.disp, out=self.Wp, casting="unsafe")
        np.subtract(arr.W, self.disp, out=self.Wm, casting="unsafe")
        fp, fm = forward(net, self.Wp, arr.X, arr.Y), forward(net, self.Wm, arr.X, arr.Y)
        # the displacement actually taken (rounded), not 2 t v: it matters for large P
        np.subtract(self.Wp, self.Wm, out=self.disp, casting="unsafe")
        length = float(self.disp @ self.V[k])
        with np.errstate(invalid="ignore", over="ignore"):
            n = (fp.f - fm.f) / length
        return n, float(self.a64 @ self.disp) / length, *crossings(net, fp, fm)

    def _many(self, which: Array, t: float) -> tuple[Array, Array, Array, Array]:
        got = [self._measure(int(k), t) for k in which]
        n, a, st, cl = (np.array(col) for col in zip(*got, strict=True)) if got else (
            np.empty(0), np.empty(0), np.zeros(0, bool), np.zeros(0, bool))
        return n, a, st.astype(bool), cl.astype(bool)

    def first(self, h: float) -> Differences:
        n, a, st, cl = self._many(np.arange(self.V.shape[0]), h)
        return Differences(n, np.full(n.size, self.scale), st, cl, a)

    def again(self, h: float, which: Array) -> Differences:
        n, _, st, cl = self._many(which, h)
        return Differences(n, np.full(n.size, self.scale), st, cl)

    def explain(self, which: Array, judged: Judged) -> Array:
        return flagged_kinds(judged.straddle[which] | judged.half_straddle[which],
                             judged.clamp[which] | judged.half_clamp[which])


def check_directions(prep: Prepared, cell_id: str, K: int) -> Checked:
    """Check the cell's backprop along K seeded random directions (2K forward passes, plus
    2 more per direction that fails at the first step)."""
    pro = prologue(prep)
    W = prep.arrays.W
    V = random_directions(direction_rng(prep.spec.seed), K, W.size)
    j = judge(_Directions(prep, pro, V), prep.spec.h)
    status, reason = verdict(j, pro.fw.f, "random directions",
                             "where the step crosses a kink or the clamp")
    arr = prep.arrays
    return Checked(f"{cell_id} [{K} directions]", prep.spec, pro.fw.f, pro.analytic, pro.exact,
                   W, arr.X, arr.Y, None, "directions", j, status, reason,
                   extra=(("directions", K), ("seed", prep.spec.seed)))
