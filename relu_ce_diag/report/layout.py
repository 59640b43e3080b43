"""Layout for people at a terminal: labelled items with a hanging indent, so that wrapped
text stays under its own column at any width."""

from __future__ import annotations

from collections.abc import Iterable

from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from relu_ce_diag.diagnostics.registry import Finding

SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


def hanging(rows: Iterable[tuple[Text | str, Text | str]], indent: int = 2) -> Padding:
    """Lay out ``(label, body)`` rows as two columns: labels never wrap, bodies wrap under
    themselves (a hanging indent), the whole indented by ``indent`` spaces."""
    grid = Table.grid(padding=(0, 2, 0, 0))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for label, body in rows:
        grid.add_row(label, body)
    return Padding(grid, (0, 0, 0, indent), expand=False)


def finding_body(message: str, fix: str) -> Text:
    """A finding's message and, on its own line, its fix (plain text: formulas are not
    highlighted)."""
    body = Text(message)
    if fix:
        body.append("\n")
        body.append("fix: ", style="bold")
        body.append(fix)
    return body


def finding_rows(findings: Iterable[Finding]) -> list[tuple[Text | str, Text | str]]:
    """One row per finding: its id coloured by severity, then message and fix."""
    return [(Text(f"[{f.id}]", style=SEVERITY_STYLE.get(f.severity, "")),
             finding_body(f.message, f.fix)) for f in findings]
