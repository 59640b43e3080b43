"""``--numeric plain|fast``: the plain loop is the reference, the fast route the default; both
give the same verdicts and the same numbers to round-off."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec

SEED_CELLS = [CellSpec(act=a, loss=loss, backprop=b, hidden=(20,))
              for a in ("sigmoid", "tanh", "relu") for loss in ("se", "ce", "cce")
              for b in ("shortcut", "exact")]


@pytest.mark.parametrize("spec", SEED_CELLS, ids=lambda s: s.id)
def test_plain_and_fast_agree_on_the_seed_cells(spec: CellSpec) -> None:
    """Same status, and numerical gradients equal to the tolerance of either."""
    fast, plain = run_cell(spec, method="fast"), run_cell(spec, method="plain")
    assert fast.status == plain.status, (fast.reason, plain.reason)
    assert fast.arrays is not None and plain.arrays is not None
    diff = np.abs(fast.arrays.numeric - plain.arrays.numeric)
    scale = np.maximum(np.abs(fast.arrays.numeric), 1.0)
    assert np.all(diff <= 1e-7 * scale), float(np.max(diff / scale))


def test_the_option_is_on_check_and_sweep() -> None:
    """check --numeric plain runs the loop (same exit code); a wrong name is exit 2."""
    runner = CliRunner()
    for cmd in (["check", "--act", "relu", "--loss", "cce", "--hidden", "8"],
                ["sweep", "--act", "relu", "--loss", "cce", "--hidden", "8", "--no-chart",
                 "--steps", "1e-3,1e-5"]):
        fast, plain = runner.invoke(main, cmd), runner.invoke(main, [*cmd, "--numeric", "plain"])
        assert fast.exit_code == plain.exit_code == 0, plain.output
    bad = runner.invoke(main, ["check", "--numeric", "slow"])
    assert bad.exit_code == 2 and "--numeric" in bad.stderr
