"""The seed's MATLAB ``[f, df] = backprop(W, X, Y)``, ported to NumPy line by line.

A relu network (100 hidden units) with the logistic cross-entropy and the shortcut output
delta ``d3 = y - Y``, exactly as in the question. Check it with::

    relu-diag check --fn examples/seed_backprop.py:backprop --data examples/seed_case.npz
    relu-diag check --fn examples/seed_backprop.py:backprop --data examples/seed_case.npz \\
        --act relu --loss ce

``backprop_fixed`` is the same function with the output delta the chain rule gives.
"""

import numpy as np

ACT_TYPE = "relu"  # possible values: sigmoid / tanh / relu
ERROR_TYPE = "CE"  # possible values: SE / CE
EPS = np.finfo(float).eps  # MATLAB's eps


def act(z, kind):
    """Activation function."""
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if kind == "tanh":
        return np.tanh(z)
    return np.maximum(0, z)


def dact(z, kind):
    """Derivative of the activation function (relu'(0) = 0, as the seed's z > 0)."""
    if kind == "sigmoid":
        return act(z, kind) * (1 - act(z, kind))
    if kind == "tanh":
        return 1 - act(z, kind) ** 2
    return (z > 0).astype(float)


def _forward(W, X, Y):
    N, n_inp = X.shape
    n_hid, n_out = 100, Y.shape[1]
    w1 = W[:n_hid * (n_inp + 1)].reshape(n_hid, n_inp + 1, order="F")
    w2 = W[n_hid * (n_inp + 1):].reshape(n_out, n_hid + 1, order="F")
    X = np.hstack([X, np.ones((N, 1))])
    z2 = X @ w1.T
    a2 = np.hstack([act(z2, ACT_TYPE), np.ones((N, 1))])
    z3 = a2 @ w2.T
    y = act(z3, ACT_TYPE)
    if ERROR_TYPE == "CE":  # cross entropy error - logistic cost function
        f = -np.sum(Y * np.log(np.maximum(y, EPS)) + (1 - Y) * np.log(np.maximum(1 - y, EPS)))
    else:  # squared error
        f = 0.5 * np.sum((y - Y) ** 2)
    return f, X, w2, z2, a2, z3, y


def _backward(X, w2, z2, a2, d3):
    df2 = d3.T @ a2
    d2 = (d3 @ w2[:, :-1]) * dact(z2, ACT_TYPE)
    df1 = d2.T @ X
    return np.concatenate([df1.ravel(order="F"), df2.ravel(order="F")])


def backprop(W, X, Y):
    """The seed's function: f and df = [df1(:); df2(:)], with the shortcut d3 = y - Y."""
    f, Xb, w2, z2, a2, z3, y = _forward(W, X, Y)
    d3 = y - Y if ERROR_TYPE == "CE" else (y - Y) * dact(z3, ACT_TYPE)
    return f, _backward(Xb, w2, z2, a2, d3)


def backprop_fixed(W, X, Y):
    """The same network with the true output delta dL/dz3 = dL/dy .* act'(z3), where the
    clamp max(., eps) makes the loss flat (its slope is 0 there)."""
    f, Xb, w2, z2, a2, z3, y = _forward(W, X, Y)
    live_y, live_1y = y > EPS, (1 - y) > EPS
    dy = (-np.where(live_y, Y, 0) / np.where(live_y, y, 1)
          + np.where(live_1y, 1 - Y, 0) / np.where(live_1y, 1 - y, 1))
    return f, _backward(Xb, w2, z2, a2, dy * dact(z3, ACT_TYPE))
