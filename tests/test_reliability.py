"""The hardening issue, second round: each defect found by attacking relu-diag's own promises
has a test named after what it guards (inputs, outputs and resource bounds).

Outputs never replace an input of the run or a special file; YAML aliases, .npz headers,
random directions and estimated time bound what a small input can make relu-diag do; exit
codes stay 0/1/2 for the user's environment (a closed pipe, a full disk, an ASCII terminal).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.errors import ReluDiagError
from relu_ce_diag.numeric.directions import Directions, direction_rng, random_directions
from relu_ce_diag.report import files
from relu_ce_diag.settings.grid_file import load_grid

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "smoke.yaml"
SEED_FN = ROOT / "examples" / "seed_backprop.py"
SEED_DATA = ROOT / "examples" / "seed_case.npz"
ENV = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "RELU_DIAG_DEBUG")}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error(stderr: str) -> str:
    """Return the single error line of ``stderr`` (asserting there is exactly one)."""
    errors = [ln for ln in stderr.splitlines() if ln.startswith("relu-diag: error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def _cli(args: list[str], stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess:
    """Run relu-diag in a fresh interpreter (real stdout and stderr)."""
    return subprocess.run([sys.executable, "-m", "relu_ce_diag", *args], env=ENV,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)


@pytest.fixture
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding case.npz (W X Y), model.py (the seed's backprop) and g.yaml (a grid
    whose cell reads case.npz); it is the working folder."""
    shutil.copy(SEED_DATA, tmp_path / "case.npz")
    shutil.copy(SEED_FN, tmp_path / "model.py")
    (tmp_path / "g.yaml").write_text("cells:\n  - {act: relu, data: case.npz}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# 1. --output / --save-grads / --plot never write over an input of the same run

OVERWRITES = [
    (["check", "--data", "case.npz", "--output", "case.npz"], "case.npz"),
    (["check", "--data", "case.npz", "--save-grads", "case.npz"], "case.npz"),
    (["check", "--fn", "model.py:backprop", "--data", "case.npz", "--output", "model.py"],
     "model.py"),
    (["check", "--fn", "model:backprop", "--data", "case.npz", "--output", "model.py"],
     "model.py"),
    (["check", "--data", "case.npz", "--output", "link.npz"], "case.npz"),
    (["check", "--data", "case.npz", "--save-grads", "hard.npz"], "case.npz"),
    (["grid", "g.yaml", "--output", "g.yaml"], "g.yaml"),
    (["grid", "g.yaml", "--output", "case.npz"], "case.npz"),
    (["sweep", "--no-chart", "--data", "case.npz", "--output", "case.npz"], "case.npz"),
    (["sweep", "--fn", "model.py:backprop", "--data", "case.npz", "--output", "model.py"],
     "model.py"),
    (["check", "--output", "r.json", "--save-grads", "r.json"], None),
]


@pytest.mark.parametrize(("args", "victim"), OVERWRITES, ids=[" ".join(a) for a, _ in OVERWRITES])
def test_outputs_never_overwrite_an_input_of_the_run(case: Path, args: list[str],
                                                     victim: str | None) -> None:
    """Writing over an input (links followed) is exit 2 before any work, naming both files."""
    (case / "link.npz").symlink_to("case.npz")
    os.link(case / "case.npz", case / "hard.npz")
    before = {p.name: _digest(p) for p in case.iterdir() if p.is_file()}
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and r.stdout == "", (r.exit_code, r.stdout)
    line = _one_error(r.stderr)
    assert args[-1] in line and (victim is None or victim in line), line
    assert {p.name: _digest(p) for p in case.iterdir() if p.is_file()} == before
    assert not (case / "r.json").exists()


# 2. a special file is written into (device, FIFO) or refused, never replaced

def test_special_files_are_written_into_never_replaced(case: Path) -> None:
    """A FIFO or device is written into, a link's target replaced, a socket refused."""
    os.mkfifo(case / "fifo")
    reader = subprocess.Popen(["cat", str(case / "fifo")], stdout=subprocess.PIPE)
    r = CliRunner().invoke(main, ["check", "--hidden", "3", "--output", "fifo"])
    got = reader.communicate(timeout=60)[0]
    assert r.exit_code == 1 and got.startswith(b"{") and (case / "fifo").is_fifo()
    (case / "old.json").write_text("old")
    (case / "out.json").symlink_to("old.json")
    r = CliRunner().invoke(main, ["check", "--hidden", "3", "--output", "out.json"])
    assert r.exit_code == 1 and (case / "out.json").is_symlink()
    assert (case / "old.json").read_text().startswith("{")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind("sock")
        r = CliRunner().invoke(main, ["check", "--hidden", "3", "--output", "sock"])
        assert r.exit_code == 2 and "not a regular file" in _one_error(r.stderr)
    finally:
        sock.close()
    if os.geteuid() == 0:  # a copy of /dev/null: the real one is never risked
        os.mknod(case / "null", 0o666 | 0o020000, os.makedev(1, 3))
        r = CliRunner().invoke(main, ["check", "--hidden", "3", "--output", "null"])
        assert r.exit_code == 1 and (case / "null").is_char_device()


# 3. YAML alias bombs and non-regular or huge grid files

def _alias_bomb(path: Path, levels: int = 8, width: int = 9) -> None:
    lines = ["a0: &a0 [" + ",".join(['"lol"'] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]"
              for i in range(1, levels + 1)]
    path.write_text("\n".join(lines) + f"\ngrid: {{act: *a{levels}}}\n")


def test_a_yaml_alias_bomb_is_refused_before_any_walk(tmp_path: Path) -> None:
    """A 450-byte bomb of 43 million aliased values is refused in seconds and a few MB."""
    _alias_bomb(tmp_path / "bomb.yaml")
    assert (tmp_path / "bomb.yaml").stat().st_size < 500
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ReluDiagError, match="bomb.yaml: .*aliases.*expanded"):
            load_grid(str(tmp_path / "bomb.yaml"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 5 and peak < 50 << 20, peak


def test_aliases_keep_line_numbers_and_merge_keys(tmp_path: Path) -> None:
    """Ordinary anchors and merge keys still load, and an error under an alias names a line."""
    f = tmp_path / "g.yaml"
    f.write_text("base: &b {act: relu, loss: se}\ncells:\n  - {<<: *b, act: tanh}\n"
                 "  - *b\n")
    with pytest.raises(ReluDiagError, match=r"g\.yaml:1: base"):
        load_grid(str(f))  # base: is not a grid key; its line is still known
    f.write_text("defaults: &d {hidden: 3}\ncells:\n  - {<<: *d, act: tanh, loss: se}\n"
                 "  - {<<: *d, act: rleu}\n")
    with pytest.raises(ReluDiagError, match=r"g\.yaml:4: cells\[1\]\.act.*did you mean"):
        load_grid(str(f))


def test_a_grid_file_must_be_a_regular_file_of_sane_size(tmp_path: Path) -> None:
    """/dev/zero, a FIFO (without blocking) and a 9 MB file are refused before reading."""
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "big.yaml").write_bytes(b"#" * (9 << 20))
    for name, words in (("/dev/zero", "not a regular file"),
                        (str(tmp_path / "fifo.yaml"), "not a regular file"),
                        (str(tmp_path / "big.yaml"), "larger than")):
        r = CliRunner().invoke(main, ["grid", name])
        assert r.exit_code == 2 and words in _one_error(r.stderr), r.stderr


# 4. --directions K: lazy rows, and K bounded before the work

def test_directions_are_lazy_reproducible_rows() -> None:
    """V is (K, P) but draws row k alone, the same row every time, unit norm."""
    V = random_directions(direction_rng(4), 10**9, 10**6)
    assert isinstance(V, Directions) and V.shape == (10**9, 10**6) and len(V) == 10**9
    row = V[123_456_789]
    assert row.shape == (10**6,) and np.allclose(np.abs(row), 1e-3)
    assert np.linalg.norm(row) == pytest.approx(1.0)
    again = random_directions(direction_rng(4), 10**9, 10**6)
    assert np.array_equal(again[123_456_789], row) and not np.array_equal(V[7], row)
    small = random_directions(direction_rng(4), 5, 30)
    assert np.array_equal(np.asarray(small)[3], small[3]) and np.asarray(small).shape == (5, 30)
    with pytest.raises(IndexError):
        small[5]


def test_directions_k_is_bounded_before_the_work() -> None:
    """A huge K is refused before the work; K rows of a large W are never held at once."""
    r = CliRunner().invoke(main, ["check", "--hidden", "2", "--directions", "100000000"])
    assert r.exit_code == 2 and r.stdout == ""
    assert "--force" in _one_error(r.stderr)
    from relu_ce_diag.run.cell import run_cell
    from relu_ce_diag.settings.cells import CellSpec
    tracemalloc.start()
    try:
        with np.errstate(all="ignore"):
            r2 = run_cell(CellSpec(inputs=100, hidden=(2000,), outputs=2, samples=2),
                          directions=40)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * r2.n_params * 8 / 3, peak  # the (K, P) matrix alone would be 63 MB


# 5. .npz headers: bytes, not counts; odd dtypes; memory of the whole cell

def _npz(path: Path, arrays: dict[str, tuple[object, tuple[int, ...]]]) -> None:
    """Write an .npz whose members declare (descr, shape) in their headers, with 1 MB data."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, (descr, shape) in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as fp:
                np.lib.format.write_array_header_1_0(
                    fp, {"descr": descr, "fortran_order": False, "shape": shape})
                fp.write(b"\0" * (1 << 20))


@pytest.mark.parametrize("descr", ["|V50000000", [("a", "<f8", (10**7,))], [("a", "<f8")],
                                   "<c16", "|b1", "<M8[s]"])
def test_npz_dtype_bombs_are_refused_from_the_header(tmp_path: Path, descr: object) -> None:
    """Void, subarray, structured and other non-real dtypes are refused from the header."""
    _npz(tmp_path / "bomb.npz", {"X": (descr, (30, 1)), "Y": ("<f8", (30, 2))})
    tracemalloc.start()
    try:
        r = CliRunner().invoke(main, ["check", "--data", str(tmp_path / "bomb.npz")])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.exit_code == 2 and "expected real numbers" in _one_error(r.stderr)
    assert peak < 50 << 20, peak


def test_a_cells_memory_is_estimated_from_the_headers(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrays too large together are refused unloaded; a .npy as --data is exit 2."""
    _npz(tmp_path / "wide.npz", {"X": ("<f8", (3 * 10**8, 1)), "Y": ("<f8", (3 * 10**8, 1))})
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("loaded"))
    r = CliRunner().invoke(main, ["check", "--data", str(tmp_path / "wide.npz")])
    assert r.exit_code == 2 and "GiB" in _one_error(r.stderr)
    monkeypatch.undo()
    np.save(tmp_path / "x.npy", np.ones(3))
    r = CliRunner().invoke(main, ["check", "--data", str(tmp_path / "x.npy")])
    assert r.exit_code == 2 and "single .npy array" in _one_error(r.stderr)


# 6. every run is bounded by an estimated time

def test_every_run_is_bounded_by_estimated_time(tmp_path: Path) -> None:
    """A slow cell, a 200-step sweep and a slow grid are refused up front with the estimate."""
    r = CliRunner().invoke(main, ["check", "--inputs", "2", "--hidden", "499999",
                                  "--outputs", "1", "--targets", "multilabel", "--act", "tanh"])
    line = _one_error(r.stderr)
    assert r.exit_code == 2 and "would take about" in line and "--force" in line, line
    sweep = ["sweep", "--act", "tanh", "--hidden", "300", "--inputs", "100", "--samples", "64",
             "--no-chart", "--steps"]
    r = CliRunner().invoke(main, [*sweep, "1e-1:1e-12:200"])
    assert r.exit_code == 2 and "200 steps" in _one_error(r.stderr)
    r = CliRunner().invoke(main, ["sweep", "--act", "tanh", "--hidden", "3", "--no-chart",
                                  "--steps", "1e-2,1e-4,1e-6"])
    assert r.exit_code in (0, 1), r.stderr
    (tmp_path / "g.yaml").write_text("defaults: {act: tanh, hidden: 300, inputs: 100, "
                                     f"samples: 64}}\ngrid: {{seed: {list(range(40))}}}\n")
    r = CliRunner().invoke(main, ["grid", str(tmp_path / "g.yaml")])
    assert r.exit_code == 2 and "the grid would take" in _one_error(r.stderr)


# 7. an unwritable target is refused before the work

def test_an_unwritable_output_is_refused_before_the_work(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only folder or file: exit 2 with nothing on stdout (no table first)."""
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro.json").write_text("{}")
    real_access = os.access
    ro = {str(tmp_path / "ro"), str(tmp_path / "ro.json")}
    monkeypatch.setattr(files.os, "access",  # root may write anywhere: pretend it may not
                        lambda p, mode, **kw: str(p) not in ro and real_access(p, mode, **kw))
    for target, words in ((tmp_path / "ro" / "x.json", "not writable"),
                          (tmp_path / "ro.json", "read-only")):
        for args in (["check", "--hidden", "3"], ["grid", str(SMOKE)],
                     ["sweep", "--hidden", "3", "--no-chart"]):
            r = CliRunner().invoke(main, [*args, "--output", str(target)])
            assert r.exit_code == 2 and r.stdout == "", (args, r.stdout)
            assert words in _one_error(r.stderr)


# 8. exit 3 where 2 or 1 is due

def test_large_integers_in_a_grid_are_input_errors(tmp_path: Path) -> None:
    """An integer of 10^400 (or of 5000 digits) in a grid is exit 2 with a short message."""
    for key in ("samples", "inputs", "hidden", "eps", "step", "outputs"):
        (tmp_path / "g.yaml").write_text(f"grid:\n  act: [relu]\n  {key}: [{10**400}]\n")
        r = CliRunner().invoke(main, ["grid", str(tmp_path / "g.yaml")])
        assert r.exit_code == 2 and len(_one_error(r.stderr)) < 400, (key, r.stderr)
    (tmp_path / "g.yaml").write_text("grid:\n  seed: [" + "9" * 5000 + "]\n")
    r = CliRunner().invoke(main, ["grid", str(tmp_path / "g.yaml")])
    assert r.exit_code == 2 and "cannot be read" in _one_error(r.stderr)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("args", [["check", "--hidden", "3"], ["check", "--format", "json"],
                                  ["grid", str(SMOKE), "--format", "junit"]])
def test_a_full_stdout_is_exit_2_in_one_line(args: list[str]) -> None:
    """stdout on a full device: exit 2 and one line, no 'Exception ignored' at exit."""
    with open("/dev/full", "w") as full:
        r = _cli(args, stdout=full)
    assert r.returncode == 2 and "cannot write" in _one_error(r.stderr), r.stderr
    assert "Exception ignored" not in r.stderr


@pytest.mark.parametrize(("args", "code"), [
    (["grid", str(SMOKE)], 0), (["grid", str(SMOKE), "--format", "json"], 0),
    (["check", "--hidden", "3"], 1), (["sweep", "--hidden", "3", "--act", "tanh", "--loss",
                                       "se", "--backprop", "exact"], 0)])
def test_a_closed_pipe_keeps_the_runs_exit_code(args: list[str], code: int) -> None:
    """A reader gone before the first write (| head -1) leaves the run's own exit code."""
    proc = subprocess.Popen([sys.executable, "-m", "relu_ce_diag", *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader stops at once: every write meets a broken pipe
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code and err == b"", (proc.returncode, err)


@pytest.mark.parametrize("args", [["sweep", "--hidden", "3"], ["check", "--hidden", "3"],
                                  ["grid", "g.yaml"], ["grid", "g.yaml", "--format", "junit"],
                                  ["explain", "pairing"]])
def test_an_ascii_only_terminal_gets_ascii(tmp_path: Path, args: list[str]) -> None:
    """With PYTHONIOENCODING=ascii every report prints in ASCII with the run's exit code."""
    (tmp_path / "g.yaml").write_text('cells:\n  - {act: tanh, loss: se, backprop: exact, '
                                     'hidden: 3, id: "café ●"}\n')
    r = subprocess.run([sys.executable, "-m", "relu_ce_diag", *args], cwd=tmp_path,
                       env={**ENV, "PYTHONIOENCODING": "ascii"}, capture_output=True,
                       timeout=120)
    assert r.returncode in (0, 1) and b"Traceback" not in r.stderr, r.stderr
    r.stdout.decode("ascii")
    assert r.stdout.strip()


# 9. smaller: expectations, duplicate ids, emoji, COLUMNS

def test_an_empty_status_list_is_refused(tmp_path: Path) -> None:
    """`status: []` could never be met: refused with file:line."""
    f = tmp_path / "g.yaml"
    f.write_text("grid: {act: [relu]}\nexpect:\n  - match: {act: relu}\n    status: []\n")
    with pytest.raises(ReluDiagError, match=r"g\.yaml:4: expect\[0\]\.status: got \[\]"):
        load_grid(str(f))


def test_duplicate_cell_ids_are_refused_with_both_lines(tmp_path: Path) -> None:
    """Two cells with one id are refused naming both lines; made-up ids never collide."""
    f = tmp_path / "g.yaml"
    f.write_text("cells:\n  - {act: relu, id: a}\n  - {act: tanh}\n  - {act: tanh, id: a}\n")
    with pytest.raises(ReluDiagError, match=r"g\.yaml:4: cells\[2\]\.id: .*line 2"):
        load_grid(str(f))
    from relu_ce_diag.run.grid import expand
    f.write_text("grid: {act: [relu, relu]}\ncells:\n  - {act: tanh, id: 'relu/relu/ce/"
                 "shortcut #2'}\n")
    ids = [c.id for c in expand(load_grid(str(f)))]
    assert len(set(ids)) == len(ids) == 3 and "relu/relu/ce/shortcut #2" in ids[2:]


def test_user_text_is_printed_verbatim_without_emoji(tmp_path: Path) -> None:
    """A cell id such as `fns.py:ok:` or `:smile:` is printed as written."""
    f = tmp_path / "g.yaml"
    f.write_text('cells:\n  - {act: tanh, loss: se, backprop: exact, hidden: 3, '
                 'id: "fns.py:ok: :smile: [b]x[/]"}\n')
    r = CliRunner().invoke(main, ["grid", str(f)])
    assert r.exit_code == 0 and "fns.py:ok: :smile: [b]x[/]" in r.stdout


@pytest.mark.parametrize("columns", ["0", "-3", "x"])
def test_a_non_positive_columns_is_unset(columns: str) -> None:
    """COLUMNS=0 (or junk) prints the full table, as if unset."""
    r = subprocess.run([sys.executable, "-m", "relu_ce_diag", "check", "--hidden", "3"],
                       env={**ENV, "COLUMNS": columns}, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "worst" in r.stdout and "pairing" in r.stdout
