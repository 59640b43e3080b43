"""A user's ``f, df = fn(W, X, Y)`` as a source of the check: central differences of its loss.

Each check k compares the analytic slope along a direction v_k (a unit vector e_p for
entry p, or a random unit vector with ``directions``) with ``(f(W + h v) - f(W - h v)) / 2h``,
judged by the error model in the precision the function computes in, with the jitter of f
up to a few ulps of |f| in its round-off. An entry that fails is measured again at h/2
(truncation); if the jitter beyond that could explain it, it agrees (OK) or, where that
jitter is as large as the value checked, is set aside (ROUNDING); else its one-sided
differences at ever smaller steps (``check.onesided``) tell a kink at W (set aside when the
analytic value is a valid subgradient) from curvature (the mismatch stands). A loss that
does not move at all along an entry whose analytic value is not 0 is never excused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from relu_ce_diag.check.calling import Call
from relu_ce_diag.check.checked import BlackBoxInfo, Checked
from relu_ce_diag.check.host import Host
from relu_ce_diag.check.onesided import (
    NOISE_FACTOR,
    Sides,
    excess_jitter,
    explain_sides,
    flat,
)
from relu_ce_diag.check.pipeline import (
    FLAT,
    MISMATCH,
    NONFINITE,
    Differences,
    Judged,
    judge,
    rounding_kinds,
    verdict,
)
from relu_ce_diag.check.probe import (
    Precision,
    detect_precision,
    require_deterministic,
    require_finite,
)
from relu_ce_diag.errors import UserFunctionError
from relu_ce_diag.model.described import Described, fit, theta_layout
from relu_ce_diag.model.precision import STEP
from relu_ce_diag.numeric.compare import ROUNDOFF_FACTOR
from relu_ce_diag.numeric.directions import direction_rng, random_directions
from relu_ce_diag.settings.function import FunctionSpec

Array = np.ndarray
Progress = Callable[[int, int], None]
LEVELS = 10  # one-sided differences at h, h/2 ... h/1024 for a check that mismatches
BATCH_BYTES = 64 << 20  # the copies of W made for one batch of calls
LARGE_P = 20_000  # above this, the announcement suggests --directions
FIT_RTOL = {"float64": 1e-9, "float32": 1e-4}  # a description reproduces f to this


def plan(label: str, P: int, directions: int | None) -> str:
    """Say how many calls the check will make, before it starts."""
    K = directions if directions else P
    what = f"{K} random directions" if directions else f"{P} entries"
    hint = "; --directions K checks K random directions with 2K calls" \
        if not directions and P > LARGE_P else ""
    return (f"{label}: {2 * K} calls ({what} x 2), plus up to 7 to test W and its precision "
            f"and 2 more per check that needs a second step (up to {2 * (LEVELS - 1)} more to read "
            f"one-sided differences){hint}")


class _Stencil:
    """Points W + t v_k, rounded to the function's precision, and where they actually are."""

    def __init__(self, W: Array, df: Array, precision: str, V: Array | None) -> None:
        self.shape, self.dtype = W.shape, W.dtype
        narrow = precision == "float32" and W.dtype.itemsize > 4
        self.round: Callable[[Array], Array] = (
            (lambda a: a.astype(np.float32).astype(self.dtype)) if narrow else (lambda a: a))
        self.Wc = self.round(W.reshape(-1).copy())
        self.df = np.where(np.isfinite(df), df, 0.0).astype(np.float64)
        self.V = V

    def point(self, k: int, t: float) -> tuple[Array, float, float]:
        """Return (W + t v_k (shape of W), signed length moved along v_k, df . displacement)."""
        if self.V is None:
            Wt = self.Wc.copy()
            Wt[k] = self.round(np.asarray(self.Wc[k] + t, dtype=self.dtype))
            d = float(Wt[k]) - float(self.Wc[k])
            return Wt.reshape(self.shape), d, d * float(self.df[k])
        Wt = self.round((self.Wc + t * self.V[k]).astype(self.dtype))
        disp = Wt.astype(np.float64) - self.Wc.astype(np.float64)
        return Wt.reshape(self.shape), float(disp @ self.V[k]), float(disp @ self.df)


class FunctionSource:
    """Every entry (or K random directions) of a black box, one call per stencil point."""

    refine_all = False

    def __init__(self, host: Host, W: Array, df: Array, f0: float, prec: Precision,
                 V: Array | None, progress: Progress | None) -> None:
        self.host, self.W, self.df, self.f0, self.prec, self.V = host, W, df, f0, prec, V
        self.eps_machine = prec.eps
        self.st = _Stencil(W, df, prec.name, V)
        self.K = V.shape[0] if V is not None else W.size
        self.what = "entry" if V is None else "direction"
        self.progress, self.done, self.total = progress, 0, 2 * self.K
        self.left, self.right = np.full(self.K, np.nan), np.full(self.K, np.nan)
        # jitter beyond f's own rounding is not round-off the step can average out: it is
        # judged apart (``explain``), so that what it swamps is set aside, not passed
        self.excess = excess_jitter(prec.noise, prec.eps, f0)

    def _advance(self, n: int) -> None:
        self.done += n
        if self.progress is not None and self.done % 2 == 0:  # once per stencil (two calls)
            self.progress(self.done, self.total)

    def at(self, pairs: list[tuple[int, float]]) -> tuple[Array, Array, Array]:
        """Return f, the signed length moved and df . displacement at W + t v_k for each
        (k, t), in order. The points are made and sent a batch at a time (at most
        ``BATCH_BYTES`` of copies of W), not all 2P copies at once."""
        n = len(pairs)
        f, lengths, along = np.empty(n), np.empty(n), np.empty(n)
        size = max(1, BATCH_BYTES // max(1, self.st.Wc.nbytes))
        for lo in range(0, n, size):
            points = []
            for i in range(lo, min(n, lo + size)):
                k, t = pairs[i]
                Wt, lengths[i], along[i] = self.st.point(k, t)
                points.append((Wt, f"at W {'+' if t > 0 else '-'} {abs(t):g} along "
                                   f"{self.what} {k}"))
            f[lo:lo + len(points)] = self.host.losses(points, self._advance)
        return f, lengths, along

    def central(self, which: Array, t: float) -> tuple[Array, Array, Array, Array]:
        """Return the central differences at step t of the checks ``which``, their round-off
        scale, the analytic slopes and the lengths moved (0 where t vanished in W)."""
        f, L, al = self.at([(int(k), s) for k in which for s in (t, -t)])
        fp, fm, Lp, Lm = f[0::2], f[1::2], L[0::2], L[1::2]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            n = (fp - fm) / (Lp - Lm)
            scale = np.abs(fp) + np.abs(fm)
        scale = (np.where(np.isfinite(scale), scale, 0.0)
                 + NOISE_FACTOR * (self.prec.noise - self.excess) / self.prec.eps)
        a = ((al[0::2] - al[1::2]) / (Lp - Lm) if self.V is not None
             else self.df[which].astype(np.float64))
        self.sides = (fp, fm, Lp, Lm)
        return n, scale, a, Lp - Lm

    def first(self, h: float) -> Differences:
        n, scale, a, _ = self.central(np.arange(self.K), h)
        self.first_sides = self.sides
        none = np.zeros(n.size, dtype=bool)
        return Differences(n, scale, none, none, a)

    def again(self, h: float, which: Array) -> Differences:
        self.total += 2 * which.size
        n, scale, _, _ = self.central(which, h)
        self.half_sides = dict(zip(which.tolist(), zip(*self.sides, strict=True), strict=True))
        none = np.zeros(n.size, dtype=bool)
        return Differences(n, scale, none, none)

    def explain(self, which: Array, judged: Judged) -> Array:
        kinds = np.empty(which.size, dtype=np.int8)
        fp, fm, Lp, Lm = self.first_sides
        h = judged.step
        jitter = np.full(which.size, ROUNDOFF_FACTOR * NOISE_FACTOR * self.excess / h)
        by_jitter = rounding_kinds(judged.analytic[which], judged.numeric[which],
                                   judged.tol[which], jitter, jitter)
        for i, k in enumerate(which.tolist()):
            if not np.isfinite(judged.half[k]):
                kinds[i] = NONFINITE
                continue
            hp, hm, hLp, hLm = self.half_sides[k]
            sides = [Sides(self.f0, (fp[k], Lp[k]), (fm[k], Lm[k])),
                     Sides(self.f0, (hp, hLp), (hm, hLm))]
            if flat(self.f0, sides):
                self.left[k], self.right[k] = sides[1].left, sides[1].right
                kinds[i] = FLAT
            elif by_jitter[i] != MISMATCH:
                kinds[i] = by_jitter[i]
            else:
                kinds[i] = self._one_sided(k, float(judged.analytic[k]), sides, h)
        return kinds

    def _one_sided(self, k: int, a: float, sides: list[Sides], h: float) -> int:
        """Judge a mismatching check by one-sided differences at ever smaller steps."""
        kind = explain_sides(a, sides, self.prec.eps, self.prec.noise)
        while kind is None and len(sides) <= LEVELS:
            t = h / 2 ** len(sides)
            self.total += 2
            f, L, _ = self.at([(k, t), (k, -t)])
            if L[0] == 0 or L[1] == 0:
                break  # the step vanished in W: no smaller one to take
            sides.append(Sides(self.f0, (f[0], L[0]), (f[1], L[1])))
            kind = explain_sides(a, sides, self.prec.eps, self.prec.noise)
        self.left[k], self.right[k] = sides[-1].left, sides[-1].right
        return MISMATCH if kind is None else kind


def open_function(host: Host, *, precision: str | None = None,
                  directions: int | None = None, seed: int = 0,
                  progress: Progress | None = None) -> tuple[FunctionSource, Call]:
    """Call the function at its point (twice: it must be deterministic), find the precision
    it computes in, and return the source of its checks with the call at W."""
    label, W = host.label, host.point.W
    if W.dtype.kind != "f":
        W = W.astype(np.float64)
    rng = np.random.default_rng(seed)
    base = host.value_and_grad(W, "at W")
    require_finite(base, label)
    require_deterministic(base, host.value_and_grad(W, "at W (second call)"), label)
    prec = detect_precision(host, W, base, rng, precision)
    V = random_directions(direction_rng(seed), directions, W.size) if directions else None
    df = base.df.astype(np.float64)
    st = _Stencil(W, df, prec.name, V)
    f0 = base.f
    if not np.array_equal(st.Wc, W.reshape(-1)):  # the function sees W rounded to float32
        f0 = host.loss(st.Wc.reshape(W.shape), "at W")
    return FunctionSource(host, W, df, f0, prec, V, progress), base


def check_function(host: Host, *, step: float | None = None,
                   precision: str | None = None, directions: int | None = None,
                   seed: int = 0, progress: Progress | None = None,
                   described: Described | None = None, given: tuple[str, ...] = (),
                   data: str | None = None) -> Checked:
    """Check a user's gradient at its point entry by entry (2P calls) or along ``directions``
    random directions (2K calls). ``described`` is the network the user described; its
    reduction and L2 form, unless ``given``, are fitted to the function's loss, and the fitted
    description gives the exact gradient and names the entries of a flat W."""
    src, base = open_function(host, precision=precision, directions=directions, seed=seed,
                              progress=progress)
    point, label, prec, V = host.point, host.label, src.prec, src.V
    h = step if step is not None else STEP[prec.name]
    if V is None:
        _refuse_stuck(src.st, h, label, prec.name, point.layout)
    j = judge(src, h)
    what = "random directions" if V is not None else "entries"
    status, reason = verdict(j, base.f, what, "at a kink (a valid subgradient)",
                             f" ({prec.name} error model)")
    W = src.W.reshape(-1)
    fitted = exact = None
    if described is not None:
        fitted = fit(described, W, base.f, FIT_RTOL[prec.name],
                     reduction_given="reduction" in given, form_given="l2_form" in given)
        exact = fitted.loss_and_grad(W)[1] if fitted is not None else None
    info = BlackBoxInfo(prec.name, prec.eps, prec.reason, prec.noise, src.left, src.right,
                        host.calls, described, host.extra_values, fitted, host.language)
    spec = _spec(host, h, prec.name, seed, data, fitted or described)
    if V is not None:
        return Checked(f"{label} [{directions} directions]", spec, base.f, src.df, exact, W,
                       point.X, point.Y, None, "directions", j, status, reason, black=info,
                       extra=(("directions", directions), ("seed", seed)))
    layout = (theta_layout(described.net) if described is not None and
              described.layout == "theta" and len(point.layout.blocks) == 1
              else described.net.layout if described is not None and not point.named
              else point.layout)  # a flat [Theta1(:); Theta2(:)] is named by its Thetas
    return Checked(label, spec, base.f, src.df, exact, W, point.X, point.Y, layout, "entries",
                   j, status, reason, black=info)


def _refuse_stuck(st: _Stencil, h: float, label: str, precision: str, layout: Any) -> None:
    """Refuse (exit 2) a point with entries so large that W +/- h rounds back to W: their
    central difference would be 0/0, read as a non-finite loss."""
    Wc = st.Wc
    with np.errstate(over="ignore", invalid="ignore"):
        stuck = np.flatnonzero((st.round(Wc + h) == Wc) | (st.round(Wc - h) == Wc))
    if stuck.size:
        k = int(stuck[0])
        name = layout.name(k) if layout is not None else f"W[{k}]"
        more = f" (and {stuck.size - 1} more entries)" if stuck.size > 1 else ""
        raise UserFunctionError(
            f"{label}: {name} = {float(Wc[k]):.6g}{more} is so large that a step of {h:g} does "
            f"not move it in {precision}; rescale the parameters, or pass a larger --step")


def _spec(host: Host, h: float, dtype: str, seed: int, data: str | None,
          d: Described | None) -> FunctionSpec:
    """Record the settings of a user function's check (and its description, if any)."""
    X, Y = host.point.X, host.point.Y
    spec = FunctionSpec(host.label, _width(X), _width(Y), _samples(X), h, dtype, seed, data)
    if d is None:
        return spec
    net = d.net
    return replace(spec, act=net.act, out=net.out, loss=net.loss, eps=net.eps,
                   hidden=tuple(net.sizes[1:-1]), leaky_slope=net.leaky_slope,
                   relu_grad_at_zero=net.at_zero, layout=d.layout, reduction=d.reduction,
                   l2=d.l2)


def _width(a: Array) -> int:
    return int(a.shape[1]) if np.ndim(a) == 2 else 1


def _samples(a: Array) -> int:
    return int(a.shape[0]) if np.ndim(a) >= 1 else 1
