"""The command line: a thin Click layer over the orchestrators; the only place that sets exit
codes. Importing it registers every command on the group ``main``."""

from relu_ce_diag.cli import check, explain, grid, sweep  # noqa: F401  (register the commands)
from relu_ce_diag.cli.app import main

__all__ = ["main"]
