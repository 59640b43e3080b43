"""Frozen records of a step-size sweep: the errors at each step, the fitted slopes, the verdict."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("v", "kink-plateau", "derivation-error", "non-finite", "inconclusive")
REGIONS = ("truncation", "round-off", "best", "near-best", "kink", "clamp", "derivation",
           "non-finite")
NEAR = 10.0  # a step is "near the best" within this factor of the best error
FLAT_DECADES = 3.0  # a derivation error is flat over at least this many decades of h


@dataclass(frozen=True)
class StepPoint:
    """The errors at one step; ``clean`` sets aside the entries flagged at this step.

    ``straddled``/``clamp_crossed`` are None when the function is a black box.
    """

    step: float
    max_rel: float
    normwise: float
    clean: float
    straddled: int | None
    clamp_crossed: int | None
    flagged: int
    region: str = ""


@dataclass(frozen=True)
class Fit:
    """A straight line log10(error) = slope * log10(h) + intercept over steps h_low..h_high."""

    region: str
    slope: float
    intercept: float
    h_low: float
    h_high: float
    points: int


@dataclass(frozen=True)
class Verdict:
    """What the curve says: ``kind`` is v, kink-plateau, derivation-error, non-finite or
    inconclusive (too few decades swept to tell a flat curve from a high one); the best step
    is ``points[best_index]`` (-1: none). ``report.sweep_words`` says it in words."""

    kind: str
    recommended_step: float | None
    best_step: float | None
    best_error: float | None
    best_index: int = -1

    @property
    def ok(self) -> bool:
        """True when some step gives a usable check (exit 0)."""
        return self.kind in ("v", "kink-plateau")


@dataclass(frozen=True)
class Sweep:
    """A classified sweep: one point per step (largest first), the slopes, the verdict."""

    points: tuple[StepPoint, ...]
    fits: tuple[Fit, ...]
    verdict: Verdict
    eps_machine: float
    check_step: float | None = None
    black_box: bool = False

    def fit(self, region: str) -> Fit | None:
        """Return the fit of ``region`` (truncation, round-off, kink) or None."""
        return next((f for f in self.fits if f.region == region), None)
