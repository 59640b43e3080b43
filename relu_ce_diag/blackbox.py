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
ONE_SIDED_FACTOR = 2.0  # one-sided truncation: the error at h/2 is about |d(h) - d(h/2)|
LARGE_P = 20_000  # above this, the announcement suggests --directions
PROBE_INCREMENT = 3e-11  # relative loss change per probe step: float64 resolves it, float32 not


@dataclass(frozen=True)
class Precision:
    """The precision the function computes in: ``name`` (float64|float32), the relative
    resolution ``eps`` used by the error model, and why it was chosen."""

    name: str
    eps: float
    reason: str


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
    return (f"{label}: {2 * K} calls ({what} x 2), plus up to 6 to test W and the precision "
            f"and 2 more per check that needs a second step{hint}")


def _representable32(values: Array) -> bool:
    """True when every value survives a round trip through float32 and some are not trivial."""
    v = values[np.isfinite(values)]
    nontrivial = v[(v != 0) & (v != np.round(v))]
    return nontrivial.size >= 2 and bool(np.all(v.astype(np.float32).astype(np.float64) == v))


def _probe_coarse(fn: GradFn, W: Array, X: Array, Y: Array, base: Call, label: str,
                  rng: np.random.Generator) -> bool | None:
    """Step W by tiny equal increments along a random direction; True when f does not move
    in equal steps (it only resolves ~1e-7 relative), None when the probe says nothing."""
    df = base.df.astype(np.float64)
    if base.f == 0 or not np.all(np.isfinite(df)):
        return None
    v = rng.standard_normal(W.size)
    g = float(df @ v)
    if g == 0:
        return None
    s = PROBE_INCREMENT * abs(base.f) / abs(g)
    fs, slopes = [base.f], []
    Wf = W.reshape(-1).astype(np.float64)
    prev = Wf
    for j in range(1, 4):
        Wj = Wf + (j * s) * v
        fj = call(fn, Wj.astype(W.dtype).reshape(W.shape), X, Y, label,
                  "at a precision probe", need_grad=False).f
        step = float(df @ (Wj - prev))
        slopes.append((fj - fs[-1]) / step if step else np.nan)
        fs.append(fj)
        prev = Wj
    sl = np.array(slopes)
    if not np.all(np.isfinite(sl)):
        return None
    if np.all(sl == 0):
        return True
    return bool(np.ptp(sl) > 0.25 * np.max(np.abs(sl)))


def detect_precision(fn: GradFn, W: Array, X: Array, Y: Array, base: Call, label: str,
                     rng: np.random.Generator) -> Precision:
    """Decide whether ``fn`` computes in float64 or float32 (3 extra calls at most)."""
    eps32 = float(np.finfo(np.float32).eps)
    low = [d for d in (base.f_dtype, base.df_dtype, W.dtype) if d.kind == "f" and d.itemsize <= 4]
    if low:
        return Precision("float32", eps32, f"it returns or receives {low[0]} values")
    if _representable32(np.append(base.df.astype(np.float64), base.f)):
        return Precision("float32", eps32, "every value it returns is exactly a float32")
    if _probe_coarse(fn, W, X, Y, base, label, rng):
        return Precision("float32", eps32, "its loss moves only in steps of ~1e-7 relative")
    return Precision("float64", float(np.finfo(np.float64).eps), "float64 values that resolve "
                     "changes far below float32's")


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
    if precision is None:
        prec = detect_precision(user, W, X, Y, base, label, rng)
    else:
        prec = Precision(precision, float(np.finfo(np.dtype(precision)).eps), "as requested")
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
    scale = np.where(np.isfinite(scale), scale, 0.0)
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
            kind[k], left[k], right[k] = _one_sided(a[k], f0, (fp[k], Lp[k]), (fm[k], Lm[k]),
                                                    (fph, Lph), (fmh, Lmh), eps)
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


def _one_sided(a: float, f0: float, p: tuple[float, float], m: tuple[float, float],
               ph: tuple[float, float], mh: tuple[float, float], eps: float,
               ) -> tuple[int, float, float]:
    """Classify a mismatched check from one-sided differences at h and h/2 (left, right)."""
    r, l_ = (p[0] - f0) / p[1], (m[0] - f0) / m[1]
    rh, lh = (ph[0] - f0) / ph[1], (mh[0] - f0) / mh[1]
    if p[0] == f0 == m[0] and ph[0] == f0 == mh[0]:
        return FLAT, lh, rh
    ro_r = ROUNDOFF_FACTOR * eps * (abs(f0) + abs(ph[0])) / abs(ph[1])
    ro_l = ROUNDOFF_FACTOR * eps * (abs(f0) + abs(mh[0])) / abs(mh[1])
    s_r = ro_r + ONE_SIDED_FACTOR * abs(r - rh)
    s_l = ro_l + ONE_SIDED_FACTOR * abs(l_ - lh)
    s = max(s_r, s_l) + ULP_FACTOR * eps * max(abs(a), abs(lh), abs(rh))
    real_kink = abs(rh - lh) > s_r + s_l
    between = min(lh, rh) - s <= a <= max(lh, rh) + s
    return (KINK if real_kink and between else MISMATCH), lh, rh
