"""Nothing lost, nothing drifting: reruns are byte-identical and files are written whole.

A rerun with the same seed gives the same bytes for check, sweep and grid, even in a fresh
interpreter with a different hash seed (set and dict order cannot leak into the output);
an interrupted write leaves the previous file intact and no temporary behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import relu_ce_diag.report.files as files
from relu_ce_diag.errors import DataError

ROOT = Path(__file__).resolve().parent.parent

COMMANDS = {
    "check": ["check", "--act", "relu", "--loss", "ce", "--hidden", "12", "--seed", "7"],
    "check-fn": ["check", "--fn", "fn.py:f", "--data", "case.npz"],
    "sweep": ["sweep", "--act", "tanh", "--loss", "se", "--hidden", "6", "--seed", "3",
              "--steps", "1e-1:1e-9:9", "--no-chart"],
    "grid": ["grid", str(ROOT / "configs" / "smoke.yaml")],
    "grid-kinks": ["grid", str(ROOT / "configs" / "kinks.yaml")],
}

FN = ("import numpy as np\n"
      "def f(W, X, Y):\n"
      "    z = X @ W.reshape(X.shape[1], -1)\n"
      "    return float(0.5 * np.sum((z - Y) ** 2)), (X.T @ (z - Y)).ravel()\n")


def _run(args: list[str], out: Path, hashseed: str, *extra: str) -> bytes:
    """Run relu-diag in a fresh interpreter writing --output ``out``; return its bytes."""
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    proc = subprocess.run([sys.executable, "-m", "relu_ce_diag", *args, "--output", str(out),
                           *extra], capture_output=True, text=True, env=env, timeout=300,
                          cwd=out.parent, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    return out.read_bytes()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_rerun_with_the_same_seed_is_byte_identical(tmp_path: Path, name: str) -> None:
    """Two fresh processes (hash seeds 1 and 2) write the same JSON bytes."""
    import numpy as np

    (tmp_path / "fn.py").write_text(FN)
    rng = np.random.default_rng(0)
    W, X = rng.standard_normal(6), rng.standard_normal((5, 3))
    np.savez(tmp_path / "case.npz", W=W, X=X, Y=rng.standard_normal((5, 2)))
    extra = ("--jobs", "2") if name == "grid" else ()  # the parallel run must match too
    a = _run(COMMANDS[name], tmp_path / "a.json", "1")
    b = _run(COMMANDS[name], tmp_path / "b.json", "2", *extra)
    assert a == b
    doc = json.loads(a)
    assert doc["schema"] == "relu-diag/results/1" or "sweep" in name
    assert str(tmp_path) not in a.decode()  # no machine paths leak into the report


def test_an_interrupted_write_keeps_the_old_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C at the moment of the rename: the old report stays whole, no temporary left."""
    target = tmp_path / "report.json"
    target.write_text("old")

    def interrupted(src: str, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(str(target), "new" * 1000)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_failed_write_is_one_line_and_leaves_nothing(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk at write time is the user's DataError naming the file; no temporary."""
    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(DataError, match="report.json: cannot write .No space left"):
        files.write_atomic(str(tmp_path / "report.json"), "x")
    assert list(tmp_path.iterdir()) == []


def test_writing_into_a_folder_name_is_refused(tmp_path: Path) -> None:
    """--output naming a folder is a DataError (it crashed with IsADirectoryError)."""
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError, match="it is a folder"):
        files.write_atomic(str(tmp_path / "out"), "x")
