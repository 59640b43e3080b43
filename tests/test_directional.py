"""Random-direction checks of the reference network (--directions K)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.check import builtin
from relu_ce_diag.cli import main
from relu_ce_diag.diagnostics import diagnose
from relu_ce_diag.model.activations import HIDDEN_NAMES
from relu_ce_diag.model.losses import LOSSES
from relu_ce_diag.model.network import backprop, forward
from relu_ce_diag.numeric.directions import direction_rng, random_directions
from relu_ce_diag.results.cell import build_result
from relu_ce_diag.settings.cells import CellSpec, prepare, validate


def check_directions(prep, cell_id: str, K: int):
    """Check K random directions through the pipeline, as ``check --directions K`` does."""
    c = builtin.check_directions(prep, cell_id, K)
    return build_result(c, diagnose(c))


def _run(K: int = 6, **kw):
    spec = validate(CellSpec(**kw))
    return check_directions(prepare(spec), spec.id, K)


@pytest.mark.parametrize("act", HIDDEN_NAMES)
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_exact_backprop_passes_every_pair(act: str, loss: str) -> None:
    """The exact chain rule passes along random directions for every activation and loss."""
    r = _run(act=act, loss=loss, backprop="exact", hidden=(12,))
    assert r.status in ("pass", "kink"), r.reason


def test_seed_shortcut_fails() -> None:
    """The seed's relu + ce shortcut fails along random directions."""
    r = _run(act="relu", loss="ce")
    assert r.status == "fail" and r.mismatched > 0


def test_directional_numbers_match_a_plain_oracle() -> None:
    """numeric_k = (f(W + h v) - f(W - h v)) / 2h and analytic_k = df . v, recomputed here."""
    spec = validate(CellSpec(act="tanh", loss="se", backprop="exact", hidden=(7,), seed=3))
    prep = prepare(spec)
    r = check_directions(prep, spec.id, 4)
    net, (W, X, Y) = prep.net, (prep.arrays.W, prep.arrays.X, prep.arrays.Y)
    V = random_directions(direction_rng(3), 4, W.size)
    df = backprop(net, W, X, Y, "exact")[1]
    assert r.arrays is not None
    for k in range(4):
        h = spec.h
        num = (forward(net, W + h * V[k], X, Y).f - forward(net, W - h * V[k], X, Y).f) / (2 * h)
        assert r.arrays.numeric[k] == pytest.approx(num, rel=1e-6)
        assert abs(float(df @ V[k]) - num) < 1e-6 * max(1.0, abs(num))


def test_directions_are_seeded_and_unit() -> None:
    """The same seed gives the same unit directions; another seed others."""
    a, b = random_directions(direction_rng(5), 3, 40), random_directions(direction_rng(5), 3, 40)
    c = random_directions(direction_rng(6), 3, 40)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)


def test_one_entry_off_is_caught_by_a_direction(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gradient wrong by 1e-3 * max|g| in one entry fails along random directions."""
    from relu_ce_diag.check import builtin as directional
    spec = validate(CellSpec(act="tanh", loss="se", hidden=(10,), seed=1))
    prep = prepare(spec)
    net, (W, X, Y) = prep.net, (prep.arrays.W, prep.arrays.X, prep.arrays.Y)
    bad = backprop(net, W, X, Y, "exact")[1].copy()
    bad[5] += 1e-3 * np.abs(bad).max()
    monkeypatch.setattr(directional, "backprop", lambda *a, **k: (0.0, bad))
    assert check_directions(prep, spec.id, 8).status == "fail"
    monkeypatch.undo()
    assert check_directions(prep, spec.id, 8).status == "pass"


def test_large_cell_is_fast() -> None:
    """A 784-300-10 cell with K = 4 runs in well under a second (no P-sized loop)."""
    t0 = time.perf_counter()
    r = _run(K=4, act="relu", loss="cce", hidden=(300,), inputs=784, outputs=10, samples=64)
    assert time.perf_counter() - t0 < 2.0 and r.n_params == 300 * 785 + 10 * 301


def test_cli_directions_flag() -> None:
    """relu-diag check --directions K reports K directions and the usual exit code."""
    r = CliRunner().invoke(main, ["check", "--act", "tanh", "--loss", "se", "--backprop", "exact",
                                  "--directions", "5"])
    assert r.exit_code == 0, r.output
    assert "[5 directions]" in r.stdout and "random directions" in r.stdout
    bad = CliRunner().invoke(main, ["check", "--directions", "0"])
    assert bad.exit_code == 2


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_float32_cell_passes_with_exact_backprop(act: str) -> None:
    """A float32 cell (W rounded at W +- h v) passes with the exact backprop, fails the seed's."""
    assert _run(act=act, loss="cce", backprop="exact", dtype="float32", hidden=(16,)).status \
        in ("pass", "kink")
    assert _run(act="relu", loss="ce", dtype="float32", hidden=(16,)).status == "fail"
