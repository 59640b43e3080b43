"""The one way a check is judged, whatever computes f and df: compare, refine, explain, verdict.

A *source* (the built-in network, a user's function; entry by entry or along random
directions) provides, for every check k, the analytic slope and the central difference at
step h with the magnitude its round-off scales with; it can take the difference again at h/2
and explain a mismatch (a kink or the clamp it can see, one-sided differences of a black box).
``judge`` does the rest the same way for all of them:

1. tolerance from the error model (``numeric.compare``) at h alone;
2. the second step h/2 for every check (a cheap source) or for the mismatching ones, whose
   change estimates the truncation error, except where either step crosses a kink or the
   clamp (there the change measures the kink, and must not excuse it);
3. each remaining mismatch is explained by the source (set aside as a kink or clamp crossing,
   or kept as a mismatch, a flat loss or a non-finite value).

``verdict`` turns the kinds into a status and a reason, in one place for every command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Protocol

import numpy as np

from relu_ce_diag.numeric.compare import compare, tolerance

Array = np.ndarray
OK, KINK, CLAMP, MISMATCH, FLAT, NONFINITE = 0, 1, 2, 3, 4, 5
KIND_NAMES = ("ok", "kink", "clamp", "mismatch", "flat", "nonfinite")
STATUSES = ("pass", "kink", "fail", "error")


@dataclass(frozen=True)
class Differences:
    """Central differences of some checks at one step: ``numeric``, the round-off
    ``scale`` (see ``numeric.compare``) and the kink/clamp crossings of each stencil (all
    False for a black box, which cannot see them); ``analytic`` the slopes compared with
    them (the first step only)."""

    numeric: Array
    scale: Array
    straddle: Array
    clamp: Array
    analytic: Array | None = None


class Source(Protocol):
    """What ``judge`` needs from a source of f and df."""

    refine_all: bool  # take h/2 for every check (cheap), else only for the mismatching ones
    eps_machine: float

    def first(self, h: float) -> Differences:
        """Return the analytic slopes and the differences at step h of every check."""
        ...

    def again(self, h: float, which: Array) -> Differences:
        """Return the differences at step h of the checks ``which``."""
        ...

    def explain(self, which: Array, judged: Judged) -> Array:
        """Return the kind (KINK, CLAMP, MISMATCH, FLAT or NONFINITE) of each mismatching
        check in ``which``."""
        ...


@dataclass(frozen=True)
class Judged:
    """Every check of a source, judged: arrays (K,), the step, and the kind of each check."""

    analytic: Array
    numeric: Array
    half: Array  # the difference at h/2 (NaN where it was not taken)
    scale: Array
    straddle: Array
    clamp: Array
    half_straddle: Array
    half_clamp: Array
    tol: Array
    kind: Array
    step: float

    # Masks read many times by the result builder and the diagnostics: computed once.
    @cached_property
    def finite(self) -> Array:
        return np.isfinite(self.analytic) & np.isfinite(self.numeric)

    @cached_property
    def error(self) -> Array:
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(self.analytic.astype(np.float64) - self.numeric.astype(np.float64))
        return np.where(self.finite, err, np.inf)

    @cached_property
    def ok(self) -> Array:
        return self.kind == OK

    @cached_property
    def set_aside(self) -> Array:
        return (self.kind == KINK) | (self.kind == CLAMP)

    @cached_property
    def mismatched(self) -> Array:
        return ~self.ok & ~self.set_aside


def judge(source: Source, h: float) -> Judged:
    """Compare every check of ``source`` at step h (and h/2) and explain each mismatch."""
    eps = source.eps_machine
    first = source.first(h)
    assert first.analytic is not None
    a, n, K = first.analytic, first.numeric, first.numeric.size
    tol = tolerance(a, n, None, first.scale, h, eps)
    cmp = compare(a, n, tol)
    which = np.arange(K) if source.refine_all else np.flatnonzero(~cmp.ok & cmp.finite)
    half = np.full(K, np.nan)
    h_straddle, h_clamp = np.zeros(K, dtype=bool), np.zeros(K, dtype=bool)
    if which.size:
        second = source.again(h / 2, which)
        half[which] = second.numeric
        h_straddle[which], h_clamp[which] = second.straddle, second.clamp
        # Where a stencil crosses a kink or the clamp, n(h) - n(h/2) measures the kink, not
        # the truncation error; it must not widen the tolerance (that would excuse a bug).
        kinked = first.straddle | first.clamp | h_straddle | h_clamp
        tol = tolerance(a, n, np.where(kinked, n, half), first.scale, h, eps)
        cmp = compare(a, n, tol)
    kind = np.full(K, OK, dtype=np.int8)
    kind[~cmp.finite] = NONFINITE
    judged = Judged(a, n, half, first.scale, first.straddle, first.clamp, h_straddle, h_clamp,
                    tol, kind, h)
    bad = np.flatnonzero(~cmp.ok & cmp.finite)
    if not bad.size:
        return judged
    kind = kind.copy()
    kind[bad] = source.explain(bad, judged)
    return replace(judged, kind=kind)


def flagged_kinds(straddle: Array, clamp: Array) -> Array:
    """Return KINK where a stencil straddles a kink, else CLAMP where it crosses the clamp,
    else MISMATCH: how a source that sees its kinks explains mismatches."""
    return np.where(straddle, KINK, np.where(clamp, CLAMP, MISMATCH)).astype(np.int8)


def verdict(j: Judged, f: float, what: str, aside_words: str, note: str = "",
            ) -> tuple[str, str]:
    """Return (status, reason) of a judged source: fail on a non-finite loss or value or on
    a mismatch, kink when every mismatch is set aside, else pass. ``what`` names the checks
    (``entries``, ``random directions``), ``aside_words`` why set-aside ones differ."""
    K = j.kind.size
    nonfinite = int((j.kind == NONFINITE).sum())
    if not np.isfinite(f) or nonfinite:
        parts = [f"loss is {f}"] if not np.isfinite(f) else []
        if nonfinite:
            parts.append(f"{nonfinite} of {K} {what} are not finite")
        return "fail", "; ".join(parts)
    bad = int(j.mismatched.sum())
    if bad:
        return "fail", f"{bad} of {K} {what} differ beyond tolerance"
    aside = int(j.set_aside.sum())
    if aside:
        return "kink", f"{aside} of {K} {what} differ only {aside_words}"
    return "pass", f"all {K} {what} agree within tolerance{note}"


def worst(j: Judged) -> int:
    """Return the judged check whose error is largest against its tolerance."""
    ratio = np.where(j.finite, j.error / np.maximum(j.tol, np.finfo(np.float64).tiny), np.inf)
    return int(np.argmax(np.where(j.set_aside, -1.0, ratio)))


Progress = Callable[[int, int], None]
