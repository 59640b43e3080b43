"""One-sided differences of a black box at a mismatching check: a kink, a flat loss, or a
real mismatch.

At a kink exactly at W the left and right derivatives differ and the analytic value of a
valid subgradient lies between them; on a smooth piece their gap is curvature, which halves
with the step.
"""

from __future__ import annotations

from dataclasses import dataclass

from relu_ce_diag.check.pipeline import KINK, MISMATCH
from relu_ce_diag.numeric.compare import ROUNDOFF_FACTOR, ULP_FACTOR

NOISE_FACTOR = 2.0  # the probe sees a few increments; the 2P calls may jitter somewhat more


@dataclass(frozen=True)
class Sides:
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


def flat(f0: float, sides: list[Sides]) -> bool:
    """True when the loss does not move at all at any of the steps taken."""
    return all(s.plus[0] == f0 == s.minus[0] for s in sides)


def explain_sides(a: float, sides: list[Sides], eps: float, noise: float) -> int | None:
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
