"""Pairing diagnostics: the static table against a numerical oracle, and the findings of cells."""

import itertools

import numpy as np
import pytest

from relu_ce_diag.diagnostics.pairing import pairing, range_problem, shortcut_is_exact
from relu_ce_diag.model.activations import ACTIVATIONS
from relu_ce_diag.model.losses import LOSSES
from relu_ce_diag.model.network import BACKPROPS, Forward, Net, output_delta
from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec

SMALL = dict(hidden=(8,), samples=6, inputs=3)
PAIRS = list(itertools.product(ACTIVATIONS, LOSSES))
# Written out by hand from the ranges: which outputs do not fit each loss's domain.
RANGE_MISFITS = {
    "se": set(),
    "ce": {"tanh", "relu", "leaky-relu", "softplus", "identity", "softmax"},
    "cce": {"sigmoid", "tanh", "relu", "leaky-relu", "softplus", "identity"},
}


def _smooth_point(out: str, rng: np.random.Generator) -> np.ndarray:
    """Pre-activations (4, 3) whose outputs lie inside (0, 1), away from kinks and clamps."""
    if out == "softplus":
        return rng.uniform(-2.0, -0.5, size=(4, 3))
    return rng.uniform(0.1, 0.9, size=(4, 3))


def _numerical_delta(net: Net, z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """dL/dz (4, 3) by a plain loop of central differences on the loss as a function of z."""
    act, loss = net.out_act, net.loss_fn
    d = np.empty_like(z)
    h = 1e-6
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        fp = loss.terms(act.f(zp, net.leaky_slope), Y, net.eps).sum()
        fm = loss.terms(act.f(zm, net.leaky_slope), Y, net.eps).sum()
        d[idx] = (fp - fm) / (2 * h)
    return d


@pytest.mark.parametrize("out, loss", PAIRS)
@pytest.mark.parametrize("rows_sum_to_one", [True, False])
def test_shortcut_table_matches_numerical_oracle(out, loss, rows_sum_to_one, rng):
    """shortcut_is_exact says yes exactly when y - Y (or its se form) equals the true dL/dz."""
    net = Net((3, 4, 3), act="sigmoid", out=out, loss=loss)
    z = _smooth_point(out, rng)
    Y = np.zeros((4, 3))
    Y[np.arange(4), [0, 1, 2, 0]] = 1.0
    if not rows_sum_to_one:
        Y[:, 1] = 1.0  # rows sum to 2 where the class is not 1
    y = net.out_act.f(z, net.leaky_slope)
    fw = Forward([], [z], y, net.loss_fn.terms(y, Y, net.eps), 0.0)
    shortcut = output_delta(net, fw, Y, "shortcut")
    truth = _numerical_delta(net, z, Y)
    agrees = np.allclose(shortcut, truth, rtol=1e-5, atol=1e-6)
    assert shortcut_is_exact(out, loss, rows_sum_to_one) == agrees


@pytest.mark.parametrize("out, loss", PAIRS)
def test_range_table(out, loss):
    """range_problem names exactly the hand-written misfits of each loss."""
    assert bool(range_problem(out, loss)) == (out in RANGE_MISFITS[loss])


@pytest.mark.parametrize("out, loss", PAIRS)
def test_correct_delta_is_plain_only_for_canonical_pairs(out, loss):
    """The printed delta is plain y - Y for sigmoid+ce, identity+se and softmax+cce (when
    every target row sums to 1, else y sum(Y) - Y), never otherwise."""
    canonical = (out, loss) in (("sigmoid", "ce"), ("identity", "se"), ("softmax", "cce"))
    assert (pairing(out, loss).delta == "d3 = y - Y") == canonical
    assert pairing(out, loss, rows_sum_to_one=False).delta != "d3 = y - Y" or \
        (out, loss) != ("softmax", "cce")


@pytest.mark.parametrize("out, loss", PAIRS)
@pytest.mark.parametrize("backprop", BACKPROPS)
def test_pairing_finding_fires_exactly_when_the_shortcut_is_wrong(out, loss, backprop):
    """Every registry combination: a pairing line iff shortcut backprop on a non-canonical
    pair; an output-range line iff the range misfits."""
    r = run_cell(CellSpec(act="sigmoid", out=out, loss=loss, backprop=backprop, **SMALL))
    ids = [f.id for f in r.findings]
    wrong = backprop == "shortcut" and not shortcut_is_exact(out, loss)
    assert ("pairing" in ids) == wrong, (r.id, ids)
    assert ("output-range" in ids) == (out in RANGE_MISFITS[loss]), (r.id, ids)
    if wrong:
        assert r.status == "fail", r.id


def test_softmax_cce_with_multilabel_targets_is_not_canonical():
    """softmax + cce: the shortcut is exact only when every target row sums to 1."""
    one_hot = run_cell(CellSpec(act="relu", loss="cce", **SMALL))
    multi = run_cell(CellSpec(act="relu", loss="cce", targets="multilabel", seed=3, **SMALL))
    assert "pairing" not in [f.id for f in one_hot.findings]
    found = [f for f in multi.findings if f.id == "pairing"]
    assert found and "do not all sum to 1" in found[0].message
    assert multi.status == "fail"


def test_pairing_message_names_the_pair_and_the_true_delta():
    """The archetype's pairing line says relu + ce; its fix prints the chain-rule delta
    (once: the message points to it) and the two flags that cure it."""
    r = run_cell(CellSpec(act="relu", loss="ce"))
    f = next(f for f in r.findings if f.id == "pairing")
    assert "relu + ce" in f.message and "(z3 > 0)" not in f.message and "(z3 > 0)" in f.fix
    assert f.severity == "error" and "--out sigmoid" in f.fix and "--backprop exact" in f.fix
