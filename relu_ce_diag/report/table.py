"""Rich rendering of results for people: one row per cell, findings underneath."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from relu_ce_diag.results.cell import CellResult

STATUS_STYLE = {"pass": "bold green", "kink": "bold yellow", "fail": "bold red",
                "error": "bold magenta"}  # error: could not be checked (docs/verdicts.md)
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


def make_console(stderr: bool = False) -> Console:
    """Return a console; when not a terminal, wide enough that ids are not folded.

    Markup is off: cell ids, file names and reasons are the user's text, and a ``[/]`` in
    one of them raised MarkupError (exit 3) after the work was done; styles go through Text."""
    probe = Console(stderr=stderr)
    return Console(stderr=stderr, width=None if probe.is_terminal else 120, markup=False)


def _e(x: float) -> str:
    return f"{x:.2e}" if x == x else "-"


def _worst(r: CellResult) -> str:
    if r.worst is None:
        return "-"
    w = r.worst
    return f"{w.name}: analytic {w.analytic:.4g}, numeric {w.numeric:.4g}"


def results_table(results: Sequence[CellResult], title: str | None = None) -> Table:
    """Build the table: cell, status, max and norm-wise relative error, worst entry."""
    t = Table(title=title, header_style="bold")
    t.add_column("cell", overflow="fold")
    t.add_column("status")
    t.add_column("max rel err", justify="right")
    t.add_column("norm rel err", justify="right")
    t.add_column("worst entry", overflow="fold")
    for r in results:
        t.add_row(r.id, Text(r.status, style=STATUS_STYLE.get(r.status, "")), _e(r.max_rel),
                  _e(r.normwise), _worst(r))
    return t


def blocks_table(r: CellResult) -> Table:
    """Build the per-block table of one result (w1, b1, w2, b2, ...)."""
    t = Table(title=f"per block: {r.id}", header_style="bold", title_justify="left")
    for col, just in (("block", "left"), ("entries", "right"), ("max rel err", "right"),
                      ("norm rel err", "right"), ("mismatched", "right"),
                      ("set aside", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for b in r.blocks:
        t.add_row(b.name, str(b.size), _e(b.max_rel), _e(b.normwise), str(b.mismatched),
                  str(b.set_aside))
    return t


def print_findings(console: Console, r: CellResult) -> None:
    """Print the verdict's reason and one line per finding, coloured by severity."""
    console.print(Text(f"{r.id}: {r.status}: {r.reason}",
                       style=STATUS_STYLE.get(r.status, "")))
    if r.set_aside:
        shown = ", ".join(r.set_aside[:8]) + (" ..." if len(r.set_aside) > 8 else "")
        console.print(f"  set aside (a kink, the clamp or rounding; see the reason): {shown}")
    for f in r.findings:
        line = Text(f"  [{f.id}] ", style=SEVERITY_STYLE.get(f.severity, ""))
        line.append(f.message)
        console.print(line)
        if f.fix:
            console.print(f"      fix: {f.fix}")


def print_check(console: Console, results: Sequence[CellResult]) -> None:
    """Print the report of ``relu-diag check``: table, blocks, findings."""
    console.print(results_table(results))
    for r in results:
        if r.blocks:
            console.print(blocks_table(r))
        print_findings(console, r)
