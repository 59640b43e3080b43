"""The grid report for people: a table that fits the terminal, notes and details under it."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from relu_ce_diag.report.layout import finding_rows, hanging
from relu_ce_diag.report.table import STATUS_STYLE, _e, fold_id, id_column
from relu_ce_diag.results.grid import GridRun, Outcome

BORDER = 3  # a column's padding and its border
DIAG_CAP, WORST_CAP = 40, 34  # the widest these columns need to be to read well


def _expected(o: Outcome) -> Text:
    text = Text("|".join(o.cell.expected) + " ")
    text.append("met" if o.met else "NOT MET", style="green" if o.met else "bold red")
    return text


def _worst(o: Outcome) -> str:
    r = o.result
    if r.status == "error" or r.worst is None:
        return r.reason
    w = r.worst
    return f"{w.name}: {w.analytic:.4g} vs {w.numeric:.4g}".replace(", ", ",")


def _diagnostics(o: Outcome) -> str:
    return " ".join(dict.fromkeys(f.id for f in o.result.findings)) or "-"


def whys(run: GridRun) -> dict[str, int]:
    """Number the rules' notes in order of first use: the table shows the number."""
    notes: dict[str, int] = {}
    for o in run.outcomes:
        if o.cell.why and o.cell.why not in notes:
            notes[o.cell.why] = len(notes) + 1
    return notes


def fitting(run: GridRun, width: int) -> tuple[bool, bool, int]:
    """Return whether the diagnostics and the worst-entry columns fit in ``width`` beside
    the cell, status, expected, max rel err (and why) columns, in that order of priority,
    and the room left over."""
    outs = run.outcomes
    ids = max((len(w) for o in outs for w in o.cell.id.split(" ")), default=4)
    expected = max((len(_expected(o)) for o in outs), default=8)
    used = 1 + sum(w + BORDER for w in (min(ids, 30), 6, expected, 11)) + (
        3 + BORDER if whys(run) else 0)
    diag = min(DIAG_CAP, max((len(_diagnostics(o)) for o in outs), default=1)) + BORDER
    worst = min(WORST_CAP, max((len(_worst(o)) for o in outs), default=1)) + BORDER
    show_diag = used + diag <= width
    used += diag if show_diag else 0
    show_worst = used + worst <= width
    return show_diag, show_worst, width - used - (worst if show_worst else 0)


def grid_table(run: GridRun, width: int = 200) -> Table:
    """Build the table for a console ``width`` wide: one row per cell with status,
    expectation, max rel err, the number of the rule's note, and the diagnostic ids and
    worst entry where they fit."""
    show_diag, show_worst, room = fitting(run, width)
    notes = whys(run)
    t = Table(header_style="bold")
    ids = [o.cell.id for o in run.outcomes]
    room += min(30, max((len(w) for i in ids for w in i.split(" ")), default=4))
    cell_width = id_column(t, ids, room, room)
    t.add_column("status", no_wrap=True)
    t.add_column("expected", no_wrap=True)
    t.add_column("max rel err", justify="right", no_wrap=True)
    if notes:
        t.add_column("why", justify="right", no_wrap=True)
    if show_diag:
        t.add_column("diagnostics", overflow="fold")
    if show_worst:
        t.add_column("worst: analytic vs numeric", overflow="fold")
    for o in run.outcomes:
        r = o.result
        row: list[Any] = [fold_id(o.cell.id, cell_width),
                          Text(r.status, style=STATUS_STYLE.get(r.status, "")),
                          _expected(o), _e(r.max_rel)]
        if notes:
            row.append(str(notes[o.cell.why]) if o.cell.why else "")
        if show_diag:
            row.append(_diagnostics(o))
        if show_worst:
            row.append(_worst(o))
        t.add_row(*row)
    return t


def summary_line(run: GridRun) -> str:
    """Return one line: counts by status, expectations met, exit code."""
    counts = {s: sum(o.result.status == s for o in run.outcomes)
              for s in ("pass", "kink", "fail", "error")}
    met = sum(o.met for o in run.outcomes)
    n = len(run.outcomes)
    head = (f"interrupted after {n} of {run.planned} cells: " if run.interrupted
            else f"{n} cells: ")
    return (head + ", ".join(f"{v} {k}" for k, v in counts.items())
            + f"; {met} of {n} met their expectation; exit {run.exit_code}")


def _details(run: GridRun, show_diag: bool, show_worst: bool) -> list[tuple[str, Text]]:
    """What the table had no room for, for the cells that did not simply pass."""
    rows = []
    for o in run.outcomes:
        if o.result.status == "pass" and o.met:
            continue
        body = Text()
        if not show_worst:
            body.append(f"worst {_worst(o)}" if o.result.worst else o.result.reason)
        if not show_diag and o.result.findings:
            body.append(("; " if body else "") + "diagnostics: " + _diagnostics(o))
        if body:
            rows.append((o.cell.id, body))
    return rows


def print_grid(console: Console, run: GridRun, title: str | None = None) -> None:
    """Print the title, the table, the notes it numbers, what did not fit, the cells that
    missed their expectation with their findings, and the summary."""
    if title:
        console.print(Text(title, style="bold"))
    show_diag, show_worst, _ = fitting(run, console.width)
    console.print(grid_table(run, console.width))
    notes = whys(run)
    if notes:
        console.print("why each cell expects its status (the rule's note):")
        console.print(hanging([(str(n), why) for why, n in notes.items()]))
    details = _details(run, show_diag, show_worst)
    if details:
        console.print("cells that did not simply pass:")
        console.print(hanging(details))
    if not (show_diag and show_worst):
        console.print("(a wider terminal, or -o FILE.json, shows every cell's worst entry "
                      "and diagnostics)")
    for o in run.outcomes:
        if not o.met:
            r = o.result
            console.print(Text(f"{o.cell.id}: expected {'|'.join(o.cell.expected)}, got "
                               f"{r.status}", style=STATUS_STYLE.get(r.status, "")))
            console.print(hanging([(Text(r.status, style=STATUS_STYLE.get(r.status, "")),
                                    r.reason), *finding_rows(r.findings)]))
    console.print(Text(summary_line(run), style="bold"))
