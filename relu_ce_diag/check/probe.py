"""What a black box is like before it is checked: deterministic, and in which precision.

Two calls at the same W must agree (else every finite difference is noise): f within a few
ulps of |f| and every entry of df within a few ulps of the gradient's scale max |df|, so that
a gradient summed in an order that changes between calls (a ``set`` of graph nodes, threads)
is not refused for the last bits of entries near 0, while one that really varies is. The
precision
decides the error model: a function that returns float32 values, values that are all
exactly float32, or a loss that moves only in float32-sized steps along a probe direction is
judged with float32's resolution and step; otherwise float64's, plus the jitter of f the
probe measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from relu_ce_diag.check.calling import Call
from relu_ce_diag.errors import UserFunctionError

Array = np.ndarray
PROBE_INCREMENT = 3e-11  # relative loss change per probe step: float64 resolves it, float32 not
PROBE_STEPS = 5
HALF_INCREMENT = 1e-5  # relative loss change per step: float32 resolves it, float16 not
PROBE_REACH = 1e-2  # the probe moves no entry by more than this share of max(1, max|W|)


class Host(Protocol):
    """A way to call the user's function (see ``check.host``)."""

    label: str

    def loss(self, W: Array, where: str) -> float:
        ...


@dataclass(frozen=True)
class Precision:
    """The precision the function computes in: ``name`` (float64|float32), the relative
    resolution ``eps`` used by the error model, why it was chosen, and the measured jitter
    ``noise`` of f near W (absolute; it adds to the round-off when larger than eps |f|)."""

    name: str
    eps: float
    reason: str
    noise: float = 0.0


def _representable32(values: Array, dtype: type = np.float32) -> bool:
    """True when every value survives a round trip through ``dtype`` (float32 unless given)
    and some are not trivial."""
    v = values[np.isfinite(values)]
    nontrivial = v[(v != 0) & (v != np.round(v))]
    with np.errstate(over="ignore"):
        back = v.astype(dtype).astype(np.float64)
    return nontrivial.size >= 2 and bool(np.all(back == v))


@dataclass(frozen=True)
class _Probe:
    """What tiny equal steps along a random direction show: ``coarse`` when f does not move
    in increments on a straight line (None: no information), ``noise`` the largest deviation
    of one increment from that line (the jitter of f near W, e.g. from 1 - y rounding; the
    line takes up curvature)."""

    coarse: bool | None
    noise: float = 0.0


def _probe(host: Host, W: Array, base: Call, rng: np.random.Generator,
           increment: float = PROBE_INCREMENT) -> _Probe:
    """Step W PROBE_STEPS times along a random direction, each step moving f by about
    ``increment`` relative: float64 resolves PROBE_INCREMENT in increments on a straight line
    (equal but for curvature), float32 does not (and float32 resolves HALF_INCREMENT, float16
    does not)."""
    df = np.where(np.isfinite(base.df), base.df, 0.0).astype(np.float64)
    v = rng.standard_normal(W.size)
    g = float(df @ v)
    if base.f == 0 or g == 0:
        return _Probe(None)
    s = increment * abs(base.f) / abs(g)
    Wf = W.reshape(-1).astype(np.float64)
    reach = PROBE_REACH * max(1.0, float(np.max(np.abs(Wf), initial=0.0)))
    if not PROBE_STEPS * s * float(np.max(np.abs(v))) <= reach:
        # a gradient far too small for its loss (at a minimum): steps that moved f by the
        # increment would leave the neighbourhood of W (exp overflows there): no information
        return _Probe(None)
    fs = [base.f]
    for j in range(1, PROBE_STEPS + 1):
        Wj = np.asarray(Wf + (j * s) * v, dtype=W.dtype).reshape(W.shape)
        fs.append(host.loss(Wj, "at a precision probe"))
    inc = np.diff(np.array(fs))
    if not np.all(np.isfinite(inc)):
        return _Probe(None)
    if np.all(inc == 0):
        return _Probe(True)
    # curvature makes the increments grow by f'' s^2 a step, a straight line: that is no
    # jitter, and taken for one it set aside gradients a step resolves (a wrong one passed)
    at = np.arange(inc.size, dtype=np.float64)
    dev = float(np.max(np.abs(inc - np.polyval(np.polyfit(at, inc, 1), at))))
    if dev > 0.25 * float(np.max(np.abs(inc))):
        return _Probe(True)
    return _Probe(False, dev)


def _refuse_half(host: Host, W: Array, base: Call, rng: np.random.Generator) -> None:
    """Refuse a function that computes in float16 (or narrower): with 11 bits a central
    difference cannot tell an error of a few percent from round-off, so no verdict on it
    would mean anything (a pass could hide a wrong gradient). Values that are all exactly
    float16 only raise the suspicion (0.5, 1.5 and -2 are, in any precision): it is refused
    when its loss also moves only in float16-sized steps along a probe direction."""
    half = [d for d in (base.f_dtype, base.df_dtype, W.dtype) if d.kind == "f" and d.itemsize <= 2]
    values = np.append(base.df.astype(np.float64), base.f)
    if half or (_representable32(values, np.float16)
                and _probe(host, W, base, rng, HALF_INCREMENT).coarse):
        why = (f"it returns or receives {half[0]} values" if half else
               "every value it returns is exactly a float16")
        raise UserFunctionError(
            f"{host.label}: computes in float16 ({why}), where a central difference cannot "
            "tell an error of a few percent from round-off; compute f and df in float32 or "
            "float64 for the check (cast W, X and Y on entry)")


def detect_precision(host: Host, W: Array, base: Call, rng: np.random.Generator,
                     forced: str | None = None) -> Precision:
    """Decide whether ``fn`` computes in float64 or float32 and measure the jitter of f
    (PROBE_STEPS extra calls at most); ``forced`` fixes the precision."""
    eps32, eps64 = float(np.finfo(np.float32).eps), float(np.finfo(np.float64).eps)
    if forced == "float32":
        return Precision("float32", eps32, "as requested")
    _refuse_half(host, W, base, rng)
    low = [d for d in (base.f_dtype, base.df_dtype, W.dtype) if d.kind == "f" and d.itemsize <= 4]
    if low and forced is None:
        return Precision("float32", eps32, f"it returns or receives {low[0]} values")
    if forced is None and _representable32(np.append(base.df.astype(np.float64), base.f)):
        return Precision("float32", eps32, "every value it returns is exactly a float32")
    probe = _probe(host, W, base, rng)
    if probe.coarse and forced is None:
        return Precision("float32", eps32, "its loss moves only in steps of ~1e-7 relative")
    why = "as requested" if forced else "float64 values that resolve changes far below float32's"
    return Precision("float64", eps64, why, probe.noise)


def require_finite(base: Call, label: str) -> None:
    """Refuse a function whose loss at W is nan or inf, saying where that usually comes from
    and what works instead."""
    if np.isfinite(base.f):
        return
    raise UserFunctionError(
        f"{label}: f is {base.f} at W, so its gradient cannot be checked; a loss of nan or "
        "inf usually comes from log(0) of an output that is exactly 0 or 1 (a saturated "
        "sigmoid or softmax; 0 * log(0) is nan): compute the loss from the pre-activations z "
        "(np.logaddexp(0, z) - Y * z for a sigmoid, a log-softmax z - logsumexp(z) for a "
        "softmax; the gradient stays y - Y), or check at smaller weights")


ULPS = 16  # two calls agree to this many ulps: of |f| for f, of max |df| for every entry
ORDER_SIZED = 1e-9  # variations below this (relative) are the size of summation order's


def _resolution(call: Call) -> float:
    """Return the relative resolution of what a call returned: float32's or float64's."""
    low = any(d.kind == "f" and d.itemsize <= 4 for d in (call.f_dtype, call.df_dtype))
    return float(np.finfo(np.float32 if low else np.float64).eps)


def require_deterministic(first: Call, second: Call, label: str) -> None:
    """Refuse a function whose two calls at the same W disagree beyond rounding: f by more
    than ULPS ulps of |f|, or an entry of df by more than ULPS ulps of max |df|."""
    eps = max(_resolution(first), _resolution(second))
    a, b = first.df.astype(np.float64), second.df.astype(np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(a) & np.isfinite(b)
        scale = float(np.max(np.abs(a[finite]), initial=0.0))
        df_gap = float(np.max(np.abs(a - b)[finite], initial=0.0))
        same_special = np.array_equal(nan_a, nan_b) and np.array_equal(a[~finite & ~nan_a],
                                                                        b[~finite & ~nan_b])
    f_gap = abs(first.f - second.f)
    f_ok = f_gap <= ULPS * eps * abs(first.f)
    df_ok = same_special and df_gap <= ULPS * eps * scale
    if f_ok and df_ok:
        return
    f_rel = f_gap / abs(first.f) if first.f else float(f_gap > 0)
    df_rel = df_gap / scale if scale else float(df_gap > 0)
    seen = (f"f = {first.f!r} and {second.f!r}" + ("" if df_ok else
            f", and df entries differ by up to {df_gap:.3g} ({df_rel:.2g} of max |df|)"))
    if same_special and max(f_rel, df_rel) <= ORDER_SIZED:
        advice = ("the differences are the size of rounding, beyond a few ulps: sums that run "
                  "in an order that changes between calls (over a set or a dict of objects, or "
                  "threads) do this; sum in a fixed order (a list, sorted keys, math.fsum)")
    elif f_ok:
        advice = ("f is the same but df varies: the gradient depends on something besides W "
                  "(state kept between calls, an unseeded generator in the backward pass); "
                  "seed its random generator or reset that state for the check")
    else:
        advice = ("f itself varies: dropout or noise without a fixed seed, or a clock; seed "
                  "its random generator or switch off dropout/noise for the check")
    raise UserFunctionError(
        f"{label} is not deterministic: two calls at the same W gave {seen}, so every finite "
        f"difference would be meaningless; {advice}")
