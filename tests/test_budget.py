"""Cells too large to check are refused before anything runs, unless forced."""

import pytest
from click.testing import CliRunner

from relu_ce_diag.check.budget import Limits, check_budget, estimate
from relu_ce_diag.cli import main
from relu_ce_diag.errors import TooLargeError
from relu_ce_diag.model.network import Net
from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec


def test_estimate_counts_parameters_and_grows_with_size():
    """P is exact; memory and work grow with the network and the samples."""
    small, large = estimate(Net((5, 100, 3)), 16), estimate(Net((256, 256, 10)), 512)
    assert small.params == 903 and large.params == 68_362
    assert large.memory > small.memory and large.work > 100 * small.work


def test_refused_over_max_params_unless_forced():
    """A cell over --max-params raises TooLargeError naming the bound; force lifts it."""
    spec = CellSpec(inputs=20, hidden=(50,), samples=4)
    with pytest.raises(TooLargeError, match="more than --max-params 500"):
        run_cell(spec, Limits(max_params=500))
    assert run_cell(spec, Limits(max_params=500, force=True)).n_params == 21 * 50 + 3 * 51


def test_refused_over_memory_and_work():
    """Memory and work bounds are enforced with a message that says how to proceed."""
    net = Net((2000, 2000, 10))
    with pytest.raises(TooLargeError, match="GiB"):
        check_budget(net, 100_000, "big", Limits(max_params=10**9))
    with pytest.raises(TooLargeError, match="--directions"):
        check_budget(net, 10_000, "big", Limits(max_params=10**9, max_memory_gib=100))


def test_cli_refuses_a_huge_cell_with_exit_2_before_running():
    """The CLI turns a refused cell into one line and exit 2, fast (nothing is generated)."""
    r = CliRunner().invoke(main, ["check", "--inputs", "3000", "--hidden", "3000",
                                  "--samples", "100000"])
    assert r.exit_code == 2
    assert "--force" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_fn_check_refuses_more_entries_than_max_params():
    """check --fn applies --max-params to the user's W before any call; --directions is exempt."""
    from pathlib import Path
    ex = Path(__file__).resolve().parent.parent / "examples"
    fn, data = f"{ex / 'seed_backprop.py'}:backprop", str(ex / "seed_case.npz")
    r = CliRunner().invoke(main, ["check", "--fn", fn, "--data", data, "--max-params", "100"])
    assert r.exit_code == 2, r.output
    assert "more than --max-params 100" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = CliRunner().invoke(main, ["check", "--fn", fn, "--data", data, "--max-params", "100",
                                  "--directions", "4"])
    assert r.exit_code == 1, r.output  # the shortcut delta is wrong: the directions fail
