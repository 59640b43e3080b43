"""Precision and step size: float32 re-run in float64, round-off and truncation advice."""

from dataclasses import replace

import pytest

from relu_ce_diag.run.cell import check_prepared, run_cell
from relu_ce_diag.settings.cells import CellSpec, prepare, validate
from relu_ce_diag.settings.data import Arrays

SMALL = dict(hidden=(8,), samples=6, inputs=3)


def _finding(result, diag_id):
    return next((f for f in result.findings if f.id == diag_id), None)


@pytest.mark.parametrize("act, loss, backprop", [("relu", "ce", "shortcut"),
                                                 ("sigmoid", "ce", "shortcut"),
                                                 ("tanh", "se", "exact")])
def test_float32_cell_is_rerun_in_float64(act, loss, backprop):
    """The float64 side of the precision line agrees with an independent float64 run of the
    same point."""
    spec = CellSpec(act=act, loss=loss, backprop=backprop, dtype="float32")
    r32 = run_cell(spec)
    f = _finding(r32, "precision")
    assert f is not None and "float32" in f.message and "float64" in f.message
    # Same point: the float32-rounded arrays, checked in float64 by the runner itself.
    prep = prepare(validate(spec))
    a = prep.arrays
    prep64 = replace(prep, spec=replace(prep.spec, dtype="float64", step=None),
                     arrays=Arrays(a.W.astype("float64"), a.X.astype("float64"),
                                   a.Y.astype("float64")))
    r64 = check_prepared(prep64, "float64")
    assert dict(f.data)["float64_mismatched"] == r64.mismatched
    assert dict(f.data)["float32_mismatched"] == r32.mismatched


def test_float64_cell_has_no_precision_line():
    """A float64 cell is not re-run."""
    assert _finding(run_cell(CellSpec(act="relu", loss="ce")), "precision") is None


def test_mismatch_that_persists_is_not_called_precision():
    """relu + ce shortcut is wrong in both dtypes: the line says so."""
    f = _finding(run_cell(CellSpec(act="relu", loss="ce", dtype="float32")), "precision")
    assert "not precision" in f.message and f.severity == "info"


def test_tiny_step_is_round_off_dominated():
    """step 1e-13 in float64: round-off dominates and a larger step is suggested."""
    r = run_cell(CellSpec(act="sigmoid", loss="ce", step=1e-13, **SMALL))
    data = dict(_finding(r, "step-size").data)
    assert data["dominated_by"] == "round-off" and data["suggested_step"] > 1e-11


def test_huge_step_is_truncation_dominated():
    """step 0.5 on a smooth cell: truncation dominates and a smaller step is suggested."""
    r = run_cell(CellSpec(act="sigmoid", loss="ce", step=0.5, **SMALL))
    data = dict(_finding(r, "step-size").data)
    assert data["dominated_by"] == "truncation" and data["suggested_step"] < 0.5


@pytest.mark.parametrize("act, loss", [("sigmoid", "ce"), ("relu", "cce"), ("tanh", "se")])
def test_default_step_gives_no_step_line(act, loss):
    """The default float64 step resolves errors far below 0.1%: no step-size line."""
    assert _finding(run_cell(CellSpec(act=act, loss=loss)), "step-size") is None


def test_tiny_step_is_not_called_float_saturation():
    """A round-off dominated step on moderate outputs is step-size's finding only."""
    r = run_cell(CellSpec(act="sigmoid", loss="ce", step=1e-12))
    assert _finding(r, "step-size") is not None
    assert _finding(r, "float-saturation") is None
