"""Entry-by-entry comparison of an analytic gradient with a numerical one, with an error model.

An entry matches when ``|a - n| <= tol``, where ``tol`` is an estimate of how wrong the
central difference itself can be at that entry:

* round-off: ``ROUNDOFF_FACTOR * eps_machine * scale / h``, with ``scale`` the magnitude of the
  losses whose difference was taken (``|f|`` for a black box, the touched samples' losses for
  the reference network);
* truncation: ``TRUNCATION_FACTOR * 4/3 * |n(h) - n(h/2)|`` (Richardson: the error of n(h)
  is 4/3 of the change from h to h/2 when it falls like h^2);
* a floor of a few ulps of the entries themselves.

So a tiny gradient of a large loss does not raise a false alarm, while an entry that is off
by far more than the difference can explain always does, whatever its neighbours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray
ROUNDOFF_FACTOR = 4.0
TRUNCATION_FACTOR = 4.0
ULP_FACTOR = 16.0


@dataclass(frozen=True)
class Comparison:
    """Per-entry comparison (all arrays (P,)): error, tolerance, match flags, relative errors."""

    error: Array
    tol: Array
    ok: Array
    rel: Array
    finite: Array


def tolerance(analytic: Array, numeric: Array, numeric_half: Array | None, scale: Array,
              h: float, eps_machine: float) -> Array:
    """Return the per-entry tolerance (P,) of the central difference ``numeric`` at step h."""
    n = numeric.astype(np.float64)
    big = np.maximum(np.abs(analytic.astype(np.float64)), np.abs(n))
    tol = roundoff(big, scale, h, eps_machine)
    if numeric_half is not None:
        tol = tol + truncation(n, numeric_half.astype(np.float64))
    return tol


def roundoff(big: Array, scale: Array, h: float, eps_machine: float) -> Array:
    """Return the tolerance (P,) of a central difference without its truncation part: the
    round-off and the ulp floor, from the larger magnitude max(|a|, |n|) (float64)."""
    return ROUNDOFF_FACTOR * eps_machine * scale / h + ULP_FACTOR * eps_machine * big


def truncation(n: Array, n_half: Array) -> Array:
    """Return the truncation part (P,) of the tolerance from the differences at h and h/2
    (float64): 4/3 of their change (0 where it is not finite)."""
    with np.errstate(invalid="ignore", over="ignore"):
        trunc = np.abs(n - n_half)
    return TRUNCATION_FACTOR * (4.0 / 3.0) * np.where(np.isfinite(trunc), trunc, 0.0)


def compare(analytic: Array, numeric: Array, tol: Array) -> Comparison:
    """Compare analytic and numeric gradients (P,) against per-entry tolerances (P,)."""
    a = analytic.astype(np.float64)
    n = numeric.astype(np.float64)
    finite = np.isfinite(a) & np.isfinite(n)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - n)
        big = np.maximum(np.abs(a), np.abs(n))
        rel = np.where(big > 0, err / np.where(big > 0, big, 1.0), 0.0)
    ok = finite & (err <= tol)
    return Comparison(np.where(finite, err, np.inf), tol, ok, np.where(finite, rel, np.inf), finite)


def relative_errors(a: Array, n: Array, *, err: Array | None = None,
                    finite: Array | None = None, big: Array | None = None) -> Array:
    """Return the CS231n error |a - n| / max(|a|, |n|) of each entry (0 where both are 0, inf
    where either is NaN or infinite): what ``max_relative`` takes the largest of. What is
    already known may be given: ``err`` (|a - n| where both are finite), ``finite`` (where
    both are), ``big`` (max(|a|, |n|))."""
    finite = np.isfinite(a) & np.isfinite(n) if finite is None else finite
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - n) if err is None else err
        big = np.maximum(np.abs(a), np.abs(n)) if big is None else big
        zero = np.zeros(big.shape, dtype=np.result_type(err, big))
        rel = np.divide(err, big, out=zero, where=big > 0)
    return np.where(finite, rel, np.inf)  # a NaN or inf entry is an infinite error


def max_relative(a: Array, n: Array) -> float:
    """Return the CS231n error max |a - n| / max(|a|, |n|) over entries (0 for empty/all-zero)."""
    if a.size == 0:
        return 0.0
    return float(np.max(relative_errors(a, n)))


def norm2(x: Array) -> Any:
    """Return ``np.linalg.norm(x)``: for a float64 vector the square root of ``x.dot(x)``, as
    NumPy computes it, without its dispatch (a float, equal to NumPy's float64)."""
    if x.ndim == 1 and x.dtype.type is np.float64:
        return math.sqrt(x.dot(x))
    return np.linalg.norm(x)


def _normwise(a: Array, n: Array) -> float:
    den = float(norm2(a) + norm2(n))
    num = float(norm2(a - n))
    if not math.isfinite(num) or not math.isfinite(den):
        return float("inf")
    return num / den if den > 0 else 0.0


def normwise_relative(a: Array, n: Array) -> float:
    """Return ||a - n|| / (||a|| + ||n||) (0 when both are zero)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _normwise(a, n)


def tiling(slices: list[slice], size: int) -> list[int] | None:
    """Return the starts of slices that follow each other from 0 to ``size``, each
    non-empty (what ``np.ufunc.reduceat`` reduces), else None."""
    starts = [s.start for s in slices]
    ends = [s.stop for s in slices]
    if slices and starts[0] == 0 and ends[-1] == size and starts[1:] == ends[:-1] and all(
            e > b for b, e in zip(starts, ends, strict=True)):
        return starts
    return None


def block_errors(a: Array, n: Array, rel: Array, slices: list[slice],
                 ) -> tuple[list[float], list[float]]:
    """Return ``max_relative`` and ``normwise_relative`` of a and n (P,) on each slice, the
    same numbers as calling them slice by slice; ``rel`` (P,) is ``relative_errors(a, n)``.
    Slices that tile 0 to P take their maxima in one pass."""
    starts = tiling(slices, rel.size)
    if starts is not None:
        maxima = [float(m) for m in np.maximum.reduceat(rel, starts)]
    else:
        maxima = [float(np.max(rel[s])) if rel[s].size else 0.0 for s in slices]
    with np.errstate(invalid="ignore", over="ignore"):
        norms = [_normwise(a[s], n[s]) for s in slices]
    return maxima, norms
