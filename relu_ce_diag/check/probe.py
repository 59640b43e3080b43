"""What a black box is like before it is checked: deterministic, and in which precision.

Two calls at the same W must agree (else every finite difference is noise). The precision
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


class Host(Protocol):
    """A way to call the user's function (see ``check.host``)."""

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


def _probe(host: Host, W: Array, base: Call, rng: np.random.Generator) -> _Probe:
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
        fs.append(host.loss(Wj, "at a precision probe"))
    inc = np.diff(np.array(fs))
    if not np.all(np.isfinite(inc)):
        return _Probe(None)
    if np.all(inc == 0):
        return _Probe(True)
    dev = float(np.max(np.abs(inc - np.median(inc))))
    if dev > 0.25 * float(np.max(np.abs(inc))):
        return _Probe(True)
    return _Probe(False, dev)


def detect_precision(host: Host, W: Array, base: Call, rng: np.random.Generator,
                     forced: str | None = None) -> Precision:
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
    probe = _probe(host, W, base, rng)
    if probe.coarse and forced is None:
        return Precision("float32", eps32, "its loss moves only in steps of ~1e-7 relative")
    why = "as requested" if forced else "float64 values that resolve changes far below float32's"
    return Precision("float64", eps64, why, probe.noise)


def require_deterministic(first: Call, second: Call, label: str) -> None:
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


