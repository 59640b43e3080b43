"""The seed's MATLAB backprop, ported line by line: an independent oracle for the network.

MATLAB semantics kept on purpose: reshape is column-major, ``eps`` is MATLAB's eps, the
hidden width is the seed's hard-coded 100, and the softmax of the seed's edit has no max
subtraction. Nothing here imports relu_ce_diag.
"""

import numpy as np

MATLAB_EPS = 2.220446049250313e-16


def act(z, type_):
    """Seed's act(z, type)."""
    if type_ == "sigmoid":
        return 1.0 / (1 + np.exp(-z))
    if type_ == "tanh":
        return np.tanh(z)
    if type_ == "relu":
        return np.maximum(0, z)
    raise ValueError(type_)


def dact(z, type_):
    """Seed's dact(z, type)."""
    if type_ == "sigmoid":
        return act(z, type_) * (1 - act(z, type_))
    if type_ == "tanh":
        return 1 - act(z, type_) ** 2
    if type_ == "relu":
        return (z > 0).astype(float)
    raise ValueError(type_)


def backprop(W, X, Y, act_type="relu", error_type="CE", softmax_edit=False):
    """[f, df] = backprop(W, X, Y) of the seed; ``softmax_edit`` applies the question's edit."""
    N = X.shape[0]
    n_inp = X.shape[1]
    n_hid = 100
    n_out = Y.shape[1]
    w1 = np.reshape(W[0:n_hid * (n_inp + 1)], (n_hid, n_inp + 1), order="F")
    w2 = np.reshape(W[n_hid * (n_inp + 1):], (n_out, n_hid + 1), order="F")

    # feedforward
    X = np.hstack([X, np.ones((N, 1))])
    z2 = X @ w1.T
    a2 = act(z2, act_type)
    a2 = np.hstack([a2, np.ones((N, 1))])
    z3 = a2 @ w2.T
    if softmax_edit:
        y = np.exp(z3) / np.sum(np.exp(z3), axis=1, keepdims=True)
    else:
        y = act(z3, act_type)

    if softmax_edit:
        f = -np.sum(np.sum(Y * np.log(y)))
    elif error_type == "CE":
        f = -np.sum(np.sum(Y * np.log(np.maximum(y, MATLAB_EPS))
                           + (1 - Y) * np.log(np.maximum(1 - y, MATLAB_EPS))))
    else:
        f = 0.5 * np.sum(np.sum((y - Y) ** 2))

    # backprop
    if error_type == "CE":
        d3 = y - Y
    else:
        d3 = (y - Y) * dact(z3, act_type)

    df2 = d3.T @ a2
    d2 = (d3 @ w2[:, 0:-1]) * dact(z2, act_type)
    df1 = d2.T @ X

    df = np.concatenate([df1.ravel(order="F"), df2.ravel(order="F")])
    return f, df
