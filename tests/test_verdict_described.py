"""A described function whose loss is a mean while the description says sum: fitted, passed,
and never called a known bug (with N = 2 a mean is half the sum, a catalogued factor)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from relu_ce_diag import check_function

sys.path.insert(0, str(Path(__file__).parent / "examples"))
import nets  # noqa: E402  (a user's own network, independent of relu-diag)

PAIRS = [("relu", "sigmoid", "ce"), ("tanh", "softmax", "cce"), ("sigmoid", "identity", "se")]


def mean_of(pair):
    """The user's network with its loss and gradient averaged over the samples."""
    def fn(W, X, Y):
        f, g = nets.backprop(W, X, Y, *pair)
        return f / X.shape[0], g / X.shape[0]
    return fn


@pytest.mark.parametrize("pair", PAIRS, ids="/".join)
@pytest.mark.parametrize("N", [2, 7])
def test_correct_mean_loss_described_as_sum_passes_without_known_bug(pair, N: int) -> None:
    """Described with the default reduction (sum): passes, no known-bug, and the description
    finding says the loss is the mean over the N samples."""
    W, X, Y = nets.case(3, N=N, onehot=pair[2] != "ce")
    r = check_function(mean_of(pair), W, X, Y, act=pair[0], out=pair[1], loss=pair[2])
    ids = {f.id for f in r.findings}
    assert r.status == "pass", r.reason
    assert "known-bug" not in ids and "description-mismatch" not in ids
    d = next(f for f in r.findings if f.id == "description")
    assert f"mean over the {N} samples" in d.message and dict(d.data)["reduction"] == "mean"


@pytest.mark.parametrize("pair", PAIRS, ids="/".join)
def test_mean_loss_with_the_sums_gradient_fails_and_is_named(pair) -> None:
    """The control: a mean loss whose df forgot to divide by N (N = 2) fails, so the pass
    above is the description's fit, not a blind spot."""
    W, X, Y = nets.case(3, N=2, onehot=pair[2] != "ce")

    def fn(W, X, Y):
        f, g = nets.backprop(W, X, Y, *pair)
        return f / X.shape[0], g

    r = check_function(fn, W, X, Y, act=pair[0], out=pair[1], loss=pair[2])
    assert r.status == "fail"
    assert {"known-bug", "no-known-bug"} & {f.id for f in r.findings}
    assert np.isfinite(r.loss)
