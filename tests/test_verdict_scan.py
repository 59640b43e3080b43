"""Wrong verdicts found by scanning random hand-written networks against their closed-form
gradients (docs/verdicts.md). Each test holds one defect the scan found."""

from __future__ import annotations

import numpy as np

from relu_ce_diag import check_function
from relu_ce_diag.check.probe import _probe


def _tanh_softmax_net(seed: int, dims=(6, 6, 6, 2), n: int = 8, scale: float = 2.4e-3,
                      lam: float = 1e-3):
    """A hand-written 3-layer tanh net, softmax + cce averaged over the samples, plus
    0.5 lam |W|^2; ``fn(p, X, Y, times_n=i)`` leaves the 1/N out of layer i's gradient."""
    rng = np.random.default_rng(seed)
    params = {}
    for i in range(len(dims) - 1):
        params[f"W{i + 1}"] = rng.standard_normal((dims[i], dims[i + 1])) * scale
        params[f"b{i + 1}"] = rng.standard_normal(dims[i + 1]) * scale * 0.1
    X = rng.standard_normal((n, dims[0]))
    Y = np.eye(dims[-1])[rng.integers(dims[-1], size=n)]
    L = len(dims) - 1

    def fn(p, X, Y, times_n=None):
        hs, h = [X], X
        for i in range(1, L):
            h = np.tanh(h @ p[f"W{i}"] + p[f"b{i}"])
            hs.append(h)
        z = h @ p[f"W{L}"] + p[f"b{L}"]
        m = z.max(axis=1, keepdims=True)
        lse = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        loss = -(Y * (z - lse)).sum() / len(X)
        dz = (np.exp(z - lse) - Y) / len(X)
        g = {}
        for i in range(L, 0, -1):
            k = len(X) if i == times_n else 1
            g[f"W{i}"] = k * (hs[i - 1].T @ dz) + lam * p[f"W{i}"]
            g[f"b{i}"] = k * dz.sum(axis=0)
            if i > 1:
                dz = (dz @ p[f"W{i}"].T) * (1 - hs[i - 1] ** 2)
        loss += sum(0.5 * lam * (p[f"W{i}"] ** 2).sum() for i in range(1, L + 1))
        return loss, g
    return fn, params, X, Y


def test_layer_without_its_1_over_n_fails_near_a_minimum_not_set_aside_as_rounding():
    """Near a minimum of a smooth net (gradient ~1e-4, loss ~0.7) the precision probe took
    the curvature of f along its direction for jitter (2.6e-11, thousands of ulps); every
    entry smaller than jitter / h was then set aside as rounding, and a gradient whose W2
    and b2 are 8x too large (the 1/N left out) was 'kink', exit 0."""
    fn, p, X, Y = _tanh_softmax_net(30)
    wrong = fn(p, X, Y, times_n=2)[1]
    right = fn(p, X, Y)[1]
    assert np.allclose(wrong["W2"], 8 * (right["W2"] - 1e-3 * p["W2"]) + 1e-3 * p["W2"])
    assert check_function(fn, p, X, Y).status == "pass"
    r = check_function(lambda q, X, Y: fn(q, X, Y, times_n=2), p, X, Y)
    assert r.status == "fail", r.reason
    assert not r.set_aside
    by_block = {b.name: b for b in r.blocks}
    assert by_block["W2"].mismatched > 0 and by_block["W3"].mismatched == 0


class _Quadratic:
    """A host whose loss is the exact quadratic 1 + 0.5 k |W|^2 (no rounding to speak of)."""

    def __init__(self, k: float) -> None:
        self.k = k

    def loss(self, W, why=""):
        return 1.0 + 0.5 * self.k * float(W @ W)


class _Base:
    def __init__(self, f, df):
        self.f, self.df = f, df


def test_probe_does_not_read_curvature_as_jitter():
    """Along a line, a quadratic's increments grow by f'' s^2 a step: a straight line, no
    jitter. With a gradient small against the curvature (near the minimum) the probe's steps
    are long and the growth large; the jitter it reports must stay within rounding."""
    W = np.random.default_rng(1).standard_normal(40) * 1e-5
    host = _Quadratic(1.0)
    pr = _probe(host, W, _Base(host.loss(W), W.copy()), np.random.default_rng(0))
    assert pr.coarse is False
    assert pr.noise <= 64 * np.finfo(float).eps


def _float32_bowl(off: float):
    """f = 10 + 5 |W|^2 in float32 (df = 10 W, exact), with ``off`` added to df[3]."""
    def fn(W, X, Y):
        g = (10 * W).astype(np.float32)
        g[3] += np.float32(off)
        return np.float32(10) + np.float32(5) * np.sum(W * W, dtype=np.float32), g
    return fn


def test_a_resolved_mismatch_of_a_smooth_float32_function_is_not_set_aside_as_rounding():
    """A smooth float32 function (gaps of the one-sided differences 0.1, 0.05, 0.025: curvature,
    far above round-off) with one entry 0.03-0.05 off, 2-3x its tolerance at h = 1e-2: the
    central difference at h resolves it, but the mismatch was set aside as rounding because
    it was within the (4x larger) round-off at h/4, and the check was 'kink', exit 0."""
    W = np.random.default_rng(3).standard_normal(20).astype(np.float32)
    X, Y = np.ones((2, 2), np.float32), np.ones((2, 2), np.float32)
    assert check_function(_float32_bowl(0.0), W, X, Y).status == "pass"
    for off in (0.03, 0.04, 0.05):
        r = check_function(_float32_bowl(off), W, X, Y)
        assert r.status == "fail", (off, r.status, r.reason)
        assert r.worst is not None and r.worst.name == "W[3]"
        assert abs(r.worst.analytic - (10 * float(W[3]) + off)) < 1e-5
