"""A user's function runs in a supervised child process: nothing it does reaches the report.

Each test is named after what it guards: os._exit and crashes, np.seterr, a module beside
the function named like the standard library's, hangs (--timeout), --jobs (same report bit
for bit, the calls spread, the first failing call reported), BaseException subclasses,
prints, odd return values, and the in-process path of the Python API.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag import check_function
from relu_ce_diag.check.calling import UserCode
from relu_ce_diag.check.host import InProcess
from relu_ce_diag.check.pace import _cores, forecast
from relu_ce_diag.check.process import Pool
from relu_ce_diag.check.process_host import encode
from relu_ce_diag.check.process_outcome import Done, Overran
from relu_ce_diag.check.process_worker import Beat
from relu_ce_diag.cli import main
from relu_ce_diag.errors import UserFunctionError
from relu_ce_diag.run.sweep import Interrupted, sweep_function
from relu_ce_diag.settings.params import flat_point

EXAMPLES = Path(__file__).parent / "examples"
W0 = np.array([0.3, -0.7, 1.1, 0.2, -0.4, 0.9])
HEAD = "import os, sys, time, signal, asyncio\nimport numpy as np\n"
CONSOLE = str(Path(sys.executable).with_name("relu-diag"))  # its sys.path[0] is not the cwd


def case(folder: Path, body: str, W: np.ndarray = W0) -> tuple[str, str]:
    """Write fn.py (imports, then ``body``) and case.npz; return the --fn ref and the data."""
    (folder / "fn.py").write_text(HEAD + textwrap.dedent(body))
    np.savez(folder / "case.npz", W=W, X=np.ones((3, 2)), Y=np.ones((3, 1)))
    return str(folder / "fn.py") + ":f", str(folder / "case.npz")


def check(ref: str, data: str, *extra: str) -> Any:
    """Run ``relu-diag check --fn`` in this process (the function runs in a worker)."""
    return CliRunner().invoke(main, ["check", "--fn", ref, "--data", data, *extra])


def one_error(r: Any) -> str:
    """Return the one error line of a run that exited 2 with nothing on stdout."""
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == "" and "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("relu-diag: error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


SQUARE = "def f(W, X, Y):\n    return float(W @ W), 2 * W\n"


@pytest.mark.parametrize("death, words", [
    ("os._exit(0)", "exited with code 0"),
    ("os.kill(os.getpid(), signal.SIGKILL)", "was killed by SIGKILL")])
def test_a_function_that_ends_its_process_is_exit_2_never_a_silent_pass(
        tmp_path: Path, death: str, words: str) -> None:
    """os._exit(0) (once exit 0 with no output) or a fatal signal: exit 2 naming both."""
    ref, data = case(tmp_path, f"def f(W, X, Y):\n    {death}\n")
    line = one_error(check(ref, data))
    assert "fn.py:f" in line and words in line


def test_np_seterr_raise_in_the_users_module_stays_in_the_users_calls(tmp_path: Path) -> None:
    """A module-level np.seterr(all="raise") used to turn relu-diag's own float32 cast of
    huge values into an internal error (exit 3); the check now runs, and this process's
    NumPy error state is untouched."""
    before = np.geterr()
    ref, data = case(tmp_path, """
        np.seterr(all="raise")
        def f(W, X, Y):
            e = np.exp(300 * W)
            return float(e.sum()), 300 * e
        """)
    r = check(ref, data)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert np.geterr() == before


def test_a_module_that_sets_seterr_keeps_it_for_its_calls_in_process(tmp_path: Path) -> None:
    """In-process too: loading restores relu-diag's error state; the user's calls get theirs
    (an overflow in their code is their FloatingPointError, named at their line)."""
    from relu_ce_diag.check.hosts import open_local
    from relu_ce_diag.settings.function import Calling

    ref, data = case(tmp_path, """
        np.seterr(over="raise")
        def f(W, X, Y):
            return float(np.float64(1e300) * 1e10), W
        """)
    before, path = np.geterr(), list(sys.path)
    try:
        host = open_local(Calling(ref), data)
        assert np.geterr() == before
        with pytest.raises(UserFunctionError, match=r"fn\.py:\d+: FloatingPointError: overflow"):
            host.value_and_grad(W0)
        assert np.geterr() == before
    finally:  # this test loads into this process on purpose: leave no trace for the others
        sys.path[:] = path
        sys.modules.pop("fn", None)


@pytest.mark.parametrize("command", [[CONSOLE], [sys.executable, "-m", "relu_ce_diag"]],
                         ids=["relu-diag", "python -m"])
def test_a_secrets_py_beside_the_function_does_not_replace_the_standard_librarys(
        tmp_path: Path, command: list[str]) -> None:
    """secrets.py and hmac.py in the user's folder (the working folder too): NumPy used to
    import them (exit 3); a real process checks the function (exit 0), also started as
    ``python -m relu_ce_diag``, which puts the working folder first on the path."""
    (tmp_path / "secrets.py").write_text("raise RuntimeError('not the standard library')\n")
    (tmp_path / "hmac.py").write_text("raise RuntimeError('not the standard library')\n")
    ref, data = case(tmp_path, SQUARE)
    proc = subprocess.run([*command, "check", "--fn", "fn.py:f", "--data", "case.npz"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "pass" in proc.stdout


def test_checking_a_file_leaves_this_processs_path_and_modules_alone(tmp_path: Path) -> None:
    """The user's folder is not put on relu-diag's sys.path, nor their module imported here."""
    (tmp_path / "helper_iso_c.py").write_text("K = 2.0\n")
    ref, data = case(tmp_path, "from helper_iso_c import K\n"
                     "def f(W, X, Y):\n    return float(W @ W), K * W\n")
    path = list(sys.path)
    assert check(ref, data).exit_code == 0
    assert sys.path == path and str(tmp_path) not in sys.path
    assert not [m for m in list(sys.modules.values())
                if str(getattr(m, "__file__", None)).startswith(str(tmp_path))]


def test_the_python_api_calls_a_closure_in_this_process() -> None:
    """check_function takes closures (not picklable): every call happens in this process."""
    pids: list[int] = []

    def f(W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        pids.append(os.getpid())
        return float(W @ W), 2 * W

    result = check_function(f, W0, np.ones((3, 2)), np.ones((3, 1)))
    assert result.status == "pass" and set(pids) == {os.getpid()} and len(pids) >= 12


HANGS_AT_ENTRY_4 = f"""
W0 = np.array({W0.tolist()})
def f(W, X, Y):
    if list(np.flatnonzero(W != W0)) == [4]:
        time.sleep(60)
    return float(W @ W), 2 * W
"""


def test_a_call_past_timeout_is_exit_2_naming_the_function_and_the_limit(
        tmp_path: Path) -> None:
    """A perturbed call that hangs is stopped at --timeout: one line naming the function,
    the limit and the call, long before the hang would end."""
    ref, data = case(tmp_path, HANGS_AT_ENTRY_4)
    start = time.monotonic()
    line = one_error(check(ref, data, "--timeout", "0.5", "--jobs", "2"))
    assert time.monotonic() - start < 20
    assert re.search(r"fn\.py:f ran longer than --timeout 0\.5 s at W [+-] 1e-06 along entry 4; "
                     "it was stopped", line), line


def test_a_module_that_hangs_while_loading_is_stopped_by_timeout(tmp_path: Path) -> None:
    """Loading counts too: a module that trains a model at import is stopped at --timeout."""
    ref, data = case(tmp_path, "time.sleep(60)\n" + SQUARE)
    line = one_error(check(ref, data, "--timeout", "0.5"))
    assert "ran longer than --timeout 0.5 s while loading" in line


class Sleeper:
    """A worker setup whose handler sleeps the seconds it is sent, then returns them."""

    def __call__(self, beat: Beat) -> Any:
        def handle(seconds: float) -> float:
            beat.start(0)
            time.sleep(seconds)
            return seconds
        return handle


def test_a_request_past_timeout_is_its_own_outcome_and_the_rest_run() -> None:
    """The pool stops the overrunning request (its outcome says so), replaces the worker,
    and the other requests finish: what a grid needs for a timed-out cell's error row."""
    pool = Pool(Sleeper(), jobs=2, timeout=0.5)
    try:
        got = dict(pool.run([0.01, 30.0, 0.02, 0.03, 0.04]))
    finally:
        pool.close()
    assert isinstance(got[1], Overran) and got[1].seconds == 0.5
    assert {i: o.value for i, o in got.items() if isinstance(o, Done)} == {
        0: 0.01, 2: 0.02, 3: 0.03, 4: 0.04}


def _case_data(folder: Path) -> str:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import nets
    finally:
        sys.path.remove(str(EXAMPLES))
    W, X, Y = nets.case(1)
    np.savez(folder / "net.npz", W=W, X=X, Y=Y)
    return str(folder / "net.npz")


def test_stencil_points_travel_to_a_worker_bit_for_bit() -> None:
    """A batch rebuilds every point exactly: one moved entry, -0.0 turned to 0.0, NaN, a
    point moved everywhere, another dtype, an unmoved point."""
    base = np.array([0.0, -0.0, np.nan, 1.5, 2.0, 3.0])
    moved = base.copy()
    moved[3] += 1e-6
    zero = base.copy()
    zero[1] = 0.0
    points = [moved, zero, base + 1.0, base.astype(np.float32), base.copy()]
    batch = encode([(W, f"p{i}") for i, W in enumerate(points)], base)
    assert sorted(batch.whole) == [2, 3] and batch.wheres == [f"p{i}" for i in range(5)]
    for i, W in enumerate(points):
        got = batch.point(i, base)
        assert got.dtype == W.dtype and got.tobytes() == W.tobytes()


@pytest.mark.parametrize("extra", [(), ("--directions", "7")])
def test_jobs_2_gives_the_report_of_jobs_1_bit_for_bit(tmp_path: Path,
                                                       extra: tuple[str, ...]) -> None:
    """--jobs 2 (the announcement's advice) gives byte-identical JSON to --jobs 1."""
    data = _case_data(tmp_path)
    ref = f"{EXAMPLES / 'correct.py'}:relu_sigmoid_ce"
    runs = [check(ref, data, "--format", "json", "--jobs", j, *extra) for j in ("1", "2")]
    assert [r.exit_code for r in runs] == [0, 0], runs[1].stderr
    assert runs[0].stdout == runs[1].stdout and json.loads(runs[0].stdout)["cells"]


def test_jobs_spreads_the_calls_over_that_many_worker_processes(tmp_path: Path) -> None:
    """With --jobs 2 the calls run in two worker processes, none of them this one."""
    log = tmp_path / "pids.txt"
    ref, data = case(tmp_path, f"""
        def f(W, X, Y):
            with open({str(log)!r}, "a") as out:
                out.write(f"{{os.getpid()}}\\n")
            return float(W @ W), 2 * W
        """)
    assert check(ref, data, "--jobs", "2").exit_code == 0
    pids = set(log.read_text().split())
    assert len(pids) == 2 and str(os.getpid()) not in pids


RAISES_AT_3_AND_5 = f"""
W0 = np.array({W0.tolist()})
def f(W, X, Y):
    moved = list(np.flatnonzero(W != W0))
    if moved == [3]:
        time.sleep(0.3)  # with --jobs 2 the error at entry 5 arrives first
        raise ValueError("entry 3")
    if moved == [5]:
        raise ValueError("entry 5")
    return float(W @ W), 2 * W
"""


def test_a_raising_function_with_jobs_reports_the_call_jobs_1_reports(tmp_path: Path) -> None:
    """The first failing call in order is reported, whichever worker finished first."""
    ref, data = case(tmp_path, RAISES_AT_3_AND_5)
    lines = [one_error(check(ref, data, "--jobs", j)) for j in ("1", "2")]
    assert lines[0] == lines[1] and "ValueError: entry 3" in lines[0]
    assert "along entry 3" in lines[0]


RAISES_AT_0_HANGS_AT_5 = f"""
W0 = np.array({W0.tolist()})
def f(W, X, Y):
    moved = list(np.flatnonzero(W != W0))
    if moved == [0] and W[0] > W0[0]:
        time.sleep(0.5)  # meanwhile the other worker reaches entry 5 and hangs there
        raise ValueError("entry 0")
    if moved == [5]:
        time.sleep(60)
    return float(W @ W), 2 * W
"""


def test_a_raising_call_stops_the_workers_busy_with_later_calls(tmp_path: Path) -> None:
    """Once the first failing call in order is known, the workers still busy with later
    calls (one hangs) are stopped rather than waited for."""
    ref, data = case(tmp_path, RAISES_AT_0_HANGS_AT_5)
    start = time.monotonic()
    line = one_error(check(ref, data, "--jobs", "2"))
    assert "ValueError: entry 0" in line and time.monotonic() - start < 20


def test_the_announcement_says_how_long_it_will_take(tmp_path: Path) -> None:
    """The pre-flight line gives the time per call (timed at W) and the estimate."""
    ref, data = case(tmp_path, SQUARE)
    r = check(ref, data)
    assert r.exit_code == 0
    assert re.search(r"fn\.py:f: 12 calls \(6 entries x 2\).*; .+ at [\d.e-]+ ms per call "
                     r"\(timed at W\)", r.stderr)


def test_a_long_check_suggests_jobs_and_directions() -> None:
    """A long estimate suggests --jobs N (N cores) and --directions; a short one does not."""
    host = SimpleNamespace(label="big.py:f", point=SimpleNamespace(W=np.zeros(50_000)), jobs=1)
    long = forecast(host, None, seconds=0.002)  # type: ignore[arg-type]
    assert "100000 calls (50000 entries x 2)" in long and "about 3 min" in long
    assert "--directions K checks K random directions" in long
    assert ("--jobs" in long) == (_cores() > 1)
    host.point.W = np.zeros(50)
    assert "--" not in forecast(host, None, seconds=0.002)  # type: ignore[arg-type]


@pytest.mark.parametrize("statement, words", [
    ("raise GeneratorExit('stop')", "GeneratorExit: stop"),
    ("raise asyncio.CancelledError('cancel')", "CancelledError: cancel"),
    ("raise Custom('mine')", "Custom: mine"),
    ("import pytest; pytest.fail('failed here')", "Failed: failed here")])
@pytest.mark.parametrize("where", ["call", "import"])
def test_a_baseexception_from_user_code_is_exit_2_with_its_line(
        tmp_path: Path, statement: str, words: str, where: str) -> None:
    """GeneratorExit, CancelledError, pytest's Failed or a custom BaseException (once a
    traceback and exit 1) is the one-line user error: file:line: Type: message."""
    body = "class Custom(BaseException):\n    pass\n"
    body += (f"{statement}\n{SQUARE}" if where == "import"
             else f"def f(W, X, Y):\n    {statement}\n")
    ref, data = case(tmp_path, body)
    line = one_error(check(ref, data))
    assert re.search(rf"fn\.py:\d+: {re.escape(words)} \((raised by \S*fn\.py:f at W|while "
                     rf"loading \S*fn\.py)", line), line


def test_keyboardinterrupt_from_the_function_stays_an_interrupt(tmp_path: Path) -> None:
    """The user's own KeyboardInterrupt is an interrupt: exit 130, not a user error."""
    ref, data = case(tmp_path, "def f(W, X, Y):\n    raise KeyboardInterrupt\n")
    r = check(ref, data)
    assert r.exit_code == 130 and "interrupted" in r.stderr


def test_a_baseexception_from_a_closure_is_a_user_error_in_process() -> None:
    """The Python API words a GeneratorExit from a closure like any exception."""
    def f(W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> None:
        raise GeneratorExit("closed")

    with pytest.raises(UserFunctionError, match=r"GeneratorExit: closed \(raised by .*f at W"):
        check_function(f, W0, np.ones((3, 2)), np.ones((3, 1)))


PRINTS = """
def f(W, X, Y):
    print("cost", float(W @ W))
    os.write(1, b"raw write to fd 1\\n")
    return float(W @ W), 2 * W
"""


@pytest.mark.parametrize("command", [
    ["check", "--format", "json"], ["check"], ["check", "--output", "{tmp}/r.json"],
    ["check", "--jobs", "2", "--format", "json"],
    ["sweep", "--format", "json", "--steps", "1e-3,1e-5"], ["sweep", "--steps", "1e-3,1e-5"]])
def test_a_printing_function_never_reaches_stdout(tmp_path: Path, command: list[str]) -> None:
    """Course code prints the cost every call: in every command and format stdout holds the
    report alone (JSON parses). (Grids take no functions yet.)"""
    ref, data = case(tmp_path, PRINTS)
    args = [a.format(tmp=tmp_path) for a in command]
    r = CliRunner().invoke(main, [*args, "--fn", ref, "--data", data])
    assert r.exit_code == 0, r.stderr
    assert "cost" not in r.stdout and "raw write" not in r.stdout
    if "json" in command:
        json.loads(r.stdout)


def test_a_printing_function_leaves_a_real_processs_stdout_to_the_json(tmp_path: Path) -> None:
    """In a real process (fd 1 shared with the worker) stdout is exactly the JSON report;
    the prints, from Python and from a raw write to fd 1, go to stderr."""
    ref, data = case(tmp_path, PRINTS)
    proc = subprocess.run([sys.executable, "-m", "relu_ce_diag", "check", "--fn", ref,
                           "--data", data, "--format", "json"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cells"][0]["status"] == "pass"
    assert "cost" in proc.stderr and "raw write to fd 1" in proc.stderr


def test_the_python_api_sends_the_functions_prints_to_stderr(
        capsys: pytest.CaptureFixture[str]) -> None:
    """In-process too, a function's prints go to stderr, never stdout."""
    def f(W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        print("cost", float(W @ W))
        return float(W @ W), 2 * W

    check_function(f, W0, np.ones((3, 2)), np.ones((3, 1)))
    out, err = capsys.readouterr()
    assert out == "" and "cost" in err


class Unconvertible:
    """An object whose conversion to an array raises (a tensor that requires grad)."""

    def __array__(self, *args: object, **kw: object) -> np.ndarray:
        raise RuntimeError("cannot convert a tensor that requires grad")


ODD = [
    (lambda W: (float(W @ W), Unconvertible()), "df must hold real numbers; got a "
     "Unconvertible, which NumPy cannot convert"),
    (lambda W: (float(W @ W), np.ma.masked_array(2 * W, mask=W > 1)), "df is a masked array "
     "with 1 masked entry"),
    (lambda W: (float(W @ W), np.ma.masked_array(np.arange(W.size), mask=W > 1)),
     "df is a masked array with 1 masked entry"),
    (lambda W: (np.ma.masked, 2 * W), "f is a masked array"),
    (lambda W: (10 ** 400, 2 * W), "f must be a real scalar loss; got an integer of 401 "
     "digits, too large for a float"),
    (lambda W: (1.0, [10 ** 400, *W[1:]]), "df must hold real numbers; got an integer of 401 "
     "digits"),
    (lambda W: (1.0, (x for x in W)), "df must hold real numbers; got a generator"),
    (lambda W: (1 + 2j, 2 * W), "f must be a real scalar loss; got a complex"),
    (lambda W: (True, 2 * W), "f must be a real scalar loss; got a bool"),
    (lambda W: (1.0, np.asmatrix(2 * W).T.T.reshape(2, 3)), "df has shape (2, 3)"),
]


@pytest.mark.parametrize("make, words", ODD, ids=[w[:30] for _, w in ODD])
def test_an_odd_return_value_is_one_clear_user_error(make: Any, words: str) -> None:
    """Objects NumPy cannot convert, masked arrays, huge integers, complex, a matrix of the
    wrong shape: a UserFunctionError naming it (exit 2), no warning, never another error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # the test's own np.matrix
        code = UserCode(lambda W, X, Y: make(W), flat_point(W0, np.ones((3, 2)),
                                                               np.ones((3, 1))), "fn.py:f")
        with pytest.raises(UserFunctionError) as exc:
            code.value_and_grad(W0)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_a_matrix_of_the_right_shape_is_a_gradient() -> None:
    """np.matrix is converted to a plain array: a (1, P) matrix of the right values passes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        code = UserCode(lambda W, X, Y: (float(W @ W), np.asmatrix(2 * W)),
                        flat_point(W0, np.ones((3, 2)), np.ones((3, 1))), "fn.py:f")
        call = code.value_and_grad(W0)
    assert type(call.df) is np.ndarray and np.array_equal(call.df, 2 * W0)


def test_a_masked_integer_gradient_through_the_cli_is_exit_2(tmp_path: Path) -> None:
    """A masked integer array (once a TypeError from filling it with NaN: exit 3): exit 2."""
    ref, data = case(tmp_path, "def f(W, X, Y):\n    return float(W @ W), "
                     "np.ma.masked_array(np.arange(W.size), mask=W > 1)\n")
    assert "df is a masked array with 1 masked entry" in one_error(check(ref, data))


def test_ctrl_c_during_a_function_sweep_keeps_the_finished_steps() -> None:
    """An interrupt in the third step of a sweep of a user's function carries the two
    finished steps, classified, for the CLI to print."""
    calls = [0]

    def f(W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        calls[0] += 1
        if calls[0] > 7 + 2 * 6 * 3:  # the check's own calls, then two steps of 12
            raise KeyboardInterrupt
        return float(W @ W), 2 * W

    host = InProcess(UserCode(f, flat_point(W0, np.ones((3, 2)), np.ones((3, 1))), "f"))
    with pytest.raises(Interrupted) as exc:
        sweep_function(host, [1e-2, 1e-3, 1e-4, 1e-5])
    assert exc.value.sweep is not None and len(exc.value.sweep.points) == 2
    assert str(exc.value) == "interrupted after 2 of 5 steps"


@pytest.mark.parametrize("body", [
    "def f(W, X, Y):\n    W = W.astype(np.float16)\n    return W @ W, 2 * W\n",
    "def f(W, X, Y):\n    W = W.astype(np.float16)\n"
    "    return float(W @ W), (2 * W).astype(np.float64)\n"])
def test_a_float16_function_is_refused_not_misjudged(tmp_path: Path, body: str) -> None:
    """f = W.W, df = 2W computed in float16 (returned as float16, or as float64 values that
    are all exactly float16) is refused in one line, exit 2: at 11 bits no verdict would mean
    anything, and it was failed as kinks or a flat loss that do not exist."""
    ref, data = case(tmp_path, body, W=np.random.default_rng(0).standard_normal(20))
    r = check(ref, data)
    assert r.exit_code == 2, r.stdout
    assert "computes in float16" in r.stderr and "float32 or float64" in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2 and "Traceback" not in r.stderr


def test_a_call_with_the_wrong_arguments_names_the_function_not_relu_diag(
        tmp_path: Path) -> None:
    """f(W, X) called as f(W, X, Y) fails before its first line: the one line names the
    function and the error, never a file of relu-diag's own."""
    ref, data = case(tmp_path, "def f(W, X):\n    return float(W @ W), 2 * W\n")
    line = one_error(check(ref, data))
    assert "TypeError: f() takes 2 positional arguments" in line and "fn.py:f" in line
    assert "relu_ce_diag" not in line and "calling.py" not in line
