"""The localisation finding, tested on the patterns the docs promise: constant factors, clips,
ranges of an unnamed W, a wrong hidden layer under a right output layer, weights-only terms."""

from __future__ import annotations

import json

import numpy as np

from relu_ce_diag import check_function


def _loc(r) -> str:
    return next(f for f in r.findings if f.id == "localisation").message


def _quadratic(scale=None, clip=None):
    """f = 0.5 sum(A W^2) over named blocks, with a gradient scaled or clipped per block."""
    def fn(params, X, Y):
        f = sum(0.5 * float(np.sum((k + 1) * p ** 2)) for k, p in enumerate(params.values()))
        grads = {n: (k + 1) * p for k, (n, p) in enumerate(params.items())}
        for n, c in (scale or {}).items():
            grads[n] = c * grads[n]
        if clip is not None:
            grads = {n: np.clip(g, -clip, clip) for n, g in grads.items()}
        return f, grads
    return fn


PARAMS = {"W1": np.linspace(-2, 2, 12).reshape(3, 4), "b1": np.linspace(-1, 1, 4),
          "W2": np.linspace(-1.5, 1.5, 8).reshape(4, 2), "b2": np.array([0.3, -0.7])}
X, Y = np.ones((2, 3)), np.ones((2, 2))


def test_a_constant_factor_per_block_is_named() -> None:
    """b1 off by exactly 4 and W2 by 2: each block's factor is said."""
    r = check_function(_quadratic({"b1": 4.0, "W2": 2.0}), PARAMS, X, Y)
    assert "b1 is 4 x the numerical gradient" in _loc(r) and "W2 is 2 (= N) x" in _loc(r)


def test_every_block_off_by_one_factor() -> None:
    """Every block scaled by 1/N (N = 4 samples): the same factor everywhere."""
    r = check_function(_quadratic({k: 0.25 for k in PARAMS}), PARAMS, np.ones((4, 3)),
                       np.ones((4, 2)))
    assert "every block is off by the same factor 1/N (N = 4)" in _loc(r)


def test_a_clipped_gradient_says_clip() -> None:
    """A gradient clipped at +-0.5 where the numerical one is larger: np.clip is named."""
    r = check_function(_quadratic(clip=0.5), PARAMS, X, Y)
    loc = next(f for f in r.findings if f.id == "localisation")
    assert "stuck at +-0.5" in loc.message and "np.clip" in loc.fix


def test_an_unnamed_w_gets_ranges() -> None:
    """A flat W with entries 210..309 wrong: the range W[210:310], not one index."""
    W = np.linspace(-1, 1, 400)

    def fn(W, X, Y):
        g = W.copy()
        g[210:310] *= 1.5
        return 0.5 * float(W @ W), g

    r = check_function(fn, W, X, Y)
    assert "mismatched entries: W[210:310]" in _loc(r)


def test_a_sign_error_is_a_factor_of_minus_one() -> None:
    """W1's gradient with the wrong sign: a factor of -1 (a sign error)."""
    r = check_function(_quadratic({"W1": -1.0}), PARAMS, X, Y)
    assert "W1 is -1 (a sign error) x the numerical gradient" in _loc(r)


def test_no_localisation_when_the_numerical_gradient_is_not_finite() -> None:
    """--eps 0 with relu + ce makes the loss NaN: non-finite says so, and localisation does
    not read a 'same factor 0' (a mean-versus-sum mistake) into it."""
    from click.testing import CliRunner

    from relu_ce_diag.cli import main
    r = CliRunner().invoke(main, ["check", "--eps", "0", "--act", "relu", "--loss", "ce",
                                  "--format", "json"])
    ids = [f["id"] for f in json.loads(r.stdout)["cells"][0]["findings"]]
    assert "non-finite" in ids and "localisation" not in ids
