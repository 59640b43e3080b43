"""The built-in network as a source of f and df: one prologue, then every entry or K directions.

relu-diag sees inside its own network, so its central differences know exactly which steps
straddle a kink or cross the clamp, and the exact chain rule is at hand beside the backprop
under test. A mismatching check is explained from what is seen: a stencil that straddles a
kink at h, h/2 and h/4 whose differences converge like h has the kink exactly at W and is
compared with their limit (``pipeline.at_kink_agrees``); one that straddles otherwise, or
crosses the clamp, is set aside; one the rounding of activations near their bound can
explain (``check.swamp``) is compared again on the samples rounding does not swamp, and set
aside where that rounding is as large as the value checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from relu_ce_diag.check.checked import Checked, WhiteBox
from relu_ce_diag.check.pipeline import (
    KINK,
    MISMATCH,
    OK,
    Differences,
    Judged,
    at_kink_agrees,
    flagged_kinds,
    judge,
    rounding_kinds,
    verdict,
)
from relu_ce_diag.check.swamp import (
    Rounding,
    Split,
    activation_rounding,
    entry_rounding,
    entry_split,
    per_sample_slopes,
)
from relu_ce_diag.model.network import Forward, backprop, deltas, forward, pack, weight_grads
from relu_ce_diag.model.precision import eps_machine
from relu_ce_diag.numeric import NumGrad, Stencils, sample_scale
from relu_ce_diag.numeric.compare import ROUNDOFF_FACTOR
from relu_ce_diag.numeric.directions import direction_rng, random_directions
from relu_ce_diag.numeric.plain import crossings
from relu_ce_diag.settings.cells import Prepared

Array = np.ndarray
KINK_WORDS = "where the step straddles a kink"


def _settle(kinds: Array, which: Array, at_w: Array, judged: Judged,
            quarter: Callable[[Array, float], tuple[Array, Array]], eps: float,
            rounding: Callable[[Array, Judged], Array]) -> Array:
    """Settle checks ``which`` (for entries and directions alike): a kink at W (``at_w``) still
    straddling and agreeing with the limit at h/4 (``quarter``) is OK; a mismatch, rounding."""
    if at_w.any():
        q = which[at_w]
        n4, st4 = quarter(q, judged.step / 4)
        agrees = st4 & at_kink_agrees(judged.analytic[q], (judged.numeric[q], judged.half[q], n4),
                                      judged.scale[q], judged.step, eps)
        kinds[np.flatnonzero(at_w)[agrees]] = OK
    miss = np.flatnonzero(kinds == MISMATCH)
    if miss.size:
        kinds[miss] = rounding(which[miss], judged)
    return kinds


@dataclass(frozen=True)
class Prologue:
    """The forward pass at W, the exact gradient (P,), the gradient under test (P,), the
    per-sample round-off scale (N,) of a prepared cell, the rounding of its activations, and
    the deltas of the backprop under test (None for a given gradient; ``verify``: see ds)."""

    fw: Forward
    exact: Array
    analytic: Array
    scale: Array
    rounding: Rounding
    under_test: list[Array] | None
    verify: bool = False

    @cached_property
    def ds(self) -> list[Array] | None:
        """dL/dz per layer of the backprop under test; None when it cannot be cut by samples
        (a given gradient, or one its deltas do not add up to, checked on first use)."""
        if self.under_test is None or not self.verify or np.array_equal(
                pack(weight_grads(self.under_test, self.fw)), self.analytic, equal_nan=True):
            return self.under_test
        return None


def prologue(prep: Prepared, analytic: Array | None = None) -> Prologue:
    """Run the forward pass and both backprops of a prepared cell; ``analytic`` (P,) replaces
    the cell's own backprop (a user's gradient checked on the built-in network)."""
    spec, net, arr = prep.spec, prep.net, prep.arrays
    W, X, Y = arr.W, arr.X, arr.Y
    fw = forward(net, W, X, Y)
    exact_ds = deltas(net, W, fw, Y, "exact")
    exact = pack(weight_grads(exact_ds, fw))
    ds: list[Array] | None = None
    if analytic is not None:
        analytic = np.asarray(analytic, dtype=W.dtype)
    elif spec.backprop == "exact":
        analytic, ds = exact, exact_ds
    else:  # the backprop under test, from the deltas kept for the samples
        ds = deltas(net, W, fw, Y, spec.backprop)
        analytic = backprop(net, W, X, Y, spec.backprop, fw=fw, ds=ds)[1]
    scale = sample_scale(net, fw, exact_ds)
    return Prologue(fw, exact, analytic, scale,
                    activation_rounding(net, W, fw, Y, exact_ds, scale), ds,
                    verify=ds is not None and ds is not exact_ds)


class _Entries:
    """Every entry of the built-in network, by structured central differences (cheap, so
    the second step is taken for all of them)."""

    refine_all = True

    def __init__(self, prep: Prepared, pro: Prologue, method: str) -> None:
        self.prep, self.pro, arr = prep, pro, prep.arrays
        self.eps_machine = eps_machine(arr.W.dtype)
        self.steps: dict[float, NumGrad] = {}  # h, h/2 (and h/4) of one point: one Stencils
        self.stencils = Stencils(prep.net, arr.W, arr.X, arr.Y, pro.fw, pro.scale, method=method)

    def numgrad(self, h: float) -> NumGrad:
        if h not in self.steps:
            self.steps[h] = self.stencils.at(h)
        return self.steps[h]

    def first(self, h: float) -> Differences:
        ng = self.numgrad(h)
        return Differences(ng.numeric, ng.scale, ng.straddle, ng.clamp, self.pro.analytic)

    def again(self, h: float, which: Array) -> Differences:
        ng = self.numgrad(h)
        if which.size == ng.numeric.size:  # judge asks for all of them in order, or a subset
            return Differences(ng.numeric, ng.scale, ng.straddle, ng.clamp)
        return Differences(ng.numeric[which], ng.scale[which], ng.straddle[which],
                           ng.clamp[which])

    def explain(self, which: Array, judged: Judged) -> Array:
        kinds = flagged_kinds(judged.straddle[which], judged.clamp[which])  # at h, not h/2
        at_w = (kinds == KINK) & judged.half_straddle[which]
        def quarter(q: Array, h4: float) -> tuple[Array, Array]:
            n4 = self.numgrad(h4)
            return n4.numeric[q], n4.straddle[q]
        return _settle(kinds, which, at_w, judged, quarter, self.eps_machine, self._rounding)

    def _rounding(self, which: Array, judged: Judged) -> Array:
        """Judge mismatching entries the rounding of activations could explain: again on the
        samples it does not swamp (when the backprop under test can be cut by samples)."""
        pro, h = self.pro, judged.step
        R = entry_rounding(self.prep.net, pro.fw, pro.rounding)[which]
        bound = ROUNDOFF_FACTOR * self.eps_machine * R / h
        kinds = rounding_kinds(judged.analytic[which], judged.numeric[which],
                               judged.tol[which], _measured(bound, pro.exact[which],
                                                            judged.numeric[which]), bound)
        if pro.ds is None:
            return kinds
        net, arr = self.prep.net, self.prep.arrays
        for k in np.flatnonzero(kinds != MISMATCH):
            split = entry_split(net, arr.W, pro.fw, arr.Y, pro.ds, pro.rounding,
                                int(which[k]), h)
            if split.swamped[split.touched].any() and not split.clean_agrees(
                    h, self.eps_machine):
                kinds[k] = MISMATCH
        return kinds


def _measured(bound: Array, exact: Array, numeric: Array) -> Array:
    """Return how far rounding moved each difference, as far as can be told: no more than the
    activations' rounding ``bound`` allows, and no more than the difference is off from the
    exact chain rule, which relu-diag knows (a mismatch beyond that is not rounding's)."""
    with np.errstate(invalid="ignore", over="ignore"):
        off = np.abs(exact.astype(np.float64) - numeric.astype(np.float64))
    return np.minimum(bound, np.where(np.isfinite(off), off, 0.0))


def check_entries(prep: Prepared, cell_id: str, analytic: Array | None = None,
                  method: str = "fast") -> Checked:
    """Check the backprop of a prepared cell (or a given ``analytic`` (P,)) entry by entry."""
    pro = prologue(prep, analytic)
    src = _Entries(prep, pro, method)
    h = prep.spec.h
    j = judge(src, h)
    status, reason = verdict(j, pro.fw.f, "entries", KINK_WORDS)
    arr = prep.arrays
    return Checked(cell_id, prep.spec, pro.fw.f, pro.analytic, pro.exact, arr.W, arr.X, arr.Y,
                   prep.net.layout, "entries", j, status, reason,
                   white=WhiteBox(prep, pro.fw, src.numgrad(h), src.numgrad(h / 2),
                                  pro.rounding))


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
        kinds = flagged_kinds(judged.straddle[which] | judged.half_straddle[which],
                              judged.clamp[which] | judged.half_clamp[which])
        at_w = (kinds == KINK) & judged.straddle[which] & judged.half_straddle[which]
        def quarter(q: Array, h4: float) -> tuple[Array, Array]:
            n4, _, st4, _ = self._many(q, h4)
            return n4, st4
        return _settle(kinds, which, at_w, judged, quarter, self.eps_machine, self._rounding)

    def _rounding(self, which: Array, judged: Judged) -> Array:
        """Judge mismatching directions the rounding of activations could explain: again on
        the samples it does not swamp."""
        pro, h = self.pro, judged.step
        everywhere = pro.rounding.everywhere
        bound = np.full(which.size, ROUNDOFF_FACTOR * self.eps_machine
                        * 2.0 * float(everywhere.sum()) / h)
        g = pro.exact.astype(np.float64)
        exact = np.array([self.V[k] @ g for k in which])  # rows drawn one at a time
        kinds = rounding_kinds(judged.analytic[which], judged.numeric[which], judged.tol[which],
                               _measured(bound, exact, judged.numeric[which]), bound)
        swamped = everywhere > pro.rounding.scale
        if pro.ds is None or not swamped.any():
            return kinds
        for k in np.flatnonzero(kinds != MISMATCH):
            if not self._split(int(which[k]), h, swamped).clean_agrees(h, self.eps_machine):
                kinds[k] = MISMATCH
        return kinds

    def _split(self, k: int, h: float, swamped: Array) -> Split:
        """Cut direction k by samples: per-sample losses from two forward passes per step,
        divided by the length actually moved (as ``_measure`` does)."""
        net, arr, pro = self.prep.net, self.prep.arrays, self.pro
        assert pro.ds is not None
        cuts = []
        for t in (h, h / 2):
            disp = (t * self.V[k]).astype(arr.W.dtype)
            Wp, Wm = arr.W + disp, arr.W - disp
            moved = Wp.astype(np.float64) - Wm.astype(np.float64)
            length = float(moved @ self.V[k])
            with np.errstate(all="ignore"):
                fp = forward(net, Wp, arr.X, arr.Y).terms.sum(axis=1)
                fm = forward(net, Wm, arr.X, arr.Y).terms.sum(axis=1)
                cuts.append(((fp - fm) / length,
                             per_sample_slopes(net, pro.fw, pro.ds, moved) / length))
        return Split(cuts[0][1], cuts[0][0], cuts[1][0], np.ones(swamped.size, dtype=bool),
                     2.0 * (pro.scale + pro.rounding.everywhere), swamped)


def check_directions(prep: Prepared, cell_id: str, K: int) -> Checked:
    """Check the cell's backprop along K seeded random directions (2K forward passes, plus
    2 more per direction that fails at the first step)."""
    pro = prologue(prep)
    W = prep.arrays.W
    V = random_directions(direction_rng(prep.spec.seed), K, W.size)
    j = judge(_Directions(prep, pro, V), prep.spec.h)
    status, reason = verdict(j, pro.fw.f, "random directions", KINK_WORDS)
    arr = prep.arrays
    return Checked(f"{cell_id} [{K} directions]", prep.spec, pro.fw.f, pro.analytic, pro.exact,
                   W, arr.X, arr.Y, None, "directions", j, status, reason,
                   extra=(("directions", K), ("seed", prep.spec.seed)))
