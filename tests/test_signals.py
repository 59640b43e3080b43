"""Signals, in real processes: SIGTERM and SIGHUP stop relu-diag like Ctrl-C (finished rows
printed, exit 130, no worker left holding the output pipe); a worker killed by SIGKILL costs
its own cell only; Ctrl-C during a sweep prints the finished steps; workers die with their
parent, even one killed by SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="finds descendant processes through /proc")

GRID = """name: slow
defaults: {hidden: 60, inputs: 30, samples: 128, loss: cce}
grid:
  act: [sigmoid, tanh, softplus, identity]
  seed: [1, 2, 3, 4, 5, 6, 7, 8]
"""
# Appends a line to PROGRESS for every finished cell (in the parent: jobs 1 runs cells
# there, and with --jobs N each worker's result is settled there), then runs the CLI.
PLANT_PROGRESS = """
import sys
import relu_ce_diag.run.grid as grid
def noting(real):
    def wrapper(*args):
        result = real(*args)
        with open(sys.argv[1], "a") as out:
            out.write("done\\n")
        return result
    return wrapper
grid.run_one, grid._settled = noting(grid.run_one), noting(grid._settled)
from relu_ce_diag.cli import main
main(sys.argv[2:])
"""


def descendants(pid: int) -> list[int]:
    """Return every live descendant of ``pid`` (children of children too)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(stat[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate: object, seconds: float) -> bool:
    """Poll ``predicate`` every 10 ms for up to ``seconds``; return its last value."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return bool(predicate())  # type: ignore[operator]


@pytest.mark.parametrize("sig, jobs", [(signal.SIGTERM, "2"), (signal.SIGHUP, "2"),
                                       (signal.SIGTERM, "1")])
def test_sigterm_or_sighup_to_grid_prints_finished_rows_and_leaves_no_worker(
        tmp_path: Path, sig: signal.Signals, jobs: str) -> None:
    """SIGTERM/SIGHUP after the first finished cell: the finished rows on stdout (JSON),
    exit 130, the stdout pipe closed at once (``| cat`` used to hang for 90 s), and every
    worker process gone with the parent."""
    (tmp_path / "g.yaml").write_text(GRID)
    progress = tmp_path / "progress"
    proc = subprocess.Popen([sys.executable, "-c", PLANT_PROGRESS, str(progress), "grid",
                             str(tmp_path / "g.yaml"), "--jobs", jobs, "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(progress.exists, 60), "no cell finished"
        family = descendants(proc.pid)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)  # returns once nobody holds the pipes
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["grid"]["interrupted"] is True and 1 <= len(doc["cells"]) < 32
    assert "interrupted after" in err and "Traceback" not in err
    assert wait_for(lambda: not any(alive(p) for p in family), 5), family


SITECUSTOMIZE = """
import os
if os.environ.get("RELU_DIAG_TEST_KILL_CELL"):
    import multiprocessing
    import relu_ce_diag.run.grid as grid
    real = grid.run_one
    def run_one(cell, *args):
        if multiprocessing.parent_process() is not None and \\
                cell.spec.act == os.environ["RELU_DIAG_TEST_KILL_CELL"]:
            os.kill(os.getpid(), 9)  # as the out-of-memory killer would
        return real(cell, *args)
    grid.run_one = run_one
"""


def test_a_worker_killed_by_sigkill_costs_only_its_cell(tmp_path: Path) -> None:
    """The tanh cell's worker is SIGKILLed: that row is an error naming SIGKILL, the other
    cells all run and pass (once 32 of 40 cells became error rows that never ran)."""
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (tmp_path / "g.yaml").write_text(GRID.replace("seed: [1, 2, 3, 4, 5, 6, 7, 8]",
                                                  "seed: [1, 2]"))
    env = {**os.environ, "RELU_DIAG_TEST_KILL_CELL": "tanh",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "relu_ce_diag", "grid", str(tmp_path / "g.yaml"),
                           "--jobs", "2", "--format", "json"], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    rows = json.loads(proc.stdout)["cells"]
    assert len(rows) == 8
    for row in rows:
        if row["settings"]["act"] == "tanh":
            assert row["status"] == "error" and "was killed by SIGKILL" in row["reason"]
        else:
            assert row["status"] == "pass", row


PLANT_SWEEP_SIGINT = """
import os, signal, sys
import relu_ce_diag.run.sweep as sweep
real = sweep.central_differences
seen = []
def third_sends_sigint(*args, **kw):
    seen.append(1)
    if len(seen) == 3:
        os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would, during step 3
    return real(*args, **kw)
sweep.central_differences = third_sends_sigint
from relu_ce_diag.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_ctrl_c_during_sweep_prints_the_finished_steps(tmp_path: Path, fmt: str) -> None:
    """A real SIGINT in step 3 of 5 (1e-6 is the check's own): exit 130, the two finished
    steps printed, and the count."""
    proc = subprocess.run([sys.executable, "-c", PLANT_SWEEP_SIGINT, "sweep", "--format", fmt,
                           "--steps", "1e-2,1e-3,1e-4,1e-5,1e-6", "--no-chart"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert proc.returncode == 130, proc.stderr
    assert "interrupted after 2 of 5 steps" in proc.stderr and "Traceback" not in proc.stderr
    if fmt == "json":
        doc = json.loads(proc.stdout)
        assert [p["step"] for p in doc["steps"]] == [1e-2, 1e-3] and doc["exit_code"] == 130
    else:
        assert "0.01" in proc.stdout and "0.001" in proc.stdout


HANGS = """
import os, sys, time
import numpy as np
def f(W, X, Y):
    with open(os.path.join(os.path.dirname(__file__), "started"), "a") as out:
        out.write(f"{os.getpid()}\\n")
    time.sleep(60)
"""


def _hanging_check(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    (tmp_path / "fn.py").write_text(HANGS)
    np.savez(tmp_path / "case.npz", W=np.ones(4), X=np.ones((2, 2)), Y=np.ones((2, 1)))
    return subprocess.Popen([sys.executable, "-m", "relu_ce_diag", "check", "--fn",
                             str(tmp_path / "fn.py") + ":f", "--data",
                             str(tmp_path / "case.npz"), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_to_check_fn_ends_it_and_its_workers(tmp_path: Path) -> None:
    """A check whose function hangs in two workers: SIGTERM ends it (exit 130) at once, the
    workers with it."""
    proc = _hanging_check(tmp_path, "--jobs", "2")
    try:
        assert wait_for((tmp_path / "started").exists, 60)
        family = descendants(proc.pid)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in err, err
    assert time.monotonic() - start < 10
    assert wait_for(lambda: not any(alive(p) for p in family), 5), family


def test_workers_die_with_a_parent_killed_by_sigkill(tmp_path: Path) -> None:
    """SIGKILL leaves the parent no time to clean up: its worker, stuck in the user's
    function, ends by itself (the lifeline pipe, and the parent-death signal)."""
    proc = _hanging_check(tmp_path)
    try:
        assert wait_for((tmp_path / "started").exists, 60)
        worker = int((tmp_path / "started").read_text().split()[0])
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert wait_for(lambda: not alive(worker), 5), worker
