"""The versioned JSON form of a run: byte-stable for the same inputs and seed."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from relu_ce_diag import __version__
from relu_ce_diag.results import CellResult

SCHEMA = "relu-diag/results/1"


def strict_floats(v: Any) -> Any:
    """Replace non-finite floats by strings so the output is strict JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: strict_floats(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [strict_floats(x) for x in v]
    return v


def to_json(command: str, results: Sequence[CellResult], exit_code: int,
            extra: dict[str, Any] | None = None) -> str:
    """Return the JSON document for a run of ``command`` (see the README for the schema)."""
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "kink", "fail", "error")}
    doc = {
        "schema": SCHEMA,
        "tool": {"name": "relu-diag", "version": __version__},
        "command": command,
        **(extra or {}),
        "summary": {"cells": len(results), **counts, "exit_code": exit_code},
        "cells": [r.as_dict() for r in results],
    }
    return json.dumps(strict_floats(doc), indent=2, allow_nan=False) + "\n"
