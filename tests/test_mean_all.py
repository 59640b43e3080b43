"""A loss written as ``np.mean`` over an (N, C) array divides by N x C, not N: the mean-all
reduction is fitted, its gradient passes, dividing by N alone (or not at all) is named as the
known bug, and the printed fix, pasted, passes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_fixes_literal import apply_fix

from relu_ce_diag import check_function
from relu_ce_diag.cli import main

SOURCE = '''
import numpy as np

def _forward(params, X):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    h0 = X
    z1 = h0 @ W1 + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ W2 + b2
    return h0, z1, h1, z2

def _grads(params, h0, z1, h1, dz2):
    dz1 = (dz2 @ params["W2"].T) * (z1 > 0)
    return {"W1": h0.T @ dz1, "b1": dz1.sum(axis=0), "W2": h1.T @ dz2, "b2": dz2.sum(axis=0)}

def mse(params, X, Y):
    h0, z1, h1, z2 = _forward(params, X)
    out = z2
    loss = 0.5 * np.mean((out - Y) ** 2)
    dz2 = (out - Y) / Y.size
    return loss, _grads(params, h0, z1, h1, dz2)

def mse_over_n(params, X, Y):
    h0, z1, h1, z2 = _forward(params, X)
    out = z2
    N = X.shape[0]
    loss = 0.5 * np.mean((out - Y) ** 2)
    dz2 = (out - Y) / N
    return loss, _grads(params, h0, z1, h1, dz2)

def mse_no_mean(params, X, Y):
    h0, z1, h1, z2 = _forward(params, X)
    out = z2
    loss = 0.5 * np.mean((out - Y) ** 2)
    dz2 = out - Y
    return loss, _grads(params, h0, z1, h1, dz2)

def bce(params, X, Y):
    h0, z1, h1, z2 = _forward(params, X)
    out = 1 / (1 + np.exp(-z2))
    loss = -np.mean(Y * np.log(out) + (1 - Y) * np.log(1 - out))
    dz2 = (out - Y) / Y.size
    return loss, _grads(params, h0, z1, h1, dz2)

def bce_over_n(params, X, Y):
    h0, z1, h1, z2 = _forward(params, X)
    out = 1 / (1 + np.exp(-z2))
    N = X.shape[0]
    loss = -np.mean(Y * np.log(out) + (1 - Y) * np.log(1 - out))
    dz2 = (out - Y) / N
    return loss, _grads(params, h0, z1, h1, dz2)
'''
DESC = {"mse": {"act": "relu", "out": "identity", "loss": "se"},
        "bce": {"act": "relu", "out": "sigmoid", "loss": "ce"}}


def _case(kind: str, C: int = 3):
    rng = np.random.default_rng(4)
    N, D, H = 10, 4, 6
    params = {"W1": 0.5 * rng.standard_normal((D, H)), "b1": 0.1 * rng.standard_normal(H),
              "W2": 0.5 * rng.standard_normal((H, C)), "b2": np.zeros(C)}
    X = rng.standard_normal((N, D))
    Y = rng.standard_normal((N, C)) if kind == "mse" else (rng.random((N, C)) < 0.5) * 1.0
    return params, X, Y


def _module(tmp_path: Path, source: str, name: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["mse", "bce"])
@pytest.mark.parametrize("C", [1, 3])
def test_np_mean_losses_pass_described_as_mean_all(tmp_path: Path, kind: str, C: int) -> None:
    """The right gradient of np.mean's loss passes, read as the mean over every element (for
    C = 1 that is the mean over the samples, the same thing)."""
    m = _module(tmp_path, SOURCE, "losses")
    params, X, Y = _case(kind, C)
    r = check_function(getattr(m, kind), params, X, Y, **DESC[kind])
    assert r.status == "pass", r.reason
    assert any(f.id == "matches-exact" for f in r.findings)
    desc = next(f for f in r.findings if f.id == "description")
    assert dict(desc.data)["reduction"] == ("mean-all" if C > 1 else "mean")


@pytest.mark.parametrize("bug, kind, known", [
    ("mse_over_n", "mse", "mean-over-samples-only"), ("mse_no_mean", "mse", "sum-instead-of-mean"),
    ("bce_over_n", "bce", "mean-over-samples-only")])
def test_dividing_by_n_alone_is_named_and_the_fix_pasted_passes(tmp_path: Path, bug: str,
                                                                kind: str, known: str) -> None:
    """A gradient divided by N (or by nothing) for a loss np.mean divides by N x C fails, is
    named, and its printed fix, pasted in place of the dz2 line, passes."""
    m = _module(tmp_path, SOURCE, "losses_bug")
    params, X, Y = _case(kind)
    r = check_function(getattr(m, bug), params, X, Y, **DESC[kind])
    assert r.status == "fail"
    kb = next(f for f in r.findings if f.id == "known-bug")
    assert dict(kb.data)["match"] == known, kb.message
    code = dict(kb.data)["code"]
    assert code in kb.fix and "Y.size" in code
    fixed = _module(tmp_path, apply_fix(SOURCE, bug, code), "losses_fixed")
    assert check_function(getattr(fixed, bug), params, X, Y, **DESC[kind]).status == "pass"


def test_reduction_mean_all_on_the_command_line(tmp_path: Path) -> None:
    """--reduction mean-all is accepted and shown in the description; the right function
    exits 0, the one divided by N exits 1 naming the fix."""
    (tmp_path / "losses.py").write_text(SOURCE)
    params, X, Y = _case("mse")
    np.savez(tmp_path / "c.npz", X=X, Y=Y, **params)
    base = ["--data", str(tmp_path / "c.npz"), "--act", "relu", "--out", "identity", "--loss",
            "se", "--reduction", "mean-all"]
    ok = CliRunner().invoke(main, ["check", "--fn", f"{tmp_path / 'losses.py'}:mse", *base])
    assert ok.exit_code == 0, ok.output
    assert "mean over all 10 x 3 output elements" in " ".join(ok.stdout.split())
    bad = CliRunner().invoke(main, ["check", "--fn", f"{tmp_path / 'losses.py'}:mse_over_n",
                                    *base])
    assert bad.exit_code == 1, bad.output
    assert "dz2 = (out - Y) / Y.size" in " ".join(bad.stdout.split())
