"""The reference network against the seed's own MATLAB code (ported) and a plain-loop oracle."""

import itertools

import numpy as np
import pytest
import seed_matlab

from relu_ce_diag.model.activations import HIDDEN_NAMES
from relu_ce_diag.model.losses import LOSSES
from relu_ce_diag.model.network import Net, backprop, forward, pack
from relu_ce_diag.settings.cells import CellSpec, prepare


def seed_problem(rng, n_inp=5, n_out=3, N=16):
    """Normalised inputs, one-hot targets and a W vector laid out like the seed's."""
    X = rng.standard_normal((N, n_inp))
    X = (X - X.mean(0)) / X.std(0)
    Y = np.eye(n_out)[rng.integers(n_out, size=N)]
    W = rng.standard_normal(100 * (n_inp + 1) + n_out * 101) * 0.3
    return W, X, Y


def rel(a, b):
    """Norm-wise relative difference."""
    return np.linalg.norm(np.asarray(a) - b) / max(np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("error_type, loss", [("SE", "se"), ("CE", "ce")])
def test_shortcut_reproduces_the_seed(act, error_type, loss, rng):
    """The shortcut backprop gives the seed's f and df to 1e-12 on a seed-layout W."""
    W, X, Y = seed_problem(rng)
    f0, df0 = seed_matlab.backprop(W, X, Y, act, error_type)
    net = Net((5, 100, 3), act=act, out=act, loss=loss)
    f, df = backprop(net, W, X, Y, "shortcut")
    assert abs(f - f0) <= 1e-12 * abs(f0)
    assert rel(df, df0) <= 1e-12


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_shortcut_reproduces_the_seed_softmax_edit(act, rng):
    """The seed's edit (softmax output, categorical CE) is reproduced by cce."""
    W, X, Y = seed_problem(rng)
    f0, df0 = seed_matlab.backprop(W, X, Y, act, "CE", softmax_edit=True)
    net = Net((5, 100, 3), act=act, out="softmax", loss="cce")
    f, df = backprop(net, W, X, Y, "shortcut")
    assert abs(f - f0) <= 1e-12 * abs(f0)
    assert rel(df, df0) <= 1e-12


def test_parameter_layout_is_matlab_column_major():
    """W(1:n_hid*(n_inp+1)) reshaped column-major is w1; the bias is w1's last column."""
    net = Net((2, 3, 2))
    W = np.arange(net.n_params, dtype=float)
    w1, w2 = net.unpack(W)
    assert w1.shape == (3, 3) and w2.shape == (2, 4)
    assert w1[1, 0] == 1 and w1[0, 1] == 3 and list(w1[:, 2]) == [6, 7, 8]
    assert w2[0, 0] == 9 and w2[1, 3] == 16
    np.testing.assert_array_equal(pack([w1, w2]), W)
    names = [net.entry_name(p) for p in range(net.n_params)]
    assert names[:4] == ["w1[0, 0]", "w1[1, 0]", "w1[2, 0]", "w1[0, 1]"]
    assert names[6:9] == ["b1[0]", "b1[1]", "b1[2]"] and names[-1] == "b2[1]"
    blocks = {name: (sl.start, sl.stop) for name, sl in net.blocks()}
    assert blocks == {"w1": (0, 6), "b1": (6, 9), "w2": (9, 15), "b2": (15, 17)}


def loop_gradient(net, W, X, Y, h=1e-6):
    """Central differences with a plain Python loop over every parameter (the oracle)."""
    g = np.empty_like(W)
    for p in range(W.size):
        Wp, Wm = W.copy(), W.copy()
        Wp[p] += h
        Wm[p] -= h
        g[p] = (forward(net, Wp, X, Y).f - forward(net, Wm, X, Y).f) / (2 * h)
    return g


SMOOTH = ["sigmoid", "tanh", "softplus", "identity"]
OUTPUTS = {"se": ["sigmoid", "tanh", "softplus", "identity", "softmax"],
           "ce": ["sigmoid", "softmax"], "cce": ["softmax", "sigmoid"]}


@pytest.mark.parametrize("act, loss, out", [(a, loss, o) for a in SMOOTH
                                            for loss in LOSSES for o in OUTPUTS[loss]])
def test_exact_backprop_matches_plain_loop(act, loss, out):
    """The exact chain rule equals loop central differences for smooth pairs (small nets)."""
    spec = CellSpec(act=act, out=out, loss=loss, hidden=(6,), inputs=3, outputs=3, samples=5,
                    targets="multilabel" if loss == "ce" else "onehot", seed=3)
    prep = prepare(spec)
    net, a = prep.net, prep.arrays
    _, df = backprop(net, a.W, a.X, a.Y, "exact")
    np.testing.assert_allclose(df, loop_gradient(net, a.W, a.X, a.Y), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("act", HIDDEN_NAMES)
def test_exact_backprop_deep_network(act):
    """Two hidden layers: the exact backprop equals the plain loop (kinks avoided by the seed)."""
    spec = CellSpec(act=act, out="softmax", loss="cce", hidden=(4, 3), inputs=3, outputs=2,
                    samples=4, seed=5)
    prep = prepare(spec)
    net, a = prep.net, prep.arrays
    _, df = backprop(net, a.W, a.X, a.Y, "exact")
    np.testing.assert_allclose(df, loop_gradient(net, a.W, a.X, a.Y), rtol=1e-5, atol=1e-8)


def test_shortcut_equals_exact_for_canonical_pairs():
    """y - Y is the exact delta for sigmoid+ce, softmax+cce (one-hot), identity+se."""
    for act, out, loss in [("tanh", "sigmoid", "ce"), ("relu", "softmax", "cce"),
                           ("sigmoid", "identity", "se")]:
        prep = prepare(CellSpec(act=act, out=out, loss=loss, seed=2))
        net, a = prep.net, prep.arrays
        _, short = backprop(net, a.W, a.X, a.Y, "shortcut")
        _, exact = backprop(net, a.W, a.X, a.Y, "exact")
        assert rel(short, exact) < 1e-12


@pytest.mark.parametrize("act, out, loss", list(itertools.product(["relu", "tanh"],
                                                                   ["relu", "tanh"], ["ce"])))
def test_shortcut_differs_from_exact_for_non_canonical_pairs(act, out, loss):
    """y - Y is not the gradient for a relu or tanh output with ce."""
    prep = prepare(CellSpec(act=act, out=out, loss=loss))
    net, a = prep.net, prep.arrays
    _, short = backprop(net, a.W, a.X, a.Y, "shortcut")
    _, exact = backprop(net, a.W, a.X, a.Y, "exact")
    assert rel(short, exact) > 0.1
