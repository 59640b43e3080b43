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
    a = np.abs(analytic.astype(np.float64))
    n = np.abs(numeric.astype(np.float64))
    tol = ROUNDOFF_FACTOR * eps_machine * scale / h + ULP_FACTOR * eps_machine * np.maximum(a, n)
    if numeric_half is not None:
        with np.errstate(invalid="ignore", over="ignore"):
            trunc = np.abs(numeric.astype(np.float64) - numeric_half.astype(np.float64))
        tol = tol + TRUNCATION_FACTOR * (4.0 / 3.0) * np.where(np.isfinite(trunc), trunc, 0.0)
    return tol


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


def max_relative(a: Array, n: Array) -> float:
    """Return the CS231n error max |a - n| / max(|a|, |n|) over entries (0 for empty/all-zero)."""
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - n)
        big = np.maximum(np.abs(a), np.abs(n))
        rel = np.where(big > 0, err / np.where(big > 0, big, 1.0), 0.0)
    finite = np.isfinite(a) & np.isfinite(n)  # a NaN or inf entry is an infinite error
    return float(np.max(np.where(finite, rel, np.inf)))


def normwise_relative(a: Array, n: Array) -> float:
    """Return ||a - n|| / (||a|| + ||n||) (0 when both are zero)."""
    with np.errstate(invalid="ignore", over="ignore"):
        den = float(np.linalg.norm(a) + np.linalg.norm(n))
        num = float(np.linalg.norm(a - n))
    if not np.isfinite(num) or not np.isfinite(den):
        return float("inf")
    return num / den if den > 0 else 0.0
