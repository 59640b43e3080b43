"""Time ``--directions`` on the reference network and ``--fn`` on the seed's function.

Prints, for a few cell sizes, the time of one forward pass and of a K-direction check, and
the check's overhead beyond its 2K forward passes (best of 5 runs each), then the time and
the number of calls of ``check --fn`` on examples/seed_case.npz. Run it from the repository
root: ``python examples/timing.py``. The figures in the README come from this script.
"""

import time
from pathlib import Path

from relu_ce_diag import check_function
from relu_ce_diag.cells import CellSpec, prepare, validate
from relu_ce_diag.directional import check_directions
from relu_ce_diag.network import forward

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
    """Print forward time, check time and overhead for growing cells."""
    print(f"| cell | P | forward | --directions {K} | overhead beyond {2 * K} forwards |")
    print("|---|---:|---:|---:|---:|")
    for inputs, hidden, outputs, samples in ((5, 100, 3, 16), (784, 300, 10, 64),
                                             (784, 1000, 10, 128)):
        spec = validate(CellSpec(act="relu", loss="cce", inputs=inputs, hidden=(hidden,),
                                 outputs=outputs, samples=samples))
        prep = prepare(spec)
        W, X, Y = prep.arrays.W, prep.arrays.X, prep.arrays.Y
        t_fw = best(lambda: forward(prep.net, W, X, Y))  # noqa: B023
        t_k = best(lambda: check_directions(prep, spec.id, K))  # noqa: B023
        print(f"| {inputs}-{hidden}-{outputs}, N={samples} | {prep.net.n_params} | "
              f"{1e3 * t_fw:.2f} ms | {1e3 * t_k:.1f} ms | {1e3 * (t_k - 2 * K * t_fw):.1f} ms |")


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
