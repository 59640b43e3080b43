"""Grid reports: the Rich table for people and the JSON document (with expectations)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from relu_ce_diag.report.table import STATUS_STYLE, _e
from relu_ce_diag.results.grid import GridRun, Outcome


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


def grid_table(run: GridRun, title: str | None = None) -> Table:
    """Build the table: one row per cell with status, expectation, errors, worst entry,
    diagnostic ids and the rule's note."""
    max_id = max((len(o.cell.id) for o in run.outcomes), default=4)
    t = Table(title=title, header_style="bold", title_justify="left")
    t.add_column("cell", overflow="fold", min_width=min(max_id, 40))
    t.add_column("status", no_wrap=True)
    t.add_column("expected", no_wrap=True)
    t.add_column("max rel err", justify="right", no_wrap=True)
    t.add_column("worst: analytic vs numeric", overflow="fold")
    t.add_column("diagnostics", overflow="fold")
    show_why = any(o.cell.why for o in run.outcomes)
    if show_why:
        t.add_column("why", overflow="fold")
    for o in run.outcomes:
        r = o.result
        row: list[Any] = [o.cell.id, Text(r.status, style=STATUS_STYLE.get(r.status, "")),
                          _expected(o), _e(r.max_rel), _worst(o),
                          " ".join(dict.fromkeys(f.id for f in r.findings)) or "-"]
        if show_why:
            row.append(o.cell.why)
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


def print_grid(console: Console, run: GridRun, title: str | None = None) -> None:
    """Print the grid table, the cells that missed their expectation, and the summary."""
    console.print(grid_table(run, title))
    for o in run.outcomes:
        if not o.met:
            r = o.result
            console.print(Text(f"{o.cell.id}: expected {'|'.join(o.cell.expected)}, got "
                               f"{r.status}: {r.reason}", style=STATUS_STYLE.get(r.status, "")))
            for f in r.findings:
                console.print(f"  [{f.id}] {f.message}")
    console.print(Text(summary_line(run), style="bold"))
