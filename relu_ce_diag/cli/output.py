"""The one rule for machine output files in every command: the extension chooses the format."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from relu_ce_diag.cli.options import FILE
from relu_ce_diag.errors import OptionError

EXTENSIONS = {".json": "json", ".xml": "junit"}


def output_option(formats: tuple[str, ...]) -> Callable[[Any], Any]:
    """The ``-o/--output FILE`` option of a command that can write ``formats``."""
    kinds = " or ".join(f"{k.upper() if k == 'json' else 'JUnit XML'} ({e})"
                        for e, k in EXTENSIONS.items() if k in formats)
    if len([k for k in formats if k != "table"]) > 1:
        help_ = f"Also write the report to FILE, atomically: {kinds} by its extension"
    else:  # one machine format, whatever the name (but one that names another format)
        help_ = f"Also write the report to FILE as {kinds.split(' ')[0]}, atomically"
    return click.option("-o", "--output", type=FILE, default=None, metavar="FILE",
                        help=help_ + " (stdout shows what --format says).")


def format_option(formats: tuple[str, ...]) -> Callable[[Any], Any]:
    """The ``--format`` option of every command: what goes to stdout, in any case."""
    if len([k for k in formats if k != "table"]) > 1:
        help_ = ("What to print on stdout; also the format of -o FILE when FILE ends in "
                 "neither .json nor .xml (JSON for table).")
    else:  # one machine format: -o FILE always gets it
        help_ = f"What to print on stdout (-o FILE is always {formats[-1].upper()})."
    return click.option("--format", "fmt", type=click.Choice(formats, case_sensitive=False),
                        default="table", show_default=True, help=help_)


def file_format(output: str, fmt: str, formats: tuple[str, ...]) -> str:
    """Return the format of --output FILE: its extension's (.json, .xml), else --format's
    (JSON when that is the table); refuse a format the command cannot write or a --format
    the extension contradicts."""
    by_ext = EXTENSIONS.get(Path(output).suffix.lower())
    kind = by_ext or (fmt if fmt != "table" else "json")
    if kind not in formats:
        allowed = ", ".join(e for e, k in EXTENSIONS.items() if k in formats)
        raise OptionError("--output", output, f"a file ending in {allowed} (this command "
                          f"writes {' or '.join(formats)})")
    if by_ext is not None and fmt not in ("table", kind):
        raise OptionError("--format", fmt, f"{kind}, as the extension of {output} says, or "
                          "another file name")
    return kind
