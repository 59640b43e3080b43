"""Results in a Jupyter notebook: a CellResult shows as the same table and findings the terminal
shows, a sweep as its figure (with the plot extra) or its chart.

``register(ipython)`` teaches IPython's display formatters these types; importing
``relu_ce_diag`` in a running IPython does it.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from rich.console import Console

from relu_ce_diag.errors import ReluDiagError
from relu_ce_diag.report.chart import print_sweep
from relu_ce_diag.report.plot import render
from relu_ce_diag.report.table import print_check
from relu_ce_diag.results.cell import CellResult
from relu_ce_diag.results.sweep import Sweep

WIDTH = 110


def _recorder() -> Console:
    """A console that records (for HTML) and prints nothing."""
    return Console(record=True, width=WIDTH, file=io.StringIO(), markup=False, emoji=False,
                   highlight=False,
                   force_terminal=True, color_system="truecolor")


def result_html(r: CellResult) -> str:
    """Return the report of one result as HTML, as the terminal shows it."""
    console = _recorder()
    print_check(console, [r])
    return console.export_html(inline_styles=True)


def sweep_html(s: Sweep) -> str:
    """Return a sweep as its figure (PNG, with matplotlib) or else its terminal chart."""
    try:
        png = render(s, "step sweep", "png")
        return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}"/>'
    except ReluDiagError:  # no matplotlib (the plot extra): the terminal chart instead
        console = _recorder()
        print_sweep(console, s, "step sweep")
        return console.export_html(inline_styles=True)


def register(ipython: Any) -> None:
    """Show CellResult and Sweep as HTML in this IPython session."""
    html = ipython.display_formatter.formatters["text/html"]
    html.for_type(CellResult, result_html)
    html.for_type(Sweep, sweep_html)
