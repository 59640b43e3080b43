"""Rich rendering of results for people: one row per cell, findings underneath."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, Any, cast

from rich.console import Console
from rich.table import Table
from rich.text import Text

from relu_ce_diag.results.cell import CellResult

STATUS_STYLE = {"pass": "bold green", "kink": "bold yellow", "fail": "bold red",
                "error": "bold magenta"}
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


# what an ASCII-only stream gets instead of the chart's and Rich's symbols
ASCII = str.maketrans({"●": "*", "○": "o", "·": ".", "×": "x", "┤": "|", "│": "|", "└": "+",
                       "─": "-", "…": "...", "—": "-", "–": "-", "≈": "~", "≤": "<=", "≥": ">="})


class AsciiStream:
    """A stream that cannot encode box drawing or symbols (LANG=C, PYTHONIOENCODING=ascii):
    known symbols are written as ASCII, anything else as ``?``."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.encoding = getattr(stream, "encoding", None) or "ascii"

    def write(self, text: str) -> int:
        plain = text.translate(ASCII).encode(self.encoding, "replace").decode(self.encoding)
        return int(self.stream.write(plain))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _width(stream: Any, terminal: bool, default: int) -> int | None:
    """Return the console width: COLUMNS if set, else the terminal's, else ``default``; a
    COLUMNS of 0 or less counts as unset (Rich would print nothing at width 0)."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return None  # Rich reads it
    if not terminal:
        return default
    if not columns:
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


def _console(stderr: bool, width: int) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "─●…".encode(encoding)
        file = None
    except (UnicodeEncodeError, LookupError):
        file = cast(IO[str], AsciiStream(stream))  # a text stream in all but name
    probe = Console(stderr=stderr, file=file)
    return Console(stderr=stderr, file=file, markup=False, emoji=False, safe_box=True,
                   width=_width(stream, probe.is_terminal, width))


def make_console(stderr: bool = False) -> Console:
    """Return a console; when not a terminal, 120 wide so that ids are not folded.

    Markup and emoji are off: cell ids, file names and reasons are the user's text (a ``[/]``
    in one raised MarkupError, a ``:ok:`` became an emoji). A stream that cannot encode the
    box drawing gets ASCII boxes and symbols."""
    return _console(stderr, 120)


def wide_console() -> Console:
    """Return a stdout console as ``make_console``, 200 wide when not a terminal: a grid
    row per line."""
    return _console(False, 200)


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
        console.print(f"  set aside (step straddles a kink or the clamp): {shown}")
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
