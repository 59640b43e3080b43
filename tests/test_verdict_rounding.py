"""Rounding that swamps a step: a correct saturated gradient is not failed, a wrong one still
fails where the samples resolve it, and a cell that sets most entries aside is not passed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.check.builtin import check_entries
from relu_ce_diag.check.pipeline import OK, ROUNDING, Judged, verdict
from relu_ce_diag.check.swamp import entry_losses
from relu_ce_diag.cli import main
from relu_ce_diag.model.network import backprop, forward
from relu_ce_diag.results.cell import EXIT_FINDING, EXIT_OK, exit_code
from relu_ce_diag.run.cell import check_prepared, run_cell
from relu_ce_diag.settings.cells import CellSpec, Prepared, prepare
from relu_ce_diag.settings.data import Arrays

ROOT = Path(__file__).resolve().parents[1]
SATURATED = ROOT / "configs" / "data" / "saturated.npz"


def _finding(r, diag_id):
    return next((f for f in r.findings if f.id == diag_id), None)


def _sat(backprop_: str):
    return run_cell(CellSpec(act="sigmoid", loss="ce", data=str(SATURATED), backprop=backprop_))


def test_saturated_exact_gradient_is_not_fail_and_names_what_it_sets_aside() -> None:
    """The exact gradient at the saturated point: not fail; the entries set aside are named
    in rounding-swamp with the units and samples, and the rest of the cell agrees."""
    r = _sat("exact")
    assert r.status == "kink" and r.mismatched == 0, r.reason
    assert "rounding swamps the step" in r.reason
    f = _finding(r, "rounding-swamp")
    assert f is not None and f.severity == "warning"
    data = dict(f.data)
    assert data["set_aside"] == len(r.set_aside) > 0
    assert any(u.startswith("out[") for u in data["units"])
    assert exit_code([r]) == EXIT_OK and exit_code([r], strict=True) == EXIT_FINDING


def test_saturated_shortcut_still_fails_where_the_samples_resolve_it() -> None:
    """The shortcut y - Y ignores the clamp: at the same point it still fails, also on
    entries the exact check had to set aside (some of their samples are swamped), because
    they are judged again on their other samples, where the clamp's error shows."""
    prep = prepare(CellSpec(act="sigmoid", loss="ce", data=str(SATURATED)))
    short = check_entries(prep, "shortcut")
    exact = check_entries(prepare(replace(prep.spec, backprop="exact")), "exact").judged
    assert short.status == "fail"
    failing = short.judged.mismatched
    assert (failing & (exact.kind == ROUNDING)).sum() > 0
    # the clamp is the cause: the shortcut and exact gradients differ on every failing entry
    off = np.abs(short.df - short.exact) > short.judged.tol
    assert off[failing].all()


def test_a_wrong_entry_at_the_saturated_point_fails_and_is_named() -> None:
    """One entry off by 1e-3 x max|g| at the saturated point, in an entry the check resolves
    (it agrees to 1e-6 of that): fail, and that entry is the worst."""
    prep = prepare(CellSpec(act="sigmoid", loss="ce", data=str(SATURATED), backprop="exact"))
    a = prep.arrays
    g = backprop(prep.net, a.W, a.X, a.Y, "exact")[1]
    exact = check_entries(prep, "exact").judged
    sharp = np.flatnonzero((exact.kind == OK) & (exact.tol < 1e-6 * np.abs(g).max()))
    for p in (sharp[np.argmax(np.abs(g[sharp]))], sharp[0], sharp[-1]):
        bad = g.copy()
        bad[p] += 1e-3 * np.abs(g).max()
        r = check_prepared(prep, "bad", analytic=bad)
        assert r.status == "fail" and r.mismatched == 1
        assert r.worst is not None and r.worst.name == prep.net.entry_name(int(p))


def _all_saturated() -> Prepared:
    """The default sigmoid cell with every output a few ulps from 1 (output bias 35)."""
    prep = prepare(CellSpec(act="sigmoid", loss="ce", backprop="exact", targets="multilabel"))
    W = prep.arrays.W.copy()
    W[dict(prep.net.blocks())["b2"]] = 35.0
    return Prepared(prep.spec, prep.net, Arrays(W, prep.arrays.X, prep.arrays.Y))


def test_a_cell_that_sets_most_entries_aside_is_error_not_pass_not_fail(tmp_path) -> None:
    """Every output 3 to 11 ulps from 1: the exact gradient cannot be checked; status error
    (exit 1: a CI gate does not pass it) whose reason says the gradient is not found wrong."""
    prep = _all_saturated()
    y = forward(prep.net, prep.arrays.W, prep.arrays.X, prep.arrays.Y).y
    assert np.all(1 - y <= 16 * np.finfo(float).eps)  # independent: what the data is
    r = check_prepared(prep, "all saturated")
    assert r.status == "error" and r.mismatched == 0
    assert "could not be checked" in r.reason and "not found wrong" in r.reason
    assert exit_code([r]) == EXIT_FINDING
    a = prep.arrays
    np.savez(tmp_path / "sat.npz", W=a.W, X=a.X, Y=a.Y)
    cli = CliRunner().invoke(main, ["check", "--act", "sigmoid", "--loss", "ce", "--backprop",
                                    "exact", "--data", str(tmp_path / "sat.npz")])
    assert cli.exit_code == 1 and "could not be checked" in " ".join(cli.output.split())


def _judged(kinds: list[int]) -> Judged:
    K = len(kinds)
    z, o = np.zeros(K), np.ones(K)
    return Judged(o, o, o, o, z.astype(bool), z.astype(bool), z.astype(bool),
                  z.astype(bool), o, np.array(kinds, dtype=np.int8), 1e-6)


@pytest.mark.parametrize("aside, status", [(0, "pass"), (1, "kink"), (2, "kink"),
                                           (3, "error"), (4, "error")])
def test_more_than_half_set_aside_is_error(aside: int, status: str) -> None:
    """Of 4 checks: none set aside passes, up to half is kink, more than half is error."""
    assert verdict(_judged([ROUNDING] * aside + [0] * (4 - aside)), 1.0, "entries", "k")[0] \
        == status


def test_a_mismatch_fails_however_much_is_set_aside() -> None:
    """One mismatch among checks that are otherwise all set aside still fails."""
    assert verdict(_judged([ROUNDING, ROUNDING, ROUNDING, 3]), 1.0, "entries", "k")[0] == "fail"


def test_entry_losses_equal_a_plain_forward_pass() -> None:
    """The per-sample losses at W + t e_p, recomputed from the layer p moves, equal a plain
    forward pass at the moved W, for entries of every layer."""
    prep = prepare(CellSpec(act="tanh", loss="cce", hidden=(7, 5), samples=9))
    net, a = prep.net, prep.arrays
    fw = forward(net, a.W, a.X, a.Y)
    for p in (0, 40, net.layer_start(1) + 3, net.n_params - 1):
        for t in (1e-3, -2e-6):
            W = a.W.copy()
            W[p] += t
            plain = forward(net, W, a.X, a.Y).terms.sum(axis=1)
            assert np.allclose(entry_losses(net, a.W, fw, a.Y, p, t), plain,
                               rtol=1e-13, atol=1e-15)
