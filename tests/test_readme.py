"""The README's examples work as written: its NumPy function fails, is localised, described,
named, fixed by the line it prints, and passes; its Quick start test line is what CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from relu_ce_diag.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_numpy_walkthrough_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    """model.py and the three commands of the README, then the printed fix pasted in."""
    model = re.search(r"```python\n(# model\.py.*?)```", README, re.S)
    assert model is not None
    (tmp_path / "model.py").write_text(model.group(1))
    monkeypatch.chdir(tmp_path)
    subprocess.run([sys.executable, "model.py"], check=True, cwd=tmp_path)
    commands = re.search(r"```sh\npython model\.py\n(.*?)```", README, re.S)
    assert commands is not None
    plain, described = (line.split()[1:] for line in commands.group(1).splitlines())
    first = CliRunner().invoke(main, plain)
    assert first.exit_code == 1 and "the error enters at W1/b1" in first.stdout
    second = CliRunner().invoke(main, described)
    assert second.exit_code == 1 and "known-bug" in second.stdout
    fix = "dz1 = (dz2 @ W2.T) * (z1 > 0)"
    assert fix in second.stdout and f"`{fix}`" in README
    source = (tmp_path / "model.py").read_text()
    (tmp_path / "model.py").write_text(source.replace(
        "    dz1 = dz2 @ W2.T                      # the relu mask is missing here", f"    {fix}"))
    assert CliRunner().invoke(main, described).exit_code == 0


def test_the_quick_start_test_line_is_what_ci_runs() -> None:
    """The README's test command is the one .ci/run runs."""
    quick = re.search(r"## Quick start\n\n```sh\n(.*?)\n```\n\n```sh\n(.*?)\n```", README, re.S)
    assert quick is not None
    install, tests = quick.groups()
    assert install.startswith("python3 -m venv .venv") and "relu-diag check" in install
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests.endswith("python -m pytest -q") and "python -m pytest -q" in ci
    assert 'pip install --quiet -e ".[test]"' in ci and 'pip install -e ".[test]"' in tests


def test_the_readme_stays_short() -> None:
    """A newcomer reads the README in five minutes: at most 300 lines."""
    assert README.count("\n") <= 300


def test_the_completion_recipe_prints_a_script() -> None:
    """The README's completion line: the environment variable makes relu-diag print a bash
    completion script."""
    assert 'eval "$(_RELU_DIAG_COMPLETE=bash_source relu-diag)"' in README
    out = subprocess.run([sys.executable, "-m", "relu_ce_diag"], capture_output=True, text=True,
                         env={"_RELU_DIAG_COMPLETE": "bash_source", "PATH": ""}, check=False)
    assert "complete" in out.stdout and "_RELU_DIAG_COMPLETE" in out.stdout


def test_the_python_api_lines_run_as_written(tmp_path: Path) -> None:
    """The README's Python API block runs beside the README's model.py and case.npz and
    gives the command line's verdict."""
    model = re.search(r"```python\n(# model\.py.*?)```", README, re.S)
    api = re.search(r"```python\n(import numpy as np, relu_ce_diag\n.*?)```", README, re.S)
    assert model is not None and api is not None
    (tmp_path / "model.py").write_text(model.group(1))
    subprocess.run([sys.executable, "model.py"], check=True, cwd=tmp_path)
    script = api.group(1) + "print(result.status, result.findings[0].id)\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["fail", "known-bug"]


def test_the_python_api_block_of_your_code_runs_once_fixed(tmp_path: Path) -> None:
    """docs/your-code.md's API block, beside the README's model.py with the printed fix
    pasted in: the assertion holds and the sweep runs."""
    model = re.search(r"```python\n(# model\.py.*?)```", README, re.S)
    doc = (ROOT / "docs" / "your-code.md").read_text(encoding="utf-8")
    api = re.search(r"```python\n(import numpy as np, relu_ce_diag\n.*?)```", doc, re.S)
    assert model is not None and api is not None
    (tmp_path / "model.py").write_text(model.group(1).replace(
        "dz1 = dz2 @ W2.T                      # the relu mask is missing here",
        "dz1 = (dz2 @ W2.T) * (z1 > 0)"))
    subprocess.run([sys.executable, "model.py"], check=True, cwd=tmp_path)
    script = api.group(1) + "print(result.status, sweep.verdict)\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "pass"
