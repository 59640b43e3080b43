"""A pytest assertion for your own gradient: ``assert_gradient(fn, params, X, Y, ...)``.

It checks ``fn`` as :func:`relu_ce_diag.check_function` does (same arguments) and raises
``AssertionError`` with a message a person reads in a test log, at most 15 lines: the
verdict, the worst entry with both values, where the error is, and the top finding with its
fix. Any test runner shows it; pytest hides this module's frames from the traceback::

    from relu_ce_diag.testing import assert_gradient

    def test_gradient():
        assert_gradient(two_layer, params, X, y, act="relu", loss="cce", l2=0.05)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from relu_ce_diag.diagnostics.registry import SEVERITIES, Finding
from relu_ce_diag.errors import UserFunctionError
from relu_ce_diag.results.cell import EXIT_OK, CellResult, exit_code
from relu_ce_diag.run.api import check_function

MAX_LINES = 15
MAX_NAMED = 8  # entries named on the kink line; the rest are counted
_SIDE = ("localisation", "description")  # read as the where and the what, not the finding


def _line(text: str) -> str:
    return " ".join(text.split())


def _top(findings: tuple[Finding, ...]) -> Finding | None:
    """Return the most severe finding (the first of its severity), localisation aside."""
    ranked = [f for f in findings if f.id not in _SIDE and f.severity != "info"]
    return min(ranked, key=lambda f: SEVERITIES.index(f.severity), default=None)


def failure_message(result: CellResult, strict: bool = False) -> str:
    """Return the message of a check that did not pass: at most MAX_LINES lines."""
    r = result
    status = r.status + (", which strict=True fails" if strict and r.status != "fail" else "")
    lines = [f"relu-diag: {r.id}: {status}: {r.reason}"]
    if r.worst is not None:
        w = r.worst
        lines.append(f"  worst entry {w.name}: analytic {w.analytic:.6g}, numeric "
                     f"{w.numeric:.6g} (error {w.error:.3g}, tolerance {w.tol:.3g})")
    if r.status == "kink" and r.set_aside:
        named = ", ".join(r.set_aside[:MAX_NAMED])
        more = f" and {len(r.set_aside) - MAX_NAMED} more" if len(r.set_aside) > MAX_NAMED else ""
        lines.append(f"  set aside at kinks: {named}{more}")
    where = next((f for f in r.findings if f.id == "localisation"), None)
    if where is not None:
        lines.append(f"  {_line(where.message)}")
    top = _top(r.findings)
    if top is not None:
        lines.append(f"  [{top.id}] {_line(top.message)}")
        if top.fix:
            lines.append(f"  fix: {_line(top.fix)}")
    others = [f.id for f in r.findings if f is not top and f.id not in _SIDE
              and f.severity != "info"]
    if others:
        ids = list(dict.fromkeys(others))
        which = ids[0] if len(ids) == 1 else "ID"  # a lone id is spelled out, to copy
        lines.append(f"  also: {' '.join(ids)} (relu-diag explain {which} tells more)")
    elif top is not None:
        lines.append(f"  (relu-diag explain {top.id} tells more)")
    return "\n".join(lines[:MAX_LINES])


def assert_gradient(fn: Callable[..., object], params: np.ndarray | Mapping[str, np.ndarray],
                    X: np.ndarray, Y: np.ndarray, *, strict: bool = False,
                    **options: Any) -> CellResult:
    """Check ``fn``'s gradient at ``params`` as ``check_function(fn, params, X, Y,
    **options)`` does; raise AssertionError unless it passes. A ``kink`` (entries set aside at
    a kink of a valid subgradient) passes unless ``strict``, which fails warnings too.
    A function that raises or returns the wrong shape fails with that reason on one line.
    Return the result, for more assertions."""
    __tracebackhide__ = True  # pytest: show the test's line, not this one
    try:
        result = check_function(fn, params, X, Y, **options)
    except UserFunctionError as exc:
        raise AssertionError(f"relu-diag could not check the function: {_line(str(exc))}") \
            from None
    if exit_code([result], strict) != EXIT_OK:
        raise AssertionError(failure_message(result, strict))
    return result


__all__ = ["assert_gradient", "failure_message"]
