"""Loss registry: values and exact derivatives, clamp included, against closed forms."""

import numpy as np
import pytest

from relu_ce_diag.errors import OptionError
from relu_ce_diag.model.losses import LOSSES, MATLAB_EPS, get_loss


def test_matlab_eps():
    """The default clamp is MATLAB's eps, i.e. float64 machine epsilon."""
    assert np.finfo(np.float64).eps == MATLAB_EPS


@pytest.mark.parametrize("name", list(LOSSES))
def test_dy_matches_central_difference_inside_the_domain(name, rng):
    """dL/dy agrees with central differences of the terms where no clamp is near."""
    loss = LOSSES[name]
    y = rng.uniform(0.05, 0.95, size=(7, 3))
    Y = (rng.random((7, 3)) < 0.5).astype(float)
    h = 1e-7
    num = (loss.terms(y + h, Y, MATLAB_EPS) - loss.terms(y - h, Y, MATLAB_EPS)) / (2 * h)
    np.testing.assert_allclose(loss.dy(y, Y, MATLAB_EPS), num, rtol=1e-6, atol=1e-8)


def test_ce_closed_form():
    """ce is -(Y log y + (1-Y) log(1-y)) with derivative (y - Y) / (y (1 - y))."""
    y = np.array([[0.2, 0.7]])
    Y = np.array([[1.0, 0.0]])
    ce = LOSSES["ce"]
    np.testing.assert_allclose(ce.terms(y, Y, MATLAB_EPS), [[-np.log(0.2), -np.log(0.3)]])
    np.testing.assert_allclose(ce.dy(y, Y, MATLAB_EPS), (y - Y) / (y * (1 - y)))


def test_ce_clamp_is_flat():
    """Where the clamp is active (y <= eps or 1 - y <= eps) the slope of ce is 0."""
    ce = LOSSES["ce"]
    y = np.array([[0.0, 1.0, 1.5, -0.2]])
    Y = np.array([[1.0, 0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(ce.dy(y, Y, MATLAB_EPS), 0.0)
    np.testing.assert_allclose(ce.terms(y, Y, MATLAB_EPS), -np.log(MATLAB_EPS))


def test_no_clamp_gives_inf_and_nan_without_warnings():
    """eps = 0 reproduces log(0) = -inf and 0 * -inf = NaN, quietly."""
    ce = LOSSES["ce"]
    t = ce.terms(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), 0.0)
    assert t[0, 0] == np.inf and np.isnan(t[0, 1])


def test_se_and_cce_closed_forms():
    """se is half the squared error; cce is -sum Y log y."""
    y = np.array([[0.2, 0.8]])
    Y = np.array([[0.0, 1.0]])
    np.testing.assert_allclose(LOSSES["se"].terms(y, Y, 0.0), [[0.02, 0.02]])
    np.testing.assert_allclose(LOSSES["cce"].terms(y, Y, MATLAB_EPS), [[0.0, -np.log(0.8)]])
    np.testing.assert_allclose(LOSSES["cce"].dy(y, Y, MATLAB_EPS), [[0.0, -1 / 0.8]])


def test_unknown_loss():
    """An unknown loss names the allowed ones."""
    with pytest.raises(OptionError, match="one of se, ce, cce"):
        get_loss("mse")
