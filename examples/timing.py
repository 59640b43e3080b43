"""Time ``--directions`` on the reference network and ``--fn`` on the seed's function.

Prints, for a few cell sizes, the time of one forward pass, the fixed cost of a directional
check and its cost per direction (2 forward passes and a few passes over W; best of 5 runs
each), then the time and the number of calls of ``check --fn`` on examples/seed_case.npz.
Run it from the repository root: ``python examples/timing.py``; the README's figures come
from it (with ``OPENBLAS_NUM_THREADS=1`` on a shared machine, for stable numbers).
"""

import time
from pathlib import Path

from relu_ce_diag import check_function
from relu_ce_diag.check.builtin import check_directions
from relu_ce_diag.model.network import forward
from relu_ce_diag.settings.cells import CellSpec, prepare, validate

HERE = Path(__file__).parent


def best(fn, repeats: int = 5) -> float:
    """Return the best wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def directions_table(K: int = 8) -> None:
    """Print, for growing cells, one forward pass, the fixed cost of a directional check (its
    time at K = 0 extrapolated from K = 1 and K + 1) and the cost per direction."""
    print("| cell | P | one forward pass | fixed cost | per direction | "
          f"--directions {K} |")
    print("|---|---:|---:|---:|---:|---:|")
    for inputs, hidden, outputs, samples in ((5, 100, 3, 16), (784, 300, 10, 64),
                                             (784, 1000, 10, 128)):
        spec = validate(CellSpec(act="relu", loss="cce", inputs=inputs, hidden=(hidden,),
                                 outputs=outputs, samples=samples))
        prep = prepare(spec)
        W, X, Y = prep.arrays.W, prep.arrays.X, prep.arrays.Y
        t_fw = best(lambda: forward(prep.net, W, X, Y))  # noqa: B023
        t_1 = best(lambda: check_directions(prep, spec.id, 1))  # noqa: B023
        t_k1 = best(lambda: check_directions(prep, spec.id, K + 1))  # noqa: B023
        per = (t_k1 - t_1) / K
        print(f"| {inputs}-{hidden}-{outputs}, N={samples} | {prep.net.n_params} | "
              f"{1e3 * t_fw:.2f} ms | {1e3 * (t_1 - per):.1f} ms | {1e3 * per:.1f} ms | "
              f"{1e3 * (t_1 + (K - 1) * per):.1f} ms |")


def seed_fn() -> None:
    """Print the time and calls of the black-box check of the seed's function."""
    import sys
    sys.path.insert(0, str(HERE))
    import numpy as np
    from seed_backprop import backprop

    with np.load(HERE / "seed_case.npz") as z:
        W, X, Y = z["W"], z["X"], z["Y"]
    t0 = time.perf_counter()
    r = check_function(backprop, W, X, Y, act="relu", loss="ce")
    dt = time.perf_counter() - t0
    calls = dict(r.findings[-1].data)["calls"]
    print(f"seed backprop, P = {r.n_params}: {calls} calls in {dt:.2f} s, status {r.status}, "
          f"{r.mismatched} of {r.n_params} entries mismatched, first finding {r.findings[0].id}")


if __name__ == "__main__":
    directions_table()
    seed_fn()
