"""Time relu-diag commands end to end, interpreter start-up included (wall clock).

Usage::

    python benchmarks/startup.py            # 10 runs of each command
    python benchmarks/startup.py --runs 20

Runs ``relu-diag check --act relu --loss ce`` (the seed's cell) and, when the ``grid`` command
and ``configs/seed.yaml`` exist, ``relu-diag grid configs/seed.yaml --jobs 2``, each as a fresh
process, and prints the minimum and median wall time and the exit code. Also prints the
modules that take longest to import for ``check`` (``python -X importtime``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _command() -> list[str]:
    """Return the relu-diag command: the installed script, else ``python -m relu_ce_diag``."""
    exe = shutil.which("relu-diag", path=os.path.dirname(sys.executable)) or shutil.which(
        "relu-diag")
    return [exe] if exe else [sys.executable, "-m", "relu_ce_diag"]


def time_runs(args: list[str], runs: int) -> tuple[float, float, int]:
    """Return (min, median) wall seconds of ``runs`` fresh runs and the last exit code."""
    walls, code = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        code = subprocess.run(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, check=False).returncode
        walls.append(time.perf_counter() - start)
    return min(walls), statistics.median(walls), code


def slowest_imports(args: list[str], top: int) -> list[tuple[int, str]]:
    """Return the ``top`` largest cumulative import times (microseconds, module)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "relu_ce_diag", *args[1:]],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    return sorted(rows, reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    """Time the commands and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args(argv)
    cmd = _command()
    cases = [["check", "--act", "relu", "--loss", "ce"]]
    if (ROOT / "configs" / "seed.yaml").is_file() and subprocess.run(
            [*cmd, "grid", "--help"], capture_output=True, check=False).returncode == 0:
        cases.append(["grid", "configs/seed.yaml", "--jobs", "2"])
    print(f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f} at start, "
          f"{args.runs} runs each")
    print()
    print("| command | min wall | median wall | exit |")
    print("|---|---:|---:|---:|")
    for case in cases:
        lo, med, code = time_runs([*cmd, *case], args.runs)
        print(f"| `relu-diag {' '.join(case)}` | {lo:.2f} s | {med:.2f} s | {code} |")
    print()
    print("slowest imports of `check` (cumulative, ms):",
          ", ".join(f"{name.strip()} {us / 1000:.0f}" for us, name in
                    slowest_imports([*cmd, *cases[0]], 6)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
