"""JUnit for the user's own functions: a grid mixing built-in cells with a correct, a buggy and
an unusable function gives one testcase each (pass, failure with the finding and its fix, error
with the one-line reason); ``check --fn`` writes JUnit by the .xml extension; sweep refuses it."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from test_grid_fn import MIXED, make_repo, write  # noqa: E402
from test_junit import check_schema  # noqa: E402


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's folder: their functions under code/ with the point in code/case.npz."""
    return make_repo(tmp_path, monkeypatch)


def cases_of(xml: bytes | str) -> list[ET.Element]:
    """Parse a JUnit document, check its schema and return its testcases."""
    root = ET.fromstring(xml)
    check_schema(root)
    return root.findall("./testsuite/testcase")


def test_a_mixed_grid_gives_one_testcase_per_cell(repo: Path) -> None:
    """-o report.xml: pass, pass, a failure carrying the known bug and its fix, an error with
    the function's one-line reason; exit 1 as for any grid with a miss."""
    write(repo, MIXED)
    out = CliRunner().invoke(main, ["grid", "g.yaml", "-o", "report.xml"])
    assert out.exit_code == 1, out.output
    cases = cases_of((repo / "report.xml").read_bytes())
    assert [c.get("name") for c in cases] == [
        "sigmoid/sigmoid/ce/shortcut",
        "code/correct.py:relu_sigmoid_ce act=relu,out=sigmoid,data=case.npz",
        "code/buggy.py:shortcut_delta act=relu,loss=ce,data=case.npz",
        "code/bad.py:wrong_shape data=case.npz"]
    assert [[e.tag for e in c if e.tag in ("failure", "error")] for c in cases] == [
        [], [], ["failure"], ["error"]]
    failure = cases[2].find("failure")
    assert failure is not None and "[known-bug" in failure.get("message", "")
    text = failure.text or ""
    assert re.search(r"worst entry [wb][12]\[\d+", text) and "[known-bug] error:" in text
    assert "Fix: " in text and "d3 = (-Y / np.maximum(y, eps)" in text
    error = cases[3].find("error")
    assert error is not None
    message = error.get("message", "")
    assert message.startswith("expected pass, got error: code/bad.py:wrong_shape: df has shape")
    assert "\n" not in message


def test_met_expectations_pass_in_junit(repo: Path) -> None:
    """A buggy function expected to fail is a passing testcase (exit 0), its verdict in
    system-out; --format junit prints the same document on stdout."""
    body = MIXED.replace("  - {fn: code/bad.py:wrong_shape, data: code/case.npz}\n", "") + (
        "expect:\n  - {match: {fn: code/buggy.py:shortcut_delta}, status: fail}\n")
    write(repo, body)
    out = CliRunner().invoke(main, ["grid", "g.yaml", "--format", "junit"])
    assert out.exit_code == 0, out.output
    cases = cases_of(out.stdout_bytes)
    assert all(c.find("failure") is None and c.find("error") is None for c in cases)
    kept = cases[2].find("system-out")
    assert kept is not None and (kept.text or "").startswith("expected fail, got fail")


def test_check_fn_writes_junit_by_the_extension(repo: Path) -> None:
    """check --fn -o report.xml writes JUnit (the table stays on stdout); --format junit
    prints it; both carry the failure with the fix."""
    args = ["check", "--fn", "code/buggy.py:shortcut_delta", "--data", "code/case.npz",
            "--act", "relu", "--loss", "ce"]
    to_file = CliRunner().invoke(main, [*args, "-o", "report.xml"])
    assert to_file.exit_code == 1 and "known-bug" in to_file.stdout
    printed = CliRunner().invoke(main, [*args, "--format", "junit"])
    assert printed.exit_code == 1
    assert printed.stdout_bytes == (repo / "report.xml").read_bytes()
    (case,) = cases_of(printed.stdout_bytes)
    failure = case.find("failure")
    assert failure is not None and "Fix: " in (failure.text or "")


def test_check_fn_error_is_exit_2_and_sweep_refuses_xml(repo: Path) -> None:
    """check --fn on an unusable function exits 2 with one line (nothing judged, no file);
    sweep has no JUnit form and refuses an .xml output by name."""
    bad = CliRunner().invoke(main, ["check", "--fn", "code/bad.py:wrong_shape", "--data",
                                    "code/case.npz", "-o", "report.xml"])
    assert bad.exit_code == 2 and bad.stderr.count("relu-diag: error:") == 1
    assert bad.stderr.splitlines()[-1].startswith("relu-diag: error: code/bad.py:wrong_shape:")
    assert not (repo / "report.xml").exists()
    sweep = CliRunner().invoke(main, ["sweep", "--fn", "code/correct.py:relu_sigmoid_ce",
                                      "--data", "code/case.npz", "-o", "sweep.xml"])
    assert sweep.exit_code == 2 and "--output" in sweep.stderr and ".json" in sweep.stderr
    assert not (repo / "sweep.xml").exists()
