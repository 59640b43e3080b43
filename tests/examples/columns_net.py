"""A course-style three-layer net with samples as columns: W1 (n1, n0), b1 (n1, 1), X (n0, m),
Y (1, m), relu hidden layers, a sigmoid output, binary cross-entropy averaged over m plus
lambd / (2m) * sum(W^2); gradients returned as dW1 db1 ....

``correct`` is right; every other function carries one classic mistake on one line (the names
follow the convention of relu-diag's printed fixes: A0 = X, Z1, A1, ..., dZ3, dW3, db3).
"""

import numpy as np

LAMBD = 0.1


def _forward(params, X, Y, lambd):
    W1, b1, W2, b2, W3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    m = X.shape[1]
    A0 = X
    Z1 = W1 @ A0 + b1
    A1 = np.maximum(0, Z1)
    Z2 = W2 @ A1 + b2
    A2 = np.maximum(0, Z2)
    Z3 = W3 @ A2 + b3
    A3 = 1 / (1 + np.exp(-Z3))
    cost = -np.sum(Y * np.log(A3) + (1 - Y) * np.log(1 - A3)) / m
    cost += lambd / (2 * m) * (np.sum(W1 ** 2) + np.sum(W2 ** 2) + np.sum(W3 ** 2))
    return W1, W2, W3, m, A0, Z1, A1, Z2, A2, A3, cost


def _grads(dZ3, dZ2, dZ1, W1, W2, W3, m, A0, A1, A2, lambd):
    dW3 = dZ3 @ A2.T / m + lambd / m * W3
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m
    dW2 = dZ2 @ A1.T / m + lambd / m * W2
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dW1 = dZ1 @ A0.T / m + lambd / m * W1
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}


def correct(params, X, Y, lambd=LAMBD):
    """The course's backprop, regularised."""
    W1, W2, W3, m, A0, Z1, A1, Z2, A2, A3, cost = _forward(params, X, Y, lambd)
    dZ3 = A3 - Y
    dZ2 = (W3.T @ dZ3) * (Z2 > 0)
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    return cost, _grads(dZ3, dZ2, dZ1, W1, W2, W3, m, A0, A1, A2, lambd)


def missing_mask(params, X, Y, lambd=LAMBD):
    """dZ1 without relu's derivative."""
    W1, W2, W3, m, A0, Z1, A1, Z2, A2, A3, cost = _forward(params, X, Y, lambd)
    dZ3 = A3 - Y
    dZ2 = (W3.T @ dZ3) * (Z2 > 0)
    dZ1 = W2.T @ dZ2
    return cost, _grads(dZ3, dZ2, dZ1, W1, W2, W3, m, A0, A1, A2, lambd)


def sigmoid_derivative(params, X, Y, lambd=LAMBD):
    """The output delta multiplied by sigmoid' again (the chain rule applied twice)."""
    W1, W2, W3, m, A0, Z1, A1, Z2, A2, A3, cost = _forward(params, X, Y, lambd)
    dZ3 = (A3 - Y) * A3 * (1 - A3)
    dZ2 = (W3.T @ dZ3) * (Z2 > 0)
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    return cost, _grads(dZ3, dZ2, dZ1, W1, W2, W3, m, A0, A1, A2, lambd)


def no_regularisation(params, X, Y, lambd=LAMBD):
    """The gradients without their L2 term, written out."""
    W1, W2, W3, m, A0, Z1, A1, Z2, A2, A3, cost = _forward(params, X, Y, lambd)
    dZ3 = A3 - Y
    dW3 = dZ3 @ A2.T / m
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m
    dZ2 = (W3.T @ dZ3) * (Z2 > 0)
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    dW1 = dZ1 @ A0.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return cost, {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}


def case(seed=0, m=10, sizes=(4, 5, 3, 1)):
    """Return params, X (n0, m), Y (1, m) of a small problem."""
    rng = np.random.default_rng(seed)
    params = {}
    for k in range(1, len(sizes)):
        params[f"W{k}"] = rng.standard_normal((sizes[k], sizes[k - 1])) * 0.7
        params[f"b{k}"] = rng.standard_normal((sizes[k], 1)) * 0.1
    X = rng.standard_normal((sizes[0], m))
    Y = (rng.random((sizes[-1], m)) < 0.5).astype(float)
    return params, X, Y
