"""The black-box check: test the tester with smooth, scaled, kinked, flat and float32 losses."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from relu_ce_diag import check_function
from relu_ce_diag.check.blackbox import check_function as check_source
from relu_ce_diag.check.calling import UserCode
from relu_ce_diag.check.host import InProcess
from relu_ce_diag.check.pipeline import FLAT, KINK, MISMATCH, OK
from relu_ce_diag.check.probe import detect_precision
from relu_ce_diag.errors import UserFunctionError
from relu_ce_diag.settings.params import flat_point


def call(fn, W, X, Y, label):
    """Call fn once at W through the adapter, as the check does (fresh copies each time)."""
    return UserCode(fn, flat_point(np.asarray(W), np.asarray(X), np.asarray(Y)),
                    label).value_and_grad(np.asarray(W).reshape(-1))

def check_blackbox(fn, W, X, Y, **kw):
    """The black-box source's view of a check: calls, kind per entry, one-sided slopes."""
    c = check_source(InProcess(UserCode(fn, flat_point(W, X, Y), "fn")), **kw)
    return SimpleNamespace(calls=c.black.calls, kind=c.judged.kind, left=c.black.left,
                           right=c.black.right)


def _logistic(scale: float = 1.0, offset: float = 0.0):
    """A logistic-regression loss (scaled) with its closed-form gradient."""
    def fn(W, X, Y):
        A = W.reshape(Y.shape[1], X.shape[1], order="F")
        z = X @ A.T
        y = 1 / (1 + np.exp(-z))
        f = -np.sum(Y * np.log(y) + (1 - Y) * np.log(1 - y))
        g = (y - Y).T @ X
        return scale * f + offset, scale * g.ravel(order="F")
    return fn


@pytest.fixture
def problem(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W (12,), X (20, 4), Y (20, 3) for the logistic loss."""
    X = rng.standard_normal((20, 4))
    Y = (rng.random((20, 3)) < 0.5).astype(float)
    return rng.standard_normal(12) * 0.5, X, Y


@pytest.mark.parametrize("scale, offset", [(1.0, 0.0), (1e-12, 0.0), (1e6, 0.0), (1.0, 1e7)])
def test_correct_gradient_passes_at_any_scale(problem, scale: float, offset: float) -> None:
    """Correct gradients pass: ordinary, entries ~1e-12, loss ~1e7 by scale or by offset."""
    W, X, Y = problem
    r = check_function(_logistic(scale, offset), W, X, Y)
    assert r.status == "pass", r.reason
    assert r.findings[-1].id == "fn-precision"


@pytest.mark.parametrize("scale, offset", [(1.0, 0.0), (1e-12, 0.0), (1e6, 0.0), (1.0, 1e3)])
@pytest.mark.parametrize("entry", [0, 7, 11])
def test_one_entry_off_by_1e_3_of_max_fails_and_is_named(problem, scale: float, offset: float,
                                                          entry: int) -> None:
    """One entry wrong by 1e-3 * max|g| fails, and exactly that entry is named."""
    W, X, Y = problem
    good = _logistic(scale, offset)

    def bad(W, X, Y):
        f, g = good(W, X, Y)
        g = g.copy()
        g[entry] += 1e-3 * np.abs(g).max()
        return f, g

    r = check_function(bad, W, X, Y)
    assert r.status == "fail" and r.mismatched == 1
    assert r.worst is not None and r.worst.name == f"W[{entry}]"


def test_counts_2p_calls_plus_the_checks_at_w(problem) -> None:
    """A passing check makes 2P calls, plus 2 at W and at most 5 precision probes."""
    W, X, Y = problem
    bb = check_blackbox(_logistic(), W, X, Y)
    assert 2 * W.size + 2 <= bb.calls <= 2 * W.size + 7


def test_progress_reaches_the_total(problem) -> None:
    """The progress callback is told every step and ends at its total."""
    W, X, Y = problem
    seen: list[tuple[int, int]] = []
    check_blackbox(_logistic(), W, X, Y, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (2 * W.size, 2 * W.size) and len(seen) == W.size


def _relu_sum(at_kink: float):
    """f = sum(relu(W)) with relu'(0) = ``at_kink`` in the analytic gradient."""
    def fn(W, X, Y):
        return float(np.maximum(W, 0).sum()), (W > 0) + at_kink * (W == 0)
    return fn


@pytest.mark.parametrize("at_kink, kind", [(0.0, KINK), (1.0, KINK), (0.3, KINK),
                                            (1.5, MISMATCH), (-0.2, MISMATCH)])
def test_kink_accepted_only_for_a_subgradient(at_kink: float, kind: int) -> None:
    """An entry on a kink is set aside only when the analytic value is in [left, right]."""
    W = np.array([0.5, 0.0, -0.5])
    bb = check_blackbox(_relu_sum(at_kink), W, np.ones((1, 1)), np.ones((1, 1)))
    assert list(bb.kind) == [OK, kind, OK]
    assert bb.left[1] == pytest.approx(0.0, abs=1e-9) and bb.right[1] == pytest.approx(1.0)


def test_kink_status_exit_and_strict(problem) -> None:
    """A kinked check reports status kink with the entry named."""
    W = np.array([0.5, 0.0, -0.5])
    r = check_function(_relu_sum(0.0), W, np.ones((1, 1)), np.ones((1, 1)))
    assert r.status == "kink" and r.set_aside == ("W[1]",)
    assert any(f.id == "fn-kink" for f in r.findings)


def test_flat_loss_with_nonzero_gradient_is_never_excused() -> None:
    """A clamped (flat) loss whose df is not 0 fails as flat-loss, naming the cause."""
    def clamped(W, X, Y):
        y = np.maximum(W, 0.0)  # relu outputs at 0: the loss below is flat in W < 0
        return float(-np.sum(np.log(np.maximum(y, 1e-16)))), -1.0 * (W <= 0)

    W = np.array([-0.3, -0.2])
    r = check_function(clamped, W, np.ones((1, 1)), np.ones((1, 1)))
    assert r.status == "fail"
    flat = next(f for f in r.findings if f.id == "flat-loss")
    assert "clamp" in flat.fix and "saturated unit" in flat.fix and "W[0], W[1]" in flat.message
    bb = check_blackbox(clamped, W, np.ones((1, 1)), np.ones((1, 1)))
    assert list(bb.kind) == [FLAT, FLAT]


def test_mutating_function_does_not_corrupt_the_check(problem) -> None:
    """A function that scales its W argument in place still passes."""
    W, X, Y = problem
    good = _logistic()

    def mutating(W, X, Y):
        out = good(W, X, Y)
        W *= 3.0
        X += 1.0
        return out

    assert check_function(mutating, W, X, Y).status == "pass"


def test_nondeterministic_function_is_refused(problem) -> None:
    """Two different losses at the same W: refused before judging, with the fix."""
    W, X, Y = problem
    gen = np.random.default_rng()
    good = _logistic()

    def noisy(W, X, Y):
        keep = gen.random(X.shape) > 0.2
        return good(W, X * keep, Y)

    with pytest.raises(UserFunctionError, match="not deterministic.*seed its random"):
        check_function(noisy, W, X, Y)


def test_nan_loss_at_w_is_refused(problem) -> None:
    """A NaN loss at W cannot be checked (exit 2 in the CLI)."""
    W, X, Y = problem
    with pytest.raises(UserFunctionError, match="f is nan at W"):
        check_function(lambda W, X, Y: (float("nan"), W), W, X, Y)


def test_nan_gradient_entries_fail_and_are_named(problem) -> None:
    """NaN entries of df fail the check, and the finding names them."""
    W, X, Y = problem
    good = _logistic()

    def nan_df(W, X, Y):
        f, g = good(W, X, Y)
        g[[2, 5]] = np.nan
        return f, g

    r = check_function(nan_df, W, X, Y)
    assert r.status == "fail"
    nf = next(f for f in r.findings if f.id == "non-finite")
    assert "W[2], W[5]" in nf.message


def _float32(fn, returns: str):
    """Run ``fn`` in float32; return float32 values, or float64 values that hide it."""
    def g(W, X, Y):
        f, df = fn(W.astype(np.float32), X.astype(np.float32), Y.astype(np.float32))
        if returns == "float32":
            return np.float32(f), df.astype(np.float32)
        return float(f) / 3.0, df.astype(np.float64) / 3.0
    return g


@pytest.mark.parametrize("returns, reason", [("float32", "returns or receives float32"),
                                             ("hidden", "steps of ~1e-7")])
def test_correct_float32_gradient_passes_with_a_float32_model(problem, returns: str,
                                                              reason: str) -> None:
    """A correct float32 gradient passes, with the precision detected and reported."""
    W, X, Y = problem
    r = check_function(_float32(_logistic(), returns), W, X, Y)
    assert r.status == "pass", r.reason
    p = next(f for f in r.findings if f.id == "fn-precision")
    assert "float32" in p.message and reason in p.message and r.step == 1e-2


def test_float32_check_still_catches_a_one_percent_error(problem) -> None:
    """In float32 an entry 1% off (of max|g|) is still caught."""
    W, X, Y = problem
    good = _float32(_logistic(), "float32")

    def bad(W, X, Y):
        f, g = good(W, X, Y)
        g[4] += np.float32(0.01) * np.abs(g).max()
        return f, g

    r = check_function(bad, W, X, Y)
    assert r.status == "fail" and r.worst is not None and r.worst.name == "W[4]"


def test_float64_function_is_detected_as_float64(problem) -> None:
    """A float64 function keeps the float64 model (no false float32 detection)."""
    W, X, Y = problem
    fn = _logistic()
    base = call(fn, W, X, Y, "fn")
    host = InProcess(UserCode(fn, flat_point(W, X, Y), "fn"))
    assert detect_precision(host, W, base, np.random.default_rng(0)).name == "float64"


@pytest.mark.parametrize("wrong", [False, True])
def test_directions_mode(problem, wrong: bool) -> None:
    """K random directions: 2K calls; a correct df passes, a 1% wrong entry fails."""
    W, X, Y = problem
    good = _logistic()

    def fn(W, X, Y):
        f, g = good(W, X, Y)
        if wrong:
            g[3] += 0.05 * np.abs(g).max()
        return f, g

    r = check_function(fn, W, X, Y, directions=6, seed=2)
    assert r.status == ("fail" if wrong else "pass")
    assert r.id.endswith("[6 directions]") and any(f.id == "directions" for f in r.findings)
    assert r.arrays is not None and r.arrays.numeric.shape == (6,)


def test_jitter_of_a_saturated_output_is_measured_not_a_false_alarm() -> None:
    """1 - y rounding near a saturated sigmoid makes f jitter ~1e-10: measured, no false alarm,
    and an entry 1e-3 * max|g| off is still caught."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent / "examples"))
    import nets

    W, X, Y = nets.case(9, n_inp=5, n_hid=12, n_out=3, N=20, onehot=False, scale=2.0)

    def good(W, X, Y):
        return nets.backprop(W, X, Y, "relu", "sigmoid", "ce")

    r = check_function(good, W, X, Y)
    assert r.status == "pass", r.reason
    assert "jitters by" in r.findings[-1].message

    def bad(W, X, Y):
        f, g = good(W, X, Y)
        g[44] += 1e-3 * np.abs(g).max()
        return f, g

    r = check_function(bad, W, X, Y)
    assert r.status == "fail" and r.worst is not None and r.worst.name == "W[44]"


PAIRS = [("relu", "sigmoid", "ce"), ("relu", "softmax", "cce"), ("leaky-relu", "identity", "se"),
         ("relu", "relu", "ce"), ("tanh", "tanh", "se"), ("relu", "relu", "se")]


@pytest.mark.parametrize("pair", PAIRS, ids="/".join)
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_no_false_alarm_on_correct_networks(pair: tuple[str, str, str], precision: str) -> None:
    """Correct relu-family networks over 8 seeds never fail (pass or kink), in both precisions."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent / "examples"))
    import nets

    def fn(W, X, Y):
        if precision == "float64":
            return nets.backprop(W, X, Y, *pair)
        f, df = nets.backprop(W.astype(np.float32), X.astype(np.float32),
                              Y.astype(np.float32), *pair)
        return np.float32(f), df.astype(np.float32)

    for seed in range(8):
        W, X, Y = nets.case(seed, n_inp=5, n_hid=12, n_out=3, N=20, onehot=pair[2] != "ce")
        with np.errstate(over="ignore"):  # float32 exp overflow in a saturated sigmoid is fine
            r = check_function(fn, W, X, Y)
        assert r.status in ("pass", "kink"), (seed, r.reason, r.worst)


def test_api_passes_the_callers_arrays_unchanged_in_dtype(problem) -> None:
    """check_function hands X and Y to the function in the dtype the caller gave."""
    W, X, Y = problem
    seen: set[str] = set()
    good = _logistic()

    def fn(W, X, Y):
        seen.add(str(X.dtype))
        return good(W, X.astype(np.float64), Y)

    check_function(fn, W, X.astype(np.float32), Y)
    assert seen == {"float32"}


def test_api_refuses_a_description_that_does_not_fit(problem) -> None:
    """A hidden width that does not fit W raises OptionError naming hidden."""
    from relu_ce_diag.errors import OptionError
    W, X, Y = problem
    with pytest.raises(OptionError, match="hidden"):
        check_function(_logistic(), W, X, Y, act="relu", hidden=3)


def test_nonfinite_loss_at_a_stencil_point_fails_and_is_named(problem) -> None:
    """A loss that becomes NaN at W + h along one entry fails, naming that entry."""
    W, X, Y = problem
    good = _logistic()
    w3 = W[3]

    def fn(W, X, Y):
        f, g = good(W, X, Y)
        return (float("nan") if W[3] > w3 else f), g

    r = check_function(fn, W, X, Y)
    assert r.status == "fail"
    nf = next(f for f in r.findings if f.id == "non-finite")
    assert "not finite at W +/- h along W[3]" in nf.message


def test_points_go_in_bounded_batches_with_identical_results(monkeypatch) -> None:
    """The 2P perturbed copies of W are made and sent a batch at a time (bounded bytes, not
    P^2 memory); the verdict and every number are the same as in one batch."""
    import relu_ce_diag.check.blackbox as bb
    from relu_ce_diag import check_function
    from relu_ce_diag.check.host import InProcess

    rng = np.random.default_rng(3)
    W, X, Y = rng.standard_normal(40), np.ones((2, 2)), np.ones((2, 1))

    def f(W, X, Y):
        return float(np.sum(np.tanh(W) ** 2)), 2 * np.tanh(W) * (1 - np.tanh(W) ** 2)

    whole = check_function(f, W, X, Y)
    sizes: list[int] = []
    real = InProcess.losses

    def spy(self, points, done=None):
        points = list(points)
        sizes.append(len(points))
        return real(self, points, done)

    monkeypatch.setattr(InProcess, "losses", spy)
    monkeypatch.setattr(bb, "BATCH_BYTES", 3 * W.nbytes)
    batched = check_function(f, W, X, Y)
    assert max(sizes) <= 3 and len(sizes) > 20
    assert (batched.status, batched.max_rel, batched.normwise) == (
        whole.status, whole.max_rel, whole.normwise)
    assert np.array_equal(batched.arrays.numeric, whole.arrays.numeric)


@pytest.mark.parametrize("W", [[0.5, 1.5, -2.0], [0.25, 0.0, -0.75, 1.0]])
def test_a_float64_function_with_simple_values_is_not_taken_for_float16(W) -> None:
    """f = sum(W^2)/2 at W whose values are all exactly float16 (0.5, 1.5, ...) computes in
    float64: it is checked and passes, not refused as float16; one wrong entry still fails."""
    W = np.array(W)

    def fn(W, X, Y):
        return 0.5 * float(W @ W), W.copy()

    bb = check_blackbox(fn, W, np.ones((1, 1)), np.ones((1, 1)))
    assert np.all(bb.kind == OK)

    def wrong(W, X, Y):
        g = W.copy()
        g[-1] *= 1.001
        return 0.5 * float(W @ W), g

    bb = check_blackbox(wrong, W, np.ones((1, 1)), np.ones((1, 1)))
    assert bb.kind[-1] == MISMATCH and np.all(bb.kind[:-1] == OK)
