"""Every shipped grid in configs/ runs to its expectations, for the reasons it states."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.run.grid import GridRun, expand, run_cells, run_one
from relu_ce_diag.settings.grid_file import load_grid

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@cache
def run(name: str) -> GridRun:
    """Run the shipped grid ``name`` once per test session."""
    return run_cells(expand(load_grid(str(ROOT / "configs" / f"{name}.yaml"))))


def by_id(name: str) -> dict[str, tuple[str, tuple[str, ...], float, bool]]:
    """Map cell id -> (status, finding ids, loss, met) for the shipped grid ``name``."""
    return {o.cell.id: (o.result.status, tuple(f.id for f in o.result.findings),
                        o.result.loss, o.met) for o in run(name).outcomes}


def test_the_four_grids_are_shipped() -> None:
    """seed, smoke, kinks and saturation are in configs/."""
    assert {p.stem for p in CONFIGS} >= {"seed", "smoke", "kinks", "saturation"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_grid_meets_every_expectation(path: Path) -> None:
    """Each shipped grid runs with every cell meeting its expectation (exit 0)."""
    r = run(path.stem)
    missed = [(o.cell.id, o.result.status, o.cell.expected, o.result.reason)
              for o in r.outcomes if not o.met]
    assert not missed and r.exit_code == 0


def test_seed_question_grid_matches_the_question() -> None:
    """The question's finding: se passes for all three, ce passes only with sigmoid."""
    cells = by_id("seed")
    for act in ("sigmoid", "tanh", "relu"):
        assert cells[f"{act}/{act}/se/shortcut"][0] == "pass"
    assert cells["sigmoid/sigmoid/ce/shortcut"][0] == "pass"
    assert cells["tanh/tanh/ce/shortcut"][0] == cells["relu/relu/ce/shortcut"][0] == "fail"


def test_seed_edit_passes_for_every_hidden_activation() -> None:
    """The edit: softmax + cce passes whatever the hidden activation."""
    edits = {k: v for k, v in by_id("seed").items() if k.startswith("edit:")}
    assert len(edits) == 6 and all(v[0] == "pass" for v in edits.values())


def test_seed_failures_are_the_derivation_not_kinks_or_clamps() -> None:
    """Every seed cell that fails is flagged 'pairing', and passes with the exact delta."""
    fails = [o for o in run("seed").outcomes if o.result.status == "fail"]
    assert len(fails) == 5
    for o in fails:
        assert "pairing" in {f.id for f in o.result.findings}, o.cell.id
        fixed = run_one(replace(o.cell, spec=replace(o.cell.spec, backprop="exact")))
        assert fixed.status == "pass", (o.cell.id, fixed.reason)


def test_seed_relu_grad_half_changes_nothing() -> None:
    """Answer 3: relu'(0) = 0.5 gives the same verdict and errors as the seed's 0."""
    outs = {o.cell.id: o.result for o in run("seed").outcomes}
    for loss in ("ce", "se"):
        half, zero = outs[f"answer 3: relu'(0)=0.5 + {loss}"], outs[f"relu/relu/{loss}/shortcut"]
        assert (half.status, half.max_rel, half.mismatched) == \
            (zero.status, zero.max_rel, zero.mismatched)


def test_kinks_are_straddles() -> None:
    """Kink cells straddle a kink and say so; smooth activations on the same data pass, and
    so does relu'(0) = 0.5, the mean of the slopes a central difference at z = 0 tends to."""
    for o in run("kinks").outcomes:
        if o.result.status == "kink":
            assert o.result.straddled > 0 and "kink-straddle" in {f.id for f in o.result.findings}
        elif o.cell.spec.relu_grad_at_zero == 0.5:
            assert o.result.status == "pass" and o.result.straddled > 0
        else:
            assert o.result.straddled == 0
    cells = by_id("kinks")
    assert cells["relu/softmax/cce/exact"][0] == "kink"  # not a derivation error


def test_saturation_reasons() -> None:
    """eps 0 failures have a non-finite loss; the 0.3 clamp fails the shortcut only."""
    log0 = 0
    for cid, (status, ids, loss, _) in by_id("saturation").items():
        if "eps=0 " in cid + " " and status == "fail":
            assert not math.isfinite(loss) and "non-finite" in ids, cid
            log0 += 1
        if "eps=0.3" in cid:
            assert status == ("fail" if "/shortcut" in cid else "pass"), cid
            assert "clamp-saturation" in ids, cid
    assert log0 == 4


def test_seed_table_tells_the_story() -> None:
    """`relu-diag grid configs/seed.yaml` prints one table with every cell, exit 0."""
    res = CliRunner().invoke(main, ["grid", str(ROOT / "configs" / "seed.yaml")])
    assert res.exit_code == 0, res.output
    for cid in by_id("seed"):
        assert cid in res.stdout
    assert "21 of 21 met their expectation; exit 0" in res.stdout


def test_pre_commit_hook_runs_the_grid_command() -> None:
    """.pre-commit-hooks.yaml declares a hook whose entry is `relu-diag grid`."""
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["entry"] == "relu-diag grid" and hook["pass_filenames"] is False
