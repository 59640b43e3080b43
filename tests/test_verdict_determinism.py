"""Determinism of a user's function: a gradient summed in set order is not refused for its
last bits; one that really varies (dropout without a seed, a clock) is, with advice that
matches what varied."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag import check_function
from relu_ce_diag.check.calling import Call
from relu_ce_diag.check.probe import require_deterministic
from relu_ce_diag.cli import main
from relu_ce_diag.errors import UserFunctionError


class Value:
    """A scalar and its gradient, children kept in a set as micrograd keeps them: the order
    in which gradients accumulate follows the set's order, which changes between calls."""

    def __init__(self, data, children=()):
        self.data, self.grad = data, 0.0
        self._prev = set(children)
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))

        def backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))

        def backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,))

        def backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = backward
        return out

    def backward(self):
        topo, seen = [], set()

        def build(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)
        build(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


HIDDEN = 3


def scalar_mlp(W, X, Y):
    """A 2-3-1 tanh MLP with squared error, forward and backward on scalars (set order)."""
    n_in = X.shape[1]
    w = [Value(float(x)) for x in W]
    rows = [w[u * (n_in + 1):(u + 1) * (n_in + 1)] for u in range(HIDDEN)]
    out_w = w[HIDDEN * (n_in + 1):]
    loss = Value(0.0)
    for x, y in zip(X, Y, strict=True):
        h = [sum((wi * float(xi) for wi, xi in zip(r[:-1], x, strict=True)), r[-1]).tanh()
             for r in rows]
        d = sum((wi * hi for wi, hi in zip(out_w[:-1], h, strict=True)), out_w[-1]) \
            + (-float(y[0]))
        loss = loss + d * d
    loss.backward()
    return loss.data, np.array([v.grad for v in w])


@pytest.fixture(scope="module")
def point():
    """W, X, Y with the output bias set so the residuals sum to 0: its gradient is a sum that
    cancels to ~0, whose last bits follow the summation order."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((4, 2)), rng.standard_normal((4, 1))
    W = rng.standard_normal(HIDDEN * 3 + HIDDEN + 1) * 0.7
    for _ in range(4):  # Newton on the bias: d loss / d b = 2 sum(residuals), d2 = 2 N
        W[-1] -= scalar_mlp(W, X, Y)[1][-1] / (2 * len(X))
    return W, X, Y


def test_set_order_changes_df_in_its_last_bits(point) -> None:
    """The adversary is real: over 50 pairs of calls f is identical, df differs by at most a
    few ulps of max |df|, and a per-entry rtol=1e-13 test would refuse some pairs."""
    W, X, Y = point
    f0, g0 = scalar_mlp(W, X, Y)
    eps, refused, varied = float(np.finfo(float).eps), 0, 0
    for _ in range(50):
        f, g = scalar_mlp(W, X, Y)
        assert f == f0
        assert np.abs(g - g0).max() <= 4 * eps * np.abs(g0).max()
        varied += not np.array_equal(g, g0)
        refused += not np.allclose(g, g0, rtol=1e-13, atol=0)
    assert varied > 0 and refused > 0


def test_set_order_function_passes_50_runs_in_a_row(point) -> None:
    """The correct set-order function passes 50 checks in a row (none refused)."""
    W, X, Y = point
    for _ in range(50):
        r = check_function(scalar_mlp, W, X, Y)
        assert r.status == "pass", r.reason


def _call(f: float, df) -> Call:
    df = np.asarray(df, dtype=np.float64)
    return Call(f, df, np.dtype(np.float64), df.dtype)


def test_rounding_sized_variation_beyond_ulps_gets_order_advice() -> None:
    """f differing by 1e-12 relative (beyond a few ulps, far below any real noise) is refused
    with the advice to sum in a fixed order, not to seed a generator."""
    with pytest.raises(UserFunctionError, match="fixed order") as exc:
        require_deterministic(_call(10.0, [1.0, 2.0]), _call(10.0 + 1e-11, [1.0, 2.0]), "fn")
    assert "seed" not in str(exc.value)


def test_varying_df_alone_is_named() -> None:
    """The same f with a df that differs by 1e-3 of its scale: refused, naming df."""
    with pytest.raises(UserFunctionError, match="f is the same but df varies"):
        require_deterministic(_call(3.0, [1.0, 2.0]), _call(3.0, [1.0, 2.002]), "fn")


def test_ulps_of_the_gradient_scale_are_agreement() -> None:
    """df entries near 0 that differ by 2 ulps of max |df| agree (per-entry relative would
    call them 100% apart)."""
    eps = float(np.finfo(float).eps)
    require_deterministic(_call(3.0, [5.0, 1e-15]), _call(3.0, [5.0, 1e-15 + 10 * eps]), "fn")


def test_clock_dependent_function_is_refused_with_seed_advice() -> None:
    """A loss that adds a clock reading varies in f: refused, advice about noise/clocks."""
    W = np.array([0.3, -0.2])

    def fn(W, X, Y):
        return float((W * W).sum() + 1e-3 * (time.perf_counter_ns() % 997)), 2 * W

    with pytest.raises(UserFunctionError, match="f itself varies.*clock"):
        check_function(fn, W, np.ones((1, 1)), np.ones((1, 1)))


DROPOUT = '''
import numpy as np
_rng = np.random.default_rng()


def dropout(W, X, Y):
    """A linear model with unseeded dropout on its inputs."""
    keep = (_rng.random(X.shape) > 0.2) / 0.8
    r = (X * keep) @ W - Y[:, 0]
    return float(r @ r), 2 * (X * keep).T @ r
'''


def test_dropout_without_a_seed_is_refused_exit_2(tmp_path: Path) -> None:
    """`check --fn` on unseeded dropout: exit 2, one line saying to seed the generator."""
    (tmp_path / "drop.py").write_text(DROPOUT)
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "case.npz", W=rng.standard_normal(3), X=rng.standard_normal((8, 3)),
             Y=rng.standard_normal((8, 1)))
    r = CliRunner().invoke(main, ["check", "--fn", f"{tmp_path / 'drop.py'}:dropout",
                                  "--data", str(tmp_path / "case.npz")])
    assert r.exit_code == 2, r.output
    assert "not deterministic" in r.output and "seed its random generator" in r.output
    assert "Traceback" not in r.output
