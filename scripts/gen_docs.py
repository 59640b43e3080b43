"""Regenerate the parts of docs/ that come from the code: the diagnostics list (from the
registry) and the help screens of every command, between begin/end markers.

Run from the repository root: python scripts/gen_docs.py        (rewrite the pages)
                              python scripts/gen_docs.py --check  (exit 1 if a page is stale)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from click.testing import CliRunner

from relu_ce_diag.cli import main as cli
from relu_ce_diag.diagnostics import DIAGNOSTICS

sys.path.insert(0, str(Path(__file__).resolve().parent))
import diag_table  # noqa: E402  (the script beside this one)

DOCS = Path(__file__).resolve().parents[1] / "docs"
MARK = re.compile(r"(<!-- begin: (?P<name>[\w-]+) -->\n)(.*?)(<!-- end: (?P=name) -->)", re.S)


def diagnostics() -> str:
    """The registry as one section per diagnostic: title, explanation, fix."""
    parts = []
    for d in DIAGNOSTICS.values():
        fired = f" (reported by the `{d.fired_by}` rule)" if d.fired_by else ""
        parts.append(f"### `{d.id}`\n\n**{d.title}.**{fired} {d.explanation}\n\n"
                     f"*Fix:* {d.fix}\n")
    return "\n".join(parts)


def help_screen(command: str) -> str:
    """The --help of a command at 80 columns, as a text block."""
    args = [*command.split(), "--help"] if command else ["--help"]
    out = CliRunner().invoke(cli, args, prog_name="relu-diag", terminal_width=80,
                             env={"COLUMNS": "80"}).output
    return f"```text\n$ relu-diag {command + ' ' if command else ''}--help\n{out.rstrip()}\n```\n"


SECTIONS = {
    "diagnostics": diagnostics,
    "diag-table": diag_table.table,
    "help-main": lambda: help_screen(""),
    "help-check": lambda: help_screen("check"),
    "help-grid": lambda: help_screen("grid"),
    "help-sweep": lambda: help_screen("sweep"),
    "help-explain": lambda: help_screen("explain"),
}


def render(text: str) -> str:
    """Return ``text`` with every marked section regenerated."""
    return MARK.sub(lambda m: m.group(1) + SECTIONS[m.group("name")]() + m.group(4), text)


def main(check: bool) -> int:
    stale = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(page.name)
            if not check:
                page.write_text(new, encoding="utf-8")
    if check and stale:
        print("stale (run python scripts/gen_docs.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
