"""Verdicts at kinks: curvature is not a kink (a course SVM's reg*W bug fails at every scale),
true kinks are set aside, and relu'(0) = 0.5 at an exact zero passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from relu_ce_diag import check_function
from relu_ce_diag.check.onesided import Sides, explain_sides
from relu_ce_diag.check.pipeline import KINK, MISMATCH, OK
from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec

KINK_DATA = Path(__file__).resolve().parents[1] / "configs" / "data" / "kink_at_zero.npz"
EPS = float(np.finfo(np.float64).eps)
REG = 50.0
SCALES = (1e-7, 1e-4, 1e-2, 1.0)


def svm_loss_naive(W, X, y, reg, bug=True):
    """The course's structured SVM, loop for loop: hinge with delta 1 averaged over the
    samples, plus reg * sum(W * W); the gradient of the L2 term is the known ``reg * W``
    (``bug``) or the right ``2 * reg * W``."""
    dW = np.zeros(W.shape)
    num_classes, num_train = W.shape[1], X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += (1.0 if bug else 2.0) * reg * W
    return loss, dW


def svm_case(std: float, seed: int, D: int = 12, C: int = 10, N: int = 20):
    """Return W (D + 1, C) of the given std, X (N, D + 1) centred pixel-like values with a
    bias column, and labels y (N,)."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((N, D)) * 60.0, np.ones((N, 1))])
    return rng.standard_normal((D + 1, C)) * std, X, rng.integers(C, size=N)


def svm_fn(bug: bool):
    """The SVM in the flat form f, df = fn(W, X, Y), with Y the labels as a column."""
    def fn(W, X, Y):
        f, g = svm_loss_naive(W.reshape(X.shape[1], -1), X, Y[:, 0].astype(int), REG, bug)
        return f, g.ravel()
    return fn


def smallest_margin(W, X, y):
    """Return the smallest |margin| of any hinge term: how far the nearest kink is."""
    scores = X @ W
    margins = scores - scores[np.arange(len(y)), y][:, None] + 1
    margins[np.arange(len(y)), y] = np.inf
    return float(np.abs(margins).min())


@pytest.mark.parametrize("std", SCALES)
def test_svm_reg_bug_fails_at_every_scale_with_nothing_set_aside(std: float) -> None:
    """dW += reg*W fails at std 1e-7 ... 1, no entry excused as a kink (no hinge is near 0),
    every entry the bug moves far beyond the error model is a mismatch, and only entries whose
    error reg*W is as small as round-off are set aside (as rounding, not as kinks)."""
    for seed in range(3):
        W, X, y = svm_case(std, seed)
        r = check_function(svm_fn(True), W.ravel(), X, y[:, None].astype(float))
        assert r.status == "fail" and r.straddled == 0, r.reason
        assert not any(f.id == "fn-kink" for f in r.findings)
        error = np.abs(REG * W.ravel())  # the bug, entry by entry
        f = svm_loss_naive(W, X, y, REG)[0]
        clear = error > 1e3 * EPS * abs(f) / 1e-6  # 1000 x a central difference's round-off
        assert r.mismatched >= int(clear.sum()) > 0
        aside = [int(name[2:-1]) for name in r.set_aside]
        assert not clear[aside].any()
        if std <= 1e-4:
            assert smallest_margin(W, X, y) > 0.5  # the gap was curvature, not a kink


@pytest.mark.parametrize("std", SCALES)
def test_fixed_svm_passes_at_every_scale(std: float) -> None:
    """The control: 2*reg*W passes at the same points, so the failure is the bug's."""
    for seed in range(3):
        W, X, y = svm_case(std, seed)
        r = check_function(svm_fn(False), W.ravel(), X, y[:, None].astype(float))
        assert r.status == "pass", r.reason


def sides_of(f, a: float, steps: tuple[float, ...]) -> list[Sides]:
    """One-sided differences of a scalar f at 0, at each step."""
    return [Sides(f(0.0), (f(t), t), (f(-t), -t)) for t in steps]


STEPS = (1e-6, 5e-7, 2.5e-7)


def test_curvature_gap_is_not_a_kink() -> None:
    """f = 3 t + 40 t^2: the gap 80 t halves with the step; a value 1e-5 off inside [l, r]
    is a mismatch, the true slope 3 is not judged a kink either."""
    f = lambda t: 3.0 * t + 40.0 * t * t  # noqa: E731
    s = sides_of(f, 3.0, STEPS)
    assert s[0].left < 3.0 + 1e-5 < s[0].right
    assert explain_sides(3.0 + 1e-5, s, EPS, 0.0) == MISMATCH


@pytest.mark.parametrize("a, kind", [(-1.0, KINK), (0.0, OK), (0.4, KINK), (1.0, KINK),
                                     (1.5, MISMATCH), (-1.2, MISMATCH)])
def test_kink_with_curvature_on_both_sides(a: float, kind: int) -> None:
    """f = |t| + 30 t^2: the gap 2 + 60 t stays; a valid subgradient in [-1, 1] is a kink,
    the mean of the sides (0) the central differences' limit, anything else a mismatch."""
    f = lambda t: abs(t) + 30.0 * t * t  # noqa: E731
    assert explain_sides(a, sides_of(f, a, STEPS), EPS, 0.0) == kind


def test_piecewise_linear_true_kink_is_set_aside_and_named() -> None:
    """f = sum(max(W, 0) + 2 max(-W, 0)) with two entries exactly on the kink: kink, exactly
    those two named; a value outside [-2, 1] there fails."""
    W = np.array([0.7, 0.0, -0.4, 0.0, 1.3])

    def fn(W, X, Y):
        return float(np.maximum(W, 0).sum() + 2 * np.maximum(-W, 0).sum()), \
            (W > 0) * 1.0 - (W < 0) * 2.0 + (W == 0) * 0.5

    r = check_function(fn, W, np.ones((1, 1)), np.ones((1, 1)))
    assert r.status == "kink" and r.set_aside == ("W[1]", "W[3]")
    assert any(f.id == "fn-kink" for f in r.findings)

    def bad(W, X, Y):
        f, g = fn(W, X, Y)
        return f, np.where(W == 0, 1.5, g)

    assert check_function(bad, W, np.ones((1, 1)), np.ones((1, 1))).status == "fail"


def test_kink_inside_the_step_but_not_at_w() -> None:
    """relu at W = 3e-7 (the kink inside the 1e-6 stencil): the slope 1 is right and not
    failed; the slope 0 is wrong at W and fails."""
    W = np.array([3e-7, 0.5])
    X = Y = np.ones((1, 1))

    def fn(slope_at_w: float):
        return lambda W, X, Y: (float(np.maximum(W, 0).sum() + (W * W).sum()),
                                np.array([slope_at_w, 1.0]) + 2 * W)

    assert check_function(fn(1.0), W, X, Y).status in ("pass", "kink")
    assert check_function(fn(0.0), W, X, Y).status == "fail"


@pytest.mark.parametrize("act", ["relu", "leaky-relu"])
def test_half_convention_at_exact_zeros_passes_and_says_so(act: str) -> None:
    """relu'(0) = 0.5 on pre-activations exactly at 0 passes, and the zero-preactivation
    finding says the entries agree; relu'(0) = 0 (and 1) stay kinks."""
    half = run_cell(CellSpec(act=act, loss="cce", data=str(KINK_DATA), relu_grad_at_zero=0.5))
    assert half.status == "pass" and half.straddled > 0, half.reason
    zero = next(f for f in half.findings if f.id == "zero-preactivation")
    assert zero.severity == "info" and "agree with the limit" in zero.message
    for at_zero in (0.0, 1.0):
        r = run_cell(CellSpec(act=act, loss="cce", data=str(KINK_DATA),
                              relu_grad_at_zero=at_zero))
        assert r.status == "kink" and len(r.set_aside) == 10, r.reason


def test_half_convention_along_random_directions() -> None:
    """The same along random directions: 0.5 passes; with 0 every direction moves a unit off
    its kink and is set aside, so the cell could not be checked (error, not fail)."""
    spec = dict(act="relu", loss="cce", data=str(KINK_DATA))
    assert run_cell(CellSpec(**spec, relu_grad_at_zero=0.5), directions=8).status == "pass"
    r = run_cell(CellSpec(**spec), directions=8)
    assert r.status == "error" and "8 of 8 random directions are set aside" in r.reason


def test_black_box_mean_of_the_sides_at_an_exact_kink_passes() -> None:
    """A user's f = sum(relu(W)) + 20 sum(W^2) at W = 0: the mean slope 0.5 agrees with the
    central differences' limit (pass), 0 is a valid subgradient (kink)."""
    W = np.array([0.0, 0.3])
    X = Y = np.ones((1, 1))

    def fn(at_zero: float):
        return lambda W, X, Y: (float(np.maximum(W, 0).sum() + 20 * (W * W).sum()),
                                (W > 0) + at_zero * (W == 0) + 40 * W)

    assert check_function(fn(0.5), W, X, Y).status == "pass"
    r = check_function(fn(0.0), W, X, Y)
    assert r.status == "kink" and r.set_aside == ("W[0]",)
