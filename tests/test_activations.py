"""Activation registry: each derivative against a closed form and against central differences."""

import numpy as np
import pytest

from relu_ce_diag.errors import OptionError
from relu_ce_diag.model.activations import ACTIVATIONS, HIDDEN_NAMES, get_activation

CLOSED_FORM = {
    "sigmoid": lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2,
    "tanh": lambda z: 1 / np.cosh(z) ** 2,
    "relu": lambda z: (z > 0).astype(float),
    "leaky-relu": lambda z: np.where(z > 0, 1.0, 0.01),
    "softplus": lambda z: 1 / (1 + np.exp(-z)),
    "identity": lambda z: np.ones_like(z),
}


@pytest.mark.parametrize("name", HIDDEN_NAMES)
def test_derivative_matches_closed_form(name):
    """df equals the textbook derivative away from kinks."""
    a = ACTIVATIONS[name]
    z = np.linspace(-4, 4, 81) + 0.013  # avoids the kink at exactly 0
    np.testing.assert_allclose(a.df(z, a.f(z, 0.01), 0.01, 0.0), CLOSED_FORM[name](z),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", HIDDEN_NAMES)
def test_derivative_matches_central_difference(name):
    """df agrees with (f(z+h) - f(z-h)) / 2h away from kinks."""
    a = ACTIVATIONS[name]
    z = np.linspace(-3, 3, 61) + 0.013
    h = 1e-6
    num = (a.f(z + h, 0.01) - a.f(z - h, 0.01)) / (2 * h)
    np.testing.assert_allclose(a.df(z, a.f(z, 0.01), 0.01, 0.0), num, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", HIDDEN_NAMES)
def test_range_holds(name):
    """f(z) stays inside the declared range for moderate and extreme z."""
    a = ACTIVATIONS[name]
    z = np.array([-800.0, -30, -1, 0, 1, 30, 800])
    y = a.f(z, 0.01)
    assert np.all(y >= a.low) and np.all(y <= a.high)


@pytest.mark.parametrize("at_zero, relu, leaky", [(0.0, 0.0, 0.01), (0.5, 0.5, 0.505),
                                                  (1.0, 1.0, 1.0)])
def test_derivative_convention_at_zero(at_zero, relu, leaky):
    """relu'(0) is the chosen convention; leaky-relu blends its two slopes the same way."""
    z = np.zeros(1)
    assert ACTIVATIONS["relu"].df(z, z, 0.01, at_zero)[0] == relu
    assert ACTIVATIONS["leaky-relu"].df(z, z, 0.01, at_zero)[0] == pytest.approx(leaky)


def test_softmax_rows_sum_to_one_and_survive_large_inputs():
    """softmax is a distribution per row, also for logits that overflow exp."""
    z = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    y = ACTIVATIONS["softmax"].f(z, 0.01)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    assert y[0, 0] == 1.0


def test_softmax_is_output_only():
    """softmax is refused as a hidden activation, with the allowed names."""
    with pytest.raises(OptionError, match="softmax.*one of sigmoid"):
        get_activation("softmax", hidden=True)


def test_unknown_name_suggests_the_closest():
    """A typo gets a did-you-mean."""
    with pytest.raises(OptionError, match="did you mean 'relu'"):
        get_activation("rellu")
