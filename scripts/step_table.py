"""Print the step-size table of the README: error and kink straddles against the step h.

Run: python scripts/step_table.py
For each step, over seeds 0-9 of two cells with the exact backprop (relu hidden + softmax +
cce, and sigmoid hidden + sigmoid + ce, 5-100-3, N=128): the largest norm-wise relative
error of the numerical gradient and the number of entries whose stencil straddled a kink.
"""

from __future__ import annotations

from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec

STEPS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9)


def main() -> None:
    """Print one markdown row per step."""
    print("| step h | relu+cce: worst norm-wise err | relu+cce: straddled entries | "
          "sigmoid+ce: worst norm-wise err |")
    print("|---:|---:|---:|---:|")
    for h in STEPS:
        relu = [run_cell(CellSpec(act="relu", loss="cce", backprop="exact", samples=128,
                                  seed=s, step=h)) for s in range(10)]
        sig = [run_cell(CellSpec(act="sigmoid", loss="ce", backprop="exact", samples=128,
                                 seed=s, step=h)) for s in range(10)]
        print(f"| {h:.0e} | {max(r.normwise for r in relu):.1e} | "
              f"{sum(r.straddled for r in relu)} | {max(r.normwise for r in sig):.1e} |")


if __name__ == "__main__":
    main()
