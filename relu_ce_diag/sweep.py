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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from relu_ce_diag.cells import Prepared
from relu_ce_diag.compare import max_relative, normwise_relative
from relu_ce_diag.errors import OptionError
from relu_ce_diag.network import backprop, deltas, forward, pack
from relu_ce_diag.numgrad import central_differences, sample_scale

Array = np.ndarray
SCHEMA = "relu-diag/sweep/1"
DEFAULT_STEPS = "1e-1:1e-12:23"
MAX_STEPS = 200
SLACK = 2.0  # the best step is the largest one within this factor of the lowest error
NEAR = 10.0  # a step is "near the best" within this factor of the best error
DOMINANT = 10.0  # set-aside entries dominate a step when they raise its error this much
SATURATED = 0.3  # above this the error no longer follows 1/h (numeric ~ 0 or noise)
FLAT_DECADES = 3.0  # a derivation error is flat over at least this many decades of h
STEPS_HELP = ("START:STOP:COUNT (log-spaced, both ends included, e.g. 1e-1:1e-12:23) or a "
              "comma list (e.g. 1e-2,1e-4,1e-6); every step in (0, 1]")

# numeric(h) -> (numeric gradient (P,), straddle flags (P,) or None, clamp flags (P,) or None)
NumericAt = Callable[[float], tuple[Array, "Array | None", "Array | None"]]


@dataclass(frozen=True)
class StepPoint:
    """The errors at one step; ``clean`` sets aside the entries flagged at this step.

    ``straddled``/``clamp_crossed`` are None when the function is a black box.
    """

    step: float
    max_rel: float
    normwise: float
    clean: float
    straddled: int | None
    clamp_crossed: int | None
    flagged: int
    region: str = ""


@dataclass(frozen=True)
class Fit:
    """A straight line log10(error) = slope * log10(h) + intercept over steps h_low..h_high."""

    region: str
    slope: float
    intercept: float
    h_low: float
    h_high: float
    points: int


@dataclass(frozen=True)
class Verdict:
    """What the curve says: ``kind`` is v, kink-plateau, derivation-error, non-finite or
    inconclusive (too few decades swept to tell a flat curve from a high one)."""

    kind: str
    recommended_step: float | None
    best_step: float | None
    best_error: float | None
    lines: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when some step gives a usable check (exit 0)."""
        return self.kind in ("v", "kink-plateau")


@dataclass(frozen=True)
class Sweep:
    """A classified sweep: one point per step (largest first), the slopes, the verdict."""

    points: tuple[StepPoint, ...]
    fits: tuple[Fit, ...]
    verdict: Verdict
    eps_machine: float
    check_step: float | None = None
    black_box: bool = False

    def fit(self, region: str) -> Fit | None:
        """Return the fit of ``region`` (truncation, round-off, kink) or None."""
        return next((f for f in self.fits if f.region == region), None)


def parse_steps(text: str, label: str = "--steps") -> tuple[float, ...]:
    """Parse START:STOP:COUNT or a comma list into distinct steps, largest first."""
    raw = str(text).strip()
    try:
        if ":" in raw:
            parts = raw.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 2 or count > MAX_STEPS or not (start > 0 and stop > 0):
                raise ValueError  # the count before logspace: 1e8 steps would take seconds
            steps = np.logspace(math.log10(start), math.log10(stop), count).tolist()
            steps[0], steps[-1] = start, stop  # the ends exactly as written
        else:
            steps = [float(s) for s in raw.split(",") if s.strip()]
    except (ValueError, OverflowError):
        raise OptionError(label, text, f"{STEPS_HELP}; at most {MAX_STEPS} steps") from None
    if not steps or any(not (math.isfinite(h) and 0 < h <= 1) for h in steps) \
            or len(steps) > MAX_STEPS:
        raise OptionError(label, text, f"{STEPS_HELP}; at most {MAX_STEPS} steps")
    return tuple(sorted({float(f"{h:.12g}") for h in steps}, reverse=True))


def with_step(steps: Sequence[float], h: float | None) -> tuple[float, ...]:
    """Add step h (if any) to ``steps``, largest first, without duplicates."""
    extra = () if h is None else (float(f"{h:.12g}"),)
    return tuple(sorted(set(steps) | set(extra), reverse=True))


def measure(analytic: Array, numeric_at: NumericAt, steps: Sequence[float]) -> list[StepPoint]:
    """Compare ``analytic`` (P,) with the numerical gradient at each step; no regions yet."""
    a = analytic.astype(np.float64)
    out = []
    for h in steps:
        n, straddle, clamp = numeric_at(h)
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
    one-sided differences at W (reported as ``straddled``), and whose clamps not at all."""
    points = sorted(points, key=lambda p: -p.step)
    h = np.array([p.step for p in points])
    e = np.array([p.normwise for p in points])
    c = np.array([p.clean for p in points])
    flagged = np.array([p.flagged for p in points])
    ok = np.isfinite(c) & np.isfinite(e)
    if not ok.any():
        pts = tuple(_relabel(p, "non-finite") for p in points)
        v = Verdict("non-finite", None, None, None, (
            "non-finite: the loss or the gradients are NaN or infinite at every step, so no "
            "step can be judged; run `relu-diag check` for the cause (log(0) with --eps 0?).",))
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
    sweep = Sweep(pts, tuple(fits), Verdict("", None, None, None, ()), eps_machine, check_step,
                  black_box)
    swept = math.log10(h[ok].max() / h[ok].min())
    inconclusive = best > eps_machine ** (1 / 3) and not derivation and swept < FLAT_DECADES
    return Sweep(pts, tuple(fits), _verdict(sweep, k, derivation, inconclusive), eps_machine,
                 check_step, black_box)


def _relabel(p: StepPoint, region: str) -> StepPoint:
    return replace(p, region=region)


def _range(hs: Sequence[float]) -> str:
    lo, hi = min(hs), max(hs)
    return f"h = {lo:.2g}" if lo == hi else f"h = {lo:.2g} to {hi:.2g}"


def _verdict(s: Sweep, k: int, derivation: bool, inconclusive: bool) -> Verdict:
    """Word the verdict from the labelled points and the fits."""
    pts = s.points
    best = pts[k]
    lines: list[str] = []
    if inconclusive:
        lines.append(
            f"inconclusive: the lowest norm-wise error is {best.clean:.2g} (at h = "
            f"{best.step:.2g}), too large for a finite-difference error, but the steps span "
            f"less than {FLAT_DECADES:g} decades, so a wrong gradient (flat error) cannot be "
            "told from a badly chosen step; sweep a wider range, e.g. --steps 1e-1:1e-12:23.")
        return Verdict("inconclusive", None, best.step, best.clean, tuple(lines))
    kink_pts = [p for p in pts if p.region in ("kink", "clamp")]
    if derivation:
        flat = [p.clean for p in pts if p.region == "derivation"]
        lines.append(
            f"derivation error: the norm-wise error stays between {min(flat):.2g} and "
            f"{max(flat):.2g} over {_range([p.step for p in pts if p.region == 'derivation'])} "
            "instead of falling with h: the analytic gradient is wrong, not the step, and no "
            "step will make the check pass. Run `relu-diag check` with these options to see "
            "which formula is wrong.")
        if s.black_box:
            lines.append("(a black box shows no kinks: a kink exactly at W also gives a flat "
                         "error; `relu-diag check --fn` tells them apart by one-sided "
                         "differences.)")
        return Verdict("derivation-error", None, best.step, best.clean, tuple(lines))
    kind = "kink-plateau" if best.region in ("kink", "clamp") else "v"
    if kind == "kink-plateau":
        what = "straddle a kink" if best.straddled else "cross the clamp"
        why = ("their one-sided derivatives at W differ and the analytic value lies between "
               "them: W sits exactly on a kink" if s.black_box else
               "a pre-activation exactly on the kink has a margin of 0")
        lines.append(
            f"kink plateau at every step: at least {best.flagged} entries {what} at every step "
            f"({why}, so no step avoids it); the norm-wise error stays near "
            f"{best.normwise:.2g}. `check` sets these entries aside (status kink); the rest "
            "is judged below.")
    elif kink_pts:
        kf = s.fit("kink")
        slope = f" (error ~ h^{kf.slope:.2f} instead of h^2)" if kf else ""
        if any(not math.isfinite(p.normwise) for p in kink_pts):
            slope = " (not finite where the stencil reaches log(0))"
        below = [p.step for p in pts if p.step < min(q.step for q in kink_pts)
                 and p.flagged == 0]
        end = (f"; below the smallest margin (h <= {max(below):.2g}) no entry is set aside "
               "and the error falls again" if below else "")
        kink = any(p.straddled for p in kink_pts)
        clamp = any(p.clamp_crossed for p in kink_pts)
        what = " or ".join(w for w, on in (("straddles a kink", kink),
                                           ("crosses the clamp", clamp)) if on)
        lines.append(f"{'kink' if kink else 'clamp'} plateau for "
                     f"{_range([p.step for p in kink_pts])}: entries whose stencil {what} "
                     f"carry the error{slope}{end}.")
    aside = " with the set-aside entries excluded" if best.flagged else ""
    for region, law in (("truncation", "h^2"), ("round-off", "1/h")):
        f = s.fit(region)
        hs = [p.step for p in pts if p.region == region]
        if f is not None:
            lines.append(f"{region} region ({_range([f.h_low, f.h_high])}): error ~ "
                         f"h^{f.slope:.2f} (expected {law}){aside}.")
        elif hs:
            lines.append(f"{region} region ({_range(hs)}): too few steps to fit a slope.")
        else:
            lines.append(f"no {region} region in the swept range.")
    near = [p.step for p in pts if p.flagged == best.flagged and p.clean <= NEAR * best.clean]
    lines.append(f"best step h = {best.step:.2g}: norm-wise error {best.clean:.2g}{aside}; "
                 f"steps {_range(near)} are within {NEAR:g}x of it.")
    if best.clean > s.eps_machine ** (1 / 3):
        lines.append(f"even the best step leaves an error of {best.clean:.2g}; expect "
                     "`check` to flag entries.")
    if s.check_step is not None:
        mine = next((p for p in pts if math.isclose(p.step, s.check_step, rel_tol=1e-9)),
                    None)
        if mine is not None and mine is not best:
            ratio = mine.clean / best.clean if best.clean > 0 else float("inf")
            lines.append(f"the check's step h = {mine.step:.2g} gives {mine.clean:.2g}, "
                         f"{ratio:.2g}x the best ({mine.region}).")
    lines.append(f"recommended: --step {best.step:.2g}")
    return Verdict(kind, best.step, best.step, best.clean, tuple(lines))


def sweep_prepared(prep: Prepared, steps: Sequence[float],
                   analytic: Array | None = None) -> Sweep:
    """Sweep a built-in network cell: the analytic gradient once (the cell's backprop, or
    ``analytic`` (P,) if given), one structured central difference per step."""
    spec, net, arr = prep.spec, prep.net, prep.arrays
    W, X, Y = arr.W, arr.X, arr.Y
    fw = forward(net, W, X, Y)
    exact_ds = deltas(net, W, fw, Y, "exact")
    if analytic is None and spec.backprop == "exact":
        analytic = pack([d.T @ ab for d, ab in zip(exact_ds, fw.inputs, strict=True)])
    elif analytic is None:
        analytic = backprop(net, W, X, Y, spec.backprop, fw=fw)[1]
    scale = sample_scale(net, fw, exact_ds)

    def numeric_at(h: float) -> tuple[Array, Array | None, Array | None]:
        ng = central_differences(net, W, X, Y, fw, h, scale)
        return ng.numeric, ng.straddle, ng.clamp

    check_step = spec.h
    points = measure(analytic, numeric_at, with_step(steps, check_step))
    return classify(points, float(np.finfo(W.dtype).eps), check_step)


def sweep_document(s: Sweep, cell_id: str, settings: dict[str, Any], n_params: int,
                   exit_code: int) -> dict[str, Any]:
    """Return the JSON-able document of a sweep, schema ``relu-diag/sweep/1``."""
    from relu_ce_diag import __version__

    v = s.verdict
    return {
        "schema": SCHEMA,
        "tool": {"name": "relu-diag", "version": __version__},
        "command": "sweep",
        "cell": {"id": cell_id, "settings": settings, "n_params": n_params},
        "black_box": s.black_box,
        "eps_machine": s.eps_machine,
        "check_step": s.check_step,
        "steps": [{"step": p.step, "normwise_rel_error": p.normwise,
                   "normwise_rel_error_clean": p.clean, "max_rel_error": p.max_rel,
                   "straddled": p.straddled, "clamp_crossed": p.clamp_crossed,
                   "set_aside": p.flagged, "region": p.region} for p in s.points],
        "fits": [{"region": f.region, "slope": f.slope, "intercept": f.intercept,
                  "h_low": f.h_low, "h_high": f.h_high, "points": f.points} for f in s.fits],
        "verdict": {"kind": v.kind, "recommended_step": v.recommended_step,
                    "best_step": v.best_step, "best_error": v.best_error,
                    "text": list(v.lines)},
        "exit_code": exit_code,
    }


def sweep_function(fn: Callable[..., Any], W: Array, X: Array, Y: Array, label: str,
                   steps: Sequence[float], *, check_step: float | None = None,
                   precision: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Sweep:
    """Sweep a user's ``f, df = fn(W, X, Y)`` (W (P,), X (N, n_in), Y (N, n_out)).

    First the black-box check at the check's step (determinism, precision, and the entries
    whose one-sided differences show a kink exactly at W: those are set aside at every
    step); then 2P calls per step. A black box shows no other kinks or clamps: a stencil
    that straddles a nearby kink only slows the fall of the error at large steps.
    """
    from relu_ce_diag.blackbox import KINK, STEPS, check_blackbox
    from relu_ce_diag.userfn import call

    W = np.asarray(W, dtype=np.float64).reshape(-1)
    h0 = check_step if check_step is not None else None
    bb = check_blackbox(fn, W, X, Y, label=label, step=h0, precision=precision)
    h0 = bb.h if h0 is None else h0
    kinked = bb.kind == KINK
    swept = with_step(steps, h0 if h0 is not None else STEPS[bb.precision.name])
    # The function sees W in its own precision: step from the rounded W, by what it sees.
    rnd = ((lambda a: a.astype(np.float32).astype(np.float64))
           if bb.precision.name == "float32" else (lambda a: a))
    Wc = rnd(W)
    done = [0]

    def f_at(w: Array) -> float:
        return call(fn, w, X, Y, label, "at a stencil point", need_grad=False).f

    def numeric_at(h: float) -> tuple[Array, Array | None, Array | None]:
        n = np.empty(W.size)
        for p in range(W.size):
            wp, wm = Wc.copy(), Wc.copy()
            wp[p:p + 1] = rnd(Wc[p:p + 1] + h)
            wm[p:p + 1] = rnd(Wc[p:p + 1] - h)
            length = wp[p] - wm[p]  # 0 when h is below the resolution of W[p]
            with np.errstate(invalid="ignore", over="ignore"):
                n[p] = (f_at(wp) - f_at(wm)) / length if length else 0.0
        done[0] += 1
        if progress is not None:
            progress(done[0], len(swept))
        return n, kinked, None

    points = measure(bb.df, numeric_at, swept)
    return classify(points, bb.precision.eps, h0, black_box=True)
