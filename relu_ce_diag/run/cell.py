"""Run one cell of the built-in network: validate, bound, prepare, check, diagnose, build the
result. Never prints."""

from __future__ import annotations

import numpy as np

from relu_ce_diag.check.budget import Limits, refuse_too_large
from relu_ce_diag.check.builtin import check_directions, check_entries
from relu_ce_diag.diagnostics import diagnose
from relu_ce_diag.results.cell import CellResult, build_result
from relu_ce_diag.settings.cells import CellSpec, Prepared, prepare, validate


def run_cell(spec: CellSpec, limits: Limits | None = None, *, directions: int | None = None,
             ignore: tuple[str, ...] = (), method: str = "fast") -> CellResult:
    """Validate, prepare and check one cell (every entry, or K random ``directions``); input
    problems (and a cell over ``limits``) raise ReluDiagError before any gradient is
    computed. ``ignore`` names diagnostics not to run; ``method`` is the numerical route."""
    limits = limits if limits is not None else Limits()
    spec = validate(spec)
    # before generating or loading anything: sizes from the spec or the data's headers
    refuse_too_large(spec, limits, spec.id, method=method, directions=directions)
    prep = prepare(spec)
    if directions is not None:
        checked = check_directions(prep, spec.id, directions)
        return build_result(checked, diagnose(checked, ignore))
    return check_prepared(prep, spec.id, method=method, ignore=ignore)


def check_prepared(prep: Prepared, cell_id: str, analytic: np.ndarray | None = None,
                   method: str = "fast", ignore: tuple[str, ...] = ()) -> CellResult:
    """Check the backprop of a prepared cell (or a given ``analytic`` (P,)) against central
    differences, entry by entry, with every diagnostic not in ``ignore``."""
    checked = check_entries(prep, cell_id, analytic, method)
    return build_result(checked, diagnose(checked, ignore))
