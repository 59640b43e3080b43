"""Wrong hand-written gradients, one per catalogued mistake (the name after ``bug=``)."""

from nets import backprop


def shortcut_delta(W, X, Y):
    """The seed's mistake: d3 = y - Y with a relu output and binary cross-entropy."""
    return backprop(W, X, Y, "relu", "relu", "ce", bug="shortcut-delta")


def missing_output_derivative(W, X, Y):
    """Squared error through a sigmoid output, without sigmoid'(z3)."""
    return backprop(W, X, Y, "tanh", "sigmoid", "se", bug="missing-output-derivative")


def row_major(W, X, Y):
    """Right matrices, flattened with NumPy's default (row-major) ravel()."""
    return backprop(W, X, Y, "relu", "sigmoid", "ce", bug="row-major")


def dropped_bias(W, X, Y):
    """Bias gradients left at 0."""
    return backprop(W, X, Y, "relu", "sigmoid", "ce", bug="dropped-bias")


def factor_2(W, X, Y):
    """Squared error differentiated as if it had no 0.5."""
    return backprop(W, X, Y, "tanh", "identity", "se", bug="factor-2")


def mean_instead_of_sum(W, X, Y):
    """The loss sums over samples, the gradient averages."""
    return backprop(W, X, Y, "sigmoid", "sigmoid", "ce", bug="mean-instead-of-sum")


def wrong_leaky_slope(W, X, Y):
    """leaky-relu forward with slope 0.01, backward with 0.1."""
    return backprop(W, X, Y, "leaky-relu", "identity", "se", bug="wrong-leaky-slope")


def shifted_threshold(W, X, Y):
    """relu'(z) evaluated on z without the bias term."""
    return backprop(W, X, Y, "relu", "sigmoid", "ce", bug="shifted-threshold")


def softmax_elementwise(W, X, Y):
    """Softmax differentiated with its diagonal y (1 - y) only."""
    return backprop(W, X, Y, "tanh", "softmax", "cce", bug="softmax-elementwise")
