"""Every JSON document relu-diag writes (results, grids, sweeps): versioned, strict JSON,
byte-stable for the same inputs and seed."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from relu_ce_diag._version import __version__
from relu_ce_diag.report.sweep_words import verdict_lines
from relu_ce_diag.results.cell import CellResult
from relu_ce_diag.results.grid import GridRun
from relu_ce_diag.results.sweep import Sweep

SCHEMA = "relu-diag/results/1"
SWEEP_SCHEMA = "relu-diag/sweep/1"
SHARD = tuple[int, int]


def strict_floats(v: Any) -> Any:
    """Replace non-finite floats by strings so the output is strict JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: strict_floats(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [strict_floats(x) for x in v]
    return v


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(strict_floats(doc), indent=2, allow_nan=False) + "\n"


def _tool() -> dict[str, str]:
    return {"name": "relu-diag", "version": __version__}


def results_document(command: str, results: Sequence[CellResult], exit_code: int,
                     extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the results document of a run of ``command`` (schema ``relu-diag/results/1``)."""
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "kink", "fail", "error")}
    return {
        "schema": SCHEMA,
        "tool": _tool(),
        "command": command,
        **(extra or {}),
        "summary": {"cells": len(results), **counts, "exit_code": exit_code},
        "cells": [r.as_dict() for r in results],
    }


def to_json(command: str, results: Sequence[CellResult], exit_code: int,
            extra: dict[str, Any] | None = None) -> str:
    """Return the JSON text of a run of ``command`` (see docs/json.md for the schema)."""
    return _dump(results_document(command, results, exit_code, extra))


def grid_json(run: GridRun, name: str, file: str, strict: bool, shard: SHARD | None) -> str:
    """Return the JSON text of a grid run: the results schema plus, per cell, its
    expectation and whether it was met."""
    results = [o.result for o in run.outcomes]
    extra = {"grid": {"name": name, "file": file, "strict": strict,
                      "shard": f"{shard[0]}/{shard[1]}" if shard else None,
                      "planned": run.planned, "interrupted": run.interrupted,
                      "met": sum(o.met for o in run.outcomes),
                      "not_met": sum(not o.met for o in run.outcomes)}}
    doc = results_document("grid", results, run.exit_code, extra)
    for cell, o in zip(doc["cells"], run.outcomes, strict=True):
        cell["expected"] = list(o.cell.expected)
        cell["expectation_met"] = o.met
        cell["why"] = o.cell.why
        cell["grid_index"] = o.cell.index
    return _dump(doc)


def sweep_json(s: Sweep, cell_id: str, settings: dict[str, Any], n_params: int,
               exit_code: int) -> str:
    """Return the JSON text of a sweep (schema ``relu-diag/sweep/1``)."""
    v = s.verdict
    return _dump({
        "schema": SWEEP_SCHEMA,
        "tool": _tool(),
        "command": "sweep",
        "cell": {"id": cell_id, "settings": settings, "n_params": n_params},
        "black_box": s.black_box,
        "eps_machine": s.eps_machine,
        "check_step": s.check_step,
        "steps": [{"step": p.step, "normwise_rel_error": p.normwise,
                   "normwise_rel_error_clean": p.clean, "max_rel_error": p.max_rel,
                   "straddled": p.straddled, "clamp_crossed": p.clamp_crossed,
                   "set_aside": p.flagged, "region": p.region} for p in s.points],
        "fits": [{"region": f.region, "slope": f.slope, "intercept": f.intercept,
                  "h_low": f.h_low, "h_high": f.h_high, "points": f.points} for f in s.fits],
        "verdict": {"kind": v.kind, "recommended_step": v.recommended_step,
                    "best_step": v.best_step, "best_error": v.best_error,
                    "text": list(verdict_lines(s))},
        "exit_code": exit_code,
    })
