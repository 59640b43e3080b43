"""Regenerate the parts of docs/ that come from the code: the diagnostics list (from the
registry) and the help screens of every command, between begin/end markers.

Run from the repository root: python scripts/gen_docs.py        (rewrite the pages)
                              python scripts/gen_docs.py --check  (exit 1 if a page is stale)
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

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


# <!-- begin: output relu-diag ARGS --> ... <!-- end: output -->: what the command prints at
# 80 columns; <!-- begin: json relu-diag ARGS --> ...: its JSON document, lists shortened
RUN = re.compile(r"(<!-- begin: (?P<kind>output|json) relu-diag (?P<args>[^>]+?) -->\n)(.*?)"
                 r"(<!-- end: (?P=kind) -->)", re.S)


def output(args: str) -> str:
    """What ``relu-diag ARGS`` prints at 80 columns, as a text block with its command."""
    r = CliRunner().invoke(cli, shlex.split(args), terminal_width=80, env={"COLUMNS": "80"},
                           prog_name="relu-diag")
    body = "\n".join(line.rstrip() for line in r.stdout.rstrip().splitlines())
    return f"```text\n$ relu-diag {args}\n{body}\n```\n"


def _shorten(doc: Any) -> Any:
    """Keep the first item of each list of objects (three of other lists), then "..."."""
    if isinstance(doc, dict):
        return {k: _shorten(v) for k, v in doc.items()}
    if not isinstance(doc, list):
        return doc
    keep = 1 if doc and isinstance(doc[0], dict) else 3
    return [_shorten(x) for x in doc[:keep]] + (["..."] if len(doc) > keep else [])


def json_doc(args: str) -> str:
    """The JSON document of ``relu-diag ARGS --format json``, its lists shortened."""
    r = CliRunner().invoke(cli, [*shlex.split(args), "--format", "json"])
    return "```json\n" + json.dumps(_shorten(json.loads(r.stdout)), indent=2) + "\n```\n"


def render(text: str) -> str:
    """Return ``text`` with every marked section regenerated."""
    text = MARK.sub(lambda m: m.group(1) + SECTIONS[m.group("name")]() + m.group(4), text)
    make = {"output": output, "json": json_doc}
    return RUN.sub(lambda m: m.group(1) + make[m.group("kind")](m.group("args")) + m.group(5),
                   text)


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
