"""JUnit XML of a grid run or a check: one testcase per cell, so CI systems show the verdicts.

A cell that meets its expectation is a passing testcase; one that does not is a
``failure`` carrying the verdict and its findings; a cell that could not be checked is an
``error``. No timings, so the file is byte-stable for the same inputs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from relu_ce_diag.results.cell import CellResult
from relu_ce_diag.results.grid import GridRun


@dataclass(frozen=True)
class Case:
    """One testcase: a cell's id, the statuses it was expected to have, why, its result and
    whether it met the expectation."""

    id: str
    expected: tuple[str, ...]
    why: str
    result: CellResult
    met: bool


def _headline(o: Case) -> str:
    """Say what was expected and what came: a status that was expected but did not pass
    can only have failed on its warnings (--strict)."""
    r = o.result
    if not o.met and r.status in o.expected:
        warned = ", ".join(dict.fromkeys(f.id for f in r.findings if f.severity == "warning"))
        return f"{r.status} with warnings ({warned}), which --strict fails: {r.reason}"
    return f"expected {'|'.join(o.expected)}, got {r.status}: {r.reason}"


def _details(o: Case) -> str:
    r = o.result
    lines = [_headline(o)]
    if o.why:
        lines.append(f"why: {o.why}")
    if r.worst is not None:
        w = r.worst
        lines.append(f"worst entry {w.name}: analytic {w.analytic!r}, numeric {w.numeric!r}, "
                     f"error {w.error!r}, tolerance {w.tol!r}")
    for f in r.findings:
        lines.append(f"[{f.id}] {f.severity}: {f.message}" + (f" Fix: {f.fix}" if f.fix else ""))
    return "\n".join(lines) + "\n"


def to_junit(run: GridRun, name: str) -> str:
    """Return the JUnit XML document (testsuites > testsuite > testcase) for a grid run."""
    cases = [Case(o.cell.id, o.cell.expected, o.cell.why, o.result, o.met)
             for o in run.outcomes]
    note = f"interrupted after {len(run.outcomes)} of {run.planned} cells\n" \
        if run.interrupted else ""
    return junit(cases, name, note)


def check_junit(results: Sequence[CellResult], name: str, codes: Sequence[int]) -> str:
    """Return the JUnit XML document of checked cells: each passes when its exit code is 0."""
    return junit([Case(r.id, ("pass",), "", r, code == 0)
                  for r, code in zip(results, codes, strict=True)], name)


def junit(cases: Sequence[Case], name: str, note: str = "") -> str:
    """Return the JUnit XML document (testsuites > testsuite > testcase) of ``cases``."""
    errors = sum(o.result.status == "error" for o in cases)
    failures = sum(not o.met and o.result.status != "error" for o in cases)
    counts = {"tests": str(len(cases)), "failures": str(failures),
              "errors": str(errors), "skipped": "0"}
    root = ET.Element("testsuites", {"name": "relu-diag", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": name, **counts})
    for o in cases:
        r = o.result
        case = ET.SubElement(suite, "testcase", {"classname": f"relu-diag.{name}",
                                                 "name": o.id})
        message = _headline(o)
        ids = " ".join(dict.fromkeys(f.id for f in r.findings))
        if r.status == "error":
            ET.SubElement(case, "error", {"message": message, "type": "error"}).text = \
                _details(o)
        elif not o.met:
            ET.SubElement(case, "failure", {"message": message + (f" [{ids}]" if ids else ""),
                                            "type": r.status}).text = _details(o)
        else:
            ET.SubElement(case, "system-out").text = _details(o)
    if note:
        ET.SubElement(suite, "system-err").text = note
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
    # ElementTree writes characters XML 1.0 forbids (a control character in a user's
    # exception text) as they are, and the file would not parse: show them escaped
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
