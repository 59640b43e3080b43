"""The seed grid (configs/seed.yaml) through the .m path: tests/examples/seed_cell.m, the seed's
function with its choices as arguments, gets the built-in cell's verdict in every cell, and
where it fails, the MATLAB fix relu-diag prints makes it pass when pasted in."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.run.function import check_file
from relu_ce_diag.run.grid import expand, meets
from relu_ce_diag.settings.cells import CellSpec, prepare
from relu_ce_diag.settings.function import Calling, Description
from relu_ce_diag.settings.grid_file import load_grid

sys.path.insert(0, str(Path(__file__).parent))
from test_octave import EXAMPLES, ROOT, pytestmark  # noqa: E402, F401

# The seed's width is 100; 10 keeps the 21 cells to a few seconds in all and gives the same
# verdicts (benchmarks/octave_seed.py --grid runs them at width 100 and prints both).
CELLS = expand(load_grid(str(ROOT / "configs" / "seed.yaml")))
HIDDEN = (10,)
OK = ("pass", "kink")


def call_of(spec: CellSpec, name: str = "seed_cell") -> str:
    """The --call expression that makes seed_cell.m compute the cell."""
    return (f"{name}(W, X, Y, '{spec.act}', '{spec.output}', '{spec.loss}', '{spec.backprop}', "
            f"{spec.relu_grad_at_zero!r}, {spec.leaky_slope!r}, {spec.eps!r})")


def run_m(spec: CellSpec, tmp_path: Path, mfile: Path, described: bool = False):
    """Check seed_cell.m (or a fixed copy) at the cell's point through Octave."""
    a = prepare(spec).arrays
    data = tmp_path / "cell.npz"
    np.savez(data, W=a.W, X=a.X, Y=a.Y)
    desc = Description(act=spec.act, out=spec.output, loss=spec.loss, eps=spec.eps,
                       relu_grad_at_zero=spec.relu_grad_at_zero,
                       leaky_slope=spec.leaky_slope) if described else Description()
    return check_file(Calling(str(mfile), call=call_of(spec, mfile.stem)), str(data), desc)


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_a_seed_cell_through_octave_gets_the_builtin_verdict(cell, tmp_path: Path) -> None:
    """seed_cell.m run by Octave passes or fails exactly where the built-in cell does, and
    meets the grid's expectation."""
    spec = replace(cell.spec, hidden=HIDDEN)
    builtin = run_cell(spec)
    result = run_m(spec, tmp_path, EXAMPLES / "seed_cell.m")
    assert (result.status in OK) == (builtin.status in OK), (result.reason, builtin.reason)
    assert meets(result, cell.expected), result.reason


FAILING = [c for c in CELLS if "fail" in c.expected]


@pytest.mark.parametrize("cell", FAILING, ids=[c.id for c in FAILING])
def test_the_matlab_fix_of_a_failing_seed_cell_makes_it_pass(cell, tmp_path: Path) -> None:
    """Described, a failing cell's known-bug fix is MATLAB code; pasted over seed_cell.m's
    shortcut line, the function passes."""
    spec = replace(cell.spec, hidden=HIDDEN)
    result = run_m(spec, tmp_path, EXAMPLES / "seed_cell.m", described=True)
    bug = next(f for f in result.findings if f.id == "known-bug")
    code = dict(bug.data)["code"]
    assert code.rstrip().endswith(";") and "np." not in code
    source = (EXAMPLES / "seed_cell.m").read_text()
    shortcut = "        d3=y-Y;\n"
    assert shortcut in source
    fixed = tmp_path / "seed_fixed.m"
    fixed.write_text(source.replace(shortcut, f"        {code}\n").replace(
        "function [f, df] = seed_cell(", "function [f, df] = seed_fixed("))
    again = run_m(spec, tmp_path, fixed, described=True)
    assert again.status in OK, again.reason
