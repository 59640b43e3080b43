"""Tests of grid expansion, expectations, sharding, isolation, parallel runs and the CLI."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.errors import DataError, OptionError
from relu_ce_diag.results.cell import CellResult, Finding
from relu_ce_diag.run import grid as grid_mod
from relu_ce_diag.run.grid import cell_id, expand, expectation, meets, run_cells, run_one, shard
from relu_ce_diag.settings.cells import CellSpec
from relu_ce_diag.settings.grid_file import load_grid

SMALL = "defaults: {hidden: 4, inputs: 3, samples: 4}\n"


def grid_file(tmp_path: Path, body: str, name: str = "g.yaml") -> str:
    """Write a small grid file and return its path."""
    p = tmp_path / name
    p.write_text(SMALL + body)
    return str(p)


def result(status: str, warning: bool = False) -> CellResult:
    """Build a bare result with ``status`` (and a warning finding)."""
    findings = (Finding("x-warn", "warning", "careful"),) if warning else ()
    return CellResult(id="c", spec=CellSpec(), status=status, reason="r", findings=findings)


def test_expand_is_the_cartesian_product_then_the_cells(tmp_path: Path) -> None:
    """Grid order: itertools.product of the axes (last fastest), then explicit cells."""
    f = grid_file(tmp_path, "grid:\n  act: [sigmoid, tanh, relu]\n  loss: [se, ce]\n"
                  "  eps: [0, 1.0e-3]\ncells:\n  - {act: softplus, loss: cce}\n")
    cells = expand(load_grid(f))
    oracle = list(itertools.product(["sigmoid", "tanh", "relu"], ["se", "ce"], [0.0, 1e-3]))
    assert [(c.spec.act, c.spec.loss, c.spec.eps) for c in cells[:-1]] == oracle
    assert (cells[-1].spec.act, cells[-1].spec.output) == ("softplus", "softmax")
    assert [c.index for c in cells] == list(range(len(oracle) + 1))
    assert all(c.spec.hidden == (4,) for c in cells)


def test_ids_are_readable_and_unique(tmp_path: Path) -> None:
    """Ids name act/out/loss/backprop and only settings that differ from the defaults;
    repeats get #2."""
    f = grid_file(tmp_path, "grid:\n  act: [relu]\n  eps: [0]\ncells:\n"
                  "  - {act: relu, eps: 0}\n  - {act: relu, id: named}\n")
    assert [c.id for c in expand(load_grid(f))] == [
        "relu/relu/ce/shortcut eps=0", "relu/relu/ce/shortcut eps=0 #2", "named"]


def test_cell_id_lists_differences_from_base() -> None:
    """cell_id shows each setting that differs from the base spec, and nothing else."""
    base = CellSpec(hidden=(8,))
    assert cell_id(CellSpec(hidden=(8,)), base) == "relu/relu/ce/shortcut"
    assert cell_id(CellSpec(act="tanh", loss="cce", hidden=(4, 3), seed=2), base) == \
        "tanh/softmax/cce/shortcut hidden=4,3,seed=2"


def test_cross_field_error_names_the_cell(tmp_path: Path) -> None:
    """A combination refused by cells.validate names file:line, the cell path and key."""
    f = grid_file(tmp_path, "cells:\n  - {act: relu}\n  - {act: relu, outputs: 1}\n")
    with pytest.raises(OptionError, match=r"g\.yaml:4: cells\[1\]\.outputs: got 1.*one-hot"):
        expand(load_grid(f))


def test_too_large_cell_refuses_the_grid_before_it_runs(tmp_path: Path) -> None:
    """A cell over --max-params is exit 2 naming file:line, cell path and the option."""
    f = grid_file(tmp_path, "cells:\n  - {act: relu}\n  - {act: relu, hidden: 5000}\n")
    res = CliRunner().invoke(main, ["grid", f, "--max-params", "1000"])
    assert res.exit_code == 2 and res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert f"{f}:4: cells[1]: cell relu/relu/ce/shortcut hidden=5000" in line
    assert "--max-params" in line


def test_last_matching_rule_wins_and_default_is_pass(tmp_path: Path) -> None:
    """Rules apply in order (the last match wins); out matches the resolved output."""
    f = grid_file(tmp_path, "cells:\n  - {act: relu}\nexpect:\n"
                  "  - {match: {act: relu}, status: fail}\n"
                  "  - {match: {act: relu, loss: ce, out: relu}, status: [kink, pass]}\n"
                  "  - {match: {out: softmax}, status: kink, why: w}\n")
    rules = load_grid(f).rules
    assert expectation(CellSpec(act="relu", loss="ce"), rules) == (("kink", "pass"), "")
    assert expectation(CellSpec(act="relu", loss="se"), rules) == (("fail",), "")
    assert expectation(CellSpec(act="tanh", loss="cce"), rules) == (("kink",), "w")
    assert expectation(CellSpec(act="tanh", loss="se"), rules) == (("pass",), "")


@pytest.mark.parametrize("status, expected, strict, warning, met", [
    ("pass", ("pass",), False, False, True),
    ("kink", ("pass",), False, False, True),
    ("kink", ("pass",), True, False, False),
    ("kink", ("kink",), True, False, True),
    ("pass", ("pass",), True, True, False),
    ("pass", ("pass",), False, True, True),
    ("fail", ("pass",), False, False, False),
    ("pass", ("fail",), False, False, False),
    ("fail", ("fail",), True, False, True),
    ("pass", ("kink",), False, False, False),
    ("error", ("pass",), False, False, False),
    ("error", ("fail",), False, False, False),
])
def test_meets(status: str, expected: tuple[str, ...], strict: bool, warning: bool,
               met: bool) -> None:
    """An expectation is met exactly as documented; a cell expected to fail that passes
    misses it."""
    assert meets(result(status, warning), expected, strict) is met


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_partition_the_grid(tmp_path: Path, n: int) -> None:
    """Shards K/N are disjoint, cover the grid, and hold the cells with i % N == K - 1."""
    f = grid_file(tmp_path, "grid:\n  act: [sigmoid, tanh, relu]\n  loss: [se, ce, cce]\n")
    cells = expand(load_grid(f))
    parts = [shard(cells, k, n) for k in range(1, n + 1)]
    assert sorted(c.index for p in parts for c in p) == list(range(len(cells)))
    for k, part in enumerate(parts, 1):
        assert [c.index for c in part] == [i for i in range(len(cells)) if i % n == k - 1]


def test_bad_shard_is_refused() -> None:
    """K must lie in 1..N."""
    with pytest.raises(OptionError, match="--shard"):
        shard((), 3, 2)


def test_exception_in_one_cell_is_that_cells_error(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception or input error in one cell becomes its error row; the others run."""
    cells = expand(load_grid(grid_file(tmp_path, "grid:\n  act: [sigmoid, tanh, relu]\n")))
    real = grid_mod.run_cell

    def flaky(spec: CellSpec) -> CellResult:
        if spec.act == "tanh":
            raise FloatingPointError("overflow encountered in exp")
        if spec.act == "relu":
            raise DataError("x.npz", "no such file")
        return real(spec)

    monkeypatch.setattr(grid_mod, "run_cell", flaky)
    run = run_cells(cells)
    assert [o.result.status for o in run.outcomes] == ["pass", "error", "error"]
    assert run.outcomes[1].result.reason == "FloatingPointError: overflow encountered in exp"
    assert run.outcomes[2].result.reason == "x.npz: no such file"
    assert run.exit_code == 1


def test_missing_data_while_running_is_an_error_row(tmp_path: Path) -> None:
    """A data file that vanished after loading is that cell's error row, not a crash."""
    cell = expand(load_grid(grid_file(tmp_path, "cells:\n  - {act: relu}\n")))[0]
    gone = replace(cell, spec=replace(cell.spec, data=str(tmp_path / "gone.npz")))
    r = run_one(gone)
    assert (r.status, r.id) == ("error", cell.id) and "no such file" in r.reason


def test_numpy_warnings_stay_in_the_reason() -> None:
    """A NumPy warning inside a cell (log(0) with eps 0) is noted, not raised or printed."""
    spec = CellSpec(act="relu", loss="ce", eps=0.0, hidden=(6,))
    cell = grid_mod.GridCell(0, "c", spec, ("fail",), "", grid_mod.Where("f", "cells[0]", 1))
    r = run_one(cell)
    assert r.status == "fail" and "loss is nan" in r.reason and r.arrays is None


def test_interrupt_keeps_finished_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C during the third cell returns the first two, flagged interrupted (exit 130)."""
    cells = expand(load_grid(grid_file(tmp_path, "grid:\n  act: [sigmoid, tanh, relu]\n")))
    real = grid_mod.run_one

    def stop(cell: grid_mod.GridCell) -> CellResult:
        if cell.index == 2:
            raise KeyboardInterrupt
        return real(cell)

    monkeypatch.setattr(grid_mod, "run_one", stop)
    run = run_cells(cells)
    assert (len(run.outcomes), run.planned, run.interrupted, run.exit_code) == (2, 3, True, 130)


def test_cli_interrupt_prints_and_writes_finished_rows(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI prints and writes the finished rows on Ctrl-C and exits 130."""
    f = grid_file(tmp_path, "grid:\n  act: [sigmoid, tanh, relu]\n")
    real = grid_mod.run_one
    monkeypatch.setattr(grid_mod, "run_one", lambda c: (_ for _ in ()).throw(KeyboardInterrupt)
                        if c.index == 1 else real(c))
    out = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["grid", f, "--output", str(out)])
    assert res.exit_code == 130
    doc = json.loads(out.read_text())
    assert [c["id"] for c in doc["cells"]] == ["sigmoid/sigmoid/ce/shortcut"]
    assert doc["grid"]["interrupted"] is True and doc["summary"]["exit_code"] == 130
    assert "sigmoid/sigmoid/ce/shortcut" in res.stdout and "interrupted after 1 of 3" in res.stdout


@pytest.mark.parametrize("body, code", [
    ("grid:\n  act: [sigmoid, relu]\nexpect:\n  - {match: {act: relu}, status: fail}\n", 0),
    ("grid:\n  act: [sigmoid, relu]\n", 1),
    ("grid:\n  act: [sigmoid]\nexpect:\n  - {match: {act: sigmoid}, status: fail}\n", 1),
])
def test_cli_exit_code_follows_expectations(tmp_path: Path, body: str, code: int) -> None:
    """Exit 0 when every cell meets its expectation, 1 otherwise (also a pass expected to
    fail)."""
    res = CliRunner().invoke(main, ["grid", grid_file(tmp_path, body)])
    assert res.exit_code == code, res.output
    assert res.stderr == ""  # not a terminal: no progress bar


def test_progress_bar_only_on_a_terminal_stderr(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """When stderr is a terminal a progress bar is drawn there, and stdout is unchanged."""
    import io

    from rich.console import Console

    from relu_ce_diag.report import table

    f = grid_file(tmp_path, "grid:\n  act: [sigmoid, tanh]\n  loss: [se]\n")
    plain = CliRunner().invoke(main, ["grid", f])
    err = io.StringIO()
    monkeypatch.setattr(table, "make_console", lambda stderr=False: Console(
        file=err, force_terminal=True, width=80) if stderr else Console(width=120))
    res = CliRunner().invoke(main, ["grid", f])
    assert res.exit_code == plain.exit_code == 0 and res.stdout == plain.stdout
    assert "2/2" in err.getvalue()  # the bar's M/N column


def test_strict_turns_kink_into_a_miss(tmp_path: Path) -> None:
    """A kink meets a pass expectation, but not under --strict."""
    f = grid_file(tmp_path, "cells:\n  - {act: relu, loss: cce, step: 0.3}\n")
    assert CliRunner().invoke(main, ["grid", f]).exit_code == 0
    assert CliRunner().invoke(main, ["grid", f, "--strict"]).exit_code == 1


def test_json_carries_expectations(tmp_path: Path) -> None:
    """The JSON has each cell's expectation, whether it was met, and the grid's counts."""
    f = grid_file(tmp_path, "grid:\n  act: [sigmoid, relu]\nexpect:\n"
                  "  - {match: {act: relu}, status: pass, why: seed}\n")
    res = CliRunner().invoke(main, ["grid", f, "--format", "json"])
    doc = json.loads(res.stdout)
    assert doc["command"] == "grid" and doc["summary"]["exit_code"] == res.exit_code == 1
    assert [(c["expected"], c["expectation_met"], c["why"]) for c in doc["cells"]] == [
        (["pass"], True, ""), (["pass"], False, "seed")]
    assert (doc["grid"]["met"], doc["grid"]["not_met"], doc["grid"]["planned"]) == (1, 1, 2)


def test_jobs_2_is_byte_identical_to_jobs_1(tmp_path: Path) -> None:
    """--jobs 2 (processes) gives the same JSON bytes as --jobs 1, in grid order."""
    f = grid_file(tmp_path, "grid:\n  act: [sigmoid, tanh, relu]\n  loss: [se, ce]\n")
    # Real processes for both, so each side imports the package the same way.
    one, two = (subprocess.run([sys.executable, "-m", "relu_ce_diag", "grid", f, "--format",
                                "json", "--jobs", j], capture_output=True, timeout=120)
                for j in ("1", "2"))
    assert one.returncode == two.returncode == 1, two.stderr
    assert json.loads(one.stdout)["summary"]["cells"] == 6
    assert one.stdout == two.stdout


def test_parallel_results_come_back_in_grid_order(tmp_path: Path) -> None:
    """With --jobs 2 a slow first cell still comes first, and every result equals --jobs 1."""
    f = grid_file(tmp_path, "cells:\n  - {act: relu, hidden: 500, samples: 128, inputs: 20}\n"
                  "  - {act: tanh}\n  - {act: sigmoid}\n  - {act: relu, loss: se}\n")
    cells = expand(load_grid(f))
    order: list[int] = []
    two = run_cells(cells, jobs=2, on_result=lambda c, r: order.append(c.index))
    one = run_cells(cells, jobs=1)
    assert [o.cell.index for o in two.outcomes] == [0, 1, 2, 3]
    assert order[-1] == 0  # the heavy cell finished last, yet is reported first
    assert [o.result.as_dict() for o in two.outcomes] == [o.result.as_dict() for o in one.outcomes]


def test_shard_option_runs_its_slice(tmp_path: Path) -> None:
    """--shard 2/3 runs the cells with index 1, 4, ... and says so in the JSON."""
    f = grid_file(tmp_path, "grid:\n  act: [sigmoid, tanh, relu]\n  loss: [se, cce]\n")
    res = CliRunner().invoke(main, ["grid", f, "--format", "json", "--shard", "2/3"])
    doc = json.loads(res.stdout)
    assert [c["grid_index"] for c in doc["cells"]] == [1, 4]
    assert doc["grid"]["shard"] == "2/3"
    bad = CliRunner().invoke(main, ["grid", f, "--shard", "4/3"])
    assert bad.exit_code == 2 and "K/N" in bad.stderr


def test_unwritable_output_is_refused_before_any_cell_runs(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """--output in a missing folder (or naming a folder) is exit 2 before any cell runs."""
    f = grid_file(tmp_path, "grid:\n  act: [sigmoid]\n")
    monkeypatch.setattr(grid_mod, "run_one", lambda *a: pytest.fail("a cell ran"))
    for out in (str(tmp_path / "nope" / "r.json"), str(tmp_path)):
        res = CliRunner().invoke(main, ["grid", f, "--output", out])
        assert res.exit_code == 2 and "cannot write" in res.stderr and res.stdout == ""


def test_output_file_is_written_next_to_the_table(tmp_path: Path) -> None:
    """--output writes JUnit for a .xml name (JSON otherwise) while stdout keeps the table."""
    f = grid_file(tmp_path, "grid:\n  act: [sigmoid]\n")
    res = CliRunner().invoke(main, ["grid", f, "--output", str(tmp_path / "r.xml")])
    assert res.exit_code == 0 and "sigmoid/sigmoid/ce/shortcut" in res.stdout
    assert (tmp_path / "r.xml").read_text().startswith("<?xml")
    CliRunner().invoke(main, ["grid", f, "--output", str(tmp_path / "r.json")])
    assert json.loads((tmp_path / "r.json").read_text())["command"] == "grid"
