"""JUnit XML of a grid run: one testcase per cell, so CI systems can show the verdicts.

A cell that meets its expectation is a passing testcase; one that does not is a
``failure`` carrying the verdict and its findings; a cell that could not be checked is an
``error``. No timings, so the file is byte-stable for the same inputs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from relu_ce_diag.results.grid import GridRun, Outcome


def _details(o: Outcome) -> str:
    r = o.result
    lines = [f"expected {'|'.join(o.cell.expected)}, got {r.status}: {r.reason}"]
    if o.cell.why:
        lines.append(f"why: {o.cell.why}")
    if r.worst is not None:
        w = r.worst
        lines.append(f"worst entry {w.name}: analytic {w.analytic!r}, numeric {w.numeric!r}, "
                     f"error {w.error!r}, tolerance {w.tol!r}")
    for f in r.findings:
        lines.append(f"[{f.id}] {f.severity}: {f.message}" + (f" Fix: {f.fix}" if f.fix else ""))
    return "\n".join(lines) + "\n"


def to_junit(run: GridRun, name: str) -> str:
    """Return the JUnit XML document (testsuites > testsuite > testcase) for ``run``."""
    errors = sum(o.result.status == "error" for o in run.outcomes)
    failures = sum(not o.met and o.result.status != "error" for o in run.outcomes)
    counts = {"tests": str(len(run.outcomes)), "failures": str(failures),
              "errors": str(errors), "skipped": "0"}
    root = ET.Element("testsuites", {"name": "relu-diag", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": name, **counts})
    for o in run.outcomes:
        r = o.result
        case = ET.SubElement(suite, "testcase", {"classname": f"relu-diag.{name}",
                                                 "name": o.cell.id})
        message = f"expected {'|'.join(o.cell.expected)}, got {r.status}: {r.reason}"
        ids = " ".join(dict.fromkeys(f.id for f in r.findings))
        if r.status == "error":
            ET.SubElement(case, "error", {"message": message, "type": "error"}).text = \
                _details(o)
        elif not o.met:
            ET.SubElement(case, "failure", {"message": message + (f" [{ids}]" if ids else ""),
                                            "type": r.status}).text = _details(o)
        else:
            ET.SubElement(case, "system-out").text = _details(o)
    if run.interrupted:
        ET.SubElement(suite, "system-err").text = (
            f"interrupted after {len(run.outcomes)} of {run.planned} cells\n")
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
    # ElementTree writes characters XML 1.0 forbids (a control character in a user's
    # exception text) as they are, and the file would not parse: show them escaped
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
