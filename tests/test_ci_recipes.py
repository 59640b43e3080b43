"""docs/ci.md's recipes run as written: in a temporary repository holding the README's model.py
and case.npz, each recipe's commands fail (exit 1) while the relu mask is missing and pass once
the fix is pasted in; relu-diag's git pin is a commit of this repository that has what they
use; the README's CI grid works the same."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CI = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent  # where pip put the relu-diag script
BUG = "    dz1 = dz2 @ W2.T                      # the relu mask is missing here"
FIX = "    dz1 = (dz2 @ W2.T) * (z1 > 0)"
PIN = re.compile(r"git\+https://github\.com/<owner>/relu-diag@([0-9a-f]{40})")
FIX_TEXT = "multiply by the activation's derivative: dz1 = (dz2 @ W2.T) * (z1 > 0)"


def block(text: str, head: str) -> str:
    """Return the fenced code block whose first line starts with ``head``."""
    found = re.search(r"```\w*\n(" + re.escape(head) + r".*?)```", text, re.S)
    assert found is not None, f"no code block starting with {head!r}"
    return found.group(1)


def readme_grid() -> str:
    """Return the README's CI grid (the yaml block of its CI section)."""
    section = README[README.index("### 3. A CI gate"):]
    return block(section, "cells:")


def sh(line: str | list[str], repo: Path) -> subprocess.CompletedProcess[str]:
    """Run a recipe's command line in ``repo`` as a shell would find it (relu-diag on PATH)."""
    argv = shlex.split(line) if isinstance(line, str) else list(line)
    if argv[0] == "python":
        argv[0] = sys.executable
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # a user's pytest: none of our plugins
    return subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def fix(repo: Path) -> None:
    """Paste the printed fix into the user's model.py."""
    source = (repo / "model.py").read_text()
    assert BUG in source
    (repo / "model.py").write_text(source.replace(BUG, FIX))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A user's repository: the README's model.py, its case.npz and the README's grid."""
    model = re.search(r"```python\n(# model\.py.*?)```", README, re.S)
    assert model is not None
    (tmp_path / "model.py").write_text(model.group(1))
    assert sh("python model.py", tmp_path).returncode == 0
    (tmp_path / "gradients.yaml").write_text(readme_grid())
    return tmp_path


def test_one_pinned_commit_of_this_repository_has_what_the_recipes_use() -> None:
    """Every pin in docs/ci.md is one commit; it exists here and has the hook, the helper,
    function cells and the relu-diag script (so pip and pre-commit can fetch it)."""
    pins = set(PIN.findall(CI)) | set(re.findall(r"rev: ([0-9a-f]{40})", CI))
    assert len(pins) == 1 and len(PIN.findall(CI)) == 2, pins
    (rev,) = pins
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    git = ["git", "-C", str(ROOT)]
    if subprocess.run([*git, "cat-file", "-e", f"{rev}^{{commit}}"], check=False).returncode:
        shallow = subprocess.run([*git, "rev-parse", "--is-shallow-repository"],
                                 capture_output=True, text=True, check=False).stdout.strip()
        if shallow == "true":
            pytest.skip("a shallow clone: the pinned commit may lie beyond its depth")
        pytest.fail(f"docs/ci.md pins {rev}, which is not a commit of this repository")

    def show(path: str) -> str:
        return subprocess.run([*git, "show", f"{rev}:{path}"], capture_output=True, text=True,
                              check=True).stdout

    hooks = {h["id"]: h for h in yaml.safe_load(show(".pre-commit-hooks.yaml"))}
    now = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["relu-diag-grid"] == now["relu-diag-grid"]
    assert 'relu-diag = "relu_ce_diag.cli:main"' in show("pyproject.toml")
    assert "def assert_gradient(" in show("relu_ce_diag/testing.py")
    assert "class FunctionCell" in show("relu_ce_diag/settings/grid_fn.py")


def test_the_pytest_recipe(repo: Path) -> None:
    """test_gradients.py and `python -m pytest`: the failure shows the message docs/ci.md
    prints (its test's line, W1 named, the fix); with the fix pasted in it passes."""
    (repo / "test_gradients.py").write_text(block(CI, "# test_gradients.py"))
    install, run = block(CI, "pip install").splitlines()
    assert PIN.search(install) and install.endswith(" pytest")
    failed = sh(run, repo)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    shown = [line for line in block(CI, "E       AssertionError").splitlines()]
    assert shown and all(line in failed.stdout for line in shown), failed.stdout
    assert "assert_gradient(two_layer, case, X, y" in failed.stdout  # the test's own line
    assert "relu_ce_diag/" not in failed.stdout  # relu-diag's frames are hidden
    fix(repo)
    passed = sh(run, repo)
    assert passed.returncode == 0, passed.stdout


def test_the_pre_commit_recipe(repo: Path) -> None:
    """The hook the config names, run as pre-commit runs it (its entry and args, no file
    names, from the repository's root), blocks the commit until the fix; the local hook
    too. The grid is the README's."""
    assert block(CI, "# gradients.yaml").split("\n", 1)[1] == readme_grid()
    config = yaml.safe_load(block(CI, "# .pre-commit-config.yaml"))
    (entry,) = config["repos"]
    assert PIN.fullmatch(f"git+{entry['repo']}@{entry['rev']}")
    (ref,) = entry["hooks"]
    hook = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
            }[ref["id"]]
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert all(files.search(n) for n in ("model.py", "gradients.yaml", "case.npz", "net.m",
                                         "case.mat", "sub/g.yml"))
    assert not any(files.search(n) for n in ("README.md", "notes.txt"))
    assert shlex.split(hook["entry"])[0] == "relu-diag"
    assert 'relu-diag = "relu_ce_diag.cli:main"' in (ROOT / "pyproject.toml").read_text()
    argv = shlex.split(hook["entry"]) + ref.get("args", hook.get("args", []))
    (local,) = yaml.safe_load(block(CI, "  - repo: local"))
    (local_hook,) = local["hooks"]
    assert local_hook["id"] == hook["id"] and local_hook["pass_filenames"] is False
    for command in (argv, local_hook["entry"]):
        blocked = sh(command, repo)
        assert blocked.returncode == 1 and "model.py:two_layer" in blocked.stdout
    fix(repo)
    assert [sh(command, repo).returncode for command in (argv, local_hook["entry"])] == [0, 0]


def test_the_github_actions_recipe(repo: Path) -> None:
    """The workflow: checks: write for the report, relu-diag pinned, its run steps fail the
    job (exit 1) with a JUnit file at report_paths carrying the fix, then pass."""
    flow = yaml.safe_load(block(CI, "# .github/workflows/gradients.yml"))
    assert flow.get("on", flow.get(True)) == ["push", "pull_request"]  # YAML 1.1 reads on: True
    assert flow["permissions"] == {"contents": "read", "checks": "write"}
    (job,) = flow["jobs"].values()
    steps = job["steps"]
    assert [s.get("uses") for s in steps if "uses" in s] == [
        "actions/checkout@v4", "actions/setup-python@v5", "mikepenz/action-junit-report@v5"]
    publish = steps[-1]
    assert "cancelled()" in publish["if"] or "always()" in publish["if"]
    install, *runs = [s["run"] for s in steps if "run" in s]
    assert PIN.fullmatch(shlex.split(install)[2]) and install.startswith("pip install ")
    report = repo / publish["with"]["report_paths"]
    results = [sh(line, repo) for line in runs]
    assert [r.returncode for r in results] == [1], results[0].stderr
    (case,) = ET.parse(report).getroot().iter("testcase")
    failure = case.find("failure")
    assert failure is not None and FIX_TEXT in (failure.text or "")
    fix(repo)
    assert [sh(line, repo).returncode for line in runs] == [0]
    (case,) = ET.parse(report).getroot().iter("testcase")
    assert case.find("failure") is None and case.find("error") is None


def test_the_readme_ci_grid(repo: Path) -> None:
    """The README's grid and command: exit 1 with the buggy function, a JUnit report with the
    fix; exit 0 once fixed, the description fitting the function."""
    command = block(README[README.index("### 3. A CI gate"):], "relu-diag grid").split("#")[0]
    failed = sh(command, repo)
    assert failed.returncode == 1 and "known-bug" in failed.stdout
    (case,) = ET.parse(repo / "report.xml").getroot().iter("testcase")
    failure = case.find("failure")
    assert failure is not None and FIX_TEXT in (failure.text or "")
    fix(repo)
    passed = sh(command, repo)
    assert passed.returncode == 0 and "description-mismatch" not in passed.stdout


@pytest.mark.skipif(os.environ.get("RELU_DIAG_TEST_INSTALL") != "1",
                    reason="installs into a fresh venv (about 30 s); RELU_DIAG_TEST_INSTALL=1")
def test_pip_installs_the_pin_from_git(repo: Path, tmp_path_factory) -> None:
    """The workflow's pip line, with this repository as the git URL, gives a relu-diag that
    runs the grid."""
    (rev,) = set(PIN.findall(CI))
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"git+file://{ROOT}@{rev}"],
                   check=True)
    out = sh([str(venv / "bin" / "relu-diag"), "grid", "gradients.yaml"], repo)
    assert out.returncode == 1 and "model.py:two_layer" in out.stdout
