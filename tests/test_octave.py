"""``--fn FILE.m``: a MATLAB function checked as it is, run by GNU Octave. The seed's own code
fails with the shortcut named and a MATLAB fix that works when pasted in; a course-style
nnCostFunction through ``--call``; errors in MATLAB's terms; no Octave left behind."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.check.hosts import open_host
from relu_ce_diag.check.octave import OctaveHost
from relu_ce_diag.cli import main
from relu_ce_diag.settings.function import Calling

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).parent / "examples"
SEED_M, SEED_MAT = EXAMPLES / "backprop.m", EXAMPLES / "seed_case.mat"
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(Path(__file__).parent))
import seed_backprop  # noqa: E402  (the seed's Python port: the oracle for f and df)
from test_octave_matfile import NEEDS_OCTAVE, matrix, write_mat  # noqa: E402

pytestmark = NEEDS_OCTAVE  # every test here runs Octave


def check(*args: str):
    """Invoke ``relu-diag check`` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(main, ["check", *args])


def finding(doc: dict, fid: str) -> dict:
    """Return the finding ``fid`` of the first cell of a JSON report."""
    return next(f for f in doc["cells"][0]["findings"] if f["id"] == fid)


def paste_fix(source: str, fix: str) -> str:
    """Replace the first line that assigns the fix's variable by the fix, as a user would."""
    var = re.match(r"\s*(\w+)\s*=", fix.split(";")[-2] if fix.count(";") > 1 else fix)
    assert var is not None, fix
    pattern = re.compile(rf"^(\s*){var.group(1)}\s*=.*$", re.MULTILINE)
    assert pattern.search(source) is not None
    return pattern.sub(lambda m: m.group(1) + fix, source, count=1)


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict]:
    """The seed's check, run once: exit code, the printed table, the JSON report."""
    out = tmp_path_factory.mktemp("seed") / "report.json"
    r = check("--fn", str(SEED_M), "--data", str(SEED_MAT), "--act", "relu", "--loss", "ce",
              "--output", str(out))
    return r.exit_code, r.stdout, json.loads(out.read_text())


def test_the_seed_function_fails_with_the_shortcut_named_and_a_matlab_fix(seed_run) -> None:
    """The seed's backprop.m (verbatim) at seed_case.mat: exit 1, known-bug is the shortcut
    delta, and the fix is MATLAB code (``d3 = ...;``), entries named as w1[i, j]."""
    code, _, doc = seed_run
    assert code == 1
    assert doc["cells"][0]["status"] == "fail"
    bug = finding(doc, "known-bug")
    assert "shortcut delta" in bug["message"] and bug["data"]["match"] == "shortcut-delta"
    fix = bug["data"]["code"]
    assert fix.startswith("d3 = ") and fix.endswith(";") and "./" in fix
    assert "np." not in bug["fix"] and fix in bug["fix"]
    assert re.fullmatch(r"[wb][12]\[\d+(, \d+)?\]", doc["cells"][0]["worst"]["name"])


def test_the_printed_fix_pasted_into_the_m_file_passes(seed_run, tmp_path: Path) -> None:
    """The MATLAB line printed as the fix, pasted over the line assigning d3, makes the seed's
    function pass through Octave (exit 0, equal to the exact gradient)."""
    _, table, _ = seed_run
    printed = " ".join(line.strip() for line in table.splitlines())
    fix = re.search(r"the correct delta is (d3 = .*?;)(?: \[|$)", printed)
    assert fix is not None, table
    fixed = tmp_path / "backprop.m"
    fixed.write_text(paste_fix(SEED_M.read_text(), fix.group(1)))
    r = check("--fn", str(fixed), "--data", str(SEED_MAT), "--act", "relu", "--loss", "ce",
              "--format", "json")
    assert r.exit_code == 0, r.output
    assert finding(json.loads(r.stdout), "matches-exact")


def test_f_and_df_equal_the_python_port_to_1e_12() -> None:
    """The .m run by Octave and examples/seed_backprop.py agree on f and df to 1e-12."""
    host = open_host(Calling(str(SEED_M)), str(SEED_MAT))
    try:
        call = host.value_and_grad(host.point.W)
    finally:
        host.close()  # type: ignore[attr-defined]
    npz = np.load(ROOT / "examples" / "seed_case.npz")
    f, df = seed_backprop.backprop(npz["W"], npz["X"], npz["Y"])
    assert abs(call.f - f) <= 1e-12 * abs(f)
    assert np.max(np.abs(call.df - df)) <= 1e-12 * np.max(np.abs(df))


COURSE_CALL = "nnCostFunction(W, 4, 5, 3, X, y, {lam})"


def _course(tmp_path: Path, lam: bool = True) -> str:
    """A course-style point: Theta1 (5x5), Theta2 (3x6), X (20x4), labels y in 1..3 (and
    lambda)."""
    rng = np.random.default_rng(7)
    arrays = {"Theta1": 0.5 * rng.standard_normal((5, 5)),
              "Theta2": 0.5 * rng.standard_normal((3, 6)),
              "X": rng.standard_normal((20, 4)), "y": (np.arange(20) % 3 + 1.0)[:, None],
              **({"lambda": np.array([[1.5]])} if lam else {})}
    return write_mat(tmp_path / "course.mat", [matrix(k, v) for k, v in arrays.items()])


@pytest.mark.parametrize("lam", ["lambda", "1"])
def test_a_course_nncostfunction_passes_through_call(tmp_path: Path, lam: str) -> None:
    """nnCostFunction (sigmoid, regularised, unrolled [Theta1(:); Theta2(:)]) passes, its
    entries named by the blocks of the .mat, lambda from the file or written in."""
    r = check("--fn", str(EXAMPLES / "nnCostFunction.m"), "--data",
              _course(tmp_path, lam == "lambda"), "--call", COURSE_CALL.format(lam=lam),
              "--format", "json")
    assert r.exit_code == 0, r.output
    cell = json.loads(r.stdout)["cells"][0]
    assert [b["name"] for b in cell["blocks"]] == ["Theta1", "Theta2"]


def test_a_missing_regularisation_gradient_fails_localised(tmp_path: Path) -> None:
    """Without the lines adding (lambda / m) * Theta to the gradient, the check fails and
    the localisation names the wrong blocks, all but their bias columns."""
    source = (EXAMPLES / "nnCostFunction.m").read_text()
    buggy = re.sub(r"^Theta[12]_grad\(:, 2:end\) = .*\n", "", source, flags=re.MULTILINE)
    assert buggy != source
    (tmp_path / "nnCostFunction.m").write_text(buggy)
    r = check("--fn", str(tmp_path / "nnCostFunction.m"), "--data", _course(tmp_path),
              "--call", COURSE_CALL.format(lam="lambda"), "--format", "json")
    assert r.exit_code == 1, r.output
    loc = finding(json.loads(r.stdout), "localisation")
    assert "wrong: Theta1 (20 of 25), Theta2 (15 of 18)" in loc["message"]


def test_json_junit_and_directions_work_for_a_m_function(tmp_path: Path) -> None:
    """JSON to a file, JUnit, and --directions run through Octave like a Python function."""
    out = tmp_path / "r.json"
    r = check("--fn", str(SEED_M), "--data", str(SEED_MAT), "--directions", "8",
              "--output", str(out))
    assert r.exit_code == 1 and "8 directions" in json.loads(out.read_text())["cells"][0]["id"]
    r = CliRunner().invoke(main, ["check", "--fn", str(SEED_M), "--data", str(SEED_MAT),
                                  "--directions", "4", "--format", "json"])
    assert json.loads(r.stdout)["cells"][0]["status"] == "fail"


LINREG = """function [f, df] = linreg(W, X, Y)
% least squares: a smooth loss whose sweep is a clean V
r = X * W - Y;
f = 0.5 * sum(r .^ 2);
df = X' * r;
end
"""


def test_a_sweep_of_a_m_function_runs(tmp_path: Path) -> None:
    """relu-diag sweep --fn FILE.m sweeps a function through Octave: a V, exit 0."""
    (tmp_path / "linreg.m").write_text(LINREG)
    rng = np.random.default_rng(3)
    data = write_mat(tmp_path / "lin.mat", [matrix("W", rng.standard_normal((3, 1))),
                                            matrix("X", rng.standard_normal((10, 3))),
                                            matrix("Y", rng.standard_normal((10, 1)))])
    r = CliRunner().invoke(main, ["sweep", "--fn", str(tmp_path / "linreg.m"), "--data", data,
                                  "--format", "json"])
    assert r.exit_code == 0, r.output


def test_batches_make_one_round_trip_per_block_and_equal_single_calls() -> None:
    """losses() sends one request for a block of points (sparse and dense ones) and returns
    the same f as one call at a time."""
    host = open_host(Calling(str(SEED_M)), str(SEED_MAT))
    assert isinstance(host, OctaveHost)
    sent = []
    real = host.session.request
    host.session.request = lambda *p, **k: (sent.append(1), real(*p, **k))[1]  # type: ignore
    W = host.point.W
    rng = np.random.default_rng(0)
    points = [(W + 1e-3 * np.eye(W.size)[k], f"entry {k}") for k in range(5)]
    points += [(W + 1e-3 * rng.standard_normal(W.size), f"direction {k}") for k in range(3)]
    batched = host.losses(points)
    assert len(sent) == 1 and host.calls == 8
    one = [host.loss(Wk, where) for Wk, where in points]
    host.close()
    np.testing.assert_array_equal(batched, one)


SINGLE = """function [f, df] = single_net(W, X, Y)
% least squares computed in single precision
r = single(X) * single(W(1:3)) - single(Y);
f = 0.5 * sum(r .^ 2);
df = [single(X)' * r; zeros(numel(W) - 3, 1, 'single')];
end
"""

SCRIPT = """1;  % a script file: the functions below are defined when it runs
function [f, df] = quadratic(W, X, Y)
  f = 0.5 * sum(W .^ 2) + helper(W);
  df = W + 1;
end
function s = helper(W)
  s = sum(W);
end
"""


def _linear(tmp_path: Path) -> str:
    rng = np.random.default_rng(5)
    return write_mat(tmp_path / "lin.mat", [matrix("W", rng.standard_normal((4, 1))),
                                            matrix("X", rng.standard_normal((8, 3))),
                                            matrix("Y", rng.standard_normal((8, 1)))])


def test_a_single_precision_function_is_judged_in_float32(tmp_path: Path) -> None:
    """A function returning single f and df is judged with float32's error model."""
    (tmp_path / "single_net.m").write_text(SINGLE)
    r = check("--fn", str(tmp_path / "single_net.m"), "--data", _linear(tmp_path),
              "--format", "json")
    assert r.exit_code == 0, r.output
    assert "computes in float32" in finding(json.loads(r.stdout), "fn-precision")["message"]


def test_a_function_of_a_script_file_is_called_by_name(tmp_path: Path) -> None:
    """--fn script.m:NAME runs the script (its functions, helpers included) and calls NAME."""
    (tmp_path / "funcs.m").write_text(SCRIPT)
    r = check("--fn", f"{tmp_path / 'funcs.m'}:quadratic", "--data", _linear(tmp_path))
    assert r.exit_code == 0, r.output


def test_call_with_a_python_function_is_refused() -> None:
    """--call belongs to .m functions; with a Python --fn it is an option error (exit 2)."""
    r = check("--fn", f"{ROOT / 'examples' / 'seed_backprop.py'}:backprop", "--data",
              str(SEED_MAT), "--call", "backprop(W, X, Y)")
    assert r.exit_code == 2 and "--call" in r.stderr and "only with --fn FILE.m" in r.stderr
