"""Step-size sweep: the error of the central difference at many steps h, and what it says.

For a correct gradient the norm-wise relative error traces a V on log-log axes: truncation
(error ~ h^2) for large h, round-off (error ~ 1/h) for small h, and the best step where they
meet. Kinks and clamps bend it: while a stencil straddles a kink the error stays on a plateau
instead of falling like h^2. A wrong gradient is flat: no step brings the error down.

The verdict rests on the norm-wise error ``||a - n|| / (||a|| + ||n||)``: it weights entries
by their size, so its curve is smooth and its slopes are clean. The per-entry maximum is
reported too, but one tiny entry's relative error is its own round-off, which makes that
curve jagged. Slopes are fitted on the "clean" norm-wise curve: entries whose stencil
straddles a kink or crosses the clamp at that step are set aside, as ``check`` does.

The best step is, among the steps with the fewest set-aside entries, the largest whose clean
error is within ``SLACK`` of the lowest: where round-off is too small to see (the loss
differences are taken per sample, which is very accurate), the curve bottoms out on a flat
floor near machine precision, and the largest step on it is the safest choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from relu_ce_diag.check.blackbox import open_function
from relu_ce_diag.check.builtin import prologue
from relu_ce_diag.check.host import Host
from relu_ce_diag.check.pipeline import KINK, judge
from relu_ce_diag.model.precision import STEP, eps_machine
from relu_ce_diag.numeric import central_differences
from relu_ce_diag.numeric.compare import max_relative, normwise_relative
from relu_ce_diag.results.sweep import (
    FLAT_DECADES,
    NEAR,
    Fit,
    StepPoint,
    Sweep,
    Verdict,
)
from relu_ce_diag.settings.cells import Prepared

Array = np.ndarray
SLACK = 2.0  # the best step is the largest one within this factor of the lowest error
DOMINANT = 10.0  # set-aside entries dominate a step when they raise its error this much
SATURATED = 0.3  # above this the error no longer follows 1/h (numeric ~ 0 or noise)

# numeric(h) -> (numeric gradient (P,), straddle flags (P,) or None, clamp flags (P,) or None)
NumericAt = Callable[[float], tuple[Array, "Array | None", "Array | None"]]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM/SIGHUP) during a sweep: the ``points`` measured so far, the
    ``sweep`` they make (None: no step finished) and how many steps were ``planned``."""

    def __init__(self, points: Sequence[StepPoint], planned: int,
                 sweep: Sweep | None = None) -> None:
        super().__init__(f"interrupted after {len(points)} of {planned} steps")
        self.points, self.planned, self.sweep = tuple(points), planned, sweep


def with_step(steps: Sequence[float], h: float | None) -> tuple[float, ...]:
    """Add step h (if any) to ``steps``, largest first, without duplicates."""
    extra = () if h is None else (float(f"{h:.12g}"),)
    return tuple(sorted(set(steps) | set(extra), reverse=True))


def measure(analytic: Array, numeric_at: NumericAt, steps: Sequence[float]) -> list[StepPoint]:
    """Compare ``analytic`` (P,) with the numerical gradient at each step; no regions yet.
    An interrupt raises ``Interrupted`` with the points of the steps that finished."""
    a = analytic.astype(np.float64)
    out: list[StepPoint] = []
    for h in steps:
        try:
            n, straddle, clamp = numeric_at(h)
        except KeyboardInterrupt:
            raise Interrupted(out, len(steps)) from None
        n = n.astype(np.float64)
        flags = np.zeros(a.shape, dtype=bool)
        for f in (straddle, clamp):
            if f is not None:
                flags |= f
        keep = ~flags
        clean = normwise_relative(a[keep], n[keep]) if keep.any() else float("nan")
        out.append(StepPoint(
            step=float(h), normwise=normwise_relative(a, n),
            max_rel=max_relative(a, n) if np.isfinite(a).all() and np.isfinite(n).all()
            else float("inf"),
            clean=clean, straddled=None if straddle is None else int(straddle.sum()),
            clamp_crossed=None if clamp is None else int(clamp.sum()),
            flagged=int(flags.sum())))
    return out


def _fit(region: str, h: Array, e: Array) -> Fit | None:
    """Least-squares line through (log10 h, log10 e); None with fewer than two points."""
    if h.size < 2:
        return None
    x, y = np.log10(h), np.log10(e)
    xm, ym = x.mean(), y.mean()
    slope = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
    return Fit(region, slope, float(ym - slope * xm), float(h.min()), float(h.max()), int(h.size))


def _dominated(p: StepPoint) -> bool:
    """True when the entries set aside at this step carry most of its error."""
    if p.flagged == 0:
        return False
    return not np.isfinite(p.clean) or p.normwise > DOMINANT * p.clean


def classify(points: Sequence[StepPoint], eps_machine: float,
             check_step: float | None = None, black_box: bool = False) -> Sweep:
    """Label every step with its region, fit the slopes and word the verdict.

    ``black_box``: the points come from a user's function, whose kinks are known only from
    one-sided differences at W (reported as ``straddled``), and whose clamps not at all.

    (One function: the labels, the fits and the verdict read the same arrays in turn;
    split, each part would need them all.)
    """
    points = sorted(points, key=lambda p: -p.step)
    h = np.array([p.step for p in points])
    e = np.array([p.normwise for p in points])
    c = np.array([p.clean for p in points])
    flagged = np.array([p.flagged for p in points])
    ok = np.isfinite(c) & np.isfinite(e)
    if not ok.any():
        pts = tuple(_relabel(p, "non-finite") for p in points)
        v = Verdict("non-finite", None, None, None)
        return Sweep(pts, (), v, eps_machine, check_step, black_box)
    # The best step: the fewest set-aside entries first, then the lowest clean error.
    # (``points`` are ordered largest step first, so [0] below is the largest.)
    fewest = flagged[ok].min()
    cand = np.flatnonzero(ok & (flagged == fewest))
    # On a flat floor (round-off too small to see) take the largest step within SLACK of it.
    k = int(cand[c[cand] <= SLACK * c[cand].min()][0])
    best = float(c[k])
    near = ok & (c <= NEAR * best)
    span = math.log10(h[near].max() / h[near].min())
    derivation = best > eps_machine ** (1 / 3) and span >= FLAT_DECADES

    labels = []
    for i, p in enumerate(points):
        if not np.isfinite(e[i]) and not (p.flagged and np.isfinite(c[i])):
            labels.append("non-finite")
        elif derivation and near[i]:
            labels.append("derivation")
        elif _dominated(p):
            labels.append("kink" if p.straddled else "clamp")
        elif i == k:
            labels.append("best")
        elif near[i]:
            labels.append("near-best")
        else:
            labels.append("truncation" if h[i] > h[k] else "round-off")
    pts = tuple(_relabel(p, lab) for p, lab in zip(points, labels, strict=True))

    fits = []
    if not derivation:
        far = ok & (c > NEAR * best)
        for region, mask in (("truncation", far & (h > h[k])),
                             ("round-off", far & (h < h[k]) & (c < SATURATED))):
            f = _fit(region, h[mask], c[mask])
            if f is not None:
                fits.append(f)
    kinks = np.array([lab in ("kink", "clamp") for lab in labels])
    kf = _fit("kink", h[kinks & np.isfinite(e)], e[kinks & np.isfinite(e)])
    if kf is not None:
        fits.append(kf)
    swept = math.log10(h[ok].max() / h[ok].min())
    inconclusive = best > eps_machine ** (1 / 3) and not derivation and swept < FLAT_DECADES
    p = pts[k]
    if inconclusive or derivation:
        kind = "inconclusive" if inconclusive else "derivation-error"
        v = Verdict(kind, None, p.step, p.clean, k)
    else:
        kind = "kink-plateau" if p.region in ("kink", "clamp") else "v"
        v = Verdict(kind, p.step, p.step, p.clean, k)
    return Sweep(pts, tuple(fits), v, eps_machine, check_step, black_box)


def _relabel(p: StepPoint, region: str) -> StepPoint:
    return replace(p, region=region)


def sweep_prepared(prep: Prepared, steps: Sequence[float],
                   analytic: Array | None = None, method: str = "fast") -> Sweep:
    """Sweep a built-in network cell: the analytic gradient once (the cell's backprop, or
    ``analytic`` (P,) if given), one structured central difference per step."""
    net, arr = prep.net, prep.arrays
    pro = prologue(prep, analytic)

    def numeric_at(h: float) -> tuple[Array, Array | None, Array | None]:
        ng = central_differences(net, arr.W, arr.X, arr.Y, pro.fw, h, pro.scale, method=method)
        return ng.numeric, ng.straddle, ng.clamp

    check_step = prep.spec.h
    try:
        points = measure(pro.analytic, numeric_at, with_step(steps, check_step))
    except Interrupted as stop:
        raise _partial(stop, eps_machine(arr.W.dtype), check_step) from None
    return classify(points, eps_machine(arr.W.dtype), check_step)


def _partial(stop: Interrupted, eps: float, check_step: float | None,
             black_box: bool = False) -> Interrupted:
    """Return the interrupt with the sweep of the steps that finished (if any)."""
    done = classify(stop.points, eps, check_step, black_box) if stop.points else None
    return Interrupted(stop.points, stop.planned, done)


def sweep_function(host: Host, steps: Sequence[float], *,
                   check_step: float | None = None, precision: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Sweep:
    """Sweep a user's function at its point.

    First the black-box check at the check's step (determinism, precision, and the entries
    whose one-sided differences show a kink exactly at W: those are set aside at every
    step); then 2P calls per step. A black box shows no other kinks or clamps: a stencil
    that straddles a nearby kink only slows the fall of the error at large steps.
    """
    src, _ = open_function(host, precision=precision)
    h0 = check_step if check_step is not None else STEP[src.prec.name]
    kinked = judge(src, h0).kind == KINK
    swept = with_step(steps, h0)
    done = [0]
    P = src.df.size

    def numeric_at(h: float) -> tuple[Array, Array | None, Array | None]:
        n, _, _, length = src.central(np.arange(P), h)
        done[0] += 1
        if progress is not None:
            progress(done[0], len(swept))
        return np.where(length != 0, n, 0.0), kinked, None  # 0: h below W[p]'s resolution

    try:
        points = measure(src.df, numeric_at, swept)
    except Interrupted as stop:
        raise _partial(stop, src.prec.eps, h0, black_box=True) from None
    return classify(points, src.prec.eps, h0, black_box=True)
