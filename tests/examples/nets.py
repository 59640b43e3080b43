"""A user's own two-layer network in plain NumPy, with switches for the classic mistakes.

Written the way people write it (seed layout: bias as the last column, W = [w1(:); w2(:)]
column-major), independently of relu_ce_diag, so the checker's verdicts on it are tested
against code it did not produce.
"""

import numpy as np

EPS = 2.220446049250313e-16


def act(z, kind, slope=0.01):
    """Forward activation."""
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if kind == "tanh":
        return np.tanh(z)
    if kind == "relu":
        return np.maximum(0.0, z)
    if kind == "leaky-relu":
        return np.where(z > 0, z, slope * z)
    if kind == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return z.copy()


def dact(z, kind, slope=0.01):
    """Elementwise derivative (relu'(0) = 0; softmax: the diagonal y (1 - y))."""
    if kind in ("sigmoid", "softmax"):
        y = act(z, kind)
        return y * (1 - y)
    if kind == "tanh":
        return 1 - np.tanh(z) ** 2
    if kind == "relu":
        return (z > 0).astype(float)
    if kind == "leaky-relu":
        return np.where(z > 0, 1.0, slope)
    return np.ones_like(z)


def loss_and_dy(y, Y, loss):
    """Loss value and dL/dy of the loss as computed (clamped where max(., eps) is active)."""
    if loss == "se":
        return 0.5 * np.sum((y - Y) ** 2), y - Y
    live = y > EPS
    dy = -np.where(live, Y, 0) / np.where(live, y, 1)
    f = -np.sum(Y * np.log(np.maximum(y, EPS)))
    if loss == "ce":
        live1 = (1 - y) > EPS
        dy = dy + np.where(live1, 1 - Y, 0) / np.where(live1, 1 - y, 1)
        f = f - np.sum((1 - Y) * np.log(np.maximum(1 - y, EPS)))
    return f, dy


def backprop(W, X, Y, act_type="relu", out_type="sigmoid", loss="ce", bug=None, slope=0.01):
    """Return (f, df) of the network; ``bug`` names one classic mistake (None: correct)."""
    N, n_inp = X.shape
    n_out = Y.shape[1]
    n_hid = (W.size - n_out) // (n_inp + 1 + n_out)
    w1 = W[:n_hid * (n_inp + 1)].reshape(n_hid, n_inp + 1, order="F")
    w2 = W[n_hid * (n_inp + 1):].reshape(n_out, n_hid + 1, order="F")
    Xb = np.hstack([X, np.ones((N, 1))])
    z2 = Xb @ w1.T
    a2 = np.hstack([act(z2, act_type, slope), np.ones((N, 1))])
    z3 = a2 @ w2.T
    y = act(z3, out_type, slope)
    f, dy = loss_and_dy(y, Y, loss)

    if bug == "shortcut-delta":
        d3 = y - Y
    elif bug == "missing-output-derivative":
        d3 = dy
    elif out_type == "softmax" and bug != "softmax-elementwise":
        d3 = y * (dy - np.sum(dy * y, axis=1, keepdims=True))
    else:
        d3 = dy * dact(z3, out_type, 0.1 if bug == "wrong-leaky-slope" else slope)
    if bug == "shifted-threshold":  # relu' of z computed without the bias column
        d_hidden = dact(X @ w1[:, :-1].T, act_type, slope)
    else:
        d_hidden = dact(z2, act_type, 0.1 if bug == "wrong-leaky-slope" else slope)
    df2 = d3.T @ a2
    d2 = (d3 @ w2[:, :-1]) * d_hidden
    df1 = d2.T @ Xb
    if bug == "dropped-bias":
        df1[:, -1] = 0
        df2[:, -1] = 0
    order = "C" if bug == "row-major" else "F"
    df = np.concatenate([df1.ravel(order=order), df2.ravel(order=order)])
    if bug == "factor-2":
        df = 2 * df
    if bug == "mean-instead-of-sum":
        df = df / N
    return f, df


def case(seed, n_inp=4, n_hid=6, n_out=3, N=10, onehot=True, scale=1.0):
    """Return seeded arrays W (P,), X (N, n_inp), Y (N, n_out) for the examples."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, n_inp))
    if onehot:
        Y = np.zeros((N, n_out))
        Y[np.arange(N), rng.integers(n_out, size=N)] = 1.0
    else:
        Y = (rng.random((N, n_out)) < 0.5).astype(float)
    w1 = scale * rng.standard_normal((n_hid, n_inp + 1)) / np.sqrt(n_inp + 1)
    w2 = scale * rng.standard_normal((n_out, n_hid + 1)) / np.sqrt(n_hid + 1)
    return np.concatenate([w1.ravel(order="F"), w2.ravel(order="F")]), X, Y


def kinked_case(seed=3, n_inp=4, n_hid=6, n_out=3, N=10):
    """Return (W, X, Y) where hidden unit 2 sits exactly on its kink (z = 0) for sample 0
    only: dyadic inputs and weights make z2[0, 2] exactly 0 in floating point."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-4, 5, size=(N, n_inp)) / 4.0
    X[0] = [1.0, -0.5, 0.75, 0.25][:n_inp]
    Y = np.zeros((N, n_out))
    Y[np.arange(N), rng.integers(n_out, size=N)] = 1.0
    w1 = rng.integers(-8, 9, size=(n_hid, n_inp + 1)) / 8.0
    w1[2, :-1] = [0.5, 0.25, -0.75, 1.0][:n_inp]
    w1[2, -1] = -(X[0] @ w1[2, :-1])
    z = X @ w1[2, :-1] + w1[2, -1]
    assert z[0] == 0.0 and np.count_nonzero(z == 0) == 1, z
    w2 = rng.standard_normal((n_out, n_hid + 1)) / np.sqrt(n_hid + 1)
    return np.concatenate([w1.ravel(order="F"), w2.ravel(order="F")]), X, Y
