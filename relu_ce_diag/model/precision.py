"""Floating-point facts: the precisions a check runs in and the default step of each."""

from __future__ import annotations

from functools import cache

import numpy as np

DTYPES = ("float64", "float32")
# The default finite-difference step per precision: about eps_machine^(1/3) times the scale
# of W, where truncation (h^2) and round-off (eps / h) balance for a smooth loss.
STEP = {"float64": 1e-6, "float32": 1e-2}


@cache  # dtypes and their names are few and hashable
def eps_machine(dtype: np.dtype | str) -> float:
    """Return the machine epsilon of ``dtype`` (2.2e-16 for float64, 1.2e-7 for float32)."""
    return float(np.finfo(np.dtype(dtype)).eps)


@cache
def default_step(dtype: np.dtype | str) -> float:
    """Return the default step of ``dtype`` (float32's for anything coarser than float64)."""
    name = np.dtype(dtype).name
    return STEP.get(name, STEP["float32"])
