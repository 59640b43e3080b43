"""Jets of the smooth activations against the functions themselves, and the bounds they rely on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from relu_ce_diag.model import jets
from relu_ce_diag.model.activations import ACTIVATIONS
from relu_ce_diag.numeric.fast import taylor

SMOOTH = {name: a.analytic for name, a in ACTIVATIONS.items() if a.analytic is not None}

RNG = np.random.default_rng(7)


def _complex(name: str, z: np.ndarray) -> np.ndarray:
    """Evaluate an activation at complex points (principal branches; moderate |z|)."""
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return np.log1p(np.exp(z))


def _unit_jet(name: str, z: np.ndarray, M: int) -> np.ndarray:
    """Return the jet (M + 1, ...) of f(z + t)."""
    p = np.zeros((M + 1,) + z.shape)
    p[0], p[1] = z, 1.0
    return SMOOTH[name].jet(p)


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_the_lipschitz_bound_holds_on_the_cap_disc(name):
    """|f(z + v) - f(z)| <= lipschitz |v| for complex |v| <= cap, over a grid of real z: the
    constant every truncation bound of the smooth route rests on."""
    sm = SMOOTH[name]
    z = np.linspace(-12.0, 12.0, 481)[:, None, None]
    radius = np.linspace(0.0, sm.cap, 21)[None, :, None]
    angle = np.exp(1j * np.linspace(0.0, 2 * np.pi, 97))[None, None, :]
    v = radius * angle
    moved = np.abs(_complex(name, z + v) - _complex(name, z + 0j))
    assert (moved <= sm.lipschitz * np.abs(v) * (1 + 1e-12) + 1e-15).all()


@pytest.mark.parametrize("name", sorted(SMOOTH))
@pytest.mark.parametrize("M", [1, 2, 4, 7, 10])
def test_jets_are_taylor_polynomials_within_their_bound(name, M):
    """On a complex circle |t| = q cap the order-M jet is off f(z + t) - f(z) by at most
    lipschitz cap q^(M+1) / (1 - q) (Cauchy); at low orders by a fair part of that for some z
    (the bound is not vacuous; at high orders it is loose by about (cap / pi)^M, the
    singularities lying farther than the cap)."""
    sm = SMOOTH[name]
    z = RNG.uniform(-5.0, 5.0, 40)
    c = _unit_jet(name, z, M)
    for q in (0.05, 0.2, 0.5):
        t = q * sm.cap * np.exp(1j * np.linspace(0.0, 2 * np.pi, 33))[:, None]
        poly = sum(c[m] * t ** m for m in range(1, M + 1))
        err = np.abs(poly - (_complex(name, z + t) - _complex(name, z + 0j)))
        bound = sm.lipschitz * sm.cap * q ** (M + 1) / (1 - q)
        assert (err <= bound + 1e-14).all()
        assert M > 2 or err.max() > bound * 1e-3


@pytest.mark.parametrize("jet", [jets.tanh_jet, jets.sigmoid_jet, jets.softplus_jet,
                                 taylor.exp_shift_jet])
def test_a_jet_of_a_jet_is_the_composition(jet):
    """The jet of f(p(t)) for a full input jet p equals f's jet at p(0) composed with
    p - p(0): the recurrence and ``compose`` agree."""
    M = 6
    p = RNG.standard_normal((M + 1, 5, 3))
    direct = jet(p)
    base = np.zeros_like(p)
    base[0], base[1] = p[0], 1.0
    inner = p.copy()
    inner[0] = 0.0
    np.testing.assert_allclose(taylor.compose(jet(base), inner), direct, rtol=1e-12,
                               atol=1e-12)


def test_log1p_of_exp_is_the_identity():
    """log1p(exp(p - p0) - 1) = p - p0, order by order."""
    M = 8
    p = RNG.standard_normal((M + 1, 4)) * 0.5
    s = taylor.exp_shift_jet(p)
    s[0] = 0.0
    want = p.copy()
    want[0] = 0.0
    np.testing.assert_allclose(taylor.log1p_jet(s), want, rtol=1e-12, atol=1e-12)


def test_horner_sums_the_orders_above_zero():
    """``horner`` is sum_(m >= 1) c_m t^m (the constant term is left out)."""
    c = RNG.standard_normal((5, 3))
    t = RNG.standard_normal(3)
    want = sum(c[m] * t ** m for m in range(1, 5))
    np.testing.assert_allclose(taylor.horner(c, t), want, rtol=1e-13)


@pytest.mark.parametrize("eps", [2.220446049250313e-16, 1.1920929e-07])
def test_order_is_the_smallest_that_meets_the_truncation(eps):
    """``order`` picks the smallest M with q^M / (1 - q) <= TRUNCATION eps, none past
    MAX_ORDER, and ``q_limit`` is served."""
    goal = taylor.TRUNCATION * eps
    for q in (0.0, 1e-9, 1e-5, 1e-3, 0.01):
        M = taylor.order(q, eps)
        assert M is not None and q ** M / (1 - q) <= goal
        assert M == 1 or q ** (M - 1) / (1 - q) > goal
    assert taylor.order(0.5, eps) is None and taylor.order(1.0, eps) is None
    limit = taylor.q_limit(eps)
    assert taylor.order(limit, eps) is not None and taylor.order(limit * 1.02, eps) is None


def test_the_caps_keep_the_heads_analytic():
    """With complex output moves up to HEAD_CAP, s = sum y expm1(dz) stays inside log1p's disc
    and softplus inside its strip (the constants of the smooth route's head bounds)."""
    s_max = math.expm1(taylor.HEAD_CAP)  # |s| <= sum_k y_k expm1(|dz_k|), sum_k y_k = 1
    assert s_max < 1.0
    K = (s_max / taylor.HEAD_CAP) / (1 - s_max)  # |log1p(s)| <= |s| / (1 - |s|)
    assert K <= 3.7
    assert 2 * K * taylor.TRUNCATION <= 1 / 16  # both sides: eps / 16 of the move
    assert math.pi / 2 > taylor.HEAD_CAP  # softplus: |sigmoid| <= 1 on the strip


def test_the_smooth_hidden_activations_are_exactly_those_with_taylor_facts() -> None:
    """The smooth route is chosen by the record, not by a name: tanh, sigmoid and softplus carry
    their jets; relu, leaky-relu, identity and softmax carry none."""
    assert sorted(SMOOTH) == ["sigmoid", "softplus", "tanh"]
