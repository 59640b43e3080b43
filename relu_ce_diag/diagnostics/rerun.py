"""The same cell checked again at another dtype or step, through the same pipeline: how
the precision finding compares float32 with float64, and how a suggested step is tried
before it is printed (a suggestion is stable when followed)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from relu_ce_diag.check.builtin import check_entries
from relu_ce_diag.check.pipeline import KINK, Judged
from relu_ce_diag.diagnostics.context import Context
from relu_ce_diag.numeric.compare import max_relative
from relu_ce_diag.settings.cells import Prepared
from relu_ce_diag.settings.data import Arrays

Array = np.ndarray
MAX_TRIED = 200_000  # a suggested step is tried on cells up to this many entries


@dataclass(frozen=True)
class Recheck:
    """The verdict of the same point at another dtype or step.

    ``error`` (P,) is analytic - numeric in float64 (0 where either is non-finite);
    ``kinked`` counts the mismatching entries whose step straddles a kink (set aside)."""

    dtype: str
    step: float
    mismatched: int
    set_aside: int
    kinked: int
    max_rel: float
    error: Array = field(compare=False, repr=False)
    judged: Judged = field(compare=False, repr=False)


def _rechecks(ctx: Context) -> dict[tuple[str | None, float | None], Recheck]:
    return {}


def recheck(ctx: Context, dtype: str | None = None, step: float | None = None) -> Recheck:
    """Re-run the cell's check at the same point in ``dtype`` (the cell's own if None) with
    ``step`` (that dtype's default step if None); each once per cell, whichever rule asks."""
    done = ctx.once(_rechecks)
    if (dtype, step) not in done:
        done[(dtype, step)] = _recheck(ctx, dtype, step)
    return done[(dtype, step)]


def _recheck(ctx: Context, dtype: str | None, step: float | None) -> Recheck:
    prep = ctx.prep
    arr = prep.arrays
    dt = np.dtype(dtype) if dtype is not None else arr.W.dtype
    other = Prepared(replace(prep.spec, dtype=str(dt), step=step), prep.net,
                     Arrays(arr.W.astype(dt), arr.X.astype(dt), arr.Y.astype(dt)))
    with np.errstate(all="ignore"):
        j = check_entries(other, ctx.id).judged
    a64, n64 = j.analytic.astype(np.float64), j.numeric.astype(np.float64)
    return Recheck(str(dt), j.step, int(j.mismatched.sum()), int(j.set_aside.sum()),
                   int(((j.kind == KINK) & j.straddle).sum()), max_relative(a64, n64),
                   np.where(j.finite, a64 - n64, 0.0), j)


def can_try(ctx: Context) -> bool:
    """Whether a suggested step may be tried first (small enough to check twice)."""
    return bool(ctx.white_entries and ctx.analytic.size <= MAX_TRIED)


def floor1(x: float) -> float:
    """Round ``x`` > 0 down to one significant digit (2.4e-3 -> 2e-3): a step printed as
    a bound must not be rounded up past it."""
    e = np.floor(np.log10(x))
    return float(np.floor(x / 10 ** e) * 10 ** e)
