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
    return click.option("-o", "--output", type=FILE, default=None,
                        metavar="FILE", help=f"Also write the report to FILE, atomically: {kinds} "
                        "by its extension (stdout shows what --format says).")


def format_option(formats: tuple[str, ...]) -> Callable[[Any], Any]:
    """The ``--format`` option of every command: what goes to stdout, in any case."""
    return click.option("--format", "fmt", type=click.Choice(formats, case_sensitive=False),
                        default="table", show_default=True,
                        help="What to print on stdout; with -o FILE that has no .json or "
                             ".xml extension, also the format of FILE.")


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
