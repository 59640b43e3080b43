"""Print the seed reproduction table of the README: the Q&A's cells, checked by relu-diag.

Run: python scripts/seed_table.py
"""

from __future__ import annotations

import time

from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec

CELLS = [
    ("question: SE", dict(act=a, loss="se")) for a in ("sigmoid", "tanh", "relu")
] + [
    ("question: CE", dict(act=a, loss="ce")) for a in ("sigmoid", "tanh", "relu")
] + [
    ("edit: softmax + CE", dict(act=a, loss="cce")) for a in ("sigmoid", "tanh", "relu")
] + [
    ("question: CE, exact backprop", dict(act=a, loss="ce", backprop="exact"))
    for a in ("tanh", "relu")
]


def main() -> None:
    """Run every cell with the defaults (5-100-3, N=16, seed 0) and print a markdown table."""
    print("| Q&A | cell | status | max rel err | norm-wise rel err | worst entry | time |")
    print("|---|---|---|---:|---:|---|---:|")
    for label, kw in CELLS:
        t0 = time.perf_counter()
        r = run_cell(CellSpec(**kw))
        ms = (time.perf_counter() - t0) * 1e3
        w = r.worst
        print(f"| {label} | `{r.id}` | {r.status} | {r.max_rel:.1e} | {r.normwise:.1e} | "
              f"`{w.name}` a={w.analytic:.3g} n={w.numeric:.3g} | {ms:.0f} ms |")


if __name__ == "__main__":
    main()
