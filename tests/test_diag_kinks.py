"""Kink diagnostics: straddles named exactly, exact zeros, dead units, and the shipped data."""

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from relu_ce_diag.run.cell import check_prepared, run_cell
from relu_ce_diag.settings.cells import CellSpec, prepare, validate
from relu_ce_diag.settings.data import Arrays

ROOT = Path(__file__).resolve().parents[1]
KINK_DATA = ROOT / "configs" / "data" / "kink_at_zero.npz"
SMALL = dict(hidden=(8,), samples=6, inputs=3)


def _finding(result, diag_id):
    return next((f for f in result.findings if f.id == diag_id), None)


def _kink_cell():
    return run_cell(CellSpec(act="relu", loss="cce", data=str(KINK_DATA)))


def test_shipped_data_matches_its_generator():
    """kink_at_zero.npz is exactly what make_kink_at_zero.py builds."""
    spec = importlib.util.spec_from_file_location(
        "make_kink_at_zero", ROOT / "scripts" / "make_kink_at_zero.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    built = mod.build()
    with np.load(KINK_DATA) as z:
        for key in ("X", "Y", "W"):
            assert np.array_equal(z[key], built[key]), key


def test_kink_at_zero_is_kink_with_the_zero_units_named():
    """The shipped data: status kink, zero-preactivation names h1[2] and h1[4] and samples."""
    r = _kink_cell()
    assert r.status == "kink", r.reason
    with np.load(KINK_DATA) as z:
        X, W = z["X"], z["W"]
    w1 = W[:30].reshape(6, 5, order="F")
    pre = X @ w1[:, :4].T + w1[:, 4]  # independent: the hidden pre-activations by hand
    zero_s, zero_u = np.nonzero(pre == 0)
    f = _finding(r, "zero-preactivation")
    assert f is not None and f.severity == "warning"
    assert dict(f.data)["count"] == zero_s.size
    for u in set(zero_u.tolist()):
        samples = ", ".join(str(s) for s in sorted(zero_s[zero_u == u]))
        assert f"h1[{u}] (samples {samples})" in f.message
    straddle = _finding(r, "kink-straddle")
    assert straddle is not None and "h1[2]" in straddle.message and "h1[4]" in straddle.message


def test_kink_at_zero_sets_aside_exactly_the_entries_into_zero_units():
    """Set-aside entries are w1[u, i] with x_i != 0 on a zero sample of unit u, and b1[u]."""
    r = _kink_cell()
    with np.load(KINK_DATA) as z:
        X, W = z["X"], z["W"]
    w1 = W[:30].reshape(6, 5, order="F")
    pre = X @ w1[:, :4].T + w1[:, 4]
    expected = set()
    for u in range(6):
        rows = pre[:, u] == 0
        if rows.any():
            expected |= {f"w1[{u}, {i}]" for i in range(4) if (X[rows, i] != 0).any()}
            expected.add(f"b1[{u}]")
    assert set(r.set_aside) == expected


def test_kink_at_zero_half_convention_shrinks_the_straddle_error():
    """relu'(0) = 0.5 is what a central difference sees: the straddled error drops from O(1)
    to O(h), and the zero line says both conventions."""
    base = _finding(_kink_cell(), "kink-straddle")
    half = run_cell(CellSpec(act="relu", loss="cce", data=str(KINK_DATA), relu_grad_at_zero=0.5))
    assert dict(base.data)["max_rel_error"] > 0.1
    assert dict(_finding(half, "kink-straddle").data)["max_rel_error"] < 1e-4
    f = _finding(half, "zero-preactivation")
    assert "relu'(0) = 0.5" in f.message and "sees 0.5" in f.message


def _brute_force_crossings(X, W, h, p, n_hidden):
    """(sample, unit) of the hidden layer whose pre-activation changes sign at W[p] +- h."""
    out = set()
    n_in = X.shape[1]
    for sign_pair in [(h, -h)]:
        zs = []
        for d in sign_pair:
            Wd = W.copy()
            Wd[p] += d
            w1 = Wd[:n_hidden * (n_in + 1)].reshape(n_hidden, n_in + 1, order="F")
            zs.append(X @ w1[:, :-1].T + w1[:, -1])
        for s in range(X.shape[0]):
            for u in range(n_hidden):
                if np.sign(zs[0][s, u]) != np.sign(zs[1][s, u]):
                    out.add((s, u))
    return out


def test_straddle_units_match_a_brute_force_loop():
    """With a large step, each named hidden crossing agrees with a plain loop over samples."""
    from relu_ce_diag.diagnostics.kinks import crossings
    from relu_ce_diag.model.network import forward

    spec = validate(CellSpec(act="relu", out="sigmoid", loss="ce", step=0.05, **SMALL))
    prep = prepare(spec)
    r = check_prepared(prep, spec.id)
    f = _finding(r, "kink-straddle")
    assert f is not None and dict(f.data)["straddled"] > 0
    arr = prep.arrays
    fw = forward(prep.net, arr.W, arr.X, arr.Y)
    hits = 0
    for p in range(8 * 4):
        got = {(c.sample, c.unit) for c in crossings(prep.net, arr, fw, spec.h, np.array([p]))
               if c.layer == 0}
        assert got == _brute_force_crossings(arr.X, arr.W, spec.h, p, 8), p
        hits += bool(got)
    assert hits > 0


def test_suggested_step_avoids_the_straddle():
    """Rerunning with half the printed safe step straddles no kink."""
    spec = CellSpec(act="relu", out="sigmoid", loss="ce", step=0.05, **SMALL)
    f = _finding(run_cell(spec), "kink-straddle")
    safe = dict(f.data)["safe_step"]
    assert 0 < safe < 0.05
    again = run_cell(replace(spec, step=safe / 2))
    assert again.straddled == 0
    assert _finding(again, "kink-straddle") is None


@pytest.mark.parametrize("act, out", [("sigmoid", "sigmoid"), ("tanh", "softmax"),
                                      ("softplus", "identity"), ("identity", "sigmoid")])
def test_no_kink_lines_without_kinks(act, out):
    """Smooth activations never produce kink-straddle or zero-preactivation, even at a big
    step."""
    loss = "cce" if out == "softmax" else ("se" if out == "identity" else "ce")
    r = run_cell(CellSpec(act=act, out=out, loss=loss, step=0.05, **SMALL))
    ids = {f.id for f in r.findings}
    assert not ids & {"kink-straddle", "zero-preactivation", "dead-units"}


@pytest.mark.parametrize("act", ["relu", "leaky-relu"])
def test_no_zero_line_on_generated_data(act):
    """Random data puts no pre-activation exactly at 0."""
    r = run_cell(CellSpec(act=act, loss="cce"))
    assert _finding(r, "zero-preactivation") is None


def _with_dead_unit(act: str, unit: int):
    spec = validate(CellSpec(act=act, out="sigmoid", loss="ce", **SMALL))
    prep = prepare(spec)
    W = prep.arrays.W.copy()
    w1 = prep.net.unpack(W)[0]
    w1[unit, -1] = -50.0  # a bias so negative that the unit never fires
    W[:w1.size] = w1.ravel(order="F")
    return replace(prep, arrays=Arrays(W, prep.arrays.X, prep.arrays.Y)), spec.id


def test_dead_unit_named_with_its_vacuous_weights():
    """A relu unit that never fires is named, and n_in + 1 + n_out entries are vacuous."""
    prep, cell_id = _with_dead_unit("relu", 5)
    r = check_prepared(prep, cell_id)
    f = _finding(r, "dead-units")
    assert f is not None and "h1[5]" in f.message
    assert dict(f.data)["vacuous_entries"] == (3 + 1) + 3
    assert r.status == "pass"


def test_leaky_unit_is_never_dead():
    """leaky-relu keeps a slope below 0, so the same unit is not reported dead."""
    prep, cell_id = _with_dead_unit("leaky-relu", 5)
    assert _finding(check_prepared(prep, cell_id), "dead-units") is None


@pytest.mark.parametrize("hidden", [(8,), (6, 5)])
def test_crossings_in_every_layer_match_full_forward_passes(hidden):
    """relu hidden and output layers: crossings at every layer equal those of two full
    forward passes at W +- h, entry by entry."""
    from relu_ce_diag.diagnostics.kinks import crossings
    from relu_ce_diag.model.network import forward

    spec = validate(CellSpec(act="relu", out="relu", loss="se", step=0.3, hidden=hidden,
                             samples=12, inputs=3))
    prep = prepare(spec)
    net, arr, h = prep.net, prep.arrays, spec.h
    fw = forward(net, arr.W, arr.X, arr.Y)
    layers_hit = set()
    for p in range(net.n_params):
        Wp, Wm = arr.W.copy(), arr.W.copy()
        Wp[p] += h
        Wm[p] -= h
        zp, zm = forward(net, Wp, arr.X, arr.Y).z, forward(net, Wm, arr.X, arr.Y).z
        want = {(layer, int(u), int(s)) for layer in range(len(zp))
                for s, u in zip(*np.nonzero(np.sign(zp[layer]) != np.sign(zm[layer])),
                                strict=True)}
        got = {(c.layer, c.unit, c.sample)
               for c in crossings(net, arr, fw, h, np.array([p]))}
        assert got == want, net.entry_name(p)
        layers_hit |= {w[0] for w in want}
    assert len(layers_hit) == len(hidden) + 1
