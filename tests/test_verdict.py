"""Test the tester: no false alarms on correct gradients, no pass for a wrong entry."""

import numpy as np
import pytest

from relu_ce_diag.model.network import backprop
from relu_ce_diag.numeric.compare import compare, tolerance
from relu_ce_diag.numeric.plain import loop_central_differences
from relu_ce_diag.run.cell import check_prepared, run_cell
from relu_ce_diag.settings.cells import CellSpec, Prepared, prepare
from relu_ce_diag.settings.data import Arrays

SMOOTH_HIDDEN = ["sigmoid", "tanh", "softplus", "identity"]
SMOOTH_PAIRS = [(out, "se") for out in ["sigmoid", "tanh", "softplus", "identity", "softmax"]] \
    + [("sigmoid", "ce"), ("softmax", "ce"), ("softmax", "cce"), ("sigmoid", "cce")]
SIZES = [dict(), dict(inputs=8, outputs=4, samples=64, hidden=(30,)),
         dict(inputs=3, outputs=2, samples=7, hidden=(8, 6))]


@pytest.mark.parametrize("act", SMOOTH_HIDDEN)
@pytest.mark.parametrize("out, loss", SMOOTH_PAIRS)
@pytest.mark.parametrize("size", range(len(SIZES)))
def test_no_false_alarm_on_exact_backprop(act, out, loss, size):
    """The exact backprop passes on every smooth combination, across seeds and sizes."""
    for seed in range(3):
        r = run_cell(CellSpec(act=act, out=out, loss=loss, backprop="exact", seed=seed,
                              targets="multilabel" if loss == "ce" else "onehot",
                              **SIZES[size]))
        assert r.status == "pass", (r.id, r.reason, r.worst)


@pytest.mark.parametrize("act", ["relu", "leaky-relu"])
@pytest.mark.parametrize("out, loss", [("softmax", "cce"), ("sigmoid", "ce"), ("identity", "se")])
def test_kinked_networks_never_fail_with_exact_backprop(act, out, loss):
    """With relu hidden units the exact backprop passes, or is kink, never fail."""
    for seed in range(4):
        r = run_cell(CellSpec(act=act, out=out, loss=loss, backprop="exact", seed=seed,
                              samples=64))
        assert r.status in ("pass", "kink"), (r.id, r.reason, r.worst)


def mutated(spec: CellSpec, block: str, factor: float = 1e-3):
    """Check the exact gradient with one entry of ``block`` moved by factor * max|g|."""
    prep = prepare(spec)
    a = prep.arrays
    _, g = backprop(prep.net, a.W, a.X, a.Y, "exact")
    sl = dict(prep.net.blocks())[block]
    rng = np.random.default_rng(7)
    candidates = np.arange(sl.start, sl.stop)
    p = int(rng.choice(candidates[np.abs(g[candidates]) > 0]))
    bad = g.copy()
    bad[p] += factor * np.abs(g).max()
    return check_prepared(prep, spec.id, analytic=bad), prep.net.entry_name(p)


@pytest.mark.parametrize("block", ["w1", "b1", "w2", "b2"])
@pytest.mark.parametrize("act, out, loss", [("relu", "softmax", "cce"),
                                            ("sigmoid", "sigmoid", "ce"),
                                            ("tanh", "identity", "se")])
def test_one_entry_off_by_a_thousandth_fails_and_is_named(block, act, out, loss):
    """A gradient wrong in one entry by 1e-3 x max|g| fails, and that entry is the worst."""
    r, name = mutated(CellSpec(act=act, out=out, loss=loss, backprop="exact"), block)
    assert r.status == "fail"
    assert r.mismatched == 1
    assert r.worst is not None and r.worst.name == name


def test_one_wrong_entry_among_many_is_caught():
    """One entry off by 1e-3 x max|g| among ~4,000 parameters still fails."""
    spec = CellSpec(act="relu", loss="cce", backprop="exact", inputs=32, outputs=10,
                    samples=128)
    r, name = mutated(spec, "w1")
    assert r.n_params == 4310 and r.status == "fail" and r.worst.name == name


def test_unmutated_control_passes():
    """The same cells without the mutation pass, so the mutation test can fail."""
    for act, out, loss in [("relu", "softmax", "cce"), ("sigmoid", "sigmoid", "ce")]:
        assert run_cell(CellSpec(act=act, out=out, loss=loss, backprop="exact")).status \
            in ("pass", "kink")


def test_tiny_gradient_entries_pass():
    """Entries ~1e-12 (a layer fed through tiny weights) raise no false alarm."""
    prep = prepare(CellSpec(act="tanh", out="identity", loss="se", backprop="exact"))
    net, a = prep.net, prep.arrays
    w1, w2 = net.unpack(a.W.copy())
    W = np.concatenate([w1.ravel(order="F"), (w2 * 1e-12).ravel(order="F")])
    r = check_prepared(Prepared(prep.spec, net, Arrays(W, a.X, a.Y)), "tiny")
    g = r.arrays.analytic
    assert np.abs(g[dict(net.blocks())["w1"]]).max() < 1e-10
    assert r.status == "pass", r.worst


def test_huge_loss_passes():
    """A loss of ~1e7 (targets far from the outputs) raises no false alarm."""
    prep = prepare(CellSpec(act="tanh", out="identity", loss="se", backprop="exact"))
    a = prep.arrays
    Y = a.Y + 800.0
    r = check_prepared(Prepared(prep.spec, prep.net, Arrays(a.W, a.X, Y)), "huge")
    assert r.loss > 1e7
    assert r.status == "pass", r.worst


def test_black_box_tolerance_model_huge_loss_and_tiny_entries():
    """For a black-box f = 1e7 + sum(c sin W), the loop check passes where a bare
    relative-error threshold would not, and a 1e-3 x max|g| error at a larger step fails."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal(40)
    c = np.where(np.arange(40) < 20, 1.0, 1e-12)

    def f(w):
        return 1e7 + float(np.sum(c * np.sin(w)))

    g = c * np.cos(W)
    for h in (1e-6, 1e-3):
        num, scale = loop_central_differences(f, W, h)
        half, _ = loop_central_differences(f, W, h / 2)
        tol = tolerance(g, num, half, scale, h, np.finfo(float).eps)
        assert compare(g, num, tol).ok.all()
    bare = np.abs(g - num) / np.maximum(np.abs(g), np.abs(num))
    assert bare.max() > 1e-4  # a bare relative error would have cried wolf
    bad = g.copy()
    bad[3] += 1e-3 * np.abs(g).max()
    assert list(np.flatnonzero(~compare(bad, num, tol).ok)) == [3]


def exact_zero_case(at_zero: float):
    """A relu cell where sample 0 is all-zero and b1[4] = 0, so z[0, 4] is exactly 0."""
    prep = prepare(CellSpec(act="relu", loss="cce", backprop="exact",
                            relu_grad_at_zero=at_zero))
    net, a = prep.net, prep.arrays
    X = a.X.copy()
    X[0] = 0.0
    W = a.W.copy()
    W[dict(net.blocks())["b1"].start + 4] = 0.0
    return check_prepared(Prepared(prep.spec, net, Arrays(W, X, a.Y)), "zero")


def test_exact_zero_preactivation_is_a_kink_not_a_failure():
    """A pre-activation exactly at 0 makes b1[4] a straddled entry, set aside as kink."""
    r = exact_zero_case(0.0)
    assert r.status == "kink"
    assert r.set_aside == ("b1[4]",)


def test_half_convention_at_zero_matches_the_central_difference():
    """With relu'(0) = 0.5 (the Q&A's third answer) the same entry agrees."""
    r = exact_zero_case(0.5)
    assert r.status == "pass"
    assert r.straddled >= 1


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_seed_table(act):
    """The seed's findings: se passes, ce passes only for sigmoid, softmax + cce always."""
    for seed in range(3):
        se = run_cell(CellSpec(act=act, loss="se", seed=seed)).status
        ce = run_cell(CellSpec(act=act, loss="ce", seed=seed)).status
        cce = run_cell(CellSpec(act=act, loss="cce", seed=seed)).status
        assert se in ("pass", "kink") and cce in ("pass", "kink")
        assert ce == ("pass" if act == "sigmoid" else "fail")
