"""Tests of the JUnit XML report: structure, counts, failures carrying the findings."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.report.junit import to_junit
from relu_ce_diag.results.cell import CellResult, Finding
from relu_ce_diag.run.grid import GridCell, GridRun, Outcome
from relu_ce_diag.settings.cells import CellSpec
from relu_ce_diag.settings.grid_file import Where

WHERE = Where("g.yaml", "cells[0]", 2)
SUITE_ATTRS = {"name", "tests", "failures", "errors"}


def outcome(i: int, status: str, expected: str, met: bool, findings: tuple[Finding, ...] = ()
            ) -> Outcome:
    """Build an outcome of cell ``i`` with ``status``, expectation and findings."""
    cell = GridCell(i, f"cell-{i}", CellSpec(), (expected,), "a note", WHERE)
    r = CellResult(id=cell.id, spec=cell.spec, status=status, reason=f"reason {i}",
                   findings=findings)
    return Outcome(cell, r, met)


def check_schema(root: ET.Element) -> None:
    """Assert the common JUnit schema: testsuites > testsuite > testcase, counts that add up."""
    assert root.tag == "testsuites" and set(root.attrib) >= SUITE_ATTRS
    suites = list(root)
    assert suites and all(s.tag == "testsuite" and set(s.attrib) >= SUITE_ATTRS for s in suites)
    for key in ("tests", "failures", "errors"):
        assert int(root.get(key, "")) == sum(int(s.get(key, "")) for s in suites)
    for s in suites:
        cases = s.findall("testcase")
        assert {c.tag for c in s} <= {"testcase", "system-out", "system-err", "properties"}
        assert int(s.get("tests", "")) == len(cases)
        assert int(s.get("failures", "")) == sum(c.find("failure") is not None for c in cases)
        assert int(s.get("errors", "")) == sum(c.find("error") is not None for c in cases)
        for c in cases:
            assert {"name", "classname"} <= set(c.attrib)
            assert {e.tag for e in c} <= {"failure", "error", "skipped", "system-out",
                                          "system-err"}
            for e in c:
                if e.tag in ("failure", "error"):
                    assert "message" in e.attrib and "type" in e.attrib


def test_structure_and_counts() -> None:
    """One testcase per cell; a miss is a failure carrying the finding; an error row an
    error."""
    finding = Finding("pairing", "error", "shortcut invalid for relu + ce", fix="use exact")
    run = GridRun((outcome(0, "pass", "pass", True),
                   outcome(1, "fail", "pass", False, (finding,)),
                   outcome(2, "fail", "fail", True),
                   outcome(3, "pass", "fail", False),
                   outcome(4, "error", "pass", False)), planned=5, interrupted=False)
    root = ET.fromstring(to_junit(run, "demo"))
    check_schema(root)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "2", "1")
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [f"cell-{i}" for i in range(5)]
    fail = cases[1].find("failure")
    assert fail is not None and "[pairing]" in fail.get("message", "")
    assert "shortcut invalid for relu + ce" in (fail.text or "") and "use exact" in fail.text
    miss = cases[3].find("failure")
    assert miss is not None and miss.get("message", "").startswith("expected fail, got pass")
    err = cases[4].find("error")
    assert err is not None and "reason 4" in err.get("message", "")
    assert cases[0].find("failure") is None and cases[2].find("failure") is None


def test_interrupted_run_says_so() -> None:
    """An interrupted run notes how many cells finished in the suite's system-err."""
    run = GridRun((outcome(0, "pass", "pass", True),), planned=4, interrupted=True)
    root = ET.fromstring(to_junit(run, "demo"))
    check_schema(root)
    note = root.find("./testsuite/system-err")
    assert note is not None and "interrupted after 1 of 4" in (note.text or "")


def test_cli_junit_is_valid_and_byte_stable(tmp_path: Path) -> None:
    """relu-diag grid --format junit prints parseable JUnit, the same bytes on every run."""
    f = tmp_path / "g.yaml"
    f.write_text("defaults: {hidden: 4, samples: 4, inputs: 3}\n"
                 "grid:\n  act: [sigmoid, relu]\n  loss: [ce]\n")
    first = CliRunner().invoke(main, ["grid", str(f), "--format", "junit"])
    again = CliRunner().invoke(main, ["grid", str(f), "--format", "junit"])
    assert first.exit_code == 1 and first.stdout_bytes == again.stdout_bytes
    root = ET.fromstring(first.stdout_bytes)
    check_schema(root)
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["sigmoid/sigmoid/ce/shortcut",
                                              "relu/relu/ce/shortcut"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and "got fail" in failure.get("message", "")


def test_a_strict_failure_of_a_passing_cell_says_so() -> None:
    """check --strict on a pass with a warning: the JUnit failure names the warning and
    --strict, never 'expected pass, got pass'."""
    r = CliRunner().invoke(main, ["check", "--act", "relu", "--loss", "ce", "--backprop",
                                  "exact", "--strict", "--format", "junit"])
    assert r.exit_code == 1
    failure = ET.fromstring(r.stdout).find(".//failure")
    assert failure is not None
    message = failure.get("message", "")
    assert "got pass" not in message
    assert message.startswith("pass with warnings (output-range), which --strict fails")
