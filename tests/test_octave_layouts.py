"""MATLAB code in the course layouts, run by Octave: named blocks saved in a .mat reach the
function unrolled column-major, a description reads them in that order (a right function
matches the exact gradient, not a 'description-mismatch'), and the fix of a known bug is
printed in MATLAB and passes when pasted into the .m file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from test_octave_matfile import NEEDS_OCTAVE, matrix, write_mat  # noqa: E402
from test_theta_layout import apply_fix_m  # noqa: E402

pytestmark = NEEDS_OCTAVE

# columns (W1 (n1, n0), b1 (n1, 1), X (n0, m)), relu hidden, sigmoid output, mean over m
COLUMNS = """function [J, grad] = {name}(W, X, Y)
  n0 = size(X, 1); n1 = 4; n2 = size(Y, 1); m = size(X, 2);
  k = 0;
  W1 = reshape(W(k+1:k+n1*n0), n1, n0); k = k + n1*n0;
  b1 = reshape(W(k+1:k+n1), n1, 1); k = k + n1;
  W2 = reshape(W(k+1:k+n2*n1), n2, n1); k = k + n2*n1;
  b2 = reshape(W(k+1:k+n2), n2, 1);
  A0 = X;
  Z1 = W1 * A0 + b1; A1 = max(Z1, 0);
  Z2 = W2 * A1 + b2; A2 = 1 ./ (1 + exp(-Z2));
  J = -sum(sum(Y .* log(A2) + (1 - Y) .* log(1 - A2))) / m;
  dZ2 = A2 - Y;
  dZ1 = {hidden};
  dW1 = dZ1 * A0' / m;
  db1 = sum(dZ1, 2) / m;
  dW2 = dZ2 * A1' / m;
  db2 = sum(dZ2, 2) / m;
  grad = [dW1(:); db1(:); dW2(:); db2(:)];
end
"""
# cs231n (X (N, D), W1 (D, H), b1 (1, H)), tanh hidden, sigmoid output, summed
ROWS = """function [J, grad] = {name}(W, X, Y)
  D = size(X, 2); H = 5; C = size(Y, 2);
  k = 0;
  W1 = reshape(W(k+1:k+D*H), D, H); k = k + D*H;
  b1 = reshape(W(k+1:k+H), 1, H); k = k + H;
  W2 = reshape(W(k+1:k+H*C), H, C); k = k + H*C;
  b2 = reshape(W(k+1:k+C), 1, C);
  h0 = X;
  z1 = h0 * W1 + b1; h1 = tanh(z1);
  z2 = h1 * W2 + b2; out = 1 ./ (1 + exp(-z2));
  J = -sum(sum(Y .* log(out) + (1 - Y) .* log(1 - out)));
  dz2 = out - Y;
  dz1 = {hidden};
  dW1 = h0' * dz1;
  db1 = sum(dz1, 1);
  dW2 = h1' * dz2;
  db2 = sum(dz2, 1);
  grad = [dW1(:); db1(:); dW2(:); db2(:)];
end
"""
CASES = {
    "columns": (COLUMNS, "(W2' * dZ2) .* (Z1 > 0)", "W2' * dZ2",
                ["--act", "relu", "--out", "sigmoid", "--loss", "ce"]),
    "cs231n": (ROWS, "(dz2 * W2') .* (1 - tanh(z1).^2)", "dz2 * W2'",
               ["--act", "tanh", "--out", "sigmoid", "--loss", "ce"]),
}


def _data(tmp_path: Path, layout: str) -> str:
    """Named blocks W1 b1 W2 b2 (not square, so a transposed reading cannot fit) and X, Y."""
    rng = np.random.default_rng(5)
    if layout == "columns":
        blocks = {"W1": rng.standard_normal((4, 3)), "b1": 0.1 * rng.standard_normal((4, 1)),
                  "W2": rng.standard_normal((1, 4)), "b2": np.array([[0.1]])}
        X, Y = rng.standard_normal((3, 7)), (rng.random((1, 7)) < 0.5) * 1.0
    else:
        blocks = {"W1": rng.standard_normal((3, 5)), "b1": 0.1 * rng.standard_normal((1, 5)),
                  "W2": rng.standard_normal((5, 2)), "b2": np.zeros((1, 2))}
        X, Y = rng.standard_normal((6, 3)), (rng.random((6, 2)) < 0.5) * 1.0
    return write_mat(tmp_path / "case.mat", [matrix(k, v) for k, v in
                                             {**blocks, "X": X, "Y": Y}.items()])


def _check(path: Path, data: str, desc: list[str]) -> tuple[int, dict]:
    r = CliRunner().invoke(main, ["check", "--fn", str(path), "--data", data, *desc,
                                  "--format", "json"])
    return r.exit_code, json.loads(r.stdout) if r.stdout.strip() else {"error": r.stderr}


def _finding(doc: dict, fid: str) -> dict | None:
    return next((f for f in doc["cells"][0]["findings"] if f["id"] == fid), None)


@pytest.mark.parametrize("layout", sorted(CASES))
def test_a_right_matlab_function_in_a_course_layout_matches_the_exact_gradient(
        tmp_path: Path, layout: str) -> None:
    """Blocks unrolled column-major are read in that order: matches-exact, no mismatch."""
    source, right, _, desc = CASES[layout]
    path = tmp_path / "net.m"
    path.write_text(source.format(name="net", hidden=right))
    code, doc = _check(path, _data(tmp_path, layout), desc)
    assert code == 0, doc
    assert _finding(doc, "matches-exact") is not None
    assert _finding(doc, "description-mismatch") is None
    assert f"{layout} layout" in _finding(doc, "description")["message"]


@pytest.mark.parametrize("layout", sorted(CASES))
def test_a_missing_derivative_gets_a_matlab_fix_that_passes_when_pasted(
        tmp_path: Path, layout: str) -> None:
    """Without the hidden derivative: known-bug, a fix in MATLAB (no NumPy), and the .m
    file with the fix pasted in passes."""
    source, _, wrong, desc = CASES[layout]
    data = _data(tmp_path, layout)
    path = tmp_path / "bug.m"
    path.write_text(source.format(name="bug", hidden=wrong))
    code, doc = _check(path, data, desc)
    assert code == 1
    bug = _finding(doc, "known-bug")
    assert bug is not None and bug["data"]["match"] == "missing-hidden-derivative", doc
    fix = bug["data"]["code"]
    assert fix.endswith(";") and "np." not in fix and "@" not in fix and ".T" not in fix
    path.write_text(apply_fix_m(path.read_text(), fix))
    code, doc = _check(path, data, desc)
    assert code == 0, (fix, doc)
