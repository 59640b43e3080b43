"""Functions that cannot be checked (exit 2) or whose output is broken (exit 1)."""

import numpy as np
from nets import backprop

_unseeded = np.random.default_rng()


def raises(W, X, Y):
    """Multiplies arrays of the wrong shapes: NumPy raises inside the user's code."""
    w1 = W[:10].reshape(2, 5)
    return float(np.sum(X @ w1)), W  # X has 4 columns, w1 has 2 rows: a ValueError


def wrong_shape(W, X, Y):
    """Returns only the first layer's gradient matrix."""
    f, df = backprop(W, X, Y, "relu", "sigmoid", "ce")
    return f, df[:30].reshape(6, 5)


def not_scalar(W, X, Y):
    """Returns the per-sample losses instead of their sum."""
    f, df = backprop(W, X, Y, "relu", "sigmoid", "ce")
    return np.full(X.shape[0], f / X.shape[0]), df


def only_f(W, X, Y):
    """Returns the loss alone."""
    return backprop(W, X, Y, "relu", "sigmoid", "ce")[0]


def string_grad(W, X, Y):
    """Returns the gradient as text."""
    f, df = backprop(W, X, Y, "relu", "sigmoid", "ce")
    return f, df.astype(str)


def nan_loss(W, X, Y):
    """log(0) without a clamp at W itself."""
    return float("nan"), np.zeros_like(W)


def nan_entries(W, X, Y):
    """A 0/0 in two bias gradients."""
    f, df = backprop(W, X, Y, "relu", "sigmoid", "ce")
    df = df.copy()
    df[[24, -1]] = np.nan
    return f, df


def dropout(W, X, Y):
    """Dropout on the inputs with an unseeded generator: every call differs."""
    keep = _unseeded.random(X.shape) > 0.2
    return backprop(W, X * keep / 0.8, Y, "relu", "sigmoid", "ce")
