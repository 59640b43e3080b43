"""The benchmark script keeps working: its smoke mode runs end to end (no timing claims)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


@pytest.fixture(scope="module")
def smoke() -> subprocess.CompletedProcess[str]:
    """Run ``bench.py --smoke`` once for the module."""
    return subprocess.run([sys.executable, str(BENCH), "--smoke"], capture_output=True,
                          text=True, timeout=120, check=False)


def test_bench_smoke_prints_a_table_of_every_method(smoke):
    """``bench.py --smoke`` exits 0 and prints one table row per method, loop included."""
    proc = smoke
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| smoke")]
    methods = [line.split("|")[3].strip() for line in rows]
    assert methods == ["relu-diag check", "relu-diag numgrad", "plain loop",
                       "scipy approx_fprime", "torch gradcheck", "jax check_grads"]
    assert "status pass" in rows[0]
    assert "times are not measurements" in proc.stdout


def test_bench_smoke_accuracy_beats_the_loop(smoke):
    """In smoke mode the structured gradient is at least as accurate as the plain loop."""
    proc = smoke
    acc = {line.split("|")[3].strip(): line.split("|")[6].strip()
           for line in proc.stdout.splitlines() if line.startswith("| smoke")}
    assert float(acc["relu-diag numgrad"]) <= float(acc["plain loop"])


def test_bench_rejects_an_unknown_size():
    """An unknown --sizes name is refused with a message naming it (exit 2)."""
    proc = subprocess.run([sys.executable, str(BENCH), "--sizes", "huge"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "'huge'" in proc.stderr
