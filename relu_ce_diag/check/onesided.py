"""One-sided differences of a black box at a mismatching check: a kink, curvature, or a real
mismatch, told apart by how the gap between them changes as the step halves.

With left and right differences l(t) = (f(W) - f(W - t)) / t and r(t) = (f(W + t) - f(W)) / t
on a smooth piece, r - l = t f'' + O(t^2): curvature, which halves with the step. At a kink
exactly at W the gap tends to the jump of the slopes and stays as the step halves. So, over
the steps h, h/2, h/4, ... (``Sides`` each), three at a time (``_pattern``):

* the gap halves from h down (smooth within h), or the gaps at h and h/2 do not stand above
  their round-off (nothing to read): the central difference at h was valid and its mismatch
  stands (MISMATCH), however wide the gap, since a gap that shrinks like the step is
  curvature, not a kink; unless the gaps halve without any help from round-off (which
  could hide a kink at W), a mismatch no larger than the round-off of the central
  difference at h/4 is set aside, as one that rounding swamps (ROUNDING);
* the gap stays (same sign, at least PERSIST of it kept per halving, twice running): a kink
  at W, or so close to it that the steps cannot tell. The check agrees with the limit of its
  central differences (the mean of the slopes, reached with an error proportional to the
  step): OK; it lies between the left and right derivatives (a valid subgradient): KINK;
  else MISMATCH;
* the gap halves, or vanishes, at the smallest steps but not from h: a kink lies inside the
  stencil, not at W, and the central difference at the smallest step measures the
  derivative at W: KINK when the analytic value agrees with it (the step h straddled a
  kink), else MISMATCH;
* otherwise a smaller step is taken (None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relu_ce_diag.check.pipeline import KINK, MISMATCH, OK, ROUNDING
from relu_ce_diag.numeric.compare import ROUNDOFF_FACTOR, TRUNCATION_FACTOR, ULP_FACTOR

NOISE_FACTOR = 2.0  # the probe sees a few increments; the 2P calls may jitter somewhat more
ORDINARY_JITTER = ULP_FACTOR  # jitter up to this many ulps of |f| is f's own rounding
PERSIST = 0.7  # a kink's gap keeps at least this share as the step halves (curvature: 1/2)
HALVING_SLACK = 0.05  # a curvature gap halves to this share of the larger one (t^2 terms)
MIDWAY = (1 + 0.5) / 2  # a gap ratio per halving above this is nearer staying than halving


def excess_jitter(noise: float, eps: float, f: float) -> float:
    """Return the jitter of f beyond its own rounding (ORDINARY_JITTER ulps of |f|): rounding
    inside the function that a step cannot resolve (e.g. 1 - y a few ulps from 0)."""
    return max(0.0, noise - ORDINARY_JITTER * eps * abs(f))


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

    @property
    def gap(self) -> float:
        return self.right - self.left

    @property
    def central(self) -> float:
        return (self.plus[0] - self.minus[0]) / (self.plus[1] - self.minus[1])

    def roundoff(self, eps: float, noise: float) -> float:
        """Round-off of the one-sided differences: (eps (|f0| + |f(W +- t)|) + noise) / t."""
        t = min(abs(self.plus[1]), abs(self.minus[1]))
        mag = abs(self.f0) + max(abs(self.plus[0]), abs(self.minus[0]))
        return ROUNDOFF_FACTOR * (eps * mag + NOISE_FACTOR * noise) / t


def flat(f0: float, sides: list[Sides]) -> bool:
    """True when the loss does not move at all at any of the steps taken."""
    return all(s.plus[0] == f0 == s.minus[0] for s in sides)


def _pattern(sides: list[Sides], eps: float, noise: float) -> str:
    """Say what the gaps at three consecutive steps 2t0, t0, t0/2 show: ``unresolved`` (the
    first two do not both stand above their round-off: too little to read), ``smooth``
    (they halve with the step), ``kink`` (they stay: same sign, each halving keeps PERSIST
    of the gap), or ``neither``. When round-off is too large to rule either out, the gaps'
    own ratio decides: nearer to staying (1) or to halving (1/2)."""
    g = [s.gap for s in sides]
    # the gap's likely round-off (two one-sided differences, without the error model's
    # safety factor, which would make every gap look like either pattern)
    e = [2 * s.roundoff(eps, noise) / ROUNDOFF_FACTOR for s in sides]
    if not (abs(g[0]) > e[0] and abs(g[1]) > e[1]):
        return "unresolved"
    halving = all(abs(g[i + 1] - g[i] / 2) <= HALVING_SLACK * abs(g[i]) + e[i + 1] + e[i] / 2
                  for i in (0, 1))
    staying = all(
        np.sign(g[i + 1]) == np.sign(g[i])
        and abs(g[i + 1] - g[i]) <= (1 - PERSIST) * abs(g[i]) + e[i + 1] + e[i]
        for i in (0, 1))
    if halving and staying:
        halving = abs(g[2] / g[0]) ** 0.5 <= MIDWAY
        staying = not halving
    return "smooth" if halving else "kink" if staying else "neither"


def _halves_clearly(sides: list[Sides]) -> bool:
    """True when the gaps at h, h/2, h/4 halve within HALVING_SLACK without any allowance for
    round-off: curvature the steps resolve, where a kink or rounding would show."""
    g = [s.gap for s in sides]
    return all(abs(g[i + 1] - g[i] / 2) <= HALVING_SLACK * abs(g[i]) for i in (0, 1))


def _agrees(a: float, cur: Sides, err: float, eps: float, noise: float) -> bool:
    """True when ``a`` is within round-off, ulps and ``err`` of the central difference."""
    ulp = ULP_FACTOR * eps * max(abs(a), abs(cur.central))
    return abs(a - cur.central) <= cur.roundoff(eps, noise) + ulp + err


def _at_kink(a: float, cur: Sides, prev: Sides, eps: float, noise: float) -> int:
    """Judge a check with a kink at W: OK at the central differences' limit, KINK for a
    valid subgradient, else MISMATCH."""
    if _agrees(a, cur, TRUNCATION_FACTOR * abs(prev.central - cur.central), eps, noise):
        return OK
    lo, hi = min(cur.left, cur.right), max(cur.left, cur.right)
    # each one-sided difference is off by about the curvature term, which its change from
    # 2t to t measures; round-off and a few ulps on top
    trunc = max(abs(cur.left - prev.left), abs(cur.right - prev.right))
    s = cur.roundoff(eps, noise) + ULP_FACTOR * eps * max(abs(a), abs(lo), abs(hi)) + trunc
    return KINK if lo - s <= a <= hi + s else MISMATCH


def explain_sides(a: float, sides: list[Sides], eps: float, noise: float) -> int | None:
    """Judge a mismatched check from its one-sided differences at the steps h, h/2, h/4, ...
    taken so far (see the module): OK, KINK, ROUNDING, MISMATCH, or None to take a smaller
    step."""
    if len(sides) < 3:
        return None
    pattern = _pattern(sides[-3:], eps, noise)
    prev, cur = sides[-2:]
    richardson = TRUNCATION_FACTOR * abs(prev.central - cur.central) / 3
    if len(sides) == 3 and pattern == "smooth" and _halves_clearly(sides):
        # the gaps halve as curvature does, round-off no part of it: the difference at h was
        # valid and resolved f, so its mismatch stands (h/4's larger round-off excuses nothing)
        return MISMATCH
    if len(sides) == 3 and pattern in ("smooth", "unresolved"):
        # smooth from h down only within round-off (or nothing to read): a mismatch only as
        # large as the round-off at h/4 is one rounding swamps
        return ROUNDING if _agrees(a, cur, richardson, eps, noise) else MISMATCH
    if pattern in ("smooth", "unresolved"):
        # smooth below a kink inside the stencil: the smallest step measures f'(W)
        return KINK if _agrees(a, cur, richardson, eps, noise) else MISMATCH
    if pattern == "kink":
        return _at_kink(a, cur, prev, eps, noise)
    return None
