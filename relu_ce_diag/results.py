"""Frozen result records, cell statuses and the exit code they add up to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relu_ce_diag.cells import CellSpec

STATUSES = ("pass", "kink", "fail", "error")
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
class Finding:
    """A diagnostic that fired for a cell: stable id, severity, one-line finding with numbers."""

    id: str
    severity: str
    message: str
    fix: str = ""
    data: tuple[tuple[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "message": self.message,
                "fix": self.fix, "data": dict(self.data)}


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
    spec: CellSpec
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
    """Return 0 when every cell passes (kink too, unless strict), else 1."""
    bad = {"fail", "error"} | ({"kink"} if strict else set())
    for r in results:
        if r.status in bad:
            return EXIT_FINDING
        if strict and any(f.severity == "warning" for f in r.findings):
            return EXIT_FINDING
    return EXIT_OK
