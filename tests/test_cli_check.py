"""`relu-diag check` end to end through Click: output, files and every exit code."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main


def run(*args: str):
    """Invoke the CLI in-process; return the Click result (stdout and stderr separate)."""
    return CliRunner().invoke(main, list(args))


def test_archetype_fails_with_exit_1():
    """The seed's relu + ce + shortcut cell prints the table and exits 1."""
    r = run("check", "--act", "relu", "--loss", "ce")
    assert r.exit_code == 1, r.output
    assert "relu/relu/ce/shortcut" in r.stdout and "fail" in r.stdout
    assert "w1" in r.stdout and "b2" in r.stdout  # the per-block table


def test_softmax_cce_passes_with_exit_0():
    """relu hidden + softmax + cce passes."""
    r = run("check", "--act", "relu", "--loss", "cce")
    assert r.exit_code == 0, r.output
    assert "pass" in r.stdout


def test_exact_backprop_passes_the_archetype():
    """--backprop exact removes the derivation error from relu + ce."""
    r = run("check", "--act", "relu", "--loss", "ce", "--backprop", "exact")
    assert r.exit_code == 0, r.output


def test_json_is_versioned_and_byte_stable():
    """--format json follows the schema and is identical for the same inputs and seed."""
    a = run("check", "--act", "tanh", "--loss", "ce", "--format", "json")
    b = run("check", "--act", "tanh", "--loss", "ce", "--format", "json")
    assert a.exit_code == 1 and a.stdout == b.stdout
    doc = json.loads(a.stdout)
    assert doc["schema"] == "relu-diag/results/1"
    assert doc["summary"] == {"cells": 1, "pass": 0, "kink": 0, "fail": 1, "error": 0,
                              "exit_code": 1}
    cell = doc["cells"][0]
    assert cell["status"] == "fail" and cell["settings"]["act"] == "tanh"
    assert [b["name"] for b in cell["blocks"]] == ["w1", "b1", "w2", "b2"]
    assert set(cell["worst"]) >= {"name", "analytic", "numeric", "abs_error", "tolerance"}


def test_output_and_save_grads(tmp_path):
    """--output writes the JSON, --save-grads the arrays; the numeric gradient is reloadable."""
    out, grads = tmp_path / "r.json", tmp_path / "g.npz"
    r = run("check", "--act", "sigmoid", "--loss", "ce", "--output", str(out),
            "--save-grads", str(grads))
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["cells"][0]["status"] == "pass"
    with np.load(grads) as z:
        assert set(z.files) == {"W", "X", "Y", "loss", "analytic", "numeric", "exact"}
        np.testing.assert_allclose(z["analytic"], z["exact"], rtol=1e-10, atol=1e-12)
        assert z["W"].size == 903 and z["numeric"].shape == z["W"].shape


def test_data_file_round_trip(tmp_path):
    """--data with X, Y, W infers the sizes and hidden width from the arrays."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((10, 4)), np.eye(2)[rng.integers(2, size=10)]
    W = rng.standard_normal(7 * 5 + 2 * 8) * 0.5
    path = tmp_path / "case.npz"
    np.savez(path, X=X, Y=Y, W=W)
    r = run("check", "--data", str(path), "--act", "tanh", "--loss", "cce", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cells"][0]["n_params"] == W.size


@pytest.mark.parametrize("args, needle", [
    (["--act", "rellu"], "did you mean 'relu'"),
    (["--act", "softmax"], "--act"),
    (["--loss", "mse"], "--loss"),
    (["--eps", "-1"], "--eps"),
    (["--eps", "abc"], "--eps"),
    (["--step", "0"], "--step"),
    (["--hidden", "64,x"], "--hidden"),
    (["--samples", "0"], "--samples"),
    (["--loss", "cce", "--outputs", "1", "--targets", "multilabel"], "at least 2 outputs"),
    (["--data", "missing.npz"], "missing.npz: no such file"),
    (["--bogus"], "--bogus"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    """Bad options give exit 2 and one line naming the option, never a traceback."""
    r = run("check", *args)
    assert r.exit_code == 2, r.output
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


@pytest.mark.parametrize("content, needle", [
    (b"not a zip", "not a readable .npz"),
    ("x_only", "missing array(s) Y"),
    ("nan", "NaN"),
    ("rows", "rows"),
    ("w_size", "fits no single hidden layer"),
])
def test_bad_data_file_is_exit_2(tmp_path, content, needle):
    """Malformed data files are refused with one line naming the file."""
    path = tmp_path / "bad.npz"
    X, Y = np.zeros((4, 2)), np.eye(2)[[0, 1, 0, 1]]
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "x_only":
        np.savez(path, X=X)
    elif content == "nan":
        np.savez(path, X=np.full((4, 2), np.nan), Y=Y)
    elif content == "rows":
        np.savez(path, X=X, Y=Y[:3])
    else:
        np.savez(path, X=X, Y=Y, W=np.zeros(10))
    r = run("check", "--data", str(path))
    assert r.exit_code == 2, r.output
    assert needle in r.stderr and str(path) in r.stderr
    assert "Traceback" not in r.output


def test_internal_error_is_exit_3_without_traceback(monkeypatch):
    """A bug inside relu-diag gives exit 3, a short message and the --debug hint."""
    import relu_ce_diag.run.cell as runner

    def boom(spec):
        raise RuntimeError("simulated")

    monkeypatch.setattr(runner, "run_cell", boom)
    r = run("check")
    assert r.exit_code == 3
    assert "internal error" in r.stderr and "--debug" in r.stderr
    assert "Traceback" not in r.output


def test_help_documents_exit_codes():
    """--help lists the exit codes for CI use."""
    r = run("check", "--help")
    assert r.exit_code == 0
    for code in ("0 ", "1 ", "2 ", "3 ", "130"):
        assert code in r.stdout


def test_output_file_has_ordinary_permissions(tmp_path):
    """--output files follow the umask like any other file (not mkstemp's 0600)."""
    import os
    out = tmp_path / "r.json"
    assert run("check", "--act", "relu", "--loss", "cce", "--output", str(out)).exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_max_relative_counts_nan_as_infinite():
    """A NaN entry makes the CS231n error infinite, never 0."""
    from relu_ce_diag.numeric.compare import max_relative
    assert max_relative(np.array([1.0, 2.0]), np.array([1.0, np.nan])) == float("inf")
    assert max_relative(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
