"""Check a black-box ``f, df = fn(W, X, Y)`` against central differences of its own loss.

Each check k compares the analytic slope along a direction v_k (a unit vector e_p for
entry p, or a random unit vector with ``directions``) with ``(f(W + h v) - f(W - h v)) / 2h``,
judged by :func:`compare.tolerance` in the precision the function computes in. An entry that
fails is measured again at h/2 (truncation), then with one-sided differences: it is set aside
as a kink only when the analytic value lies between the left and right derivatives and these
really differ. A loss that does not move at all along an entry whose analytic value is not 0
is never excused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.compare import ROUNDOFF_FACTOR, ULP_FACTOR, compare, tolerance
from relu_ce_diag.directional import direction_rng, random_directions
from relu_ce_diag.errors import UserFunctionError
from relu_ce_diag.userfn import Call, GradFn, call

Array = np.ndarray
Progress = Callable[[int, int], None]
OK, KINK, MISMATCH, FLAT, NONFINITE = 0, 1, 2, 3, 4
KIND_NAMES = ("ok", "kink", "mismatch", "flat", "nonfinite")
STEPS = {"float64": 1e-6, "float32": 1e-2}
LEVELS = 6  # one-sided differences at h/2 ... h/64 for a check that mismatches
LARGE_P = 20_000  # above this, the announcement suggests --directions
PROBE_INCREMENT = 3e-11  # relative loss change per probe step: float64 resolves it, float32 not
PROBE_STEPS = 5
NOISE_FACTOR = 2.0  # the probe sees a few increments; the 2P calls may jitter somewhat more


@dataclass(frozen=True)
class Precision:
    """The precision the function computes in: ``name`` (float64|float32), the relative
    resolution ``eps`` used by the error model, why it was chosen, and the measured jitter
    ``noise`` of f near W (absolute; it adds to the round-off when larger than eps |f|)."""

    name: str
    eps: float
    reason: str
    noise: float = 0.0


@dataclass(frozen=True)
class BlackBox:
    """Outcome of a black-box check; per-check arrays have shape (K,), K = P for entries.

    ``kind`` holds OK, KINK, MISMATCH, FLAT or NONFINITE per check; ``left``/``right`` the
    one-sided derivatives where they were taken (NaN elsewhere); ``directions`` is (K, P)
    in ``directions`` mode, else None.
    """

    label: str
    f: float
    df: Array
    precision: Precision
    h: float
    analytic: Array
    numeric: Array
    tol: Array
    kind: Array
    left: Array
    right: Array
    calls: int
    directions: Array | None = None

    @property
    def mode(self) -> str:
        return "entries" if self.directions is None else "directions"


def plan(label: str, P: int, directions: int | None) -> str:
    """Say how many calls the check will make, before it starts."""
    K = directions if directions else P
    what = f"{K} random directions" if directions else f"{P} entries"
    hint = "; --directions K checks K random directions with 2K calls" \
        if not directions and P > LARGE_P else ""
    return (f"{label}: {2 * K} calls ({what} x 2), plus up to 7 to test W and its precision "
            f"and 2 more per check that needs a second step{hint}")


def _representable32(values: Array) -> bool:
    """True when every value survives a round trip through float32 and some are not trivial."""
    v = values[np.isfinite(values)]
    nontrivial = v[(v != 0) & (v != np.round(v))]
    return nontrivial.size >= 2 and bool(np.all(v.astype(np.float32).astype(np.float64) == v))


@dataclass(frozen=True)
class _Probe:
    """What tiny equal steps along a random direction show: ``coarse`` when f does not move
    in equal increments (None: no information), ``noise`` the largest deviation of one
    increment from their median (the jitter of f near W, e.g. from 1 - y rounding)."""

    coarse: bool | None
    noise: float = 0.0


def _probe(fn: GradFn, W: Array, X: Array, Y: Array, base: Call, label: str,
           rng: np.random.Generator) -> _Probe:
    """Step W PROBE_STEPS times along a random direction, each step moving f by about
    PROBE_INCREMENT relative: float64 resolves that in equal increments, float32 does not."""
    df = np.where(np.isfinite(base.df), base.df, 0.0).astype(np.float64)
    v = rng.standard_normal(W.size)
    g = float(df @ v)
    if base.f == 0 or g == 0:
        return _Probe(None)
    s = PROBE_INCREMENT * abs(base.f) / abs(g)
    Wf = W.reshape(-1).astype(np.float64)
    fs = [base.f]
    for j in range(1, PROBE_STEPS + 1):
        Wj = np.asarray(Wf + (j * s) * v, dtype=W.dtype).reshape(W.shape)
        fs.append(call(fn, Wj, X, Y, label, "at a precision probe", need_grad=False).f)
    inc = np.diff(np.array(fs))
    if not np.all(np.isfinite(inc)):
        return _Probe(None)
    if np.all(inc == 0):
        return _Probe(True)
    dev = float(np.max(np.abs(inc - np.median(inc))))
    if dev > 0.25 * float(np.max(np.abs(inc))):
        return _Probe(True)
    return _Probe(False, dev)


def detect_precision(fn: GradFn, W: Array, X: Array, Y: Array, base: Call, label: str,
                     rng: np.random.Generator, forced: str | None = None) -> Precision:
    """Decide whether ``fn`` computes in float64 or float32 and measure the jitter of f
    (PROBE_STEPS extra calls at most); ``forced`` fixes the precision."""
    eps32, eps64 = float(np.finfo(np.float32).eps), float(np.finfo(np.float64).eps)
    if forced == "float32":
        return Precision("float32", eps32, "as requested")
    low = [d for d in (base.f_dtype, base.df_dtype, W.dtype) if d.kind == "f" and d.itemsize <= 4]
    if low and forced is None:
        return Precision("float32", eps32, f"it returns or receives {low[0]} values")
    if forced is None and _representable32(np.append(base.df.astype(np.float64), base.f)):
        return Precision("float32", eps32, "every value it returns is exactly a float32")
    probe = _probe(fn, W, X, Y, base, label, rng)
    if probe.coarse and forced is None:
        return Precision("float32", eps32, "its loss moves only in steps of ~1e-7 relative")
    why = "as requested" if forced else "float64 values that resolve changes far below float32's"
    return Precision("float64", eps64, why, probe.noise)


class _Stencil:
    """Points W + t v_k, rounded to the function's precision, and where they actually are."""

    def __init__(self, W: Array, df: Array, precision: Precision, V: Array | None) -> None:
        self.shape, self.dtype = W.shape, W.dtype
        narrow = precision.name == "float32" and W.dtype.itemsize > 4
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


class _Counting:
    """Wrap a user function to count its calls (frames here never name the user's line)."""

    def __init__(self, fn: GradFn) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, W: Array, X: Array, Y: Array) -> object:
        self.calls += 1
        return self.fn(W, X, Y)


def check_blackbox(fn: GradFn, W: Array, X: Array, Y: Array, *, label: str = "fn",
                   step: float | None = None, precision: str | None = None,
                   directions: int | None = None, seed: int = 0,
                   progress: Progress | None = None) -> BlackBox:
    """Check ``fn``'s gradient at W (any shape, P entries) entry by entry (2P calls) or along
    ``directions`` random directions (2K calls); X (N, n_in) and Y (N, n_out) pass through."""
    W = np.asarray(W)
    if W.dtype.kind != "f":
        W = W.astype(np.float64)
    rng = np.random.default_rng(seed)
    user = _Counting(fn)
    base = call(user, W, X, Y, label, "at W")
    if not np.isfinite(base.f):
        raise UserFunctionError(f"{label}: f is {base.f} at W; the gradient of a non-finite "
                                "loss cannot be checked")
    _require_deterministic(base, call(user, W, X, Y, label, "at W (second call)"), label)
    prec = detect_precision(user, W, X, Y, base, label, rng, precision)
    h = step if step is not None else STEPS[prec.name]
    V = random_directions(direction_rng(seed), directions, W.size) if directions else None
    st = _Stencil(W, base.df.astype(np.float64), prec, V)
    K = directions if directions else W.size
    what = "entry" if V is None else "direction"

    def f_at(k: int, t: float) -> tuple[float, float, float]:
        Wt, length, along = st.point(k, t)
        where = f"at W {'+' if t > 0 else '-'} {abs(t):g} along {what} {k}"
        return call(user, Wt, X, Y, label, where, need_grad=False).f, length, along

    f0 = base.f
    if not np.array_equal(st.Wc, W.reshape(-1)):  # the function sees W rounded to float32
        f0 = call(user, st.Wc.reshape(W.shape), X, Y, label, "at W", need_grad=False).f
    total, done = 2 * K, 0
    fp, fm, Lp, Lm, a = (np.empty(K) for _ in range(5))
    for k in range(K):
        fp[k], Lp[k], ap = f_at(k, h)
        fm[k], Lm[k], am = f_at(k, -h)
        a[k] = (ap - am) / (Lp[k] - Lm[k]) if V is not None else base.df.flat[k]
        done += 2
        if progress is not None:
            progress(done, total)
    eps = prec.eps
    with np.errstate(invalid="ignore", over="ignore"):
        n = (fp - fm) / (Lp - Lm)
        scale = np.abs(fp) + np.abs(fm)
    scale = np.where(np.isfinite(scale), scale, 0.0) + NOISE_FACTOR * prec.noise / eps
    tol = tolerance(a, n, None, scale, h, eps)
    cmp = compare(a, n, tol)
    kind = np.full(K, OK, dtype=np.int8)
    kind[~cmp.finite] = NONFINITE
    left, right = np.full(K, np.nan), np.full(K, np.nan)
    cand = np.flatnonzero(~cmp.ok & cmp.finite)
    total += 2 * cand.size
    for k in cand.tolist():
        fph, Lph, _ = f_at(k, h / 2)
        fmh, Lmh, _ = f_at(k, -h / 2)
        done += 2
        if progress is not None:
            progress(done, total)
        with np.errstate(invalid="ignore", over="ignore"):
            nh = (fph - fmh) / (Lph - Lmh)
        tol[k] = tolerance(a[k:k + 1], n[k:k + 1], np.array([nh]), scale[k:k + 1], h, eps)[0]
        if not np.isfinite(nh):
            kind[k] = NONFINITE
        elif abs(a[k] - n[k]) > tol[k]:
            sides = [_Sides(f0, (fp[k], Lp[k]), (fm[k], Lm[k])),
                     _Sides(f0, (fph, Lph), (fmh, Lmh))]
            if _flat(f0, sides):
                kind[k], left[k], right[k] = FLAT, sides[1].left, sides[1].right
                continue
            for level in range(2, LEVELS + 1):
                verdict = _explain(a[k], sides, eps, prec.noise)
                if verdict is not None:
                    break
                t = h / 2 ** level
                pt, mt = f_at(k, t)[:2], f_at(k, -t)[:2]
                sides.append(_Sides(f0, pt, mt))
                total += 2
            else:
                verdict = _explain(a[k], sides, eps, prec.noise)
            kind[k] = MISMATCH if verdict is None else verdict
            left[k], right[k] = sides[-1].left, sides[-1].right
    return BlackBox(label, base.f, base.df.astype(np.float64), prec, h, a, n, tol, kind,
                    left, right, user.calls, V)


def _require_deterministic(first: Call, second: Call, label: str) -> None:
    """Refuse a function whose two calls at the same W disagree beyond rounding."""
    slack = 4 * float(np.finfo(np.float64).eps) * abs(first.f)
    same_df = np.array_equal(first.df, second.df, equal_nan=True) or np.allclose(
        first.df, second.df, rtol=1e-13, atol=0, equal_nan=True)
    if abs(first.f - second.f) > slack or not same_df:
        raise UserFunctionError(
            f"{label} is not deterministic: two calls at the same W gave f = {first.f!r} and "
            f"{second.f!r}{'' if same_df else ' and different df'}, so every finite "
            "difference would be meaningless; seed its random generator or switch off "
            "dropout/noise for the check")


@dataclass(frozen=True)
class _Sides:
    """One-sided differences at one step: f(W), (f(W + t v), length), (f(W - t v), length)."""

    f0: float
    plus: tuple[float, float]
    minus: tuple[float, float]

    @property
    def right(self) -> float:
        return (self.plus[0] - self.f0) / self.plus[1]

    @property
    def left(self) -> float:
        return (self.minus[0] - self.f0) / self.minus[1]

    def roundoff(self, eps: float, noise: float) -> float:
        """Round-off of the one-sided differences: (eps (|f0| + |f(W +- t)|) + noise) / t."""
        t = min(abs(self.plus[1]), abs(self.minus[1]))
        mag = abs(self.f0) + max(abs(self.plus[0]), abs(self.minus[0]))
        return ROUNDOFF_FACTOR * (eps * mag + NOISE_FACTOR * noise) / t


def _flat(f0: float, sides: list[_Sides]) -> bool:
    """True when the loss does not move at all at any of the steps taken."""
    return all(s.plus[0] == f0 == s.minus[0] for s in sides)


def _explain(a: float, sides: list[_Sides], eps: float, noise: float) -> int | None:
    """Judge a mismatched check from its one-sided differences at the last step t (the one
    before is 2t): KINK when the analytic value lies between the left and right derivatives
    (within round-off and truncation), MISMATCH when the loss is smooth within t (so smaller
    steps cannot change the picture), None to try a smaller step (a kink lies within t).

    On a smooth piece r - l = t f'' and each one-sided difference is off by about t |f''| / 2,
    so the interval [l, r] widened by min(|r - l| / 2, the change of l and r from 2t) holds
    the derivative; at a kink exactly at W the change from 2t is only the curvature, so the
    widening stays tight.
    """
    cur, prev = sides[-1], sides[-2]
    lo, hi = min(cur.left, cur.right), max(cur.left, cur.right)
    ro = cur.roundoff(eps, noise)
    ulp = ULP_FACTOR * eps * max(abs(a), abs(lo), abs(hi))
    trunc = min((hi - lo) / 2, max(abs(cur.left - prev.left), abs(cur.right - prev.right)))
    s = ro + ulp + trunc
    if lo - s <= a <= hi + s:
        return KINK
    bend, bend_prev = cur.right - cur.left, (prev.right - prev.left) / 2
    if abs(bend - bend_prev) <= 4 * ro + ulp:
        return MISMATCH  # smooth within t: r - l halves with the step, as curvature does
    return None
