"""Rich rendering of results for people: one row per cell, findings underneath."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import IO, Any, cast

from rich.console import Console
from rich.table import Table
from rich.text import Text

from relu_ce_diag.report.layout import finding_rows, hanging
from relu_ce_diag.results.cell import CellResult

STATUS_STYLE = {"pass": "bold green", "kink": "bold yellow", "fail": "bold red",
                "error": "bold magenta"}  # error: could not be checked (docs/verdicts.md)


# what an ASCII-only stream gets instead of the chart's and Rich's symbols
ASCII = str.maketrans({"●": "*", "○": "o", "·": ".", "×": "x", "┤": "|", "│": "|", "└": "+",
                       "─": "-", "…": "...", "—": "-", "–": "-", "≈": "~", "≤": "<=", "≥": ">="})


TRAILING = re.compile(r" +((?:\x1b\[[0-9;]*m)*)(?=\n)")


class Stream:
    """The stream a console writes to: without the spaces Rich pads lines with (a table
    cell or a wrapped finding ends where its text ends, in a log or a pasted report), and,
    for a stream that cannot encode box drawing or symbols (LANG=C, PYTHONIOENCODING=ascii),
    known symbols as ASCII and anything else as ``?``."""

    def __init__(self, stream: Any, ascii_only: bool = False) -> None:
        self.stream = stream
        self.ascii_only = ascii_only
        self.encoding = getattr(stream, "encoding", None) or "ascii"

    def write(self, text: str) -> int:
        text = TRAILING.sub(r"\1", text)
        if self.ascii_only:
            text = text.translate(ASCII).encode(self.encoding, "replace").decode(self.encoding)
        return int(self.stream.write(text))

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
        ascii_only = False
    except (UnicodeEncodeError, LookupError):
        ascii_only = True
    file = cast(IO[str], Stream(stream, ascii_only))  # a text stream in all but name
    probe = Console(stderr=stderr, file=file)
    return Console(stderr=stderr, file=file, markup=False, emoji=False, highlight=False,
                   safe_box=True, width=_width(stream, probe.is_terminal, width))


def make_console(stderr: bool = False) -> Console:
    """Return a console; when not a terminal, 120 wide so that ids are not folded.

    Markup, emoji and highlighting are off: cell ids, file names and reasons are the user's
    text (a ``[/]`` in one raised MarkupError, a ``:ok:`` became an emoji) and fixes are code
    (numbers inside a formula were coloured). A stream that cannot encode the
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
    return f"{w.name}: {w.analytic:.4g} vs {w.numeric:.4g}"


def fold_id(cell_id: str, width: int) -> str:
    """Break a cell id into lines of at most ``width`` at its spaces, so that
    ``relu/relu/ce/shortcut`` never splits; only a word longer than ``width`` is cut."""
    lines: list[str] = []
    words = [w[i:i + width] for w in cell_id.split(" ") for i in range(0, max(len(w), 1), width)]
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def id_column(t: Table, ids: Sequence[str], comfortable: int, most: int) -> int:
    """Add the cell column to ``t`` and return its width: whole ids when they fit in
    ``comfortable``, else the longest word of any id, at most ``most`` (then a word is
    cut); rows go in folded with ``fold_id``."""
    word = max((len(w) for i in ids for w in i.split(" ")), default=4)
    whole = max((len(i) for i in ids), default=4)
    width = max(8, min(most, max(word, min(whole, comfortable))))
    t.add_column("cell", no_wrap=True, overflow="fold", max_width=width)
    return width


WORST_MIN = 14  # "6.654 vs 30.29"


FIXED = 4 + sum(w + 3 for w in (6, 11, 12))  # the borders, status and the two errors


def worst_fits(results: Sequence[CellResult], width: int) -> bool:
    """Whether the worst-entry column fits beside ids unbroken inside a word (else the
    worst entry is listed under the table, with the findings)."""
    word = max((len(w) for r in results for w in r.id.split(" ")), default=4)
    return word <= width - FIXED - WORST_MIN - 3


def results_table(results: Sequence[CellResult], width: int = 120) -> Table:
    """Build the table for a console ``width`` wide: cell, status, max and norm-wise
    relative error, and the worst entry where it fits (ids on one line when there is
    room)."""
    t = Table(header_style="bold")
    show = worst_fits(results, width)
    worst = min(30, max((len(_worst(r)) for r in results), default=1)) + 3 if show else 0
    cell = id_column(t, [r.id for r in results], width - FIXED - worst,
                     width - FIXED - (WORST_MIN + 3 if show else 0))
    t.add_column("status", no_wrap=True)
    t.add_column("max rel err", justify="right", no_wrap=True)
    t.add_column("norm rel err", justify="right", no_wrap=True)
    if show:
        t.add_column("worst: analytic vs numeric", overflow="fold")
    for r in results:
        status = Text(r.status, style=STATUS_STYLE.get(r.status, ""))
        row: list[str | Text] = [fold_id(r.id, cell), status, _e(r.max_rel), _e(r.normwise)]
        t.add_row(*row, *([_worst(r)] if show else []))
    return t


def blocks_table(r: CellResult) -> Table:
    """Build the per-block table of one result (w1, b1, w2, b2, ...)."""
    t = Table(header_style="bold")
    for col, just in (("block", "left"), ("entries", "right"), ("max rel err", "right"),
                      ("norm rel err", "right"), ("mismatched", "right"),
                      ("set aside", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for b in r.blocks:
        t.add_row(b.name, str(b.size), _e(b.max_rel), _e(b.normwise), str(b.mismatched),
                  str(b.set_aside))
    return t


def print_findings(console: Console, r: CellResult, worst: bool = False) -> None:
    """Print the verdict and its reason, the worst entry (``worst``: when the table had no
    room for it), the set-aside entries and the findings, each as a label with its text in
    a hanging indent."""
    console.print(Text(r.id, style="bold"))
    rows: list[tuple[Text | str, Text | str]] = [
        (Text(r.status, style=STATUS_STYLE.get(r.status, "")), r.reason)]
    if worst and r.worst is not None:
        w = r.worst
        rows.append(("worst", f"{w.name}: analytic {w.analytic:.4g}, numeric {w.numeric:.4g}"))
    if r.set_aside:
        shown = ", ".join(r.set_aside[:8]) + (f" and {len(r.set_aside) - 8} more"
                                               if len(r.set_aside) > 8 else "")
        rows.append(("set aside", f"{shown} (a kink, the clamp or rounding; see the reason)"))
    console.print(hanging(rows + finding_rows(r.findings)))


def print_check(console: Console, results: Sequence[CellResult]) -> None:
    """Print the report of ``relu-diag check``: table, blocks, findings."""
    console.print(results_table(results, console.width))
    below = not worst_fits(results, console.width)
    for r in results:
        if r.blocks:
            console.print(Text(f"per block: {r.id}", style="bold"))
            console.print(blocks_table(r))
        print_findings(console, r, worst=below)
