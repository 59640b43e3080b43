"""Saturation diagnostics: the eps clamp, outputs rounded to 0/1, and non-finite losses."""

from dataclasses import replace

import numpy as np
import pytest

from relu_ce_diag.diagnostics.rounding import rounded_outputs
from relu_ce_diag.model.losses import LOSSES, MATLAB_EPS
from relu_ce_diag.model.network import forward
from relu_ce_diag.run.cell import check_prepared, run_cell
from relu_ce_diag.settings.cells import CellSpec, prepare, validate
from relu_ce_diag.settings.data import Arrays


def _finding(result, diag_id):
    return next((f for f in result.findings if f.id == diag_id), None)


def _saturated_sigmoid(backprop: str = "shortcut", scale: float = 40.0):
    """The default sigmoid + ce cell with its weights scaled up until outputs saturate."""
    spec = validate(CellSpec(act="sigmoid", loss="ce", backprop=backprop))
    prep = prepare(spec)
    big = replace(prep, arrays=Arrays(prep.arrays.W * scale, prep.arrays.X, prep.arrays.Y))
    return check_prepared(big, spec.id)


@pytest.mark.parametrize("loss", ["se", "ce", "cce"])
@pytest.mark.parametrize("eps", [0.0, MATLAB_EPS, 1e-3])
def test_clamp_masks_match_a_plain_loop(loss, eps, rng):
    """clamp_masks agrees with a loop over outputs that applies the definition."""
    y = np.concatenate([rng.uniform(0, 1, 20), [0.0, 1.0, 1e-17, 1 - 1e-17, 5e-4, 1 - 5e-4]])
    y = y.reshape(2, 13)
    Y = (rng.random(y.shape) < 0.5).astype(float)
    low, high, active = LOSSES[loss].clamp_masks(y, Y, eps)
    for idx in np.ndindex(y.shape):
        clamps = loss in ("ce", "cce") and eps > 0
        lo = clamps and y[idx] <= eps
        hi = clamps and loss == "ce" and 1 - y[idx] <= eps
        assert low[idx] == lo and high[idx] == hi
        assert active[idx] == ((lo and Y[idx] != 0) or (hi and Y[idx] != 1))


def test_rounded_outputs_flag_sigmoid_at_one_but_not_relu_at_zero():
    """sigmoid(40) == 1 is rounded and sigmoid(25) is too close to 1; relu's 0 is exact."""
    z = np.array([[40.0, 25.0, 0.3, -30.0]])
    y = 1 / (1 + np.exp(-z))
    rounded, coarse = rounded_outputs(y, "sigmoid", 2.2e-16, 1e-6)
    assert rounded.tolist() == [[True, False, False, False]]
    assert coarse.tolist() == [[False, True, False, False]]
    r, c = rounded_outputs(np.maximum(z, 0) * 0, "relu", 2.2e-16, 1e-6)
    assert not r.any() and not c.any()


def test_archetype_has_clamp_saturation_counted():
    """relu + ce: relu outputs at 0 with target 1 sit in the clamp and are counted."""
    r = run_cell(CellSpec(act="relu", loss="ce"))
    f = _finding(r, "clamp-saturation")
    assert f is not None
    prep = prepare(validate(CellSpec(act="relu", loss="ce")))
    fw = forward(prep.net, prep.arrays.W, prep.arrays.X, prep.arrays.Y)
    expected = int(((fw.y <= MATLAB_EPS) & (prep.arrays.Y != 0)).sum()
                   + ((1 - fw.y <= MATLAB_EPS) & (prep.arrays.Y != 1)).sum())
    assert dict(f.data)["clamped"] == expected > 0


def test_saturated_sigmoid_ce_is_diagnosed_and_quantified():
    """Large weights: the clamp explains most of the shortcut's mismatch, float saturation is
    named, and the attribution's largest part is the clamp."""
    r = _saturated_sigmoid()
    assert r.status == "fail"
    clamp = _finding(r, "clamp-saturation")
    assert clamp is not None and clamp.severity == "warning"
    assert dict(clamp.data)["share"] > 0.8
    assert _finding(r, "float-saturation") is not None
    assert _finding(r, "pairing") is None  # sigmoid + ce is canonical
    parts = dict(_finding(r, "attribution").data)["parts"]
    assert parts[0]["id"] == "clamp-saturation" and parts[0]["share"] > 0.8


def test_saturated_sigmoid_exact_puts_the_error_on_float_saturation():
    """With the exact backprop the remaining mismatch sits on weights into saturated units."""
    r = _saturated_sigmoid("exact")
    f = _finding(r, "float-saturation")
    assert f is not None
    data = dict(f.data)
    assert data["share"] > 0.9 and data["mismatched_without"] == 0


@pytest.mark.parametrize("act, loss", [("sigmoid", "ce"), ("relu", "cce"), ("tanh", "se")])
def test_no_saturation_lines_on_moderate_cells(act, loss):
    """Default weights: no float-saturation, no non-finite, and (canonical pairs) no clamp."""
    r = run_cell(CellSpec(act=act, loss=loss, out="sigmoid" if loss == "ce" else None))
    ids = {f.id for f in r.findings}
    assert not ids & {"float-saturation", "non-finite", "clamp-saturation"}


def test_eps_zero_names_the_non_finite_outputs():
    """--eps 0 on relu + ce: the loss is NaN, the log(0) and 0 * log(0) outputs are named."""
    r = run_cell(CellSpec(act="relu", loss="ce", eps=0.0))
    assert r.status == "fail"
    f = _finding(r, "non-finite")
    assert f is not None and f.severity == "error"
    assert "log(0) = -inf" in f.message and "0 * log(0) = NaN" in f.message
    assert "(y = 0, Y = 1)" in f.message and "--eps" in f.fix
    assert dict(f.data)["nonfinite_numeric"] == r.n_params


def test_log_of_negative_is_named_for_tanh():
    """tanh outputs below 0 without a clamp give NaN from the log of a negative number."""
    r = run_cell(CellSpec(act="tanh", loss="ce", eps=0.0))
    f = _finding(r, "non-finite")
    assert f is not None and "log of a negative number" in f.message
