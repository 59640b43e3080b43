"""Frozen result records of a cell, the one builder that makes them, and the exit code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relu_ce_diag.check.checked import Checked
from relu_ce_diag.check.pipeline import KINK, worst
from relu_ce_diag.diagnostics.registry import Finding
from relu_ce_diag.numeric.compare import (
    block_errors,
    normwise_relative,
    relative_errors,
    tiling,
)
from relu_ce_diag.settings.cells import CellSpec
from relu_ce_diag.settings.function import FunctionSpec

EXIT_OK, EXIT_FINDING, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


@dataclass(frozen=True)
class Entry:
    """One named parameter entry with both gradient values, its error and tolerance."""

    name: str
    index: int
    analytic: float
    numeric: float
    error: float
    tol: float

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "index": self.index, "analytic": self.analytic,
                "numeric": self.numeric, "abs_error": self.error, "tolerance": self.tol}


@dataclass(frozen=True)
class BlockStats:
    """Errors of one block of W (``w1``, ``b1``, ...)."""

    name: str
    size: int
    max_rel: float
    normwise: float
    mismatched: int
    set_aside: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "max_rel_error": self.max_rel,
                "normwise_rel_error": self.normwise, "mismatched": self.mismatched,
                "set_aside": self.set_aside}


@dataclass(frozen=True)
class GradArrays:
    """The arrays behind a result, for ``--save-grads``; never part of the JSON."""

    W: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    analytic: np.ndarray
    numeric: np.ndarray
    exact: np.ndarray | None
    loss: float


@dataclass(frozen=True)
class CellResult:
    """The outcome of one cell. ``status`` is one of STATUSES; ``reason`` says why in words."""

    id: str
    spec: CellSpec | FunctionSpec
    status: str
    reason: str
    loss: float = float("nan")
    n_params: int = 0
    step: float = 0.0
    max_rel: float = float("nan")
    max_rel_judged: float = float("nan")
    normwise: float = float("nan")
    mismatched: int = 0
    set_aside: tuple[str, ...] = ()
    straddled: int = 0
    clamp_crossed: int = 0
    worst: Entry | None = None
    blocks: tuple[BlockStats, ...] = ()
    findings: tuple[Finding, ...] = ()
    arrays: GradArrays | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of this result (schema in the README)."""
        return {
            "id": self.id, "status": self.status, "reason": self.reason,
            "settings": self.spec.as_dict(), "loss": self.loss, "n_params": self.n_params,
            "step": self.step, "max_rel_error": self.max_rel,
            "max_rel_error_judged": self.max_rel_judged, "normwise_rel_error": self.normwise,
            "mismatched": self.mismatched, "set_aside": list(self.set_aside),
            "straddled": self.straddled, "clamp_crossed": self.clamp_crossed,
            "worst": self.worst.as_dict() if self.worst else None,
            "blocks": [b.as_dict() for b in self.blocks],
            "findings": [f.as_dict() for f in self.findings],
        }


def exit_code(results: Iterable[CellResult], strict: bool = False) -> int:
    """Return 0 when every cell passes (kink too, unless strict), else 1: also for ``error``,
    a cell that could not be checked (one that judged fewer than half of its checks, the rest
    set aside, is not passed by a CI gate, and is not called wrong; docs/verdicts.md)."""
    bad = {"fail", "error"} | ({"kink"} if strict else set())
    for r in results:
        if r.status in bad:
            return EXIT_FINDING
        if strict and any(f.severity == "warning" for f in r.findings):
            return EXIT_FINDING
    return EXIT_OK


def build_result(c: Checked, findings: tuple[Finding, ...]) -> CellResult:
    """Turn a checked source and its findings into the CellResult every command reports: the
    status and reason of the check, the errors with and without the set-aside checks, the
    worst judged check and the errors of each block of W."""
    j = c.judged
    a64, n64 = j.analytic.astype(np.float64), j.numeric.astype(np.float64)
    # per check, from what judging computed; reduced over all checks, the judged and blocks
    rel = relative_errors(a64, n64, err=j.error, finite=j.finite, big=j.magnitude)
    aside = np.flatnonzero(j.set_aside)
    mismatched = int(np.count_nonzero(j.mismatched))
    max_rel = float(rel.max()) if rel.size else 0.0
    judged = ~j.set_aside
    max_judged = (max_rel if not aside.size  # every check judged
                  else float(rel[judged].max()) if judged.any() else 0.0)
    w = worst(j)
    blocks: tuple[BlockStats, ...] = ()
    if c.entries and c.layout is not None:
        slices = [b.slice for b in c.layout.blocks]
        maxima, norms = block_errors(a64, n64, rel, slices)
        none = [0] * len(slices)
        bad = _counts(j.mismatched, slices) if mismatched else none
        away = _counts(j.set_aside, slices) if aside.size else none
        blocks = tuple(BlockStats(b.name, b.size, *stats) for b, stats in zip(
            c.layout.blocks, zip(maxima, norms, bad, away, strict=True), strict=True))
    straddled = int(np.count_nonzero(j.straddle if c.black is None else j.kind == KINK))
    return CellResult(
        id=c.id, spec=c.settings, status=c.status, reason=c.reason, loss=c.f, n_params=c.df.size,
        step=j.step, max_rel=max_rel, max_rel_judged=max_judged,
        normwise=normwise_relative(a64, n64), mismatched=mismatched,
        set_aside=tuple(c.name(int(k)) for k in aside),
        straddled=straddled, clamp_crossed=int(np.count_nonzero(j.clamp)),
        worst=Entry(c.name(w), w, float(a64[w]), float(n64[w]), float(j.error[w]),
                    float(j.tol[w])),
        blocks=blocks, findings=findings,
        arrays=GradArrays(c.W, c.X, c.Y, c.df, j.numeric, c.exact, c.f))


def _counts(mask: np.ndarray, slices: list[slice]) -> list[int]:
    """Return how many entries of ``mask`` (P,) are set in each slice."""
    starts = tiling(slices, mask.size)
    if starts is not None:
        return [int(k) for k in np.add.reduceat(mask, starts, dtype=np.int64)]
    running = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    return [int(running[s.stop] - running[s.start]) for s in slices]
