"""``relu-diag explain ID``: the long text of a diagnostic, straight from the registry."""

from __future__ import annotations

from collections.abc import Iterable

import click
from rich.console import Console
from rich.text import Text

from relu_ce_diag.cli.app import main
from relu_ce_diag.diagnostics import DIAGNOSTICS, get
from relu_ce_diag.report.layout import hanging


def print_explanations(console: Console, ids: Iterable[str]) -> None:
    """Print id, title, explanation and fix of each diagnostic in ``ids`` (each once)."""
    seen: list[str] = []
    for i in ids:
        if i in seen:
            continue
        seen.append(i)
        d = get(i)
        console.print(Text(f"{d.id}: {d.title}", style="bold"))
        console.print(hanging([(Text("why", style="bold"), d.explanation),
                               (Text("fix", style="bold"), d.fix)]))
        console.print()


EXPLAIN_EXIT = """\b
Exit codes:
  0    the explanation was printed
  2    no diagnostic has that ID (the closest is suggested)"""


def _ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Complete a diagnostic ID."""
    return [i for i in DIAGNOSTICS if i.startswith(incomplete)]


@main.command(epilog=EXPLAIN_EXIT)
@click.argument("diag_id", metavar="[ID]", required=False, shell_complete=_ids)
def explain(diag_id: str | None) -> int:
    """Explain the diagnostic ID (what it means, why it happens, the fix); no ID lists all."""
    from relu_ce_diag.report.table import make_console

    console = make_console()
    if diag_id is None:
        console.print(hanging([(Text(d.id, style="bold"), d.title)
                               for d in DIAGNOSTICS.values()], indent=0))
        console.print("\nrelu-diag explain ID prints the full text of one.")
        return 0
    print_explanations(console, [get(diag_id, "explain").id])
    return 0
