"""``relu-diag check``: one cell, a Rich table, diagnostics and the exit code."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click

from relu_ce_diag.cli import EXIT_CODES, main
from relu_ce_diag.cli.options import cell_options, spec_from_options


@main.command(epilog=EXIT_CODES)
@cell_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="What to print on stdout.")
@click.option("--output", type=str, default=None, metavar="FILE",
              help="Also write the JSON report to FILE (atomically); stdout keeps the table.")
@click.option("--save-grads", type=str, default=None, metavar="FILE.npz",
              help="Save arrays W X Y loss analytic numeric exact.")
@click.option("--strict", is_flag=True, help="Kinks and warnings fail too (exit 1).")
@click.option("--ignore", "ignore_ids", multiple=True, metavar="ID",
              help="Silence the diagnostic ID (repeatable); see relu-diag explain.")
@click.option("--explain", "explain_found", is_flag=True,
              help="Print the long explanation of every diagnostic that fired.")
def check(fmt: str, output: str | None, save_grads: str | None, strict: bool,
          **kw: Any) -> int:
    """Check the backprop of one network cell against central differences."""
    from relu_ce_diag.cells import validate
    from relu_ce_diag.diagnostics.registry import check_ids
    from relu_ce_diag.report.files import save_grads as write_grads
    from relu_ce_diag.report.files import write_atomic
    from relu_ce_diag.report.json_report import to_json
    from relu_ce_diag.results import exit_code
    from relu_ce_diag.runner import run_cell

    ignore, explain_found = check_ids(tuple(kw.pop("ignore_ids"))), kw.pop("explain_found")
    spec = validate(spec_from_options(kw))
    result = run_cell(spec)
    result = replace(result, findings=tuple(f for f in result.findings if f.id not in ignore))
    code = exit_code([result], strict)
    if fmt == "json" and output is None:
        click.echo(to_json("check", [result], code), nl=False)
    else:
        from relu_ce_diag.report.table import make_console, print_check
        print_check(make_console(), [result])
        if explain_found:
            from relu_ce_diag.cli.explain import print_explanations
            print_explanations(make_console(), (f.id for f in result.findings))
    if output is not None:
        write_atomic(output, to_json("check", [result], code))
    if save_grads is not None:
        write_grads(save_grads, result)
    return code
