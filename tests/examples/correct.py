"""Correct hand-written gradients: relu-diag must pass every one (the kinked one as kink)."""

import numpy as np
from nets import backprop  # a sibling module: the file's own folder is importable


def relu_sigmoid_ce(W, X, Y):
    """relu hidden, sigmoid output, binary cross-entropy (a canonical pair)."""
    return backprop(W, X, Y, "relu", "sigmoid", "ce")


def tanh_softmax_cce(W, X, Y):
    """tanh hidden, softmax output, categorical cross-entropy with the full Jacobian."""
    return backprop(W, X, Y, "tanh", "softmax", "cce")


def sigmoid_tanh_se(W, X, Y):
    """sigmoid hidden, tanh output, squared error."""
    return backprop(W, X, Y, "sigmoid", "tanh", "se")


def leaky_identity_se(W, X, Y):
    """leaky-relu hidden, identity output, squared error."""
    return backprop(W, X, Y, "leaky-relu", "identity", "se")


def relu_relu_ce_exact(W, X, Y):
    """The seed's relu output with ce, but with the true output delta (clamp included)."""
    return backprop(W, X, Y, "relu", "relu", "ce")


def float32_net(W, X, Y):
    """relu/sigmoid/ce computed entirely in float32, returning float32 values."""
    f, df = backprop(W.astype(np.float32), X.astype(np.float32), Y.astype(np.float32),
                     "relu", "sigmoid", "ce")
    return np.float32(f), df.astype(np.float32)


def float32_hidden(W, X, Y):
    """Computed in float32 but returned as float64 after a division: only the steps of the
    loss (~1e-7 relative) reveal the precision."""
    f, df = float32_net(W, X, Y)
    return float(f) / 3.0, df.astype(np.float64) / 3.0


def mutates_inputs(W, X, Y):
    """Correct, but scribbles over its arguments afterwards (as in-place code does)."""
    out = backprop(W, X, Y, "relu", "sigmoid", "ce")
    W *= 2.0
    X[:] = 0.0
    Y[:] = 1.0
    return out
