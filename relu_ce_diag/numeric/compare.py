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

from dataclasses import dataclass

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
    tol = roundoff(np.abs(analytic.astype(np.float64)), np.abs(n), scale, h, eps_machine)
    if numeric_half is not None:
        tol = tol + truncation(n, numeric_half.astype(np.float64))
    return tol


def roundoff(abs_a: Array, abs_n: Array, scale: Array, h: float, eps_machine: float) -> Array:
    """Return the tolerance (P,) of a central difference without its truncation part: the
    round-off and the ulp floor, from the magnitudes |a|, |n| (float64)."""
    return (ROUNDOFF_FACTOR * eps_machine * scale / h
            + ULP_FACTOR * eps_machine * np.maximum(abs_a, abs_n))


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


def relative_errors(a: Array, n: Array) -> Array:
    """Return the CS231n error |a - n| / max(|a|, |n|) of each entry (0 where both are 0, inf
    where either is NaN or infinite): what ``max_relative`` takes the largest of."""
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - n)
        big = np.maximum(np.abs(a), np.abs(n))
        rel = np.where(big > 0, err / np.where(big > 0, big, 1.0), 0.0)
    finite = np.isfinite(a) & np.isfinite(n)  # a NaN or inf entry is an infinite error
    return np.where(finite, rel, np.inf)


def max_relative(a: Array, n: Array) -> float:
    """Return the CS231n error max |a - n| / max(|a|, |n|) over entries (0 for empty/all-zero)."""
    if a.size == 0:
        return 0.0
    return float(np.max(relative_errors(a, n)))


def norm2(x: Array) -> Array:
    """Return ``np.linalg.norm(x)``: for a real vector the square root of ``x.dot(x)`` in x's
    dtype, as NumPy computes it, without its dispatch."""
    if x.ndim != 1 or x.dtype.kind != "f":
        return np.asarray(np.linalg.norm(x))
    return np.sqrt(x.dot(x))


def _normwise(a: Array, n: Array) -> float:
    den = float(norm2(a) + norm2(n))
    num = float(norm2(a - n))
    if not np.isfinite(num) or not np.isfinite(den):
        return float("inf")
    return num / den if den > 0 else 0.0


def normwise_relative(a: Array, n: Array) -> float:
    """Return ||a - n|| / (||a|| + ||n||) (0 when both are zero)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _normwise(a, n)


def block_errors(a: Array, n: Array, rel: Array, slices: list[slice],
                 ) -> tuple[list[float], list[float]]:
    """Return ``max_relative`` and ``normwise_relative`` of a and n (P,) on each slice, the
    same numbers as calling them slice by slice; ``rel`` (P,) is ``relative_errors(a, n)``.
    Slices that follow each other from 0 to P take their maxima in one pass."""
    starts = [s.start for s in slices]
    ends = [s.stop for s in slices]
    if slices and starts[0] == 0 and ends[-1] == rel.size and all(
            e > b for b, e in zip(starts, ends, strict=True)) and starts[1:] == ends[:-1]:
        maxima = [float(m) for m in np.maximum.reduceat(rel, starts)]
    else:
        maxima = [float(np.max(rel[s])) if rel[s].size else 0.0 for s in slices]
    with np.errstate(invalid="ignore", over="ignore"):
        norms = [_normwise(a[s], n[s]) for s in slices]
    return maxima, norms
