"""Isolation and resources: one broken cell never takes down a grid; sizes are bounded.

An exception, a NaN or an overflow in one cell is that cell's row (error for a crash, fail
for a non-finite loss), the other cells still run, and the exit code says so. Cells over the
size bounds are refused up front (exit 2, naming the cell) by grid, sweep and check unless
``--force``; the numerical gradient works in blocks so its memory stays within the estimate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import relu_ce_diag.run.cell
from relu_ce_diag.check.budget import estimate
from relu_ce_diag.cli import main
from relu_ce_diag.run.cell import check_prepared
from relu_ce_diag.settings.cells import CellSpec, prepare

GRID = """name: iso
defaults: {hidden: 3, inputs: 2, samples: 4, loss: cce}
grid:
  act: [sigmoid, tanh, softplus, identity]
"""


def grid_json(tmp_path: Path, body: str, *extra: str) -> tuple[Any, dict[str, Any]]:
    """Run ``grid`` on ``body`` with --format json; return the result and the document."""
    (tmp_path / "g.yaml").write_text(body)
    r = CliRunner().invoke(main, ["grid", str(tmp_path / "g.yaml"), "--format", "json",
                                  *extra])
    return r, (json.loads(r.stdout) if r.stdout.startswith("{") else {})


@pytest.mark.parametrize("exc", [ZeroDivisionError("planted"), MemoryError("planted"),
                                 FloatingPointError("overflow encountered in exp"),
                                 ValueError("operands could not be broadcast")])
def test_an_exception_in_one_cell_is_its_error_row(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   exc: Exception) -> None:
    """The tanh cell raises; it is an error row with the exception, the three others pass."""
    real = relu_ce_diag.run.cell.check_prepared

    def flaky(prep: Any, cell_id: str, **kw: Any) -> Any:
        if prep.spec.act == "tanh":
            raise exc
        return real(prep, cell_id, **kw)

    monkeypatch.setattr(relu_ce_diag.run.cell, "check_prepared", flaky)
    r, doc = grid_json(tmp_path, GRID)
    assert r.exit_code == 1, r.stderr
    rows = {c["settings"]["act"]: c for c in doc["cells"]}
    assert rows["tanh"]["status"] == "error"
    assert rows["tanh"]["reason"] == f"{type(exc).__name__}: {exc}"
    assert [rows[a]["status"] for a in ("sigmoid", "softplus", "identity")] == ["pass"] * 3
    assert doc["summary"]["error"] == 1 and doc["summary"]["exit_code"] == 1
    assert "Traceback" not in r.stdout + r.stderr


def test_junit_of_an_error_row_with_control_characters_parses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reason holding control characters (a user's exception text) still gives valid XML."""
    import xml.etree.ElementTree as ET

    def broken(prep: Any, cell_id: str, **kw: Any) -> Any:
        raise ValueError("\x1b[31mred\x00\x08")

    monkeypatch.setattr(relu_ce_diag.run.cell, "check_prepared", broken)
    (tmp_path / "g.yaml").write_text(GRID)
    r = CliRunner().invoke(main, ["grid", str(tmp_path / "g.yaml"), "--format", "junit"])
    assert r.exit_code == 1, r.stderr
    root = ET.fromstring(r.stdout.split("\n", 1)[1])
    errors = root.findall(".//error")
    assert len(errors) == 4 and "\\x1b[31mred\\x00\\x08" in errors[0].get("message", "")


def test_a_nan_loss_is_that_cells_fail_row_the_others_run(tmp_path: Path) -> None:
    """log(0) with eps 0 in one cell: its row fails naming the non-finite loss; others pass."""
    body = GRID + "cells:\n  - {act: relu, out: identity, loss: ce, eps: 0, id: nan}\n"
    r, doc = grid_json(tmp_path, body)
    assert r.exit_code == 1
    rows = {c["id"]: c for c in doc["cells"]}
    assert rows["nan"]["status"] == "fail" and "loss is" in rows["nan"]["reason"]
    assert sum(c["status"] == "pass" for c in doc["cells"]) == 4


def test_an_overflow_is_that_cells_row_the_others_run(tmp_path: Path) -> None:
    """Inputs of 1e300 overflow one cell's forward pass; its row says so, no warning leaks."""
    X = np.full((4, 2), 1e300)
    X[0] = -1e300
    np.savez(tmp_path / "huge.npz", X=X, Y=np.eye(4)[:, :3])
    body = GRID + "cells:\n  - {act: relu, loss: se, data: huge.npz, id: overflow}\n"
    r, doc = grid_json(tmp_path, body)
    assert r.exit_code == 1 and "Warning" not in r.stderr
    rows = {c["id"]: c for c in doc["cells"]}
    assert rows["overflow"]["status"] in ("fail", "error")
    assert "non-finite" in rows["overflow"]["reason"] or "loss is" in rows["overflow"]["reason"]
    assert sum(c["status"] == "pass" for c in doc["cells"]) == 4


def test_an_expected_failure_keeps_exit_0(tmp_path: Path) -> None:
    """The exit code follows expectations: a NaN cell expected to fail is met, exit 0."""
    body = GRID + ("cells:\n  - {act: relu, out: identity, loss: ce, eps: 0, id: nan}\n"
                   "expect:\n  - {match: {eps: 0}, status: fail}\n")
    r, doc = grid_json(tmp_path, body)
    assert r.exit_code == 0 and doc["grid"]["met"] == 5


PLANT_SIGINT = """
import os, signal, sys
import relu_ce_diag.run.cell as runner
real = runner.check_prepared
seen = []
def third_sends_sigint(prep, cell_id, **kw):
    seen.append(cell_id)
    if len(seen) == 3:
        os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would, in the middle of cell 3
    return real(prep, cell_id, **kw)
runner.check_prepared = third_sends_sigint
from relu_ce_diag.cli import main
main(sys.argv[1:])
"""


def test_ctrl_c_in_a_real_process_keeps_finished_rows(tmp_path: Path) -> None:
    """A real SIGINT during cell 3 of 4: exit 130, the two finished rows in --output."""
    (tmp_path / "g.yaml").write_text(GRID)
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, "-c", PLANT_SIGINT, "grid", str(tmp_path / "g.yaml"),
                           "--output", str(out)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, check=False)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and "interrupted after 2 of 4" in proc.stderr
    doc = json.loads(out.read_text())
    assert [c["settings"]["act"] for c in doc["cells"]] == ["sigmoid", "tanh"]
    assert doc["grid"]["interrupted"] is True and doc["summary"]["exit_code"] == 130
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.json")]  # no temp


@pytest.mark.parametrize("command", [
    ["grid", "{grid}"], ["grid", "{grid}", "--jobs", "2"],
    ["sweep", "--hidden", "60", "--inputs", "60", "--no-chart"],
    ["check", "--hidden", "60", "--inputs", "60"]])
def test_a_cell_over_max_params_is_refused_up_front(tmp_path: Path,
                                                    command: list[str]) -> None:
    """--max-params below a cell's size: exit 2 naming the cell, before anything runs."""
    (tmp_path / "g.yaml").write_text(GRID)
    args = [a.format(grid=tmp_path / "g.yaml") for a in command]
    r = CliRunner().invoke(main, [*args, "--max-params", "20"])
    assert r.exit_code == 2 and r.stdout == "", r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--max-params 20" in lines[0] and "cell " in lines[0]


@pytest.mark.parametrize("command", [["grid", "{grid}"], ["sweep", "--hidden", "3", "--no-chart",
                                                          "--steps", "1e-2,1e-4"]])
def test_force_runs_a_cell_over_max_params(tmp_path: Path, command: list[str]) -> None:
    """--force lifts the bound: the cells run and are judged (exit 0 or 1)."""
    (tmp_path / "g.yaml").write_text(GRID)
    args = [a.format(grid=tmp_path / "g.yaml") for a in command]
    r = CliRunner().invoke(main, [*args, "--max-params", "20", "--force"])
    assert r.exit_code in (0, 1), r.stderr


def test_a_grid_with_one_huge_cell_runs_none(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """One cell over the default bound refuses the whole grid before the first cell runs."""
    ran: list[str] = []
    real = relu_ce_diag.run.cell.check_prepared
    monkeypatch.setattr(relu_ce_diag.run.cell, "check_prepared",
                        lambda prep, cid, **kw: ran.append(cid) or real(prep, cid, **kw))
    body = GRID + "cells:\n  - {act: relu, hidden: 3000, inputs: 3000, id: huge}\n"
    r, _ = grid_json(tmp_path, body)
    assert r.exit_code == 2 and "huge" in r.stderr and ran == []


@pytest.mark.parametrize("samples", [64, 2048])
def test_memory_of_a_check_stays_within_the_estimate(samples: int) -> None:
    """The peak allocation of a full check is below the budget's estimate, and far below
    one float per (parameter, sample): the numerical gradient works in blocks."""
    spec = CellSpec(act="tanh", loss="cce", backprop="exact", inputs=40, hidden=(200,),
                    outputs=10, samples=samples)
    prep = prepare(spec)
    tracemalloc.start()
    try:
        check_prepared(prep, spec.id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < estimate(prep.net, samples).memory, peak
    if samples > 1000:
        assert peak < prep.net.n_params * samples * 8 / 2, peak  # unblocked needs P x N


def test_isolation_holds_in_worker_processes(tmp_path: Path) -> None:
    """--jobs 2 gives the same rows as --jobs 1 when one cell is a NaN (spawned workers)."""
    body = GRID + "cells:\n  - {act: relu, out: identity, loss: ce, eps: 0, id: nan}\n"
    r1, d1 = grid_json(tmp_path, body)
    r2, d2 = grid_json(tmp_path, body, "--jobs", "2")
    assert r1.exit_code == r2.exit_code == 1
    assert r1.stdout == r2.stdout and d1["summary"] == d2["summary"]
