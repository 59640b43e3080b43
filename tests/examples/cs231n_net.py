"""A CS231n-style two-layer net written as people write it: a dict W1 b1 W2 b2, integer labels,
the loss averaged over N plus reg * sum(W^2), grads a dict of the same keys.

``correct`` is right; every other function carries one classic mistake on one line, written
independently of relu_ce_diag (the names follow the convention of its printed fixes: h0 = X,
z1, h1, z2, out, Y one-hot, dz2, dz1, grads).
"""

import numpy as np

REG = 0.05


def _forward(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N, C = X.shape[0], W2.shape[1]
    Y = np.eye(C)[y]
    h0 = X
    z1 = h0 @ W1 + b1
    h1 = np.maximum(0, z1)
    z2 = h1 @ W2 + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    out = e / e.sum(axis=1, keepdims=True)
    loss = -np.sum(Y * np.log(out)) / N + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    return W1, W2, N, Y, h0, z1, h1, out, loss


def correct(params, X, y, reg=REG):
    """Softmax + cross-entropy, mean over N, L2 on the weights."""
    W1, W2, N, Y, h0, z1, h1, out, loss = _forward(params, X, y, reg)
    grads = {}
    dz2 = (out - Y) / N
    grads["W2"] = h1.T @ dz2 + 2 * reg * W2
    grads["b2"] = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    grads["W1"] = h0.T @ dz1 + 2 * reg * W1
    grads["b1"] = dz1.sum(axis=0)
    return loss, grads


def missing_mask(params, X, y, reg=REG):
    """The hidden delta without relu's derivative."""
    W1, W2, N, Y, h0, z1, h1, out, loss = _forward(params, X, y, reg)
    grads = {}
    dz2 = (out - Y) / N
    grads["W2"] = h1.T @ dz2 + 2 * reg * W2
    grads["b2"] = dz2.sum(axis=0)
    dz1 = dz2 @ W2.T
    grads["W1"] = h0.T @ dz1 + 2 * reg * W1
    grads["b1"] = dz1.sum(axis=0)
    return loss, grads


def no_minus_one(params, X, y, reg=REG):
    """The softmax delta without the -1 at the true class."""
    W1, W2, N, Y, h0, z1, h1, out, loss = _forward(params, X, y, reg)
    grads = {}
    dz2 = out / N
    grads["W2"] = h1.T @ dz2 + 2 * reg * W2
    grads["b2"] = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    grads["W1"] = h0.T @ dz1 + 2 * reg * W1
    grads["b1"] = dz1.sum(axis=0)
    return loss, grads


def l2_half(params, X, y, reg=REG):
    """The L2 gradient of W1 written reg * W1 (the penalty is reg * sum(W^2))."""
    W1, W2, N, Y, h0, z1, h1, out, loss = _forward(params, X, y, reg)
    grads = {}
    dz2 = (out - Y) / N
    grads["W2"] = h1.T @ dz2 + 2 * reg * W2
    grads["b2"] = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    grads["W1"] = h0.T @ dz1 + reg * W1
    grads["b1"] = dz1.sum(axis=0)
    return loss, grads


def l2_missing(params, X, y, reg=REG):
    """No L2 term in either weight gradient."""
    W1, W2, N, Y, h0, z1, h1, out, loss = _forward(params, X, y, reg)
    grads = {}
    dz2 = (out - Y) / N
    grads["W2"] = h1.T @ dz2
    grads["b2"] = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    grads["W1"] = h0.T @ dz1
    grads["b1"] = dz1.sum(axis=0)
    return loss, grads


def hidden_sign(params, X, y, reg=REG):
    """The hidden delta with the wrong sign."""
    W1, W2, N, Y, h0, z1, h1, out, loss = _forward(params, X, y, reg)
    grads = {}
    dz2 = (out - Y) / N
    grads["W2"] = h1.T @ dz2 + 2 * reg * W2
    grads["b2"] = dz2.sum(axis=0)
    dz1 = -(dz2 @ W2.T) * (z1 > 0)
    grads["W1"] = h0.T @ dz1 + 2 * reg * W1
    grads["b1"] = dz1.sum(axis=0)
    return loss, grads


def sum_not_mean(params, X, y, reg=REG):
    """The output delta not divided by N, though the loss is a mean."""
    W1, W2, N, Y, h0, z1, h1, out, loss = _forward(params, X, y, reg)
    grads = {}
    dz2 = out - Y
    grads["W2"] = h1.T @ dz2 + 2 * reg * W2
    grads["b2"] = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    grads["W1"] = h0.T @ dz1 + 2 * reg * W1
    grads["b1"] = dz1.sum(axis=0)
    return loss, grads


def layer1_over_n(params, X, y, reg=REG):
    """Layer 1's data gradient divided by N once more."""
    W1, W2, N, Y, h0, z1, h1, out, loss = _forward(params, X, y, reg)
    grads = {}
    dz2 = (out - Y) / N
    grads["W2"] = h1.T @ dz2 + 2 * reg * W2
    grads["b2"] = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (z1 > 0) / N
    grads["W1"] = h0.T @ dz1 + 2 * reg * W1
    grads["b1"] = dz1.sum(axis=0)
    return loss, grads


def bias_over_n(params, X, y, reg=REG):
    """b1's gradient divided by N once more."""
    W1, W2, N, Y, h0, z1, h1, out, loss = _forward(params, X, y, reg)
    grads = {}
    dz2 = (out - Y) / N
    grads["W2"] = h1.T @ dz2 + 2 * reg * W2
    grads["b2"] = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    grads["W1"] = h0.T @ dz1 + 2 * reg * W1
    grads["b1"] = dz1.sum(axis=0) / N
    return loss, grads


def transposed(params, X, y, reg=REG):
    """W2's gradient multiplied in the wrong order (square W2: the shape still fits)."""
    W1, W2, N, Y, h0, z1, h1, out, loss = _forward(params, X, y, reg)
    grads = {}
    dz2 = (out - Y) / N
    grads["W2"] = (h1.T @ dz2).T + 2 * reg * W2
    grads["b2"] = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    grads["W1"] = h0.T @ dz1 + 2 * reg * W1
    grads["b1"] = dz1.sum(axis=0)
    return loss, grads


def bias_row(params, X, y, reg=REG):
    """b1's gradient kept as a (1, H) row: the shape does not fit b1 (H,)."""
    loss, grads = correct(params, X, y, reg)
    grads["b1"] = grads["b1"][None, :]
    return loss, grads


def dgrads(params, X, y, reg=REG):
    """The same as correct, grads spelled dW1 db1 dW2 db2 and returned with a cache."""
    loss, grads = correct(params, X, y, reg)
    return loss, {"d" + k: v for k, v in grads.items()}, {"cache": None}


def case(seed=0, N=8, D=5, H=6, C=6, dead_unit=False):
    """Return params, X, y of a small problem (H = C: W2 is square); ``dead_unit`` puts
    hidden unit 0 exactly at 0 for sample 0 (a relu kink)."""
    rng = np.random.default_rng(seed)
    params = {"W1": rng.standard_normal((D, H)) * 0.5, "b1": rng.standard_normal(H) * 0.1,
              "W2": rng.standard_normal((H, C)) * 0.5, "b2": rng.standard_normal(C) * 0.1}
    X = rng.standard_normal((N, D))
    y = rng.integers(C, size=N)
    if dead_unit:
        X[0] = 0.0
        params["b1"][0] = 0.0
    return params, X, y
