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
    """``bench.py --smoke`` exits 0 and prints one table row per method, loop included, and
    the peers it cannot import as rows with a note (they are not dependencies)."""
    proc = smoke
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| smoke")]
    methods = [line.split("|")[3].strip() for line in rows]
    assert methods == ["relu-diag check", "relu-diag numgrad", "plain loop",
                       "scipy approx_fprime", "torch gradcheck", "jax check_grads",
                       "jax per-entry (vmap)"]
    assert "status pass" in rows[0]
    assert "times are not measurements" in proc.stdout


def _columns(stdout: str) -> dict[str, dict[str, str]]:
    """Return the smoke table as {method: {column header: cell}}."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    head = [c.strip() for c in lines[0].split("|")]
    rows = [[c.strip() for c in line.split("|")] for line in lines[2:]]
    return {r[head.index("method")]: dict(zip(head, r, strict=True)) for r in rows}


def test_bench_smoke_accuracy_beats_the_loop(smoke):
    """In smoke mode the structured gradient is at least as accurate as the plain loop."""
    acc = {m: row["accuracy"] for m, row in _columns(smoke.stdout).items()}
    assert float(acc["relu-diag numgrad"]) <= float(acc["plain loop"])


def test_bench_smoke_says_why_a_peer_has_no_time(smoke):
    """Each peer row carries a note: what it measured, or that its library is not installed."""
    table = _columns(smoke.stdout)
    for method in ("scipy approx_fprime", "torch gradcheck", "jax check_grads",
                   "jax per-entry (vmap)"):
        assert table[method]["note"], method


def test_bench_rejects_an_unknown_size():
    """An unknown --sizes name is refused with a message naming it (exit 2)."""
    proc = subprocess.run([sys.executable, str(BENCH), "--sizes", "huge"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "'huge'" in proc.stderr
