"""Grids of the user's own functions: ``fn:`` cells read and checked before anything runs (one
line with file:line, exit 2), named readably, matched by expectations, run like ``check --fn``,
and a function that raises or returns the wrong shape is its cell's error row only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.errors import OptionError
from relu_ce_diag.run.grid import expand, run_cells
from relu_ce_diag.settings.grid_file import load_grid
from relu_ce_diag.settings.grid_fn import FunctionCell

EXAMPLES = Path(__file__).parent / "examples"
sys.path.insert(0, str(EXAMPLES))
sys.path.insert(0, str(Path(__file__).parent))
from nets import case  # noqa: E402
from test_octave_matfile import NEEDS_OCTAVE  # noqa: E402

MIXED = """\
defaults: {hidden: 4, inputs: 3, samples: 4, data: null}
cells:
  - {act: sigmoid, loss: ce}
  - {fn: code/correct.py:relu_sigmoid_ce, data: code/case.npz, act: relu, out: sigmoid}
  - {fn: code/buggy.py:shortcut_delta, data: code/case.npz, act: relu, loss: ce}
  - {fn: code/bad.py:wrong_shape, data: code/case.npz}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's folder: their functions under code/ with the point in code/case.npz."""
    return make_repo(tmp_path, monkeypatch)


def make_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fill ``tmp_path`` as a user's folder and work in it."""
    code = tmp_path / "code"
    code.mkdir()
    for name in ("nets.py", "correct.py", "buggy.py", "bad.py"):
        shutil.copy(EXAMPLES / name, code / name)
    W, X, Y = case(0)
    np.savez(code / "case.npz", W=W, X=X, Y=Y)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(repo: Path, body: str, name: str = "g.yaml") -> str:
    """Write a grid file into the user's folder and return its name."""
    (repo / name).write_text(body)
    return name


def refused(repo: Path, body: str) -> str:
    """Return the one-line message with which loading (and expanding) a grid is refused."""
    with pytest.raises(OptionError) as info:
        expand(load_grid(write(repo, body)))
    assert "\n" not in str(info.value)
    return str(info.value)


def test_function_cells_mix_with_builtin_cells(repo: Path) -> None:
    """fn: cells expand beside built-in ones, paths relative to the YAML file, ids readable."""
    cells = expand(load_grid(write(repo, MIXED)))
    assert [c.id for c in cells] == [
        "sigmoid/sigmoid/ce/shortcut",
        "code/correct.py:relu_sigmoid_ce act=relu,out=sigmoid,data=case.npz",
        "code/buggy.py:shortcut_delta act=relu,loss=ce,data=case.npz",
        "code/bad.py:wrong_shape data=case.npz"]
    fn = cells[1].spec
    assert isinstance(fn, FunctionCell) and fn.fn.ref == "code/correct.py:relu_sigmoid_ce"
    assert fn.data == "code/case.npz" and fn.desc.act == "relu" and fn.desc.hidden is None


def test_paths_are_relative_to_the_yaml_file(repo: Path, monkeypatch) -> None:
    """A grid in a sub-folder names its functions and data from there, run from anywhere."""
    (repo / "sub").mkdir()
    write(repo, "cells:\n  - {fn: ../code/correct.py:relu_sigmoid_ce, data: ../code/case.npz}\n",
          "sub/g.yaml")
    monkeypatch.chdir(repo / "sub")
    cell = expand(load_grid("g.yaml"))[0]
    assert cell.id == "../code/correct.py:relu_sigmoid_ce data=case.npz"
    assert run_cells([cell]).outcomes[0].result.status == "pass"


def test_defaults_and_axes_apply_to_function_cells(repo: Path) -> None:
    """defaults give fn cells their data and description (not the built-in widths); an axis
    over fn makes one cell per function; ids show what differs from the defaults."""
    cells = expand(load_grid(write(repo, (
        "defaults: {data: code/case.npz, act: relu, out: sigmoid, hidden: 7}\n"
        "grid:\n  fn: [code/correct.py:relu_sigmoid_ce, code/buggy.py:row_major]\n"
        "  seed: [0, 3]\n"))))
    assert [c.id for c in cells] == [
        "code/correct.py:relu_sigmoid_ce", "code/correct.py:relu_sigmoid_ce seed=3",
        "code/buggy.py:row_major", "code/buggy.py:row_major seed=3"]
    spec = cells[0].spec
    assert isinstance(spec, FunctionCell)
    assert (spec.desc.act, spec.desc.out, spec.desc.hidden) == ("relu", "sigmoid", None)


def test_expectations_match_by_fn(repo: Path) -> None:
    """match: {fn: ...} picks the function's cells (the path read like the cell's); built-in
    cells never match a function-only key, and act/loss match a described function."""
    body = MIXED + ("expect:\n  - {match: {fn: code/buggy.py:shortcut_delta}, status: fail}\n"
                    "  - {match: {loss: ce, act: relu}, status: [pass, kink], why: described}\n"
                    "  - {match: {layout: seed}, status: kink}\n")
    cells = expand(load_grid(write(repo, body)))
    assert [(c.expected, c.why) for c in cells] == [
        (("pass",), ""), (("pass", "kink"), "described"), (("pass", "kink"), "described"),
        (("pass",), "")]
    body = MIXED + "expect:\n  - {match: {fn: code/buggy.py:shortcut_delta}, status: fail}\n"
    assert [c.expected for c in expand(load_grid(write(repo, body)))][2] == ("fail",)


@pytest.mark.parametrize("cell, where, words", [
    ("{fn: code/missing.py:f, data: code/case.npz}", "g.yaml:2: cells[0].fn",
     "'code/missing.py' does not exist"),
    ("{fn: code/correct.py:relu_sigmoid_c, data: code/case.npz}", "g.yaml:2: cells[0].fn",
     "has no 'relu_sigmoid_c' (did you mean 'relu_sigmoid_ce'?)"),
    ("{fn: code/correct.py, data: code/case.npz}", "g.yaml:2: cells[0].fn",
     "FILE.py:NAME or FILE.m[:NAME]"),
    ("{fn: code/correct.py:relu_sigmoid_ce, data: code/case.npz, lam: 3}",
     "g.yaml:2: cells[0].lam", "one of the keys"),
    ("{fn: code/correct.py:relu_sigmoid_ce}", "g.yaml:2: cells[0].data", "an .npz or .mat"),
    ("{fn: code/correct.py:relu_sigmoid_ce, data: code/case.npz, backprop: exact}",
     "g.yaml:2: cells[0].backprop", "does not take"),
    ("{fn: code/correct.py:relu_sigmoid_ce, data: code/case.npz, call: 'f(W, X, Y)'}",
     "g.yaml:2: cells[0].call", "only with a .m function"),
    ("{fn: code/correct.py:relu_sigmoid_ce, data: code/case.npz, layout: seeds}",
     "g.yaml:2: cells[0].layout", "did you mean 'seed'?"),
    ("{fn: code/correct.py:relu_sigmoid_ce, data: code/case.npz, args: [3]}",
     "g.yaml:2: cells[0].args", "a mapping of argument names"),
    ("{act: relu, directions: 4}", "g.yaml:2: cells[0].directions", "only in a cell with fn:"),
])
def test_bad_function_cells_are_refused_before_anything_runs(repo: Path, cell: str,
                                                            where: str, words: str) -> None:
    """A missing file or function, a bad form, an unknown key, a key the cell's kind does not
    take, a missing data file: one line naming file:line and the key."""
    message = refused(repo, f"cells:\n  - {cell}\n")
    assert message.startswith(where) and words in message, message


def test_a_python_file_is_read_not_run(repo: Path) -> None:
    """Loading the grid parses the file for def NAME (also under if/try, or imported) and
    never runs it; a syntax error is refused with the file's own line."""
    (repo / "code" / "loud.py").write_text(
        "import sys\nsys.exit(7)\ntry:\n    from nets import backprop as fn\n"
        "except ImportError:\n    pass\nif True:\n    def g(W, X, Y):\n        return 0.0, W\n")
    cells = expand(load_grid(write(repo, "defaults: {data: code/case.npz}\n"
                                         "grid:\n  fn: [code/loud.py:fn, code/loud.py:g]\n")))
    assert len(cells) == 2
    (repo / "code" / "broken.py").write_text("def f(W, X, Y):\n    return (\n")
    message = refused(repo, "cells:\n  - {fn: code/broken.py:f, data: code/case.npz}\n")
    assert "code/broken.py:2" in message or "code/broken.py:1" in message, message


def test_unusable_data_is_refused_before_any_cell_runs(repo: Path) -> None:
    """A data file without X exits 2 naming the grid's file:line before any cell runs."""
    np.savez(repo / "code" / "nox.npz", W=np.ones(3), Y=np.ones((2, 2)))
    write(repo, "cells:\n  - {act: sigmoid, hidden: 3}\n"
                "  - {fn: code/correct.py:relu_sigmoid_ce, data: code/nox.npz}\n")
    out = CliRunner().invoke(main, ["grid", "g.yaml"])
    assert out.exit_code == 2 and "g.yaml:3" in out.stderr and "missing array(s) X" in out.stderr
    assert out.stdout == ""


def test_a_mixed_grid_runs_each_cell_to_its_own_verdict(repo: Path) -> None:
    """The correct function passes, the buggy one fails with its known bug, the unusable one
    is an error row with a one-line reason, and the grid runs to the end (exit 1)."""
    run = run_cells(expand(load_grid(write(repo, MIXED))))
    statuses = [o.result.status for o in run.outcomes]
    assert statuses == ["pass", "pass", "fail", "error"] and run.exit_code == 1
    buggy, bad = run.outcomes[2].result, run.outcomes[3].result
    assert any(f.id == "known-bug" for f in buggy.findings) and buggy.worst is not None
    assert buggy.worst.name.startswith(("w1[", "w2[", "b1[", "b2["))
    assert "df has shape (6, 5)" in bad.reason and "\n" not in bad.reason
    assert bad.id == "code/bad.py:wrong_shape data=case.npz"


def test_a_function_that_raises_is_its_cells_error(repo: Path) -> None:
    """An exception in the user's code names their file:line in its row; the next cell runs."""
    write(repo, "defaults: {data: code/case.npz}\n"
                "grid:\n  fn: [code/bad.py:raises, code/correct.py:relu_sigmoid_ce]\n")
    out = CliRunner().invoke(main, ["grid", "g.yaml", "--format", "json"])
    assert out.exit_code == 1, out.output
    doc = json.loads(out.stdout)
    first, second = doc["cells"]
    assert first["status"] == "error" and "code/bad.py:" in first["reason"]
    assert "ValueError" in first["reason"] and second["status"] == "pass"
    assert first["settings"]["data"] == "code/case.npz" and first["settings"]["inputs"] == 4


def test_expected_verdicts_exit_0_and_jobs_match(repo: Path) -> None:
    """With the buggy function expected to fail, the grid exits 0; --jobs 2 gives the same
    JSON byte for byte."""
    body = MIXED.replace("  - {fn: code/bad.py:wrong_shape, data: code/case.npz}\n", "") + (
        "expect:\n  - {match: {fn: code/buggy.py:shortcut_delta}, status: fail}\n")
    write(repo, body)
    one = CliRunner().invoke(main, ["grid", "g.yaml", "--format", "json"])
    two = CliRunner().invoke(main, ["grid", "g.yaml", "--format", "json", "--jobs", "2"])
    assert one.exit_code == two.exit_code == 0 and one.stdout == two.stdout


def test_a_functions_prints_stay_off_stdout(repo: Path) -> None:
    """What the user's function prints never reaches stdout: the JSON stays parseable."""
    (repo / "code" / "chatty.py").write_text(
        "from correct import relu_sigmoid_ce\n\n\ndef fn(W, X, Y):\n"
        "    print('loss computed')\n    return relu_sigmoid_ce(W, X, Y)\n")
    write(repo, "cells:\n  - {fn: code/chatty.py:fn, data: code/case.npz}\n")
    # a real process: the function runs in a worker, whose prints go to the real stderr
    out = subprocess.run([sys.executable, "-m", "relu_ce_diag", "grid", "g.yaml", "--format",
                          "json"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout)["cells"][0]["status"] == "pass"
    assert "loss computed" in out.stderr


def test_an_output_never_replaces_a_function_file(repo: Path) -> None:
    """-o naming a cell's own source file is refused before anything runs; the file stays."""
    write(repo, MIXED)
    before = (repo / "code" / "correct.py").read_bytes()
    out = CliRunner().invoke(main, ["grid", "g.yaml", "-o", "code/correct.py", "--format",
                                    "json"])
    assert out.exit_code == 2 and "the function of cell" in out.stderr
    assert (repo / "code" / "correct.py").read_bytes() == before


@NEEDS_OCTAVE
def test_a_matlab_function_in_a_grid(repo: Path) -> None:
    """fn: FILE.m runs in Octave like check --fn FILE.m (the seed's shortcut fails as
    expected, exit 0); a .m file that defines no such function is refused at load."""
    for name in ("backprop.m", "seed_case.mat"):
        shutil.copy(EXAMPLES / name, repo / "code" / name)
    write(repo, "cells:\n  - {fn: code/backprop.m, data: code/seed_case.mat, act: relu, "
                "loss: ce}\nexpect:\n  - {match: {fn: code/backprop.m}, status: fail}\n")
    out = CliRunner().invoke(main, ["grid", "g.yaml", "--format", "json"])
    assert out.exit_code == 0, out.output
    (cell,) = json.loads(out.stdout)["cells"]
    assert cell["status"] == "fail" and cell["worst"]["name"] == "w2[1, 65]"
    assert any(f["id"] == "known-bug" and "max(y, eps)" in f["fix"] for f in cell["findings"])
    message = refused(repo, "cells:\n  - {fn: code/backprop.m:nope, data: code/seed_case.mat}\n")
    assert message.startswith("g.yaml:2: cells[0].fn") and "defines no function 'nope'" in message
