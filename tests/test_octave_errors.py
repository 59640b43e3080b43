"""A .m function that cannot be checked: one line in MATLAB's terms and exit 2; a call over
--timeout and Ctrl-C stop Octave; no Octave process is left behind on any exit path."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from test_octave import ROOT, SEED_M, SEED_MAT, pytestmark  # noqa: E402, F401  (skip without Octave)

W5 = float(np.load(ROOT / "examples" / "seed_case.npz")["W"][4])  # seed_case.mat's W(5)
GOOD = "function [f, df] = {name}(W, X, Y)\n  f = 0.5 * sum(W .^ 2);\n  df = W;\nend\n"
CASES = {  # file name -> (body, extra arguments, what the one line says)
    "nonconformant": ("function [f, df] = nonconformant(W, X, Y)\n  f = sum(W);\n"
                      "  df = X * W;\nend\n", [],
                      "nonconformant.m:3: error: operator *: nonconformant arguments"),
    "one_output": ("function f = one_output(W, X, Y)\n  f = sum(W);\nend\n", [],
                   "called with too many outputs (it must return two outputs: [f, df])"),
    "df_size": ("function [f, df] = df_size(W, X, Y)\n  f = sum(W);\n  df = [W W];\nend\n",
                [], "df is 903x2 but W is 903x1 (at W)"),
    "f_matrix": ("function [f, df] = f_matrix(W, X, Y)\n  f = Y;\n  df = W;\nend\n", [],
                 "f must be a scalar loss; got a 16x3 double"),
    "f_text": ("function [f, df] = f_text(W, X, Y)\n  f = 'loss';\n  df = W;\nend\n", [],
               "f must hold real numbers; got a 1x4 char"),
    "syntax": ("function [f, df] = syntax(W, X, Y)\n  f = sum(W;\n  df = W;\nend\n", [],
               "syntax.m:2: error: parse error"),
    "later": ("function [f, df] = later(W, X, Y)\n  if W(5) > {w5!r}\n    error('too big');\n"
              "  end\n  f = sum(W); df = ones(size(W));\nend\n", [],
              "later.m:3: error: too big (raised by {ref} at W + 1e-06 along entry 4)"),
    "quits": ("function [f, df] = quits(W, X, Y)\n  exit(3);\nend\n", [], "Octave ended"),
    "bad_call": (GOOD, ["--call", "bad_call(W, X, Y"], "--call: got 'bad_call(W, X, Y'"),
    "typo": (GOOD, ["--call", "typo(W, X, lamda)"], "'lamda' undefined"),
    "no_such_name": (GOOD, [], "defines no function 'other'"),
    "with_arg": (GOOD, ["--arg", "lam=3"], "--arg"),
    "with_jobs": (GOOD, ["--jobs", "2"], "--jobs: got 2, expected 1 with a .m function"),
}


def _tagged(tag: str) -> list[int]:
    """Return the processes (other than this one) whose environment holds the tag."""
    mark = f"RELU_DIAG_TEST_TAG={tag}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                env = (d / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if mark in env:
                found.append(int(d.name))
    return found


def _gone(tag: str, wait: float = 5.0) -> bool:
    """True once no tagged process is left (within ``wait`` seconds)."""
    end = time.monotonic() + wait
    while _tagged(tag) and time.monotonic() < end:
        time.sleep(0.05)
    return not _tagged(tag)


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_unusable_m_function_is_one_matlab_line_and_exit_2(tmp_path: Path, name: str,
                                                              monkeypatch) -> None:
    """Each broken function or option gives exit 2 and one line naming the .m file and line
    (Octave's own message), and leaves no Octave running."""
    body, extra, says = CASES[name]
    (tmp_path / f"{name}.m").write_text(body.format(name=name, w5=W5 + 5e-7))
    ref = str(tmp_path / f"{name}.m") + (":other" if name == "no_such_name" else "")
    tag = uuid.uuid4().hex
    monkeypatch.setenv("RELU_DIAG_TEST_TAG", tag)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["check", "--fn", ref, "--data", str(SEED_MAT), *extra])
    gc.collect()
    assert r.exit_code == 2, r.output
    err = r.stderr.splitlines()[-1]
    assert err.startswith("relu-diag: error: ") and says.format(ref=ref) in err, r.stderr
    assert "Traceback" not in r.output and r.stdout == ""
    assert _gone(tag)


@pytest.mark.parametrize("env", [{"PATH": ""}, {"RELU_DIAG_OCTAVE": "/no/such/octave-cli"}])
def test_without_octave_the_package_to_install_is_named(env: dict, monkeypatch) -> None:
    """No Octave on PATH (or a wrong RELU_DIAG_OCTAVE): exit 2 naming the package octave."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = CliRunner().invoke(main, ["check", "--fn", str(SEED_M), "--data", str(SEED_MAT)])
    assert r.exit_code == 2
    assert "install GNU Octave (the package octave" in r.stderr and r.stderr.count("\n") == 1


def _run(tmp_path: Path, body: str, *extra: str) -> tuple[subprocess.Popen, str]:
    """Start relu-diag in its own process group, as a shell runs it, on a .m of ``body``."""
    (tmp_path / "slow.m").write_text(body)
    tag = uuid.uuid4().hex
    env = {**os.environ, "RELU_DIAG_TEST_TAG": tag}
    proc = subprocess.Popen([sys.executable, "-m", "relu_ce_diag", "check", "--fn",
                             str(tmp_path / "slow.m"), "--data", str(SEED_MAT), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    return proc, tag


FOREVER = "function [f, df] = slow(W, X, Y)\n  while true\n  end\nend\n"
LATE = ("function [f, df] = slow(W, X, Y)\n"  # hangs once W(5) moves up: in the first batch
        f"  if W(5) > {W5 + 5e-7!r}\n    while true\n    end\n  end\n"
        "  f = sum(W .^ 2); df = 2 * W;\nend\n")


@pytest.mark.parametrize(("body", "where"), [(FOREVER, "at W"),
                                            (LATE, "at W + 1e-06 along entry 4")],
                         ids=["at-W", "in-a-batch"])
def test_a_call_over_the_timeout_stops_octave(tmp_path: Path, body: str, where: str) -> None:
    """--timeout 1 stops a function that never returns (at W, or at one perturbed point in
    a batch): exit 2 within seconds, the point named, no Octave left."""
    start = time.monotonic()
    proc, tag = _run(tmp_path, body, "--timeout", "1")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert f"no answer within 1 s {where}" in err.decode() and "(--timeout)" in err.decode()
    assert time.monotonic() - start < 30
    assert _gone(tag)


def test_ctrl_c_stops_octave_and_exits_130(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the foreground group) while Octave computes: exit 130, the
    interruption said, and Octave is gone."""
    proc, tag = _run(tmp_path, FOREVER)
    end = time.monotonic() + 30
    while len(_tagged(tag)) < 2 and time.monotonic() < end:  # relu-diag and its Octave
        time.sleep(0.05)
    assert len(_tagged(tag)) >= 2
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err.decode()
    assert _gone(tag)


def test_no_octave_is_left_after_a_check_that_ran(tmp_path: Path) -> None:
    """A check that runs to its verdict leaves no Octave process, and Octave's own output
    (a missing semicolon) stays out of stdout."""
    body = "function [f, df] = slow(W, X, Y)\n  noise = 42\n  f = 0.5 * sum(W .^ 2);\n" \
        "  df = W;\nend\n"
    proc, tag = _run(tmp_path, body, "--directions", "2")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"noise" not in out and b"42" not in out
    assert _gone(tag)
