"""Attribution: the split of analytic - numeric into causes is exact and names the right one."""

import numpy as np
import pytest
import seed_matlab

from relu_ce_diag.diagnostics.attribution import grad_from_delta, unclamped_delta
from relu_ce_diag.model.network import backprop, forward, output_delta
from relu_ce_diag.run.cell import check_prepared, run_cell
from relu_ce_diag.settings.cells import CellSpec, prepare, validate

SMALL = dict(hidden=(8,), samples=6, inputs=3)


def _parts(result):
    f = next((f for f in result.findings if f.id == "attribution"), None)
    return None if f is None else {p["id"]: p for p in dict(f.data)["parts"]}


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_shortcut_gradient_from_delta_matches_the_seed(act):
    """G(y - Y) reproduces the seed's MATLAB df for ce (independent port)."""
    prep = prepare(validate(CellSpec(act=act, loss="ce")))
    net, arr = prep.net, prep.arrays
    fw = forward(net, arr.W, arr.X, arr.Y)
    mine = grad_from_delta(net, arr.W, fw, output_delta(net, fw, arr.Y, "shortcut"))
    _, df = seed_matlab.backprop(arr.W, arr.X, arr.Y, act, "CE")
    np.testing.assert_allclose(mine, np.ravel(df), rtol=1e-12, atol=1e-14)


def test_unclamped_delta_is_the_closed_form_inside_the_domain(rng):
    """relu + ce inside (0, 1): (y - Y) / (y (1 - y)) * (z > 0), by a plain loop."""
    prep = prepare(validate(CellSpec(act="relu", loss="ce", **SMALL)))
    net, arr = prep.net, prep.arrays
    fw = forward(net, arr.W, arr.X, arr.Y)
    got = unclamped_delta(net, fw, arr.Y)
    exact = output_delta(net, fw, arr.Y, "exact")
    for idx in np.ndindex(fw.y.shape):
        y, Y, z = fw.y[idx], arr.Y[idx], fw.z[-1][idx]
        if 0 < y < 1:
            want = (y - Y) / (y * (1 - y)) * (z > 0)
            assert got[idx] == pytest.approx(want, rel=1e-12, abs=1e-15)
        else:  # outside the domain (y = 0 with target 1 is log(0)) the clamp is the loss
            assert got[idx] == exact[idx]


def test_unclamped_delta_of_saturated_sigmoid_is_the_closed_form():
    """sigmoid + ce uses the closed form y - Y, finite even where y rounds to 1."""
    prep = prepare(validate(CellSpec(act="sigmoid", loss="ce")))
    net, arr = prep.net, prep.arrays
    fw = forward(net, arr.W * 40, arr.X, arr.Y)
    assert np.array_equal(unclamped_delta(net, fw, arr.Y), fw.y - arr.Y)


@pytest.mark.parametrize("spec", [
    CellSpec(act="relu", loss="ce"),
    CellSpec(act="tanh", loss="ce"),
    CellSpec(act="relu", loss="ce", step=0.05, **SMALL),
    CellSpec(act="relu", out="softmax", loss="se"),
    CellSpec(act="relu", loss="cce", targets="multilabel"),
], ids=lambda s: s.id)
def test_shares_add_up_to_one(spec):
    """The parts are an exact split of the error: their shares sum to 1."""
    parts = _parts(run_cell(spec))
    assert parts is not None
    assert sum(p["share"] for p in parts.values()) == pytest.approx(1.0, abs=1e-9)


def test_archetype_error_is_on_the_shortcut_delta():
    """relu + ce shortcut: pairing explains most of the error, and without it nothing
    mismatches."""
    r = run_cell(CellSpec(act="relu", loss="ce"))
    parts = _parts(r)
    assert parts["pairing"]["share"] > 0.9
    assert parts["pairing"]["mismatched_without"] == 0
    msg = next(f for f in r.findings if f.id == "attribution").message
    assert msg.startswith("shortcut delta invalid for relu + ce: explains")


def test_kink_cell_error_is_on_the_straddles():
    """The exact backprop at a big step: only straddling entries differ, and they explain it."""
    r = run_cell(CellSpec(act="relu", out="sigmoid", loss="ce", backprop="exact", step=0.05,
                          **SMALL))
    assert r.status == "kink"
    parts = _parts(r)
    assert parts["kink-straddle"]["share"] > 0.9
    assert "pairing" not in parts


def test_a_wrong_entry_is_attributed_to_the_analytic_gradient():
    """Mutation: one entry of a correct gradient off by 1e-3 relative lands in 'other'."""
    spec = validate(CellSpec(act="sigmoid", loss="ce"))
    prep = prepare(spec)
    arr = prep.arrays
    good = backprop(prep.net, arr.W, arr.X, arr.Y, "shortcut")[1]
    bad = good.copy()
    bad[417] *= 1.001
    r = check_prepared(prep, spec.id, analytic=bad)
    assert r.status == "fail" and r.worst.name == prep.net.entry_name(417)
    parts = _parts(r)
    assert parts["other"]["share"] > 0.99 and parts["other"]["mismatched_without"] == 0


def test_passing_cell_has_no_attribution():
    """A passing cell gets no attribution line."""
    assert _parts(run_cell(CellSpec(act="sigmoid", loss="ce"))) is None


def test_attribution_is_cheap_on_the_default_cell():
    """Diagnostics add little to the default archetype cell (well under half a second)."""
    import time

    spec = validate(CellSpec(act="relu", loss="ce"))
    prep = prepare(spec)
    check_prepared(prep, spec.id)
    t = time.perf_counter()
    check_prepared(prep, spec.id)
    assert time.perf_counter() - t < 0.5
