"""Write saturated.npz: the default sigmoid cell with its weights scaled by 40.

Pre-activations reach |z| ~ 150, so sigmoid units round to exactly 0 or 1 or sit within a few
ulps of 1, and outputs fall inside the eps clamp: the case of the float-saturation and
clamp-saturation diagnostics.

Run from the repository root: ``python scripts/make_saturated.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relu_ce_diag.settings.cells import CellSpec, prepare

SCALE = 40.0


def build() -> dict[str, np.ndarray]:
    """Return X (16, 5), Y (16, 3) one-hot and W (903,) = 40 x the default sigmoid weights."""
    a = prepare(CellSpec(act="sigmoid", loss="ce")).arrays
    return {"X": a.X, "Y": a.Y, "W": SCALE * a.W}


if __name__ == "__main__":
    np.savez(Path(__file__).resolve().parents[1] / "configs" / "data" / "saturated.npz", **build())
