"""Scan correct gradients for false alarms: the largest error/tolerance ratio over many cells.

Run: python scripts/false_alarm_scan.py [float64|float32]
Every hidden activation x smooth output/loss pair x 8 seeds x 3 sizes, exact backprop. A
ratio below 1 means the entry passed; docs/check.md quotes the largest ratio seen.
"""

from __future__ import annotations

import sys
from collections import Counter

from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec

PAIRS = [(o, "se") for o in ("sigmoid", "tanh", "softplus", "identity", "softmax")] + [
    ("sigmoid", "ce"), ("softmax", "ce"), ("softmax", "cce"), ("sigmoid", "cce")]
HIDDEN = ("sigmoid", "tanh", "softplus", "identity", "relu", "leaky-relu")
SIZES = (dict(), dict(inputs=20, outputs=6, samples=100, hidden=(50,)),
         dict(hidden=(10, 7), samples=9))


def main() -> None:
    """Run the scan and print the statuses and the worst ratio with its cell and entry."""
    dtype = sys.argv[1] if len(sys.argv) > 1 else "float64"
    statuses: Counter[str] = Counter()
    worst, where = 0.0, ""
    for act in HIDDEN:
        for out, loss in PAIRS:
            for seed in range(8):
                for size in SIZES:
                    r = run_cell(CellSpec(act=act, out=out, loss=loss, backprop="exact",
                                          seed=seed, dtype=dtype, targets="multilabel"
                                          if loss == "ce" else "onehot", **size))
                    statuses[r.status] += 1
                    if r.worst is not None and r.worst.error / r.worst.tol > worst:
                        worst = r.worst.error / r.worst.tol
                        where = f"{r.id}: {r.worst.name}"
    print(f"{dtype}: {sum(statuses.values())} cells, {dict(statuses)}; "
          f"largest error/tolerance {worst:.3f} at {where}")


if __name__ == "__main__":
    main()
