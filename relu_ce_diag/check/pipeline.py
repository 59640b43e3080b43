"""The one way a check is judged, whatever computes f and df: compare, refine, explain, verdict.

A *source* (the built-in network, a user's function; entry by entry or along random
directions) provides, for every check k, the analytic slope and the central difference at
step h with the magnitude its round-off scales with; it can take the difference again at h/2
and explain a mismatch (a kink or the clamp it can see, one-sided differences of a black box).
``judge`` does the rest the same way for all of them:

1. tolerance from the error model (``numeric.compare``) at h alone;
2. the second step h/2 for every check (a cheap source) or for the mismatching ones, whose
   change estimates the truncation error, except where either step crosses a kink or the
   clamp (there the change measures the kink, and must not excuse it); a check only that
   estimate excuses must agree at h/2 within a quarter of it, as truncation would (a kink a
   black box cannot flag changes n(h/2) otherwise);
3. each remaining mismatch is explained by the source: agreeing once the step's error is
   modelled as it is (a kink exactly at W, rounding the error model does not bound), set
   aside (a kink or clamp crossing; rounding that swamps the step), or kept as a mismatch, a
   flat loss or a non-finite value.

``verdict`` turns the kinds into a status and a reason, in one place for every command: a
check where most checks are set aside could not be checked (``error``), see docs/verdicts.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Protocol

import numpy as np

from relu_ce_diag.numeric.compare import TRUNCATION_FACTOR, roundoff, tolerance, truncation

Array = np.ndarray
OK, KINK, CLAMP, MISMATCH, FLAT, NONFINITE, ROUNDING = 0, 1, 2, 3, 4, 5, 6
KIND_NAMES = ("ok", "kink", "clamp", "mismatch", "flat", "nonfinite", "rounding")
SET_ASIDE = (KINK, CLAMP, ROUNDING)
STATUSES = ("pass", "kink", "fail", "error")
ASIDE_WORDS = {CLAMP: "where the step crosses the clamp",
               ROUNDING: "where rounding swamps the step"}
TINY = float(np.finfo(np.float64).tiny)
LINEAR_SLACK = 0.25  # n(h/2) - n(h/4) is half of n(h) - n(h/2) to within this share of it
RESOLUTION = 0.1  # a check agrees only with a tolerance below this share of the gradient


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
        """Return the kind of each mismatching check in ``which``: OK (agrees once the step's
        error is modelled as it is), KINK, CLAMP, ROUNDING, MISMATCH, FLAT or NONFINITE."""
        ...


@dataclass(frozen=True)
class Judged:
    """Every check of a source, judged: arrays (K,), the step, and the kind of each check.
    ``explained``: False when the source was asked to explain no check (every kind is OK or
    NONFINITE as compared, so no check agrees only once explained)."""

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
    explained: bool = True

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
    def magnitude(self) -> Array:
        """max(|analytic|, |numeric|) of each check, in float64."""
        return np.maximum(np.abs(self.analytic.astype(np.float64)),
                          np.abs(self.numeric.astype(np.float64)))

    @cached_property
    def ok(self) -> Array:
        return self.kind == OK

    @cached_property
    def set_aside(self) -> Array:
        kind = self.kind
        return (kind == KINK) | (kind == CLAMP) | (kind == ROUNDING)  # the kinds of SET_ASIDE

    @cached_property
    def mismatched(self) -> Array:
        return ~self.ok & ~self.set_aside


def judge(source: Source, h: float) -> Judged:
    """Compare every check of ``source`` at step h (and h/2) and explain each mismatch.

    (One function: the steps of the module's docstring in order, on arrays shared by all of
    them: the checks' magnitudes, where they are finite and their errors, computed once.)"""
    eps = source.eps_machine
    first = source.first(h)
    assert first.analytic is not None
    a, n, K = first.analytic, first.numeric, first.numeric.size
    a64, n64 = a.astype(np.float64), n.astype(np.float64)
    abs_a = np.abs(a64)
    finite = np.isfinite(a64) & np.isfinite(n64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a64 - n64)
    big = np.maximum(abs_a, np.abs(n64))
    tol_h = roundoff(big, first.scale, h, eps)
    ok = finite & (err <= tol_h)
    which = np.arange(K) if source.refine_all else np.flatnonzero(~ok & finite)
    if which.size and which.size == K:  # every check: its differences at h/2 as they come
        second = source.again(h / 2, which)
        half = second.numeric.astype(np.float64)
        h_straddle, h_clamp = second.straddle, second.clamp
    else:
        half = np.full(K, np.nan)
        h_straddle, h_clamp = np.zeros(K, dtype=bool), np.zeros(K, dtype=bool)
        if which.size:
            second = source.again(h / 2, which)
            half[which] = second.numeric
            h_straddle[which], h_clamp[which] = second.straddle, second.clamp
    if which.size:
        # Where a stencil crosses a kink or the clamp, n(h) - n(h/2) measures the kink, not
        # the truncation error; it must not widen the tolerance (that would excuse a bug).
        kinked = first.straddle | first.clamp | h_straddle | h_clamp
        tol = tol_h + truncation(n64, np.where(kinked, n64, half))
        # A check the truncation term excuses must show that truncation: n(h/2) is nearer,
        # within a quarter of it (a kink the source cannot see changes n(h/2) otherwise).
        nearer = np.where(np.isfinite(half), half, n64)
        with np.errstate(invalid="ignore", over="ignore"):
            quarter = (roundoff(np.maximum(abs_a, np.abs(half)), first.scale, h / 2, eps)
                       + TRUNCATION_FACTOR / 3 * np.abs(n64 - half))
            err_nearer = np.abs(a64 - nearer)
        trusted = ok | (np.isfinite(a64) & np.isfinite(nearer) & (err_nearer <= quarter))
        tol = np.where(trusted, tol, tol_h)
        ok = finite & (err <= tol)
    else:
        tol = tol_h
    kind = np.full(K, OK, dtype=np.int8)
    kind[~finite] = NONFINITE
    unresolved = swamped(ok, tol, big, finite)
    kind[unresolved] = ROUNDING
    bad = np.flatnonzero(~ok & finite)
    judged = Judged(a, n, half, first.scale, first.straddle, first.clamp, h_straddle, h_clamp,
                    tol, kind, h, explained=bool(bad.size))
    # its cached masks, as judge has computed them already
    known = {"finite": finite, "error": np.where(finite, err, np.inf), "magnitude": big}
    vars(judged).update(known)
    if not bad.size:  # kind is OK where finite and resolved, ROUNDING where not, or NONFINITE
        vars(judged).update(ok=finite & ~unresolved, set_aside=unresolved,
                            mismatched=~finite)
        return judged
    kind = kind.copy()
    kind[bad] = source.explain(bad, judged)
    judged = replace(judged, kind=kind)
    vars(judged).update(known)
    return judged


def swamped(ok: Array, tol: Array, big: Array, finite: Array) -> Array:
    """Return the agreeing checks (K,) whose tolerance exceeds RESOLUTION of the gradient's
    largest |a| or |n|: round-off swamps the step (1e8 + f at h = 1e-6, or a minimum)."""
    scale = float(big[finite].max()) if finite.any() else 0.0
    if not scale > 0:
        return np.zeros(ok.shape, dtype=bool)
    return ok & (tol > RESOLUTION * scale)


def flagged_kinds(straddle: Array, clamp: Array) -> Array:
    """Return KINK where a stencil straddles a kink, else CLAMP where it crosses the clamp,
    else MISMATCH: how a source that sees its kinks explains mismatches."""
    return np.where(straddle, KINK, np.where(clamp, CLAMP, MISMATCH)).astype(np.int8)


def at_kink_agrees(a: Array, n: tuple[Array, Array, Array], scale: Array, h: float,
                   eps: float) -> Array:
    """Return where a check whose stencils straddle a kink at h, h/2 and h/4 (arrays (K,):
    analytic ``a``, differences ``n`` at the three steps) agrees with the limit of its
    central differences.

    With the kink exactly at W the central difference tends to the mean of the one-sided
    slopes with an error proportional to the step (the two sides curve differently), so
    n(h) - n(h/2) is half of the error of n(h) and n(h/2) - n(h/4) half of n(h) - n(h/2).
    A check agrees when the differences fall like that, its mismatch at h is that error, and
    the analytic value is their limit (Richardson through the three steps, exact for
    A + B t + C t^2), each within LINEAR_SLACK of the fall and the round-off at h (not the
    larger one at h/4: a fall that only round-off at h/4 could hide is not read as one).
    """
    n1, n2, n4 = (x.astype(np.float64) for x in n)
    d1, d2 = n1 - n2, n2 - n4
    ro = tolerance(a, n1, None, scale, h, eps)
    slack = LINEAR_SLACK * np.abs(d1) + ro
    with np.errstate(invalid="ignore"):
        linear = np.abs(d2 - d1 / 2) <= slack
        explained = np.abs(a - n1) <= 2 * np.abs(d1) + 2 * slack
        near = np.abs(a - (8 * n4 - 6 * n2 + n1) / 3) <= slack
    return linear & explained & near


def rounding_kinds(a: Array, n: Array, tol: Array, allowance: Array, bound: Array) -> Array:
    """Return the kind of mismatching checks (K,) whose error model leaves out a rounding
    (of activations near their bound, or the jitter of f) that could move their difference
    by up to ``bound`` (K,), by ``allowance`` (K,) as far as it can be told: MISMATCH beyond
    ``tol`` + allowance; within it ROUNDING where the bound is as large as the value checked
    (no difference at this point can tell it from 0), else OK."""
    a64, n64 = a.astype(np.float64), n.astype(np.float64)
    err = np.abs(a64 - n64)
    big = np.maximum(np.abs(a64), np.abs(n64))
    kind = np.where(bound >= big, ROUNDING, OK)
    return np.where(err <= tol + allowance, kind, MISMATCH).astype(np.int8)


def verdict(j: Judged, f: float, what: str, kink_words: str, note: str = "",
            ) -> tuple[str, str]:
    """Return (status, reason) of a judged source: fail on a non-finite loss or value or on
    a mismatch; error when more than half of the checks are set aside (nothing found wrong,
    but too little checked); kink when some are, else pass. ``what`` names the checks
    (``entries``, ``random directions``), ``kink_words`` why a kink's checks differ."""
    K = j.kind.size
    nonfinite = int(np.count_nonzero(j.kind == NONFINITE))
    if not np.isfinite(f) or nonfinite:
        parts = [f"loss is {f}"] if not np.isfinite(f) else []
        if nonfinite:
            parts.append(f"{nonfinite} of {K} {what} are not finite")
        return "fail", "; ".join(parts)
    bad = int(np.count_nonzero(j.mismatched))
    if bad:
        return "fail", f"{bad} of {K} {what} differ beyond tolerance"
    aside = int(np.count_nonzero(j.set_aside))
    if not aside:
        return "pass", f"all {K} {what} agree within tolerance{note}"
    words = {**ASIDE_WORDS, KINK: kink_words}
    counts = [(words[k], int((j.kind == k).sum())) for k in SET_ASIDE]
    counts = [(w, c) for w, c in counts if c]
    if 2 * aside > K:
        why = ", ".join(f"{c} {w}" for w, c in counts)
        judged = (f"and only {K - aside} judged; those agree, so" if aside < K
                  else "and none judged:")
        move = ("move the point (see the findings)" if 2 * int(np.count_nonzero(swamped(
            j.kind == ROUNDING, j.tol, j.magnitude, j.finite))) <= K else
            f"the gradient, at most {float(j.magnitude[j.finite].max()):.3g} here, is below "
            f"the round-off of a loss of {f:.6g} at step {j.step:g}: check where it is larger "
            "(not at a minimum), take a larger --step, or leave a constant out of the loss")
        return "error", (f"could not be checked: {aside} of {K} {what} are set aside ({why}) "
                         f"{judged} the gradient is not found wrong, but a check that judges "
                         f"fewer than half of its {what} is no check; {move}")
    why = counts[0][0] if len(counts) == 1 else " or ".join(f"{w} ({c})" for w, c in counts)
    return "kink", f"{aside} of {K} {what} differ only {why}"


def worst(j: Judged) -> int:
    """Return the judged check whose error is largest against its tolerance: a mismatching
    one if any, else one that agrees within the error model (not one that agrees only once
    explained: a kink at W, a rounding the tolerance leaves out)."""
    ratio = np.where(j.finite, j.error / np.maximum(j.tol, TINY), np.inf)
    pool = j.mismatched if j.mismatched.any() else j.ok & (ratio <= 1)
    if not pool.any():
        pool = ~j.set_aside
    return int(np.argmax(np.where(pool, ratio, -1.0)))


Progress = Callable[[int, int], None]
