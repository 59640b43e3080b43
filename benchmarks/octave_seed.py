"""Time the seed's MATLAB function checked through GNU Octave, start-up included.

Usage::

    python benchmarks/octave_seed.py            # 5 runs of each command
    python benchmarks/octave_seed.py --runs 10
    python benchmarks/octave_seed.py --grid     # and the seed grid at width 100: .m vs built-in

Runs, each as a fresh process from the repository root, and prints the minimum and median wall
time, and the median CPU time of the process and its children (what the wall time is on an
idle machine): Octave's own start-up (``octave-cli --eval 1``), the seed's check through Octave
(``relu-diag check --fn tests/examples/backprop.m --data tests/examples/seed_case.mat --act relu
--loss ce``, P = 903, entry by entry) and the same check of the Python port
(examples/seed_backprop.py), with the number of calls each made; then the cost of one call in
a batch of the 1,806 entry stencils, for the seed's function and for a trivial one (what the
driver and the pipes add). The load average is printed too: on a busy machine every figure
grows.

``--grid`` checks every cell of configs/seed.yaml at the seed's width (100 hidden units)
through tests/examples/seed_cell.m and through the built-in network and prints both verdicts
(the test suite does the same at width 10).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ["--data", "tests/examples/seed_case.mat", "--act", "relu", "--loss", "ce"]


def _relu_diag() -> list[str]:
    exe = shutil.which("relu-diag", path=os.path.dirname(sys.executable)) or shutil.which(
        "relu-diag")
    return [exe] if exe else [sys.executable, "-m", "relu_ce_diag"]


def time_runs(args: list[str], runs: int) -> tuple[float, float, float, str]:
    """Return the (min, median) wall seconds of ``runs`` fresh runs, their median CPU seconds
    (the process and its children: Octave's too) and the last stdout."""
    walls, cpus, out = [], [], ""
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        out = done.stdout
    return min(walls), statistics.median(walls), statistics.median(cpus), out


def _calls(report: str) -> str:
    """Return the number of calls a JSON report's fn-precision finding names."""
    for finding in json.loads(report)["cells"][0]["findings"]:
        if finding["id"] == "fn-precision":
            return finding["message"].rsplit(", ", 1)[-1]
    return "?"


def seed_times(runs: int) -> None:
    """Print Octave's start-up and the seed check through Octave and through Python."""
    octave = shutil.which("octave-cli") or "octave-cli"
    lo, med, cpu, _ = time_runs([octave, "--norc", "--quiet", "--eval", "1"], runs)
    print(f"{'Octave start-up alone':44s} min {lo:5.2f} s  median {med:5.2f} s  "
          f"CPU {cpu:5.2f} s")
    for what, fn in (("seed check, backprop.m through Octave", "tests/examples/backprop.m"),
                     ("seed check, Python port (reference)",
                      "examples/seed_backprop.py:backprop")):
        args = [*_relu_diag(), "check", "--fn", fn, *SEED, "--format", "json"]
        lo, med, cpu, out = time_runs(args, runs)
        print(f"{what:44s} min {lo:5.2f} s  median {med:5.2f} s  CPU {cpu:5.2f} s  "
              f"({_calls(out)})")


TRIVIAL = "function [f, df] = trivial(W, X, Y)\n  f = sum(W);\n  df = W;\nend\n"


def per_call(runs: int) -> None:
    """Print the cost of one call in a batch: the seed's function, and a trivial one (the
    driver and the pipes alone)."""
    import numpy as np

    from relu_ce_diag.check.hosts import open_host
    from relu_ce_diag.settings.function import Calling

    folder = Path(tempfile.mkdtemp())
    (folder / "trivial.m").write_text(TRIVIAL)
    for what, fn in (("per call in a batch, backprop.m", ROOT / "tests/examples/backprop.m"),
                     ("per call in a batch, trivial (the driver)", folder / "trivial.m")):
        host = open_host(Calling(str(fn)), str(ROOT / "tests/examples/seed_case.mat"))
        W = host.point.W
        points = [(W + t * np.eye(W.size)[k], "") for k in range(W.size) for t in (1e-6, -1e-6)]
        walls = []
        for _ in range(runs):
            start = time.perf_counter()
            host.losses(points)
            walls.append((time.perf_counter() - start) / len(points) * 1e3)
        host.close()  # type: ignore[attr-defined]
        print(f"{what:44s} min {min(walls):5.2f} ms median {statistics.median(walls):5.2f} ms")


def grid_verdicts() -> None:
    """Print the verdict of every seed.yaml cell (width 100) through Octave and built in."""
    import numpy as np

    from relu_ce_diag.run.cell import run_cell
    from relu_ce_diag.run.function import check_file
    from relu_ce_diag.run.grid import expand
    from relu_ce_diag.settings.cells import prepare
    from relu_ce_diag.settings.function import Calling, Description
    from relu_ce_diag.settings.grid_file import load_grid

    folder = Path(tempfile.mkdtemp())
    for cell in expand(load_grid(str(ROOT / "configs" / "seed.yaml"))):
        s = replace(cell.spec, hidden=(100,))
        a = prepare(s).arrays
        np.savez(folder / "cell.npz", W=a.W, X=a.X, Y=a.Y)
        call = (f"seed_cell(W, X, Y, '{s.act}', '{s.output}', '{s.loss}', '{s.backprop}', "
                f"{s.relu_grad_at_zero!r}, {s.leaky_slope!r}, {s.eps!r})")
        start = time.perf_counter()
        m = check_file(Calling(str(ROOT / "tests/examples/seed_cell.m"), call=call),
                       str(folder / "cell.npz"), Description())
        wall = time.perf_counter() - start
        print(f"{cell.id:40s} built-in {run_cell(s).status:5s} .m {m.status:5s} {wall:5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--grid", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.2f}, {args.runs} runs each")
    seed_times(args.runs)
    per_call(args.runs)
    if args.grid:
        grid_verdicts()


if __name__ == "__main__":
    main()
